//! TLS to the databases imports read and exports write, declared in the
//! connection URL with the parameter names each database's own clients use:
//! PostgreSQL's `sslmode` (`disable`, `prefer` — the default, as in libpq —,
//! `require`, `verify-ca`, `verify-full`) and `sslrootcert`; MariaDB/MySQL's
//! `ssl-mode` (`DISABLED` — the default —, `REQUIRED`, `VERIFY_CA`,
//! `VERIFY_IDENTITY`) and `ssl-ca`. The system OpenSSL does the handshake
//! (native-tls, shared with librdkafka and the HTTP client).
//!
//! Owns parsing those parameters out of the URL and the TLS connector they
//! ask for; opens no connection itself.

use std::path::PathBuf;

use super::ImportError;

/// How much of TLS a connection asks for, from the weakest to the strictest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Never.
    Disable,
    /// If the server offers it, without checking its certificate (PostgreSQL only).
    Prefer,
    /// Always, without checking the certificate.
    Require,
    /// Always, the certificate signed by a trusted CA (any host name).
    VerifyCa,
    /// Always, the certificate signed by a trusted CA and naming the host.
    VerifyFull,
}

/// A URL's TLS parameters, and the URL without them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub url: String,
    pub mode: TlsMode,
    /// The CA file that signs the server's certificate (PEM); the system's CAs otherwise.
    pub root_certificate: Option<PathBuf>,
}

impl TlsSettings {
    /// PostgreSQL: `sslmode` and `sslrootcert`, in a URL's query or a `key=value` string.
    pub fn postgres(url: &str) -> Result<Self, ImportError> {
        let mut mode = TlsMode::Prefer;
        let mut root_certificate = None;
        let rest = take_parameters(url, |key, value| match key {
            "sslmode" => {
                mode = match value {
                    "disable" => TlsMode::Disable,
                    "allow" | "prefer" => TlsMode::Prefer,
                    "require" => TlsMode::Require,
                    "verify-ca" => TlsMode::VerifyCa,
                    "verify-full" => TlsMode::VerifyFull,
                    other => {
                        return Err(ImportError::Config(format!(
                            "PostgreSQL url: sslmode `{other}` is not one of disable, prefer, require, verify-ca, verify-full"
                        )));
                    }
                };
                Ok(true)
            }
            "sslrootcert" => {
                root_certificate = Some(PathBuf::from(value));
                Ok(true)
            }
            _ => Ok(false),
        })?;
        Ok(Self { url: rest, mode, root_certificate })
    }

    /// MariaDB/MySQL: `ssl-mode` and `ssl-ca` (also spelled `ssl_mode`, `ssl_ca`).
    pub fn mysql(url: &str) -> Result<Self, ImportError> {
        let mut mode = TlsMode::Disable;
        let mut root_certificate = None;
        let rest = take_parameters(url, |key, value| match key {
            "ssl-mode" | "ssl_mode" | "sslmode" => {
                mode = match value.to_ascii_uppercase().as_str() {
                    "DISABLED" => TlsMode::Disable,
                    "REQUIRED" => TlsMode::Require,
                    "VERIFY_CA" => TlsMode::VerifyCa,
                    "VERIFY_IDENTITY" => TlsMode::VerifyFull,
                    other => {
                        return Err(ImportError::Config(format!(
                            "MariaDB/MySQL url: ssl-mode `{other}` is not one of DISABLED, REQUIRED, VERIFY_CA, \
                             VERIFY_IDENTITY (PREFERRED is not offered: ask for TLS or not)"
                        )));
                    }
                };
                Ok(true)
            }
            "ssl-ca" | "ssl_ca" => {
                root_certificate = Some(PathBuf::from(value));
                Ok(true)
            }
            _ => Ok(false),
        })?;
        Ok(Self { url: rest, mode, root_certificate })
    }

    /// The CA certificate's PEM text, or an error naming the file.
    fn root_pem(&self) -> Result<Option<Vec<u8>>, ImportError> {
        self.root_certificate
            .as_ref()
            .map(|path| {
                std::fs::read(path).map_err(|err| {
                    ImportError::Config(format!("cannot read the CA certificate {}: {err}", path.display()))
                })
            })
            .transpose()
    }

