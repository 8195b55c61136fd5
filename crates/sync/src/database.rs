//! A connection pool to PostgreSQL or SQLite, and the embedded native-schema migrations.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use crate::config::DatabaseUrl;
use crate::error::SyncError;

static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// An open database. Pools connect lazily, so a database that is down at start-up is an error
/// of the first pass, retried like any other, not a crash.
#[derive(Clone, Debug)]
pub enum Database {
    Postgres { pool: PgPool, url: DatabaseUrl },
    Sqlite { pool: SqlitePool, url: DatabaseUrl },
}

impl Database {
    /// Opens a pool. A SQLite file (and its directory's absence is an error) is created when
    /// missing; it uses WAL so that writers never block the daemon's reads.
    pub fn open(url: &DatabaseUrl, connect_timeout: Duration) -> Result<Database, SyncError> {
        let bad = |why: String| SyncError::BadUrl {
            url: url.redacted(),
            why,
        };
        if url.is_sqlite() {
            let options = SqliteConnectOptions::from_str(url.expose())
                .map_err(|e| bad(e.to_string()))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(5));
            let pool = SqlitePoolOptions::new()
                .max_connections(2)
                .acquire_timeout(connect_timeout)
                .connect_lazy_with(options);
            Ok(Database::Sqlite {
                pool,
                url: url.clone(),
            })
        } else {
            let options = PgConnectOptions::from_str(url.expose())
                .map_err(|e| bad(e.to_string()))?
                .application_name("passthru-sync");
            let pool = PgPoolOptions::new()
                .max_connections(2)
                .min_connections(0)
                .acquire_timeout(connect_timeout)
                .connect_lazy_with(options);
            Ok(Database::Postgres {
                pool,
                url: url.clone(),
            })
        }
    }

    pub fn url(&self) -> &DatabaseUrl {
        match self {
            Database::Postgres { url, .. } | Database::Sqlite { url, .. } => url,
        }
    }

    /// Applies the embedded native-schema migrations (idempotent; PostgreSQL takes an advisory
    /// lock, so a fleet of sidecars may all run it).
    pub async fn migrate(&self) -> Result<(), SyncError> {
        let result = match self {
            Database::Postgres { pool, .. } => POSTGRES_MIGRATIONS.run(pool).await,
            Database::Sqlite { pool, .. } => SQLITE_MIGRATIONS.run(pool).await,
        };
        result.map_err(|source| SyncError::Migrate {
            url: self.url().redacted(),
            source,
        })
    }

    /// When the pool only says "timed out", one direct connection attempt tells why (refused,
    /// unknown host, authentication failed), for the log.
    pub async fn connect_error(&self) -> Option<sqlx::Error> {
        use sqlx::ConnectOptions;
        let attempt = async {
            match self {
                Database::Postgres { pool, .. } => {
                    pool.connect_options().connect().await.map(|_| ())
                }
                Database::Sqlite { pool, .. } => pool.connect_options().connect().await.map(|_| ()),
            }
        };
        match tokio::time::timeout(Duration::from_secs(5), attempt).await {
            Ok(Err(e)) => Some(e),
            _ => None,
        }
    }

    pub async fn close(&self) {
        match self {
            Database::Postgres { pool, .. } => pool.close().await,
            Database::Sqlite { pool, .. } => pool.close().await,
        }
    }
}
