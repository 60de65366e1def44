//! The image state machine: which status may follow which, as Glance's
//! `glance.domain.Image._valid_transitions` has it. Every status change of a record goes
//! through [`advance`], so a rule broken anywhere is refused in Glance's words.
//!
//! `deleted` is never stored: deleting removes the record, after [`check`] allowed it.

use crate::error::DomainError;
use tessera_raft::{Image, ImageStatus};

/// The statuses that may follow `from`.
pub fn successors(from: ImageStatus) -> &'static [ImageStatus] {
    use ImageStatus::*;
    match from {
        // `uploading`/`importing` belong to the interoperable import (stage, then import).
        Queued => &[Saving, Uploading, Importing, Active, Deleted],
        // Back to `queued` after a failed upload, so it can be retried.
        Saving => &[Active, Killed, Deleted, Queued],
        Uploading => &[Importing, Queued, Deleted],
        Importing => &[Active, Deleted, Queued],
        Active => &[PendingDelete, Deleted, Deactivated],
        Killed => &[Deleted],
        PendingDelete => &[Deleted],
        Deleted => &[],
        Deactivated => &[Active, Deleted, PendingDelete],
    }
}

/// Whether an image in `from` may move to `to`.
pub fn may_follow(from: ImageStatus, to: ImageStatus) -> bool {
    successors(from).contains(&to)
}

/// Refuses a move from `from` to `to` that the state machine does not allow (409).
pub fn check(from: ImageStatus, to: ImageStatus) -> Result<(), DomainError> {
    if may_follow(from, to) {
        Ok(())
    } else {
        Err(DomainError::Conflict(format!(
            "Image status transition from {} to {} is not allowed",
            from.as_str(),
            to.as_str()
        )))
    }
}

/// Moves `image` to `to` if the state machine allows it.
pub fn advance(image: &mut Image, to: ImageStatus) -> Result<(), DomainError> {
    check(image.status, to)?;
    image.status = to;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ImageStatus::*;

    const ALL: [ImageStatus; 9] = ImageStatus::ALL;

    #[test]
    fn upload_path_and_its_failure() {
        let mut img = Image::new("i".into(), None, 0);
        advance(&mut img, Saving).unwrap();
        advance(&mut img, Queued).unwrap();
        advance(&mut img, Saving).unwrap();
        advance(&mut img, Active).unwrap();
        assert_eq!(img.status, Active);
    }

    #[test]
    fn deactivation_and_delete() {
        assert!(may_follow(Active, Deactivated) && may_follow(Deactivated, Active));
        assert!(may_follow(Active, PendingDelete) && may_follow(Deactivated, PendingDelete));
        assert!(may_follow(PendingDelete, Deleted));
        for from in ALL.into_iter().filter(|s| *s != Deleted) {
            assert!(may_follow(from, Deleted), "{from:?} cannot be deleted");
        }
    }

    #[test]
    fn refused_moves_name_both_states_and_leave_the_record() {
        let mut img = Image::new("i".into(), None, 0);
        let e = advance(&mut img, Deactivated).unwrap_err();
        assert!(matches!(e, DomainError::Conflict(_)));
        assert_eq!(
            e.to_string(),
            "Image status transition from queued to deactivated is not allowed"
        );
        assert_eq!(img.status, Queued);
        for (from, to) in [
            (Active, Saving),
            (Active, Queued),
            (Saving, Deactivated),
            (Queued, PendingDelete),
            (PendingDelete, Active),
            (Killed, Active),
        ] {
            assert!(check(from, to).is_err(), "{from:?} -> {to:?}");
        }
        for to in ALL {
            assert!(!may_follow(Deleted, to));
            assert!(!may_follow(to, to), "{to:?} may not follow itself");
        }
    }
}
