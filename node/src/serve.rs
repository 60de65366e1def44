//! `tessera serve`: wires metadata, chunk store, background workers and the API together and
//! runs them until SIGTERM or Ctrl-C.

use crate::api_tls::ApiTls;
use crate::certs::{check_node_dir, NodeIdentityFiles};
use crate::cluster::{
    follow_membership, Addresses, Advert, ClusterMetaSpace, Gossip, GossipFrom, GossipReports,
    GossipTask, PeerHandler, QuicChunks, QuicRaft, INBOX,
};
use crate::config::{Auth, ClusterConfig, Config};
use crate::http_server::serve_http;
use crate::keystone::{KeystoneAuth, KeystoneClient, KeystoneLimits};
use crate::orchestration::NodeAdmin;
use crate::space::Volume;
use crate::transport::{PeerTls, Transport};
use crate::wiring::{MetaCacheImages, MetaImageRecords, MetaLiveChunks};
use anyhow::Context;
use std::sync::Arc;
use tessera_api::{ApiConfig, AppState};
use tessera_domain::limits::LimitSource;
use tessera_domain::tasks::TaskExecutor;
use tessera_domain::Glance;
use tessera_raft::{Meta, MetaConfig};
use tessera_replication::{
    Auditor, Data, ImageCache, NodeInfo, Prefetcher, QuorumConfig, Reaper, Replicator, Workers,
};
use tokio::sync::{mpsc, watch};

/// The API's settings with the node's way of identifying callers wired in, and the source
/// of unified limits if they are enforced.
fn api_config(cfg: &Config) -> anyhow::Result<(ApiConfig, Option<Arc<dyn LimitSource>>)> {
    let mut api = cfg.api.clone();
    let mut limits: Option<Arc<dyn LimitSource>> = None;
    match &cfg.auth {
        Auth::Noauth => tracing::warn!(
            listen = %cfg.listen,
            "auth mode noauth: the token names the caller, so anyone who reaches the API \
             can act as any user, admin included; use --auth keystone in production"
        ),
        Auth::Keystone(k) => {
            let client = Arc::new(
                KeystoneClient::new(k.credentials.clone(), k.http_timeout)
                    .context("setting up the Keystone client")?,
            );
            tracing::info!(auth_url = %k.credentials.auth_url, "auth mode keystone");
            if let Some(endpoint) = &k.limits {
                tracing::info!(?endpoint, "unified limits enforced");
                limits = Some(Arc::new(KeystoneLimits::new(
                    client.clone(),
                    endpoint.clone(),
                )));
            }
            api.auth.keystone = Some(Arc::new(KeystoneAuth::new(
                client,
                k.token_cache_time.as_secs_f64(),
                k.www_authenticate_uri.clone(),
            )));
        }
    }
    Ok((api, limits))
}

/// Runs one node until a shutdown signal.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating data dir {}", cfg.data_dir.display()))?;
    // Import plugins' files of runs a stop cut short; no task runs on this node yet.
    if let Err(e) = std::fs::remove_dir_all(&cfg.import.scratch_dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(error = %e, "could not clear the import scratch folder");
        }
    }
    std::fs::create_dir_all(&cfg.space.metadata_dir)
        .with_context(|| format!("creating metadata dir {}", cfg.space.metadata_dir.display()))?;
    let (meta, data, transport, gossip) = match &cfg.cluster {
        None => {
            let meta = Meta::open(&cfg.space.metadata_dir, cfg.node_id)
                .await
                .context("opening the metadata store")?;
            let data =
                Data::open(&cfg.data_dir.join("chunks")).context("opening the chunk store")?;
            (meta, data, None, None)
        }
        Some(cluster) => {
            let (meta, data, transport, gossip) = start_clustered(&cfg, cluster).await?;
            (meta, data, Some(transport), Some(gossip))
        }
    };
    data.store().set_reserve(chunk_volume(&cfg).store_reserve());
    let metadata = Volume::metadata(&cfg.space);
    match &gossip {
        Some(g) => meta.set_space(Arc::new(ClusterMetaSpace {
            local: metadata,
            gossip: g.snapshots.clone(),
        })),
        None => meta.set_space(Arc::new(metadata)),
    }
    let (api, limits) = api_config(&cfg)?;
    let cache = cfg
        .image_cache
        .map(|max_size| ImageCache::open(data.clone(), &cfg.data_dir, max_size))
        .transpose()
        .context("opening the image cache")?;
    let glance = Glance::new(meta.clone(), data.clone(), cfg.api.domain())
        .with_cache(cache.clone())
        .with_policy(cfg.api.policy.clone())
        .with_protections(cfg.api.protections.clone())
        .with_limits(limits)
        .with_import(cfg.import.clone())
        .with_image_fields(Arc::new(tessera_api::CreateFields))
        .with_stores(cfg.stores.clone());
    let workers = spawn_workers(&cfg, &meta, &data, &glance)?;
    if let Some(cache) = cache {
        workers.spawn(Prefetcher::new(cache, MetaCacheImages(meta.clone())));
    }
    let admin = NodeAdmin::new(
        meta.clone(),
        data,
        gossip.as_ref().map(|g| GossipReports(g.snapshots.clone())),
        &workers,
    );
    let app = tessera_api::router(AppState {
        glance,
        config: Arc::new(api),
        admin: Arc::new(admin),
        workers: workers.clone(),
    });
    let tls = match &cfg.tls {
        None => None,
        Some(files) => {
            let tls = ApiTls::load(files.clone()).context("loading the API certificate")?;
            tokio::spawn(reload_api_cert_on_hangup(tls.clone()));
            Some(tls.acceptor().clone())
        }
    };
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("binding the API to {}", cfg.listen))?;
    tracing::info!(listen = %cfg.listen, https = tls.is_some(), data_dir = %cfg.data_dir.display(), node_id = cfg.node_id, "tessera node serving");
    let failed = tokio::select! {
        () = serve_http(listener, app, cfg.http, tls, shutdown_signal()) => None,
        e = meta.fatal() => Some(e),
    };
    workers.shutdown();
    if let Some(e) = failed {
        // Fail-stop: a node whose metadata store died would answer 500 forever; exiting lets
        // its supervisor restart it, and it recovers from its log and the leader.
        tracing::error!(error = %e, "metadata store failed; stopping this node");
        anyhow::bail!("metadata store failed: {e}");
    }
    if let Some(g) = &gossip {
        // Peers stop placing chunks here now rather than once their probes fail.
        g.leave().await;
    }
    meta.shutdown()
        .await
        .context("stopping the metadata store")?;
    if let Some(t) = transport {
        t.close().await;
    }
    tracing::info!("tessera node stopped");
    Ok(())
}

