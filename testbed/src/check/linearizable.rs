//! A Wing–Gong linearizability checker with Lowe's memoization (the algorithm Porcupine uses):
//! search for a total order of the operations, consistent with real time, in which every
//! operation's recorded output is what a sequential model gives.
//!
//! Operations whose outcome is unknown (a timeout) get an infinite completion time, so they
//! may take effect at any point after their invocation or, by being ordered last, never be
//! observed.

use std::collections::HashSet;
use std::hash::Hash;

/// A sequential specification.
pub trait Model {
    /// The model's state.
    type State: Clone + Eq + Hash;
    /// What an operation asks.
    type Input;
    /// What an operation answered.
    type Output;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// The state after applying `input` to `state`, if `output` is a correct answer there.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: &Self::Output,
    ) -> Option<Self::State>;
}

/// One completed (or pending) operation of a history.
#[derive(Debug, Clone)]
pub struct Event<I, O> {
    /// When it was invoked.
    pub invoke: u64,
    /// When it completed; `None` if the outcome is unknown.
    pub complete: Option<u64>,
    /// What it asked.
    pub input: I,
    /// What it answered (for an unknown outcome, a value the model accepts for any state).
    pub output: O,
}

/// The checker's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A valid order exists.
    Linearizable,
    /// No valid order exists.
    Violation,
    /// The search gave up after this many steps (too many concurrent operations).
    Unknown(u64),
}

/// A node of the doubly linked list of call and return entries.
#[derive(Debug, Clone, Copy)]
struct Entry {
    op: usize,
    is_call: bool,
    /// Index of the matching entry (call <-> return).
    pair: usize,
    prev: usize,
    next: usize,
}

/// Index of the list's head sentinel.
const HEAD: usize = 0;
/// Marks the end of the list.
const NIL: usize = usize::MAX;

/// Checks `history` against `model`, giving up after `budget` search steps.
pub fn check<M: Model>(model: &M, history: &[Event<M::Input, M::Output>], budget: u64) -> Verdict {
    if history.is_empty() {
        return Verdict::Linearizable;
    }
    let mut entries = build_list(history);
    let n = history.len();
    let mut linearized = vec![false; n];
    let mut cache: HashSet<(Vec<bool>, M::State)> = HashSet::new();
    let mut calls: Vec<(usize, M::State)> = Vec::new();
    let mut state = model.init();
    let mut cur = entries[HEAD].next;
    let mut steps = 0u64;
    while entries[HEAD].next != NIL {
        steps += 1;
        if steps > budget {
            return Verdict::Unknown(steps);
        }
        let e = entries[cur];
        if e.is_call {
            let op = &history[e.op];
            if let Some(next_state) = model.step(&state, &op.input, &op.output) {
                linearized[e.op] = true;
                if cache.insert((linearized.clone(), next_state.clone())) {
                    calls.push((cur, state));
                    state = next_state;
                    lift(&mut entries, cur);
                    cur = entries[HEAD].next;
                    continue;
                }
                linearized[e.op] = false;
            }
            cur = e.next;
        } else {
            // A return reached before its call was linearized: backtrack.
            let Some((call, prior)) = calls.pop() else {
                return Verdict::Violation;
            };
            linearized[entries[call].op] = false;
            state = prior;
            unlift(&mut entries, call);
            cur = entries[call].next;
        }
    }
    Verdict::Linearizable
}

/// Call and return entries sorted by time (calls before returns at equal times, so touching
/// operations count as concurrent), behind a head sentinel.
fn build_list<I, O>(history: &[Event<I, O>]) -> Vec<Entry> {
    let mut times: Vec<(u64, bool, usize)> = Vec::with_capacity(history.len() * 2);
    for (i, op) in history.iter().enumerate() {
        times.push((op.invoke, true, i));
        times.push((op.complete.unwrap_or(u64::MAX), false, i));
    }
    // `!is_call` sorts calls (false) first at equal times.
    times.sort_by_key(|&(t, is_call, i)| (t, !is_call, i));
    let mut entries = vec![Entry {
        op: usize::MAX,
        is_call: false,
        pair: NIL,
        prev: NIL,
        next: NIL,
    }];
    let mut call_at = vec![NIL; history.len()];
    for (t, (_, is_call, op)) in times.into_iter().enumerate() {
        let idx = t + 1;
        let mut entry = Entry {
            op,
            is_call,
            pair: NIL,
            prev: idx - 1,
            next: NIL,
        };
        if is_call {
            call_at[op] = idx;
        } else {
            entry.pair = call_at[op];
            entries[call_at[op]].pair = idx;
        }
        entries[idx - 1].next = idx;
        entries.push(entry);
    }
    entries
}

