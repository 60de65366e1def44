//! The node's single QUIC endpoint: dials peers for calls and serves their calls.

use super::error::LinkError;
use super::frame::{read_frame, write_frame, Service, MAX_FRAME, REPLY_ERR, REPLY_OK};
use super::tls::PeerTls;
use crate::certs::{identity_of, CertIdentity, PEER_SERVER_NAME};
use rustls_pki_types::CertificateDer;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::time::timeout;

/// Largest gossip datagram: fits the 1200-byte minimum QUIC MTU with headers to spare.
pub const MAX_DATAGRAM: usize = 1100;

/// Stream reset code for a request that could not be read (malformed, truncated, too slow).
const BAD_REQUEST: u32 = 1;
/// Connection close code when the node shuts its endpoint down.
const SHUTDOWN: u32 = 0;
/// Connection close code for a peer this node does not admit (no node id, revoked).
const REFUSED: u32 = 2;

/// Who is at the other end of a peer connection: where from, and the node its certificate
/// (verified against the cluster CA in the handshake) proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerIdentity {
    /// The connection's remote address.
    pub addr: SocketAddr,
    /// The node id and fingerprint of its certificate.
    pub cert: CertIdentity,
}

impl PeerIdentity {
    /// The node id the peer's certificate proves.
    pub fn node(&self) -> u64 {
        self.cert.node
    }

    /// Reads the identity of an established connection from its peer certificate.
    fn of(conn: &quinn::Connection) -> Result<Self, String> {
        let certs = conn
            .peer_identity()
            .and_then(|any| any.downcast::<Vec<CertificateDer<'static>>>().ok())
            .ok_or("the peer presented no certificate")?;
        let leaf = certs.first().ok_or("the peer presented no certificate")?;
        Ok(Self {
            addr: conn.remote_address(),
            cert: identity_of(leaf)?,
        })
    }
}

/// Answers calls (and gossip datagrams) from peers.
#[async_trait::async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Answers one call; `Err` reaches the caller as [`LinkError::Remote`].
    async fn handle(
        &self,
        service: Service,
        payload: Vec<u8>,
        peer: PeerIdentity,
    ) -> Result<Vec<u8>, String>;

    /// Receives one gossip datagram; must not block (it runs on the connection's read loop).
    fn datagram(&self, payload: Vec<u8>, peer: PeerIdentity) {
        // Nodes that run no gossip simply drop datagrams.
        let _ = (payload, peer);
    }

    /// Whether `peer` may talk to this node now (say, its certificate is not revoked). Asked
    /// after the handshake and again before every call and datagram, so a revocation that
    /// arrives later also ends an open connection. Must not block.
    fn admit(&self, peer: &PeerIdentity) -> Result<(), String> {
        let _ = peer;
        Ok(())
    }
}

/// Timeouts of a [`Transport`].
#[derive(Debug, Clone)]
pub struct TransportOptions {
    /// Longest wait for a QUIC + TLS handshake with a peer.
    pub connect_timeout: Duration,
    /// Longest time for one whole call (connect, send, handler, reply) unless given per call;
    /// also the longest a served stream may take to deliver its request.
    pub call_timeout: Duration,
}

impl Default for TransportOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(2),
            // Long enough for a 64 MiB frame on a slow link; Raft passes shorter ones per call.
            call_timeout: Duration::from_secs(30),
        }
    }
}

/// One connection slot per peer; the async lock makes concurrent callers share one handshake.
type Slot = Arc<tokio::sync::Mutex<Option<quinn::Connection>>>;

struct Inner {
    endpoint: quinn::Endpoint,
    /// Replaced by [`Transport::reload_tls`]; connections made before keep their certificate.
    client: Mutex<quinn::ClientConfig>,
    local_addr: SocketAddr,
    options: TransportOptions,
    peers: Mutex<HashMap<SocketAddr, Slot>>,
}

/// A node's QUIC endpoint, server and client at once; cheap to clone.
#[derive(Clone)]
pub struct Transport {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("local_addr", &self.inner.local_addr)
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// Binds the UDP socket with default timeouts; must run inside a tokio runtime.
    pub fn bind(addr: SocketAddr, tls: PeerTls) -> Result<Self, LinkError> {
        Self::bind_with(addr, tls, TransportOptions::default())
    }

