//! `passthru-proxy test FILE CASES`: route tests, each case's request put through the proxy's
//! own routing and key code and checked against what it expects.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use super::{dry_run, report};
use crate::routes_file;

/// Prints `ok` or `FAIL` with a diff for each case, then the counts; exits 1 if any failed.
pub fn route_tests(
    path: &Path,
    cases_path: &Path,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let table = match routes_file::load_routes(path) {
        Ok(table) => table,
        Err(e) => return Ok(report(e, err)?),
    };
    let text = std::fs::read_to_string(cases_path)
        .with_context(|| format!("{}: cannot read the cases file", cases_path.display()))?;
    let cases: dry_run::Cases = serde_yaml::from_str(&text)
        .with_context(|| format!("{}: not a cases file", cases_path.display()))?;
    let table = dry_run::offline_table(table);
    let (mut passed, mut failed) = (0, 0);
    for case in &cases.cases {
        let req = case
            .request_header()
            .with_context(|| format!("case {:?}", case.name))?;
        let differences = case.differences(&dry_run::outcome(&table, &req));
        if differences.is_empty() {
            passed += 1;
            writeln!(out, "ok    {}", case.name)?;
        } else {
            failed += 1;
            writeln!(out, "FAIL  {}", case.name)?;
            for d in differences {
                writeln!(out, "      {d}")?;
            }
        }
    }
    writeln!(out, "{passed} passed, {failed} failed")?;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_files::TempFile;
    use super::*;

    #[test]
    fn a_failing_case_is_shown_with_its_difference_and_fails_the_run() {
        let routes = TempFile::new(
            "routes.yaml",
            "version: 1\nroutes:\n- {id: a, path: /a, auth: false, target: 'http://x'}\n",
        );
        let cases = TempFile::new(
            "cases.yaml",
            "cases:\n- {name: found, request: GET /a, expect: {status: 200, route: a}}\n- {name: wrong, request: GET /b, expect: {status: 200}}\n",
        );
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = route_tests(&routes.0, &cases.0, &mut out, &mut err).unwrap();
        assert_eq!(code, ExitCode::FAILURE);
        let out = String::from_utf8(out).unwrap();
        assert!(out.starts_with("ok    found\nFAIL  wrong\n"), "{out}");
        assert!(out.contains("status: expected 200, got 404"), "{out}");
        assert!(out.ends_with("1 passed, 1 failed\n"), "{out}");
    }
}
