//! Glance's `[import_filtering_opts]` for `web-download`: allowed or disallowed schemes,
//! hosts and ports (an allow-list, when set, wins over its deny-list), checked on the URL
//! and, after DNS resolution, on the address actually connected to, for the first request
//! and every redirect.
//!
//! Tessera refuses more addresses by default than Glance 33 (which blocks loopback and
//! link-local only): loopback, link-local (the cloud metadata service), private, shared,
//! unspecified, multicast and broadcast addresses are all refused unless the host is named in
//! `allowed_hosts`, as an operator who means to fetch from inside would do.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Redirects followed before giving up (as Python's urllib).
const MAX_REDIRECTS: usize = 10;
/// Time to connect to the server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest silence of the server, before the headers and between reads.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// The filtering rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriFilter {
    /// Schemes allowed (empty: any not disallowed).
    pub allowed_schemes: Vec<String>,
    /// Schemes refused (ignored when `allowed_schemes` is set).
    pub disallowed_schemes: Vec<String>,
    /// Hosts allowed (empty: any not disallowed); an allowed host may resolve to any address.
    pub allowed_hosts: Vec<String>,
    /// Hosts or addresses refused (ignored when `allowed_hosts` is set).
    pub disallowed_hosts: Vec<String>,
    /// Ports allowed (empty: any not disallowed).
    pub allowed_ports: Vec<u16>,
    /// Ports refused (ignored when `allowed_ports` is set).
    pub disallowed_ports: Vec<u16>,
}

impl Default for UriFilter {
    /// Glance's defaults.
    fn default() -> Self {
        UriFilter {
            allowed_schemes: vec!["http".into(), "https".into()],
            disallowed_schemes: Vec::new(),
            allowed_hosts: Vec::new(),
            disallowed_hosts: Vec::new(),
            allowed_ports: vec![80, 443],
            disallowed_ports: Vec::new(),
        }
    }
}

/// A URL the rules allow, with the address to connect to (pinned: the connection goes
/// there, not to whatever a second lookup would say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    /// The URL.
    pub url: reqwest::Url,
    /// Its host, as the request names it.
    pub host: String,
    /// The checked address.
    pub addr: SocketAddr,
}

