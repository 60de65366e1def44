//! The public API's HTTP server: HTTP/1.1 and HTTP/2 over hyper, with the limits that keep
//! any one client from starving the others: a deadline for a request's head (which is also
//! how long an idle keep-alive connection is kept), and a cap on open connections, past which
//! a new connection gets a 503 and is closed at once. Request bodies have their own timeout
//! (`api`'s router) and uploads their own caps (`domain`'s admission). With `--tls-cert` the
//! server speaks TLS (the handshake under the same deadline as a request head), and marks
//! each request [`tessera_api::OverTls`] so links it returns say `https`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// Limits of the HTTP server itself (`[api]` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Longest time a client may take to send a request's head; also the longest an idle
    /// HTTP/1 keep-alive connection is kept.
    pub header_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_timeout: Duration::from_secs(30),
            max_connections: 1024,
        }
    }
}

/// Largest request head (request line and headers) accepted, like the 64 KiB buffer in
/// front of Glance; past it hyper answers 431 Request Header Fields Too Large.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// How long in-flight requests may run after a shutdown signal.
const DRAIN: Duration = Duration::from_secs(10);

/// How long a refused connection is given to take its 503.
const REFUSAL_TIME: Duration = Duration::from_secs(1);

/// Accepts HTTP/1.1 and HTTP/2 connections (over TLS with `tls`) under `limits` until
/// `shutdown`, then drains.
pub async fn serve_http(
    listener: TcpListener,
    app: axum::Router,
    limits: HttpLimits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;

    let mut builder = Builder::new(TokioExecutor::new());
    // Without a timer hyper keeps no header deadline at all.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    builder.http2().timer(TokioTimer::new());
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let tls_app = app.clone().layer(axum::Extension(tessera_api::OverTls));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, max = limits.max_connections, "connection refused: at the connection cap");
            tokio::spawn(refuse(stream, limits.max_connections));
            continue;
        };
        let Some(acceptor) = &tls else {
            let service = TowerToHyperService::new(app.clone());
            let conn = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .into_owned();
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                drop(slot);
            });
            continue;
        };
        let (acceptor, builder, app) = (acceptor.clone(), builder.clone(), tls_app.clone());
        // Registered before the handshake so a drain waits for it too.
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let stream =
                match tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                };
            let service = TowerToHyperService::new(app);
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    tokio::select! {
        _ = graceful.shutdown() => {},
        _ = tokio::time::sleep(DRAIN) => tracing::warn!("connections still open after the drain period"),
    }
}

/// Answers a connection over the cap with a 503 in Glance's error page and closes it, within
/// [`REFUSAL_TIME`] whatever the client does.
async fn refuse(mut stream: TcpStream, max: usize) {
    let status = StatusCode::SERVICE_UNAVAILABLE;
    let page = tessera_api::error::error_page(
        status,
        &format!("The server is at its limit of {max} connections; retry later."),
    );
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/html; charset=UTF-8\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n",
        page.len()
    );
    let answer = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(page.as_bytes()).await?;
        stream.shutdown().await?;
        // Read what the client sent, so closing does not reset the connection under the
        // answer it has not read yet.
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<(), std::io::Error>(())
    };
    // Whatever happened, the connection is dropped: a refused client holds nothing.
    let _ = tokio::time::timeout(REFUSAL_TIME, answer).await;
}
