//! Answers of a directory or a next hop, remembered for a while: found and not-found each with
//! their own lifetime, a lookup that could not be answered never (the next RCPT asks again).
//!
//! The clock is a parameter, so the unit tests move time without sleeping.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Addresses remembered at most. Past it, expired answers go first, then the ones closest to
/// expiry: a flood of made-up addresses (a harvest attempt) cannot grow memory without bound.
pub const MAX_ENTRIES: usize = 100_000;

pub struct Cache {
    positive: Duration,
    negative: Duration,
    max_entries: usize,
    map: Mutex<HashMap<String, Entry>>,
}

#[derive(Clone, Copy)]
struct Entry {
    known: bool,
    expires: Instant,
}

impl Cache {
    pub fn new(positive: Duration, negative: Duration) -> Cache {
        Cache::with_capacity(positive, negative, MAX_ENTRIES)
    }

    pub fn with_capacity(positive: Duration, negative: Duration, max_entries: usize) -> Cache {
        Cache {
            positive,
            negative,
            max_entries: max_entries.max(1),
            map: Mutex::new(HashMap::new()),
        }
    }

    /// The remembered answer for `address` at `now`: Some(true) found, Some(false) not found.
    pub fn get(&self, address: &str, now: Instant) -> Option<bool> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(address) {
            Some(e) if e.expires > now => Some(e.known),
            Some(_) => {
                map.remove(address);
                None
            }
            None => None,
        }
    }

    /// Remembers an answer from `now` on, for the lifetime of its kind (a lifetime of 0 does
    /// not remember it at all).
    pub fn put(&self, address: &str, known: bool, now: Instant) {
        let ttl = if known { self.positive } else { self.negative };
        if ttl.is_zero() {
            return;
        }
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= self.max_entries && !map.contains_key(address) {
            map.retain(|_, e| e.expires > now);
            if map.len() >= self.max_entries {
                if let Some(k) = map
                    .iter()
                    .min_by_key(|(_, e)| e.expires)
                    .map(|(k, _)| k.clone())
                {
                    map.remove(&k);
                }
            }
        }
        map.insert(
            address.to_string(),
            Entry {
                known,
                expires: now + ttl,
            },
        );
    }

    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn nc_2_1_6_positive_and_negative_expire_on_their_own() {
        let c = Cache::new(10 * S, 3 * S);
        let t0 = Instant::now();
        c.put("alice@a.example", true, t0);
        c.put("nobody@a.example", false, t0);
        assert_eq!(c.get("alice@a.example", t0 + 2 * S), Some(true));
        assert_eq!(c.get("nobody@a.example", t0 + 2 * S), Some(false));
        // The negative lifetime has passed, the positive one has not.
        assert_eq!(c.get("nobody@a.example", t0 + 3 * S), None);
        assert_eq!(c.get("alice@a.example", t0 + 9 * S), Some(true));
        assert_eq!(c.get("alice@a.example", t0 + 10 * S), None);
        assert!(c.is_empty());
    }

    #[test]
    fn zero_lifetime_remembers_nothing() {
        let c = Cache::new(Duration::ZERO, 5 * S);
        let t0 = Instant::now();
        c.put("alice@a.example", true, t0);
        assert_eq!(c.get("alice@a.example", t0), None);
    }

    #[test]
    fn nc_2_1_6_harvest_flood_stays_bounded() {
        let c = Cache::with_capacity(60 * S, 60 * S, 3);
        let t0 = Instant::now();
        c.put("keep@a.example", true, t0 + 30 * S);
        for (i, n) in ["x1", "x2", "x3", "x4", "x5"].iter().enumerate() {
            c.put(&format!("{n}@a.example"), false, t0 + i as u32 * S);
        }
        assert_eq!(c.len(), 3);
        // The entry furthest from expiry survives the flood.
        assert_eq!(c.get("keep@a.example", t0 + 31 * S), Some(true));
    }
}