    /// A TLS connector as the mode asks (for `Disable`, none).
    pub fn connector(&self) -> Result<Option<native_tls::TlsConnector>, ImportError> {
        if self.mode == TlsMode::Disable {
            return Ok(None);
        }
        let mut builder = native_tls::TlsConnector::builder();
        match self.mode {
            TlsMode::Disable | TlsMode::Prefer | TlsMode::Require => {
                builder.danger_accept_invalid_certs(true).danger_accept_invalid_hostnames(true);
            }
            TlsMode::VerifyCa => {
                builder.danger_accept_invalid_hostnames(true);
            }
            TlsMode::VerifyFull => {}
        }
        if let Some(pem) = self.root_pem()? {
            let certificate = native_tls::Certificate::from_pem(&pem).map_err(|err| {
                ImportError::Config(format!("the CA certificate {} is not PEM: {err}", self.shown_root()))
            })?;
            builder.add_root_certificate(certificate);
        }
        builder.build().map(Some).map_err(|err| ImportError::Config(format!("cannot set up TLS: {err}")))
    }

    fn shown_root(&self) -> String {
        self.root_certificate.as_ref().map(|p| p.display().to_string()).unwrap_or_default()
    }
}

/// `url` without the parameters `take` claims (it answers `true` for those).
/// Handles a URL's query (`…?a=1&b=2`) and libpq's `key=value` strings.
fn take_parameters(
    url: &str,
    mut take: impl FnMut(&str, &str) -> Result<bool, ImportError>,
) -> Result<String, ImportError> {
    if url.contains("://") {
        let Some((base, query)) = url.split_once('?') else { return Ok(url.to_string()) };
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if !take(key, value)? {
                kept.push(pair);
            }
        }
        return Ok(if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) });
    }
    let mut kept = Vec::new();
    for word in url.split_whitespace() {
        let (key, value) = word.split_once('=').unwrap_or((word, ""));
        if !take(key, value)? {
            kept.push(word);
        }
    }
    Ok(kept.join(" "))
}

/// An error with every cause it carries (TLS failures hide theirs one level down).
pub fn with_causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(inner) = cause {
        let next = inner.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        cause = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_tls_parameters_are_taken_out_of_the_url_and_the_rest_kept() {
        let tls = TlsSettings::postgres(
            "postgresql://app@db.example:5432/shop?application_name=x&sslmode=verify-full&sslrootcert=/etc/ca.pem",
        )
        .unwrap();
        assert_eq!(tls.url, "postgresql://app@db.example:5432/shop?application_name=x");
        assert_eq!(tls.mode, TlsMode::VerifyFull);
        assert_eq!(tls.root_certificate, Some(PathBuf::from("/etc/ca.pem")));
        let default = TlsSettings::postgres("postgresql://app@db/shop").unwrap();
        assert_eq!((default.mode, default.url.as_str()), (TlsMode::Prefer, "postgresql://app@db/shop"));
        let words = TlsSettings::postgres("host=db user=app sslmode=require dbname=shop").unwrap();
        assert_eq!((words.mode, words.url.as_str()), (TlsMode::Require, "host=db user=app dbname=shop"));
        let err = TlsSettings::postgres("postgresql://db/shop?sslmode=always").unwrap_err().to_string();
        assert!(err.contains("`always`") && err.contains("verify-full"), "{err}");
    }

    #[test]
    fn mysql_tls_parameters_use_the_mysql_clients_names() {
        let tls = TlsSettings::mysql("mysql://app@db:3306/shop?ssl-mode=VERIFY_CA&ssl-ca=/ca.pem&prefer_socket=false")
            .unwrap();
        assert_eq!(tls.url, "mysql://app@db:3306/shop?prefer_socket=false");
        assert_eq!(tls.mode, TlsMode::VerifyCa);
        assert_eq!(TlsSettings::mysql("mysql://db/shop").unwrap().mode, TlsMode::Disable);
        assert_eq!(TlsSettings::mysql("mysql://db/shop?ssl_mode=required").unwrap().mode, TlsMode::Require);
        assert!(TlsSettings::mysql("mysql://db/shop?ssl-mode=PREFERRED").is_err());
    }

    #[test]
    fn a_missing_ca_file_is_named() {
        let tls = TlsSettings::postgres("postgresql://db/x?sslmode=verify-ca&sslrootcert=/nowhere/ca.pem").unwrap();
        let err = tls.connector().unwrap_err().to_string();
        assert!(err.contains("/nowhere/ca.pem"), "{err}");
    }
}
