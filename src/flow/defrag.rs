//! IP fragment reassembly (IPv4 and IPv6), bounded.
//!
//! Fragments are keyed by source, destination, identification and
//! protocol; each datagram's bytes and holes are kept by etherparse's
//! `IpDefragBuf`, so fragments may come in any order and overlap (a later
//! fragment's bytes replace an earlier one's where they overlap).
//! Bounds ([`DefragLimits`]): the size of one datagram, the number of
//! datagrams in progress and their bytes together (when full, the oldest
//! datagram is dropped), and a time limit in capture time from a
//! datagram's first fragment. Every datagram dropped is counted, by
//! reason ([`DefragCounts`]).

use std::collections::VecDeque;
use std::net::IpAddr;

use etherparse::IpFragOffset;
use etherparse::IpNumber;
use etherparse::defrag::IpDefragBuf;
use rustc_hash::FxHashMap;

use crate::wire::encap::Fragment;

/// Bounds of the reassembly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefragLimits {
    /// Bytes of one reassembled datagram's payload at most.
    pub max_datagram: usize,
    /// Datagrams in progress at once.
    pub max_datagrams: usize,
    /// Bytes held by all datagrams in progress.
    pub max_bytes: usize,
    /// A datagram not complete this long (µs of capture time) after its
    /// first fragment is dropped.
    pub timeout_us: i64,
}

impl Default for DefragLimits {
    /// 65535 bytes (the IP maximum), 1024 datagrams, 4 MiB, 30 s (Linux's
    /// `ipfrag_time`).
    fn default() -> Self {
        DefragLimits {
            max_datagram: 65_535,
            max_datagrams: 1024,
            max_bytes: 4 << 20,
            timeout_us: 30_000_000,
        }
    }
}

/// What became of the datagrams.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DefragCounts {
    /// Datagrams reassembled.
    pub reassembled: u64,
    /// Dropped incomplete: timed out, or still incomplete at the end.
    pub incomplete: u64,
    /// Dropped over a bound: too large, or room made for newer ones.
    pub over_limit: u64,
    /// Dropped as invalid: inconsistent ends or lengths, or a fragment
    /// cut by the snap length.
    pub invalid: u64,
}

impl DefragCounts {
    /// Datagrams dropped, for any reason.
    pub fn dropped(&self) -> u64 {
        self.incomplete + self.over_limit + self.invalid
    }
}

/// A reassembled datagram's payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Protocol of `data`.
    pub proto: u8,
    /// The payload, from offset 0.
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    src: IpAddr,
    dst: IpAddr,
    ident: u32,
    proto: u8,
}

struct Pending {
    buf: IpDefragBuf,
    first_ts: i64,
    bytes: usize,
}

/// Datagrams in progress.
pub struct Defrag {
    pending: FxHashMap<Key, Pending>,
    /// Datagrams in the order they started (entries of datagrams since
    /// completed or dropped are skipped when met): the oldest is dropped
    /// first, without a walk of the table.
    order: VecDeque<(Key, i64)>,
    bytes: usize,
    limits: DefragLimits,
    counts: DefragCounts,
    spare: Vec<Vec<u8>>,
}

const SPARE_BUFFERS: usize = 8;

impl Defrag {
    /// An empty reassembly with these bounds.
    pub fn new(limits: DefragLimits) -> Self {
        Defrag {
            pending: FxHashMap::default(),
            order: VecDeque::new(),
            bytes: 0,
            limits,
            counts: DefragCounts::default(),
            spare: Vec::new(),
        }
    }

