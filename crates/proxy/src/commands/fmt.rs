//! `passthru-proxy fmt FILE`: rewrite a routes file in canonical form, atomically.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use passthru_routes::{write_atomically, WriteOutcome};

use super::report;
use crate::routes_file;

const MODELINE: &[u8] = b"# yaml-language-server:";

/// Writes the canonical form over `path` (or, with `check_only`, exits 1 when the file is not in
/// it). The editor's schema modeline is the one comment kept.
pub fn fmt(
    path: &Path,
    check_only: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let bytes = routes_file::read_routes_file(path).map_err(anyhow::Error::new)?;
    let file = match routes_file::parse_routes(path, &bytes) {
        Ok(file) => file,
        Err(e) => return Ok(report(e, err)?),
    };
    let mut canonical = file.render();
    // The editor's schema modeline is the one comment canonical form keeps.
    if let Some(modeline) = bytes
        .split(|&b| b == b'\n')
        .next()
        .filter(|line| line.starts_with(MODELINE))
    {
        canonical.insert(0, '\n');
        canonical.insert_str(0, &String::from_utf8_lossy(modeline));
    }
    if check_only {
        if canonical.as_bytes() == bytes {
            writeln!(out, "{}: canonical", path.display())?;
            return Ok(ExitCode::SUCCESS);
        }
        writeln!(
            err,
            "{}: not in canonical form; run `passthru-proxy fmt {}`",
            path.display(),
            path.display()
        )?;
        return Ok(ExitCode::FAILURE);
    }
    let outcome = write_atomically(path, canonical.as_bytes())
        .with_context(|| format!("formatting {}", path.display()))?;
    match outcome {
        WriteOutcome::Written => writeln!(out, "{}: formatted", path.display())?,
        WriteOutcome::Unchanged => {
            writeln!(out, "{}: already canonical; not rewritten", path.display())?
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::super::test_files::TempFile;
    use super::*;

    #[test]
    fn formatting_keeps_the_modeline_and_then_leaves_the_file_alone() {
        let file = TempFile::new(
            "routes.yaml",
            "# yaml-language-server: $schema=x\nversion: 1\nroutes:\n- {path: /a, target: 'http://x'}\n",
        );
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(
            fmt(&file.0, true, &mut out, &mut err).unwrap(),
            ExitCode::FAILURE
        );
        assert_eq!(
            fmt(&file.0, false, &mut out, &mut err).unwrap(),
            ExitCode::SUCCESS
        );
        let written = std::fs::read_to_string(&file.0).unwrap();
        assert!(
            written.starts_with("# yaml-language-server: $schema=x\n"),
            "{written}"
        );
        assert!(written.contains("auto-"), "{written}");
        out.clear();
        assert_eq!(
            fmt(&file.0, true, &mut out, &mut err).unwrap(),
            ExitCode::SUCCESS
        );
        assert!(String::from_utf8(out).unwrap().ends_with(": canonical\n"));
    }
}
