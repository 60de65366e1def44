//! The testbed's one HTTP client: blocking reqwest with bounded connect and overall timeouts
//! and no proxies (every target is a local node). [`get`] probes nodes; [`Client`] carries the
//! chaos workload's calls.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use reqwest::blocking::{RequestBuilder, Response};
use reqwest::Method;

/// Token of the testbed's own probes (an admin).
pub const ADMIN_TOKEN: &str = "testbed:testbed:admin,member,reader";

/// Longest wait for a connection to a node.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Longest a probe may take, body included.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// A blocking client whose every request must finish (body included) within one timeout.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::blocking::Client,
    timeout: Duration,
}

impl Client {
    /// A client whose requests time out after `timeout`, reusing connections.
    pub fn new(timeout: Duration) -> reqwest::Result<Client> {
        Self::build(timeout, reqwest::blocking::Client::builder())
    }

    fn build(
        timeout: Duration,
        builder: reqwest::blocking::ClientBuilder,
    ) -> reqwest::Result<Client> {
        let http = builder
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(timeout)
            .no_proxy()
            .build()?;
        Ok(Client { http, timeout })
    }

    /// A request to `url`; the timeout covers reading the body too.
    pub fn request(&self, method: Method, url: &str) -> RequestBuilder {
        self.http.request(method, url).timeout(self.timeout)
    }
}

/// The probe client, built on first use. It keeps no idle connections, so a probe of a
/// restarted or paused node never reuses a stale one.
fn probe() -> reqwest::Result<&'static Client> {
    static PROBE: OnceLock<Client> = OnceLock::new();
    if let Some(c) = PROBE.get() {
        return Ok(c);
    }
    let c = Client::build(
        PROBE_TIMEOUT,
        reqwest::blocking::Client::builder().pool_max_idle_per_host(0),
    )?;
    Ok(PROBE.get_or_init(|| c))
}

/// GETs `path` from `addr` and returns the status code and body.
pub fn get(addr: SocketAddr, path: &str, token: &str) -> reqwest::Result<(u16, String)> {
    let resp: Response = probe()?
        .request(Method::GET, &format!("http://{addr}{path}"))
        .header("X-Auth-Token", token)
        .send()?;
    let status = resp.status().as_u16();
    Ok((status, resp.text()?))
}
