//! The simulation's event queue: events in order of their instant, ties in order of
//! scheduling, compared by those two numbers only.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use micelio_core::time::Instant;

/// One scheduled event.
struct Queued<E> {
    at: Instant,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Queued<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl<E> Eq for Queued<E> {}

impl<E> PartialOrd for Queued<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> Ord for Queued<E> {
    /// Reversed, so that the max-heap pops the earliest event (and, at one instant, the
    /// first scheduled).
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Events by (instant, scheduling order).
pub struct EventQueue<E> {
    heap: BinaryHeap<Queued<E>>,
    next_seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            next_seq: 0,
        }
    }
}

impl<E> EventQueue<E> {
    /// Schedules `event` at `at`, after every event already scheduled for that instant.
    pub fn push(&mut self, at: Instant, event: E) {
        self.next_seq += 1;
        self.heap.push(Queued {
            at,
            seq: self.next_seq,
            event,
        });
    }

    /// The instant of the next event.
    pub fn next_at(&self) -> Option<Instant> {
        self.heap.peek().map(|queued| queued.at)
    }

    /// Takes the next event.
    pub fn pop(&mut self) -> Option<(Instant, E)> {
        self.heap.pop().map(|queued| (queued.at, queued.event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn earliest_first_and_ties_in_scheduling_order() {
        let mut queue = EventQueue::default();
        let at = |ms| Instant::ZERO + Duration::from_millis(ms);
        for (ms, name) in [(5, "c"), (1, "a"), (5, "d"), (3, "b"), (5, "e")] {
            queue.push(at(ms), name);
        }
        assert_eq!(queue.next_at(), Some(at(1)));
        let order: Vec<&str> = std::iter::from_fn(|| queue.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, ["a", "b", "c", "d", "e"]);
    }
}