    /// Binds the UDP socket with the given timeouts; must run inside a tokio runtime.
    pub fn bind_with(
        addr: SocketAddr,
        tls: PeerTls,
        options: TransportOptions,
    ) -> Result<Self, LinkError> {
        let (server, client) = quinn_configs(&tls);
        let endpoint = quinn::Endpoint::server(server, addr)
            .map_err(|source| LinkError::Bind { addr, source })?;
        let local_addr = endpoint
            .local_addr()
            .map_err(|source| LinkError::Bind { addr, source })?;
        Ok(Self {
            inner: Arc::new(Inner {
                endpoint,
                client: Mutex::new(client),
                local_addr,
                options,
                peers: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// Uses a renewed certificate (and CA bundle) from now on: new connections, both ways,
    /// present it; open connections carry on with the one they were made with.
    pub fn reload_tls(&self, tls: &PeerTls) {
        let (server, client) = quinn_configs(tls);
        self.inner.endpoint.set_server_config(Some(server));
        *self
            .inner
            .client
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = client;
    }

    /// The bound UDP address (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// Calls `service` on `peer` with the default call timeout and returns the reply payload.
    // Test-only until a caller wants the default timeout; the node passes one per call.
    #[cfg(test)]
    pub async fn call(
        &self,
        peer: SocketAddr,
        service: Service,
        payload: Vec<u8>,
    ) -> Result<Vec<u8>, LinkError> {
        self.call_with_timeout(peer, service, payload, self.inner.options.call_timeout)
            .await
    }

    /// Calls `service` on `peer`, failing with [`LinkError::Timeout`] after `limit`.
    pub async fn call_with_timeout(
        &self,
        peer: SocketAddr,
        service: Service,
        payload: Vec<u8>,
        limit: Duration,
    ) -> Result<Vec<u8>, LinkError> {
        self.call_checked(peer, None, service, payload, limit).await
    }

    /// Calls `service` on node `node` at `peer`: as [`Transport::call_with_timeout`], and
    /// refused ([`LinkError::Refused`], nothing sent) unless the server's certificate is
    /// that node's, so a peer at a stale or hijacked address cannot pose as it.
    pub async fn call_node(
        &self,
        node: u64,
        peer: SocketAddr,
        service: Service,
        payload: Vec<u8>,
        limit: Duration,
    ) -> Result<Vec<u8>, LinkError> {
        self.call_checked(peer, Some(node), service, payload, limit)
            .await
    }

    async fn call_checked(
        &self,
        peer: SocketAddr,
        node: Option<u64>,
        service: Service,
        payload: Vec<u8>,
        limit: Duration,
    ) -> Result<Vec<u8>, LinkError> {
        if payload.len() > MAX_FRAME {
            return Err(LinkError::FrameTooLarge {
                len: payload.len(),
                max: MAX_FRAME,
            });
        }
        match timeout(limit, self.call_inner(peer, node, service, &payload)).await {
            Ok(result) => result,
            Err(_) => Err(LinkError::Timeout { peer, after: limit }),
        }
    }

    async fn call_inner(
        &self,
        peer: SocketAddr,
        node: Option<u64>,
        service: Service,
        payload: &[u8],
    ) -> Result<Vec<u8>, LinkError> {
        let mut conn = self.connection(peer).await?;
        let (mut send, mut recv) = match conn.open_bi().await {
            Ok(streams) => streams,
            // The cached connection died under us; nothing was sent yet, so one retry on a
            // fresh connection cannot duplicate the request.
            Err(_) => {
                conn = self.connection(peer).await?;
                conn.open_bi()
                    .await
                    .map_err(|e| LinkError::from_connection(peer, e))?
            }
        };
        if let Some(node) = node {
            check_server(&conn, peer, node)?;
        }
        write_frame(&mut send, peer, service.tag(), payload).await?;
        let (tag, body) = read_frame(&mut recv, peer).await?;
        match tag {
            REPLY_OK => Ok(body),
            REPLY_ERR => Err(LinkError::Remote {
                peer,
                message: String::from_utf8_lossy(&body).into_owned(),
            }),
            other => Err(LinkError::Protocol {
                peer,
                reason: format!("unknown reply tag {other}"),
            }),
        }
    }

    /// Sends one gossip datagram (at most [`MAX_DATAGRAM`] bytes, unreliable) to `peer`.
    pub async fn send_datagram(&self, peer: SocketAddr, payload: Vec<u8>) -> Result<(), LinkError> {
        if payload.len() > MAX_DATAGRAM {
            return Err(LinkError::DatagramTooLarge {
                len: payload.len(),
                max: MAX_DATAGRAM,
            });
        }
        let limit = self.inner.options.call_timeout;
        let conn = match timeout(limit, self.connection(peer)).await {
            Ok(conn) => conn?,
            Err(_) => return Err(LinkError::Timeout { peer, after: limit }),
        };
        conn.send_datagram(payload.into())
            .map_err(|source| LinkError::Datagram { peer, source })
    }

    /// The live cached connection to `peer`, or a new one.
    async fn connection(&self, peer: SocketAddr) -> Result<quinn::Connection, LinkError> {
        let slot = {
            // A poisoned map is still consistent: entries are only ever inserted.
            let mut peers = self
                .inner
                .peers
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            peers.entry(peer).or_default().clone()
        };
        let mut cached = slot.lock().await;
        if let Some(conn) = cached.as_ref() {
            if conn.close_reason().is_none() {
                return Ok(conn.clone());
            }
        }
        *cached = None;
        let client = self
            .inner
            .client
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let connecting = self
            .inner
            .endpoint
            .connect_with(client, peer, PEER_SERVER_NAME)
            .map_err(|source| LinkError::Connect { peer, source })?;
        let after = self.inner.options.connect_timeout;
        let conn = match timeout(after, connecting).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return Err(LinkError::from_connection(peer, e)),
            Err(_) => return Err(LinkError::ConnectTimeout { peer, after }),
        };
        *cached = Some(conn.clone());
        Ok(conn)
    }

    /// How many live connections this node has dialled (tests check handshake sharing).
    #[cfg(test)]
    pub(crate) fn cached_connections(&self) -> usize {
        let peers = self
            .inner
            .peers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        peers
            .values()
            .filter(|slot| {
                slot.try_lock()
                    .is_ok_and(|c| c.as_ref().is_some_and(|c| c.close_reason().is_none()))
            })
            .count()
    }

    /// [`Transport::serve`] on a task of its own.
    pub fn spawn_serve(&self, handler: Arc<dyn Handler>) -> tokio::task::JoinHandle<()> {
        let transport = self.clone();
        tokio::spawn(async move { transport.serve(handler).await })
    }

    /// Accepts peer connections and answers their calls until [`Transport::close`].
    ///
    /// Every connection and every stream gets its own task, so one slow call blocks nothing.
    pub async fn serve(&self, handler: Arc<dyn Handler>) {
        let handshake_limit = self.inner.options.connect_timeout;
        let request_limit = self.inner.options.call_timeout;
        tracing::info!(addr = %self.local_addr(), "serving peers over QUIC");
        while let Some(incoming) = self.inner.endpoint.accept().await {
            let handler = handler.clone();
            tokio::spawn(async move {
                let peer = incoming.remote_address();
                let conn = match timeout(handshake_limit, incoming).await {
                    Ok(Ok(conn)) => conn,
                    Ok(Err(e)) => {
                        // Typically a peer without a cluster certificate: worth a warning.
                        tracing::warn!(%peer, error = %e, "peer handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::warn!(%peer, "peer handshake timed out");
                        return;
                    }
                };
                let identity = match PeerIdentity::of(&conn) {
                    Ok(identity) => identity,
                    Err(reason) => {
                        tracing::warn!(%peer, %reason, "peer refused: no node identity");
                        conn.close(REFUSED.into(), reason.as_bytes());
                        return;
                    }
                };
                if !admitted(&conn, &identity, handler.as_ref()) {
                    return;
                }
                serve_connection(conn, identity, handler, request_limit).await;
            });
        }
    }

    /// Closes every connection and the endpoint; `serve` returns and calls fail afterwards.
    pub async fn close(&self) {
        self.inner.endpoint.close(SHUTDOWN.into(), b"shutdown");
        self.inner.endpoint.wait_idle().await;
    }
}

/// Refuses a server whose certificate is not node `node`'s.
fn check_server(conn: &quinn::Connection, peer: SocketAddr, node: u64) -> Result<(), LinkError> {
    let reason = match PeerIdentity::of(conn) {
        Ok(server) if server.node() == node => return Ok(()),
        Ok(server) => format!(
            "expected node {node} at {peer}, but its certificate is node {}'s",
            server.node()
        ),
        Err(reason) => reason,
    };
    tracing::warn!(%peer, node, %reason, "peer refused");
    Err(LinkError::Refused { peer, reason })
}

/// Asks the handler whether `peer` may talk to this node; if not, logs why and closes the
/// connection.
fn admitted(conn: &quinn::Connection, peer: &PeerIdentity, handler: &dyn Handler) -> bool {
    match handler.admit(peer) {
        Ok(()) => true,
        Err(reason) => {
            tracing::warn!(
                peer = %peer.addr,
                node = peer.node(),
                fingerprint = %peer.cert.fingerprint_hex(),
                %reason,
                "peer refused"
            );
            conn.close(REFUSED.into(), reason.as_bytes());
            false
        }
    }
}

/// Reads datagrams and accepts streams of one incoming connection until it closes.
async fn serve_connection(
    conn: quinn::Connection,
    peer: PeerIdentity,
    handler: Arc<dyn Handler>,
    request_limit: Duration,
) {
    let datagrams = {
        let conn = conn.clone();
        let handler = handler.clone();
        tokio::spawn(async move {
            while let Ok(bytes) = conn.read_datagram().await {
                if !admitted(&conn, &peer, handler.as_ref()) {
                    return;
                }
                handler.datagram(bytes.to_vec(), peer);
            }
        })
    };
    loop {
        match conn.accept_bi().await {
            Ok((send, recv)) => {
                if !admitted(&conn, &peer, handler.as_ref()) {
                    break;
                }
                let handler = handler.clone();
                tokio::spawn(serve_stream(send, recv, peer, handler, request_limit));
            }
            Err(e) => {
                tracing::debug!(peer = %peer.addr, node = peer.node(), error = %e, "peer connection closed");
                break;
            }
        }
    }
    datagrams.abort();
}

/// Reads one request frame, runs the handler and writes the reply frame.
async fn serve_stream(
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    identity: PeerIdentity,
    handler: Arc<dyn Handler>,
    request_limit: Duration,
) {
    let peer = identity.addr;
    let (tag, payload) = match timeout(request_limit, read_frame(&mut recv, peer)).await {
        Ok(Ok(request)) => request,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "bad request stream");
            let _ = send.reset(BAD_REQUEST.into());
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "request not received in time");
            let _ = send.reset(BAD_REQUEST.into());
            return;
        }
    };
    let reply = match Service::from_tag(tag) {
        Some(service) => handler.handle(service, payload, identity).await,
        None => Err(format!("unknown service tag {tag}")),
    };
    let (tag, body) = match reply {
        Ok(body) if body.len() <= MAX_FRAME => (REPLY_OK, body),
        Ok(body) => (
            REPLY_ERR,
            format!(
                "reply of {} bytes exceeds the {MAX_FRAME}-byte frame limit",
                body.len()
            )
            .into_bytes(),
        ),
        Err(message) => (REPLY_ERR, message.into_bytes()),
    };
    if let Err(e) = write_frame(&mut send, peer, tag, &body).await {
        tracing::debug!(%peer, error = %e, "reply not delivered");
    }
}

/// The QUIC server and client configurations of a node identity.
fn quinn_configs(tls: &PeerTls) -> (quinn::ServerConfig, quinn::ClientConfig) {
    let mut server = quinn::ServerConfig::with_crypto(tls.server.clone());
    server.transport_config(Arc::new(transport_config(true)));
    let mut client = quinn::ClientConfig::new(tls.client.clone());
    client.transport_config(Arc::new(transport_config(false)));
    (server, client)
}

/// Calls one peer may have in flight on a connection to this node.
pub(crate) const MAX_STREAMS: u32 = 128;

/// QUIC settings tuned for bulk chunk transfer between nodes in one site.
fn transport_config(serving: bool) -> quinn::TransportConfig {
    const STREAM_WINDOW: u32 = 64 * 1024 * 1024;
    const CONNECTION_WINDOW: u32 = 256 * 1024 * 1024;
    let mut config = quinn::TransportConfig::default();
    // One full 64 MiB frame may be in flight per stream without waiting for window updates.
    config.stream_receive_window(STREAM_WINDOW.into());
    config.receive_window(CONNECTION_WINDOW.into());
    config.send_window(u64::from(CONNECTION_WINDOW));
    // Keep-alives detect a dead peer within the idle timeout and keep NAT/conntrack state warm.
    config.keep_alive_interval(Some(Duration::from_secs(1)));
    // 10 s (in ms): long enough to ride out a GC-like stall, short enough to fail over.
    config.max_idle_timeout(Some(quinn::VarInt::from_u32(10_000).into()));
    // Calls only flow from the dialling side; the accepting side never opens streams. A caller
    // past the limit waits for a stream to finish, so the cap bounds a peer's concurrent
    // calls (and the frames they hold) without failing any.
    let streams = if serving { MAX_STREAMS } else { 0 };
    config.max_concurrent_bidi_streams(quinn::VarInt::from_u32(streams));
    config.max_concurrent_uni_streams(0u32.into());
    config.datagram_receive_buffer_size(Some(1024 * 1024));
    config
}
