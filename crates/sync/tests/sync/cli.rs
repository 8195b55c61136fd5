//! The one-shot and management subcommands, the embedded default database, credentials.

use std::fs;

use passthru_tests::postgres::PgTestDatabase;
use passthru_tests::sync::*;

use super::ROUTE_INSERT;

#[tokio::test]
async fn once_exits_0_when_it_wrote_3_when_up_to_date_and_1_when_it_failed() {
    let dir = tempfile::tempdir().unwrap();
    let url = native_sqlite(dir.path());
    let out = dir.path().join("routes.yaml");
    assert_eq!(run(&url, &out, &["once"]).0, 0);
    assert_eq!(run(&url, &out, &["once"]).0, 3);
    let before = fs::read(&out).unwrap();
    let (code, _, err) = run(
        "postgres://sync:hunter2secret@127.0.0.1:9/app",
        &out,
        &["once"],
    );
    assert_eq!(code, 1, "{err}");
    assert_eq!(fs::read(&out).unwrap(), before);
    assert!(err.contains("postgres://sync:***@127.0.0.1:9/app"), "{err}");
    assert!(
        !err.contains("hunter2secret"),
        "the password was logged:\n{err}"
    );
}

#[tokio::test]
async fn the_embedded_sqlite_default_is_created_and_migrated_on_first_use() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    let mut c = command("unused", &out);
    c.env_remove("PASSTHRU_DATABASE_URL")
        .env("PASSTHRU_SQLITE_PATH", dir.path().join("state/sub/sync.db"))
        .arg("once");
    let status = c.output().unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(dir.path().join("state/sub/sync.db").exists());
    assert_eq!(read(&out).unwrap(), "version: 1\nroutes: []\n");
}

#[tokio::test]
async fn the_database_url_can_come_from_a_credentials_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = native_sqlite(dir.path());
    sql(&url, &[ROUTE_INSERT]).await;
    let creds = dir.path().join("creds");
    fs::create_dir(&creds).unwrap();
    fs::write(creds.join("database-url"), format!("{url}\n")).unwrap();
    let out = dir.path().join("routes.yaml");
    let mut c = command("unused", &out);
    c.env_remove("PASSTHRU_DATABASE_URL")
        .env("CREDENTIALS_DIRECTORY", &creds)
        .arg("once");
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(ids(&out), vec!["auto-64ec647a7877a6c4"]);

    let mut c = command("unused", &out);
    c.env_remove("PASSTHRU_DATABASE_URL").args([
        "--database-url-file",
        creds.join("database-url").to_str().unwrap(),
        "once",
    ]);
    assert_eq!(c.output().unwrap().status.code(), Some(3));
}

#[tokio::test]
async fn routes_and_keys_subcommands_manage_native_rows_on_postgres() {
    let pg = PgTestDatabase::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    let url = pg.url();
    assert_eq!(run(&url, &out, &["migrate"]).0, 0);
    assert_eq!(run(&url, &out, &["migrate"]).0, 0, "migrate is idempotent");

    // `/my-service` is added twice: the second time it clashes with the first.
    let add_my_service = |target: &str| {
        run(
            &url,
            &out,
            &["routes", "add", "--path", "/my-service", "--target", target],
        )
    };
    let (code, id, err) = add_my_service("http://backend:8080");
    assert_eq!((code, id.trim()), (0, "auto-64ec647a7877a6c4"), "{err}");
    let (code, id, err) = run(
        &url,
        &out,
        &[
            "routes",
            "add",
            "--id",
            "cohere",
            "--path",
            "/cohere",
            "--target",
            "https://api.cohere.com",
            "--include-subpath",
            "--method",
            "post",
            "--header",
            "Authorization=Bearer os.environ/COHERE_KEY",
            "--query",
            "v=2",
            "--timeout",
            "30",
            "--auth",
            "false",
        ],
    );
    assert_eq!((code, id.trim()), (0, "cohere"), "{err}");
    let (code, _, err) = add_my_service("http://other");
    assert_eq!(code, 1, "a clashing route was added");
    assert!(err.contains("clashes"), "{err}");
    let (code, _, err) = run(
        &url,
        &out,
        &["routes", "add", "--path", "/x", "--target", "not a url"],
    );
    assert_eq!(code, 1);
    assert!(err.contains("`target`"), "{err}");

    let (code, list, _) = run(&url, &out, &["routes", "list"]);
    assert_eq!(code, 0);
    assert!(
        list.contains("auto-64ec647a7877a6c4") && list.contains("cohere"),
        "{list}"
    );

    let (code, hash, err) = run_with_stdin(
        &url,
        &out,
        &[
            "keys",
            "add",
            "--key-stdin",
            "--expires",
            "2099-01-01T00:00:00Z",
        ],
        b"sk-secret-key\n",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(hash.trim(), passthru_sync::admin::hash_key("sk-secret-key"));

    assert_eq!(run(&url, &out, &["once"]).0, 0);
    let file = parsed(&out);
    assert_eq!(file.routes().len(), 2);
    assert_eq!(file.keys().len(), 1);
    assert_eq!(file.keys()[0].hex(), hash.trim());
    assert!(file.keys()[0].expires.is_some());

    assert_eq!(
        run(&url, &out, &["routes", "rm", "auto-64ec647a7877a6c4"]).0,
        0
    );
    assert_eq!(run(&url, &out, &["keys", "rm", hash.trim()]).0, 0);
    assert_eq!(run(&url, &out, &["routes", "rm", "no-such-id"]).0, 1);
    // A bad row without a usable id goes by its row id, which `routes list` reports.
    sql(
        &url,
        &["INSERT INTO passthru_routes (path, target) VALUES (NULL, NULL)"],
    )
    .await;
    let (_, _, list_err) = run(&url, &out, &["routes", "list"]);
    let row_id = list_err
        .split("row_id ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap_or_else(|| panic!("the bad row is not listed: {list_err}"))
        .to_owned();
    assert_eq!(run(&url, &out, &["routes", "rm", "--row-id", &row_id]).0, 0);
    assert_eq!(run(&url, &out, &["routes", "list"]).2, "");
    assert_eq!(run(&url, &out, &["once"]).0, 0);
    assert_eq!(ids(&out), vec!["cohere"]);
    assert!(parsed(&out).keys().is_empty());
}
