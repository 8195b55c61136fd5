//! Issue 13's acceptance suite: behaviours taken from LiteLLM's own pass-through unit tests, each
//! case naming its source test, run against the real sidecar: PostgreSQL holding LiteLLM 1.110.2's
//! tables (`examples/litellm/litellm-tables.sql`) with every case's endpoint in one
//! `general_settings.pass_through_endpoints`, a LiteLLM `config.yaml` beside it
//! (`--litellm-config`), passthru-sync writing the routes file and passthru-proxy serving it (once
//! plainly, once under `--root-path`). A case where passthru deliberately answers otherwise than
//! LiteLLM pins passthru's answer and says why (`differs`); the README's side-by-side table in
//! "Migrating from LiteLLM pass-through endpoints" names these cases.

use std::collections::BTreeSet;
use std::time::Duration;

use passthru_tests::http::{request, Behaviour, Message, Upstream};
use passthru_tests::postgres::PgCluster;
use passthru_tests::process::Daemon;
use passthru_tests::proxy::Proxy;
use passthru_tests::sync::{litellm_once, litellm_postgres, start_litellm_sync};

const WAIT: Duration = Duration::from_secs(20);
const DB: &str = "litellm";
const MASTER_KEY: &str = "sk-master-behave-1234";
/// The client's LiteLLM key, where LiteLLM reads it first.
const K: (&str, &str) = ("x-litellm-api-key", MASTER_KEY);
/// `Basic base64("sk-master-behave-1234:anything")`: the langfuse SDK's credentials.
const LANGFUSE_CLIENT: &str = "Basic c2stbWFzdGVyLWJlaGF2ZS0xMjM0OmFueXRoaW5n";
/// `Basic base64("pk-lf-behave:sk-lf-behave")`: the endpoint's langfuse key pair.
const LANGFUSE_UPSTREAM: &str = "Basic cGstbGYtYmVoYXZlOnNrLWxmLWJlaGF2ZQ==";
/// `general_settings.pass_through_request_timeout` in the LiteLLM config file, seconds.
const CONFIG_TIMEOUT: &str = "1";
/// How long the slow upstream waits before answering: over the config file's timeout, under the
/// row's own.
const SLOW: Duration = Duration::from_millis(2000);

/// Which proxy a case's request goes to.
#[derive(Clone, Copy, PartialEq)]
enum Via {
    Proxy,
    /// The same routes file served with `--root-path /llmproxy` (LiteLLM's `SERVER_ROOT_PATH`).
    RootPath,
}

/// What the case expects.
#[derive(Clone, Copy)]
enum Expect {
    /// The upstream receives the request (same method) at this target, with these headers
    /// (`None`: absent), and the client gets its 200.
    Upstream {
        target: &'static str,
        headers: &'static [(&'static str, Option<&'static str>)],
    },
    /// The proxy answers itself with this status; nothing reaches the upstream.
    Status(u16),
    /// The client gets this status and these response headers (`None`: absent); `forwarded` says
    /// whether the request reached the (echo) upstream.
    Reply {
        status: u16,
        forwarded: bool,
        headers: &'static [(&'static str, Option<&'static str>)],
    },
}

#[derive(Clone, Copy)]
struct Case {
    /// The LiteLLM unit test the behaviour comes from: `file.py::test_name`.
    source: &'static str,
    /// The endpoint as LiteLLM stores it (fields left out take `PassThroughGenericEndpoint`'s
    /// defaults); `{up}` is the echo upstream, `{slow}` the slow one.
    row: &'static str,
    method: &'static str,
    /// Request target: path and query.
    target: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
    via: Via,
    expect: Expect,
    /// Where passthru deliberately answers otherwise than LiteLLM: what LiteLLM does, and why.
    differs: Option<&'static str>,
}

const CASE: Case = Case {
    source: "",
    row: "",
    method: "GET",
    target: "",
    headers: &[K],
    body: "",
    via: Via::Proxy,
    expect: Expect::Status(0),
    differs: None,
};

const JOIN: &str =
    r#"{"id": "join", "path": "/join", "target": "{up}/t/join", "include_subpath": true}"#;
const JOIN_SLASH: &str = r#"{"id": "join-slash", "path": "/join-slash", "target": "{up}/t/join-slash/", "include_subpath": true}"#;
const EXACT: &str =
    r#"{"id": "exact", "path": "/exact", "target": "{up}/t/exact", "include_subpath": false}"#;