/// Brings up the peer endpoint, the replicated chunk store, gossip and Raft, and joins the
/// cluster when asked to and not yet a member.
async fn start_clustered(
    cfg: &Config,
    cluster: &ClusterConfig,
) -> anyhow::Result<(Meta, Data, Transport, Gossip)> {
    let files = NodeIdentityFiles::in_dir(&cluster.certs, &cluster.node_name);
    check_node_dir(&files, cfg.node_id, cluster.allow_ca_key)
        .context("checking the node certificate")?;
    let tls = PeerTls::from_files(&files).context("loading the node certificate")?;
    let transport =
        Transport::bind(cluster.peer_listen, tls).context("binding the peer endpoint")?;
    tokio::spawn(reload_peer_certs_on_hangup(
        transport.clone(),
        files,
        cfg.node_id,
        cluster.allow_ca_key,
    ));
    let addresses = Addresses::default();
    addresses.set([(cfg.node_id, cluster.peer_listen)].into());
    let (view_tx, view_rx) = watch::channel(vec![NodeInfo::new(
        cfg.node_id,
        cluster.zone.clone(),
        cluster.capacity,
    )]);
    if let Some(delay) = cluster.unsafe_write_behind {
        tracing::warn!(
            delay_ms = delay.as_millis() as u64,
            "UNSAFE write-behind is on: uploads are acknowledged before their chunks are stored \
             anywhere, and a crash loses them (chaos harness self-test only)"
        );
    }
    let data = Data::clustered(
        &cfg.data_dir.join("chunks"),
        cfg.node_id,
        view_rx,
        Arc::new(QuicChunks::new(transport.clone(), addresses.clone())),
        QuorumConfig {
            unsafe_write_behind: cluster.unsafe_write_behind,
            ..QuorumConfig::with_r(cluster.replicas)
        },
    )
    .context("opening the chunk store")?;
    let (gossip_tx, gossip_inbox) = mpsc::channel(INBOX);
    let handler = Arc::new(PeerHandler::new(data.chunk_service(), gossip_tx));
    transport.spawn_serve(handler.clone());
    // Before joining, so the members know this node by the time Raft adds it.
    let gossip = start_gossip(cfg, cluster, &transport, &addresses, &data, gossip_inbox);

    let mut mc = MetaConfig::new(
        cfg.node_id,
        cluster.peer_listen.to_string(),
        Arc::new(QuicRaft::new(transport.clone())),
    );
    mc.bootstrap = cluster.join.is_none();
    mc.max_voters = cluster.max_voters;
    mc.snapshot_logs = cluster.snapshot_logs;
    let meta = Meta::start(&cfg.space.metadata_dir, mc)
        .await
        .context("starting the metadata store")?;
    handler.set_meta(meta.clone());
    if let Some(seed) = cluster.join {
        join(&meta, cfg.node_id, seed).await?;
    }
    tokio::spawn(follow_membership(
        meta.clone(),
        gossip.snapshots.clone(),
        view_tx,
        addresses,
    ));
    tracing::info!(peer = %cluster.peer_listen, name = %cluster.node_name, "peer endpoint serving");
    Ok((meta, data, transport, gossip))
}

/// The node's SIGHUPs, or `None` (logged) if they cannot be listened for.
fn hangups() -> Option<tokio::signal::unix::Signal> {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; certificates reload only on restart");
            None
        }
    }
}

