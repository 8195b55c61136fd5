//! Issue 11, items 1 and 2, end to end: a native table holding every hostile type in every
//! column, passthru-sync writing routes.yaml from it and passthru-proxy serving that. Every good
//! row is served, every bad one is named in the log, and a revocation made afterwards
//! (`blocked = 1`, and the `blocked = 'true'` an operator naturally types) reaches the proxy
//! within one poll.

use std::time::{Duration, Instant};

use passthru_tests::http::{get_with_bearer, request, Behaviour, Upstream};
use passthru_tests::proxy::Proxy;
use passthru_tests::sha256_hex;
use passthru_tests::sync::{native_postgres, native_sqlite, sync_and_proxy};
use passthru_tests::wait::{patient, wait_until};
use passthru_tests::{sqlite, sqlite_ok};

const WAIT: Duration = Duration::from_secs(15);
const INTERVAL_MS: u64 = 500;
/// A commit is picked up by the next poll, at most 1.1 intervals later; one more interval for
/// the pass and the proxy's reload (a 20 ms debounce) on a loaded machine.
const ONE_POLL: Duration = Duration::from_millis(INTERVAL_MS * 2 + 500);

/// Every `passthru_routes` column with values of every type it must not hold: text in the
/// boolean and number columns, BLOBs, invalid UTF-8 and numbers (which SQLite turns into text)
/// in the text and JSON columns, integers other than 0 and 1 and reals in the boolean ones.
const HOSTILE: &[(&str, &[&str])] = &[
    ("id", &["x'00'", "CAST(x'ff' AS TEXT)"]),
    ("path", &["x'2f'", "CAST(x'2fff' AS TEXT)", "42"]),
    ("target", &["x'00'", "CAST(x'ff' AS TEXT)", "1.5"]),
    (
        "include_subpath",
        &["'yes'", "'false'", "2", "0.5", "x'01'"],
    ),
    (
        "methods",
        &["x'5b5d'", "CAST(x'ff' AS TEXT)", "'{\"GET\": 1}'", "42"],
    ),
    (
        "headers",
        &[
            "x'7b7d'",
            "CAST(x'7b2261223a22ff227d' AS TEXT)",
            "'[1]'",
            "1.5",
        ],
    ),
    ("forward_headers", &["'true'", "-1", "0.5", "x'00'"]),
    ("default_query_params", &["x'7b7d'", "'not json'", "7"]),
    ("timeout", &["'abc'", "''", "x'00'"]),
    ("auth", &["'false'", "'true'", "2", "0.5", "x'00'"]),
];

/// `INSERT`s for the hostile rows; each row's own id and path are `bad-N` / `/bad-N` unless the
/// hostile column is one of them. Returns the statements and how many rows they insert.
fn hostile_routes() -> (String, usize) {
    let mut sql = String::new();
    let mut n = 0;
    for (column, values) in HOSTILE {
        for value in *values {
            let mut columns = vec![
                ("id", format!("'bad-{n}'")),
                ("path", format!("'/bad-{n}'")),
                ("target", "'http://127.0.0.1:1/bad'".to_owned()),
            ];
            match columns.iter_mut().find(|(c, _)| c == column) {
                Some(c) => c.1 = (*value).to_owned(),
                None => columns.push((column, (*value).to_owned())),
            }
            let (names, values): (Vec<_>, Vec<_>) = columns.into_iter().unzip();
            sql.push_str(&format!(
                "INSERT INTO passthru_routes ({}) VALUES ({});\n",
                names.join(", "),
                values.join(", ")
            ));
            n += 1;
        }
    }
    (sql, n)
}

/// Waits, from `since`, for the proxy to refuse `key` on `/secure/x`; the revocation must arrive
/// within one poll.
fn assert_revoked_within_one_poll(proxy: &Proxy, key: &str, since: Instant) {
    wait_until(WAIT, &format!("{key} refused"), || {
        get_with_bearer(proxy.addr, "/secure/x", key).status() == 401
    });
    let took = since.elapsed();
    assert!(
        took <= patient(ONE_POLL),
        "revoking {key} took {took:?}, more than one poll ({ONE_POLL:?})"
    );
}