    /// Adds one fragment seen at `ts` (µs); returns the datagram it completes.
    pub fn add(&mut self, f: &Fragment<'_>, ts: i64) -> Option<Datagram> {
        let key = Key {
            src: f.src,
            dst: f.dst,
            ident: f.ident,
            proto: f.proto,
        };
        if let Some(p) = self.pending.get(&key)
            && ts.saturating_sub(p.first_ts) > self.limits.timeout_us
        {
            self.drop_pending(&key);
            self.counts.incomplete += 1;
        }
        let end = usize::from(f.offset) + f.data.len();
        if f.incomplete || end > self.limits.max_datagram {
            if f.incomplete {
                self.counts.invalid += 1;
            } else {
                self.counts.over_limit += 1;
            }
            // The datagram can never be whole; a new one with the same
            // key starts afresh.
            self.drop_pending(&key);
            return None;
        }
        let held = self.pending.get(&key).map(|p| p.bytes);
        let growth = end.saturating_sub(held.unwrap_or(0));
        if held.is_none() && self.pending.len() >= self.limits.max_datagrams {
            self.drop_oldest(&key);
        }
        while self.bytes + growth > self.limits.max_bytes {
            if !self.drop_oldest(&key) {
                // This datagram alone is over the bound.
                self.drop_pending(&key);
                self.counts.over_limit += 1;
                return None;
            }
        }
        let p = match self.pending.entry(key) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let data = self.spare.pop().unwrap_or_default();
                self.order.push_back((key, ts));
                v.insert(Pending {
                    buf: IpDefragBuf::new(IpNumber(f.proto), data, Vec::new()),
                    first_ts: ts,
                    bytes: 0,
                })
            }
        };
        let added = IpFragOffset::try_new(f.offset >> 3)
            .ok()
            .and_then(|off| p.buf.add(off, f.more, f.data).ok());
        let now = p.buf.data().len();
        self.bytes = self.bytes + now - p.bytes.min(now);
        p.bytes = p.bytes.max(now);
        if added.is_none() {
            self.drop_pending(&key);
            self.counts.invalid += 1;
            return None;
        }
        if !p.buf.is_complete() {
            return None;
        }
        let done = self.pending.remove(&key)?;
        self.bytes -= done.bytes.min(self.bytes);
        self.prune_order();
        self.counts.reassembled += 1;
        Some(Datagram {
            src: f.src,
            dst: f.dst,
            proto: f.proto,
            data: done.buf.take_bufs().0,
        })
    }

    /// Hands a datagram's buffer back for reuse.
    pub fn recycle(&mut self, d: Datagram) {
        if self.spare.len() < SPARE_BUFFERS && d.data.capacity() <= self.limits.max_datagram {
            self.spare.push(d.data);
        }
    }

    /// Drops the datagrams whose first fragment is older than the time limit.
    pub fn expire(&mut self, now: i64) {
        let timeout = self.limits.timeout_us;
        let before = self.pending.len();
        let mut freed = 0;
        self.pending.retain(|_, p| {
            let keep = now.saturating_sub(p.first_ts) <= timeout;
            if !keep {
                freed += p.bytes;
            }
            keep
        });
        self.bytes -= freed.min(self.bytes);
        self.counts.incomplete += (before - self.pending.len()) as u64;
        self.prune_order();
    }

    /// The input ended: every datagram still in progress is dropped incomplete.
    pub fn finish(&mut self) {
        self.counts.incomplete += self.pending.len() as u64;
        self.pending.clear();
        self.order.clear();
        self.bytes = 0;
    }

    /// The counts since the last call.
    pub fn take_counts(&mut self) -> DefragCounts {
        std::mem::take(&mut self.counts)
    }

    /// True when the datagram of fragment `f` is in progress.
    pub fn is_pending(&self, f: &Fragment<'_>) -> bool {
        self.pending.contains_key(&Key {
            src: f.src,
            dst: f.dst,
            ident: f.ident,
            proto: f.proto,
        })
    }

    /// Datagrams in progress.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// True when no datagram is in progress.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Bytes held by the datagrams in progress.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    fn drop_pending(&mut self, key: &Key) {
        self.prune_order();
        if let Some(p) = self.pending.remove(key) {
            self.bytes -= p.bytes.min(self.bytes);
            let (data, _) = p.buf.take_bufs();
            if self.spare.len() < SPARE_BUFFERS {
                self.spare.push(data);
            }
        }
    }

    /// Drops the oldest datagram other than `keep`, counted over the limit;
    /// false when there is none.
    fn drop_oldest(&mut self, keep: &Key) -> bool {
        let mut kept = None;
        let mut dropped = false;
        while let Some((k, t)) = self.order.pop_front() {
            let live = self.pending.get(&k).is_some_and(|p| p.first_ts == t);
            if !live {
                continue;
            }
            if k == *keep {
                kept = Some((k, t));
                continue;
            }
            self.drop_pending(&k);
            self.counts.over_limit += 1;
            dropped = true;
            break;
        }
        if let Some(e) = kept {
            self.order.push_front(e);
        }
        dropped
    }

    /// Forgets the order entries of datagrams no longer in progress, when
    /// they outnumber the live ones.
    fn prune_order(&mut self) {
        if self.order.len() > 2 * self.pending.len() + 64 {
            let pending = &self.pending;
            self.order
                .retain(|(k, t)| pending.get(k).is_some_and(|p| p.first_ts == *t));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag(ident: u32, offset: u16, more: bool, data: &[u8]) -> Fragment<'_> {
        Fragment {
            src: "10.0.0.1".parse().unwrap(),
            dst: "10.0.0.2".parse().unwrap(),
            ident,
            proto: 6,
            offset,
            more,
            data,
            incomplete: false,
        }
    }

    fn bytes(n: usize, v: u8) -> Vec<u8> {
        vec![v; n]
    }

    #[test]
    fn out_of_order_and_overlapping() {
        let mut d = Defrag::new(DefragLimits::default());
        let (a, b, c) = (bytes(16, 1), bytes(16, 2), bytes(5, 3));
        assert_eq!(d.add(&frag(7, 32, false, &c), 0), None);
        assert_eq!(d.add(&frag(7, 0, true, &a), 1), None);
        // Overlaps the first fragment's tail and leaves the middle open.
        assert_eq!(d.add(&frag(7, 8, true, &b[..8]), 2), None);
        assert_eq!(d.len(), 1);
        let done = d.add(&frag(7, 16, true, &b), 3).unwrap();
        assert_eq!(done.proto, 6);
        let mut want = vec![1; 8];
        want.extend_from_slice(&[2; 8]);
        want.extend_from_slice(&[2; 16]);
        want.extend_from_slice(&[3; 5]);
        assert_eq!(done.data, want);
        assert!(d.is_empty());
        assert_eq!(d.bytes(), 0);
        let c = d.take_counts();
        assert_eq!((c.reassembled, c.dropped()), (1, 0));
        d.recycle(done);
    }

    #[test]
    fn time_limit_in_capture_time() {
        let mut d = Defrag::new(DefragLimits::default());
        let a = bytes(8, 1);
        assert_eq!(d.add(&frag(1, 0, true, &a), 0), None);
        // The last fragment 31 s later: the first one has expired.
        assert_eq!(d.add(&frag(1, 8, false, &a), 31_000_000), None);
        assert_eq!(d.take_counts().incomplete, 1);
        assert_eq!(d.len(), 1);
        d.expire(61_000_001);
        assert!(d.is_empty());
        assert_eq!(d.take_counts().incomplete, 1);
        assert_eq!(d.add(&frag(2, 0, true, &a), 0), None);
        d.finish();
        assert_eq!(d.take_counts().incomplete, 1);
    }

    #[test]
    fn count_bytes_and_size_limits() {
        let limits = DefragLimits {
            max_datagram: 64,
            max_datagrams: 3,
            max_bytes: 100,
            timeout_us: 30_000_000,
        };
        let mut d = Defrag::new(limits);
        let a = bytes(8, 1);
        for id in 0..5 {
            d.add(&frag(id, 0, true, &a), i64::from(id));
        }
        assert_eq!(d.len(), 3);
        assert_eq!(d.take_counts().over_limit, 2);
        // Too large for one datagram.
        assert_eq!(d.add(&frag(9, 64, false, &a), 10), None);
        assert_eq!(d.take_counts().over_limit, 1);
        // 56 bytes each: the second makes room by dropping older ones.
        let big = bytes(56, 4);
        d.add(&frag(10, 0, true, &big), 11);
        d.add(&frag(11, 0, true, &big), 12);
        assert!(d.bytes() <= 100, "{}", d.bytes());
        assert_eq!(d.len(), 1);
        assert_eq!(d.take_counts().over_limit, 4);
    }

    fn sample(name: &str) -> (crate::wire::decode::LinkType, Vec<Vec<u8>>) {
        let path = format!("{}/samples/{name}", env!("CARGO_MANIFEST_DIR"));
        let mut cap = pcap::Capture::from_file(&path).unwrap();
        let link = crate::wire::decode::LinkType::from_dlt(cap.get_datalink().0).unwrap();
        let mut frames = Vec::new();
        while let Ok(p) = cap.next_packet() {
            frames.push(p.data.to_vec());
        }
        (link, frames)
    }

    /// The datagrams the fragments of a sample make, in completion order.
    fn reassemble(name: &str) -> (Vec<Datagram>, DefragCounts) {
        let (link, frames) = sample(name);
        let mut d = Defrag::new(DefragLimits::default());
        let mut out = Vec::new();
        for (i, f) in frames.iter().enumerate() {
            if let Some(frag) = crate::wire::decode::fragment(link, f) {
                out.extend(d.add(&frag, i as i64));
            }
        }
        d.finish();
        (out, d.take_counts())
    }

    /// Fragments made by the kernel of a router, in order, then reversed with
    /// exact duplicates: the same three datagrams, the first the ClientHello.
    #[test]
    fn real_ipv4_fragments_in_and_out_of_order() {
        let (inorder, c) = reassemble("ipv4-fragments.pcap");
        assert_eq!(inorder.len(), 3);
        assert_eq!((c.reassembled, c.dropped()), (3, 0));
        let (reordered, c) = reassemble("ipv4-fragments-reordered.pcap");
        assert_eq!((c.reassembled, c.dropped()), (3, 0));
        assert_eq!(reordered, inorder);
        let hello = &inorder[0].data;
        let sni = b"frag.example.test";
        assert!(hello.windows(sni.len()).any(|w| w == sni));
        // TCP header, then a handshake record.
        let off = usize::from(hello[12] >> 4) * 4;
        assert_eq!(&hello[off..off + 2], &[0x16, 0x03]);
    }

    /// IPv6 fragments of m365-ipv6.pcap's segments, last first: the
    /// original segments, byte for byte.
    #[test]
    fn ipv6_fragments_give_the_original_segments() {
        let (datagrams, c) = reassemble("ipv6-fragments.pcap");
        assert_eq!(c.dropped(), 0);
        let (_, frames) = sample("m365-ipv6.pcap");
        let want: Vec<Vec<u8>> = frames
            .iter()
            .map(|f| f[14 + 40..].to_vec())
            .filter(|tcp| tcp.len() > 64)
            .collect();
        assert!(want.len() >= 3);
        let got: Vec<Vec<u8>> = datagrams.into_iter().map(|d| d.data).collect();
        assert_eq!(got, want);
    }

    /// A flood of first fragments that never complete stays within the
    /// bounds, every datagram dropped counted.
    #[test]
    fn flood_of_incomplete_datagrams() {
        let mut d = Defrag::new(DefragLimits::default());
        let data = bytes(1480, 7);
        for id in 0..20_000u32 {
            d.add(&frag(id, 0, true, &data), i64::from(id) * 1000);
            assert!(d.len() <= 1024);
            assert!(d.bytes() <= 4 << 20);
        }
        let c = d.take_counts();
        assert_eq!(c.over_limit + d.len() as u64, 20_000);
    }

    #[test]
    fn invalid_fragments() {
        let mut d = Defrag::new(DefragLimits::default());
        // A middle fragment whose length is not a multiple of 8.
        assert_eq!(d.add(&frag(1, 0, true, &bytes(7, 1)), 0), None);
        // Two different ends.
        d.add(&frag(2, 8, false, &bytes(8, 1)), 0);
        d.add(&frag(2, 8, false, &bytes(16, 1)), 0);
        // Cut by the snap length.
        let mut f = frag(3, 0, true, &[0; 8]);
        f.incomplete = true;
        d.add(&f, 0);
        assert_eq!(d.take_counts().invalid, 3);
        assert!(d.is_empty());
        assert_eq!(d.bytes(), 0);
    }
}
