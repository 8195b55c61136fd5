//! sd_notify(3) for both passthru daemons, over the datagram socket systemd names in
//! `$NOTIFY_SOCKET`: READY, STATUS,
//! WATCHDOG, STOPPING. Without the variable (not under systemd) every call does nothing.
//! Also: secrets by name from the environment or systemd credentials ([`env_or_credential`]).

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// The secret `name` (an `os.environ/NAME` reference): the environment variable, else the
/// first non-empty line of the systemd credential `$CREDENTIALS_DIRECTORY/NAME`, so provider
/// keys need not sit in a unit's environment (`LoadCredential=NAME:/etc/passthru/NAME`).
pub fn env_or_credential(name: &str) -> Option<String> {
    if let Ok(value) = std::env::var(name) {
        return Some(value);
    }
    if name.is_empty() || name.contains(['/', '\0']) || name == "." || name == ".." {
        return None;
    }
    let dir = std::env::var_os("CREDENTIALS_DIRECTORY")?;
    let text = std::fs::read_to_string(std::path::Path::new(&dir).join(name)).ok()?;
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_owned)
}

#[derive(Debug, Default)]
pub struct Notifier {
    target: Option<(UnixDatagram, std::os::unix::net::SocketAddr)>,
}

impl Notifier {
    /// Reads `$NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace).
    pub fn from_env() -> Notifier {
        let Some(name) = std::env::var_os("NOTIFY_SOCKET") else {
            return Notifier::default();
        };
        let name = name.to_string_lossy().into_owned();
        let addr = if let Some(abstract_name) = name.strip_prefix('@') {
            use std::os::linux::net::SocketAddrExt;
            std::os::unix::net::SocketAddr::from_abstract_name(abstract_name.as_bytes())
        } else {
            std::os::unix::net::SocketAddr::from_pathname(&name)
        };
        match (UnixDatagram::unbound(), addr) {
            (Ok(socket), Ok(addr)) => Notifier {
                target: Some((socket, addr)),
            },
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, "NOTIFY_SOCKET is set but unusable; not notifying systemd");
                Notifier::default()
            }
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.target.is_some()
    }

    fn send(&self, message: &str) {
        if let Some((socket, addr)) = &self.target {
            if let Err(e) = socket.send_to_addr(message.as_bytes(), addr) {
                tracing::debug!(error = %e, "sd_notify failed");
            }
        }
    }

    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={}", one_line(status)));
    }

    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={}", one_line(status)));
    }

    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }

    pub fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=stopping");
    }
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// How often to ping the watchdog: half of `$WATCHDOG_USEC` when systemd asks this process
/// (`$WATCHDOG_PID` absent or ours) for pings.
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.parse::<u32>().ok()? != std::process::id() {
            return None;
        }
    }
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_carries_a_one_line_status_to_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let receiver = UnixDatagram::bind(&path).unwrap();
        let notifier = Notifier {
            target: Some((
                UnixDatagram::unbound().unwrap(),
                std::os::unix::net::SocketAddr::from_pathname(&path).unwrap(),
            )),
        };
        notifier.ready("wrote 3 routes\nsecond line");
        let mut buf = [0u8; 256];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(
            std::str::from_utf8(&buf[..n]).unwrap(),
            "READY=1\nSTATUS=wrote 3 routes second line"
        );
    }
}
