//! Node configuration: the defaults, overridden by a TOML file, overridden by environment
//! variables and flags (clap reads both).
//!
//! The file has the node's identity and place in the cluster at the top level, and one
//! section per subsystem:
//!
//! - top level: `data_dir`, `metadata_dir`, `reserve_bytes`, `metadata_reserve_bytes`, `listen`, `node_id`, `node_name`, `peer_listen`, `certs`,
//!   `allow_ca_key`, `join`, `zone`, `capacity`, `log_format` (`text` or `json`);
//! - `[api]`: `default_identity`, `max_json_body`, `image_size_cap`, `delayed_delete`,
//!   `policy_file`, `property_protection_file`, `property_protection_rule_format`,
//!   `image_property_quota`, `image_tag_quota`, `image_member_quota`, `header_timeout`,
//!   `body_timeout`, `max_connections`, `max_uploads`, `max_uploads_per_project`, `tls_cert`,
//!   `tls_key`, `public_endpoint`, `enable_proxy_headers_parsing`, `do_secure_hash`,
//!   `http_retries`, `show_multiple_locations`, `show_image_direct_url`;
//! - `[raft]`: `max_voters` (3 or 5), `snapshot_logs`;
//! - `[gossip]`: `probe`, `suspect`;
//! - `[replicator]`: `replicas` (R), `interval`, `batch`, `handoff_grace`;
//! - `[auditor]`: `rate`, `period`;
//! - `[reaper]`: `interval`, `grace`, `scrub_time`, `upload_timeout`;
//! - `[image_cache]`: `enabled`, `max_size` (bytes).
//! - `[stores]`: `default` and `[[stores.store]]` tables (`id`, `driver`, `description`,
//!   `weight`, `read_only` and the driver's options), see [`crate::stores`].
//!
//! One time rule for the whole file: a duration is a number of seconds (`30`, `0.5`) or a
//! string with one unit, `ms`, `s`, `m`, `h` or `d` (`"250ms"`, `"10m"`, `"1d"`), at most
//! 365 days. The settings of the three workers (`[replicator]` but `replicas`, `[auditor]`,
//! `[reaper]`) go through the very parser the runtime API uses
//! (`tessera_replication::setting`), so a value the file takes, `tessera workers set` takes
//! too, and the other way round. Flags keep their historical names (`--reaper-grace`); the
//! gossip flags stay in milliseconds (`--gossip-probe-ms`), as their names say.
//!
//! Flat keys from before the sections (`reaper_grace = 86400`) still load, with a warning
//! naming the new key (see [`legacy`]).

mod file;
mod flags;
pub mod legacy;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tessera_api::{ApiConfig, AuthConfig, Identity};
use tessera_domain::import::plugins::{Conversion, ProcessLimits, Transform, OUTPUT_FORMATS};
use tessera_domain::import::{ImportConfig, ImportMethod, InjectMetadata};
use tessera_domain::locations::LocationSettings;
use tessera_domain::policy::{Policy, PolicyError, RELOAD_CHECK};
use tessera_domain::protection::{Format, ProtectionError};
use tessera_domain::stores::Stores;
use tessera_domain::tasks::ExecutorConfig;
use tessera_domain::{Protections, Quotas, UploadLimits};
use tessera_replication::{AuditorConfig, ReaperConfig, ReplicatorConfig, WorkerError};

