//! Reading and analysis on two threads.
//!
//! A reader thread pulls frames from libpcap, decodes their headers, and
//! drops at once what analysis does not need: non-TCP frames, and frames of
//! connections whose handshake facts are complete (known through the shared
//! [`DoneFilter`]; FIN/RST/SYN frames always pass, so connections still
//! close). The rest are copied into batches and sent to the analysis
//! thread. Bulk traffic, most of a capture's bytes, is thus only counted.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};

use crate::decode::{self, LinkType, Skip, flags};
use crate::source::{self, Input};

/// Slots in the done filter (a power of two).
pub const FILTER_SLOTS: usize = 1 << 18;

/// A symmetric hash of a TCP connection's endpoints (same both ways).
pub fn flow_hash(a: IpAddr, ap: u16, b: IpAddr, bp: u16) -> u64 {
    use std::hash::{Hash, Hasher};
    let (lo, hi) = if (a, ap) <= (b, bp) {
        ((a, ap), (b, bp))
    } else {
        ((b, bp), (a, ap))
    };
    let mut h = rustc_hash::FxHasher::default();
    lo.hash(&mut h);
    hi.hash(&mut h);
    // Fx leaves the low bits weak for slot selection: mix once more.
    let x = h.finish();
    (x ^ (x >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9) | 1
}

/// Connections whose handshake is done, shared between the threads: a
/// direct-mapped table of hash tags. A lost entry (two connections in one
/// slot) only means more frames reach the analysis thread, which still
/// knows the connection is done; a stale entry is cleared when the
/// connection leaves the flow table.
pub struct DoneFilter {
    tags: Box<[AtomicU64]>,
    seen: Box<[AtomicI64]>,
}

impl Default for DoneFilter {
    fn default() -> Self {
        DoneFilter {
            tags: (0..FILTER_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            seen: (0..FILTER_SLOTS)
                .map(|_| AtomicI64::new(i64::MIN))
                .collect(),
        }
    }
}

impl DoneFilter {
    fn slot(h: u64) -> usize {
        (h >> 40) as usize & (FILTER_SLOTS - 1)
    }

    /// Marks a connection done.
    pub fn insert(&self, h: u64) {
        let i = Self::slot(h);
        if let (Some(t), Some(s)) = (self.tags.get(i), self.seen.get(i)) {
            s.store(i64::MIN, Ordering::Relaxed);
            t.store(h, Ordering::Release);
        }
    }

    /// Forgets a connection (it left the flow table).
    pub fn remove(&self, h: u64) {
        if let Some(t) = self.tags.get(Self::slot(h)) {
            let _ = t.compare_exchange(h, 0, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    /// Is the connection done? If so, records `ts` as its latest packet.
    pub fn check_touch(&self, h: u64, ts: i64) -> bool {
        let i = Self::slot(h);
        match (self.tags.get(i), self.seen.get(i)) {
            (Some(t), Some(s)) if t.load(Ordering::Acquire) == h => {
                s.fetch_max(ts, Ordering::Relaxed);
                true
            }
            _ => false,
        }
    }

    /// Latest packet time the reader saw for a done connection.
    pub fn last_seen(&self, h: u64) -> Option<i64> {
        let i = Self::slot(h);
        match (self.tags.get(i), self.seen.get(i)) {
            (Some(t), Some(s)) if t.load(Ordering::Acquire) == h => {
                Some(s.load(Ordering::Relaxed)).filter(|&v| v != i64::MIN)
            }
            _ => None,
        }
    }
}

/// Frames for the analysis thread, with counts of those dropped early.
#[derive(Debug, Default)]
pub struct Batch {
    /// Concatenated frame bytes.
    pub data: Vec<u8>,
    /// Per frame: (timestamp µs, end offset in `data`, wire length).
    pub frames: Vec<(i64, usize, u32)>,
    /// Frames dropped early (non-TCP or done connections).
    pub skipped: u64,
    /// Their bytes on the wire.
    pub skipped_bytes: u64,
    /// Of the skipped: not TCP.
    pub not_tcp: u64,
    /// Latest timestamp among skipped frames.
    pub last_ts: i64,
}

/// Frames per batch.
pub const BATCH_FRAMES: usize = 2048;

impl Batch {
    /// Empties the batch, keeping its buffers.
    pub fn clear(&mut self) {
        self.data.clear();
        self.frames.clear();
        self.skipped = 0;
        self.skipped_bytes = 0;
        self.not_tcp = 0;
        self.last_ts = i64::MIN;
    }

    /// True when the batch should be sent.
    pub fn full(&self) -> bool {
        self.frames.len() >= BATCH_FRAMES || self.skipped >= 64 * BATCH_FRAMES as u64
    }

    /// Reader side: keep or drop one frame.
    pub fn offer(
        &mut self,
        filter: &DoneFilter,
        link: LinkType,
        ts: i64,
        frame: &[u8],
        wire_len: u32,
    ) {
        match decode::decode(link, frame) {
            Err(Skip::NotTcp) => {
                self.skipped += 1;
                self.not_tcp += 1;
                self.skipped_bytes += u64::from(wire_len);
                self.last_ts = self.last_ts.max(ts);
                return;
            }
            Ok(seg) if seg.flags & (flags::FIN | flags::RST | flags::SYN) == 0 => {
                let h = flow_hash(seg.src, seg.sport, seg.dst, seg.dport);
                if filter.check_touch(h, ts) {
                    self.skipped += 1;
                    self.skipped_bytes += u64::from(wire_len);
                    self.last_ts = self.last_ts.max(ts);
                    return;
                }
            }
            _ => {}
        }
        self.data.extend_from_slice(frame);
        self.frames.push((ts, self.data.len(), wire_len));
    }

    /// The frames, in order: (timestamp, bytes, wire length).
    pub fn iter(&self) -> impl Iterator<Item = (i64, &[u8], u32)> {
        let mut start = 0;
        self.frames.iter().map(move |&(ts, end, wl)| {
            let f = self.data.get(start..end).unwrap_or_default();
            start = end;
            (ts, f, wl)
        })
    }
}

/// What the reader thread sends, in input order.
pub enum Msg {
    /// The next input was opened: its label and link type.
    Opened(String, LinkType),
    /// Frames of the current input.
    Batch(Batch),
    /// An input could not be opened or read (already formatted, names the file).
    Error(String),
}

/// Starts the reader thread over `inputs`. Batches come back through
/// `recycle` to be reused; the thread ends when the inputs are read or the
/// receiver is gone.
pub fn spawn_reader(
    inputs: Vec<Input>,
    filter: Arc<DoneFilter>,
    tx: SyncSender<Msg>,
    recycle: Receiver<Batch>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let fresh = |r: &Receiver<Batch>| {
            let mut b = r.try_recv().unwrap_or_default();
            b.clear();
            b
        };
        for input in inputs {
            let label = input.label();
            let mut opened = match source::open(&input) {
                Ok(o) => o,
                Err(e) => {
                    if tx.send(Msg::Error(e.to_string())).is_err() {
                        return;
                    }
                    continue;
                }
            };
            let link = opened.link;
            if tx.send(Msg::Opened(label.clone(), link)).is_err() {
                return;
            }
            let mut batch = fresh(&recycle);
            let mut gone = false;
            let res = source::read_all(&mut opened, &label, |ts, data, len| {
                if gone {
                    return;
                }
                batch.offer(&filter, link, ts, data, len);
                if batch.full() {
                    let full = std::mem::replace(&mut batch, fresh(&recycle));
                    gone = tx.send(Msg::Batch(full)).is_err();
                }
            });
            if gone || tx.send(Msg::Batch(batch)).is_err() {
                return;
            }
            if let Err(e) = res
                && tx.send(Msg::Error(e.to_string())).is_err()
            {
                return;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_symmetric_and_filter_works() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "52.96.0.1".parse().unwrap();
        let h = flow_hash(a, 50000, b, 443);
        assert_eq!(h, flow_hash(b, 443, a, 50000));
        assert_ne!(h, flow_hash(a, 50001, b, 443));
        let f = DoneFilter::default();
        assert!(!f.check_touch(h, 5));
        f.insert(h);
        assert!(f.check_touch(h, 7));
        assert_eq!(f.last_seen(h), Some(7));
        f.remove(h);
        assert!(!f.check_touch(h, 8));
        assert_eq!(f.last_seen(h), None);
    }
}
