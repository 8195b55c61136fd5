//! `os.environ/` references in header values.

use passthru_tests::http::{get, Behaviour, Upstream};

use super::{serve, serve_with_env};

#[test]
fn environment_references_are_resolved_and_never_sent_literally() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve_with_env(
        &format!("- {{path: /e, target: '{}', auth: false, headers: {{authorization: 'Bearer os.environ/PASSTHRU_TEST_SECRET'}}}}\n", up.url()),
        &[("PASSTHRU_TEST_SECRET", "s3cret")],
    );
    get(proxy.addr, "/e");
    assert_eq!(up.last().header("authorization"), Some("Bearer s3cret"));
}

#[test]
fn a_route_whose_variable_is_missing_answers_503_while_others_serve() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(&format!(
        "- {{id: broken, path: /e, target: '{0}', auth: false, headers: {{authorization: 'Bearer os.environ/PASSTHRU_TEST_UNSET'}}}}\n- {{path: /ok, target: '{0}', auth: false}}\n",
        up.url()
    ));
    let resp = get(proxy.addr, "/e");
    assert_eq!(resp.status(), 503);
    assert!(
        resp.body_text().contains("PASSTHRU_TEST_UNSET"),
        "{}",
        resp.body_text()
    );
    assert_eq!(get(proxy.addr, "/ok").status(), 200);
    assert_eq!(up.count(), 1, "the broken route never forwards");
    assert!(proxy.log().contains("os.environ/PASSTHRU_TEST_UNSET"));
}

// sha256("sk-demo-key") and sha256("sk-expired-key").