#[test]
fn a_table_of_hostile_rows_serves_the_good_ones_names_the_bad_ones_and_passes_revocations_on_sqlite(
) {
    let dir = tempfile::tempdir().unwrap();
    let url = native_sqlite(dir.path());
    let db = dir.path().join("routes.db");
    let file = dir.path().join("routes.yaml");
    // The type triggers refuse these writes; rows written before the upgrade that added them
    // (or by someone who dropped them) look like this, and the reader must survive them.
    sqlite_ok(
        &db,
        "DROP TRIGGER passthru_routes_types_insert; DROP TRIGGER passthru_keys_types_insert; \
         DROP TRIGGER passthru_keys_types_update;",
    );
    let up = Upstream::start(Behaviour::Echo);
    let (hostile, bad_routes) = hostile_routes();
    let (a, b, c) = ("sk-hostile-a", "sk-hostile-b", "sk-hostile-c");
    sqlite_ok(
        &db,
        &format!(
            "INSERT INTO passthru_routes (path, target, include_subpath) VALUES ('/secure', '{up}/secure', 1);\n\
             {hostile}\
             INSERT INTO passthru_routes (path, target, auth) VALUES ('/open', '{up}/open', 0);\n\
             INSERT INTO passthru_keys (sha256, blocked) VALUES ('{a}', 0), ('{b}', 0), ('{c}', 'false');\n\
             INSERT INTO passthru_keys (sha256, blocked) VALUES (x'00', 0);\n\
             INSERT INTO passthru_keys (sha256, expires, blocked) VALUES ('{}', x'00', 0);\n\
             INSERT INTO passthru_keys (sha256, blocked) VALUES ('{}', 'yes');\n\
             INSERT INTO passthru_keys (sha256, blocked) VALUES (12345, 0);\n\
             INSERT INTO passthru_keys (sha256, expires, blocked) VALUES ('{}', 1735689600, 0);\n",
            sha256_hex("sk-blob-expiry"),
            sha256_hex("sk-yes"),
            sha256_hex("sk-integer-expiry"),
            up = up.url(),
            a = sha256_hex(a),
            b = sha256_hex(b),
            c = sha256_hex(c),
        ),
    );
    let bad_keys = 6;

    let (sync, proxy) = sync_and_proxy(
        &file,
        &url,
        &["--interval", &format!("{INTERVAL_MS}ms")],
        WAIT,
    );

    // Every good row is served, with its keys; the key whose blocked is 'false' is refused.
    assert_eq!(request(proxy.addr, "GET", "/open", &[], b"").status(), 200);
    assert_eq!(get_with_bearer(proxy.addr, "/secure/x", a).status(), 200);
    assert_eq!(get_with_bearer(proxy.addr, "/secure/x", b).status(), 200);
    assert_eq!(get_with_bearer(proxy.addr, "/secure/x", c).status(), 401);
    // Every bad row is named, once, with the column and the type it holds.
    let log = sync.log();
    for row_id in 2..2 + bad_routes {
        let name = format!("passthru_routes row_id {row_id} ");
        assert!(
            log.lines()
                .any(|l| l.contains("skipped row") && l.contains(&name)),
            "{name} is not named:\n{log}"
        );
    }
    assert!(
        log.contains(&format!("skipped {} row(s)", bad_routes + bad_keys)),
        "{log}"
    );
    assert!(!log.contains("pass failed"), "{log}");

    // Revocations made afterwards: the integer, and the text an operator naturally types.
    let since = Instant::now();
    sqlite_ok(
        &db,
        &format!(
            "UPDATE passthru_keys SET blocked = 1 WHERE sha256 = '{}'",
            sha256_hex(a)
        ),
    );
    assert_revoked_within_one_poll(&proxy, a, since);
    let since = Instant::now();
    sqlite_ok(
        &db,
        &format!(
            "UPDATE passthru_keys SET blocked = 'true' WHERE sha256 = '{}'",
            sha256_hex(b)
        ),
    );
    assert_revoked_within_one_poll(&proxy, b, since);
    assert_eq!(request(proxy.addr, "GET", "/open", &[], b"").status(), 200);
}

#[test]
fn with_the_type_triggers_in_place_blocked_true_is_refused_at_write_time_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    native_sqlite(dir.path());
    let db = dir.path().join("routes.db");
    sqlite_ok(
        &db,
        &format!(
            "INSERT INTO passthru_keys (sha256) VALUES ('{}')",
            sha256_hex("k")
        ),
    );
    let out = sqlite(&db, "UPDATE passthru_keys SET blocked = 'true'");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("passthru_keys.blocked must be 0 (active) or 1 (blocked)"),
        "{err}"
    );
    let out = sqlite(
        &db,
        "INSERT INTO passthru_routes (path, target, auth) VALUES ('/hand', 'http://127.0.0.1:1/h', 'false')",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("passthru_routes.auth must be 0, 1 or NULL"),
        "{err}"
    );
}