const FIVE: &str = r#"{"id": "five", "path": "/five", "target": "{up}/t/five", "include_subpath": true, "methods": null}"#;
const POST_ONLY: &str = r#"{"id": "post-only", "path": "/post-only", "target": "{up}/t/post-only", "methods": ["POST"]}"#;
const KB_GET: &str = r#"{"id": "get-azure-kb", "path": "/azure/kb", "target": "{up}/t/read-api/kb", "methods": ["GET"], "headers": {"Authorization": "Bearer token1"}}"#;
const KB_POST: &str = r#"{"id": "post-azure-kb", "path": "/azure/kb", "target": "{up}/t/write-api/kb", "methods": ["POST"], "headers": {"Authorization": "Bearer token2"}}"#;
const AZURE: &str = r#"{"id": "azure-assistant", "path": "/azure-assistant", "target": "{up}/t/openai/assistants", "headers": {"Authorization": "Bearer azure_token"}}"#;
const DEFQ: &str = r#"{"id": "defq", "path": "/defq", "target": "{up}/t/api", "default_query_params": {"api-version": "2024-01-01", "setLang": "en-US"}}"#;
const MERGEQ: &str = r#"{"id": "mergeq", "path": "/mergeq", "target": "{up}/t/search?setLang=en-US&mkt=en-US", "merge_query_params": true}"#;
const NOMERGE: &str = r#"{"id": "nomerge", "path": "/nomerge", "target": "{up}/t/search?setLang=en-US", "merge_query_params": false}"#;
const ALT: &str = r#"{"id": "alt", "path": "/alt", "target": "{up}/t/v1/models/gemini:streamGenerateContent?alt=sse"}"#;
const RERANK: &str = r#"{"id": "rerank", "path": "/v1/rerank", "target": "{up}/t/v1/rerank", "headers": {"Authorization": "bearer co-key", "content-type": "application/json", "accept": "application/json"}}"#;
const NO_HEADERS: &str = r#"{"path": "/test-endpoint", "target": "{up}/t/v1/chat/completions"}"#;
const FWD: &str =
    r#"{"id": "fwd", "path": "/fwd", "target": "{up}/t/fwd", "forward_headers": true}"#;
const FWD_CUSTOM: &str = r#"{"id": "fwd-custom", "path": "/fwd-custom", "target": "{up}/t/fwd-custom", "forward_headers": true, "headers": {"x-tenant": "configured"}}"#;
const PASS: &str =
    r#"{"id": "pass", "path": "/pass", "target": "{up}/t/pass", "forward_headers": false}"#;
const PASS_CUSTOM: &str = r#"{"id": "pass-custom", "path": "/pass-custom", "target": "{up}/t/pass-custom", "headers": {"custom-header": "configured"}}"#;
const LANGFUSE: &str = r#"{"id": "langfuse", "path": "/api/public/ingestion", "target": "{up}/t/api/public/ingestion", "custom_auth_parser": "langfuse", "headers": {"LANGFUSE_PUBLIC_KEY": "pk-lf-behave", "LANGFUSE_SECRET_KEY": "sk-lf-behave"}}"#;
const ROW_TIMEOUT: &str =
    r#"{"id": "slow-row", "path": "/slow-row", "target": "{slow}/t/slow-row", "timeout": 5}"#;
const CONFIG_TIMEOUT_ROW: &str = r#"{"id": "slow-config", "path": "/slow-config", "target": "{slow}/t/slow-config", "timeout": null}"#;
const SHORT_ROW_TIMEOUT: &str = r#"{"id": "slow-short", "path": "/slow-short", "target": "{slow}/t/slow-short", "timeout": 0.2}"#;

const PREFLIGHT: &[(&str, &str)] = &[
    ("origin", "https://app.example"),
    ("access-control-request-method", "POST"),
    (
        "access-control-request-headers",
        "content-type, x-litellm-api-key",
    ),
];

