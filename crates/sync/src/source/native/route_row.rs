//! One `passthru_routes` row, decoded column by column, and turned into the JSON object a
//! routes.yaml entry would be.

use serde_json::{Map, Value};

use crate::source::cells::{Cell, Cells};

/// A route row with a column of the wrong type.
pub(super) struct RefusedRow {
    pub(super) row_id: i64,
    pub(super) name: String,
    pub(super) reason: String,
}

/// One `passthru_routes` row; JSON columns as text.
#[derive(Debug)]
pub(super) struct RouteRow {
    pub(super) row_id: i64,
    id: Option<String>,
    path: Option<String>,
    target: Option<String>,
    include_subpath: Option<bool>,
    methods: Option<String>,
    headers: Option<String>,
    forward_headers: Option<bool>,
    default_query_params: Option<String>,
    timeout: Option<f64>,
    auth: Option<bool>,
}

impl RouteRow {
    /// Each column on its own. A row with any column of the wrong type is refused, the reason
    /// naming every such column.
    pub(super) fn decode(row: &impl Cells) -> Result<RouteRow, RefusedRow> {
        let mut problems = Vec::new();
        let p = &mut problems;
        let decoded = RouteRow {
            // The primary key: an integer on both databases, whatever else the row holds.
            row_id: usable(row.integer("row_id"), p).unwrap_or(-1),
            id: usable(row.text("id"), p),
            path: usable(row.text("path"), p),
            target: usable(row.text("target"), p),
            include_subpath: usable(row.boolean("include_subpath"), p),
            methods: usable(row.text("methods"), p),
            headers: usable(row.text("headers"), p),
            forward_headers: usable(row.boolean("forward_headers"), p),
            default_query_params: usable(row.text("default_query_params"), p),
            timeout: usable(row.number("timeout"), p),
            auth: usable(row.boolean("auth"), p),
        };
        if problems.is_empty() {
            return Ok(decoded);
        }
        Err(RefusedRow {
            row_id: decoded.row_id,
            name: decoded.name(),
            reason: problems.join("; "),
        })
    }

    /// `passthru_routes row_id 7`, with the id or else the path when the row has one.
    fn name(&self) -> String {
        let name = format!("passthru_routes row_id {}", self.row_id);
        match (&self.id, &self.path) {
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
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                map.insert(k.to_owned(), v);
            }
        };
        put("id", self.id.clone().map(Value::String));
        put("path", self.path.clone().map(Value::String));
        put("target", self.target.clone().map(Value::String));
        put("include_subpath", self.include_subpath.map(Value::Bool));
        put("forward_headers", self.forward_headers.map(Value::Bool));
        put("auth", self.auth.map(Value::Bool));
        if let Some(t) = self.timeout {
            match serde_json::Number::from_f64(t) {
                Some(n) => put("timeout", Some(Value::Number(n))),
                None => {
                    return (
                        self.name(),
                        Err(format!("column `timeout` is {t}, not a number of seconds")),
                    )
                }
            }
        }
        for (column, text) in [
            ("methods", &self.methods),
            ("headers", &self.headers),
            ("default_query_params", &self.default_query_params),
        ] {
            if let Some(text) = text {
                match serde_json::from_str::<Value>(text) {
                    Ok(Value::Null) => {}
                    Ok(v) => put(column, Some(v)),
                    Err(e) => {
                        return (
                            self.name(),
                            Err(format!("column `{column}` is not JSON ({e})")),
                        )
                    }
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
