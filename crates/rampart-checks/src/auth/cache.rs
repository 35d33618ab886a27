//! The DNS caches mail-auth 0.13 asks its caller for (it keeps none itself): parsed TXT records
//! (SPF, DKIM keys, DMARC), MX, A, AAAA and PTR answers, each kept until its TTL runs out.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Mutex;
use std::time::Instant;

use mail_auth::{Parameters, RecordSet, ResolverCache, Txt, MX};

/// A bounded map whose entries expire at the time the DNS answer said.
pub(crate) struct TtlCache<K, V> {
    capacity: usize,
    map: Mutex<HashMap<K, (V, Instant)>>,
}

impl<K: Hash + Eq, V: Clone> TtlCache<K, V> {
    pub(crate) fn new(capacity: usize) -> TtlCache<K, V> {
        TtlCache {
            capacity,
            map: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, (V, Instant)>> {
        rampart_sync::lock(&self.map)
    }
}

impl<K: Hash + Eq + Clone, V: Clone> ResolverCache<K, V> for TtlCache<K, V> {
    fn get<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut map = self.lock();
        match map.get(name) {
            Some((value, until)) if *until > Instant::now() => Some(value.clone()),
            Some(_) => {
                map.remove(name);
                None
            }
            None => None,
        }
    }

    fn remove<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.lock().remove(name).map(|(v, _)| v)
    }

    fn insert(&self, key: K, value: V, valid_until: Instant) {
        if self.capacity == 0 || valid_until <= Instant::now() {
            return;
        }
        let mut map = self.lock();
        if map.len() >= self.capacity {
            let now = Instant::now();
            map.retain(|_, (_, until)| *until > now);
        }
        if map.len() >= self.capacity {
            // Still full of live entries: drop the one that expires first.
            let first = map
                .iter()
                .min_by_key(|(_, (_, until))| *until)
                .map(|(k, _)| k.clone());
            if let Some(k) = first {
                map.remove(&k);
            }
        }
        map.insert(key, (value, valid_until));
    }
}

pub(crate) type TxtCache = TtlCache<Box<str>, Txt>;
pub(crate) type MxCache = TtlCache<Box<str>, RecordSet<MX>>;
pub(crate) type Ipv4Cache = TtlCache<Box<str>, RecordSet<Ipv4Addr>>;
pub(crate) type Ipv6Cache = TtlCache<Box<str>, RecordSet<Ipv6Addr>>;
pub(crate) type PtrCache = TtlCache<IpAddr, RecordSet<Box<str>>>;

/// Parameters of a mail-auth call, with our caches attached.
pub(crate) type Params<'x, P> =
    Parameters<'x, P, TxtCache, MxCache, Ipv4Cache, Ipv6Cache, PtrCache>;

pub(crate) struct Caches {
    txt: TxtCache,
    mx: MxCache,
    ipv4: Ipv4Cache,
    ipv6: Ipv6Cache,
    ptr: PtrCache,
}

impl Caches {
    pub(crate) fn new(capacity: usize) -> Caches {
        Caches {
            txt: TtlCache::new(capacity),
            mx: TtlCache::new(capacity),
            ipv4: TtlCache::new(capacity),
            ipv6: TtlCache::new(capacity),
            ptr: TtlCache::new(capacity),
        }
    }

    pub(crate) fn params<P>(&self, params: P) -> Params<'_, P> {
        Parameters::new(params)
            .with_txt_cache(&self.txt)
            .with_mx_cache(&self.mx)
            .with_ipv4_cache(&self.ipv4)
            .with_ipv6_cache(&self.ipv6)
            .with_ptr_cache(&self.ptr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn entries_expire_and_capacity_is_kept() {
        let c: TtlCache<Box<str>, u32> = TtlCache::new(2);
        let later = Instant::now() + Duration::from_secs(60);
        c.insert("a.".into(), 1, later);
        c.insert("b.".into(), 2, later + Duration::from_secs(1));
        c.insert("c.".into(), 3, later + Duration::from_secs(2));
        assert_eq!(c.lock().len(), 2);
        assert_eq!(c.get("a."), None, "the entry expiring first made room");
        assert_eq!(c.get("c."), Some(3));
        c.insert("d.".into(), 4, Instant::now());
        assert_eq!(c.get("d."), None, "an answer with TTL 0 is not kept");
        assert_eq!(c.remove("b."), Some(2));
    }
}
