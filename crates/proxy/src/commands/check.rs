//! `passthru-proxy check FILE`: validate a routes file the way the proxy loads it and print its
//! routes, like `nginx -t`; with `--against`, what loading it would change on a running proxy.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use passthru_routes::RouteTable;
use sha2::Digest;

use super::{against, report};
use crate::routes_file::{self, hex};

/// Prints every problem with its location (exit 1) or the routes and key scopes (exit 0), then
/// the `--against` comparison and a warning for each `os.environ/` value not set here.
pub fn check(
    path: &Path,
    against: Option<&str>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let bytes = routes_file::read_routes_file(path).map_err(anyhow::Error::new)?;
    let table = match routes_file::parse_routes(path, &bytes) {
        Ok(file) => RouteTable::new(file),
        Err(e) => return Ok(report(e, err)?),
    };
    print_table(&table, out)?;
    if let Some(admin) = against {
        let (served, served_sha256) = against::served_table(admin)?;
        let local_sha256 = hex(&sha2::Sha256::digest(&bytes));
        if served_sha256 == local_sha256 {
            writeln!(out, "{admin} serves this file (sha256 {local_sha256})")?;
        } else {
            let diff = against::changes(&served, table.file());
            writeln!(
                out,
                "{admin} serves sha256 {served_sha256}; loading this file (sha256 {local_sha256}) would add {:?}, remove {:?}, change {:?}",
                diff.added, diff.removed, diff.changed
            )?;
        }
    }
    for route in table.routes() {
        for (name, value) in &route.headers {
            if let Some(var) = value
                .env_var()
                .filter(|v| passthru_systemd::env_or_credential(v).is_none())
            {
                writeln!(
                    err,
                    "warning: {}: route {} header `{name}` reads os.environ/{var}, which is not set here; \
                     the proxy answers 503 on this route unless its environment sets it",
                    path.display(),
                    route.id
                )?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The routes as a table (id, methods, path, match kind, auth, target), the key scopes, and a
/// count line.
fn print_table(table: &RouteTable, out: &mut dyn Write) -> std::io::Result<()> {
    let rows: Vec<[String; 6]> = table
        .routes()
        .iter()
        .map(|r| {
            [
                r.id.to_string(),
                r.methods.to_string(),
                r.path.clone(),
                r.match_kind().to_owned(),
                if r.auth { "key" } else { "none" }.to_owned(),
                r.target.redacted(),
            ]
        })
        .collect();
    let header = ["ID", "METHODS", "PATH", "MATCH", "AUTH", "TARGET"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:w$}"))
            .collect();
        writeln!(out, "{}", line.join("  ").trim_end())?;
    }
    print_key_scopes(table, out)?;
    let keys = table.file().keys().len();
    writeln!(
        out,
        "{} route{}, {} key hash{}: ok",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" },
        keys,
        if keys == 1 { "" } else { "es" }
    )
}

/// How many keys share each distinct set of grants; nothing when every key is unscoped.
fn print_key_scopes(table: &RouteTable, out: &mut dyn Write) -> std::io::Result<()> {
    let mut scopes: std::collections::BTreeMap<&passthru_routes::Grants, usize> =
        Default::default();
    for key in table.file().keys() {
        *scopes.entry(key.grants()).or_default() += 1;
    }
    if scopes.keys().all(|g| g.is_unscoped()) {
        return Ok(());
    }
    writeln!(out, "KEYS  ACCESS TO auth: true ROUTES")?;
    for (grants, count) in scopes {
        let mut access = if grants.admin {
            "admin: every route".to_owned()
        } else {
            match &grants.allow {
                None => "allow: every route".to_owned(),
                Some(list) => format!("allow: {list:?}"),
            }
        };
        if !grants.admin && !grants.deny.is_empty() {
            access.push_str(&format!(", deny: {:?}", grants.deny));
        }
        if let Some(only) = &grants.only {
            access.push_str(&format!(", only: {only:?}"));
        }
        writeln!(out, "{count:>4}  {access}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_files::TempFile;
    use super::*;

    fn run(text: &str) -> (ExitCode, String, String) {
        let file = TempFile::new("routes.yaml", text);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = check(&file.0, None, &mut out, &mut err).unwrap();
        let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
        (code, text(out), text(err))
    }

    #[test]
    fn a_good_file_prints_its_routes() {
        let (code, out, err) =
            run("version: 1\nroutes:\n- {id: a, path: /a, target: 'http://x/base'}\n");
        assert_eq!(code, ExitCode::SUCCESS);
        assert!(out.starts_with("ID  METHODS"), "{out}");
        assert!(out.contains("a   "), "{out}");
        assert!(out.ends_with("1 route, 0 key hashes: ok\n"), "{out}");
        assert_eq!(err, "");
    }

    #[test]
    fn a_bad_file_prints_each_problem_at_its_place() {
        let (code, out, err) = run("version: 1\nroutes:\n- {path: /a}\n");
        assert_eq!(code, ExitCode::FAILURE);
        assert_eq!(out, "");
        assert!(err.contains("routes.yaml:3:"), "{err}");
        assert!(err.contains("the proxy would refuse this file"), "{err}");
    }
}
