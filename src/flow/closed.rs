//! Connections closed lately (TCP's TIME-WAIT, seen from outside): their
//! later packets are copies, not a new connection.
//!
//! A capture taken at two points at once (dumpcap on a bridge and its
//! port, `-i any` beside an interface, a Windows `netsh trace` that logs a
//! packet at several layers) holds each packet twice, the copy a little
//! later. When a connection is over before its copies come (a short one,
//! or a copy lagging by more than its life), the copied SYN would open it
//! again and give it a second row. As tshark and Zeek do, a SYN that
//! repeats the closed connection's initial sequence number is the same
//! connection, and so is any other segment on its ports, while the
//! connection is in TIME-WAIT ([`WAIT_US`] from its close or its latest
//! copy); a SYN with another sequence number, or a segment after
//! TIME-WAIT, opens a new connection on the same ports. (tshark takes a
//! copied SYN as a retransmission however late; Zeek as long as it keeps
//! the closed connection, 5 s by default.)
//!
//! Time runs both ways here: several inputs of one run (two sensors' files
//! of the same traffic) may go back in time, so a copy is within
//! [`WAIT_US`] before or after.
//!
//! Bounded: [`SLOTS`] connections by hash tag in sets of [`WAYS`] (384 KiB,
//! allocated at the first close); a connection closed when its set is full
//! takes the place of the set's one closed longest ago.

use super::key::FlowKey;

/// How long (capture time, µs) a closed connection's ports stay its own:
/// Linux's TIME-WAIT.
pub const WAIT_US: i64 = 60_000_000;

/// A chunk of a split file holds back the rows of connections opened by a
/// SYN this soon (capture time, µs) after its first frame: copies of a
/// connection the chunk before followed, which the join drops. (One reader
/// knows such a connection as long as it is in TIME-WAIT; across a cut, a
/// copy lagging by more than this is taken as a new connection.)
pub const CUT_LAG_US: i64 = 1_000_000;

/// Closed connections kept at most (a power of two).
pub const SLOTS: usize = 1 << 14;

/// Places per set (a set is one or two cache lines).
pub const WAYS: usize = 4;

const SETS: usize = SLOTS / WAYS;

/// A closed connection: its [`FlowKey::tag`] (0: none), the sequence
/// number of its SYN (none when first seen mid-stream) and its close time
/// (or its latest copy's).
#[derive(Debug, Clone, Copy, Default)]
struct Closed {
    tag: u64,
    ts: i64,
    isn: Option<u32>,
}

/// What a segment on a closed connection's ports is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No connection closed on these ports lately: open as usual.
    Open,
    /// A copy or a late packet of the closed connection: count it only.
    Copy,
}

/// Connections closed within the last [`WAIT_US`] (as far as the bound
/// allows).
#[derive(Debug, Default)]
pub struct RecentlyClosed {
    sets: Box<[[Closed; WAYS]]>,
}

fn set_of(tag: u64) -> usize {
    (tag >> 40) as usize & (SETS - 1)
}

/// Whether `ts` is within TIME-WAIT of `c`'s time, before or after.
fn within(c: &Closed, ts: i64) -> bool {
    ts.abs_diff(c.ts) <= WAIT_US.unsigned_abs()
}

impl RecentlyClosed {
    /// The connection on `key`, opened by a SYN with sequence number `isn`
    /// (`None`: first seen mid-stream), closed at `ts`.
    pub fn insert(&mut self, key: &FlowKey, isn: Option<u32>, ts: i64) {
        self.put(Closed {
            tag: key.tag(),
            ts,
            isn,
        });
    }

    fn put(&mut self, c: Closed) {
        if self.sets.is_empty() {
            self.sets = vec![[Closed::default(); WAYS]; SETS].into_boxed_slice();
        }
        let Some(set) = self.sets.get_mut(set_of(c.tag)) else {
            return;
        };
        // Its own place, else an empty one, else the one closed longest ago.
        let i = set
            .iter()
            .position(|e| e.tag == c.tag)
            .or_else(|| set.iter().position(|e| e.tag == 0))
            .unwrap_or_else(|| {
                (0..WAYS)
                    .min_by_key(|&i| set.get(i).map_or(i64::MIN, |e| e.ts))
                    .unwrap_or(0)
            });
        if let Some(e) = set.get_mut(i) {
            *e = c;
        }
    }

    /// Asks for the memory of `key`'s set ahead of a [`Self::check`] or
    /// [`Self::insert`]: its miss in the cache then overlaps the flow
    /// table's own.
    #[inline]
    pub fn prefetch(&self, key: &FlowKey) {
        if let Some(set) = self.sets.get(set_of(key.tag())) {
            let p: *const [Closed; WAYS] = set;
            // (A set may lie across two cache lines.)
            crate::cache::prefetch(p);
            crate::cache::prefetch(p.cast::<u8>().wrapping_add(size_of::<[Closed; WAYS]>() - 1));
        }
    }

