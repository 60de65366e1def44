//! Size bounds of an image record, checked on every write before it is proposed: Glance's
//! column lengths where Glance has them, a bound of our own on property values, and a bound
//! on the whole record. A PATCH loop cannot grow a record, or a Raft batch of records, past
//! what the log and the peer transport carry.
//!
//! Only what a change adds is checked: a record that is over a bound already (written before
//! the bound existed) can still change status, shrink or be deleted.

use tessera_raft::Image;

use crate::error::DomainError;
use crate::tags::MAX_TAG_LEN;

/// Longest property name, in characters (Glance's `image_properties.name`, 255).
pub const MAX_PROPERTY_NAME: usize = 255;

/// Longest property value, in bytes. Glance keeps values in a TEXT column, which holds 65535
/// bytes on MySQL; the same bound here.
pub const MAX_PROPERTY_VALUE: usize = 65_535;

/// Longest member (project) id, in characters (Glance's `image_members.member`, 255).
pub const MAX_MEMBER_ID: usize = 255;

/// Largest image record, in bytes as [`record_bytes`] counts them: far under the 64 MiB
/// frame that carries Raft batches between peers, so a batch of such records splits.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// Bytes a record takes: its strings plus a fixed cost per field and entry (an upper bound on
/// its encoding in the log, which adds at most a few bytes of framing per string).
pub fn record_bytes(img: &Image) -> usize {
    const ENTRY: usize = 16;
    let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len) + ENTRY;
    let strings = img.id.len()
        + opt(&img.name)
        + opt(&img.owner)
        + opt(&img.checksum)
        + opt(&img.os_hash_algo)
        + opt(&img.os_hash_value)
        + opt(&img.container_format)
        + opt(&img.disk_format)
        + img.data.as_ref().map_or(0, |d| d.manifest.len())
        + img
            .locations
            .iter()
            .map(|l| l.store.len() + l.url.len() + 2 * ENTRY)
            .sum::<usize>()
        + img
            .location_metadata
            .iter()
            .map(|(url, meta)| url.len() + meta.len() + ENTRY)
            .sum::<usize>();
    let tags: usize = img.tags.iter().map(|t| t.len() + ENTRY).sum();
    let props: usize = img
        .properties
        .iter()
        .map(|(k, v)| k.len() + v.len() + ENTRY)
        .sum();
    let members: usize = img.members.keys().map(|m| m.len() + 4 * ENTRY).sum();
    // Fixed fields: numbers, flags, status, visibility, times, revision.
    256 + strings + tags + props + members
}

/// Checks what `after` adds to `before` (none: a new record) against the bounds: 400 for an
/// over-long name, value, tag or member id, 413 for a record over [`MAX_RECORD_BYTES`].
pub fn check(before: Option<&Image>, after: &Image) -> Result<(), DomainError> {
    for (name, value) in &after.properties {
        if before.and_then(|b| b.properties.get(name)) == Some(value) {
            continue;
        }
        if name.chars().count() > MAX_PROPERTY_NAME {
            return Err(DomainError::Invalid(format!(
                "Property name is longer than {MAX_PROPERTY_NAME} characters."
            )));
        }
        if value.len() > MAX_PROPERTY_VALUE {
            return Err(DomainError::Invalid(format!(
                "Value of property {name} is longer than {MAX_PROPERTY_VALUE} bytes."
            )));
        }
    }
    let new = |had: bool| before.is_none() || !had;
    for tag in &after.tags {
        if new(before.is_some_and(|b| b.tags.contains(tag))) && tag.chars().count() > MAX_TAG_LEN {
            return Err(DomainError::Invalid(format!(
                "Tag is longer than {MAX_TAG_LEN} characters."
            )));
        }
    }
    for member in after.members.keys() {
        if new(before.is_some_and(|b| b.members.contains_key(member)))
            && member.chars().count() > MAX_MEMBER_ID
        {
            return Err(DomainError::Invalid(format!(
                "Member id is longer than {MAX_MEMBER_ID} characters."
            )));
        }
    }
    let size = record_bytes(after);
    if size > MAX_RECORD_BYTES && before.is_none_or(|b| size > record_bytes(b)) {
        return Err(DomainError::TooLarge(format!(
            "The image record would be {size} bytes, over the limit of {MAX_RECORD_BYTES} \
             bytes for its properties, tags and members together."
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> Image {
        Image::new("id-1".into(), Some("p".into()), 0)
    }

    #[test]
    fn names_values_tags_and_members_are_bounded() {
        let mut img = image();
        img.properties.insert("n".repeat(256), "v".into());
        assert!(matches!(check(None, &img), Err(DomainError::Invalid(_))));
        let mut img = image();
        img.properties
            .insert("n".into(), "v".repeat(MAX_PROPERTY_VALUE + 1));
        assert!(matches!(check(None, &img), Err(DomainError::Invalid(_))));
        img.properties
            .insert("n".into(), "v".repeat(MAX_PROPERTY_VALUE));
        assert!(check(None, &img).is_ok());
        let mut img = image();
        img.tags.insert("t".repeat(256));
        assert!(matches!(check(None, &img), Err(DomainError::Invalid(_))));
    }

    #[test]
    fn a_record_may_not_grow_past_the_bound_but_may_shrink_or_change_status() {
        let mut img = image();
        for i in 0..16 {
            img.properties
                .insert(format!("p{i}"), "v".repeat(MAX_PROPERTY_VALUE));
        }
        let err = check(None, &img).unwrap_err();
        assert!(matches!(err, DomainError::TooLarge(_)), "{err}");
        // Already over (written before the bound): other changes still go through.
        let mut next = img.clone();
        next.status = tessera_raft::ImageStatus::Deactivated;
        assert!(check(Some(&img), &next).is_ok());
        next.properties.remove("p0");
        assert!(check(Some(&img), &next).is_ok());
        next.properties
            .insert("p0".into(), "v".repeat(MAX_PROPERTY_VALUE));
        next.properties.insert("p99".into(), "x".into());
        assert!(check(Some(&img), &next).is_err());
    }
}
