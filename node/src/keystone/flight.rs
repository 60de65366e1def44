//! One Keystone call per token at a time: requests that miss the cache for the same token
//! while a validation is under way wait for that one instead of each asking Keystone, so a
//! burst of requests with a new token (or a cache expiry under load) is one call, not N.

use futures::future::{BoxFuture, FutureExt, Shared};
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Mutex;

/// Calls in flight, by key; each key's result is shared by everyone who asked meanwhile.
pub struct SingleFlight<K, V: Clone> {
    inflight: Mutex<HashMap<K, Shared<BoxFuture<'static, V>>>>,
}

impl<K: Hash + Eq + Clone, V: Clone + Send + Sync + 'static> SingleFlight<K, V> {
    /// No calls in flight.
    pub fn new() -> Self {
        SingleFlight {
            inflight: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Shared<BoxFuture<'static, V>>>> {
        // The map stays consistent if a holder panicked: recover it.
        self.inflight.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The result of the call under way for `key`, or of `start()` if none is.
    pub async fn run<F>(&self, key: K, start: impl FnOnce() -> F) -> V
    where
        F: Future<Output = V> + Send + 'static,
    {
        let flight = {
            let mut map = self.lock();
            map.entry(key.clone())
                .or_insert_with(|| start().boxed().shared())
                .clone()
        };
        // Retired when the first waiter finishes or goes away, so a call nobody waits for
        // anymore is not kept, and the next miss asks again.
        let _retire = Retire {
            flights: self,
            key,
            flight: flight.clone(),
        };
        flight.await
    }
}

/// Removes a call from the map when dropped, if it is still the one there.
struct Retire<'a, K: Hash + Eq + Clone, V: Clone + Send + Sync + 'static> {
    flights: &'a SingleFlight<K, V>,
    key: K,
    flight: Shared<BoxFuture<'static, V>>,
}

impl<K: Hash + Eq + Clone, V: Clone + Send + Sync + 'static> Drop for Retire<'_, K, V> {
    fn drop(&mut self) {
        let mut map = self.flights.lock();
        if map.get(&self.key).is_some_and(|f| f.ptr_eq(&self.flight)) {
            map.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn concurrent_callers_share_one_call_and_later_ones_call_again() {
        let flights = Arc::new(SingleFlight::<&'static str, usize>::new());
        let calls = Arc::new(AtomicUsize::new(0));
        let ask = |key| {
            let (flights, calls) = (flights.clone(), calls.clone());
            tokio::spawn(async move {
                flights
                    .run(key, move || async move {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        calls.fetch_add(1, Ordering::SeqCst) + 1
                    })
                    .await
            })
        };
        let burst: Vec<_> = (0..20).map(|_| ask("t")).collect();
        let other = ask("u");
        for h in burst {
            assert_eq!(
                h.await.unwrap_or(0),
                1,
                "every waiter gets the one call's result"
            );
        }
        assert_eq!(other.await.unwrap_or(0), 2, "another key is its own call");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(
            ask("t").await.unwrap_or(0),
            3,
            "a finished call is not reused"
        );
        // A caller that goes away leaves nothing behind.
        let gone = ask("v");
        tokio::time::sleep(Duration::from_millis(10)).await;
        gone.abort();
        let _ = gone.await;
        assert!(flights.lock().is_empty(), "an abandoned call is retired");
    }
}