use crate::api_tls::ApiTlsFiles;
use crate::cluster::{GossipTimings, MAX_LABEL};
use crate::http_server::HttpLimits;
use crate::keystone::ServiceCredentials;
use crate::logging::LogFormat;
use crate::space::SpaceConfig;
pub use file::{AuthMode, FileConfig, RuleFormat, DEFAULT_CAPACITY, DEFAULT_ZONE};
pub use flags::ServeOptions;
use legacy::Renamed;

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `[stores]` cannot be served.
    #[error(transparent)]
    Stores(#[from] crate::stores::StoresConfigError),
    /// `[image_import_opts] image_import_plugins` names a plugin Tessera does not have.
    #[error("[image_import_opts] image_import_plugins: no import plugin {0:?} here (there are image_decompression, image_conversion, inject_image_metadata)")]
    ImportPlugin(String),
    /// `enabled_import_methods` names a method Tessera does not run.
    #[error("enabled_import_methods: {0:?} is not an import method this node runs (it runs {1})")]
    ImportMethod(String, String),
    /// `[image_conversion] output_format` is not one Tessera converts to.
    #[error("[image_conversion] output_format: {0:?} is not raw or qcow2")]
    OutputFormat(String),
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not fit the sections.
    #[error("invalid config file {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Where and why.
        source: toml::de::Error,
    },
    /// An old flat key is next to its new one, or holds what the new one cannot take.
    #[error("{0}: write it there only")]
    Renamed(Renamed),
    /// An old flat key the file no longer takes.
    #[error("config key `{key}` is no longer read from the file: use {flag}")]
    FlagOnly {
        /// The old key.
        key: &'static str,
        /// The flag that replaces it.
        flag: &'static str,
    },
    /// A worker setting was refused by the worker's parser.
    #[error("{origin}: {source}")]
    Setting {
        /// The flag or file key it came from.
        origin: String,
        /// Why it was refused.
        source: WorkerError,
    },
    /// The default identity is not `user:project:role[,role...]`.
    #[error("invalid default identity '{0}': expected user:project:role[,role...]")]
    Identity(String),
    /// Unified limits asked for without Keystone to read them from.
    #[error("[limits] use_keystone_limits needs [auth] mode = \"keystone\"")]
    LimitsNeedKeystone,
    /// Only one of `tls_cert` and `tls_key` was given.
    #[error("HTTPS needs both --tls-cert and --tls-key ([api] tls_cert, tls_key)")]
    PartialTls,
    /// `public_endpoint` is not an http(s) URL.
    #[error("public_endpoint must be an http:// or https:// URL: {0}")]
    PublicEndpoint(String),
    /// An `[api]` limit is zero, which would refuse every request.
    #[error("[api] {0} must be more than zero")]
    ZeroLimit(&'static str),
    /// Only one of `peer_listen` and `certs` was given.
    #[error("a clustered node needs both --peer-listen and --certs")]
    PartialCluster,
    /// `peer_listen` is 0.0.0.0 or `::`.
    #[error(
        "--peer-listen {0} must name the address peers reach this node at, not an unspecified one"
    )]
    UnspecifiedPeerAddr(SocketAddr),
    /// A name gossip carries is empty or too long.
    #[error("--{what} '{value}' must be 1 to {MAX_LABEL} bytes")]
    Label {
        /// Which name.
        what: &'static str,
        /// The name given.
        value: String,
    },
    /// Keystone mode without one of its service credentials.
    #[error("--auth keystone needs `{0}` in the config file's [auth] section")]
    KeystoneSetting(&'static str),
    /// noauth on an address others can reach.
    #[error(
        "--auth noauth makes anyone who reaches {0} an admin: listen on loopback, use \
         --auth keystone, or pass --insecure-noauth ([auth] insecure_noauth = true)"
    )]
    NoauthListen(SocketAddr),
    /// The policy file is unreadable or has a rule that does not parse.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The property protection file is unreadable or contradicts itself.
    #[error(transparent)]
    Protection(#[from] ProtectionError),
    /// The gossip periods are too short or out of order.
    #[error(
        "gossip timings: the probe period (--gossip-probe-ms, [gossip] probe) must be at least \
         10ms and the suspect period at least as long"
    )]
    GossipTimings,
}

/// How a clustered node reaches its peers.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// This node's name (its certificate's).
    pub node_name: String,
    /// The node-to-node QUIC address peers reach.
    pub peer_listen: SocketAddr,
    /// Directory with the CA and this node's certificate and key.
    pub certs: PathBuf,
    /// Whether the node may start with the CA key in `certs`.
    pub allow_ca_key: bool,
    /// A member to join; `None` starts a new cluster.
    pub join: Option<SocketAddr>,
    /// Replication factor R of chunks.
    pub replicas: usize,
    /// Raft voters the cluster keeps (3 or 5).
    pub max_voters: usize,
    /// Log entries between Raft snapshots.
    pub snapshot_logs: u64,
    /// Failure domain this node advertises.
    pub zone: String,
    /// Placement weight this node advertises.
    pub capacity: u64,
    /// SWIM probe and suspicion periods.
    pub gossip: GossipTimings,
    /// The deliberately unsafe write-behind delay (chaos harness self-test), if on.
    pub unsafe_write_behind: Option<Duration>,
}

/// How a node identifies callers.
#[derive(Debug, Clone)]
pub enum Auth {
    /// The token names the caller (development).
    Noauth,
    /// Tokens are validated with Keystone.
    Keystone(Box<KeystoneSettings>),
}

