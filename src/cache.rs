//! A small bounded memo, kept per thread by its users: the same hellos,
//! certificates and server names come back on connection after
//! connection, and computing their fingerprints, X.509 names or endpoint
//! matches again is costly. When full it is cleared (cheaper than an LRU,
//! and a working set of a few thousand keys refills it at once). And
//! [`prefetch`], a hint to the processor's cache.

use std::hash::Hash;

use rustc_hash::FxHashMap;

/// Asks the processor for the memory at `p` ahead of its use, so that a
/// miss in the cache overlaps other work (only an address: nothing is
/// read, and nothing happens on other processors).
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: a prefetch reads nothing and never faults, whatever the
        // address (SSE is part of x86_64).
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// At most `max` remembered results.
#[derive(Debug)]
pub struct Memo<K, V> {
    map: FxHashMap<K, V>,
    max: usize,
}

impl<K: Hash + Eq, V: Clone> Memo<K, V> {
    /// An empty memo of at most `max` entries.
    pub fn new(max: usize) -> Self {
        Memo {
            map: FxHashMap::default(),
            max,
        }
    }

    /// The value remembered for `key`, if any.
    #[inline]
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.get(key).cloned()
    }

    /// The value remembered for `key`, borrowed.
    #[inline]
    pub fn peek<Q>(&self, key: &Q) -> Option<&V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.get(key)
    }

    /// Remembers `value` for `key` (clearing everything first when full).
    #[inline]
    pub fn put(&mut self, key: K, value: V) {
        if self.map.len() >= self.max {
            self.map.clear();
        }
        self.map.insert(key, value);
    }

    /// Every remembered key and value.
    #[cfg(test)]
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.map.iter()
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.map.clear();
    }

    /// The value for `key`, computed by `make` when not remembered.
    #[inline]
    pub fn get_or_make(&mut self, key: K, make: impl FnOnce() -> V) -> V {
        if let Some(v) = self.map.get(&key) {
            return v.clone();
        }
        let v = make();
        self.put(key, v.clone());
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_cleared_when_full() {
        let mut m: Memo<u32, u32> = Memo::new(2);
        assert_eq!(m.get_or_make(1, || 10), 10);
        assert_eq!(m.get_or_make(1, || 99), 10);
        m.put(2, 20);
        m.put(3, 30);
        assert_eq!(m.get(&1), None);
        assert_eq!(m.get(&3), Some(30));
    }
}
