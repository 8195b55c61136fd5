//! Where each route's upstream is, per serving table: an IP literal as written, a host name
//! resolved off the event loop and reused for a while.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;

/// How long a resolved upstream address is reused before the name is looked up again.
const DNS_TTL: Duration = Duration::from_secs(30);

/// By route index, the address its upstream was last resolved to. A request reads its route's
/// slot without a lock, a hash or an allocation (a map of host names shared by every worker took
/// a lock and a `String` per request to a named upstream, and an IP literal was parsed every
/// time); a slot is filled by the first request of its route, so routes to one host each look it
/// up, and is dropped with the table, like everything else built for it.
pub struct UpstreamAddresses {
    slots: Box<[ArcSwapOption<Resolved>]>,
}

struct Resolved {
    addr: SocketAddr,
    /// None for an IP literal: it never needs looking up again.
    expires: Option<Instant>,
}

impl UpstreamAddresses {
    pub fn new(routes: usize) -> UpstreamAddresses {
        UpstreamAddresses {
            slots: (0..routes).map(|_| ArcSwapOption::empty()).collect(),
        }
    }

    /// The address to connect to for route `route`, whose upstream is `host:port`. Names are
    /// resolved on tokio's blocking pool (never blocking the event loop, never panicking) and
    /// reused for [`DNS_TTL`], so a request does not pay a DNS query each time; a name that does
    /// not resolve gives None and is tried again by the next request.
    pub async fn resolve(&self, route: usize, host: &str, port: u16) -> Option<SocketAddr> {
        let slot = &self.slots[route];
        if let Some(kept) = &*slot.load() {
            if kept.expires.map_or(true, |at| Instant::now() < at) {
                return Some(kept.addr);
            }
        }
        let resolved = match host.parse::<IpAddr>() {
            Ok(ip) => Resolved {
                addr: SocketAddr::new(ip, port),
                expires: None,
            },
            Err(_) => Resolved {
                addr: tokio::net::lookup_host((host, port)).await.ok()?.next()?,
                expires: Some(Instant::now() + DNS_TTL),
            },
        };
        let addr = resolved.addr;
        slot.store(Some(Arc::new(resolved)));
        Some(addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_ip_literal_is_its_own_address_and_never_expires() {
        let addresses = UpstreamAddresses::new(2);
        assert_eq!(
            addresses.resolve(0, "127.0.0.1", 8080).await,
            Some("127.0.0.1:8080".parse().unwrap())
        );
        assert_eq!(
            addresses.resolve(1, "::1", 443).await,
            Some("[::1]:443".parse().unwrap())
        );
        assert!(addresses.slots[0]
            .load()
            .as_ref()
            .unwrap()
            .expires
            .is_none());
    }

    #[tokio::test]
    async fn a_host_name_is_kept_in_its_routes_slot_for_a_while() {
        let addresses = UpstreamAddresses::new(3);
        let addr = addresses.resolve(1, "localhost", 8080).await.unwrap();
        assert!(addr.ip().is_loopback(), "{addr}");
        let kept = addresses.slots[1].load_full().unwrap();
        assert!(kept.expires.is_some_and(|at| at > Instant::now()));
        assert!(
            addresses.slots[0].load().is_none(),
            "other routes' slots stay empty"
        );
        assert!(addresses.slots[2].load().is_none());
        // The kept address answers the next request: the slot is not replaced.
        assert_eq!(addresses.resolve(1, "localhost", 8080).await, Some(addr));
        assert!(Arc::ptr_eq(&kept, &addresses.slots[1].load_full().unwrap()));
    }
}
