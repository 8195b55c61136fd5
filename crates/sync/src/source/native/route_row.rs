//! One `passthru_routes` row, decoded column by column, and turned into the JSON object a
//! routes.yaml entry would be.

use serde_json::{Map, Value};

use super::route_columns::{self, Column};
use crate::source::cells::{Cell, Cells};

/// A route row with a column of the wrong type.
pub(super) struct RefusedRow {
    pub(super) row_id: i64,
    pub(super) name: String,
    pub(super) reason: String,
}

/// One `passthru_routes` row: a value per column of [`route_columns::stored`], `None` for NULL.
#[derive(Debug)]
pub(super) struct RouteRow {
    pub(super) row_id: i64,
    columns: Vec<(&'static str, Option<Column>)>,
}

impl RouteRow {
    /// Each column on its own. A row with any column of the wrong type is refused, the reason
    /// naming every such column.
    pub(super) fn decode(row: &impl Cells) -> Result<RouteRow, RefusedRow> {
        let mut problems = Vec::new();
        let p = &mut problems;
        // The primary key: an integer on both databases, whatever else the row holds.
        let row_id = usable(row.integer("row_id"), p).unwrap_or(-1);
        let columns = route_columns::stored()
            .map(|field| (field.name, usable(route_columns::read(row, field), p)))
            .collect();
        let decoded = RouteRow { row_id, columns };
        if problems.is_empty() {
            return Ok(decoded);
        }
        Err(RefusedRow {
            row_id: decoded.row_id,
            name: decoded.name(),
            reason: problems.join("; "),
        })
    }

    fn text(&self, column: &str) -> Option<&str> {
        self.columns.iter().find_map(|(name, value)| match value {
            Some(Column::Text(text)) if *name == column => Some(text.as_str()),
            _ => None,
        })
    }

    /// `passthru_routes row_id 7`, with the id or else the path when the row has one.
    fn name(&self) -> String {
        let name = format!("passthru_routes row_id {}", self.row_id);
        match (self.text("id"), self.text("path")) {
            (Some(id), _) => format!("{name} (id {id})"),
            (None, Some(p)) => format!("{name} (path {p})"),
            _ => name,
        }
    }

    /// The row as the JSON object a routes.yaml entry would be; NULL columns are left out
    /// (default). The name is the bare `passthru_routes row_id N` when the row is handed on
    /// (validation adds the id and path), and [`RouteRow::name`] when it is refused here.
    pub(super) fn to_json(&self) -> (String, Result<Value, String>) {
        let name = format!("passthru_routes row_id {}", self.row_id);
        let mut map = Map::new();
        // Scalars first, then JSON text: a bad number is reported ahead of bad JSON.
        for (column, value) in &self.columns {
            let value = match value {
                Some(Column::Text(text)) => Value::String(text.clone()),
                Some(Column::Bool(b)) => Value::Bool(*b),
                Some(Column::Number(t)) => match serde_json::Number::from_f64(*t) {
                    Some(n) => Value::Number(n),
                    None => {
                        return (
                            self.name(),
                            Err(format!("column `{column}` is {t}, not a number of seconds")),
                        )
                    }
                },
                Some(Column::Json(_)) | None => continue,
            };
            map.insert((*column).to_owned(), value);
        }
        for (column, value) in &self.columns {
            let Some(Column::Json(text)) = value else {
                continue;
            };
            match serde_json::from_str::<Value>(text) {
                Ok(Value::Null) => {}
                Ok(v) => {
                    map.insert((*column).to_owned(), v);
                }
                Err(e) => {
                    return (
                        self.name(),
                        Err(format!("column `{column}` is not JSON ({e})")),
                    )
                }
            }
        }
        (name, Ok(Value::Object(map)))
    }
}

/// The value of a cell, or `None` with the problem noted.
fn usable<T>(cell: Cell<T>, problems: &mut Vec<String>) -> Option<T> {
    cell.unwrap_or_else(|why| {
        problems.push(why);
        None
    })
}
