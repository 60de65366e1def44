//! Placement policies: how many copies of each chunk a cluster store keeps, and in which
//! zones. A chunk shared by several stores' images keeps every policy asked of it ([`Needs`]):
//! its targets are the union of each policy's placement, so a copy into a store confined to
//! other zones adds copies there rather than counting the ones it already has.

use std::sync::Arc;

use crate::placement::NodeInfo;

/// Copies of each chunk and the zones they go to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Policy {
    /// Zones the copies go to, sorted and distinct; empty: every zone. First, so policies
    /// sort by zones (the order [`Needs`] unites them in).
    zones: Arc<[String]>,
    /// Copies of each chunk (capped by the live nodes of its zones).
    pub replicas: usize,
}

impl Policy {
    /// `replicas` copies anywhere in the cluster (spread across its zones).
    pub fn everywhere(replicas: usize) -> Policy {
        Policy {
            zones: Arc::from(Vec::new()),
            replicas,
        }
    }

    /// `replicas` copies on nodes of `zones` only (every zone when it is empty).
    pub fn in_zones(replicas: usize, zones: impl IntoIterator<Item = String>) -> Policy {
        let mut zones: Vec<String> = zones.into_iter().collect();
        zones.sort_unstable();
        zones.dedup();
        Policy {
            zones: Arc::from(zones),
            replicas,
        }
    }

    /// The zones it confines copies to; empty: every zone.
    pub fn zones(&self) -> &[String] {
        &self.zones
    }

    /// Whether a copy may go to `node`.
    pub fn admits(&self, node: &NodeInfo) -> bool {
        self.zones.is_empty() || self.zones.contains(&node.zone)
    }
}

/// Every policy a chunk must meet: one per zone set (the most copies any referrer asks of
/// it), sorted, so every node computes the same targets from the same referrers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needs(Vec<Policy>);

impl Needs {
    /// Just `policy`.
    pub fn of(policy: Policy) -> Needs {
        Needs(vec![policy])
    }

    /// Adds `policy`: a policy of the same zones keeps the most copies either asks.
    pub fn add(&mut self, policy: Policy) {
        match self.0.binary_search_by(|p| p.zones.cmp(&policy.zones)) {
            Ok(i) => self.0[i].replicas = self.0[i].replicas.max(policy.replicas),
            Err(i) => self.0.insert(i, policy),
        }
    }

    /// Adds every policy of `other`.
    pub fn merge(&mut self, other: &Needs) {
        for p in &other.0 {
            self.add(p.clone());
        }
    }

    /// Whether it already asks at least what `policy` asks.
    pub fn covers(&self, policy: &Policy) -> bool {
        self.0
            .iter()
            .any(|p| p.zones == policy.zones && p.replicas >= policy.replicas)
    }

    /// Its policies, in the order their targets are united.
    pub fn policies(&self) -> &[Policy] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zoned(r: usize, zones: &[&str]) -> Policy {
        Policy::in_zones(r, zones.iter().map(|z| z.to_string()))
    }

    #[test]
    fn same_zones_keep_the_most_copies_and_others_add_up() {
        let mut n = Needs::of(Policy::everywhere(2));
        n.add(Policy::everywhere(3));
        n.add(zoned(2, &["b", "a", "a"]));
        n.add(Policy::everywhere(1));
        n.add(zoned(1, &["a", "b"]));
        assert_eq!(
            n.policies(),
            &[Policy::everywhere(3), zoned(2, &["a", "b"])]
        );
        assert!(n.covers(&zoned(2, &["b", "a"])) && !n.covers(&zoned(3, &["a", "b"])));
        assert!(!n.covers(&zoned(1, &["a"])));
        let mut m = Needs::of(zoned(1, &["c"]));
        m.merge(&n);
        // The same set, whatever the order it was built in.
        let mut again = Needs::of(zoned(2, &["a", "b"]));
        again.add(zoned(1, &["c"]));
        again.add(Policy::everywhere(3));
        assert_eq!(m, again);
    }

    #[test]
    fn a_policy_admits_nodes_of_its_zones() {
        let node = |zone: &str| NodeInfo::new(1, zone, 1);
        assert!(Policy::everywhere(3).admits(&node("x")));
        let p = zoned(2, &["a", "b"]);
        assert!(p.admits(&node("a")) && p.admits(&node("b")) && !p.admits(&node("c")));
    }
}
