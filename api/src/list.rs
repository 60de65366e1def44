//! `GET /v2/images` query parameters: Glance's filters, sort forms and pagination.

use crate::error::ApiError;
use crate::view::parse_time;
use tessera_raft::{
    Filters, ImageStatus, ListQuery, MemberFilter, SortDir, SortKey, TimeOp, Viewer, Visibility,
};

/// Page size when the client names none (Glance's `limit_param_default`).
pub const DEFAULT_LIMIT: usize = 25;
/// Largest page served (Glance's `api_limit_max`).
pub const MAX_LIMIT: usize = 1000;

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::BadRequest(msg.into())
}

/// Splits `in:a,b` into its values; a plain value is a one-element list.
fn values(v: &str) -> Vec<String> {
    match v.strip_prefix("in:") {
        Some(list) => list.split(',').map(|s| s.trim().to_string()).collect(),
        None => vec![v.to_string()],
    }
}

fn parse_bool(key: &str, v: &str) -> Result<bool, ApiError> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(bad(format!(
            "Invalid value for {key}: '{v}' is not a boolean."
        ))),
    }
}

fn parse_u64(key: &str, v: &str) -> Result<u64, ApiError> {
    v.parse().map_err(|_| {
        bad(format!(
            "Invalid value for {key}: '{v}' is not a non-negative integer."
        ))
    })
}

fn parse_time_filter(key: &str, v: &str) -> Result<(TimeOp, i64), ApiError> {
    let (op, rest) = match v.split_once(':') {
        Some((op, rest)) if ["eq", "neq", "gt", "gte", "lt", "lte"].contains(&op) => (op, rest),
        _ => ("eq", v),
    };
    let op = match op {
        "neq" => TimeOp::Neq,
        "gt" => TimeOp::Gt,
        "gte" => TimeOp::Gte,
        "lt" => TimeOp::Lt,
        "lte" => TimeOp::Lte,
        _ => TimeOp::Eq,
    };
    let t = parse_time(rest).ok_or_else(|| {
        bad(format!(
            "Unable to parse datetime '{rest}' for filter {key}."
        ))
    })?;
    Ok((op, t))
}

/// Glance's `sort_dir`.
pub fn parse_dir(v: &str) -> Result<SortDir, ApiError> {
    match v {
        "asc" => Ok(SortDir::Asc),
        "desc" => Ok(SortDir::Desc),
        other => Err(bad(format!("Invalid sort direction: {other}"))),
    }
}

fn parse_key(v: &str) -> Result<SortKey, ApiError> {
    SortKey::parse(v).ok_or_else(|| {
        bad(format!(
            "Invalid sort key: {v}. It is not one of the allowed sort keys."
        ))
    })
}

/// Glance's `limit`: a non-negative integer, capped at [`MAX_LIMIT`].
pub fn parse_limit(v: &str) -> Result<usize, ApiError> {
    let n: i64 = v
        .parse()
        .map_err(|_| bad("limit param must be an integer"))?;
    usize::try_from(n)
        .map(|n| n.min(MAX_LIMIT))
        .map_err(|_| bad("limit param must be positive"))
}

/// Parses a raw query string into a list query for `viewer`.
pub fn parse_query(raw: &str, viewer: Viewer) -> Result<ListQuery, ApiError> {
    let mut f = Filters::default();
    let mut limit = DEFAULT_LIMIT;
    let mut marker = None;
    let mut sort_keys = Vec::new();
    let mut sort_dirs = Vec::new();
    let mut sort = None;
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        let (k, v) = (k.as_ref(), v.as_ref());
        match k {
            "limit" => limit = parse_limit(v)?,
            "marker" => marker = Some(v.to_string()),
            "sort_key" => sort_keys.push(parse_key(v)?),
            "sort_dir" => sort_dirs.push(parse_dir(v)?),
            "sort" => sort = Some(v.to_string()),
            "id" => f.ids = Some(values(v)),
            "name" => f.names = Some(values(v)),
            "status" => {
                f.statuses = Some(
                    values(v)
                        .iter()
                        .map(|s| {
                            ImageStatus::parse(s)
                                .ok_or_else(|| bad(format!("Invalid status value: {s}")))
                        })
                        .collect::<Result<_, _>>()?,
                )
            }
            "visibility" => {
                f.visibility = Some(match v {
                    "all" => None,
                    other => Some(
                        Visibility::parse(other)
                            .ok_or_else(|| bad(format!("Invalid visibility value: {other}")))?,
                    ),
                })
            }
            "owner" => f.owner = Some(v.to_string()),
            "tag" => f.tags.push(v.to_string()),
            "member_status" => {
                f.member_status = match v {
                    "accepted" => MemberFilter::Accepted,
                    "pending" => MemberFilter::Pending,
                    "rejected" => MemberFilter::Rejected,
                    "all" => MemberFilter::All,
                    other => return Err(bad(format!("Invalid status value: {other}"))),
                }
            }
            "size_min" => f.size_min = Some(parse_u64(k, v)?),
            "size_max" => f.size_max = Some(parse_u64(k, v)?),
            // Glance filters its own columns exactly, not as custom properties.
            "size" => {
                let n = parse_u64(k, v)?;
                f.size_min = Some(n);
                f.size_max = Some(n);
            }
            "container_format" => f.container_formats = Some(values(v)),
            "disk_format" => f.disk_formats = Some(values(v)),
            "os_hidden" => f.os_hidden = Some(parse_bool(k, v)?),
            "protected" => f.protected = Some(parse_bool(k, v)?),
            "created_at" => f.created_at.push(parse_time_filter(k, v)?),
            "updated_at" => f.updated_at.push(parse_time_filter(k, v)?),
            other => {
                f.properties.insert(other.to_string(), v.to_string());
            }
        }
    }
    let sort = match sort {
        Some(_) if !sort_keys.is_empty() || !sort_dirs.is_empty() => {
            return Err(bad(
                "The 'sort' param cannot be combined with 'sort_key' or 'sort_dir'.",
            ))
        }
        Some(s) => s
            .split(',')
            .map(|part| {
                let (key, dir) = part.split_once(':').unwrap_or((part, "desc"));
                Ok((parse_key(key.trim())?, parse_dir(dir.trim())?))
            })
            .collect::<Result<Vec<_>, ApiError>>()?,
        None if sort_keys.is_empty() => {
            let dir = sort_dirs.first().copied().unwrap_or(SortDir::Desc);
            vec![(SortKey::CreatedAt, dir)]
        }
        None => {
            if sort_dirs.len() > 1 && sort_dirs.len() != sort_keys.len() {
                return Err(bad(
                    "Number of sort dirs does not match the number of sort keys",
                ));
            }
            let default = sort_dirs.first().copied().unwrap_or(SortDir::Desc);
            sort_keys
                .into_iter()
                .enumerate()
                .map(|(i, k)| (k, sort_dirs.get(i).copied().unwrap_or(default)))
                .collect()
        }
    };
    Ok(ListQuery {
        viewer,
        filters: f,
        sort,
        marker,
        limit,
    })
}

