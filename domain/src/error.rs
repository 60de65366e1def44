//! Why a domain operation failed, in terms a Glance client understands.

use crate::quota::LimitExceeded;
use tessera_raft::MetaError;
use tessera_replication::{DataError, WorkerError};

/// A refused or failed domain operation. `api` maps each variant to one Glance status.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The request is malformed or breaks a rule of the record (Glance: 400).
    #[error("{0}")]
    Invalid(String),
    /// The caller may see the record but not do this (403).
    #[error("{0}")]
    Forbidden(String),
    /// No such record, or the caller may not see it (404).
    #[error("{0}")]
    NotFound(String),
    /// The record's state does not allow this, or a concurrent change won (409).
    #[error("{0}")]
    Conflict(String),
    /// The record went away while the operation ran (410).
    #[error("{0}")]
    Gone(String),
    /// The image data is not of its `disk_format` or fails a safety check of the format
    /// inspector (Glance: 415).
    #[error("{0}")]
    InvalidImageData(String),
    /// A size limit was exceeded (413).
    #[error("{0}")]
    TooLarge(String),
    /// A create or an update would pass a per-image limit (413).
    #[error(transparent)]
    LimitExceeded(#[from] LimitExceeded),
    /// Adding one tag or member to `image` would pass its limit (413; Glance's message for
    /// these calls names the image).
    #[error("Image {} limit exceeded for image {image}: {source}:", .source.noun())]
    ImageLimitExceeded {
        /// The image.
        image: String,
        /// The limit passed.
        source: LimitExceeded,
    },
    /// The owner would go over a unified limit (413, with oslo.limit's message as Glance
    /// wraps it).
    #[error("The request returned a 413 Request Entity Too Large. This generally means that rate limiting or a quota threshold was breached.\n\nThe response body:\n{0}")]
    OverLimit(tessera_raft::OverLimit),
    /// The cluster cannot serve this now; retry (503).
    #[error("{0}")]
    Unavailable(String),
    /// The metadata layer failed.
    #[error(transparent)]
    Meta(#[from] MetaError),
    /// The data layer failed.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A store driver refused or failed.
    #[error(transparent)]
    Store(#[from] crate::stores::StoreError),
    /// A background worker refused or failed.
    #[error(transparent)]
    Worker(#[from] WorkerError),
    /// An invariant of Tessera's own records does not hold.
    #[error("{0}")]
    Internal(String),
}

impl DomainError {
    /// A limit passed by adding one tag or member to `image`.
    pub fn image_limit(image: &str, source: LimitExceeded) -> Self {
        Self::ImageLimitExceeded {
            image: image.to_string(),
            source,
        }
    }

    /// 404 for an image the caller may not see or that does not exist (Glance does not tell
    /// the two apart).
    pub fn no_image(id: &str) -> Self {
        Self::NotFound(format!("No image found with ID {id}"))
    }
}
