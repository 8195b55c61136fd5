//! The floor under passthru-proxy's per-request cost: pingora forwarding every request to one
//! fixed upstream, with no routing, header policy, auth or metrics. The benchmark runs it beside
//! passthru-proxy and nginx so the cost pingora itself adds is measured, not guessed.
//!
//! `bare_pingora <listen> <upstream> [threads]`

use async_trait::async_trait;
use pingora::listeners::ListenerConfig;
use pingora::prelude::*;
use pingora::server::configuration::ServerConf;

/// The allocator passthru-proxy uses, tuned the same way, so the two differ only in what
/// passthru does per request.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Bare {
    upstream: std::net::SocketAddr,
}

#[async_trait]
impl ProxyHttp for Bare {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(&self, _: &mut Session, _: &mut ()) -> Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(self.upstream, false, String::new())))
    }
}

fn main() {
    passthru_proxy::allocator::tune();
    let mut args = std::env::args().skip(1);
    let usage = "usage: bare_pingora <listen> <upstream> [threads]";
    let listen = args.next().expect(usage);
    let upstream = args.next().expect(usage).parse().expect(usage);
    let threads = args.next().map_or(1, |t| t.parse().expect(usage));
    let conf = ServerConf {
        threads,
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut service = http_proxy_service(&server.configuration, Bare { upstream });
    // The listener passthru-proxy's plain listeners get (see `plain_l4_buffer`).
    service.add_listener(
        ListenerConfig::tcp(listen).l4_buffer(passthru_proxy::run::plain_l4_buffer()),
    );
    server.add_service(service);
    server.run_forever();
}
