//! Paths that cannot be routed safely get 400 (DESIGN.md §4). The full split-view corpus against
//! exact, subpath and root routes is `hardening::split_view::the_split_view_corpus_…`.
use passthru_tests::http::{send_raw, Behaviour, Upstream};
use passthru_tests::proxy::Proxy;

#[test]
fn encoded_slashes_and_backslashes_are_refused_with_400() {
    let up = Upstream::start(Behaviour::Echo);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("routes.yaml");
    std::fs::write(&file, format!("version: 1\nroutes:\n- {{path: /, target: '{}', include_subpath: true, auth: false}}\n", up.url())).unwrap();
    let proxy = Proxy::start(&file, &[]);
    for raw in [
        "/a%2Fb",
        "/a%2fb",
        "/a%5Cb",
        "/a%00",
        "/..",
        "/a/../../b",
        "/%2e%2e/x",
        "/a%zz",
    ] {
        let resp = send_raw(
            proxy.addr,
            format!("GET {raw} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes(),
        );
        assert_eq!(resp.status(), 400, "{raw}");
    }
    assert_eq!(up.count(), 0);
}
