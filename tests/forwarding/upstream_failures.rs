//! Slow, unreachable and unresolvable upstreams, and hostname targets.

use std::time::{Duration, Instant};

use passthru_tests::http::{get, Behaviour, Upstream};
use passthru_tests::wait::patient;

use super::serve;

#[test]
fn a_slow_upstream_answers_504_after_the_route_timeout() {
    let up = Upstream::start(Behaviour::Slow(Duration::from_secs(3)));
    let (proxy, _d) = serve(&format!(
        "- {{path: /slow, target: '{}', auth: false, timeout: 0.5}}\n",
        up.url()
    ));
    let started = Instant::now();
    let resp = get(proxy.addr, "/slow");
    assert_eq!(resp.status(), 504, "{}", resp.body_text());
    assert!(started.elapsed() < patient(Duration::from_secs(2)));
    assert_eq!(resp.header("content-type"), Some("application/json"));
}

#[test]
fn an_unreachable_upstream_answers_502() {
    let closed = passthru_tests::free_port();
    let (proxy, _d) = serve(&format!(
        "- {{path: /down, target: 'http://{closed}', auth: false}}\n"
    ));
    let resp = get(proxy.addr, "/down");
    assert_eq!(resp.status(), 502, "{}", resp.body_text());
    assert!(resp.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("cannot reach"));
}

#[test]
fn an_unresolvable_host_answers_502_and_the_proxy_keeps_serving() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(&format!(
        "- {{path: /nowhere, target: 'http://no-such-host.invalid', auth: false}}\n- {{path: /ok, target: '{}', auth: false}}\n",
        up.url()
    ));
    assert_eq!(get(proxy.addr, "/nowhere").status(), 502);
    assert_eq!(get(proxy.addr, "/ok").status(), 200);
}

#[test]
fn a_hostname_target_is_resolved() {
    let up = Upstream::start(Behaviour::Echo);
    let (proxy, _d) = serve(&format!(
        "- {{path: /l, target: 'http://localhost:{}', auth: false}}\n",
        up.addr.port()
    ));
    assert_eq!(get(proxy.addr, "/l").status(), 200);
    assert_eq!(
        up.last().header("host"),
        Some(format!("localhost:{}", up.addr.port()).as_str())
    );
}
