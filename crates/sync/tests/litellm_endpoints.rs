//! LiteLLM's pass-through endpoints as the sidecar reads them from LiteLLM 1.110.2's tables on a
//! real PostgreSQL: rows from a newer LiteLLM stay served, guardrails are never dropped
//! silently, config.yaml endpoints join the database's as LiteLLM merges them, and an exact and a
//! subpath endpoint on one path are two routes with stable ids.

use std::time::Duration;

use passthru_tests::postgres::PgTestDatabase;
use passthru_tests::process::Daemon;
use passthru_tests::sync::*;
use passthru_tests::wait::wait_for;

async fn litellm_database(endpoints: &str) -> PgTestDatabase {
    let pg = PgTestDatabase::new();
    let ddl = litellm_ddl();
    sql(
        &pg.url(),
        &ddl.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    sql(
        &pg.url(),
        &[&format!(
            r#"INSERT INTO "LiteLLM_Config" (param_name, param_value)
               VALUES ('general_settings', '{{"pass_through_endpoints": {endpoints}}}'::jsonb)"#
        )],
    )
    .await;
    pg
}

/// Polls that found the table as it was: by its change marker, or by a full read.
fn unchanged_polls(log: &str) -> usize {
    log.matches("poll: nothing new").count() + log.matches("poll: table unchanged").count()
}

#[tokio::test]
async fn a_row_with_fields_from_a_newer_litellm_is_served_with_one_warn_per_change() {
    let pg = litellm_database(
        r#"[{"path": "/new", "target": "http://n", "auth": false, "new_field": 1, "another": null},
            {"path": "/plain", "target": "http://p", "auth": false}]"#,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    let mut c = command(&pg.url(), &out);
    // DEBUG names every poll, so the test can wait for polls that changed nothing.
    c.env("PASSTHRU_LOG", "debug");
    c.args(["run", "--schema", "litellm", "--interval", "100ms"]);
    let d = Daemon::spawn_logging_to("passthru-sync", &mut c, &dir.path().join("daemon.log"));
    wait_for(Duration::from_secs(10), "both routes", || {
        read(&out).filter(|t| t.contains("/new") && t.contains("/plain"))
    })
    .await;
    wait_for(Duration::from_secs(20), "five more polls", || {
        (unchanged_polls(&d.log()) >= 5).then_some(())
    })
    .await;
    let log = d.log();
    let warned: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("field ignored") && l.contains("WARN"))
        .collect();
    assert_eq!(warned.len(), 1, "{log}");
    assert!(warned[0].contains("`new_field`"), "{log}");
    assert!(
        !log.contains("`another`"),
        "a null field is not worth a warning: {log}"
    );
}

#[tokio::test]
async fn a_row_with_guardrails_is_not_served_and_is_an_error_while_the_others_are() {
    let pg = litellm_database(
        r#"[{"path": "/guarded", "target": "http://g", "auth": false, "guardrails": {"pii-mask": null}},
            {"path": "/plain", "target": "http://p", "auth": false}]"#,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    let (code, _, err) = run(&pg.url(), &out, &["--schema", "litellm", "once"]);
    assert_eq!(code, 0, "{err}");
    let file = read(&out).unwrap();
    assert!(file.contains("/plain"), "{file}");
    assert!(!file.contains("/guarded"), "{file}");
    let error = err
        .lines()
        .find(|l| l.contains("ERROR") && l.contains("/guarded"))
        .unwrap_or_else(|| panic!("no ERROR for the guarded row: {err}"));
    assert!(error.contains("guardrails"), "{error}");
}

#[tokio::test]
async fn config_yaml_endpoints_join_the_database_ones_as_litellm_merges_them() {
    let pg = litellm_database(
        r#"[{"path": "/a", "target": "http://db-a", "auth": false},
            {"path": "/b", "target": "http://db-b", "auth": false}]"#,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        "model_list: []\ngeneral_settings:\n  pass_through_request_timeout: 45\n  pass_through_endpoints:\n    - {path: /a, target: 'http://file-a', auth: false}\n    - {path: /c, target: 'http://file-c', auth: false}\n",
    )
    .unwrap();
    let (code, _, err) = run(
        &pg.url(),
        &out,
        &[
            "--schema",
            "litellm",
            "--litellm-config",
            config.to_str().unwrap(),
            "once",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let file = parsed(&out);
    let targets: Vec<(String, String)> = file
        .routes()
        .iter()
        .map(|r| (r.path.clone(), r.target.as_str().to_owned()))
        .collect();
    assert_eq!(
        targets,
        [
            ("/a".to_owned(), "http://db-a".to_owned()),
            ("/b".to_owned(), "http://db-b".to_owned()),
            ("/c".to_owned(), "http://file-c".to_owned()),
        ]
    );
    assert!(file
        .routes()
        .iter()
        .all(|r| r.timeout == Duration::from_secs(45)));
}

#[tokio::test]
async fn an_exact_and_a_subpath_id_less_row_on_one_path_are_two_routes_stable_over_100_polls() {
    let pg = litellm_database(
        r#"[{"path": "/p", "target": "http://exact", "auth": false},
            {"path": "/p", "target": "http://below", "include_subpath": true, "auth": true}]"#,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    let mut c = command(&pg.url(), &out);
    c.env("PASSTHRU_LOG", "debug");
    c.args(["run", "--schema", "litellm", "--interval", "20ms"]);
    let d = Daemon::spawn_logging_to("passthru-sync", &mut c, &dir.path().join("daemon.log"));
    let first = wait_for(Duration::from_secs(10), "the file", || read(&out)).await;
    let written = mtime(&out);
    wait_for(Duration::from_secs(60), "100 polls", || {
        (unchanged_polls(&d.log()) >= 100).then_some(())
    })
    .await;
    assert_eq!(read(&out).unwrap(), first, "the file changed");
    assert_eq!(mtime(&out), written, "the file was rewritten");
    let ids = ids(&out);
    assert_eq!(ids.len(), 2, "{first}");
    assert_ne!(ids[0], ids[1]);
    assert!(ids.iter().all(|id| id.starts_with("auto-")), "{ids:?}");
}
