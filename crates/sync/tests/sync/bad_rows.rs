//! Rows that cannot be routes are skipped and reported; the others are written.

use std::path::Path;

use passthru_tests::postgres::PgTestDatabase;
use passthru_tests::sync::*;

/// Rows 1 to 6; the expected WARN for each bad one.
const BAD_ROWS: &[&str] = &[
    "INSERT INTO passthru_routes (id, path, target) VALUES ('good', '/good', 'http://good')",
    "INSERT INTO passthru_routes (id, path, target) VALUES ('null-path', NULL, 'http://x')",
    "INSERT INTO passthru_routes (id, path, target) VALUES ('relative', 'relative/path', 'http://x')",
    "INSERT INTO passthru_routes (id, path, target) VALUES ('bad-target', '/bad-target', 'ftp://x')",
    "INSERT INTO passthru_routes (id, path, target) VALUES ('good', '/dup', 'http://dup')",
    r#"INSERT INTO passthru_routes (id, path, target, headers) VALUES ('list-headers', '/h', 'http://h', '["a"]')"#,
    "INSERT INTO passthru_routes (path, target) VALUES ('/also-good', 'http://also-good')",
];

const BAD_ROW_REPORTS: &[(&str, &str)] = &[
    ("row_id 2 (id null-path)", "`path` missing"),
    ("row_id 3 (id relative, path relative/path)", "`path`"),
    ("row_id 4 (id bad-target, path /bad-target)", "`target`"),
    ("row_id 5 (id good, path /dup)", "ids must be unique"),
    ("row_id 6 (id list-headers, path /h)", "`headers`"),
];

fn assert_bad_rows_reported(out: &Path, err: &str, extra: &[(&str, &str)]) {
    let file = parsed(out);
    let paths: Vec<&str> = file.routes().iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, vec!["/also-good", "/good"]);
    for (row, reason) in BAD_ROW_REPORTS.iter().chain(extra) {
        let line = err
            .lines()
            .find(|l| l.contains("WARN") && l.contains(row))
            .unwrap_or_else(|| panic!("no WARN for {row}:\n{err}"));
        assert!(line.contains(reason), "{line}");
    }
    let count = BAD_ROW_REPORTS.len() + extra.len();
    assert!(err.contains(&format!("skipped {count} row(s)")), "{err}");
}

#[tokio::test]
async fn bad_rows_are_skipped_and_reported_and_the_other_rows_are_written_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = native_sqlite(dir.path());
    sql(&url, BAD_ROWS).await;
    // SQLite keeps JSON columns as text, so a row can also hold text that is not JSON.
    sql(&url, &["INSERT INTO passthru_routes (id, path, target, headers) VALUES ('broken-json', '/j', 'http://j', '{not json')"]).await;
    let out = dir.path().join("routes.yaml");
    let (code, _, err) = run(&url, &out, &["once"]);
    assert_eq!(code, 0, "{err}");
    assert_bad_rows_reported(
        &out,
        &err,
        &[("row_id 8 (id broken-json)", "column `headers` is not JSON")],
    );
}

#[tokio::test]
async fn bad_rows_are_skipped_and_reported_and_the_other_rows_are_written_on_postgres() {
    let pg = PgTestDatabase::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    assert_eq!(run(&pg.url(), &out, &["migrate"]).0, 0);
    sql(&pg.url(), BAD_ROWS).await;
    let (code, _, err) = run(&pg.url(), &out, &["once"]);
    assert_eq!(code, 0, "{err}");
    assert_bad_rows_reported(&out, &err, &[]);
}
