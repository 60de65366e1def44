//! The metadata write path: every change is read, computed here (stamping ids and times as
//! the proposer), and proposed as a compare-and-set on the image's revision, retried on a
//! fresh read when a concurrent writer got there first.
//!
//! Each proposal carries a request id that the state machine deduplicates on. One
//! [`Proposal`] keeps its id however often it is sent: `Meta::propose` resends it after a
//! leader change or a lost reply, and an ambiguous failure resent applies once, answering
//! with the outcome recorded the first time. A new compare-and-set attempt, computed from a
//! fresh read, is a different change and gets a new id: reusing the old one would return
//! the old attempt's recorded conflict forever.

use crate::error::DomainError;
use crate::lifecycle;
use crate::record_bounds;
use tessera_raft::{Command, Image, ImageStatus, LimitCheck, Meta, MetaError, Outcome, Request};
use time::OffsetDateTime;

/// Attempts before a hot image's writer gives up with 409.
pub const MAX_CAS_ATTEMPTS: usize = 32;

/// Unix seconds now; the proposer stamps every command and record with it.
pub fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// One logical change to the metadata, under one request id for all its sends.
#[derive(Debug, Clone)]
pub struct Proposal(Request);

impl Proposal {
    /// A change with a fresh request id, stamped now.
    pub fn new(command: Command) -> Self {
        Proposal(Request {
            request_id: uuid::Uuid::new_v4().to_string(),
            stamped_at: now(),
            command,
        })
    }

    /// The id the state machine deduplicates this change on.
    pub fn request_id(&self) -> &str {
        &self.0.request_id
    }

    /// Replicates the change and returns its outcome. Sending the same proposal again (after
    /// an ambiguous failure, say) applies it at most once and returns the same outcome.
    pub async fn submit(&self, meta: &Meta) -> Result<Outcome, MetaError> {
        meta.propose(self.0.clone()).await
    }
}

/// Reads an image (linearizable), 404 when absent or pending delete (Glance hides those
/// like deleted ones).
pub async fn load(meta: &Meta, id: &str) -> Result<Image, DomainError> {
    match meta.get_image(id).await? {
        Some(img) if img.status != ImageStatus::PendingDelete => Ok(img),
        _ => Err(DomainError::no_image(id)),
    }
}

/// Stores a new image record if its owner stays within `limits`.
pub async fn create(
    meta: &Meta,
    image: Image,
    limits: Vec<LimitCheck>,
) -> Result<Image, DomainError> {
    let id = image.id.clone();
    record_bounds::check(None, &image)?;
    match Proposal::new(Command::CreateImage { image, limits })
        .submit(meta)
        .await?
    {
        Outcome::Applied(Some(img)) => Ok(img),
        Outcome::Exists => Err(DomainError::Conflict(format!(
            "Image ID {id} already exists!"
        ))),
        Outcome::OverLimit(over) => Err(DomainError::OverLimit(over)),
        other => Err(unexpected(other)),
    }
}

/// Applies `change` to the current record of `id` and stores it, retrying on concurrent
/// changes. `change` sees the fresh record each attempt and may refuse with an error; a
/// status it sets must be allowed by the [`lifecycle`].
pub async fn modify<F, E>(meta: &Meta, id: &str, change: F) -> Result<Image, E>
where
    F: FnMut(&mut Image) -> Result<(), E>,
    E: From<DomainError>,
{
    modify_within(meta, id, &[], change).await
}

/// [`modify`], applied only if the owner stays within `limits` after the change.
pub async fn modify_within<F, E>(
    meta: &Meta,
    id: &str,
    limits: &[LimitCheck],
    mut change: F,
) -> Result<Image, E>
where
    F: FnMut(&mut Image) -> Result<(), E>,
    E: From<DomainError>,
{
    for _ in 0..MAX_CAS_ATTEMPTS {
        let current = load(meta, id).await?;
        let mut next = current.clone();
        change(&mut next)?;
        if next == current {
            return Ok(current);
        }
        if next.status != current.status {
            lifecycle::check(current.status, next.status)?;
        }
        record_bounds::check(Some(&current), &next)?;
        next.updated_at = now();
        let proposal = Proposal::new(Command::PutImage {
            image: next,
            expect: current.revision,
            limits: limits.to_vec(),
        });
        match proposal.submit(meta).await.map_err(DomainError::from)? {
            Outcome::Applied(Some(img)) => return Ok(img),
            Outcome::Conflict(_) => continue,
            Outcome::OverLimit(over) => return Err(DomainError::OverLimit(over).into()),
            Outcome::NotFound => return Err(DomainError::no_image(id).into()),
            other => return Err(unexpected(other).into()),
        }
    }
    Err(contended(id).into())
}

/// Removes the record of `id` after `check` accepts the current record (pending-delete
/// records included: the reaper scrubs them through here).
pub async fn delete<F, E>(meta: &Meta, id: &str, mut check: F) -> Result<Image, E>
where
    F: FnMut(&Image) -> Result<(), E>,
    E: From<DomainError>,
{
    for _ in 0..MAX_CAS_ATTEMPTS {
        let current = meta
            .get_image(id)
            .await
            .map_err(DomainError::from)?
            .ok_or_else(|| DomainError::no_image(id))?;
        check(&current)?;
        lifecycle::check(current.status, ImageStatus::Deleted)?;
        let proposal = Proposal::new(Command::DeleteImage {
            id: id.to_string(),
            expect: current.revision,
        });
        match proposal.submit(meta).await.map_err(DomainError::from)? {
            Outcome::Applied(_) => return Ok(current),
            Outcome::Conflict(_) => continue,
            Outcome::NotFound => return Err(DomainError::no_image(id).into()),
            other => return Err(unexpected(other).into()),
        }
    }
    Err(contended(id).into())
}

fn contended(id: &str) -> DomainError {
    DomainError::Conflict(format!("Image {id} is being changed concurrently; retry."))
}

fn unexpected(outcome: Outcome) -> DomainError {
    DomainError::Internal(format!("unexpected metadata outcome: {outcome:?}"))
}
