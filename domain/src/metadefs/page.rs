//! Glance's paging of metadef lists: sort (descending reverses every key, tie-breakers
//! included), start after the marker (404 when it names nothing), cut at the limit.

use crate::error::DomainError;
use std::cmp::Ordering;

/// How to sort and cut one list.
pub(crate) struct Paging<'a, T> {
    /// The order, ascending.
    pub(crate) order: &'a dyn Fn(&T, &T) -> Ordering,
    /// Reverse it.
    pub(crate) descending: bool,
    /// The name of the last record of the previous page.
    pub(crate) marker: Option<&'a str>,
    /// A record's name, as markers name it.
    pub(crate) name: &'a dyn Fn(&T) -> &str,
    /// Page size.
    pub(crate) limit: usize,
}

impl<T> Paging<'_, T> {
    /// The page of `items`; `missing` is the error for a marker that names no record.
    pub(crate) fn apply(
        &self,
        mut items: Vec<T>,
        missing: impl FnOnce(&str) -> DomainError,
    ) -> Result<Vec<T>, DomainError> {
        items.sort_by(|a, b| {
            let o = (self.order)(a, b);
            if self.descending {
                o.reverse()
            } else {
                o
            }
        });
        let start = match self.marker {
            None => 0,
            Some(m) => {
                items
                    .iter()
                    .position(|t| (self.name)(t) == m)
                    .ok_or_else(|| missing(m))?
                    + 1
            }
        };
        Ok(items.into_iter().skip(start).take(self.limit).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_starts_after_the_marker_and_cuts() {
        let p = Paging {
            order: &|a: &&str, b: &&str| a.cmp(b),
            descending: true,
            marker: Some("c"),
            name: &|s: &&str| *s,
            limit: 2,
        };
        let page = p.apply(vec!["a", "d", "c", "b"], |_| {
            DomainError::NotFound("x".into())
        });
        assert_eq!(page.unwrap(), ["b", "a"]);
        let p = Paging {
            marker: Some("z"),
            ..p
        };
        assert!(p
            .apply(vec!["a"], |m| DomainError::NotFound(m.into()))
            .is_err());
    }
}
