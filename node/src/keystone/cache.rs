//! Validated tokens (and, briefly, refused ones), so a node asks Keystone once per token and
//! cache period rather than once per request.
//!
//! Keys are the SHA-256 of the token, never the token itself. An entry never outlives the
//! token's own expiry. The cache is bounded: when full, expired entries go first, then the
//! oldest.

use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use super::token::TokenInfo;

/// What the cache remembers of a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cached {
    /// Keystone accepted it.
    Valid(Box<TokenInfo>),
    /// Keystone refused it, with its reason.
    Invalid(String),
}

/// A token's cache key: its SHA-256, so no token is kept in memory longer than needed.
pub type Key = [u8; 32];

struct Entry {
    value: Cached,
    /// Unix seconds (fractional) after which the entry is not used.
    until: f64,
}

struct Inner {
    map: HashMap<Key, Entry>,
    /// Insertion order, for eviction of the oldest when full.
    order: VecDeque<Key>,
}

/// A bounded token cache.
pub struct TokenCache {
    inner: Mutex<Inner>,
    capacity: usize,
    valid_for: f64,
    invalid_for: f64,
}

/// The cache key of `token`.
pub fn key(token: &str) -> Key {
    Sha256::digest(token.as_bytes()).into()
}

impl TokenCache {
    /// A cache of at most `capacity` tokens; valid ones kept `valid_for` seconds (never past
    /// their expiry), refused ones `invalid_for` seconds.
    pub fn new(capacity: usize, valid_for: f64, invalid_for: f64) -> TokenCache {
        TokenCache {
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                order: VecDeque::new(),
            }),
            capacity: capacity.max(1),
            valid_for,
            invalid_for,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves a consistent map: recover it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached answer for `token` at time `now` (unix seconds), if any.
    pub fn get(&self, token: &str, now: f64) -> Option<Cached> {
        let k = key(token);
        let mut inner = self.lock();
        match inner.map.get(&k) {
            Some(e) if e.until > now => Some(e.value.clone()),
            Some(_) => {
                inner.map.remove(&k);
                None
            }
            None => None,
        }
    }

    /// Remembers Keystone's answer for `token`, received at `now`.
    pub fn put(&self, token: &str, value: Cached, now: f64) {
        let until = match &value {
            Cached::Valid(info) => (now + self.valid_for).min(info.expires_at as f64),
            Cached::Invalid(_) => now + self.invalid_for,
        };
        if until <= now {
            return;
        }
        let k = key(token);
        let mut inner = self.lock();
        if !inner.map.contains_key(&k) {
            if inner.map.len() >= self.capacity {
                inner.map.retain(|_, e| e.until > now);
                let Inner { map, order } = &mut *inner;
                order.retain(|k| map.contains_key(k));
            }
            while inner.map.len() >= self.capacity {
                match inner.order.pop_front() {
                    Some(old) => {
                        inner.map.remove(&old);
                    }
                    None => break,
                }
            }
            inner.order.push_back(k);
        }
        inner.map.insert(k, Entry { value, until });
    }

    /// Number of entries held (expired ones included until they are swept).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(expires_at: i64) -> Box<TokenInfo> {
        Box::new(TokenInfo {
            user_id: "u".into(),
            user_name: "n".into(),
            user_domain_id: "default".into(),
            project_id: Some("p".into()),
            project_name: Some("p".into()),
            project_domain_id: Some("default".into()),
            domain_id: None,
            system_all: false,
            roles: vec!["member".into()],
            expires_at,
            catalog: Default::default(),
        })
    }

    #[test]
    fn never_past_the_cache_time_or_the_token_expiry() {
        let c = TokenCache::new(10, 300.0, 10.0);
        c.put("a", Cached::Valid(info(1_000)), 0.0);
        assert!(c.get("a", 299.0).is_some());
        assert!(c.get("a", 300.0).is_none());
        c.put("b", Cached::Valid(info(100)), 0.0);
        assert!(c.get("b", 99.0).is_some());
        assert!(c.get("b", 100.0).is_none(), "kept past the token's expiry");
        c.put("c", Cached::Valid(info(50)), 60.0);
        assert!(
            c.get("c", 60.0).is_none(),
            "an expired token is never cached"
        );
    }

    #[test]
    fn refusals_are_kept_briefly() {
        let c = TokenCache::new(10, 300.0, 10.0);
        c.put("x", Cached::Invalid("no".into()), 0.0);
        assert_eq!(c.get("x", 9.0), Some(Cached::Invalid("no".into())));
        assert!(c.get("x", 10.0).is_none());
    }

    #[test]
    fn bounded_expired_first_then_oldest() {
        let c = TokenCache::new(3, 300.0, 10.0);
        c.put("old", Cached::Invalid("no".into()), 0.0);
        c.put("a", Cached::Valid(info(10_000)), 0.0);
        c.put("b", Cached::Valid(info(10_000)), 0.0);
        // At t=20 the refusal has expired: it makes room, a and b stay.
        c.put("c", Cached::Valid(info(10_000)), 20.0);
        assert!(c.get("a", 21.0).is_some() && c.get("b", 21.0).is_some());
        // Full of live entries: the oldest (a) goes.
        c.put("d", Cached::Valid(info(10_000)), 22.0);
        assert!(c.get("a", 23.0).is_none());
        assert!(c.get("d", 23.0).is_some() && c.get("c", 23.0).is_some());
        assert!(c.len() <= 3);
    }
}
