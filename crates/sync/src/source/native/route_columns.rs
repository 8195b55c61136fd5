//! The columns of the native schema's `passthru_routes`, derived from the route field table
//! ([`RouteField::ALL`]): one column per field, named as the field, holding the field's JSON type
//! (lists and mappings as JSON text), NULL for the field's default. The queries and the row
//! decoding follow from it, so a new field needs a migration, not another column list;
//! `tests/route_columns.rs` checks both migrations and the `routes add` flags against it.

use passthru_routes::{RouteField, ValueType};

use crate::source::cells::{Cell, Cells};

/// Route fields `passthru_routes` has no column for: a native row cannot set them.
pub const NOT_STORED: &[&str] = &["forwarded_headers", "custom_auth_parser", "cors"];

/// The route fields `passthru_routes` stores, in canonical order.
pub fn stored() -> impl Iterator<Item = &'static RouteField> {
    RouteField::ALL
        .iter()
        .filter(|f| !NOT_STORED.contains(&f.name))
}

/// Every route row, oldest first; on PostgreSQL, JSONB columns are read as text.
pub fn select(pg: bool) -> String {
    let columns: Vec<String> = stored()
        .map(|f| match f.kind.value_type() {
            ValueType::Structure if pg => format!("{0}::text AS {0}", f.name),
            _ => f.name.to_owned(),
        })
        .collect();
    format!(
        "SELECT row_id, {} FROM passthru_routes ORDER BY row_id",
        columns.join(", ")
    )
}

/// One new row, a placeholder per column of [`stored`] in its order; returns the `row_id`.
pub fn insert(pg: bool) -> String {
    let names: Vec<&str> = stored().map(|f| f.name).collect();
    let values: Vec<String> = stored()
        .enumerate()
        .map(|(i, f)| match f.kind.value_type() {
            ValueType::Structure if pg => format!("${}::jsonb", i + 1),
            _ => format!("${}", i + 1),
        })
        .collect();
    format!(
        "INSERT INTO passthru_routes ({}) VALUES ({}) RETURNING row_id",
        names.join(", "),
        values.join(", ")
    )
}

/// One column's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    Text(String),
    /// A list or mapping as JSON text, parsed when the row becomes a route.
    Json(String),
    Bool(bool),
    Number(f64),
}

/// The column of `field`, decoded as the field's type.
pub fn read(row: &impl Cells, field: &RouteField) -> Cell<Column> {
    Ok(match field.kind.value_type() {
        ValueType::String => row.text(field.name)?.map(Column::Text),
        ValueType::Structure => row.text(field.name)?.map(Column::Json),
        ValueType::Boolean => row.boolean(field.name)?.map(Column::Bool),
        ValueType::Number => row.number(field.name)?.map(Column::Number),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queries_name_every_stored_field_in_order() {
        let names: Vec<&str> = stored().map(|f| f.name).collect();
        assert_eq!(names[..3], ["id", "path", "target"]);
        assert_eq!(
            select(false),
            format!(
                "SELECT row_id, {} FROM passthru_routes ORDER BY row_id",
                names.join(", ")
            )
        );
        let pg_select = select(true);
        let pg_insert = insert(true);
        for (i, field) in stored().enumerate() {
            let json = field.kind.value_type() == ValueType::Structure;
            let cast = format!("{0}::text AS {0}", field.name);
            assert_eq!(pg_select.contains(&cast), json, "{pg_select}");
            let placeholder = format!("${}::jsonb", i + 1);
            assert_eq!(pg_insert.contains(&placeholder), json, "{pg_insert}");
        }
        assert_eq!(
            insert(false),
            format!(
                "INSERT INTO passthru_routes ({}) VALUES ({}) RETURNING row_id",
                names.join(", "),
                (1..=names.len())
                    .map(|i| format!("${i}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        );
    }

    #[test]
    fn every_unstored_field_is_a_route_field() {
        for name in NOT_STORED {
            assert!(RouteField::named(name).is_some(), "{name}");
        }
    }
}
