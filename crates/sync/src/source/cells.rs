//! One column of one row at a time. Decoding a whole row (or a whole result) at once lets one
//! value of the wrong type fail the read of every row: SQLite stores whatever it is given
//! (`'false'` in a BOOLEAN column, a BLOB in a TEXT one), and a PostgreSQL column can be altered.
//! Here a bad value becomes an error for its column alone, which the caller turns into a skipped,
//! named row. Errors name the column and the type found, never the value: a header value may be
//! a secret.

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{ColumnIndex, Decode, Row, Type, TypeInfo, ValueRef};

/// A column's value, or why it cannot be used.
pub type Cell<T> = Result<Option<T>, String>;

/// The columns of one row, each decoded on its own; `NULL` is `Ok(None)`.
pub trait Cells {
    fn integer(&self, column: &str) -> Cell<i64>;
    fn text(&self, column: &str) -> Cell<String>;
    /// A boolean. On SQLite only the integers 0 and 1 are booleans: `'true'`, `'false'`, `2` or
    /// `0.5` are errors, not guesses.
    fn boolean(&self, column: &str) -> Cell<bool>;
    /// A number of seconds; SQLite may hand a REAL column's value back as an INTEGER.
    fn number(&self, column: &str) -> Cell<f64>;
}

/// `column` decoded as `T`, after checking that the value's own type is one `T` accepts.
fn cell<'r, R, T>(row: &'r R, column: &str, expected: &str) -> Cell<T>
where
    R: Row,
    for<'c> &'c str: ColumnIndex<R>,
    T: Decode<'r, R::Database> + Type<R::Database>,
{
    let value = row
        .try_get_raw(column)
        .map_err(|e| format!("column `{column}` cannot be read ({e})"))?;
    if value.is_null() {
        return Ok(None);
    }
    let found = value.type_info().name().to_owned();
    if !T::compatible(&value.type_info()) {
        return Err(format!(
            "column `{column}` holds {found}, expected {expected}"
        ));
    }
    T::decode(value).map(Some).map_err(|e| {
        format!("column `{column}` holds {found} that cannot be read as {expected} ({e})")
    })
}

impl Cells for SqliteRow {
    fn integer(&self, column: &str) -> Cell<i64> {
        cell(self, column, "an integer")
    }

    fn text(&self, column: &str) -> Cell<String> {
        cell(self, column, "text")
    }

    fn boolean(&self, column: &str) -> Cell<bool> {
        match cell::<_, i64>(self, column, "a boolean (0 or 1)")? {
            None => Ok(None),
            Some(0) => Ok(Some(false)),
            Some(1) => Ok(Some(true)),
            Some(n) => Err(format!(
                "column `{column}` holds INTEGER {n}, expected a boolean (0 or 1)"
            )),
        }
    }

    fn number(&self, column: &str) -> Cell<f64> {
        let expected = "a number of seconds";
        match cell::<_, i64>(self, column, expected) {
            Ok(n) => Ok(n.map(|n| n as f64)),
            Err(_) => cell(self, column, expected),
        }
    }
}

impl Cells for PgRow {
    fn integer(&self, column: &str) -> Cell<i64> {
        cell(self, column, "an integer")
    }

    fn text(&self, column: &str) -> Cell<String> {
        cell(self, column, "text")
    }

    fn boolean(&self, column: &str) -> Cell<bool> {
        cell(self, column, "a boolean")
    }

    fn number(&self, column: &str) -> Cell<f64> {
        cell(self, column, "a number of seconds")
    }
}

/// A column that must not be NULL.
pub fn required<T>(value: Cell<T>, column: &str) -> Result<T, String> {
    value?.ok_or_else(|| format!("column `{column}` is NULL"))
}
