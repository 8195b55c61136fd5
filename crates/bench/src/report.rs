//! Markdown tables, statistics and formatting shared by every scenario.

use std::fmt::Write as _;
use std::time::Duration;

/// One markdown table with a heading and notes under it.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub title: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub notes: Vec<String>,
}

impl Table {
    pub fn new(title: &str, headers: &[&str]) -> Table {
        Table {
            title: title.to_owned(),
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Adds a row; short rows are padded with empty cells, long ones are an error in the caller.
    pub fn row<S: ToString>(&mut self, cells: &[S]) {
        assert!(
            cells.len() <= self.headers.len(),
            "row has {} cells, table {:?} has {} columns",
            cells.len(),
            self.title,
            self.headers.len()
        );
        let mut row: Vec<String> = cells.iter().map(|c| escape(&c.to_string())).collect();
        row.resize(self.headers.len(), String::new());
        self.rows.push(row);
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "### {}\n", self.title);
        let _ = writeln!(out, "| {} |", self.headers.join(" | "));
        let _ = writeln!(
            out,
            "|{}|",
            self.headers
                .iter()
                .map(|_| "---")
                .collect::<Vec<_>>()
                .join("|")
        );
        for row in &self.rows {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for note in &self.notes {
                let _ = writeln!(out, "{note}");
            }
        }
        out
    }
}

/// A table cell may not contain a bare `|` or a line break.
fn escape(cell: &str) -> String {
    cell.replace('|', "\\|").replace('\n', " ")
}

/// "met" / "**missed**" for a figure against its target.
pub fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "**missed**"
    }
}

/// The `p`-quantile (0..=1) of `samples` by nearest rank; sorts a copy.
pub fn quantile(samples: &[f64], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

pub fn median(samples: &[f64]) -> f64 {
    quantile(samples, 0.5)
}

/// Seconds as a human duration: `812 µs`, `7.98 ms`, `1.20 s`.
pub fn secs(s: f64) -> String {
    if s.is_nan() {
        return "–".into();
    }
    if s < 0.0 {
        return format!("−{}", secs(-s));
    }
    if s < 1e-3 {
        format!("{:.0} µs", s * 1e6)
    } else if s < 1.0 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

pub fn dur(d: Duration) -> String {
    secs(d.as_secs_f64())
}

pub fn ratio(r: f64) -> String {
    if r.is_nan() {
        "–".into()
    } else if r > 0.0 && r < 0.01 {
        // Two significant digits where two decimals would read 0.00 (LiteLLM vs the others).
        let decimals = (-r.log10()).ceil() as usize + 1;
        format!("{r:.decimals$} ×")
    } else {
        format!("{r:.2} ×")
    }
}

/// A number with thousands separators: 23,316.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn signed_kib(n: i64) -> String {
    if n < 0 {
        format!("-{} KiB", thousands(n.unsigned_abs()))
    } else {
        format!("{} KiB", thousands(n as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_renders_as_markdown_with_padded_rows_and_notes() {
        let mut t = Table::new("Reload", &["routes", "cost", "target"]);
        t.row(&["100", "1.2 ms", "≤ 1.05 × — met"]);
        t.row(&["a|b"]);
        t.note("measured in-process");
        assert_eq!(
            t.render(),
            "### Reload\n\n| routes | cost | target |\n|---|---|---|\n\
             | 100 | 1.2 ms | ≤ 1.05 × — met |\n| a\\|b |  |  |\n\nmeasured in-process\n"
        );
    }

    #[test]
    #[should_panic(expected = "row has 3 cells")]
    fn a_row_wider_than_the_table_is_a_bug() {
        Table::new("t", &["a", "b"]).row(&["1", "2", "3"]);
    }

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let s: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&s, 0.5), 50.0);
        assert_eq!(quantile(&s, 0.99), 99.0);
        assert_eq!(quantile(&s, 1.0), 100.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert!(quantile(&[], 0.5).is_nan());
    }

    #[test]
    fn figures_format_with_units() {
        assert_eq!(secs(0.000_812), "812 µs");
        assert_eq!(secs(0.007_98), "7.98 ms");
        assert_eq!(secs(1.2), "1.20 s");
        assert_eq!(secs(-0.0015), "−1.50 ms");
        assert_eq!(ratio(1.049), "1.05 ×");
        assert_eq!(ratio(0.00136), "0.0014 ×");
        assert_eq!(ratio(0.0), "0.00 ×");
        assert_eq!(thousands(23_316), "23,316");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(signed_kib(-2048), "-2,048 KiB");
        assert_eq!(verdict(false), "**missed**");
    }
}
