//! LiteLLM's own tables as the source.

use std::time::Duration;

use passthru_tests::postgres::PgTestDatabase;
use passthru_tests::sync::*;
use passthru_tests::wait::wait_for;

use super::{auto_id, daemon};

/// `general_settings` as LiteLLM's UI writes it: `model_dump(exclude={"is_from_config"})` of
/// each endpoint, with a UUID id; plus a record written before ids existed.
const LITELLM_SETTINGS: &str = r#"{
  "store_model_in_db": true,
  "pass_through_request_timeout": 300,
  "pass_through_endpoints": [
    {"id": "ca49833f-5d4d-43d0-a079-683f6d390ced", "path": "/bria",
     "target": "https://engine.prod.bria-api.com", "headers": {"api_token": "os.environ/BRIA_KEY"},
     "default_query_params": {}, "include_subpath": true, "cost_per_request": 12.0,
     "timeout": null, "auth": true, "guardrails": null, "methods": null},
    {"path": "/my-service", "target": "http://backend:8080"},
    {"path": "/cohere", "target": "https://api.cohere.com/v1",
     "headers": {"Authorization": "bearer os.environ/COHERE_API_KEY", "litellm_user_api_key": "x-litellm-key"},
     "forward_headers": false, "merge_query_params": true, "custom_auth_parser": "langfuse",
     "include_subpath": false, "methods": ["POST"], "auth": false, "timeout": 30.5,
     "default_query_params": {"version": "2"}},
    {"id": "adapter", "path": "/anthropic-adapter", "target": "custom_callbacks.anthropic_adapter"}
  ]
}"#;

const LITELLM_EXPECTED: &str = "version: 1
routes:
- id: ca49833f-5d4d-43d0-a079-683f6d390ced
  path: /bria
  target: https://engine.prod.bria-api.com
  include_subpath: true
  methods:
  - DELETE
  - GET
  - PATCH
  - POST
  - PUT
  headers:
    api_token: os.environ/BRIA_KEY
  forward_headers: false
  default_query_params: {}
  timeout: 300
  auth: true
- id: auto-2f0e5d3f8a3b0b8e
  path: /cohere
  target: https://api.cohere.com/v1
  include_subpath: false
  methods:
  - POST
  headers:
    authorization: bearer os.environ/COHERE_API_KEY
    litellm_user_api_key: x-litellm-key
  forward_headers: false
  default_query_params:
    version: '2'
  timeout: 30.5
  auth: false
  custom_auth_parser: langfuse
- id: auto-64ec647a7877a6c4
  path: /my-service
  target: http://backend:8080
  include_subpath: false
  methods:
  - DELETE
  - GET
  - PATCH
  - POST
  - PUT
  headers: {}
  forward_headers: false
  default_query_params: {}
  timeout: 300
  auth: true
keys:
- sha256: '1111111111111111111111111111111111111111111111111111111111111111'
  allow: []
- sha256: '4444444444444444444444444444444444444444444444444444444444444444'
  expires: 2099-01-31T12:00:00Z
  allow: []
key_prefix: sk-
cors:
  allow_origins:
  - '*'
  allow_methods:
  - '*'
  allow_headers:
  - '*'
  allow_credentials: false
  expose_headers: []
  max_age: 600
";

#[tokio::test]
async fn litellm_tables_and_rows_as_litellm_writes_them_give_the_expected_file() {
    let pg = PgTestDatabase::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    let mut statements = litellm_ddl();
    statements.push(format!(
        r#"INSERT INTO "LiteLLM_Config" (param_name, param_value) VALUES ('general_settings', '{}'::jsonb)"#,
        LITELLM_SETTINGS.replace('\'', "''")
    ));
    statements.push(format!(
        r#"INSERT INTO "LiteLLM_VerificationToken" (token, blocked, expires) VALUES
           ('{}', NULL, NULL),
           ('{}', true, NULL),
           ('{}', false, '2001-01-01 00:00:00'),
           ('{}', false, '2099-01-31 12:00:00.750')"#,
        "1".repeat(64),
        "2".repeat(64),
        "3".repeat(64),
        "4".repeat(64)
    ));
    let refs: Vec<&str> = statements.iter().map(String::as_str).collect();
    sql(&pg.url(), &refs).await;

    let (code, _, err) = run(&pg.url(), &out, &["--schema", "litellm", "once"]);
    assert_eq!(code, 0, "{err}");
    let expected = LITELLM_EXPECTED.replace(
        "auto-2f0e5d3f8a3b0b8e",
        &auto_id("path:/cohere|methods:POST"),
    );
    assert_eq!(read(&out).unwrap(), expected);
    // The Python adapter target is a skipped row, reported with its id, path and reason.
    assert!(
        err.contains("pass_through_endpoints[3] (id adapter, path /anthropic-adapter)")
            && err.contains("target"),
        "{err}"
    );
}

#[tokio::test]
async fn litellm_changes_reach_the_file_within_one_poll() {
    let pg = PgTestDatabase::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    let ddl = litellm_ddl();
    sql(
        &pg.url(),
        &ddl.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    let key = "a".repeat(64);
    sql(
        &pg.url(),
        &[&format!(
            r#"INSERT INTO "LiteLLM_VerificationToken" (token) VALUES ('{key}')"#
        )],
    )
    .await;
    let _d = daemon(
        &pg.url(),
        &out,
        dir.path(),
        &["--schema", "litellm", "--interval", "300ms"],
    );
    let one_poll = Duration::from_millis(1000);
    wait_for(Duration::from_secs(10), "the first write", || {
        read(&out).filter(|t| t.contains("routes: []"))
    })
    .await;
    // LiteLLM's write path: an upsert of the whole general_settings object.
    let upsert = |endpoints: &str| {
        format!(
            r#"INSERT INTO "LiteLLM_Config" (param_name, param_value)
               VALUES ('general_settings', '{{"pass_through_endpoints": {endpoints}}}'::jsonb)
               ON CONFLICT (param_name) DO UPDATE SET param_value = EXCLUDED.param_value"#
        )
    };
    sql(
        &pg.url(),
        &[&upsert(r#"[{"path": "/a", "target": "http://a"}]"#)],
    )
    .await;
    wait_for(one_poll, "the new endpoint and its key", || {
        read(&out).filter(|t| t.contains("/a") && t.contains(&key))
    })
    .await;
    sql(
        &pg.url(),
        &[&upsert(r#"[{"path": "/a", "target": "http://a2"}]"#)],
    )
    .await;
    wait_for(one_poll, "the edited endpoint", || {
        read(&out).filter(|t| t.contains("http://a2"))
    })
    .await;
    sql(
        &pg.url(),
        &[r#"UPDATE "LiteLLM_VerificationToken" SET blocked = true"#],
    )
    .await;
    wait_for(one_poll, "the blocked key gone", || {
        read(&out).filter(|t| !t.contains(&key))
    })
    .await;
    sql(&pg.url(), &[&upsert("[]")]).await;
    wait_for(one_poll, "the deleted endpoint", || {
        read(&out).filter(|t| t.contains("routes: []"))
    })
    .await;
}