/// Loads a renewed API certificate on each SIGHUP; a bad one is logged and the current one
/// kept.
async fn reload_api_cert_on_hangup(tls: ApiTls) {
    let Some(mut hangups) = hangups() else { return };
    while hangups.recv().await.is_some() {
        match tls.reload() {
            Ok(()) => tracing::info!(cert = %tls.cert_path().display(), "API certificate reloaded"),
            Err(e) => {
                tracing::error!(error = %e, "API certificate not reloaded; keeping the current one")
            }
        }
    }
}

/// Loads a renewed node certificate (and CA bundle) on each SIGHUP, after the same checks as
/// at start; a bad one is logged and the current one kept. Peers accept old and new alike
/// while both are valid and unrevoked, so rotation needs no restart anywhere.
async fn reload_peer_certs_on_hangup(
    transport: Transport,
    files: NodeIdentityFiles,
    node_id: u64,
    allow_ca_key: bool,
) {
    let Some(mut hangups) = hangups() else { return };
    while hangups.recv().await.is_some() {
        let loaded = check_node_dir(&files, node_id, allow_ca_key)
            .map_err(anyhow::Error::from)
            .and_then(|()| PeerTls::from_files(&files).map_err(anyhow::Error::from));
        match loaded {
            Ok(tls) => {
                transport.reload_tls(&tls);
                tracing::info!(cert = %files.cert.display(), "peer certificate reloaded");
            }
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "peer certificate not reloaded; keeping the current one")
            }
        }
    }
}

/// Starts gossip over the peer endpoint, advertising this node.
fn start_gossip(
    cfg: &Config,
    cluster: &ClusterConfig,
    transport: &Transport,
    addresses: &Addresses,
    data: &Data,
    inbox: mpsc::Receiver<(GossipFrom, Vec<u8>)>,
) -> Gossip {
    let advert = Advert {
        node: cfg.node_id,
        seq: 0,
        name: cluster.node_name.clone(),
        api: cfg.listen,
        peer: cluster.peer_listen,
        zone: cluster.zone.clone(),
        capacity: cluster.capacity,
        free_bytes: 0,
        version: env!("CARGO_PKG_VERSION").into(),
        chunks: 0,
        chunk_bytes: 0,
        full: false,
        metadata_full: false,
    };
    GossipTask {
        advert,
        timings: cluster.gossip,
        seed: cluster.join,
        inbox,
        transport: transport.clone(),
        addresses: addresses.clone(),
    }
    .spawn(
        [chunk_volume(cfg), Volume::metadata(&cfg.space)],
        data.store().clone(),
    )
}

/// The volume of the node's chunk store, with its reserve.
fn chunk_volume(cfg: &Config) -> Volume {
    Volume::chunks(&cfg.space, &cfg.data_dir.join("chunks"))
}

/// How long a joining node keeps asking the seed before giving up.
const JOIN_PATIENCE: std::time::Duration = std::time::Duration::from_secs(120);

/// Joins through `seed` unless this node is already a member (a restart).
#[tracing::instrument(name = "cluster_join", skip(meta))]
async fn join(meta: &Meta, node_id: u64, seed: std::net::SocketAddr) -> anyhow::Result<()> {
    let member = |s: &tessera_raft::ClusterStatus| {
        s.voters.contains_key(&node_id) || s.learners.contains_key(&node_id)
    };
    if meta.status().is_ok_and(|s| member(&s)) {
        tracing::info!("already a member; not joining again");
        return Ok(());
    }
    tracing::info!("joining the cluster");
    let deadline = tokio::time::Instant::now() + JOIN_PATIENCE;
    let mut backoff = std::time::Duration::from_millis(200);
    loop {
        // The seed's id is not known up front; the transport routes by address only.
        match meta.join_cluster(0, &seed.to_string()).await {
            Ok(()) => {
                tracing::info!(%seed, "joined the cluster");
                return Ok(());
            }
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(%seed, error = %e, "join failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(std::time::Duration::from_secs(5));
            }
            Err(e) => return Err(e).context(format!("joining the cluster through {seed}")),
        }
    }
}

/// Starts the node's background loops: the reaper, the auditor, the replicator and the
/// task executor.
fn spawn_workers(
    cfg: &Config,
    meta: &Meta,
    data: &Data,
    glance: &Glance,
) -> anyhow::Result<Workers> {
    let workers = Workers::new();
    workers.spawn(Reaper::new(
        data.clone(),
        MetaLiveChunks(meta.clone()),
        MetaImageRecords(meta.clone(), glance.stores().clone()),
        cfg.reaper,
    ));
    let auditor = Auditor::open(data.clone(), cfg.data_dir.join("auditor.json"), cfg.auditor)
        .context("opening the auditor's progress file")?;
    workers.spawn(auditor);
    workers.spawn(Replicator::new(data, cfg.replicator));
    workers.spawn(TaskExecutor::new(glance.clone(), cfg.tasks));
    Ok(workers)
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
