//! The one way a routes file becomes a [`RouteTable`] (the loader): `check` calls exactly what the
//! proxy calls.

use std::io::Read;
use std::path::{Path, PathBuf};

use passthru_routes::{Problems, RouteTable, RoutesFile};

/// Larger files are refused before they are read. 100k routes render to about 10 MiB, a million
/// keys to about 72 MiB (105 MiB with expiries); a valid file is read in one streaming pass that
/// holds little beyond the table it builds. Files over
/// [`passthru_routes::LOCATED_ERRORS_MAX_BYTES`] (64 MiB) that have a problem are refused at
/// the problems that pass found, without line and column.
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: is not a regular file; point --routes at a routes.yaml file", path.display())]
    NotAFile { path: PathBuf },
    #[error("{}: is larger than {} MiB; refusing to load it", path.display(), MAX_FILE_BYTES >> 20)]
    TooLarge { path: PathBuf },
    #[error("{}: {problems}", path.display())]
    Invalid { path: PathBuf, problems: Problems },
}

/// Reads a routes file whole, refusing directories, devices and files over [`MAX_FILE_BYTES`].
pub fn read_routes_file(path: &Path) -> Result<Vec<u8>, LoadError> {
    let read_error = |source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    };
    // Refuse what is not a regular file before opening it: opening a named pipe for reading
    // blocks until a writer comes, which would wedge the reloader (found by tests/hardening.rs).
    // The check after opening stays, for a file swapped in between.
    if !std::fs::metadata(path).map_err(read_error)?.is_file() {
        return Err(LoadError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    let file = std::fs::File::open(path).map_err(read_error)?;
    let meta = file.metadata().map_err(read_error)?;
    if !meta.is_file() {
        return Err(LoadError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    if meta.len() > MAX_FILE_BYTES {
        // Refused by its size alone: reading it first would hold it in memory for nothing.
        return Err(LoadError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(LoadError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    Ok(bytes)
}

/// Parses and validates the bytes of a routes file at `path` (named in errors).
pub fn parse_routes(path: &Path, bytes: &[u8]) -> Result<RoutesFile, LoadError> {
    RoutesFile::parse(bytes).map_err(|problems| LoadError::Invalid {
        path: path.to_path_buf(),
        problems,
    })
}

/// Reads, validates and builds the table the proxy serves. Any error leaves the caller's
/// current table in place: a file loads whole or not at all.
pub fn load_routes(path: &Path) -> Result<RouteTable, LoadError> {
    let bytes = read_routes_file(path)?;
    parse_routes(path, &bytes).map(RouteTable::new)
}

/// A content hash as lower-case hex digits, as `/readyz`, `/routes` and `check --against` show
/// the sha256 of a file's bytes.
pub fn hex(hash: &[u8]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: opening a named pipe blocks until a writer comes; the loader must refuse it
    /// without opening it.
    #[test]
    fn a_named_pipe_is_refused_without_blocking() {
        let fifo =
            std::env::temp_dir().join(format!("passthru-loader-fifo-{}", std::process::id()));
        let _ = std::fs::remove_file(&fifo);
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(read_routes_file(&fifo).map(|_| ())));
        let result = rx.recv_timeout(std::time::Duration::from_secs(5));
        let _ = std::fs::remove_file(
            std::env::temp_dir().join(format!("passthru-loader-fifo-{}", std::process::id())),
        );
        let result = result.expect("reading a named pipe blocked");
        assert!(
            matches!(result, Err(LoadError::NotAFile { .. })),
            "{result:?}"
        );
    }

    #[test]
    fn a_directory_and_a_device_are_refused() {
        for path in [std::env::temp_dir().as_path(), Path::new("/dev/zero")] {
            let result = read_routes_file(path);
            assert!(
                matches!(result, Err(LoadError::NotAFile { .. })),
                "{result:?}"
            );
        }
    }
}