const CASES: &[Case] = &[
    // URL joining and the subpath edges.
    Case {
        source: "test_pass_through_endpoints.py::test_construct_target_url_with_subpath",
        row: JOIN,
        method: "POST",
        target: "/join/api/v1",
        body: "{}",
        expect: Expect::Upstream { target: "/t/join/api/v1", headers: &[] },
        ..CASE
    },
    Case {
        source: "test_pass_through_endpoints.py::test_construct_target_url_with_subpath",
        row: JOIN_SLASH,
        target: "/join-slash/api/v1",
        expect: Expect::Upstream { target: "/t/join-slash/api/v1", headers: &[] },
        ..CASE
    },
    Case {
        source: "test_pass_through_endpoints.py::test_construct_target_url_with_subpath",
        row: JOIN,
        target: "/join",
        expect: Expect::Upstream { target: "/t/join", headers: &[] },
        ..CASE
    },
    Case {
        source: "test_pass_through_endpoints.py::test_construct_target_url_with_subpath",
        row: JOIN,
        target: "/join/",
        expect: Expect::Upstream { target: "/t/join/", headers: &[] },
        differs: Some(
            "LiteLLM drops the slash of an empty subpath (/t/join) but keeps it after a non-empty \
             one (/t/join/a/); passthru keeps a client's trailing slash in both, since upstreams \
             may treat /p and /p/ differently (forward::upstream_path's unit test pins it)",
        ),
        ..CASE
    },
    Case {
        source: "test_pass_through_endpoints.py::test_construct_target_url_with_subpath",
        row: JOIN,
        target: "/join/a/",
        expect: Expect::Upstream { target: "/t/join/a/", headers: &[] },
        ..CASE
    },
    Case {
        source: "test_pass_through_endpoints.py::test_construct_target_url_with_subpath",
        row: JOIN,
        target: "/join/a//b",
        expect: Expect::Upstream { target: "/t/join/a/b", headers: &[] },
        ..CASE
    },
    Case {
        source: "test_pass_through_endpoints.py::test_pass_through_request_query_params_forwarding",
        row: JOIN,
        target: "/join/a?x=1&x=2",
        expect: Expect::Upstream {
            target: "/t/join/a?x=1&x=2",
            headers: &[],
        },
        differs: Some(
            "LiteLLM reads the client's query into a dict, so a repeated key arrives once with its \
             last value (?x=2); passthru passes the client's query as sent",
        ),
        ..CASE
    },
    Case {
        source: "test_pass_through_endpoints.py::test_construct_target_url_with_subpath",
        row: JOIN,
        target: "/join/a%2Fb",
        expect: Expect::Status(400),
        differs: Some(
            "LiteLLM decodes %2F and forwards /t/join/a/b; passthru refuses an encoded slash (400) \
             so that the proxy and the upstream never see different paths",
        ),
        ..CASE
    },
    Case {
        source: "test_pass_through_endpoints.py::test_initialize_pass_through_endpoints_without_include_subpath",
        row: EXACT,
        target: "/exact",
        expect: Expect::Upstream { target: "/t/exact", headers: &[] },
        ..CASE
    },
    Case {
        source: "test_pass_through_endpoints.py::test_db_registered_pass_through_route_bare_path_convention",
        row: EXACT,
        target: "/exact/extra",
        expect: Expect::Status(404),
        ..CASE
    },
    Case {
        source: "test_pass_through_endpoints.py::test_initialize_pass_through_endpoints_with_include_subpath",
        row: FIVE,
        method: "POST",
        target: "/five/v1/chat/completions",
        body: "{}",
        expect: Expect::Upstream { target: "/t/five/v1/chat/completions", headers: &[] },
        ..CASE
    },
    Case {
        source: "test_pass_through_endpoints.py::test_add_subpath_route",
        row: JOIN,
        target: "/joinx/a",
        expect: Expect::Status(404),
        ..CASE
    },
    // Query strings.
    Case {
        source: "test_pass_through_endpoints.py::test_pass_through_request_query_params_forwarding",
        row: AZURE,
        method: "POST",
        target: "/azure-assistant?api-version=2025-01-01-preview",
        body: r#"{"name": "Azure Assistant", "model": "gpt-4o"}"#,
        expect: Expect::Upstream {
            target: "/t/openai/assistants?api-version=2025-01-01-preview",
            headers: &[("authorization", Some("Bearer azure_token"))],
        },
        ..CASE
    },
    Case {
        source: "test_pass_through_endpoints.py::test_pass_through_request_default_query_params_reach_the_wire",
        row: DEFQ,
        target: "/defq?limit=5&api-version=client-version",
        expect: Expect::Upstream {
            target: "/t/api?setLang=en-US&limit=5&api-version=client-version",
            headers: &[],
        },
        ..CASE
    },
    Case {
        source: "test_pass_through_endpoints.py::test_pass_through_request_merge_query_params_preserves_target_query_on_wire",
        row: MERGEQ,
        target: "/mergeq?q=litellm",
        expect: Expect::Upstream { target: "/t/search?setLang=en-US&mkt=en-US&q=litellm", headers: &[] },
        ..CASE
    },
    Case {
        source: "test_pass_through_endpoints.py::test_pass_through_request_preserves_target_query_without_client_query",
        row: ALT,
        target: "/alt",
        expect: Expect::Upstream { target: "/t/v1/models/gemini:streamGenerateContent?alt=sse", headers: &[] },
        ..CASE
    },
    Case {
        source: "test_pass_through_endpoints.py::test_pass_through_request_without_merge_replaces_target_query",
        row: NOMERGE,
        target: "/nomerge?q=litellm",
        expect: Expect::Upstream { target: "/t/search?setLang=en-US&q=litellm", headers: &[] },
        differs: Some(
            "LiteLLM with merge_query_params false sends only the client's query (?q=litellm) when \
             the client sends one, and the target's when it sends none; passthru always merges \
             (defaults < target < client), so the target's query never depends on the client's",
        ),
        ..CASE
    },
    // Methods.
    Case {
        source: "test_pass_through_endpoints.py::test_add_exact_path_route",
        row: FIVE,
        target: "/five",
        expect: Expect::Upstream { target: "/t/five", headers: &[] },
        ..CASE
    },
    Case {
        source: "test_pass_through_endpoints.py::test_add_exact_path_route",
        row: FIVE,
        method: "POST",
        target: "/five",
        body: "{}",
        expect: Expect::Upstream { target: "/t/five", headers: &[] },
        ..CASE
    },
    Case {
        source: "test_pass_through_endpoints.py::test_add_exact_path_route",
        row: FIVE,
        method: "PUT",
        target: "/five",
        body: "{}",
        expect: Expect::Upstream { target: "/t/five", headers: &[] },
        ..CASE
    },
    Case {
        source: "test_pass_through_endpoints.py::test_add_exact_path_route",
        row: FIVE,
        method: "DELETE",
        target: "/five",
        expect: Expect::Upstream { target: "/t/five", headers: &[] },
        ..CASE
    },
    Case {
        source: "test_pass_through_endpoints.py::test_add_subpath_route",
        row: FIVE,
        method: "PATCH",
        target: "/five/items/7",
        body: "{}",
        expect: Expect::Upstream { target: "/t/five/items/7", headers: &[] },
        ..CASE
    },
    Case {
        source: "test_pass_through_endpoints.py::test_add_exact_path_route",
        row: FIVE,
        method: "TRACE",
        target: "/five",
        expect: Expect::Status(405),
        ..CASE
    },
    Case {
        source: "test_pass_through_endpoints.py::test_pass_through_handler_rejects_unregistered_method",
        row: POST_ONLY,
        target: "/post-only",
        expect: Expect::Status(405),
        ..CASE
    },
    Case {
        source: "test_method_specific_routing.py::test_pass_through_endpoint_with_methods",
        row: KB_GET,
        target: "/azure/kb",
        expect: Expect::Upstream {
            target: "/t/read-api/kb",
            headers: &[("authorization", Some("Bearer token1"))],
        },
        ..CASE
    },
    Case {
        source: "test_method_specific_routing.py::test_pass_through_endpoint_with_methods",
        row: KB_POST,
        method: "POST",
        target: "/azure/kb",
        body: "{}",
        expect: Expect::Upstream {
            target: "/t/write-api/kb",
            headers: &[("authorization", Some("Bearer token2"))],
        },
        ..CASE
    },
    // Headers: configured, forwarded, x-pass-.
    Case {
        source: "local_testing/test_pass_through_endpoints.py::test_pass_through_endpoint_rerank",
        row: RERANK,
        method: "POST",
        target: "/v1/rerank",
        headers: &[K, ("content-type", "text/plain"), ("x-client", "1")],
        body: r#"{"model": "rerank-english-v3.0"}"#,
        expect: Expect::Upstream {
            target: "/t/v1/rerank",
            headers: &[
                ("authorization", Some("bearer co-key")),
                ("content-type", Some("application/json")),
                ("accept", Some("application/json")),
                ("x-client", None),
                ("x-litellm-api-key", None),
            ],
        },
        ..CASE
    },
    Case {
        source: "local_testing/test_pass_through_endpoints.py::test_pass_through_endpoint_no_headers",
        row: NO_HEADERS,
        method: "POST",
        target: "/test-endpoint",
        body: r#"{"prompt": "Hello, world!"}"#,
        expect: Expect::Upstream {
            target: "/t/v1/chat/completions",
            headers: &[("x-litellm-api-key", None), ("authorization", None)],
        },
        ..CASE
    },
    Case {
        source: "test_passthrough_endpoints_common_utils.py::test_forward_headers_strips_litellm_api_key",
        row: FWD,
        method: "POST",
        target: "/fwd",
        headers: &[K, ("content-type", "application/json"), ("x-api-key", "sk-ant-api-key")],
        body: "{}",
        expect: Expect::Upstream {
            target: "/t/fwd",
            headers: &[
                ("x-litellm-api-key", None),
                ("content-type", Some("application/json")),
                ("x-api-key", Some("sk-ant-api-key")),
            ],
        },
        ..CASE
    },
    Case {
        source: "test_passthrough_endpoints_common_utils.py::test_forward_headers_strips_host_and_content_length",
        row: FWD,
        method: "POST",
        target: "/fwd",
        headers: &[K, ("content-type", "application/json")],
        body: "{}",
        expect: Expect::Upstream {
            // The target's authority; the client's `host: passthru.test` is not forwarded.
            target: "/t/fwd",
            headers: &[("host", Some("{up-authority}")), ("content-length", Some("2"))],
        },
        differs: Some(
            "LiteLLM drops the client's content-length and lets httpx set the length of the JSON \
             it re-encodes from the parsed body; passthru streams the client's bytes untouched \
             with their own length (host is the target's in both)",
        ),
        ..CASE
    },
    Case {
        source: "test_passthrough_utils.py::test_client_accept_encoding_is_not_forwarded_upstream",
        row: FWD,
        target: "/fwd",
        headers: &[K, ("accept-encoding", "br"), ("anthropic-version", "2023-06-01")],
        expect: Expect::Upstream {
            target: "/t/fwd",
            headers: &[("accept-encoding", Some("br")), ("anthropic-version", Some("2023-06-01"))],
        },
        differs: Some(
            "LiteLLM drops the client's accept-encoding because httpx decodes the upstream's body; \
             passthru relays the bytes and content-encoding untouched, so the client negotiates \
             the encoding it can read",
        ),
        ..CASE
    },
    Case {
        source: "test_passthrough_utils.py::test_client_accept_encoding_is_not_forwarded_via_x_pass_prefix",
        row: PASS,
        target: "/pass",
        headers: &[K, ("x-pass-accept-encoding", "br")],
        expect: Expect::Upstream {
            target: "/t/pass",
            headers: &[("accept-encoding", None), ("x-pass-accept-encoding", None)],
        },
        ..CASE
    },
    Case {
        source: "test_vertex_passthrough_load_balancing.py::test_forward_headers_from_request_x_pass_prefix",
        row: PASS,
        method: "POST",
        target: "/pass",
        headers: &[
            K,
            ("x-pass-anthropic-beta", "context-1m-2025-08-07"),
            ("x-pass-custom-header", "custom-value"),
            ("x-other", "not-forwarded"),
        ],
        body: "{}",
        expect: Expect::Upstream {
            target: "/t/pass",
            headers: &[
                ("anthropic-beta", Some("context-1m-2025-08-07")),
                ("custom-header", Some("custom-value")),
                ("x-pass-anthropic-beta", None),
                ("x-other", None),
                ("x-litellm-api-key", None),
            ],
        },
        ..CASE
    },
    Case {
        source: "test_vertex_passthrough_load_balancing.py::test_forward_headers_from_request_x_pass_prefix",
        row: PASS,
        target: "/pass",
        headers: &[K, ("x-pass-authorization", "Bearer evil"), ("x-pass-x-api-key", "evil")],
        expect: Expect::Upstream {
            target: "/t/pass",
            headers: &[("authorization", None), ("x-api-key", None)],
        },
        ..CASE
    },
    Case {
        source: "test_vertex_passthrough_load_balancing.py::test_forward_headers_from_request_x_pass_prefix",
        row: PASS_CUSTOM,
        target: "/pass-custom",
        headers: &[K, ("x-pass-custom-header", "from-client")],
        expect: Expect::Upstream {
            target: "/t/pass-custom",
            headers: &[("custom-header", Some("configured"))],
        },
        differs: Some(
            "in LiteLLM a client's x-pass- header overrides the endpoint's configured header of \
             that name; in passthru configured headers always win, so a client cannot replace the \
             credentials or tenant an operator configured",
        ),
        ..CASE
    },
    Case {
        source: "test_passthrough_endpoints_common_utils.py::test_forward_headers_strips_litellm_api_key",
        row: FWD_CUSTOM,
        target: "/fwd-custom",
        headers: &[K, ("x-tenant", "from-client"), ("x-client", "kept")],
        expect: Expect::Upstream {
            target: "/t/fwd-custom",
            headers: &[("x-tenant", Some("configured")), ("x-client", Some("kept"))],
        },
        ..CASE
    },
    // Langfuse: the key in Basic credentials, the endpoint's key pair sent as Basic.
    Case {
        source: "local_testing/test_pass_through_endpoints.py::test_aaapass_through_endpoint_pass_through_keys_langfuse",
        row: LANGFUSE,
        method: "POST",
        target: "/api/public/ingestion",
        headers: &[("authorization", LANGFUSE_CLIENT), ("content-type", "application/json")],
        body: r#"{"batch": [], "metadata": {"public_key": "anything"}}"#,
        expect: Expect::Upstream {
            target: "/t/api/public/ingestion",
            headers: &[
                ("authorization", Some(LANGFUSE_UPSTREAM)),
                ("langfuse_public_key", None),
                ("langfuse_secret_key", None),
            ],
        },
        ..CASE
    },
    Case {
        source: "local_testing/test_pass_through_endpoints.py::test_aaapass_through_endpoint_pass_through_keys_langfuse",
        row: LANGFUSE,
        method: "POST",
        target: "/api/public/ingestion",
        headers: &[("authorization", "Basic c2stdW5rbm93bi0wMDAwOmFueXRoaW5n")],
        body: "{}",
        expect: Expect::Status(401),
        ..CASE
    },
    // CORS: LiteLLM's CORSMiddleware (origins *, methods *, headers *, no credentials with *).
    Case {
        source: "test_cors_config.py::test_cors_wildcard_disables_credentials",
        row: JOIN,
        method: "OPTIONS",
        target: "/join/v1/chat",
        headers: PREFLIGHT,
        expect: Expect::Reply {
            status: 200,
            forwarded: false,
            headers: &[
                ("access-control-allow-origin", Some("*")),
                ("access-control-allow-credentials", None),
            ],
        },
        ..CASE
    },
    Case {
        source: "test_cors_config.py::test_cors_wildcard_disables_credentials",
        row: JOIN,
        method: "POST",
        target: "/join/v1/chat",
        headers: &[K, ("origin", "https://app.example")],
        body: "{}",
        expect: Expect::Reply {
            status: 200,
            forwarded: true,
            headers: &[
                ("access-control-allow-origin", Some("*")),
                ("access-control-allow-credentials", None),
            ],
        },
        ..CASE
    },
    Case {
        source: "test_cors_config.py::test_cors_wildcard_disables_credentials",
        row: JOIN,
        method: "POST",
        target: "/join/v1/chat",
        headers: &[("x-litellm-api-key", "sk-unknown-0000"), ("origin", "https://app.example")],
        body: "{}",
        expect: Expect::Reply {
            status: 401,
            forwarded: false,
            headers: &[("access-control-allow-origin", Some("*"))],
        },
        ..CASE
    },
    // --root-path (LiteLLM's SERVER_ROOT_PATH).
    Case {
        source: "test_pass_through_endpoints.py::test_db_registered_pass_through_route_bare_path_convention",
        row: JOIN,
        target: "/llmproxy/join/api/v1/time-series-forecast/predict",
        via: Via::RootPath,
        expect: Expect::Upstream { target: "/t/join/api/v1/time-series-forecast/predict", headers: &[] },
        ..CASE
    },
    Case {
        source: "test_pass_through_endpoints.py::test_db_registered_pass_through_route_bare_path_convention",
        row: EXACT,
        target: "/llmproxy/exact",
        via: Via::RootPath,
        expect: Expect::Upstream { target: "/t/exact", headers: &[] },
        ..CASE
    },
    Case {
        source: "test_pass_through_endpoints.py::test_get_registered_pass_through_route_with_custom_root",
        row: EXACT,
        target: "/exact",
        via: Via::RootPath,
        expect: Expect::Status(404),
        differs: Some(
            "LiteLLM behind SERVER_ROOT_PATH also matches the bare path; passthru with --root-path \
             serves only the prefixed path, so one route is never reachable at two addresses",
        ),
        ..CASE
    },
    // Timeouts: the row's, else the config file's pass_through_request_timeout, else 600 s.
    Case {
        source: "test_pass_through_endpoints.py::test_resolve_pass_through_request_timeout_precedence",
        row: ROW_TIMEOUT,
        target: "/slow-row",
        expect: Expect::Reply { status: 200, forwarded: false, headers: &[] },
        ..CASE
    },
    Case {
        source: "test_pass_through_endpoints.py::test_resolve_pass_through_request_timeout_precedence",
        row: CONFIG_TIMEOUT_ROW,
        target: "/slow-config",
        expect: Expect::Reply { status: 504, forwarded: false, headers: &[] },
        ..CASE
    },
    Case {
        source: "test_pass_through_endpoints.py::test_create_pass_through_route_forwards_timeout",
        row: SHORT_ROW_TIMEOUT,
        target: "/slow-short",
        expect: Expect::Reply { status: 504, forwarded: false, headers: &[] },
        ..CASE
    },
];

