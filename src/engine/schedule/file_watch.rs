//! Re-imports when a watched file changes (`watch = true` on a file import):
//! the files a path or glob names are looked at every couple of seconds (size
//! and modification time, no reading), and a change that has then stayed
//! still for [`SETTLE`] asks for one run — so a file still being written, or
//! a burst of saves, gives one import, not many.
//!
//! Polling, not OS notifications: it works the same on every platform and
//! over network shares, and the cost is a few `stat` calls. Runs on the
//! scheduler's thread; knows nothing of runs beyond naming the import.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::engine::imports::file::matching_files;
use crate::model::Workbook;
use crate::model::imports::ImportSource;

/// How often watched files are looked at.
pub const POLL_EVERY: Duration = Duration::from_secs(2);
/// How long a change must stay still before it is imported.
pub const SETTLE: Duration = Duration::from_secs(2);

/// What the files of one import looked like: each one's path, size and modification time.
type Fingerprint = Vec<(PathBuf, u64, Option<SystemTime>)>;

#[derive(Debug)]
struct Watched {
    import: String,
    source: crate::model::imports::FileSource,
    /// What the last import (or the start) saw.
    settled: Fingerprint,
    /// A change seen and when it was last seen changing.
    changing: Option<(Fingerprint, Instant)>,
}

/// The watched file imports of a workbook.
#[derive(Debug)]
pub struct FileWatch {
    base_dir: PathBuf,
    watched: Vec<Watched>,
    last_poll: Option<Instant>,
}

impl FileWatch {
    /// Watches every file import of `workbook` with `watch = true`, from how its files look now.
    pub fn new(workbook: &Workbook, base_dir: &Path) -> Self {
        let watched = workbook
            .imports
            .iter()
            .filter_map(|import| match &import.source {
                ImportSource::File(source) if source.watch => Some(Watched {
                    import: import.name.clone(),
                    settled: fingerprint(source, base_dir),
                    source: source.clone(),
                    changing: None,
                }),
                _ => None,
            })
            .collect();
        Self { base_dir: base_dir.to_path_buf(), watched, last_poll: None }
    }

    pub fn is_empty(&self) -> bool {
        self.watched.is_empty()
    }

    /// The imports whose files changed and then stayed still (at most one poll per [`POLL_EVERY`]).
    pub fn changed(&mut self, now: Instant) -> Vec<String> {
        if self.watched.is_empty() || self.last_poll.is_some_and(|last| now.duration_since(last) < POLL_EVERY) {
            return Vec::new();
        }
        self.last_poll = Some(now);
        let mut changed = Vec::new();
        for watched in &mut self.watched {
            let seen = fingerprint(&watched.source, &self.base_dir);
            match &watched.changing {
                _ if seen == watched.settled => watched.changing = None,
                Some((changing, since)) if *changing == seen => {
                    if now.duration_since(*since) >= SETTLE {
                        watched.settled = seen;
                        watched.changing = None;
                        changed.push(watched.import.clone());
                    }
                }
                _ => watched.changing = Some((seen, now)),
            }
        }
        changed
    }
}

/// The files of `source` now (an empty list while none exists).
fn fingerprint(source: &crate::model::imports::FileSource, base_dir: &Path) -> Fingerprint {
    matching_files(source, base_dir)
        .unwrap_or_default()
        .into_iter()
        .map(|path| {
            let metadata = std::fs::metadata(&path).ok();
            let size = metadata.as_ref().map_or(0, std::fs::Metadata::len);
            let modified = metadata.and_then(|m| m.modified().ok());
            (path, size, modified)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_imported_once_after_it_settles() {
        let folder = tempfile::tempdir().unwrap();
        std::fs::write(folder.path().join("a.csv"), "x\n1\n").unwrap();
        let workbook = Workbook::from_toml(
            "[[imports]]\nname = \"a\"\nsource = { kind = \"file\", path = \"a.csv\", watch = true }\n\
             [[imports]]\nname = \"b\"\nsource = { kind = \"file\", path = \"a.csv\" }\n",
            Path::new("w.toml"),
        )
        .unwrap();
        let mut watch = FileWatch::new(&workbook, folder.path());
        let start = Instant::now();
        assert!(watch.changed(start).is_empty(), "nothing changed yet");
        std::fs::write(folder.path().join("a.csv"), "x\n1\n2\n").unwrap();
        let mut at = start + POLL_EVERY;
        assert!(watch.changed(at).is_empty(), "a change is first seen, not yet imported");
        assert!(watch.changed(at + Duration::from_millis(10)).is_empty(), "polls are spaced");
        at += POLL_EVERY;
        assert_eq!(watch.changed(at), vec!["a".to_string()], "still after settling: imported (only the watched one)");
        at += POLL_EVERY;
        assert!(watch.changed(at).is_empty(), "and only once");
        std::fs::write(folder.path().join("a.csv"), "x\n1\n2\n3\n").unwrap();
        at += POLL_EVERY;
        assert!(watch.changed(at).is_empty());
        std::fs::write(folder.path().join("a.csv"), "x\n1\n2\n3\n4\n").unwrap();
        at += POLL_EVERY;
        assert!(watch.changed(at).is_empty(), "still being written: wait");
        at += POLL_EVERY;
        assert_eq!(watch.changed(at), vec!["a".to_string()]);
    }
}
