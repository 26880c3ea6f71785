//! One process at a time per stream: a lock file per (workbook, stream) in the
//! data directory, held (an OS file lock) while a worker runs the stream, with
//! the holder's process id written in it for the message a second process gets.
//! The OS drops the lock when the process ends, also on `kill -9`.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};

use super::{StoreError, StreamKey};

/// A held lock; dropping it releases the stream.
#[derive(Debug)]
pub struct StreamLock {
    _file: File,
}

impl StreamLock {
    /// Takes the stream's lock, or says which process holds it.
    pub fn acquire(data_dir: &Path, key: &StreamKey) -> Result<Self, StoreError> {
        let dir = data_dir.join("locks");
        std::fs::create_dir_all(&dir).map_err(|source| StoreError::Directory { path: dir.clone(), source })?;
        let path = lock_path(&dir, key);
        let io = |source| StoreError::LockFile { path: path.clone(), source };
        let mut file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {
                file.set_len(0).map_err(io)?;
                file.rewind().map_err(io)?;
                write!(file, "{}", std::process::id()).map_err(io)?;
                Ok(Self { _file: file })
            }
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                // Imports and exports lock under "import NAME" / "export NAME".
                let what = match key.stream.split_once(' ') {
                    Some((kind @ ("import" | "export"), name)) => format!("{kind} `{name}`"),
                    _ => format!("stream `{}`", key.stream),
                };
                Err(StoreError::Busy {
                    what,
                    holder: if holder.is_empty() {
                        "another tidepool process".into()
                    } else {
                        format!("process {holder}")
                    },
                })
            }
            Err(TryLockError::Error(source)) => Err(io(source)),
        }
    }
}

fn lock_path(dir: &Path, key: &StreamKey) -> PathBuf {
    let hash = xxhash_rust::xxh3::xxh3_64(format!("{}\u{0}{}", key.workbook_id, key.stream).as_bytes());
    dir.join(format!("stream-{hash:016x}.lock"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_told_who_has_the_stream() {
        let dir = tempfile::tempdir().unwrap();
        let key = StreamKey { workbook_id: "w".into(), stream: "clicks".into() };
        let held = StreamLock::acquire(dir.path(), &key).unwrap();
        let refused = StreamLock::acquire(dir.path(), &key).unwrap_err().to_string();
        assert!(refused.contains(&format!("process {}", std::process::id())), "{refused}");
        assert!(refused.starts_with("stream `clicks` is already being run"), "{refused}");
        let import = StreamKey { stream: "import rates".into(), ..key.clone() };
        let _held_import = StreamLock::acquire(dir.path(), &import).unwrap();
        let busy = StreamLock::acquire(dir.path(), &import).unwrap_err().to_string();
        assert!(busy.starts_with("import `rates` is already being run"), "{busy}");
        let other = StreamKey { stream: "orders".into(), ..key.clone() };
        assert!(StreamLock::acquire(dir.path(), &other).is_ok(), "other streams are free");
        drop(held);
        assert!(StreamLock::acquire(dir.path(), &key).is_ok(), "released on drop");
    }
}
