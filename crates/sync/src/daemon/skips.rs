//! Skipped rows reported once per change, not once per poll: every full read (SIGHUP, LiteLLM's
//! backstop, a marker that cannot be read) renders every row again.

use std::collections::HashSet;

use crate::snapshot::{SkipKind, SkippedRow};

/// The skip reports of the last pass, so that an unchanged bad row is not re-logged at WARN.
#[derive(Debug, Default)]
pub(crate) struct SkipReporter {
    last: Vec<SkippedRow>,
}

/// What one call to [`SkipReporter::report`] logged.
pub(crate) struct Reported {
    /// Rows left out of the table (ignored fields not counted).
    pub left_out: usize,
    /// Reports logged at WARN or ERROR now: new rows, or rows whose reason changed.
    pub new_reports: u64,
}

impl SkipReporter {
    /// Logs each skipped row at WARN when it is new or its reason changed, and at DEBUG while
    /// it stays as it was.
    pub(crate) fn report(&mut self, skipped: Vec<SkippedRow>) -> Reported {
        let before: HashSet<&SkippedRow> = self.last.iter().collect();
        let mut new = 0;
        let mut new_reports = 0;
        for skip in &skipped {
            let (row, reason) = (&skip.row, &skip.reason);
            if before.contains(skip) {
                match skip.kind {
                    SkipKind::FieldIgnored => {
                        tracing::debug!(%row, %reason, "field ignored (unchanged)")
                    }
                    _ => tracing::debug!(%row, %reason, "skipped row (unchanged)"),
                }
                continue;
            }
            new_reports += 1;
            match skip.kind {
                SkipKind::Skipped => {
                    new += 1;
                    tracing::warn!(%row, %reason, "skipped row")
                }
                SkipKind::Unenforceable => {
                    new += 1;
                    tracing::error!(%row, %reason, "skipped row: passthru cannot enforce it")
                }
                SkipKind::FieldIgnored => {
                    tracing::warn!(%row, %reason, "field ignored; the route is served")
                }
            }
        }
        let left_out = skipped
            .iter()
            .filter(|s| s.kind != SkipKind::FieldIgnored)
            .count();
        if new > 0 {
            tracing::warn!(
                count = left_out,
                new,
                "skipped {left_out} row(s); the other rows are written"
            );
        }
        self.last = skipped;
        Reported {
            left_out,
            new_reports,
        }
    }
}
