//! `tessera serve`: wires metadata, chunk store, reaper and the API together and runs them
//! until SIGTERM or Ctrl-C.

use crate::config::Config;
use crate::live_chunks::MetaLiveChunks;
use anyhow::Context;
use std::sync::Arc;
use tessera_api::AppState;
use tessera_raft::Meta;
use tessera_replication::Data;

/// Runs one node until a shutdown signal.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating data dir {}", cfg.data_dir.display()))?;
    let meta = Meta::open(&cfg.data_dir.join("meta"), cfg.node_id)
        .await
        .context("opening the metadata store")?;
    let data = Data::open(&cfg.data_dir.join("chunks")).context("opening the chunk store")?;
    let reaper = tokio::spawn(reap_forever(
        data.clone(),
        MetaLiveChunks(meta.clone()),
        cfg.reaper_interval,
        cfg.reaper_grace,
    ));
    let app = tessera_api::router(AppState {
        meta: meta.clone(),
        data,
        config: Arc::new(cfg.api.clone()),
    });
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("binding the API to {}", cfg.listen))?;
    tracing::info!(listen = %cfg.listen, data_dir = %cfg.data_dir.display(), node_id = cfg.node_id, "tessera node serving");
    serve_http(listener, app).await;
    reaper.abort();
    meta.shutdown()
        .await
        .context("stopping the metadata store")?;
    tracing::info!("tessera node stopped");
    Ok(())
}

/// Largest request head (request line and headers) accepted, like the 64 KiB buffer in
/// front of Glance; past it hyper answers 431 Request Header Fields Too Large.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// How long in-flight requests may run after a shutdown signal.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Accepts HTTP/1.1 and HTTP/2 connections until a shutdown signal, then drains.
async fn serve_http(listener: tokio::net::TcpListener, app: axum::Router) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;

    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().max_buf_size(MAX_HEAD_BYTES);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown_signal());
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    tokio::select! {
        _ = graceful.shutdown() => {},
        _ = tokio::time::sleep(DRAIN) => tracing::warn!("connections still open after the drain period"),
    }
}

/// Periodically deletes chunks no image references (after the grace delay).
async fn reap_forever(
    data: Data,
    live: MetaLiveChunks,
    interval: std::time::Duration,
    grace: std::time::Duration,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match data.reap_once(&live, grace).await {
            Ok(report) => tracing::info!(?report, "reaper pass"),
            Err(e) => tracing::warn!(error = %e, "reaper pass failed"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested");
}
