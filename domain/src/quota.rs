//! Glance's per-image limits: how many extra properties, tags and members one image may have
//! (`image_property_quota`, `image_tag_quota`, `image_member_quota`; a negative quota means
//! unlimited, as in Glance).
//!
//! Every check looks at the record a write is about to store, inside the compare-and-set
//! closure of [`crate::write::modify`]: two writers racing on one image cannot together pass
//! a limit, because the second one's compare-and-set fails and it checks again on a fresh
//! read.

use std::collections::BTreeSet;
use tessera_raft::Image;

/// Prefix of the properties Glance sets itself (import progress and the like): no limit
/// counts them.
const RESERVED_PREFIX: &str = "os_glance";

/// Glance's default for each per-image quota.
pub const DEFAULT_QUOTA: i64 = 128;

/// The per-image limits an operator chooses; a negative value is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// Extra properties per image (Glance's `image_property_quota`).
    pub image_property_quota: i64,
    /// Tags per image (`image_tag_quota`).
    pub image_tag_quota: i64,
    /// Members per image (`image_member_quota`).
    pub image_member_quota: i64,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            image_property_quota: DEFAULT_QUOTA,
            image_tag_quota: DEFAULT_QUOTA,
            image_member_quota: DEFAULT_QUOTA,
        }
    }
}

/// A per-image limit a change would pass, with Glance's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitExceeded {
    /// Too many extra properties.
    #[error(
        "The limit has been exceeded on the number of allowed image properties. \
         Attempted: {attempted}, Maximum: {maximum}"
    )]
    Properties {
        /// Properties the image would have.
        attempted: usize,
        /// The quota.
        maximum: i64,
    },
    /// Too many tags.
    #[error(
        "The limit has been exceeded on the number of allowed image tags. \
         Attempted: {attempted}, Maximum: {maximum}"
    )]
    Tags {
        /// Tags the image would have.
        attempted: usize,
        /// The quota.
        maximum: i64,
    },
    /// Too many members.
    #[error(
        "The limit has been exceeded on the number of allowed image members for this image. \
         Attempted: {attempted}, Maximum: {maximum}"
    )]
    Members {
        /// Members the image would have.
        attempted: usize,
        /// The quota.
        maximum: i64,
    },
}

impl LimitExceeded {
    /// What is counted, as Glance names it in the messages of its tag and member calls.
    pub fn noun(&self) -> &'static str {
        match self {
            Self::Properties { .. } => "property",
            Self::Tags { .. } => "tag",
            Self::Members { .. } => "member",
        }
    }
}

/// Whether `count` passes `quota` (negative: unlimited).
fn over(count: usize, quota: i64) -> bool {
    u64::try_from(quota).is_ok_and(|max| count as u64 > max)
}

impl Quotas {
    /// The extra properties of `img`, Glance's own `os_glance*` ones not counted.
    pub fn check_properties(&self, img: &Image) -> Result<(), LimitExceeded> {
        let attempted = img
            .properties
            .keys()
            .filter(|k| !k.starts_with(RESERVED_PREFIX))
            .count();
        if over(attempted, self.image_property_quota) {
            return Err(LimitExceeded::Properties {
                attempted,
                maximum: self.image_property_quota,
            });
        }
        Ok(())
    }

    /// A set of tags an image is about to have.
    pub fn check_tags(&self, tags: &BTreeSet<String>) -> Result<(), LimitExceeded> {
        if over(tags.len(), self.image_tag_quota) {
            return Err(LimitExceeded::Tags {
                attempted: tags.len(),
                maximum: self.image_tag_quota,
            });
        }
        Ok(())
    }

    /// One more member on `img` (Glance counts before it looks for a duplicate).
    pub fn check_new_member(&self, img: &Image) -> Result<(), LimitExceeded> {
        let attempted = img.members.len() + 1;
        if over(attempted, self.image_member_quota) {
            return Err(LimitExceeded::Members {
                attempted,
                maximum: self.image_member_quota,
            });
        }
        Ok(())
    }

    /// A new record: its tags, then its properties (Glance's order).
    pub fn check_new_image(&self, img: &Image) -> Result<(), LimitExceeded> {
        self.check_tags(&img.tags)?;
        self.check_properties(img)
    }

