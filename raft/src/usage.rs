//! Per-project usage of Glance's unified-limit resources (`image_size_total`,
//! `image_stage_total`, `image_count_total`, `image_count_uploading`), kept by the state
//! machine as each image record changes, and the limit checks a command may carry.
//!
//! Counting inside apply is what makes a limit hold cluster-wide: two nodes racing for a
//! project's last slot propose two commands, the log orders them, and the second one's check
//! sees the first one's image. The proposer only supplies the limits it read from Keystone;
//! the usage they are compared with is the state machine's own.

use crate::model::{Image, ImageStatus};
use serde::{Deserialize, Serialize};

/// Property set while an image is being copied to more stores (it then holds staging space
/// and an upload slot, as in Glance).
pub const IMPORTING_TO_STORES: &str = "os_glance_importing_to_stores";

/// A unified-limit resource, named as Glance registers it in Keystone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Resource {
    /// MiB of image data stored.
    ImageSizeTotal,
    /// MiB of image data staged for import.
    ImageStageTotal,
    /// Images that are not deleted or killed.
    ImageCountTotal,
    /// Images being uploaded, staged, imported or copied.
    ImageCountUploading,
}

impl Resource {
    /// Every resource, in Glance's order.
    pub const ALL: [Resource; 4] = [
        Resource::ImageSizeTotal,
        Resource::ImageStageTotal,
        Resource::ImageCountTotal,
        Resource::ImageCountUploading,
    ];

    /// The resource's name in Keystone and in `/v2/info/usage`.
    pub fn name(self) -> &'static str {
        match self {
            Resource::ImageSizeTotal => "image_size_total",
            Resource::ImageStageTotal => "image_stage_total",
            Resource::ImageCountTotal => "image_count_total",
            Resource::ImageCountUploading => "image_count_uploading",
        }
    }
}

/// One project's usage: bytes (not MiB, so that sums are exact) and counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Bytes of stored image data.
    pub size_bytes: u64,
    /// Bytes of staged image data.
    pub stage_bytes: u64,
    /// Images not deleted or killed.
    pub count: u64,
    /// Images in an upload state or being copied.
    pub uploading: u64,
}

impl Usage {
    /// The usage of `r` in Glance's unit (MiB rounded down for sizes).
    pub fn of(&self, r: Resource) -> u64 {
        const MIB: u64 = 1024 * 1024;
        match r {
            Resource::ImageSizeTotal => self.size_bytes / MIB,
            Resource::ImageStageTotal => self.stage_bytes / MIB,
            Resource::ImageCountTotal => self.count,
            Resource::ImageCountUploading => self.uploading,
        }
    }

    /// What one image adds (Glance's definitions in its database API).
    pub fn of_image(img: &Image) -> Usage {
        use ImageStatus::*;
        let gone = matches!(img.status, Killed | Deleted);
        let staging = matches!(img.status, Uploading | Importing);
        let copying = !gone
            && !staging
            && img.status != Saving
            && img
                .properties
                .get(IMPORTING_TO_STORES)
                .is_some_and(|v| !v.is_empty());
        let size = img.size.unwrap_or(0);
        Usage {
            size_bytes: if !gone && img.has_data() { size } else { 0 },
            stage_bytes: if staging || copying { size } else { 0 },
            count: u64::from(!gone),
            uploading: u64::from(staging || img.status == Saving || copying),
        }
    }

    /// This usage with `old`'s share replaced by `new`'s.
    pub fn replaced(self, old: Option<&Image>, new: Option<&Image>) -> Usage {
        let minus = old.map(Usage::of_image).unwrap_or_default();
        let plus = new.map(Usage::of_image).unwrap_or_default();
        Usage {
            size_bytes: (self.size_bytes.saturating_sub(minus.size_bytes))
                .saturating_add(plus.size_bytes),
            stage_bytes: (self.stage_bytes.saturating_sub(minus.stage_bytes))
                .saturating_add(plus.stage_bytes),
            count: (self.count.saturating_sub(minus.count)).saturating_add(plus.count),
            uploading: (self.uploading.saturating_sub(minus.uploading))
                .saturating_add(plus.uploading),
        }
    }
}

