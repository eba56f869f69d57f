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

/// Slots in the done filter (a power of two; 512 KiB, mostly in cache).
pub const FILTER_SLOTS: usize = 1 << 15;

/// A symmetric hash of a TCP connection's endpoints (same both ways).
pub fn flow_hash(a: IpAddr, ap: u16, b: IpAddr, bp: u16) -> u64 {
    // Each endpoint hashed alone, combined by addition: symmetric without
    // ordering the endpoints.
    let x = endpoint_hash(a, ap).wrapping_add(endpoint_hash(b, bp));
    (x ^ (x >> 31)).wrapping_mul(0x94d0_49bb_1331_11eb) | 1
}

fn endpoint_hash(ip: IpAddr, port: u16) -> u64 {
    let v = match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6) ^ (1 << 127),
    };
    let x = (v as u64) ^ ((v >> 64) as u64).rotate_left(17) ^ (u64::from(port) << 48);
    let x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb)
}

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
    /// Index of the first frame, in the reader's order of frames passed on.
    pub first_index: u64,
}

/// Frames per batch.
pub const BATCH_FRAMES: usize = 2048;
/// Frame bytes per batch (a batch is sent when either bound is reached).
pub const BATCH_BYTES: usize = 4 << 20;

impl Batch {
    /// Empties the batch, keeping its buffers.
    pub fn clear(&mut self) {
        if self.data.capacity() > 2 * BATCH_BYTES {
            self.data = Vec::new();
        }
        self.data.clear();
        self.frames.clear();
        self.skipped = 0;
        self.skipped_bytes = 0;
        self.not_tcp = 0;
        self.last_ts = i64::MIN;
    }

    /// True when the batch should be sent.
    pub fn full(&self) -> bool {
        self.frames.len() >= BATCH_FRAMES
            || self.data.len() >= BATCH_BYTES
            || self.skipped >= 64 * BATCH_FRAMES as u64
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
                self.not_tcp += 1;
                self.skip(ts, wire_len);
                return;
            }
            Ok(seg) if seg.flags & (flags::SYN | flags::ACK) == flags::SYN => {
                // A new connection, perhaps on the ports of one already
                // done: its frames must reach the analysis from here on.
                let index = self.first_index + self.frames.len() as u64;
                filter.syn(flow_hash(seg.src, seg.sport, seg.dst, seg.dport), index);
            }
            Ok(seg) if seg.flags & (flags::FIN | flags::RST | flags::SYN) == 0 => {
                // A bare ACK carries nothing to analyse; other frames of a
                // done connection neither.
                let bare = seg.payload.is_empty() && seg.wire_len == 0;
                if bare || filter.check_touch(flow_hash(seg.src, seg.sport, seg.dst, seg.dport), ts)
                {
                    self.skip(ts, wire_len);
                    return;
                }
            }
            _ => {}
        }
        self.data.extend_from_slice(frame);
        self.frames.push((ts, self.data.len(), wire_len));
    }

    fn skip(&mut self, ts: i64, wire_len: u32) {
        self.skipped += 1;
        self.skipped_bytes += u64::from(wire_len);
        self.last_ts = self.last_ts.max(ts);
    }

    /// The frames, in order: (index, timestamp, bytes, wire length).
    pub fn iter(&self) -> impl Iterator<Item = (u64, i64, &[u8], u32)> {
        let mut start = 0;
        self.frames
            .iter()
            .enumerate()
            .map(move |(i, &(ts, end, wl))| {
                let f = self.data.get(start..end).unwrap_or_default();
                start = end;
                (self.first_index + i as u64, ts, f, wl)
            })
    }

    /// Index after the last frame.
    pub fn end_index(&self) -> u64 {
        self.first_index + self.frames.len() as u64
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
        read_inputs(
            inputs,
            &filter,
            &mut || {
                let mut b = recycle.try_recv().unwrap_or_default();
                b.clear();
                b
            },
            &mut |m| tx.send(m).is_ok(),
        );
    })
}

/// Reads `inputs` in order, handing [`Msg`]s to `send` until it returns
/// false; `fresh` supplies empty batches.
pub fn read_inputs(
    inputs: Vec<Input>,
    filter: &DoneFilter,
    fresh: &mut dyn FnMut() -> Batch,
    send: &mut dyn FnMut(Msg) -> bool,
) {
    let mut next_index = 0u64;
    for input in inputs {
        let label = input.label();
        let mut opened = match source::open(&input) {
            Ok(o) => o,
            Err(e) => {
                if !send(Msg::Error(e.to_string())) {
                    return;
                }
                continue;
            }
        };
        let link = opened.link;
        if !send(Msg::Opened(label.clone(), link)) {
            return;
        }
        let mut batch = fresh();
        batch.first_index = next_index;
        let mut gone = false;
        let res = source::read_all(&mut opened, &label, |ts, data, len| {
            if gone {
                return;
            }
            batch.offer(filter, link, ts, data, len);
            if batch.full() {
                let mut next = fresh();
                next.first_index = batch.end_index();
                let full = std::mem::replace(&mut batch, next);
                gone = !send(Msg::Batch(full));
            }
        });
        next_index = batch.end_index();
        if gone || !send(Msg::Batch(batch)) {
            return;
        }
        if let Err(e) = res
            && !send(Msg::Error(e.to_string()))
        {
            return;
        }
    }
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