    /// An update from `before` to `after`. As in Glance, properties are counted only when the
    /// update adds one (an image over a lowered quota can still shed or change them), tags
    /// whenever they change.
    pub fn check_update(&self, before: &Image, after: &Image) -> Result<(), LimitExceeded> {
        if after.tags != before.tags {
            self.check_tags(&after.tags)?;
        }
        let adds_property = after
            .properties
            .keys()
            .any(|k| !before.properties.contains_key(k));
        if adds_property {
            self.check_properties(after)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quotas(n: i64) -> Quotas {
        Quotas {
            image_property_quota: n,
            image_tag_quota: n,
            image_member_quota: n,
        }
    }

    fn image(props: usize, tags: usize, members: usize) -> Image {
        let mut img = Image::new("i".into(), Some("p".into()), 0);
        img.properties = (0..props).map(|i| (format!("k{i}"), "v".into())).collect();
        img.tags = (0..tags).map(|i| format!("t{i}")).collect();
        img.members = (0..members)
            .map(|i| {
                let m = tessera_raft::Member {
                    status: tessera_raft::MemberStatus::Pending,
                    created_at: 0,
                    updated_at: 0,
                };
                (format!("m{i}"), m)
            })
            .collect();
        img
    }

    #[test]
    fn limits_hold_at_and_below_and_refuse_over() {
        let q = quotas(3);
        assert!(q.check_new_image(&image(3, 3, 0)).is_ok());
        assert!(q.check_new_image(&image(2, 0, 0)).is_ok());
        assert_eq!(
            q.check_new_image(&image(4, 0, 0)),
            Err(LimitExceeded::Properties {
                attempted: 4,
                maximum: 3
            })
        );
        assert_eq!(
            q.check_new_image(&image(0, 4, 0)),
            Err(LimitExceeded::Tags {
                attempted: 4,
                maximum: 3
            })
        );
        assert!(q.check_new_member(&image(0, 0, 2)).is_ok());
        assert_eq!(
            q.check_new_member(&image(0, 0, 3)),
            Err(LimitExceeded::Members {
                attempted: 4,
                maximum: 3
            })
        );
    }

    #[test]
    fn negative_is_unlimited_and_zero_allows_none() {
        let q = quotas(-1);
        assert!(q.check_new_image(&image(1000, 1000, 0)).is_ok());
        assert!(q.check_new_member(&image(0, 0, 1000)).is_ok());
        let none = quotas(0);
        assert!(none.check_new_image(&image(0, 0, 0)).is_ok());
        assert!(none.check_new_image(&image(0, 1, 0)).is_err());
        assert!(none.check_new_member(&image(0, 0, 0)).is_err());
    }

    #[test]
    fn glance_own_properties_are_not_counted() {
        let mut img = image(2, 0, 0);
        img.properties
            .insert("os_glance_import_task".into(), "t".into());
        assert!(quotas(2).check_properties(&img).is_ok());
    }

    #[test]
    fn an_update_counts_properties_only_when_it_adds_one() {
        let q = quotas(2);
        let before = image(4, 0, 0);
        let mut shed = before.clone();
        shed.properties.remove("k0");
        assert!(
            q.check_update(&before, &shed).is_ok(),
            "removing is allowed"
        );
        let mut changed = before.clone();
        changed.properties.insert("k1".into(), "w".into());
        assert!(q.check_update(&before, &changed).is_ok(), "replacing too");
        let mut added = before.clone();
        added.properties.insert("new".into(), "v".into());
        assert!(matches!(
            q.check_update(&before, &added),
            Err(LimitExceeded::Properties { attempted: 5, .. })
        ));
        let mut tagged = image(0, 2, 0);
        assert!(q.check_update(&tagged.clone(), &tagged).is_ok());
        let before = tagged.clone();
        tagged.tags.insert("x".into());
        assert!(matches!(
            q.check_update(&before, &tagged),
            Err(LimitExceeded::Tags { attempted: 3, .. })
        ));
    }

    #[test]
    fn messages_are_glances() {
        let e = LimitExceeded::Tags {
            attempted: 129,
            maximum: 128,
        };
        assert_eq!(
            e.to_string(),
            "The limit has been exceeded on the number of allowed image tags. \
             Attempted: 129, Maximum: 128"
        );
        assert_eq!(e.noun(), "tag");
    }
}