/// A row with the fields LiteLLM's `PassThroughGenericEndpoint` fills in when they are left out.
fn stored(row: &str, up: &Upstream, slow: &Upstream) -> serde_json::Value {
    let text = row
        .replace("{up}", &up.url())
        .replace("{slow}", &slow.url());
    let mut value: serde_json::Value = serde_json::from_str(&text).expect(row);
    let map = value.as_object_mut().unwrap();
    for (field, default) in [
        ("headers", serde_json::json!({})),
        ("default_query_params", serde_json::json!({})),
        ("include_subpath", serde_json::json!(false)),
        ("cost_per_request", serde_json::json!(0.0)),
        ("timeout", serde_json::Value::Null),
        ("auth", serde_json::json!(true)),
        ("guardrails", serde_json::Value::Null),
        ("methods", serde_json::Value::Null),
    ] {
        map.entry(field).or_insert(default);
    }
    value
}

struct Sidecar {
    _pg: PgCluster,
    url: String,
    up: Upstream,
    slow: Upstream,
    proxy: Proxy,
    rooted: Proxy,
    _sync: Daemon,
    dir: tempfile::TempDir,
}

/// One PostgreSQL with LiteLLM's tables and every case's endpoint, a LiteLLM config file with
/// `pass_through_request_timeout`, the sync daemon, and the two proxies.
fn sidecar() -> Sidecar {
    let up = Upstream::start(Behaviour::Echo);
    let slow = Upstream::start(Behaviour::Slow(SLOW));
    let rows: BTreeSet<&str> = CASES.iter().map(|c| c.row).collect();
    let endpoints: Vec<serde_json::Value> = rows.iter().map(|r| stored(r, &up, &slow)).collect();
    let settings = serde_json::json!({
        "store_model_in_db": true,
        "pass_through_endpoints": endpoints,
    });

    let (pg, url) = litellm_postgres(DB);
    pg.psql(
        DB,
        &format!(
            r#"INSERT INTO "LiteLLM_Config" (param_name, param_value) VALUES ('general_settings', '{}'::jsonb);"#,
            settings.to_string().replace('\'', "''")
        ),
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("routes.yaml");
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!("general_settings:\n  pass_through_request_timeout: {CONFIG_TIMEOUT}\n"),
    )
    .unwrap();
    let sync = start_litellm_sync(
        &file,
        &url,
        "1s",
        MASTER_KEY,
        &["--litellm-config", config.to_str().unwrap()],
        WAIT,
    );
    let proxy = Proxy::start(&file, &[]);
    let rooted = Proxy::start(&file, &["--root-path", "/llmproxy"]);
    Sidecar {
        _pg: pg,
        url,
        up,
        slow,
        proxy,
        rooted,
        _sync: sync,
        dir,
    }
}

