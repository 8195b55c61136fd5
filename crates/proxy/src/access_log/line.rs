//! One access log line and how its values are written: addresses and the timestamp on the stack,
//! each serialised as one JSON string. A line owns its values, so that the worker that served
//! the request only fills it in and the writer thread serialises it.

use std::cell::Cell;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arrayvec::ArrayString;
use http::Method;
use serde::{Serialize, Serializer};

/// One access log line; the field names and their meaning are the README's "Access log" table.
/// Absent values are left out of the line, never written as `null`.
#[derive(Debug, Serialize)]
pub struct AccessLine {
    #[serde(serialize_with = "rfc3339_micros")]
    pub timestamp: SystemTime,
    pub request_id: String,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "socket_addr"
    )]
    pub client: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ip_addr")]
    pub client_ip: Option<IpAddr>,
    #[serde(serialize_with = "method")]
    pub method: Method,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_names: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    pub status: u16,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "socket_addr"
    )]
    pub upstream: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_status: Option<u16>,
    pub bytes_received: u64,
    pub bytes_sent: u64,
    pub duration_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttfb_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_chunk_ms: Option<f64>,
    pub upgraded: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<&'static str>,
}

impl AccessLine {
    /// The memory the line holds while it waits for the writer: itself and its strings.
    pub(super) fn footprint(&self) -> usize {
        std::mem::size_of::<AccessLine>()
            + self.request_id.len()
            + self.path.len()
            + self.query_names.as_ref().map_or(0, String::len)
            + self.route.as_ref().map_or(0, String::len)
    }
}

thread_local! {
    /// The last whole second this thread formatted, as `YYYY-MM-DDTHH:MM:SS`: the lines of one
    /// second share it, and only the microseconds are written per line.
    static SECOND: Cell<(u64, ArrayString<19>)> = const { Cell::new((0, ArrayString::new_const())) };
}

/// `time` as humantime's `format_rfc3339_micros` writes it (`2026-11-30T13:43:57.123456Z`).
fn rfc3339_micros<S: Serializer>(time: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    let Ok(since) = time.duration_since(UNIX_EPOCH) else {
        return s.collect_str(&humantime::format_rfc3339_micros(*time));
    };
    let secs = since.as_secs();
    let second = SECOND.with(|cached| match cached.get() {
        (at, text) if at == secs && !text.is_empty() => Some(text),
        _ => {
            let mut whole = ArrayString::<32>::new();
            let second = UNIX_EPOCH + Duration::from_secs(secs);
            write!(whole, "{}", humantime::format_rfc3339_seconds(second)).ok()?;
            let text = ArrayString::from(whole.get(..19)?).ok()?;
            cached.set((secs, text));
            Some(text)
        }
    });
    let Some(second) = second else {
        return s.collect_str(&humantime::format_rfc3339_micros(*time));
    };
    let mut text = ArrayString::<27>::new();
    text.push_str(&second);
    text.push('.');
    let mut micros = since.subsec_micros();
    let mut digits = [b'0'; 6];
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (micros % 10) as u8;
        micros /= 10;
    }
    text.push_str(std::str::from_utf8(&digits).expect("ASCII digits"));
    text.push('Z');
    s.serialize_str(&text)
}

fn method<S: Serializer>(method: &Method, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(method.as_str())
}

// Addresses are formatted on the stack and serialised as one string; IPv4 (nearly every line)
// digit by digit: through `Display` and `collect_str`, three addresses were a fifth of the cost
// of a line (the formatter's machinery, then the JSON escaper once per piece).

fn socket_addr<S: Serializer>(addr: &Option<SocketAddr>, s: S) -> Result<S::Ok, S::Error> {
    match addr {
        Some(SocketAddr::V4(v4)) => {
            let mut text = ArrayString::<21>::new();
            push_ipv4(&mut text, v4.ip());
            text.push(':');
            text.push_str(itoa::Buffer::new().format(v4.port()));
            s.serialize_str(&text)
        }
        Some(v6) => s.collect_str(v6),
        None => s.serialize_none(),
    }
}

fn ip_addr<S: Serializer>(ip: &Option<IpAddr>, s: S) -> Result<S::Ok, S::Error> {
    match ip {
        Some(IpAddr::V4(v4)) => {
            let mut text = ArrayString::<15>::new();
            push_ipv4(&mut text, v4);
            s.serialize_str(&text)
        }
        Some(v6) => s.collect_str(v6),
        None => s.serialize_none(),
    }
}

fn push_ipv4<const N: usize>(text: &mut ArrayString<N>, ip: &Ipv4Addr) {
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            text.push('.');
        }
        text.push_str(itoa::Buffer::new().format(octet));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(f: &dyn Fn(&mut sonic_rs::Serializer<&mut Vec<u8>>)) -> String {
        let mut out = Vec::new();
        f(&mut sonic_rs::Serializer::new(&mut out));
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn timestamps_read_as_humantime_writes_them() {
        let base = UNIX_EPOCH + Duration::from_secs(1_796_045_037);
        for offset_us in [
            0,
            1,
            999_999,
            1_000_000,
            1_000_001,
            59_999_999,
            86_400_000_123,
        ] {
            let time = base + Duration::from_micros(offset_us);
            assert_eq!(
                json(&|s| rfc3339_micros(&time, s).unwrap()),
                format!("\"{}\"", humantime::format_rfc3339_micros(time))
            );
        }
    }

    #[test]
    fn addresses_read_as_display_writes_them() {
        for text in [
            "203.0.113.5:51234",
            "0.0.0.0:1",
            "255.255.255.255:65535",
            "[2001:db8::1]:443",
            "[::ffff:10.0.0.1]:80",
        ] {
            let addr: SocketAddr = text.parse().unwrap();
            assert_eq!(
                json(&|s| socket_addr(&Some(addr), s).unwrap()),
                format!("\"{addr}\"")
            );
            assert_eq!(
                json(&|s| ip_addr(&Some(addr.ip()), s).unwrap()),
                format!("\"{}\"", addr.ip())
            );
        }
    }
}