/// Keystone mode's settings.
#[derive(Debug, Clone)]
pub struct KeystoneSettings {
    /// The service user that validates tokens.
    pub credentials: ServiceCredentials,
    /// Where clients are told to get tokens.
    pub www_authenticate_uri: String,
    /// How long a validated token is trusted.
    pub token_cache_time: Duration,
    /// How long a call to Keystone may take.
    pub http_timeout: Duration,
    /// Unified limits, when enforced.
    pub limits: Option<LimitsEndpoint>,
}

/// Which Keystone endpoint's limits are the image service's (`[limits]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitsEndpoint {
    /// This endpoint.
    Id(String),
    /// The endpoint of this service type, region and interface.
    Lookup {
        /// Service type, e.g. `image`.
        service_type: String,
        /// Region, if the catalog has several.
        region: Option<String>,
        /// Interface, e.g. `public`.
        interface: String,
    },
}

/// The resolved configuration of a node.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the node keeps its metadata and chunks.
    pub data_dir: PathBuf,
    /// The metadata dir and the free-space watermarks.
    pub space: SpaceConfig,
    /// Address of the Glance API.
    pub listen: SocketAddr,
    /// This node's Raft id.
    pub node_id: u64,
    /// The Glance API's settings.
    pub api: ApiConfig,
    /// The API server's own limits.
    pub http: HttpLimits,
    /// The API's certificate and key when it speaks HTTPS.
    pub tls: Option<ApiTlsFiles>,
    /// How callers are identified.
    pub auth: Auth,
    /// The reaper's settings.
    pub reaper: ReaperConfig,
    /// The auditor's settings.
    pub auditor: AuditorConfig,
    /// The replicator's settings.
    pub replicator: ReplicatorConfig,
    /// The task executor's settings.
    pub tasks: ExecutorConfig,
    /// The import methods and `web-download`'s URL rules.
    pub import: ImportConfig,
    /// The stores image data may live in.
    pub stores: Stores,
    /// How log lines are written.
    pub log_format: LogFormat,
    /// The image cache's size limit in bytes, when the node keeps one.
    pub image_cache: Option<u64>,
    /// `None` for a standalone node.
    pub cluster: Option<ClusterConfig>,
    /// Old flat keys the file used, to warn about once logging is up.
    pub renamed: Vec<Renamed>,
}

/// Where one worker setting may come from: its key, its value in the file, its flag's name
/// and the flag's value.
type SettingSources<'a> = (
    &'static str,
    &'a Option<file::SettingText>,
    &'static str,
    &'a Option<String>,
);

