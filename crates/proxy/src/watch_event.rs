//! What the routes file's directory watcher reports, reduced to what the reloader acts on.

use std::ffi::OsString;

/// What one watcher event says about the routes file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchEvent {
    /// Its bytes were written in place (`IN_MODIFY`).
    Written,
    /// A writer closed it (`IN_CLOSE_WRITE`).
    Closed,
    /// A file was renamed onto its name (`IN_MOVED_TO`). A file renamed into place was written
    /// whole before it got the name, so when the routes file now has a new inode it can be
    /// read at once, without waiting for the directory to go quiet. Other renames in the
    /// directory (a Kubernetes `..data` swap) are [`WatchEvent::Other`] and wait for quiet.
    MovedIn,
    /// Anything else in the directory (create, rename, delete, attributes): maybe changed.
    /// Writes to other files are not (an access log, a sync daemon's temp file): they cannot
    /// change what the routes file reads.
    Other,
    /// The watcher lost events (queue overflow) or failed: what is open is unknown.
    Rescan,
}

/// What an event means for the routes file; `None` for what cannot change it (opens and
/// read-only closes, including the reloader's own reads).
pub fn classify(event: notify::Result<notify::Event>, names: &[OsString]) -> Option<WatchEvent> {
    use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind, RenameMode};
    let event = match event {
        Ok(event) if event.need_rescan() => return Some(WatchEvent::Rescan),
        Ok(event) => event,
        Err(_) => return Some(WatchEvent::Rescan),
    };
    let ours = || {
        event
            .paths
            .iter()
            .any(|p| p.file_name().is_some_and(|n| names.iter().any(|m| m == n)))
    };
    match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) if ours() => {
            Some(WatchEvent::Closed)
        }
        EventKind::Access(_) => None,
        EventKind::Modify(ModifyKind::Data(_)) if ours() => Some(WatchEvent::Written),
        // Another file's bytes: a log written next to the routes file would otherwise cost a
        // read and a hash of the table per write.
        EventKind::Modify(ModifyKind::Data(_)) => None,
        EventKind::Modify(ModifyKind::Name(RenameMode::To)) if ours() => Some(WatchEvent::MovedIn),
        _ => Some(WatchEvent::Other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{
        AccessKind, AccessMode, CreateKind, DataChange, EventKind, ModifyKind, RenameMode,
    };

    fn event(kind: EventKind, file: &str) -> notify::Result<notify::Event> {
        Ok(notify::Event::new(kind).add_path(format!("/etc/passthru/{file}").into()))
    }

    #[test]
    fn writes_and_closes_count_for_the_routes_file_only() {
        let names = [OsString::from("routes.yaml")];
        let written = EventKind::Modify(ModifyKind::Data(DataChange::Content));
        let closed = EventKind::Access(AccessKind::Close(AccessMode::Write));
        assert_eq!(
            classify(event(written, "routes.yaml"), &names),
            Some(WatchEvent::Written)
        );
        assert_eq!(
            classify(event(closed, "routes.yaml"), &names),
            Some(WatchEvent::Closed)
        );
        assert_eq!(classify(event(written, "other.yaml"), &names), None);
        assert_eq!(
            classify(event(EventKind::Create(CreateKind::File), "x"), &names),
            Some(WatchEvent::Other)
        );
    }

    #[test]
    fn a_rename_onto_the_routes_file_is_a_move_in() {
        let names = [OsString::from("routes.yaml")];
        let to = EventKind::Modify(ModifyKind::Name(RenameMode::To));
        let from = EventKind::Modify(ModifyKind::Name(RenameMode::From));
        assert_eq!(
            classify(event(to, "routes.yaml"), &names),
            Some(WatchEvent::MovedIn)
        );
        assert_eq!(
            classify(event(to, "..data"), &names),
            Some(WatchEvent::Other)
        );
        assert_eq!(
            classify(event(from, "routes.yaml.tmp"), &names),
            Some(WatchEvent::Other)
        );
    }

    #[test]
    fn reads_are_ignored_and_lost_events_mean_rescan() {
        let names = [OsString::from("routes.yaml")];
        let read = EventKind::Access(AccessKind::Close(AccessMode::Read));
        assert_eq!(classify(event(read, "routes.yaml"), &names), None);
        let lost = Err(notify::Error::generic("queue overflow"));
        assert_eq!(classify(lost, &names), Some(WatchEvent::Rescan));
    }
}
