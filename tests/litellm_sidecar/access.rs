//! Keys LiteLLM accepts pass, keys it refuses get its status, and a team's allow-list change
//! arrives within one poll.

use std::time::Instant;

use passthru_tests::wait::wait_until;

use super::{sidecar, MASTER_KEY, WAIT};

#[test]
fn keys_litellm_accepts_are_forwarded_by_the_sidecar() {
    let s = sidecar("200ms", "");
    for (what, path, key) in [
        (
            "a key with its own allow list",
            "/acme/v1/chat",
            "sk-allowed-0001",
        ),
        ("a key its team allows", "/acme/v1/chat", "sk-team-0002"),
        (
            "a key allowed below its deny entry",
            "/acme/v1/chat",
            "sk-denied-0003",
        ),
        ("a proxy_admin user's key", "/other/x", "sk-admin-0004"),
        (
            "the master key (--litellm-master-key-file)",
            "/other/x",
            MASTER_KEY,
        ),
        (
            "a rotated key in its grace period",
            "/acme/v1/chat",
            "sk-rotated-0008",
        ),
    ] {
        let before = s.up.count();
        assert_eq!(s.status(path, key), 200, "{what}");
        assert_eq!(s.up.count(), before + 1, "{what} reaches the upstream");
        assert_eq!(s.up.last().target(), path, "{what}");
    }
}

#[test]
fn keys_litellm_refuses_are_refused_by_the_sidecar_with_litellm_s_status() {
    let s = sidecar("200ms", "");
    for (what, path, key, status) in [
        ("a key's deny entry", "/acme/admin", "sk-denied-0003", 403),
        (
            "a route the key's list does not name",
            "/other/x",
            "sk-allowed-0001",
            403,
        ),
        (
            "a route its team's list does not name",
            "/other/x",
            "sk-team-0002",
            403,
        ),
        ("a blocked key", "/acme/v1/chat", "sk-blocked-0005", 401),
        (
            "a key of a blocked team",
            "/acme/v1/chat",
            "sk-blocked-team-0006",
            401,
        ),
        ("an expired key", "/acme/v1/chat", "sk-expired-0007", 401),
        (
            "a rotated key past revoke_at",
            "/acme/v1/chat",
            "sk-revoked-0009",
            401,
        ),
        ("an unknown key", "/acme/v1/chat", "sk-unknown-0010", 401),
    ] {
        assert_eq!(s.status(path, key), status, "{what}");
    }
    assert_eq!(s.up.count(), 0, "no refused request reaches the upstream");
}

#[test]
fn a_team_allow_list_change_reaches_the_proxy_within_one_poll_without_a_restart() {
    let mut s = sidecar("300ms", "");
    assert_eq!(s.status("/other/x", "sk-team-0002"), 403);
    let (pid, generation) = (s.proxy.pid(), s.proxy.generation());
    let log_before = s.sync.log().len();

    let updated = Instant::now();
    s.sql(
        r#"UPDATE "LiteLLM_TeamTable"
           SET metadata = '{"allowed_passthrough_routes": ["/acme", "/other"]}'::jsonb,
               updated_at = now() AT TIME ZONE 'UTC'
           WHERE team_id = 'team-acme'"#,
    );
    wait_until(WAIT, "the team's new grant to be served", || {
        s.status("/other/x", "sk-team-0002") == 200
    });
    let took = updated.elapsed();

    assert!(s.proxy.is_running() && s.sync.is_running());
    assert_eq!(s.proxy.pid(), pid, "no restart");
    // The generation gauge is set just after the new table starts serving.
    wait_until(WAIT, "a new table's generation", || {
        s.proxy.generation() > generation
    });
    // Within one poll: at most the pass already under way when the UPDATE committed read the
    // old rows; the next one wrote the file. The daemon logs the write after the rename the
    // proxy may already have served from, so wait for the line.
    wait_until(WAIT, "the sync daemon to log the write", || {
        s.sync.log()[log_before..].contains("wrote routes file")
    });
    let log = s.sync.log();
    let since = &log[log_before..];
    let written = since.find("wrote routes file").unwrap();
    let unchanged = since[..written].matches("poll: table unchanged").count();
    assert!(
        unchanged <= 1,
        "{unchanged} polls read the old rows after the UPDATE ({took:?}):\n{since}"
    );
}
