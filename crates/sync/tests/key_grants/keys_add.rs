//! `keys add` writes each grant into the file, and refuses grants that can only be a mistake.

use std::path::Path;

use passthru_routes::Grants;
use passthru_sync::admin::hash_key;
use passthru_tests::postgres::PgTestDatabase;
use passthru_tests::sync::*;

use super::{grants_of, list, no_grant};

/// `keys add` with each kind of access, `once`, and the grants read back from the file; `keys
/// list` shows them. The same on both databases (the insert is the one place the SQL differs).
async fn keys_add_writes_each_access_into_the_file(url: &str, out: &Path) {
    let (code, _, err) = run(
        url,
        out,
        &[
            "routes",
            "add",
            "--path",
            "/a",
            "--target",
            "http://a",
            "--include-subpath",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let add = |args: &[&str]| {
        let mut all = vec!["keys", "add", "--sha256"];
        all.extend_from_slice(args);
        let (code, hex, err) = run(url, out, &all);
        assert_eq!(code, 0, "{all:?}: {err}");
        hex.trim().to_owned()
    };
    let plain = add(&[&hash_key("sk-plain")]);
    let scoped = add(&[
        &hash_key("sk-scoped"),
        "--allow",
        "/a",
        "--allow",
        "/b",
        "--deny",
        "/a/admin",
    ]);
    let deny_only = add(&[&hash_key("sk-deny"), "--deny", "/a/admin*"]);
    let none = add(&[&hash_key("sk-none"), "--allow-none"]);
    let admin = add(&[&hash_key("sk-admin"), "--admin"]);
    let limited_admin = add(&[&hash_key("sk-limited"), "--admin", "--only", "/a/v1/*"]);

    let (code, _, err) = run(url, out, &["once"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("skipped row"), "{err}");
    assert_eq!(grants_of(out, &plain), Grants::default());
    assert_eq!(
        grants_of(out, &scoped),
        Grants {
            allow: Some(list(&["/a", "/b"])),
            deny: list(&["/a/admin"]),
            ..Grants::default()
        }
    );
    assert_eq!(
        grants_of(out, &deny_only),
        Grants {
            deny: list(&["/a/admin*"]),
            ..Grants::default()
        }
    );
    assert_eq!(grants_of(out, &none), no_grant());
    assert_eq!(
        grants_of(out, &admin),
        Grants {
            admin: true,
            ..Grants::default()
        }
    );
    assert_eq!(
        grants_of(out, &limited_admin),
        Grants {
            admin: true,
            only: Some(list(&["/a/v1/*"])),
            ..Grants::default()
        }
    );

    let (code, listed, err) = run(url, out, &["keys", "list"]);
    assert_eq!(code, 0, "{err}");
    let access = |hex: &str| {
        let line = listed
            .lines()
            .find(|l| l.starts_with(hex))
            .unwrap_or_else(|| panic!("{hex} not listed:\n{listed}"));
        line.split_whitespace()
            .skip(3)
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(access(&plain), "all");
    assert_eq!(access(&scoped), r#"allow=["/a","/b"] deny=["/a/admin"]"#);
    assert_eq!(access(&none), "allow=[]");
    assert_eq!(access(&admin), "admin");
    assert_eq!(access(&limited_admin), r#"admin only=["/a/v1/*"]"#);
}

#[tokio::test]
async fn keys_add_writes_each_access_into_the_file_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = native_sqlite(dir.path());
    keys_add_writes_each_access_into_the_file(&url, &dir.path().join("routes.yaml")).await;
}

#[tokio::test]
async fn keys_add_writes_each_access_into_the_file_on_postgres() {
    let pg = PgTestDatabase::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    assert_eq!(run(&pg.url(), &out, &["migrate"]).0, 0);
    keys_add_writes_each_access_into_the_file(&pg.url(), &out).await;
}

#[tokio::test]
async fn keys_add_refuses_grants_that_can_only_be_a_mistake_and_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = native_sqlite(dir.path());
    let out = dir.path().join("routes.yaml");
    let hex = hash_key("sk-refused");
    let refused: &[(&[&str], &str)] = &[
        (&["--admin", "--allow", "/a"], "--admin ignores --allow"),
        (&["--admin", "--deny", "/a"], "--admin ignores --allow"),
        (&["--allow", "a"], "--allow \"a\" is not a request path"),
        (&["--deny", "*"], "--deny \"*\" is not a request path"),
        (
            &["--allow", "/a/*"],
            "--allow /a already allows every path below it",
        ),
        (&["--allow", "/a", "--allow-none"], "cannot be used with"),
    ];
    for (flags, message) in refused {
        let mut args = vec!["keys", "add", "--sha256", &hex];
        args.extend_from_slice(flags);
        let (code, _, err) = run(&url, &out, &args);
        assert_eq!(
            code,
            if message.contains("cannot") { 2 } else { 1 },
            "{flags:?}"
        );
        assert!(err.contains(message), "{flags:?}: {err}");
    }
    let (code, listed, _) = run(&url, &out, &["keys", "list"]);
    assert_eq!(code, 0);
    assert!(!listed.contains(&hex), "a refused key was added:\n{listed}");
}