fn label(case: &Case) -> String {
    format!(
        "{} ({} {}){}",
        case.source,
        case.method,
        case.target,
        case.differs
            .map(|why| format!(" [deliberately different: {why}]"))
            .unwrap_or_default()
    )
}

fn check_headers(
    what: &str,
    message: &Message,
    expected: &[(&str, Option<&str>)],
    up: &Upstream,
) -> Vec<String> {
    let authority = up.addr.to_string();
    let mut failures = Vec::new();
    for (name, want) in expected {
        let want = want.map(|w| w.replace("{up-authority}", &authority));
        let got = message.header(name).map(str::to_owned);
        if got != want {
            failures.push(format!("{what} header {name}: {got:?}, expected {want:?}"));
        }
    }
    failures
}

/// Runs one case; returns what went wrong.
fn run(s: &Sidecar, case: &Case) -> Vec<String> {
    let addr = match case.via {
        Via::Proxy => s.proxy.addr,
        Via::RootPath => s.rooted.addr,
    };
    let (up_before, slow_before) = (s.up.count(), s.slow.count());
    let resp = request(
        addr,
        case.method,
        case.target,
        case.headers,
        case.body.as_bytes(),
    );
    let mut failures = Vec::new();
    match case.expect {
        Expect::Upstream { target, headers } => {
            if resp.status() != 200 || s.up.count() != up_before + 1 {
                failures.push(format!(
                    "status {} (upstream reached {} times): {}",
                    resp.status(),
                    s.up.count() - up_before,
                    resp.body_text()
                ));
                return failures;
            }
            let got = s.up.last();
            if got.method() != case.method {
                failures.push(format!("upstream method {}", got.method()));
            }
            if got.target() != target {
                failures.push(format!(
                    "upstream target {:?}, expected {target:?}",
                    got.target()
                ));
            }
            if got.body != case.body.as_bytes() {
                failures.push(format!("upstream body {:?}", got.body_text()));
            }
            failures.extend(check_headers("upstream", &got, headers, &s.up));
        }
        Expect::Status(status) => {
            if resp.status() != status {
                failures.push(format!(
                    "status {}, expected {status}: {}",
                    resp.status(),
                    resp.body_text()
                ));
            }
            if s.up.count() != up_before || s.slow.count() != slow_before {
                failures.push("the request reached an upstream".to_owned());
            }
        }
        Expect::Reply {
            status,
            forwarded,
            headers,
        } => {
            if resp.status() != status {
                failures.push(format!(
                    "status {}, expected {status}: {}",
                    resp.status(),
                    resp.body_text()
                ));
            }
            if (s.up.count() > up_before) != forwarded {
                failures.push(format!(
                    "reached the echo upstream: {}",
                    s.up.count() > up_before
                ));
            }
            failures.extend(check_headers("response", &resp, headers, &s.up));
        }
    }
    failures
}

