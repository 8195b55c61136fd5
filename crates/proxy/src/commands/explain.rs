//! `passthru-proxy explain FILE 'METHOD /path' [-H 'Name: value']...`: what the proxy would do
//! with one request, and why.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use super::{dry_run, report};
use crate::routes_file;

/// Prints the normalised path, every route that covers it and why it did or did not win, and the
/// exact upstream request (configured secrets shown as their `os.environ/` references).
pub fn explain(
    path: &Path,
    line: &str,
    headers: &[String],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let table = match routes_file::load_routes(path) {
        Ok(table) => table,
        Err(e) => return Ok(report(e, err)?),
    };
    let headers = headers
        .iter()
        .map(|h| {
            h.split_once(':')
                .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
                .with_context(|| format!("-H {h:?}: write a header as 'Name: value'"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let req = dry_run::request(line, &headers)?;
    match passthru_routes::normalize_request_path(req.uri.path()) {
        Ok(normal) => writeln!(out, "path: {normal}")?,
        Err(why) => writeln!(out, "path: refused ({why})")?,
    }
    writeln!(out, "routes covering it:")?;
    let considered = dry_run::considered(&table, &req);
    if considered.is_empty() {
        writeln!(out, "  none")?;
    }
    for line in considered {
        writeln!(out, "  {line}")?;
    }
    let table = dry_run::offline_table(table);
    let got = dry_run::outcome(&table, &req);
    match &got.upstream {
        Some(url) => {
            writeln!(
                out,
                "result: {} to route {}",
                got.status,
                got.route.as_deref().unwrap_or("?")
            )?;
            writeln!(out, "upstream: {} {url}", req.method)?;
            for (name, value) in &got.headers {
                writeln!(out, "  {name}: {value}")?;
            }
        }
        None => writeln!(
            out,
            "result: {} answered by the proxy{}: {}",
            got.status,
            got.route
                .as_deref()
                .map(|r| format!(" (route {r})"))
                .unwrap_or_default(),
            got.message.as_deref().unwrap_or("")
        )?,
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::super::test_files::TempFile;
    use super::*;

    #[test]
    fn explain_shows_the_upstream_request_with_secrets_as_references() {
        let file = TempFile::new(
            "routes.yaml",
            "version: 1\nroutes:\n- {id: co, path: /cohere, include_subpath: true, auth: false, target: 'https://api.cohere.com', headers: {authorization: 'Bearer os.environ/COHERE_KEY'}}\n",
        );
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = explain(&file.0, "POST /cohere/v1/chat?x=1", &[], &mut out, &mut err).unwrap();
        assert_eq!(code, ExitCode::SUCCESS);
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("path: /cohere/v1/chat\n"), "{out}");
        assert!(out.contains("result: 200 to route co\n"), "{out}");
        assert!(
            out.contains("upstream: POST https://api.cohere.com/v1/chat?x=1\n"),
            "{out}"
        );
        assert!(
            out.contains("authorization: Bearer <os.environ/COHERE_KEY>"),
            "{out}"
        );
    }
}