impl Config {
    /// Resolves flags/env over the optional TOML file over the defaults.
    pub fn load(cli: ServeOptions, path: Option<&Path>) -> Result<Config, ConfigError> {
        let (file, renamed) = match path {
            None => (FileConfig::default(), Vec::new()),
            Some(path) => file::read(path)?,
        };
        let (r, a, p) = (&file.replicator, &file.auditor, &file.reaper);
        let replicator = worker_config(
            "replicator",
            ReplicatorConfig::set,
            path,
            &[
                (
                    "interval",
                    &r.interval,
                    "replicator-interval",
                    &cli.replicator_interval,
                ),
                ("batch", &r.batch, "replicator-batch", &cli.replicator_batch),
                (
                    "handoff_grace",
                    &r.handoff_grace,
                    "handoff-grace",
                    &cli.handoff_grace,
                ),
            ],
        )?;
        let auditor = worker_config(
            "auditor",
            AuditorConfig::set,
            path,
            &[
                ("rate", &a.rate, "auditor-rate", &cli.auditor_rate),
                ("period", &a.period, "auditor-period", &cli.auditor_period),
            ],
        )?;
        // Each value by its own bounds, then the rule between them once all are in.
        let reaper = worker_config(
            "reaper",
            ReaperConfig::assign,
            path,
            &[
                (
                    "interval",
                    &p.interval,
                    "reaper-interval",
                    &cli.reaper_interval,
                ),
                ("grace", &p.grace, "reaper-grace", &cli.reaper_grace),
                ("scrub_time", &p.scrub_time, "scrub-time", &cli.scrub_time),
                (
                    "upload_timeout",
                    &p.upload_timeout,
                    "upload-timeout",
                    &cli.upload_timeout,
                ),
            ],
        )?;
        let t = &file.task;
        let tasks = worker_config(
            "task",
            ExecutorConfig::set,
            path,
            &[
                ("lease", &t.lease, "task-lease", &cli.task_lease),
                (
                    "time_to_live",
                    &t.time_to_live,
                    "task-time-to-live",
                    &cli.task_time_to_live,
                ),
            ],
        )?;
        reaper.check().map_err(|source| ConfigError::Setting {
            origin: "[reaper] grace and upload_timeout (--reaper-grace, --upload-timeout)".into(),
            source,
        })?;
        let inject = inject_plugin(&file)?;
        let transforms = transform_plugins(&file)?;
        let methods = import_methods(&file)?;
        let cluster = match (
            cli.peer_listen.or(file.peer_listen),
            cli.certs.or(file.certs),
        ) {
            (None, None) => None,
            (Some(peer_listen), Some(certs)) => {
                if peer_listen.ip().is_unspecified() {
                    return Err(ConfigError::UnspecifiedPeerAddr(peer_listen));
                }
                let gossip = GossipTimings {
                    probe: cli
                        .gossip_probe_ms
                        .map_or(file.gossip.probe, Duration::from_millis),
                    suspect: cli
                        .gossip_suspect_ms
                        .map_or(file.gossip.suspect, Duration::from_millis),
                };
                if gossip.probe < Duration::from_millis(10) || gossip.suspect < gossip.probe {
                    return Err(ConfigError::GossipTimings);
                }
                Some(ClusterConfig {
                    node_name: label("node-name", cli.node_name.unwrap_or(file.node_name))?,
                    peer_listen,
                    certs,
                    allow_ca_key: cli.allow_ca_key || file.allow_ca_key,
                    join: cli.join.or(file.join),
                    replicas: cli.replicas.unwrap_or(file.replicator.replicas),
                    max_voters: cli.max_voters.unwrap_or(file.raft.max_voters).count(),
                    snapshot_logs: cli.snapshot_logs.unwrap_or(file.raft.snapshot_logs),
                    zone: label("zone", cli.zone.unwrap_or(file.zone))?,
                    capacity: cli.capacity.unwrap_or(file.capacity),
                    gossip,
                    unsafe_write_behind: cli.unsafe_write_behind_ms.map(Duration::from_millis),
                })
            }
            _ => return Err(ConfigError::PartialCluster),
        };
        let api_auth = match cli.default_identity.or(file.api.default_identity.clone()) {
            None => AuthConfig::default(),
            Some(s) => AuthConfig {
                default_identity: Identity::from_token(&s).ok_or(ConfigError::Identity(s))?,
                keystone: None,
            },
        };
        let listen = cli.listen.unwrap_or(file.listen);
        let mode = cli.auth.unwrap_or(file.auth.mode);
        let insecure_noauth = cli.insecure_noauth || file.auth.insecure_noauth;
        if mode == AuthMode::Noauth && !listen.ip().is_loopback() && !insecure_noauth {
            return Err(ConfigError::NoauthListen(listen));
        }
        if mode == AuthMode::Noauth && file.limits.use_keystone_limits {
            return Err(ConfigError::LimitsNeedKeystone);
        }
        let auth = match mode {
            AuthMode::Noauth => Auth::Noauth,
            AuthMode::Keystone => {
                Auth::Keystone(Box::new(keystone_settings(file.auth, file.limits)?))
            }
        };
        let api = &file.api;
        for (key, zero) in [
            ("header_timeout", api.header_timeout.is_zero()),
            ("body_timeout", api.body_timeout.is_zero()),
            ("max_connections", api.max_connections == 0),
            ("max_uploads", api.max_uploads == 0),
            ("max_uploads_per_project", api.max_uploads_per_project == 0),
        ] {
            if zero {
                return Err(ConfigError::ZeroLimit(key));
            }
        }
        let tls = match (
            cli.tls_cert.or(file.api.tls_cert.clone()),
            cli.tls_key.or(file.api.tls_key.clone()),
        ) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(ApiTlsFiles { cert, key }),
            _ => return Err(ConfigError::PartialTls),
        };
        let public_endpoint = cli.public_endpoint.or(file.api.public_endpoint.clone());
        if let Some(url) = &public_endpoint {
            let scheme_ok = ["http://", "https://"].iter().any(|s| {
                url.get(..s.len())
                    .is_some_and(|p| p.eq_ignore_ascii_case(s))
                    && url.len() > s.len()
            });
            if !scheme_ok {
                return Err(ConfigError::PublicEndpoint(url.clone()));
            }
        }
        let policy = match cli.policy_file.or(file.api.policy_file) {
            None => Policy::default(),
            Some(path) => Policy::from_file(&path, RELOAD_CHECK)?,
        };
        let format = match cli
            .property_protection_rule_format
            .unwrap_or(file.api.property_protection_rule_format)
        {
            RuleFormat::Roles => Format::Roles,
            RuleFormat::Policies => Format::Policies,
        };
        let protections = match cli
            .property_protection_file
            .or(file.api.property_protection_file)
        {
            None => None,
            Some(path) => Some(Arc::new(Protections::from_file(&path, format)?)),
        };
        let data_dir = cli.data_dir.unwrap_or(file.data_dir.clone());
        let space = SpaceConfig {
            metadata_dir: cli
                .metadata_dir
                .or(file.metadata_dir.clone())
                .unwrap_or_else(|| data_dir.join("meta")),
            reserve_bytes: cli.reserve_bytes.unwrap_or(file.reserve_bytes),
            metadata_reserve_bytes: cli
                .metadata_reserve_bytes
                .unwrap_or(file.metadata_reserve_bytes),
            unsafe_free_bytes: cli.unsafe_free_bytes,
            unsafe_metadata_free_bytes: cli.unsafe_metadata_free_bytes,
        };
        Ok(Config {
            data_dir: data_dir.clone(),
            space,
            listen,
            node_id: cli.node_id.unwrap_or(file.node_id),
            auth,
            api: ApiConfig {
                auth: api_auth,
                max_json_body: cli.max_json_body.unwrap_or(file.api.max_json_body),
                image_size_cap: cli.image_size_cap.unwrap_or(file.api.image_size_cap),
                delayed_delete: cli.delayed_delete.unwrap_or(file.api.delayed_delete),
                policy,
                protections,
                quotas: Quotas {
                    image_property_quota: cli
                        .image_property_quota
                        .unwrap_or(file.api.image_property_quota),
                    image_tag_quota: cli.image_tag_quota.unwrap_or(file.api.image_tag_quota),
                    image_member_quota: cli
                        .image_member_quota
                        .unwrap_or(file.api.image_member_quota),
                },
                body_timeout: file.api.body_timeout,
                uploads: UploadLimits {
                    per_node: file.api.max_uploads,
                    per_project: file.api.max_uploads_per_project,
                },
                public_endpoint,
                proxy_headers: file.api.enable_proxy_headers_parsing,
                locations: LocationSettings {
                    do_secure_hash: file.api.do_secure_hash,
                    http_retries: file.api.http_retries,
                    show_multiple_locations: file.api.show_multiple_locations,
                    show_image_direct_url: file.api.show_image_direct_url,
                },
            },
            tls,
            http: HttpLimits {
                header_timeout: file.api.header_timeout,
                max_connections: file.api.max_connections,
            },
            reaper,
            auditor,
            replicator,
            tasks,
            stores: crate::stores::build(
                &file.stores,
                cli.replicas.unwrap_or(file.replicator.replicas),
                &file.import_filtering_opts.filter(),
            )?,
            import: ImportConfig {
                methods,
                require_format_match: file.image_format.require_image_format_match,
                filter: file.import_filtering_opts.filter(),
                inject,
                transforms,
                scratch_dir: data_dir.join("import-scratch"),
                download_properties: file.glance_download_properties.extra_properties.clone(),
            },
            log_format: cli.log_format.unwrap_or(file.log_format),
            image_cache: cli
                .image_cache
                .unwrap_or(file.image_cache.enabled)
                .then(|| {
                    cli.image_cache_max_size
                        .unwrap_or(file.image_cache.max_size)
                }),
            cluster,
            renamed,
        })
    }

    /// Warns about each old flat key the file used; call once logging is up.
    pub fn warn_renamed_keys(&self) {
        for renamed in &self.renamed {
            tracing::warn!("config file: {renamed}");
        }
    }
}

