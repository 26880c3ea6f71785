//! `tidepool secret set|forget ENTRY`: puts a password or token into the OS
//! keyring (or takes it out), for workbooks that name it with
//! `password_keyring` or `headers_keyring`. The secret is read from the
//! terminal without echo, or from standard input's first line when piped; it
//! is never printed.

use std::io::{BufRead as _, IsTerminal as _};

use anyhow::{Context as _, Result, bail};

use crate::engine::secrets;

/// What `tidepool secret` does with an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretAction {
    /// Store a secret read from the terminal or standard input.
    Set,
    /// Remove the entry.
    Forget,
}

pub fn secret(action: SecretAction, entry: &str) -> Result<()> {
    match action {
        SecretAction::Set => {
            let secret = read_secret(entry)?;
            if secret.is_empty() {
                bail!("no secret given for keyring entry `{entry}`: nothing stored");
            }
            secrets::store_in_keyring(entry, &secret)?;
            eprintln!(
                "stored keyring entry `{entry}`; a workbook reads it with password_keyring = \"{entry}\" \
                 (or headers_keyring = {{ Authorization = \"{entry}\" }})"
            );
        }
        SecretAction::Forget => {
            if secrets::forget_in_keyring(entry)? {
                eprintln!("removed keyring entry `{entry}`");
            } else {
                eprintln!("the keyring holds no entry `{entry}`: nothing to remove");
            }
        }
    }
    Ok(())
}

/// The secret typed at the terminal (not shown), or the first line piped in.
fn read_secret(entry: &str) -> Result<String> {
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password(format!("secret for keyring entry `{entry}` (not shown): "))
            .context("cannot read the secret from the terminal");
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("cannot read the secret from standard input")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
