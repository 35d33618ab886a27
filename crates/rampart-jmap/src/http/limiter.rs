//! Per-user concurrency limits (maxConcurrentRequests, maxConcurrentUpload): a count per user,
//! taken when a request starts and given back when its guard drops.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Counts in-flight work per user.
#[derive(Debug, Default)]
pub struct Limiter {
    counts: Mutex<HashMap<String, u64>>,
}

/// Holds one slot until dropped.
#[derive(Debug)]
pub struct Slot {
    limiter: Arc<Limiter>,
    user: String,
}

impl Limiter {
    /// Takes a slot for `user` if fewer than `max` are taken, None otherwise.
    pub fn try_acquire(self: &Arc<Self>, user: &str, max: u64) -> Option<Slot> {
        let mut counts = rampart_sync::lock(&self.counts);
        let n = counts.entry(user.to_owned()).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Slot {
            limiter: self.clone(),
            user: user.to_owned(),
        })
    }

    /// The slots `user` holds now.
    pub fn in_use(&self, user: &str) -> u64 {
        rampart_sync::lock(&self.counts)
            .get(user)
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = rampart_sync::lock(&self.limiter.counts);
        if let Some(n) = counts.get_mut(&self.user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                // No entry per idle user: the map does not grow with every name ever seen.
                counts.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_per_user_and_returned_on_drop() {
        let l = Arc::new(Limiter::default());
        let a1 = l.try_acquire("alice", 2).unwrap();
        let _a2 = l.try_acquire("alice", 2).unwrap();
        assert!(l.try_acquire("alice", 2).is_none());
        let _b = l.try_acquire("bob", 2).unwrap();
        drop(a1);
        assert_eq!(l.in_use("alice"), 1);
        assert!(l.try_acquire("alice", 2).is_some());
        assert_eq!(l.in_use("nobody"), 0);
    }
}