/// The `inject_image_metadata` plugin's settings when `[image_import_opts]` enables it; an
/// import plugin Tessera does not have is an error.
fn inject_plugin(file: &FileConfig) -> Result<Option<InjectMetadata>, ConfigError> {
    let mut inject = None;
    for plugin in &file.image_import_opts.image_import_plugins {
        match plugin.as_str() {
            "image_decompression" | "image_conversion" => {}
            "inject_image_metadata" => {
                let s = &file.inject_metadata_properties;
                inject = Some(InjectMetadata {
                    ignore_user_roles: s.ignore_user_roles.clone(),
                    inject: s.inject.clone(),
                });
            }
            other => return Err(ConfigError::ImportPlugin(other.to_string())),
        }
    }
    Ok(inject)
}

/// The plugins that rewrite an import's data, in the order `[image_import_opts]` lists them.
fn transform_plugins(file: &FileConfig) -> Result<Vec<Transform>, ConfigError> {
    let mut out = Vec::new();
    for plugin in &file.image_import_opts.image_import_plugins {
        match plugin.as_str() {
            "image_decompression" => out.push(Transform::Decompress),
            "image_conversion" => {
                let c = &file.image_conversion;
                if !OUTPUT_FORMATS.contains(&c.output_format.as_str()) {
                    return Err(ConfigError::OutputFormat(c.output_format.clone()));
                }
                out.push(Transform::Convert(Conversion {
                    output_format: c.output_format.clone(),
                    limits: ProcessLimits {
                        cpu_seconds: c.cpu_time.as_secs().max(1),
                        address_space: c.address_space,
                        timeout: c.timeout,
                    },
                }));
            }
            _ => {}
        }
    }
    Ok(out)
}

