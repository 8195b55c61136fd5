//! SIGHUP → poll now; SIGTERM/SIGINT → stop after the write in progress. signal-hook's iterator
//! runs on a small thread and hands each signal to the async loop.

use std::sync::Arc;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use tokio::sync::{watch, Notify};

/// What the daemon loop waits on besides its timer.
#[derive(Clone)]
pub struct Wakeups {
    /// SIGHUP: poll now, ignoring the change marker.
    pub poll_now: Arc<Notify>,
    /// A commit announced by the database (NOTIFY): poll now.
    pub changed: Arc<Notify>,
    /// Becomes true on SIGTERM or SIGINT.
    pub shutdown: watch::Receiver<bool>,
}

pub struct ShutdownHandle(watch::Sender<bool>);

impl ShutdownHandle {
    pub fn shut_down(&self) {
        let _ = self.0.send(true);
    }
}

impl Wakeups {
    /// Wakeups driven by nothing but the caller (tests, `once`).
    pub fn manual() -> (Wakeups, ShutdownHandle) {
        let (tx, rx) = watch::channel(false);
        (
            Wakeups {
                poll_now: Arc::new(Notify::new()),
                changed: Arc::new(Notify::new()),
                shutdown: rx,
            },
            ShutdownHandle(tx),
        )
    }

    /// Installs the handlers for SIGHUP, SIGTERM and SIGINT.
    pub fn from_signals() -> std::io::Result<Wakeups> {
        let (wakeups, shutdown) = Wakeups::manual();
        let mut signals = signal_hook::iterator::Signals::new([SIGHUP, SIGTERM, SIGINT])?;
        let poll_now = wakeups.poll_now.clone();
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                for signal in signals.forever() {
                    match signal {
                        SIGHUP => {
                            tracing::info!("SIGHUP: polling now");
                            poll_now.notify_one();
                        }
                        _ => {
                            tracing::info!(signal, "stopping after the write in progress");
                            shutdown.shut_down();
                        }
                    }
                }
            })?;
        Ok(wakeups)
    }
}