#[test]
fn litellm_s_pass_through_unit_tests_hold_on_the_sidecar() {
    let s = sidecar();
    let failures: Vec<String> = CASES
        .iter()
        .flat_map(|case| {
            run(&s, case)
                .into_iter()
                .map(move |f| format!("{}: {f}", label(case)))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
    assert!(CASES.len() >= 30);

    // test_pass_through_endpoints.py::test_resolve_pass_through_request_timeout_precedence, the
    // last branch: neither the row's timeout nor pass_through_request_timeout → 600 s. The same
    // rows read without the config file.
    let out = s.dir.path().join("without-config.yaml");
    let (code, log) = litellm_once(&s.url, &out);
    assert_eq!(code, 0, "{log}");
    let text = std::fs::read_to_string(&out).unwrap();
    for (id, timeout) in [
        ("slow-config", "600"),
        ("slow-row", "5"),
        ("slow-short", "0.2"),
    ] {
        assert!(
            route_block(&text, id).contains(&format!("\n  timeout: {timeout}\n")),
            "route {id} without the config file: expected timeout {timeout}:\n{text}"
        );
    }
    // With the config file, the daemon's table gives the endpoint without a timeout the file's.
    let served = std::fs::read_to_string(s.dir.path().join("routes.yaml")).unwrap();
    assert!(
        route_block(&served, "slow-config").contains(&format!("\n  timeout: {CONFIG_TIMEOUT}\n")),
        "{served}"
    );
}

/// The lines of the routes file's route `id`, from its `- id:` line to the next item.
fn route_block<'a>(text: &'a str, id: &str) -> &'a str {
    let start = text
        .find(&format!("\n- id: {id}\n"))
        .unwrap_or_else(|| panic!("no route {id} in:\n{text}"));
    let rest = &text[start + 1..];
    let end = rest[1..].find("\n- ").map_or(rest.len(), |i| i + 2);
    &rest[..end]
}