/// `enabled_import_methods`, each one a method this node runs.
fn import_methods(file: &FileConfig) -> Result<Vec<ImportMethod>, ConfigError> {
    let served = || {
        ImportMethod::SERVED
            .iter()
            .map(|m| m.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    file.enabled_import_methods
        .iter()
        .map(|name| {
            ImportMethod::parse(name)
                .filter(|m| ImportMethod::SERVED.contains(m))
                .ok_or_else(|| ConfigError::ImportMethod(name.clone(), served()))
        })
        .collect()
}

/// A worker's config: its own defaults, then for each setting the flag's value or else the
/// file's, through the worker's parser (the runtime API's).
fn worker_config<C: Default>(
    section: &str,
    set: fn(&mut C, &str, &str) -> Result<(), WorkerError>,
    path: Option<&Path>,
    settings: &[SettingSources<'_>],
) -> Result<C, ConfigError> {
    let mut config = C::default();
    for &(key, in_file, flag, given) in settings {
        let (value, origin) = match (given, in_file) {
            (Some(value), _) => (value.as_str(), format!("--{flag}")),
            (None, Some(value)) => {
                let file = path.map(|p| p.display().to_string()).unwrap_or_default();
                (value.0.as_str(), format!("[{section}] {key} in {file}"))
            }
            (None, None) => continue,
        };
        set(&mut config, key, value).map_err(|source| ConfigError::Setting { origin, source })?;
    }
    Ok(config)
}

/// Keystone mode's settings from `[auth]`, every credential present.
fn keystone_settings(
    a: file::AuthSection,
    l: file::LimitsSection,
) -> Result<KeystoneSettings, ConfigError> {
    let need = |v: Option<String>, key| v.ok_or(ConfigError::KeystoneSetting(key));
    let auth_url = need(a.auth_url, "auth_url")?;
    let www_authenticate_uri = a.www_authenticate_uri.unwrap_or_else(|| {
        let base = auth_url.trim_end_matches('/');
        base.strip_suffix("/v3").unwrap_or(base).to_string()
    });
    Ok(KeystoneSettings {
        credentials: ServiceCredentials {
            username: need(a.username, "username")?,
            password: need(a.password, "password")?,
            project_name: need(a.project_name, "project_name")?,
            user_domain_name: a.user_domain_name,
            project_domain_name: a.project_domain_name,
            auth_url,
        },
        www_authenticate_uri,
        token_cache_time: a.token_cache_time,
        http_timeout: a.http_timeout,
        limits: l.use_keystone_limits.then_some(match l.endpoint_id {
            Some(id) => LimitsEndpoint::Id(id),
            None => LimitsEndpoint::Lookup {
                service_type: l.endpoint_service_type,
                region: l.endpoint_region_name,
                interface: l.endpoint_interface,
            },
        }),
    })
}

/// Checks a name gossip carries (it must fit an advert).
fn label(what: &'static str, value: String) -> Result<String, ConfigError> {
    if value.is_empty() || value.len() > MAX_LABEL {
        return Err(ConfigError::Label { what, value });
    }
    Ok(value)
}
