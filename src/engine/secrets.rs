//! Secrets — database passwords, API tokens — read where the workbook says
//! they are: an environment variable, or an entry of the OS keyring under
//! tidepool's own service name. Also stores and forgets keyring entries for
//! `tidepool secret set` / `forget`.
//!
//! The keyring is the kernel's (Linux keyutils): the user keyring, which
//! every process of the user reaches — desktop sessions, cron, `ssh`, a
//! terminal without a login session alike — and which holds its keys until
//! the machine restarts. (The user's *persistent* keyring, which login
//! sessions link, refuses writes from processes without one.) A secret's
//! value never appears in an error: errors name the variable or the entry,
//! and what to do.
//!
//! Must not log, cache or hand a secret to anything but its caller.

use linux_keyutils::{KeyError, KeyRing, KeyRingIdentifier};

/// The prefix of tidepool's entries' descriptions in the keyring (`tidepool:ENTRY`).
pub const KEYRING_SERVICE: &str = "tidepool";

/// Why a secret could not be had; the text says which and what to do.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SecretError(String);

/// Where one secret is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretPlace<'a> {
    /// An environment variable of that name.
    Env(&'a str),
    /// The OS keyring's entry of that name (service [`KEYRING_SERVICE`]).
    Keyring(&'a str),
}

impl SecretPlace<'_> {
    /// The place a workbook's pair of fields names: the variable, else the keyring entry.
    pub fn from_fields<'a>(env: Option<&'a String>, keyring: Option<&'a String>) -> Option<SecretPlace<'a>> {
        env.map(|variable| SecretPlace::Env(variable)).or_else(|| keyring.map(|entry| SecretPlace::Keyring(entry)))
    }
}

/// The secret at `place`; `what` says who needs it for what, e.g.
/// "import `orders` reads its database password".
pub fn read(place: SecretPlace<'_>, what: &str) -> Result<String, SecretError> {
    match place {
        SecretPlace::Env(variable) => std::env::var(variable)
            .map_err(|_| SecretError(format!("{what} from the environment variable {variable}, which is not set"))),
        SecretPlace::Keyring(entry) => match user_keyring()?.search(&description(entry)) {
            Ok(key) => {
                let bytes = key.read_to_vec().map_err(|err| {
                    SecretError(format!("{what} from the keyring entry `{entry}`: the keyring failed: {err}"))
                })?;
                String::from_utf8(bytes).map_err(|_| {
                    SecretError(format!(
                        "{what} from the keyring entry `{entry}`, which does not hold UTF-8 text: store it again \
                         with `tidepool secret set {entry}`"
                    ))
                })
            }
            Err(KeyError::KeyDoesNotExist | KeyError::KeyExpired | KeyError::KeyRevoked) => Err(SecretError(format!(
                "{what} from the keyring entry `{entry}`, which the OS keyring does not hold (it is emptied when \
                 the machine restarts): store it with `tidepool secret set {entry}`"
            ))),
            Err(err) => Err(SecretError(format!("{what} from the keyring entry `{entry}`: the keyring failed: {err}"))),
        },
    }
}

/// The secret at `place`, if the workbook names one.
pub fn read_optional(place: Option<SecretPlace<'_>>, what: &str) -> Result<Option<String>, SecretError> {
    place.map(|place| read(place, what)).transpose()
}

/// Stores `secret` in the keyring entry `entry`, replacing what it held.
pub fn store_in_keyring(entry: &str, secret: &str) -> Result<(), SecretError> {
    user_keyring()?
        .add_key(&description(entry), secret)
        .map(drop)
        .map_err(|err| SecretError(format!("cannot store keyring entry `{entry}`: {err}")))
}

/// Removes the keyring entry `entry`; `false` when there was none.
pub fn forget_in_keyring(entry: &str) -> Result<bool, SecretError> {
    let keyring = user_keyring()?;
    match keyring.search(&description(entry)) {
        Ok(key) => keyring
            .unlink_key(key)
            .map(|()| true)
            .map_err(|err| SecretError(format!("cannot remove keyring entry `{entry}`: {err}"))),
        Err(KeyError::KeyDoesNotExist | KeyError::KeyExpired | KeyError::KeyRevoked) => Ok(false),
        Err(err) => Err(SecretError(format!("cannot remove keyring entry `{entry}`: {err}"))),
    }
}

/// A key's description in the keyring: `tidepool:ENTRY`.
fn description(entry: &str) -> String {
    format!("{KEYRING_SERVICE}:{entry}")
}

/// The user keyring (made when the user has none yet).
fn user_keyring() -> Result<KeyRing, SecretError> {
    KeyRing::from_special_id(KeyRingIdentifier::User, true)
        .map_err(|err| SecretError(format!("the OS keyring (Linux keyutils) cannot be opened: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_goes_into_the_keyring_comes_back_and_is_forgotten() {
        let entry = format!("tidepool-unit-{}", std::process::id());
        let what = "test reads its token";
        let missing = read(SecretPlace::Keyring(&entry), what).unwrap_err().to_string();
        assert!(missing.contains(&format!("tidepool secret set {entry}")), "{missing}");
        store_in_keyring(&entry, "s3cr3t value").unwrap();
        assert_eq!(read(SecretPlace::Keyring(&entry), what).unwrap(), "s3cr3t value");
        store_in_keyring(&entry, "rotated").unwrap();
        assert_eq!(read(SecretPlace::Keyring(&entry), what).unwrap(), "rotated");
        assert!(forget_in_keyring(&entry).unwrap());
        assert!(!forget_in_keyring(&entry).unwrap(), "already gone");
        assert!(read(SecretPlace::Keyring(&entry), what).is_err());
    }

    #[test]
    fn a_missing_variable_is_named_and_the_variable_wins_over_the_keyring() {
        let err = read(SecretPlace::Env("TIDEPOOL_UNIT_SURELY_UNSET"), "x reads y").unwrap_err().to_string();
        assert_eq!(err, "x reads y from the environment variable TIDEPOOL_UNIT_SURELY_UNSET, which is not set");
        let (variable, entry) = ("V".to_string(), "e".to_string());
        assert_eq!(SecretPlace::from_fields(Some(&variable), Some(&entry)), Some(SecretPlace::Env("V")));
        assert_eq!(SecretPlace::from_fields(None, Some(&entry)), Some(SecretPlace::Keyring("e")));
        assert_eq!(SecretPlace::from_fields(None, None), None);
    }
}