/// The query string without `marker` (for `first` and `next` links).
pub fn without_marker(raw: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form_urlencoded::parse(raw.as_bytes()).filter(|(k, _)| k != "marker"))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_glance_filters() {
        let q = parse_query(
            "name=in:a,b&status=active&tag=x&tag=y&size_min=3&os_hidden=True&created_at=gt:2020-01-01T00:00:00Z&hw_x=1&limit=5&marker=m",
            Viewer::default(),
        )
        .unwrap();
        assert_eq!(q.filters.names, Some(vec!["a".into(), "b".into()]));
        assert_eq!(q.filters.statuses, Some(vec![ImageStatus::Active]));
        assert_eq!(q.filters.tags, vec!["x", "y"]);
        assert_eq!(q.filters.size_min, Some(3));
        assert_eq!(q.filters.os_hidden, Some(true));
        assert_eq!(q.filters.created_at, vec![(TimeOp::Gt, 1_577_836_800)]);
        assert_eq!(
            q.filters.properties.get("hw_x").map(String::as_str),
            Some("1")
        );
        assert_eq!((q.limit, q.marker.as_deref()), (5, Some("m")));
        assert_eq!(q.sort, vec![(SortKey::CreatedAt, SortDir::Desc)]);
        // `size` is the image's own field, matched exactly (Tempest's list-by-size test).
        let q = parse_query("size=42", Viewer::default()).unwrap();
        assert_eq!(
            (q.filters.size_min, q.filters.size_max),
            (Some(42), Some(42))
        );
        assert!(q.filters.properties.is_empty());
        assert!(parse_query("size=big", Viewer::default()).is_err());
    }

    #[test]
    fn parses_sort_forms_and_refuses_bad_ones() {
        let q = parse_query(
            "sort_key=name&sort_key=size&sort_dir=asc",
            Viewer::default(),
        )
        .unwrap();
        assert_eq!(
            q.sort,
            vec![(SortKey::Name, SortDir::Asc), (SortKey::Size, SortDir::Asc)]
        );
        let q = parse_query("sort=name:asc,created_at", Viewer::default()).unwrap();
        assert_eq!(
            q.sort,
            vec![
                (SortKey::Name, SortDir::Asc),
                (SortKey::CreatedAt, SortDir::Desc)
            ]
        );
        for bad in [
            "sort=name&sort_key=id",
            "sort_key=bogus",
            "sort_dir=up",
            "limit=-1",
            "limit=x",
            "status=nope",
            "visibility=x",
            "size_min=-2",
            "created_at=gt:yesterday",
        ] {
            assert!(parse_query(bad, Viewer::default()).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn limit_is_clamped(n in 0u64..100_000) {
            let q = parse_query(&format!("limit={n}"), Viewer::default()).unwrap();
            prop_assert_eq!(q.limit, (n as usize).min(MAX_LIMIT));
        }

        #[test]
        fn marker_is_dropped_from_links(m in "[a-z0-9-]{1,20}", name in "[a-z]{1,8}") {
            let raw = format!("name={name}&marker={m}&limit=2");
            prop_assert_eq!(without_marker(&raw), format!("name={name}&limit=2"));
        }
    }
}
