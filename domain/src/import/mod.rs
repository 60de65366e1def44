//! Glance's interoperable image import (API 2.6): staging data (`PUT /stage`), starting an
//! import (`POST /import`) under the image's import lock, and the `api_image_import` task
//! that an executor runs on one node.
//!
//! Staged bytes live in the cluster's chunk store (any node can finish the import); the
//! staged manifest is recorded as a [`stage::Staged`] document until the import uses it or
//! the image leaves `uploading`/`importing`, when the executor removes it.

mod copy;
pub mod filter;
mod glance_download;
mod legacy;
pub mod plugins;
mod request;
mod run;
mod stage;
mod start;
mod web_download;

use crate::docs;
use crate::error::DomainError;
use crate::tasks::{Decision, Task};
use tessera_raft::Meta;

pub use filter::UriFilter;
pub use legacy::{ImageFields, SharedImageFields, LEGACY_IMPORT};
pub use request::{ImportMethod, ImportRequest};
pub(crate) use run::holds_lock;
pub use run::run_task;
pub use stage::{is_staged_local, sweep_stages, Staged};

/// The image property holding the import lock: the id of the task importing into it.
pub const IMPORT_TASK: &str = "os_glance_import_task";
/// The stores an import is still writing to, comma-separated.
pub const IMPORTING_TO_STORES: &str = "os_glance_importing_to_stores";
/// The stores an import failed to write to, comma-separated.
pub const FAILED_IMPORT: &str = "os_glance_failed_import";

/// Which import methods this service offers (Glance's `enabled_import_methods`), the
/// rules `web-download` URLs must pass (`[import_filtering_opts]`), the import plugins, and
/// how strictly data must match its `disk_format`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportConfig {
    /// The enabled methods, in the order `/v2/info/import` lists them.
    pub methods: Vec<ImportMethod>,
    /// Glance's `[image_format] require_image_format_match`: data whose detected format is
    /// not its `disk_format` is refused (uploads and imports alike), not only logged.
    pub require_format_match: bool,
    /// The rules of `web-download`.
    pub filter: UriFilter,
    /// Glance's `inject_image_metadata` import plugin, when enabled.
    pub inject: Option<InjectMetadata>,
    /// The plugins that rewrite the data, in the order they run.
    pub transforms: Vec<plugins::Transform>,
    /// Where those plugins keep their files (under the node's data dir).
    pub scratch_dir: std::path::PathBuf,
    /// Glance's `[glance_download_properties] extra_properties`: the prefixes of the
    /// properties `glance-download` copies from the remote image.
    pub download_properties: Vec<String>,
}

/// Glance's default `[glance_download_properties] extra_properties`.
pub const DOWNLOAD_PROPERTIES: [&str; 5] =
    ["hw_", "trait:", "os_distro", "os_secure_boot", "os_type"];

/// Glance's `[inject_metadata_properties]`: properties every import gives its image, unless
/// the importing user holds one of `ignore_user_roles`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InjectMetadata {
    /// Roles whose imports get nothing injected (Glance's default: admin).
    pub ignore_user_roles: Vec<String>,
    /// The properties.
    pub inject: std::collections::BTreeMap<String, String>,
}

impl InjectMetadata {
    /// The properties an import by a user with `roles` gets.
    pub fn for_roles(&self, roles: &[String]) -> impl Iterator<Item = (&String, &String)> {
        let ignored = roles.iter().any(|r| self.ignore_user_roles.contains(r));
        self.inject.iter().filter(move |_| !ignored)
    }
}

impl Default for ImportConfig {
    fn default() -> Self {
        ImportConfig {
            methods: ImportMethod::DEFAULT.to_vec(),
            require_format_match: true,
            filter: UriFilter::default(),
            inject: None,
            transforms: Vec::new(),
            scratch_dir: std::path::PathBuf::from("import-scratch"),
            download_properties: DOWNLOAD_PROPERTIES.map(String::from).to_vec(),
        }
    }
}

impl ImportConfig {
    /// Whether `method` is enabled.
    pub fn enabled(&self, method: ImportMethod) -> bool {
        self.methods.contains(&method)
    }
}

impl crate::Glance {
    /// The import methods offered: the enabled ones, `copy-image` only where there is more
    /// than one store to copy between.
    pub fn import_methods(&self) -> Vec<ImportMethod> {
        let several = self.stores.all().len() > 1;
        self.import
            .methods
            .iter()
            .copied()
            .filter(|m| several || *m != ImportMethod::CopyImage)
            .collect()
    }
}

/// Every manifest an import still needs: staged data and data an import decided on but
/// has not yet given its image. The reaper keeps their chunks.
pub async fn live_manifests(meta: &Meta) -> Result<Vec<String>, DomainError> {
    let mut out: Vec<String> = docs::list::<Staged>(meta, "")
        .await?
        .into_iter()
        .map(|s| s.value.data.manifest)
        .collect();
    out.extend(docs::list::<Task>(meta, "").await?.into_iter().filter_map(
        |t| match t.value.decision {
            Some(Decision::Data(d)) if !t.value.status.is_final() => Some(d.manifest),
            _ => None,
        },
    ));
    Ok(out)
}