    /// A segment at `ts` on `key`'s ports with no connection tracked there;
    /// `syn` is the sequence number of a SYN without ACK. A copy extends
    /// TIME-WAIT; anything else (a SYN with another sequence number, a
    /// segment past TIME-WAIT) forgets the closed connection.
    #[inline]
    pub fn check(&mut self, key: &FlowKey, syn: Option<u32>, ts: i64) -> Verdict {
        if self.sets.is_empty() {
            return Verdict::Open;
        }
        let tag = key.tag();
        let Some(c) = self
            .sets
            .get_mut(set_of(tag))
            .and_then(|set| set.iter_mut().find(|c| c.tag == tag))
        else {
            return Verdict::Open;
        };
        // Within TIME-WAIT: the SYN again, or any other segment.
        let copy = within(c, ts) && syn.is_none_or(|isn| c.isn == Some(isn));
        if copy {
            // Its copies go on: TIME-WAIT starts again from this one.
            c.ts = c.ts.max(ts);
            Verdict::Copy
        } else {
            // A new connection on the same ports.
            *c = Closed::default();
            Verdict::Open
        }
    }

    /// Adds the connections `later` keeps (closed after these).
    pub fn absorb(&mut self, later: RecentlyClosed) {
        for c in later.sets.iter().flatten().filter(|c| c.tag != 0) {
            self.put(*c);
        }
    }

    /// Connections kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.sets.iter().flatten().filter(|c| c.tag != 0).count()
    }

    /// None kept.
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::decode::Segment;

    fn key(port: u16) -> FlowKey {
        let seg = Segment {
            src: "10.0.0.1".parse().unwrap(),
            dst: "192.0.2.1".parse().unwrap(),
            sport: port,
            dport: 443,
            seq: 0,
            ack: 0,
            flags: 0,
            payload: b"",
            wire_len: 0,
        };
        FlowKey::of(&seg).0
    }

    #[test]
    fn copies_and_new_connections() {
        let mut c = RecentlyClosed::default();
        assert_eq!(c.check(&key(1), Some(7), 0), Verdict::Open);
        c.insert(&key(1), Some(7), 1_000);
        // Other segments within TIME-WAIT of the close or the latest copy.
        assert_eq!(c.check(&key(1), None, 2_000), Verdict::Copy);
        assert_eq!(c.check(&key(1), None, 2_000 + WAIT_US), Verdict::Copy);
        // Past TIME-WAIT: another connection, first seen mid-stream.
        assert_eq!(c.check(&key(1), None, 3_000 + 2 * WAIT_US), Verdict::Open);
        assert!(c.is_empty());
        // The SYN copied within TIME-WAIT, and its copies after it.
        c.insert(&key(1), Some(7), 1_000);
        assert_eq!(c.check(&key(1), Some(7), WAIT_US), Verdict::Copy);
        assert_eq!(c.check(&key(1), None, 2 * WAIT_US), Verdict::Copy);
        // The SYN again after TIME-WAIT: a new connection.
        assert_eq!(c.check(&key(1), Some(7), 4 * WAIT_US), Verdict::Open);
        c.insert(&key(1), Some(7), 1_000);
        // Other ports: unknown.
        assert_eq!(c.check(&key(2), None, 2_000), Verdict::Open);
        // A SYN with another sequence number: a new connection, and the
        // old one forgotten.
        assert_eq!(c.check(&key(1), Some(8), 2_000), Verdict::Open);
        assert_eq!(c.check(&key(1), None, 2_000), Verdict::Open);
        assert!(c.is_empty());
    }

    /// A second input may go back in time: copies come before the close.
    #[test]
    fn time_going_back() {
        let mut c = RecentlyClosed::default();
        c.insert(&key(1), Some(7), 10 * WAIT_US);
        assert_eq!(
            c.check(&key(1), Some(7), 10 * WAIT_US - 1_000),
            Verdict::Copy
        );
        assert_eq!(c.check(&key(1), None, 8 * WAIT_US), Verdict::Open);
    }

    /// A full set gives up the connection closed longest ago.
    #[test]
    fn a_full_set_gives_up_its_oldest() {
        let mut c = RecentlyClosed::default();
        let same_set: Vec<FlowKey> = (0..u16::MAX)
            .map(key)
            .filter(|k| set_of(k.tag()) == set_of(key(0).tag()))
            .take(WAYS + 1)
            .collect();
        assert_eq!(same_set.len(), WAYS + 1);
        for (i, k) in same_set.iter().enumerate() {
            c.insert(k, Some(1), i as i64);
        }
        assert_eq!(c.check(&same_set[0], None, 10), Verdict::Open);
        for k in &same_set[1..] {
            assert_eq!(c.check(k, None, 10), Verdict::Copy);
        }
    }

    #[test]
    fn mid_stream_connection() {
        let mut c = RecentlyClosed::default();
        c.insert(&key(1), None, 0);
        assert_eq!(c.check(&key(1), None, 10), Verdict::Copy);
        assert_eq!(c.check(&key(1), Some(5), 20), Verdict::Open);
    }

    #[test]
    fn bounded() {
        let mut c = RecentlyClosed::default();
        let n = u16::try_from(3 * SLOTS).unwrap();
        for p in 0..n {
            c.insert(&key(p), Some(1), i64::from(p));
        }
        assert!(c.len() <= SLOTS);
        assert_eq!(c.check(&key(n - 1), Some(1), 0), Verdict::Copy);
        // An old connection's slot was taken by later ones.
        let kept = (0..n).filter(|&p| c.check(&key(p), None, 0) == Verdict::Copy);
        assert!(kept.count() <= SLOTS);
    }
}
