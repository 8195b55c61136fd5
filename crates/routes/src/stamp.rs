//! What `stat` says of a routes file: enough to tell, without reading it, that it is no longer
//! the file last seen.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// What `stat` says of a file, following symlinks. Writing the file changes its ctime,
/// replacing it (rename, symlink swap) its inode; a chmod or chown moves the ctime too. Equal
/// stamps mean "most likely the same bytes": on filesystems whose timestamps are too coarse to
/// tell two writes apart, a reader still re-reads now and then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    /// Seconds and nanoseconds.
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
}

impl FileStamp {
    /// The stamp of the file at `path` now; `None` when it cannot be stat'ed (gone, no access).
    pub fn of(path: &Path) -> Option<FileStamp> {
        let m = std::fs::metadata(path).ok()?;
        Some(FileStamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rewrite_a_replacement_and_a_removal_each_change_the_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("routes.yaml");
        std::fs::write(&path, b"a").unwrap();
        let first = FileStamp::of(&path).unwrap();
        assert_eq!(FileStamp::of(&path), Some(first));
        std::fs::write(&path, b"ab").unwrap();
        assert_ne!(FileStamp::of(&path), Some(first));
        let replacement = dir.path().join("new.yaml");
        std::fs::write(&replacement, b"ab").unwrap();
        let before = FileStamp::of(&path);
        std::fs::rename(&replacement, &path).unwrap();
        assert_ne!(FileStamp::of(&path), before);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(FileStamp::of(&path), None);
    }
}
