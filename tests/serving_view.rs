//! What a running proxy serves, seen from outside: `/routes` (the table, secrets masked), the
//! sha256 of the file bytes in `/readyz` and as `passthru_table_info`, and
//! `check --against` naming what a new file would change — before and after a reload.

use std::process::Command;
use std::time::Duration;

use passthru_tests::http::get;
use passthru_tests::proxy::Proxy;
use passthru_tests::sha256_hex;
use passthru_tests::wait::wait_until;
use passthru_tests::{binary, replace_by_rename};

const V1: &str = "version: 1
routes:
- {id: a, path: /a, target: 'http://127.0.0.1:9/a', headers: {authorization: Bearer sk-literal-secret, x-env: 'Bearer os.environ/PROVIDER_KEY'}, auth: false}
- {id: b, path: /b, target: 'http://127.0.0.1:9/b?api_key=qs-secret', auth: false}
";

const V2: &str = "version: 1
routes:
- {id: a, path: /a, target: 'http://127.0.0.1:9/a2', headers: {authorization: Bearer sk-literal-secret, x-env: 'Bearer os.environ/PROVIDER_KEY'}, auth: false}
- {id: c, path: /c, target: 'http://127.0.0.1:9/c', auth: false}
";

fn table_info(proxy: &Proxy) -> Vec<String> {
    get(proxy.admin, "/metrics")
        .body_text()
        .lines()
        .filter(|l| l.starts_with("passthru_table_info{"))
        .map(str::to_owned)
        .collect()
}

fn check_against(proxy: &Proxy, file: &std::path::Path) -> String {
    let out = Command::new(binary("passthru-proxy"))
        .args(["check", "--against", &format!("http://{}", proxy.admin)])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_served_table_its_hash_and_a_reloads_changes_are_visible_from_outside() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("routes.yaml");
    std::fs::write(&file, V1).unwrap();
    let proxy = Proxy::start(&file, &[]);
    let v1 = sha256_hex(V1);

    let routes = get(proxy.admin, "/routes");
    assert_eq!(routes.status(), 200);
    let text = routes.body_text();
    assert!(
        text.contains("authorization: '***'") || text.contains("authorization: \"***\""),
        "{text}"
    );
    assert!(text.contains("Bearer os.environ/PROVIDER_KEY"), "{text}");
    for secret in ["sk-literal-secret", "qs-secret"] {
        assert!(!text.contains(secret), "/routes shows {secret}: {text}");
    }
    assert_eq!(get(proxy.admin, "/readyz").json()["sha256"], v1.as_str());
    assert_eq!(
        table_info(&proxy),
        [format!("passthru_table_info{{sha256=\"{v1}\"}} 1")]
    );

    // The same file: nothing to change. A new one: its changes, by route id.
    assert!(check_against(&proxy, &file).contains("serves this file"));
    let next = dir.path().join("next.yaml");
    std::fs::write(&next, V2).unwrap();
    let report = check_against(&proxy, &next);
    assert!(
        report.contains(r#"add ["c"], remove ["b"], change ["a"]"#),
        "{report}"
    );

    replace_by_rename(&file, V2);
    let v2 = sha256_hex(V2);
    wait_until(Duration::from_secs(10), "the new table", || {
        get(proxy.admin, "/readyz").json()["sha256"] == v2.as_str()
    });
    // The info metric follows the swap.
    wait_until(
        Duration::from_secs(10),
        "the new table's info metric",
        || table_info(&proxy) == [format!("passthru_table_info{{sha256=\"{v2}\"}} 1")],
    );
    assert!(check_against(&proxy, &next).contains("serves this file"));
    assert!(get(proxy.admin, "/routes").body_text().contains("id: c"));
}
