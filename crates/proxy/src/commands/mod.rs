//! The operator's commands (`check`, `fmt`, `explain`, `test`): the same loader and routing code
//! as the running proxy, printing to the streams they are given so that they can be tested.

pub mod against;
pub mod check;
pub mod dry_run;
pub mod explain;
pub mod fmt;
pub mod route_tests;

use std::io::Write;
use std::process::ExitCode;

use crate::routes_file::LoadError;

/// Reports a routes file that does not load and returns the failing exit code.
pub fn report(error: LoadError, err: &mut dyn Write) -> std::io::Result<ExitCode> {
    match error {
        LoadError::Invalid { path, problems } => {
            // FILE:LINE:COL, the form editors and CI annotators read; a problem of the whole
            // document is at its start.
            for problem in &problems {
                let at = problem
                    .at
                    .unwrap_or(passthru_routes::Position { line: 1, column: 1 });
                writeln!(
                    err,
                    "{}:{}:{}: {problem}",
                    path.display(),
                    at.line,
                    at.column
                )?;
            }
            writeln!(
                err,
                "{}: {} problem{}; the proxy would refuse this file and keep serving its last good table",
                path.display(),
                problems.len(),
                if problems.len() == 1 { "" } else { "s" }
            )?;
        }
        other => writeln!(err, "{other}")?,
    }
    Ok(ExitCode::FAILURE)
}

#[cfg(test)]
mod test_files {
    use std::path::PathBuf;

    /// A routes file with `text` in a fresh temporary directory, removed when dropped.
    pub struct TempFile(pub PathBuf);

    impl TempFile {
        pub fn new(name: &str, text: &str) -> TempFile {
            static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir =
                std::env::temp_dir().join(format!("passthru-commands-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            TempFile(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            if let Some(dir) = self.0.parent() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}
