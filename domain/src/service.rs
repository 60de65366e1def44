//! The domain's service handle: what every Glance operation needs (the metadata, the chunk
//! data and the domain settings), cheap to clone.

use std::sync::Arc;

use crate::admission::{UploadLimits, UploadSlots};
use crate::import::{ImportConfig, SharedImageFields};
use crate::limits::LimitSource;
use crate::locations::LocationSettings;
use crate::policy::Policy;
use crate::protection::Protections;
use crate::quota::Quotas;
use crate::stores::Stores;
use tessera_raft::Meta;
use tessera_replication::{Data, ImageCache};

/// Settings of the Glance rules that an operator chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Per-image limits on properties, tags and members.
    pub quotas: Quotas,
    /// Largest image accepted (Glance's `image_size_cap`).
    pub image_size_cap: u64,
    /// Glance's `delayed_delete`: a deleted image with data goes to `pending_delete` (hidden
    /// like a deleted one, data kept) until the reaper scrubs it.
    pub delayed_delete: bool,
    /// Caps on concurrent uploads on this node.
    pub uploads: UploadLimits,
    /// Glance's `do_secure_hash` and `http_retries` for the locations API.
    pub locations: LocationSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            quotas: Quotas::default(),
            image_size_cap: 1 << 40,
            delayed_delete: false,
            uploads: UploadLimits::default(),
            locations: LocationSettings::default(),
        }
    }
}

/// The Glance image service: images, members, tags, actions and image data, each operation
/// taking the caller and plain inputs and returning records or a [`DomainError`].
///
/// [`DomainError`]: crate::DomainError
#[derive(Clone)]
pub struct Glance {
    pub(crate) meta: Meta,
    pub(crate) data: Data,
    pub(crate) settings: Settings,
    pub(crate) policy: Policy,
    pub(crate) protections: Option<Arc<Protections>>,
    pub(crate) limits: Option<Arc<dyn LimitSource>>,
    pub(crate) import: Arc<ImportConfig>,
    pub(crate) uploads: UploadSlots,
    pub(crate) image_fields: Option<SharedImageFields>,
    pub(crate) cache: Option<ImageCache>,
    pub(crate) stores: Arc<Stores>,
}

impl Glance {
    /// The service over this node's metadata and chunk data, under Glance's default
    /// access rules.
    pub fn new(meta: Meta, data: Data, settings: Settings) -> Self {
        Glance {
            meta,
            data,
            settings,
            policy: Policy::default(),
            protections: None,
            limits: None,
            import: Arc::default(),
            uploads: UploadSlots::new(settings.uploads),
            image_fields: None,
            cache: None,
            stores: Arc::default(),
        }
    }

    /// The same service enforcing per-project unified limits read from `source` (none: off).
    pub fn with_limits(self, limits: Option<Arc<dyn LimitSource>>) -> Self {
        Glance { limits, ..self }
    }

    /// The same service with this node's image cache (none: the cache API answers 404).
    pub fn with_cache(self, cache: Option<ImageCache>) -> Self {
        Glance { cache, ..self }
    }

    /// The same service under `policy`.
    pub fn with_policy(self, policy: Policy) -> Self {
        Glance { policy, ..self }
    }

    /// The same service with property protections (none: every property is open).
    pub fn with_protections(self, protections: Option<Arc<Protections>>) -> Self {
        Glance {
            protections,
            ..self
        }
    }

    /// The same service offering the import methods of `import`.
    pub fn with_import(self, import: ImportConfig) -> Self {
        Glance {
            import: Arc::new(import),
            ..self
        }
    }

    /// The same service reading image fields with `fields` (the legacy import task
    /// creates its image from them).
    pub fn with_image_fields(self, fields: SharedImageFields) -> Self {
        Glance {
            image_fields: Some(fields),
            ..self
        }
    }

    /// The same service over the stores `stores` (default: one cluster store).
    pub fn with_stores(self, stores: Stores) -> Self {
        Glance {
            stores: Arc::new(stores),
            ..self
        }
    }

    /// The configured stores.
    pub fn stores(&self) -> &Arc<Stores> {
        &self.stores
    }

    /// The import methods offered.
    pub fn import_config(&self) -> &ImportConfig {
        &self.import
    }

    /// The replicated metadata.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// The settings it applies.
    pub fn settings(&self) -> Settings {
        self.settings
    }
}