/// A limit the proposer read (from Keystone) and the state machine checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitCheck {
    /// The resource.
    pub resource: Resource,
    /// Its limit for the image's owner.
    pub limit: u64,
    /// What the operation asks for on top of the current usage.
    pub delta: u64,
    /// Compare the usage *after* the command's own change (Glance checks the uploading count
    /// once the image has entered its upload state) rather than before it.
    pub after: bool,
}

/// A failed check: Glance's (oslo.limit's) `ProjectOverLimit` facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverLimit {
    /// The project over its limit.
    pub project: String,
    /// The resource.
    pub resource: Resource,
    /// Its limit.
    pub limit: u64,
    /// The usage compared.
    pub usage: u64,
    /// What was asked for.
    pub delta: u64,
}

impl std::fmt::Display for OverLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Project {} is over a limit for [Resource {} is over limit of {} due to current usage {} and delta {}]",
            self.project,
            self.resource.name(),
            self.limit,
            self.usage,
            self.delta
        )
    }
}

/// The first of `checks` that `before` / `after` (the project's usage around the command)
/// fails.
pub fn check(
    project: &str,
    checks: &[LimitCheck],
    before: &Usage,
    after: &Usage,
) -> Option<OverLimit> {
    checks.iter().find_map(|c| {
        let usage = if c.after { after } else { before }.of(c.resource);
        (usage.saturating_add(c.delta) > c.limit).then(|| OverLimit {
            project: project.into(),
            resource: c.resource,
            limit: c.limit,
            usage,
            delta: c.delta,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DataRef;

    fn img(status: ImageStatus, size: u64) -> Image {
        let mut i = Image::new("i".into(), Some("p".into()), 0);
        i.status = status;
        i.size = Some(size);
        if status == ImageStatus::Active {
            i.data = Some(DataRef::new("m".into()));
        }
        i
    }

    #[test]
    fn images_count_as_glance_counts_them() {
        let mib = 1024 * 1024;
        let u = Usage::of_image(&img(ImageStatus::Active, 3 * mib));
        assert_eq!(
            (u.of(Resource::ImageSizeTotal), u.count, u.uploading),
            (3, 1, 0)
        );
        let u = Usage::of_image(&img(ImageStatus::Uploading, 2 * mib));
        assert_eq!(
            (u.of(Resource::ImageStageTotal), u.count, u.uploading),
            (2, 1, 1)
        );
        assert_eq!(Usage::of_image(&img(ImageStatus::Saving, 0)).uploading, 1);
        assert_eq!(
            Usage::of_image(&img(ImageStatus::Killed, 5)),
            Usage::default()
        );
        let mut copying = img(ImageStatus::Active, mib);
        copying
            .properties
            .insert(IMPORTING_TO_STORES.into(), "fast".into());
        let u = Usage::of_image(&copying);
        assert_eq!((u.stage_bytes, u.uploading), (mib, 1));
    }

    #[test]
    fn replacing_an_image_moves_its_share() {
        let queued = img(ImageStatus::Queued, 0);
        let saving = img(ImageStatus::Saving, 0);
        let u = Usage::default().replaced(None, Some(&queued));
        assert_eq!((u.count, u.uploading), (1, 0));
        let u = u.replaced(Some(&queued), Some(&saving));
        assert_eq!((u.count, u.uploading), (1, 1));
        assert_eq!(u.replaced(Some(&saving), None), Usage::default());
    }

    #[test]
    fn checks_compare_usage_plus_delta_with_the_limit() {
        let before = Usage {
            count: 1,
            ..Default::default()
        };
        let after = Usage {
            count: 2,
            uploading: 2,
            ..Default::default()
        };
        let create = LimitCheck {
            resource: Resource::ImageCountTotal,
            limit: 2,
            delta: 1,
            after: false,
        };
        assert_eq!(check("p", &[create], &before, &after), None);
        let full = LimitCheck { limit: 1, ..create };
        let over = check("p", &[full], &before, &after).expect("over");
        assert_eq!(
            over.to_string(),
            "Project p is over a limit for [Resource image_count_total is over limit of 1 due to current usage 1 and delta 1]"
        );
        let uploading = LimitCheck {
            resource: Resource::ImageCountUploading,
            limit: 1,
            delta: 0,
            after: true,
        };
        assert_eq!(
            check("p", &[uploading], &before, &after).map(|o| o.usage),
            Some(2)
        );
    }
}