#[test]
fn a_table_of_hostile_rows_serves_the_good_ones_names_the_bad_ones_and_passes_revocations_on_postgres(
) {
    let (pg, url) = native_postgres("gateway");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("routes.yaml");
    let up = Upstream::start(Behaviour::Echo);
    let (a, b) = ("sk-hostile-a", "sk-hostile-b");
    // PostgreSQL keeps column types, so the hostile values are the ones its types allow (JSON of
    // the wrong shape, NaN, infinities) and a column altered by hand to text.
    pg.psql(
        "gateway",
        &format!(
            "INSERT INTO passthru_routes (path, target, include_subpath) VALUES ('/secure', '{up}/secure', true);\n\
             INSERT INTO passthru_routes (id, path, target, methods) VALUES ('m', '/m', 'http://x', '{{\"GET\": 1}}');\n\
             INSERT INTO passthru_routes (id, path, target, headers) VALUES ('h', '/h', 'http://x', '[1]');\n\
             INSERT INTO passthru_routes (id, path, target, default_query_params) VALUES ('q', '/q', 'http://x', '\"s\"');\n\
             INSERT INTO passthru_routes (id, path, target, timeout) VALUES ('nan', '/nan', 'http://x', 'NaN');\n\
             INSERT INTO passthru_routes (id, path, target, timeout) VALUES ('inf', '/inf', 'http://x', 'Infinity');\n\
             ALTER TABLE passthru_routes ALTER COLUMN auth TYPE text;\n\
             INSERT INTO passthru_routes (id, path, target, auth) VALUES ('text-auth', '/t', 'http://x', 'no');\n\
             INSERT INTO passthru_routes (path, target, auth) VALUES ('/open', '{up}/open', NULL);\n\
             INSERT INTO passthru_keys (sha256, blocked) VALUES ('{a}', false), ('{b}', false);\n\
             INSERT INTO passthru_keys (sha256, expires) VALUES ('{past}', '-infinity');\n\
             ALTER TABLE passthru_keys ALTER COLUMN blocked DROP NOT NULL;\n\
             INSERT INTO passthru_keys (sha256, blocked) VALUES ('{null}', NULL);",
            up = up.url(),
            a = sha256_hex(a),
            b = sha256_hex(b),
            past = sha256_hex("sk-past"),
            null = sha256_hex("sk-null"),
        ),
    );
    let (sync, proxy) = sync_and_proxy(
        &file,
        &url,
        &["--interval", &format!("{INTERVAL_MS}ms"), "--no-listen"],
        WAIT,
    );
    assert_eq!(get_with_bearer(proxy.addr, "/secure/x", a).status(), 200);
    assert_eq!(get_with_bearer(proxy.addr, "/secure/x", b).status(), 200);
    assert_eq!(
        get_with_bearer(proxy.addr, "/secure/x", "sk-past").status(),
        401
    );
    assert_eq!(
        get_with_bearer(proxy.addr, "/secure/x", "sk-null").status(),
        401
    );
    // `/open`'s auth is NULL (the default, true) in the altered column.
    assert_eq!(get_with_bearer(proxy.addr, "/open", a).status(), 200);
    let log = sync.log();
    for row_id in 2..=7 {
        let name = format!("passthru_routes row_id {row_id} ");
        assert!(
            log.lines()
                .any(|l| l.contains("skipped row") && l.contains(&name)),
            "{name} is not named:\n{log}"
        );
    }
    assert!(log.contains("skipped 7 row(s)"), "{log}");

    let since = Instant::now();
    pg.psql(
        "gateway",
        &format!(
            "UPDATE passthru_keys SET blocked = true WHERE sha256 = '{}'",
            sha256_hex(a)
        ),
    );
    assert_revoked_within_one_poll(&proxy, a, since);
    let since = Instant::now();
    pg.psql(
        "gateway",
        &format!(
            "UPDATE passthru_keys SET blocked = 'true' WHERE sha256 = '{}'",
            sha256_hex(b)
        ),
    );
    assert_revoked_within_one_poll(&proxy, b, since);
}
