//! TLS to the databases imports read and exports write, declared in the
//! connection URL with the parameter names each database's own clients use:
//! PostgreSQL's `sslmode` (`disable`, `prefer` — the default, as in libpq —,
//! `require`, `verify-ca`, `verify-full`), `sslrootcert`, and for a client
//! certificate `sslcert` and `sslkey`; MariaDB/MySQL's `ssl-mode` (`DISABLED` —
//! the default —, `REQUIRED`, `VERIFY_CA`, `VERIFY_IDENTITY`), `ssl-ca`,
//! `ssl-cert` and `ssl-key`. The system OpenSSL does the handshake
//! (native-tls, shared with librdkafka and the HTTP client).
//!
//! Owns parsing those parameters out of the URL, the TLS connector they ask
//! for and the client identity (certificate and key) they name; opens no
//! connection itself.

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
    /// The client's certificate (PEM, the chain after it) and private key
    /// (PEM, unencrypted), for servers that authenticate clients by certificate.
    pub client: Option<ClientCertificate>,
}

/// A client certificate and its key, as files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    pub certificate: PathBuf,
    pub key: PathBuf,
}

impl TlsSettings {
    /// PostgreSQL: `sslmode` and `sslrootcert`, in a URL's query or a `key=value` string.
    pub fn postgres(url: &str) -> Result<Self, ImportError> {
        let mut mode = TlsMode::Prefer;
        let mut root_certificate = None;
        let (mut certificate, mut client_key) = (None, None);
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
            "sslcert" => {
                certificate = Some(PathBuf::from(value));
                Ok(true)
            }
            "sslkey" => {
                client_key = Some(PathBuf::from(value));
                Ok(true)
            }
            _ => Ok(false),
        })?;
        let client = ClientCertificate::pair(certificate, client_key, ("sslcert", "sslkey"))?;
        Ok(Self { url: rest, mode, root_certificate, client })
    }

    /// MariaDB/MySQL: `ssl-mode` and `ssl-ca` (also spelled `ssl_mode`, `ssl_ca`).
    pub fn mysql(url: &str) -> Result<Self, ImportError> {
        let mut mode = TlsMode::Disable;
        let mut root_certificate = None;
        let (mut certificate, mut client_key) = (None, None);
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
            "ssl-cert" | "ssl_cert" => {
                certificate = Some(PathBuf::from(value));
                Ok(true)
            }
            "ssl-key" | "ssl_key" => {
                client_key = Some(PathBuf::from(value));
                Ok(true)
            }
            _ => Ok(false),
        })?;
        let client = ClientCertificate::pair(certificate, client_key, ("ssl-cert", "ssl-key"))?;
        Ok(Self { url: rest, mode, root_certificate, client })
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
        if let Some(client) = &self.client {
            let (certificate, key) = client.pem()?;
            let identity = native_tls::Identity::from_pkcs8(&certificate, &key).map_err(|err| {
                ImportError::Config(format!("the client certificate {} cannot be used: {err}", client.shown()))
            })?;
            builder.identity(identity);
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

impl ClientCertificate {
    /// Both files or neither; one without the other is an error naming the missing parameter.
    fn pair(
        certificate: Option<PathBuf>,
        key: Option<PathBuf>,
        (certificate_name, key_name): (&str, &str),
    ) -> Result<Option<Self>, ImportError> {
        match (certificate, key) {
            (Some(certificate), Some(key)) => Ok(Some(Self { certificate, key })),
            (None, None) => Ok(None),
            (Some(_), None) => Err(ImportError::Config(format!(
                "the url names a client certificate ({certificate_name}) but not its private key: add {key_name}"
            ))),
            (None, Some(_)) => Err(ImportError::Config(format!(
                "the url names a client key ({key_name}) but not its certificate: add {certificate_name}"
            ))),
        }
    }

    fn shown(&self) -> String {
        self.certificate.display().to_string()
    }

    fn read(path: &std::path::Path, what: &str) -> Result<Vec<u8>, ImportError> {
        std::fs::read(path)
            .map_err(|err| ImportError::Config(format!("cannot read the client {what} {}: {err}", path.display())))
    }

    /// The key, parsed; an encrypted or malformed key is an error naming the file.
    fn private_key(&self) -> Result<openssl::pkey::PKey<openssl::pkey::Private>, ImportError> {
        let pem = Self::read(&self.key, "key")?;
        // An encrypted key asks for a passphrase: answer none, so it fails rather than prompting.
        openssl::pkey::PKey::private_key_from_pem_callback(&pem, |_| Ok(0)).map_err(|err| {
            ImportError::Config(format!(
                "the client key {} cannot be read ({err}); tidepool reads client keys as unencrypted PEM — \
                 decrypt it (`openssl pkey -in KEY -out KEY.pem`) and keep it readable only by you",
                self.key.display()
            ))
        })
    }

    /// The certificate chain's PEM text and the key as PKCS#8 PEM, as native-tls takes them.
    fn pem(&self) -> Result<(Vec<u8>, Vec<u8>), ImportError> {
        let certificate = Self::read(&self.certificate, "certificate")?;
        let key = self.private_key()?.private_key_to_pem_pkcs8().map_err(|err| {
            ImportError::Config(format!("the client key {} cannot be used: {err}", self.key.display()))
        })?;
        Ok((certificate, key))
    }

    /// The certificate, its chain and key as a PKCS#12 archive (DER) with an
    /// empty password, for clients that take only that form (MariaDB/MySQL's).
    pub fn pkcs12(&self) -> Result<Vec<u8>, ImportError> {
        let unusable = |err: &dyn std::fmt::Display| {
            ImportError::Config(format!("the client certificate {} cannot be used: {err}", self.shown()))
        };
        let mut chain = openssl::x509::X509::stack_from_pem(&Self::read(&self.certificate, "certificate")?)
            .map_err(|err| unusable(&err))?
            .into_iter();
        let leaf = chain.next().ok_or_else(|| unusable(&"the file holds no PEM certificate"))?;
        let mut rest = openssl::stack::Stack::new().map_err(|err| unusable(&err))?;
        for certificate in chain {
            rest.push(certificate).map_err(|err| unusable(&err))?;
        }
        let key = self.private_key()?;
        openssl::pkcs12::Pkcs12::builder()
            .name("tidepool")
            .pkey(&key)
            .cert(&leaf)
            .ca(rest)
            .build2("")
            .and_then(|archive| archive.to_der())
            .map_err(|err| unusable(&err))
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
        let mutual = TlsSettings::postgres("host=db sslmode=verify-full sslcert=/c.pem sslkey=/k.pem").unwrap();
        assert_eq!(mutual.url, "host=db");
        assert_eq!(mutual.client.map(|c| c.key), Some(PathBuf::from("/k.pem")));
        let half = TlsSettings::postgres("postgresql://db/x?sslkey=/k.pem").unwrap_err().to_string();
        assert!(half.contains("add sslcert"), "{half}");
        let err = TlsSettings::postgres("postgresql://db/shop?sslmode=always").unwrap_err().to_string();
        assert!(err.contains("`always`") && err.contains("verify-full"), "{err}");
    }

    #[test]
    fn mysql_tls_parameters_use_the_mysql_clients_names() {
        let tls = TlsSettings::mysql("mysql://app@db:3306/shop?ssl-mode=VERIFY_CA&ssl-ca=/ca.pem&prefer_socket=false")
            .unwrap();
        assert_eq!(tls.url, "mysql://app@db:3306/shop?prefer_socket=false");
        assert_eq!(tls.mode, TlsMode::VerifyCa);
        assert_eq!(tls.client, None);
        let mutual =
            TlsSettings::mysql("mysql://app@db/shop?ssl-mode=REQUIRED&ssl-cert=/c.pem&ssl_key=/k.pem").unwrap();
        assert_eq!(
            mutual.client,
            Some(ClientCertificate { certificate: PathBuf::from("/c.pem"), key: PathBuf::from("/k.pem") })
        );
        assert_eq!(mutual.url, "mysql://app@db/shop");
        let half = TlsSettings::mysql("mysql://db/shop?ssl-mode=REQUIRED&ssl-cert=/c.pem").unwrap_err().to_string();
        assert!(half.contains("add ssl-key"), "{half}");
        assert_eq!(TlsSettings::mysql("mysql://db/shop").unwrap().mode, TlsMode::Disable);
        assert_eq!(TlsSettings::mysql("mysql://db/shop?ssl_mode=required").unwrap().mode, TlsMode::Require);
        assert!(TlsSettings::mysql("mysql://db/shop?ssl-mode=PREFERRED").is_err());
    }

    #[test]
    fn an_encrypted_client_key_is_refused_with_what_to_do_and_a_plain_one_makes_an_identity() {
        use openssl::asn1::Asn1Time;
        use openssl::hash::MessageDigest;
        use openssl::pkey::PKey;
        use openssl::rsa::Rsa;
        use openssl::x509::{X509, X509NameBuilder};
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "tidepool unit").unwrap();
        let name = name.build();
        let mut certificate = X509::builder().unwrap();
        certificate.set_subject_name(&name).unwrap();
        certificate.set_issuer_name(&name).unwrap();
        certificate.set_pubkey(&key).unwrap();
        certificate.set_not_before(&Asn1Time::days_from_now(0).unwrap()).unwrap();
        certificate.set_not_after(&Asn1Time::days_from_now(1).unwrap()).unwrap();
        certificate.sign(&key, MessageDigest::sha256()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let write = |file: &str, bytes: &[u8]| {
            let path = dir.path().join(file);
            std::fs::write(&path, bytes).unwrap();
            path
        };
        let certificate = write("client.pem", &certificate.build().to_pem().unwrap());
        let plain = write("plain.key", &key.private_key_to_pem_pkcs8().unwrap());
        let cipher = openssl::symm::Cipher::aes_256_cbc();
        let encrypted = write("encrypted.key", &key.private_key_to_pem_pkcs8_passphrase(cipher, b"pw").unwrap());

        let usable = ClientCertificate { certificate: certificate.clone(), key: plain };
        let archive = usable.pkcs12().unwrap();
        let parsed = openssl::pkcs12::Pkcs12::from_der(&archive).unwrap().parse2("").unwrap();
        assert!(parsed.cert.is_some() && parsed.pkey.is_some(), "the archive holds the certificate and key");
        let tls =
            TlsSettings { url: String::new(), mode: TlsMode::Require, root_certificate: None, client: Some(usable) };
        assert!(tls.connector().is_ok());

        let refused = ClientCertificate { certificate, key: encrypted };
        let err = refused.pkcs12().unwrap_err().to_string();
        assert!(err.contains("encrypted.key") && err.contains("unencrypted") && err.contains("openssl pkey"), "{err}");
    }

    #[test]
    fn a_missing_ca_file_is_named() {
        let tls = TlsSettings::postgres("postgresql://db/x?sslmode=verify-ca&sslrootcert=/nowhere/ca.pem").unwrap();
        let err = tls.connector().unwrap_err().to_string();
        assert!(err.contains("/nowhere/ca.pem"), "{err}");
    }
}
