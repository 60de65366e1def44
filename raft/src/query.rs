//! List queries over images: Glance's filters, visibility rules, sort orders and markers.
//!
//! The predicate and ordering here are the single definition of what a page contains; the
//! store's indexes only decide how few records it has to look at to produce that page.

use crate::model::{Image, ImageStatus, MemberStatus, Visibility};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// Who is asking: decides which images a list may show.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Viewer {
    /// The caller's project, if any.
    pub project: Option<String>,
    /// Whether the caller is an admin (sees everything).
    pub admin: bool,
}

/// A comparison operator for time filters (`gt:2024-01-01T00:00:00Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimeOp {
    /// Equal to.
    Eq,
    /// Not equal to.
    Neq,
    /// After.
    Gt,
    /// At or after.
    Gte,
    /// Before.
    Lt,
    /// At or before.
    Lte,
}

impl TimeOp {
    /// Whether `value op bound` holds.
    pub fn holds(self, value: i64, bound: i64) -> bool {
        match self {
            Self::Eq => value == bound,
            Self::Neq => value != bound,
            Self::Gt => value > bound,
            Self::Gte => value >= bound,
            Self::Lt => value < bound,
            Self::Lte => value <= bound,
        }
    }
}

/// Which member answers a shared image must have to be listed for a non-owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum MemberFilter {
    /// Accepted shares only (Glance's default).
    #[default]
    Accepted,
    /// Pending shares only.
    Pending,
    /// Rejected shares only.
    Rejected,
    /// Every share.
    All,
}

impl MemberFilter {
    fn admits(self, status: MemberStatus) -> bool {
        match self {
            Self::All => true,
            Self::Accepted => status == MemberStatus::Accepted,
            Self::Pending => status == MemberStatus::Pending,
            Self::Rejected => status == MemberStatus::Rejected,
        }
    }
}

/// Glance's list filters; every set field must match (AND).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Filters {
    /// `id=in:a,b`.
    pub ids: Option<Vec<String>>,
    /// `name=x` or `name=in:x,y`.
    pub names: Option<Vec<String>>,
    /// `status=x` or `status=in:x,y`.
    pub statuses: Option<Vec<ImageStatus>>,
    /// `None` means Glance's default view; `Some(None)` is `visibility=all`.
    #[serde(with = "visibility_filter")]
    pub visibility: Option<Option<Visibility>>,
    /// `owner=x`.
    pub owner: Option<String>,
    /// Every tag must be present.
    pub tags: Vec<String>,
    /// `member_status=x`.
    pub member_status: MemberFilter,
    /// `size_min=n` (bytes).
    pub size_min: Option<u64>,
    /// `size_max=n` (bytes).
    pub size_max: Option<u64>,
    /// `container_format=x` or `in:x,y`.
    pub container_formats: Option<Vec<String>>,
    /// `disk_format=x` or `in:x,y`.
    pub disk_formats: Option<Vec<String>>,
    /// `None` means hidden images are left out (Glance's default).
    pub os_hidden: Option<bool>,
    /// `created_at=op:time` bounds.
    pub created_at: Vec<(TimeOp, i64)>,
    /// `updated_at=op:time` bounds.
    pub updated_at: Vec<(TimeOp, i64)>,
    /// `protected=true|false`.
    pub protected: Option<bool>,
    /// Custom property equality filters.
    pub properties: BTreeMap<String, String>,
}

/// A field an image list can be sorted on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortKey {
    /// `id`.
    Id,
    /// `name`.
    Name,
    /// `status`.
    Status,
    /// `visibility`.
    Visibility,
    /// `owner`.
    Owner,
    /// `size`.
    Size,
    /// `virtual_size`.
    VirtualSize,
    /// `min_disk`.
    MinDisk,
    /// `min_ram`.
    MinRam,
    /// `container_format`.
    ContainerFormat,
    /// `disk_format`.
    DiskFormat,
    /// `created_at`.
    CreatedAt,
    /// `updated_at`.
    UpdatedAt,
}

impl SortKey {
    /// Parses a Glance `sort_key` name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "id" => Self::Id,
            "name" => Self::Name,
            "status" => Self::Status,
            "visibility" => Self::Visibility,
            "owner" => Self::Owner,
            "size" => Self::Size,
            "virtual_size" => Self::VirtualSize,
            "min_disk" => Self::MinDisk,
            "min_ram" => Self::MinRam,
            "container_format" => Self::ContainerFormat,
            "disk_format" => Self::DiskFormat,
            "created_at" => Self::CreatedAt,
            "updated_at" => Self::UpdatedAt,
            _ => return None,
        })
    }

    fn compare(&self, a: &Image, b: &Image) -> Ordering {
        match self {
            Self::Id => a.id.cmp(&b.id),
            Self::Name => a.name.cmp(&b.name),
            Self::Status => a.status.as_str().cmp(b.status.as_str()),
            Self::Visibility => a.visibility.as_str().cmp(b.visibility.as_str()),
            Self::Owner => a.owner.cmp(&b.owner),
            Self::Size => a.size.cmp(&b.size),
            Self::VirtualSize => a.virtual_size.cmp(&b.virtual_size),
            Self::MinDisk => a.min_disk.cmp(&b.min_disk),
            Self::MinRam => a.min_ram.cmp(&b.min_ram),
            Self::ContainerFormat => a.container_format.cmp(&b.container_format),
            Self::DiskFormat => a.disk_format.cmp(&b.disk_format),
            Self::CreatedAt => a.created_at.cmp(&b.created_at),
            Self::UpdatedAt => a.updated_at.cmp(&b.updated_at),
        }
    }
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortDir {
    /// Ascending.
    Asc,
    /// Descending.
    Desc,
}

