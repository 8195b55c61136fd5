//! The mode of the routes file as passthru writes it.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use passthru_tests::binary;
use passthru_tests::sync::sync_command;

/// The routes file carries header values and key hashes: the sync daemon and `fmt` write it
/// with mode 0640, whatever the umask.
#[test]
fn the_routes_file_is_written_with_mode_0640_by_sync_and_by_fmt() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sync.db");
    let out = dir.path().join("routes.yaml");
    let db_arg = db.to_str().unwrap();
    let (code, err) = sync_command(&[
        "--sqlite-path",
        db_arg,
        "routes",
        "add",
        "--path",
        "/a",
        "--target",
        "http://h",
        "--auth",
        "false",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, err) = sync_command(&[
        "--sqlite-path",
        db_arg,
        "once",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640, "passthru-sync wrote mode {mode:o}");

    let hand = dir.path().join("hand.yaml");
    std::fs::write(
        &hand,
        "version: 1\nroutes:\n- {path: /b, target: 'http://h', auth: false}\n",
    )
    .unwrap();
    std::fs::set_permissions(&hand, std::fs::Permissions::from_mode(0o666)).unwrap();
    let status = Command::new(binary("passthru-proxy"))
        .arg("fmt")
        .arg(&hand)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let mode = std::fs::metadata(&hand).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640, "passthru-proxy fmt wrote mode {mode:o}");
}
