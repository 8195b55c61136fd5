//! `passthru-proxy check --against http://ADMIN FILE`: what loading FILE would change on a
//! running proxy, from the table its admin listener serves at `/routes`.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{bail, Context};
use passthru_routes::{RoutesFile, TableDiff};

/// The table a running proxy serves (header secrets masked), and the sha256 of its bytes.
pub fn served_table(admin: &str) -> anyhow::Result<(RoutesFile, String)> {
    let authority = admin
        .strip_prefix("http://")
        .with_context(|| format!("{admin:?}: give the admin listener as http://HOST:PORT"))?
        .trim_end_matches('/');
    let addr = authority
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {authority}"))?
        .next()
        .with_context(|| format!("{authority} resolves to no address"))?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .with_context(|| format!("cannot connect to the admin listener at {authority}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "GET /routes HTTP/1.0\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream
        .take(512 << 20)
        .read_to_end(&mut response)
        .with_context(|| format!("reading /routes from {authority}"))?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("the admin listener's answer has no header end")?;
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let body = &response[split + 4..];
    let status = head.split_whitespace().nth(1).unwrap_or_default();
    if status != "200" {
        bail!(
            "{authority}/routes answered {status}: {}",
            String::from_utf8_lossy(body)
        );
    }
    let sha256 = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("x-passthru-sha256")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_default();
    let file = RoutesFile::parse(body).map_err(|problems| {
        anyhow::anyhow!("{authority}/routes is not a routes table: {problems}")
    })?;
    Ok((file, sha256))
}

/// What loading `local` would change on a proxy serving `served`, by route id. Header values
/// are compared as `/routes` shows them: a changed literal secret does not show.
pub fn changes(served: &RoutesFile, local: &RoutesFile) -> TableDiff {
    let local = local.masked();
    TableDiff::between(Some(served), &local)
}
