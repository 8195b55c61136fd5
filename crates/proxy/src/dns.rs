//! Upstream host names resolved off the event loop and reused for a while, per serving table.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a resolved upstream address is reused before the name is looked up again.
const DNS_TTL: Duration = Duration::from_secs(30);

/// Resolved `host:port` pairs with the time they were looked up. Each serving table owns one, so
/// it is bounded by that table's hosts and dropped with it, like everything else built for it.
#[derive(Default)]
pub struct DnsCache {
    entries: Mutex<HashMap<(String, u16), (SocketAddr, Instant)>>,
}

impl DnsCache {
    /// The address to connect to for `host:port`. IP literals need no lookup; names are resolved
    /// on tokio's blocking pool (never blocking the event loop, never panicking) and reused for
    /// [`DNS_TTL`], so a request does not pay a DNS query each time.
    pub async fn resolve(&self, host: &str, port: u16) -> Option<SocketAddr> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Some(SocketAddr::new(ip, port));
        }
        let key = (host.to_owned(), port);
        if let Some((addr, at)) = self.entries.lock().unwrap().get(&key) {
            if at.elapsed() < DNS_TTL {
                return Some(*addr);
            }
        }
        let addr = tokio::net::lookup_host((host, port)).await.ok()?.next()?;
        self.entries
            .lock()
            .unwrap()
            .insert(key, (addr, Instant::now()));
        Some(addr)
    }
}
