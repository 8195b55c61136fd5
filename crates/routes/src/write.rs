//! Replacing a routes file so that a reader sees the old bytes or the new bytes, never a mix.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The routes file may carry key hashes and header values: owner writes, group reads.
pub const FILE_MODE: u32 = 0o640;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// New bytes were renamed into place.
    Written,
    /// The file already held exactly these bytes; nothing was touched (mtime unchanged).
    Unchanged,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {step}: {source}")]
pub struct WriteError {
    pub path: PathBuf,
    pub step: &'static str,
    #[source]
    pub source: io::Error,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The directory a file lives in: its parent, or `.` for a bare file name.
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// The temp files of `name` start with this; the writer's pid and a counter follow
/// (`.routes.yaml.tmp-PID-N`), hidden so that no glob over the directory picks one up.
fn temp_prefix(name: &OsStr) -> String {
    format!(".{}.tmp-", name.to_string_lossy())
}

/// Writes `bytes` to `path` atomically: a temp file in the same directory, fsync, rename over
/// `path`, fsync the directory, mode 0640. When `path` already holds these bytes, writes nothing.
/// A symlinked `path` is followed, so the link's target is replaced and the link kept.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<WriteOutcome, WriteError> {
    let path = match fs::canonicalize(path) {
        Ok(resolved) => resolved,
        Err(e) if e.kind() == io::ErrorKind::NotFound => path.to_path_buf(),
        Err(source) => return Err(error(path, "resolve the path", source)),
    };
    match fs::read(&path) {
        Ok(current) if current == bytes => return Ok(WriteOutcome::Unchanged),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(source) => return Err(error(&path, "read the current file", source)),
    }
    let dir = parent_dir(&path).to_path_buf();
    let name = path
        .file_name()
        .ok_or_else(|| error(&path, "name the file", io::ErrorKind::InvalidInput.into()))?;
    let temp = dir.join(format!(
        "{}{}-{}",
        temp_prefix(name),
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = write_temp(&temp, bytes)
        .and_then(|()| fs::rename(&temp, &path).map_err(|e| ("rename the temp file into place", e)))
        .and_then(|()| {
            File::open(&dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| ("fsync the directory", e))
        });
    match result {
        Ok(()) => Ok(WriteOutcome::Written),
        Err((step, source)) => {
            let _ = fs::remove_file(&temp);
            Err(error(&path, step, source))
        }
    }
}

/// Removes the temp files that a killed [`write_atomically`] left next to `path`: those whose
/// writer's pid is no longer running, or is this process. Call it when this process has no
/// write in flight (before its first write): in a container the daemon is PID 1 on every start,
/// so a leftover of "this" pid is a previous run's. Returns how many were removed.
pub fn remove_stale_temp_files(path: &Path) -> usize {
    let Some(name) = path.file_name() else {
        return 0;
    };
    let prefix = temp_prefix(name);
    let Ok(entries) = fs::read_dir(parent_dir(path)) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = file_name.strip_prefix(&prefix) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let alive = pid != std::process::id() && Path::new(&format!("/proc/{pid}")).exists();
        if !alive && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

fn write_temp(temp: &Path, bytes: &[u8]) -> Result<(), (&'static str, io::Error)> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(temp)
        .map_err(|e| ("create the temp file", e))?;
    // The umask may have narrowed the mode; readers in the group need it exactly.
    file.set_permissions(fs::Permissions::from_mode(FILE_MODE))
        .map_err(|e| ("set the file mode", e))?;
    file.write_all(bytes)
        .map_err(|e| ("write the temp file", e))?;
    file.sync_all().map_err(|e| ("fsync the temp file", e))
}

fn error(path: &Path, step: &'static str, source: io::Error) -> WriteError {
    WriteError {
        path: path.to_path_buf(),
        step,
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_new_file_with_mode_0640() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("routes.yaml");
        assert_eq!(
            write_atomically(&path, b"a").unwrap(),
            WriteOutcome::Written
        );
        assert_eq!(fs::read(&path).unwrap(), b"a");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }

    #[test]
    fn identical_bytes_write_nothing_and_keep_mtime() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("routes.yaml");
        write_atomically(&path, b"same").unwrap();
        let before = fs::metadata(&path).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(
            write_atomically(&path, b"same").unwrap(),
            WriteOutcome::Unchanged
        );
        let after = fs::metadata(&path).unwrap();
        assert_eq!(before.modified().unwrap(), after.modified().unwrap());
        use std::os::unix::fs::MetadataExt;
        assert_eq!(before.ino(), after.ino());
    }

    #[test]
    fn different_bytes_replace_the_file_by_rename() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("routes.yaml");
        write_atomically(&path, b"old").unwrap();
        let old_inode = fs::metadata(&path).unwrap().ino();
        assert_eq!(
            write_atomically(&path, b"new").unwrap(),
            WriteOutcome::Written
        );
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_ne!(fs::metadata(&path).unwrap().ino(), old_inode);
    }

    #[test]
    fn leaves_no_temp_files_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("routes.yaml");
        write_atomically(&path, b"1").unwrap();
        write_atomically(&path, b"2").unwrap();
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("routes.yaml")]);
    }

    #[test]
    fn a_symlinked_file_keeps_its_link() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.yaml");
        let link = dir.path().join("routes.yaml");
        fs::write(&real, b"old").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_atomically(&link, b"new").unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(&real).unwrap(), b"new");
    }

    #[test]
    fn a_bare_file_name_lives_in_the_current_directory() {
        assert_eq!(parent_dir(Path::new("routes.yaml")), Path::new("."));
        assert_eq!(parent_dir(Path::new("/etc/routes.yaml")), Path::new("/etc"));
        assert_eq!(parent_dir(Path::new("/")), Path::new("."));
    }

    #[test]
    fn stale_temp_files_of_dead_writers_and_of_this_process_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("routes.yaml");
        write_atomically(&path, b"x").unwrap();
        // No pid is above the kernel's limit (2^22), so this writer is dead.
        let dead = dir.path().join(".routes.yaml.tmp-99999999-0");
        let ours = dir
            .path()
            .join(format!(".routes.yaml.tmp-{}-3", std::process::id()));
        // pid 1 is always running: a live writer's file stays.
        let live = dir.path().join(".routes.yaml.tmp-1-0");
        let other = dir.path().join(".other.yaml.tmp-99999999-0");
        for p in [&dead, &ours, &live, &other] {
            fs::write(p, b"partial").unwrap();
        }
        assert_eq!(remove_stale_temp_files(&path), 2);
        assert!(!dead.exists() && !ours.exists());
        assert!(live.exists() && other.exists() && path.exists());
    }

    #[test]
    fn a_missing_directory_is_a_located_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope/routes.yaml");
        let err = write_atomically(&path, b"x").unwrap_err();
        assert_eq!(err.step, "create the temp file");
        assert!(err.to_string().contains("nope/routes.yaml"));
    }
}