/// A page request: who asks, what matches, in which order, from where, how many.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListQuery {
    /// Who asks.
    pub viewer: Viewer,
    /// What must match.
    pub filters: Filters,
    /// Sort keys in priority order; `id` is always appended as the final tie-breaker.
    pub sort: Vec<(SortKey, SortDir)>,
    /// Id of the last image of the previous page.
    pub marker: Option<String>,
    /// Most images in the page.
    pub limit: usize,
}

impl ListQuery {
    /// Glance's default order: newest first.
    pub fn default_sort() -> Vec<(SortKey, SortDir)> {
        vec![(SortKey::CreatedAt, SortDir::Desc)]
    }

    /// Total order of the page: the sort keys, then `id` in the last key's direction.
    pub fn compare(&self, a: &Image, b: &Image) -> Ordering {
        let mut last = SortDir::Desc;
        for (key, dir) in &self.sort {
            last = *dir;
            let ord = key.compare(a, b);
            let ord = if *dir == SortDir::Desc {
                ord.reverse()
            } else {
                ord
            };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        let ord = a.id.cmp(&b.id);
        if last == SortDir::Desc {
            ord.reverse()
        } else {
            ord
        }
    }

    /// Whether the viewer may see `image` at all (Glance's visibility rules).
    pub fn can_view(viewer: &Viewer, image: &Image) -> bool {
        if viewer.admin {
            return true;
        }
        let owns = viewer.project.is_some() && image.owner == viewer.project;
        owns || match image.visibility {
            Visibility::Public | Visibility::Community => true,
            Visibility::Private => false,
            Visibility::Shared => viewer
                .project
                .as_ref()
                .is_some_and(|p| image.members.contains_key(p)),
        }
    }

    /// Whether `image` belongs in this list (visibility rules and every filter).
    pub fn matches(&self, image: &Image) -> bool {
        matches!(
            image.status,
            ImageStatus::Active
                | ImageStatus::Queued
                | ImageStatus::Saving
                | ImageStatus::Uploading
                | ImageStatus::Importing
                | ImageStatus::Killed
                | ImageStatus::Deactivated
        ) && self.visible_in_list(image)
            && self.filters_match(image)
    }

    fn member_ok(&self, image: &Image) -> bool {
        let Some(project) = &self.viewer.project else {
            return false;
        };
        image
            .members
            .get(project)
            .is_some_and(|m| self.filters.member_status.admits(m.status))
    }

    fn visible_in_list(&self, image: &Image) -> bool {
        let v = &self.viewer;
        let owns = v.project.is_some() && image.owner == v.project;
        match self.filters.visibility {
            // Default view: own, public, shared-with-me; community only when owned.
            None => {
                if v.admin {
                    return true;
                }
                owns || match image.visibility {
                    Visibility::Public => true,
                    Visibility::Shared => self.member_ok(image),
                    Visibility::Private | Visibility::Community => false,
                }
            }
            Some(None) => {
                if v.admin {
                    return true;
                }
                owns || match image.visibility {
                    Visibility::Public | Visibility::Community => true,
                    Visibility::Shared => self.member_ok(image),
                    Visibility::Private => false,
                }
            }
            Some(Some(want)) => {
                image.visibility == want
                    && (v.admin
                        || owns
                        || match want {
                            Visibility::Public | Visibility::Community => true,
                            Visibility::Shared => self.member_ok(image),
                            Visibility::Private => false,
                        })
            }
        }
    }

    fn filters_match(&self, image: &Image) -> bool {
        let f = &self.filters;
        let in_list = |list: &Option<Vec<String>>, value: &Option<String>| match list {
            None => true,
            Some(l) => value.as_ref().is_some_and(|v| l.contains(v)),
        };
        f.ids.as_ref().is_none_or(|ids| ids.contains(&image.id))
            && in_list(&f.names, &image.name)
            && f.statuses
                .as_ref()
                .is_none_or(|s| s.contains(&image.status))
            && f.owner
                .as_ref()
                .is_none_or(|o| image.owner.as_ref() == Some(o))
            && f.tags.iter().all(|t| image.tags.contains(t))
            && f.size_min
                .is_none_or(|m| image.size.is_some_and(|s| s >= m))
            && f.size_max
                .is_none_or(|m| image.size.is_some_and(|s| s <= m))
            && in_list(&f.container_formats, &image.container_format)
            && in_list(&f.disk_formats, &image.disk_format)
            && image.os_hidden == f.os_hidden.unwrap_or(false)
            && f.protected.is_none_or(|p| image.protected == p)
            && f.created_at
                .iter()
                .all(|(op, b)| op.holds(image.created_at, *b))
            && f.updated_at
                .iter()
                .all(|(op, b)| op.holds(image.updated_at, *b))
            && f.properties
                .iter()
                .all(|(k, v)| image.properties.get(k) == Some(v))
    }
}

/// Serde for `Filters::visibility`: a plain `Option<Option<_>>` loses `Some(None)` in
/// self-describing formats (both become nil), so it travels as a three-way enum.
mod visibility_filter {
    use crate::model::Visibility;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    enum Wire {
        Default,
        All,
        Only(Visibility),
    }

    /// Writes the three-way filter as a tagged value.
    pub fn serialize<S: Serializer>(
        v: &Option<Option<Visibility>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            None => Wire::Default,
            Some(None) => Wire::All,
            Some(Some(v)) => Wire::Only(*v),
        }
        .serialize(s)
    }

    /// Reads the tagged value back.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<Visibility>>, D::Error> {
        Ok(match Wire::deserialize(d)? {
            Wire::Default => None,
            Wire::All => Some(None),
            Wire::Only(v) => Some(Some(v)),
        })
    }
}
