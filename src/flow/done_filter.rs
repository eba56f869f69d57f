//! Connections whose handshake is done, shared between the reader thread
//! and the analysis: the reader drops their frames before they are copied
//! (FIN/RST/SYN frames always pass, so connections still close).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Slots in the done filter (a power of two; 512 KiB, mostly in cache).
pub const FILTER_SLOTS: usize = 1 << 15;

/// Connections whose handshake is done, shared between the threads: a
/// direct-mapped table of hash tags. A lost entry (two connections in one
/// slot) only means more frames reach the analysis thread, which still
/// knows the connection is done; a stale entry is cleared when the
/// connection leaves the flow table.
pub struct DoneFilter {
    slots: Box<[Slot]>,
}

/// The tag a slot holds after a SYN of the connection hashed `h`: never a
/// valid tag (those have the low bit set).
fn syn_mark(h: u64) -> u64 {
    h & !1
}

/// A tag and the latest time the reader saw a frame for it, in one line.
#[derive(Default)]
struct Slot {
    tag: AtomicU64,
    seen: AtomicI64,
    /// Index (in the reader's sequence of frames passed on) of the latest
    /// SYN seen on this slot's ports.
    syn_at: AtomicU64,
}

impl Default for DoneFilter {
    fn default() -> Self {
        DoneFilter {
            slots: (0..FILTER_SLOTS).map(|_| Slot::default()).collect(),
        }
    }
}

impl DoneFilter {
    fn slot(&self, h: u64) -> Option<&Slot> {
        self.slots.get((h >> 40) as usize & (FILTER_SLOTS - 1))
    }

    /// Marks a connection done, unless the reader has already passed a
    /// SYN of a newer connection on the same ports (its frames are then
    /// in flight and must not be dropped): `index` is the frame, in the
    /// reader's order, that completed the connection.
    pub fn insert(&self, h: u64, index: u64) {
        let Some(s) = self.slot(h) else { return };
        let mut cur = s.tag.load(Ordering::Acquire);
        loop {
            if cur == syn_mark(h) && s.syn_at.load(Ordering::Acquire) > index {
                return;
            }
            match s
                .tag
                .compare_exchange(cur, h, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    s.seen.store(i64::MIN, Ordering::Relaxed);
                    return;
                }
                Err(now) => cur = now,
            }
        }
    }

    /// Reader side: a SYN, the `index`th frame passed on, opening a
    /// connection (perhaps on the ports of one done): its frames must reach
    /// the analysis.
    pub fn syn(&self, h: u64, index: u64) {
        if let Some(s) = self.slot(h) {
            s.syn_at.store(index, Ordering::Release);
            s.tag.store(syn_mark(h), Ordering::Release);
        }
    }

    /// Forgets a connection (it left the flow table).
    pub fn remove(&self, h: u64) {
        if let Some(s) = self.slot(h) {
            let _ = s
                .tag
                .compare_exchange(h, 0, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    /// Is the connection done? If so, records `ts` as its latest packet.
    pub fn check_touch(&self, h: u64, ts: i64) -> bool {
        match self.slot(h) {
            Some(s) if s.tag.load(Ordering::Acquire) == h => {
                // Frames come in time order: a plain store keeps the latest.
                s.seen.store(ts, Ordering::Relaxed);
                true
            }
            _ => false,
        }
    }

    /// Latest packet time the reader saw for a done connection.
    pub fn last_seen(&self, h: u64) -> Option<i64> {
        match self.slot(h) {
            Some(s) if s.tag.load(Ordering::Acquire) == h => {
                Some(s.seen.load(Ordering::Relaxed)).filter(|&v| v != i64::MIN)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::key::flow_hash;

    #[test]
    fn filter_marks_and_forgets() {
        let a = "10.0.0.1".parse().unwrap();
        let b = "52.96.0.1".parse().unwrap();
        let h = flow_hash(a, 50000, b, 443);
        let f = DoneFilter::default();
        assert!(!f.check_touch(h, 5));
        f.insert(h, 4);
        assert!(f.check_touch(h, 7));
        assert_eq!(f.last_seen(h), Some(7));
        f.remove(h);
        assert!(!f.check_touch(h, 8));
        assert_eq!(f.last_seen(h), None);
        // A SYN of a newer connection went by (frame 10): marking the old
        // one done (completed at frame 9) must not hide the new one's frames.
        f.syn(h, 10);
        f.insert(h, 9);
        assert!(!f.check_touch(h, 11));
        // An older SYN (the connection's own) does not stop it.
        f.syn(h, 3);
        f.insert(h, 9);
        assert!(f.check_touch(h, 12));
    }
}
