//! The native schema against the route field table (`passthru_sync::source::native::route_columns`):
//! both migrations give `passthru_routes` a column for every stored route field and no other,
//! SQLite's type triggers check each of them, and `routes add` has a flag for each. Adding a
//! field to the table without its migration (or its flag) fails here.

use sqlx::Connection;

use passthru_sync::source::native::route_columns;
use passthru_tests::postgres::PgTestDatabase;
use passthru_tests::sync::{native_sqlite, run};

/// Columns that keep the table's books rather than hold a route field.
const BOOKKEEPING: &[&str] = &["row_id", "created_at", "updated_at"];

fn stored() -> Vec<&'static str> {
    route_columns::stored().map(|f| f.name).collect()
}

fn route_fields(columns: &[String]) -> Vec<&str> {
    columns
        .iter()
        .map(String::as_str)
        .filter(|c| !BOOKKEEPING.contains(c))
        .collect()
}

#[tokio::test]
async fn the_sqlite_migrations_give_every_stored_field_a_checked_column() {
    let dir = tempfile::tempdir().unwrap();
    let url = native_sqlite(dir.path());
    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let columns: Vec<String> =
        sqlx::query_scalar("SELECT name FROM pragma_table_info('passthru_routes') ORDER BY cid")
            .fetch_all(&mut c)
            .await
            .unwrap();
    assert_eq!(route_fields(&columns), stored());
    for trigger in [
        "passthru_routes_types_insert",
        "passthru_routes_types_update",
    ] {
        let sql: String =
            sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?")
                .bind(trigger)
                .fetch_one(&mut c)
                .await
                .unwrap();
        for field in stored() {
            assert!(
                sql.contains(&format!("'passthru_routes.{field} must")),
                "{trigger} does not check the type of {field}"
            );
        }
    }
    c.close().await.ok();
}

#[tokio::test]
async fn the_postgres_migrations_give_every_stored_field_a_column() {
    let pg = PgTestDatabase::new();
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run(&pg.url(), &dir.path().join("unused.yaml"), &["migrate"]);
    assert_eq!(code, 0, "{err}");
    let mut c = sqlx::PgConnection::connect(&pg.url()).await.unwrap();
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT column_name::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = 'passthru_routes' \
         ORDER BY ordinal_position",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    assert_eq!(route_fields(&columns), stored());
    c.close().await.ok();
}

#[test]
fn routes_add_has_a_flag_for_every_stored_field() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("unused.db").display());
    let (code, help, err) = run(
        &url,
        &dir.path().join("unused.yaml"),
        &["routes", "add", "--help"],
    );
    assert_eq!(code, 0, "{err}");
    // A flag is named as its field, except that a list or mapping takes one entry per flag.
    let flag = |field: &str| match field {
        "methods" => "--method".to_owned(),
        "headers" => "--header".to_owned(),
        "default_query_params" => "--query".to_owned(),
        other => format!("--{}", other.replace('_', "-")),
    };
    for field in stored() {
        let flag = flag(field);
        assert!(
            help.split_whitespace().any(|word| word == flag),
            "`routes add` has no {flag} for {field}:\n{help}"
        );
    }
}