/// Removes a call and its return from the list (they stay linked to their old neighbours).
fn lift(entries: &mut [Entry], call: usize) {
    for idx in [call, entries[call].pair] {
        let Entry { prev, next, .. } = entries[idx];
        entries[prev].next = next;
        if next != NIL {
            entries[next].prev = prev;
        }
    }
}

/// Puts back what [`lift`] removed, in reverse order.
fn unlift(entries: &mut [Entry], call: usize) {
    for idx in [entries[call].pair, call] {
        let Entry { prev, next, .. } = entries[idx];
        entries[prev].next = idx;
        if next != NIL {
            entries[next].prev = idx;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A register of integers: `Some(v)` writes v, `None` reads.
    struct Register;

    impl Model for Register {
        type State = i64;
        type Input = Option<i64>;
        type Output = Option<i64>;

        fn init(&self) -> i64 {
            0
        }

        fn step(&self, state: &i64, input: &Option<i64>, output: &Option<i64>) -> Option<i64> {
            match (input, output) {
                (Some(v), _) => Some(*v),
                (None, Some(seen)) if seen == state => Some(*state),
                (None, Some(_)) => None,
                // An unknown read says nothing.
                (None, None) => Some(*state),
            }
        }
    }

    fn ev(
        invoke: u64,
        complete: Option<u64>,
        input: Option<i64>,
        output: Option<i64>,
    ) -> Event<Option<i64>, Option<i64>> {
        Event {
            invoke,
            complete,
            input,
            output,
        }
    }

    fn verdict(h: &[Event<Option<i64>, Option<i64>>]) -> Verdict {
        check(&Register, h, 1_000_000)
    }

    #[test]
    fn sequential_reads_see_the_last_write() {
        let h = [
            ev(0, Some(1), Some(1), None),
            ev(2, Some(3), None, Some(1)),
            ev(4, Some(5), Some(2), None),
            ev(6, Some(7), None, Some(2)),
        ];
        assert_eq!(verdict(&h), Verdict::Linearizable);
    }

    #[test]
    fn a_stale_read_after_a_completed_write_is_a_violation() {
        let h = [
            ev(0, Some(1), Some(1), None),
            ev(2, Some(3), Some(2), None),
            ev(4, Some(5), None, Some(1)),
        ];
        assert_eq!(verdict(&h), Verdict::Violation);
    }

    #[test]
    fn a_read_concurrent_with_a_write_may_see_either_value() {
        for seen in [0, 7] {
            let h = [
                ev(0, Some(10), Some(7), None),
                ev(2, Some(3), None, Some(seen)),
            ];
            assert_eq!(verdict(&h), Verdict::Linearizable, "saw {seen}");
        }
    }

    #[test]
    fn a_value_never_written_is_a_violation() {
        let h = [ev(0, Some(1), Some(1), None), ev(0, Some(2), None, Some(9))];
        assert_eq!(verdict(&h), Verdict::Violation);
    }

    #[test]
    fn reads_may_not_flip_back_to_an_older_value() {
        // Two overlapping reads may each see old or new, but once one read that started
        // after another completed sees the new value, a later read may not see the old one.
        let h = [
            ev(0, Some(100), Some(1), None),
            ev(10, Some(20), None, Some(1)),
            ev(30, Some(40), None, Some(0)),
        ];
        assert_eq!(verdict(&h), Verdict::Violation);
    }

    #[test]
    fn a_write_with_unknown_outcome_may_or_may_not_have_happened() {
        let lost = [ev(0, None, Some(5), None), ev(10, Some(11), None, Some(0))];
        assert_eq!(verdict(&lost), Verdict::Linearizable);
        let applied = [ev(0, None, Some(5), None), ev(10, Some(11), None, Some(5))];
        assert_eq!(verdict(&applied), Verdict::Linearizable);
        let flip = [
            ev(0, None, Some(5), None),
            ev(10, Some(11), None, Some(5)),
            ev(12, Some(13), None, Some(0)),
        ];
        assert_eq!(verdict(&flip), Verdict::Violation);
    }

    #[test]
    fn the_search_gives_up_within_its_budget() {
        let h: Vec<_> = (0..12)
            .map(|i| ev(0, Some(100), Some(i), None))
            .chain([ev(101, Some(102), None, Some(-1))])
            .collect();
        assert!(matches!(check(&Register, &h, 50), Verdict::Unknown(_)));
        assert_eq!(check(&Register, &h, 10_000_000), Verdict::Violation);
    }
}
