//! The SQL the sidecar sends to LiteLLM's database: the snapshot's reads and the two stages of
//! the change marker.

pub(super) const SETTINGS: &str =
    "SELECT param_value::text FROM \"LiteLLM_Config\" WHERE param_name = 'general_settings'";
/// `blocked` NULL counts as not blocked, as in LiteLLM. The session time zone is UTC, so this
/// works whether `expires` is `timestamp` (LiteLLM's Prisma schema, UTC) or `timestamptz`.
pub(super) const TOKENS: &str = "SELECT token, metadata::text AS metadata, team_id, user_id, \
     to_char(expires, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS expires, \
     array_to_json(allowed_routes)::text AS allowed_routes \
     FROM \"LiteLLM_VerificationToken\" \
     WHERE blocked IS NOT TRUE AND (expires IS NULL OR expires > now()) ORDER BY token";
pub(super) const TEAMS: &str = "SELECT team_id, metadata::text AS metadata, blocked \
     FROM \"LiteLLM_TeamTable\" ORDER BY team_id";
/// Only admins matter: every other role is an ordinary key for pass-through routes.
pub(super) const ADMIN_USERS: &str =
    "SELECT user_id FROM \"LiteLLM_UserTable\" WHERE user_role = 'proxy_admin'";
/// Rotated keys in their grace period. The table is newer than some LiteLLM databases.
pub(super) const HAS_DEPRECATED: &str =
    "SELECT to_regclass('\"LiteLLM_DeprecatedVerificationToken\"') IS NOT NULL";
pub(super) const DEPRECATED: &str = "SELECT token, active_token_id, \
     to_char(revoke_at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS revoke_at \
     FROM \"LiteLLM_DeprecatedVerificationToken\" WHERE revoke_at > now() ORDER BY token";

/// Stage 1 of the marker, one tiny query whatever the number of rows: the write counters
/// (inserted + updated + deleted tuples) of the tables the sidecar reads, from the statistics
/// functions behind `pg_stat_user_tables` (callable by any role; called by oid, so no catalog is
/// scanned), and the md5 of the settings row, which does not wait for the statistics to be
/// flushed.
pub(super) const QUICK: &str = "SELECT coalesce((SELECT string_agg(r::text || ':' || \
     (pg_stat_get_tuples_inserted(r) + pg_stat_get_tuples_updated(r) \
     + pg_stat_get_tuples_deleted(r)), ',' ORDER BY r) \
     FROM unnest(ARRAY[to_regclass('\"LiteLLM_Config\"'), \
     to_regclass('\"LiteLLM_VerificationToken\"'), to_regclass('\"LiteLLM_TeamTable\"'), \
     to_regclass('\"LiteLLM_UserTable\"'), \
     to_regclass('\"LiteLLM_DeprecatedVerificationToken\"')]) AS r WHERE r IS NOT NULL), '') \
     || ' ' || coalesce((SELECT md5(param_value::text) FROM \"LiteLLM_Config\" \
     WHERE param_name = 'general_settings'), '-')";

/// Stage 2 of the marker: a fingerprint of exactly the columns that decide routing and access,
/// computed by the server (one short row back). Spend, `last_active`, `updated_at` and budgets,
/// which LiteLLM's spend writer updates under traffic, are not in it. Per table, the row count and
/// the sum (as numeric, no overflow) of each row's 64-bit `hashtextextended`: order-independent,
/// so no sort, ≈ 4× cheaper than an md5 over the ordered rows at 100,000 keys. Times are epoch
/// seconds, so the text does not depend on the session's time zone.
pub(super) fn fingerprint_query(has_deprecated: bool) -> String {
    let sum = |row: &str, from: &str| {
        format!(
            "(SELECT count(*) || ':' || coalesce(sum(hashtextextended(ROW({row})::text, 0)), 0) \
             FROM {from})"
        )
    };
    let deprecated = if has_deprecated {
        sum(
            "token, active_token_id, extract(epoch FROM revoke_at)",
            "\"LiteLLM_DeprecatedVerificationToken\"",
        )
    } else {
        "'none'".to_owned()
    };
    format!(
        "SELECT md5(concat_ws(' ', \
         (SELECT md5(param_value::text) FROM \"LiteLLM_Config\" \
          WHERE param_name = 'general_settings'), {tokens}, {teams}, {admins}, {deprecated}))",
        tokens = sum(
            "token, metadata, team_id, user_id, blocked, extract(epoch FROM expires), \
             allowed_routes",
            "\"LiteLLM_VerificationToken\""
        ),
        teams = sum("team_id, metadata, blocked", "\"LiteLLM_TeamTable\""),
        admins = sum(
            "user_id",
            "\"LiteLLM_UserTable\" WHERE user_role = 'proxy_admin'"
        ),
    )
}