/// Why a URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Whether `ip` is an address an unnamed host may not resolve to.
fn internal(ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_link_local()
                || v4.is_private()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                // Shared address space (carrier-grade NAT), 100.64.0.0/10.
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // Unique local fc00::/7 and link-local fe80::/10.
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

fn normalize(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

impl UriFilter {
    /// GETs `uri` with `headers`, following redirects by hand: each hop is checked by these
    /// rules and its connection pinned to the checked address. The successful response, or
    /// why there is none.
    pub async fn fetch(
        &self,
        uri: &str,
        headers: reqwest::header::HeaderMap,
    ) -> Result<reqwest::Response, String> {
        self.request(reqwest::Method::GET, uri, headers).await
    }

    /// [`fetch`](Self::fetch) with another method (`HEAD` for a size).
    pub async fn request(
        &self,
        method: reqwest::Method,
        uri: &str,
        headers: reqwest::header::HeaderMap,
    ) -> Result<reqwest::Response, String> {
        let mut next = uri.to_string();
        for _ in 0..=MAX_REDIRECTS {
            let hop = self.check(&next).await.map_err(|e| {
                if next == uri {
                    e.to_string()
                } else {
                    format!("Redirect to disallowed URL: {next}")
                }
            })?;
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(CONNECT_TIMEOUT)
                .read_timeout(READ_TIMEOUT)
                .resolve(&hop.host, hop.addr)
                .build()
                .map_err(|e| format!("cannot set up the download: {e}"))?;
            let resp = client
                .request(method.clone(), hop.url.clone())
                .headers(headers.clone())
                .send()
                .await
                .map_err(|e| format!("Failed to download {next}: {e}"))?;
            if resp.status().is_redirection() {
                let location = resp
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| format!("Redirect without a location from {next}"))?;
                next = hop
                    .url
                    .join(location)
                    .map_err(|e| format!("Bad redirect location {location}: {e}"))?
                    .to_string();
                tracing::info!(to = %next, "redirected");
                continue;
            }
            if !resp.status().is_success() {
                return Err(format!("Failed to download {next}: HTTP {}", resp.status()));
            }
            return Ok(resp);
        }
        Err(format!("Too many redirects fetching {uri}"))
    }

    /// Checks `uri` by scheme, host and port, resolves its host and picks an address the
    /// rules allow.
    pub async fn check(&self, uri: &str) -> Result<Allowed, Refused> {
        let refuse = |why: &str| Err(Refused(format!("{why} for external URI: {uri}")));
        let Ok(url) = reqwest::Url::parse(uri) else {
            return refuse("unparsable URI");
        };
        let scheme = url.scheme();
        let scheme_ok = if self.allowed_schemes.is_empty() {
            !self.disallowed_schemes.iter().any(|s| s == scheme)
        } else {
            self.allowed_schemes.iter().any(|s| s == scheme)
        };
        if !scheme_ok || !matches!(scheme, "http" | "https") {
            return refuse("scheme not allowed");
        }
        let host = url.host_str().map(normalize).unwrap_or_default();
        let named = self.allowed_hosts.contains(&host);
        let host_ok = if self.allowed_hosts.is_empty() {
            !self.disallowed_hosts.contains(&host)
        } else {
            named
        };
        if host.is_empty() || !host_ok {
            return refuse("host not allowed");
        }
        let explicit = url.port();
        let port_ok = explicit.is_none_or(|p| {
            if self.allowed_ports.is_empty() {
                !self.disallowed_ports.contains(&p)
            } else {
                self.allowed_ports.contains(&p)
            }
        });
        if !port_ok {
            return refuse("port not allowed");
        }
        let port = url.port_or_known_default().unwrap_or(80);
        let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => match tokio::net::lookup_host((host.as_str(), port)).await {
                Ok(found) => found.collect(),
                Err(e) => return refuse(&format!("failed to resolve host ({e})")),
            },
        };
        let denied = |a: &SocketAddr| {
            self.allowed_hosts.is_empty()
                && self
                    .disallowed_hosts
                    .iter()
                    .any(|h| h.parse::<IpAddr>().is_ok_and(|ip| ip == a.ip()))
        };
        let addr = addrs
            .into_iter()
            .find(|a| named || (!internal(a.ip()) && !denied(a)));
        match addr {
            Some(addr) => Ok(Allowed { url, host, addr }),
            None => refuse("no allowed addresses"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_ports() -> UriFilter {
        UriFilter {
            allowed_ports: Vec::new(),
            ..UriFilter::default()
        }
    }

    #[tokio::test]
    async fn the_defaults_refuse_internal_addresses() {
        let f = open_ports();
        for uri in [
            "http://127.0.0.1/x",
            "http://localhost/x",
            "http://169.254.169.254/latest/meta-data",
            "http://10.1.2.3/x",
            "http://172.16.0.1/x",
            "http://192.168.1.1/x",
            "http://100.64.0.1/x",
            "http://0.0.0.0/x",
            "http://[::1]/x",
            "http://[::ffff:127.0.0.1]/x",
            "http://[fd00::1]/x",
            "http://[fe80::1]/x",
        ] {
            let e = f.check(uri).await.unwrap_err();
            assert!(e.0.starts_with("no allowed addresses"), "{uri}: {e}");
        }
        assert!(f.check("http://93.184.215.14/x").await.is_ok());
    }

    #[tokio::test]
    async fn schemes_hosts_and_ports_follow_glances_lists() {
        let d = UriFilter::default();
        let e = |r: Result<Allowed, Refused>| r.unwrap_err().0;
        assert!(e(d.check("ftp://93.184.215.14/x").await).starts_with("scheme not allowed"));
        assert!(e(d.check("file:///etc/passwd").await).starts_with("scheme not allowed"));
        assert!(e(d.check("http://93.184.215.14:8080/x").await).starts_with("port not allowed"));
        assert!(d.check("https://93.184.215.14:443/x").await.is_ok());
        let deny = UriFilter {
            disallowed_hosts: vec!["93.184.215.14".into()],
            ..UriFilter::default()
        };
        assert!(e(deny.check("http://93.184.215.14/x").await).starts_with("host not allowed"));
        // Naming a host allows it whatever it resolves to.
        let named = UriFilter {
            allowed_hosts: vec!["127.0.0.1".into()],
            allowed_ports: Vec::new(),
            ..UriFilter::default()
        };
        let ok = named.check("http://127.0.0.1:8080/x").await.unwrap();
        assert_eq!(ok.addr, "127.0.0.1:8080".parse().unwrap());
        assert!(e(named.check("http://10.0.0.1/x").await).starts_with("host not allowed"));
    }
}
