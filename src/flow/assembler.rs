//! Per-direction TCP stream reassembly.
//!
//! A [`Reassembler`] turns segments (in any order, duplicated, overlapping,
//! across sequence-number wrap) into the in-order byte stream. The first
//! byte's sequence number comes from the SYN when it was captured, else from
//! the first data segment. Out-of-order data waits in a bounded queue; when
//! the queue is full, or at the end, the hole is skipped and reported.
//!
//! When two SYNs (SYN-ACKs) of one direction announce different initial
//! sequence numbers before any data, both starts are kept until the data or
//! the peer's acknowledgements show which one the stream follows, as the
//! receiving TCP stack would have decided.

#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

/// Most out-of-order bytes held per direction before a hole is given up.
pub const MAX_PENDING: usize = 64 * 1024;
/// Most out-of-order segments held per direction: each insert and drain step
/// moves the queue, so many tiny segments must not make that quadratic.
pub const MAX_PENDING_SEGMENTS: usize = 1024;
/// Segments further ahead than this are not buffered (they cannot be near).
const MAX_AHEAD: u32 = 1 << 20;

/// What the reassembler hands on: in-order bytes, or news of a hole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    /// The next bytes of the stream.
    Data(&'a [u8]),
    /// Bytes were lost here; the data that follows is not contiguous.
    Gap,
}

/// `a - b` in sequence space, as a signed distance.
#[inline]
fn seq_diff(a: u32, b: u32) -> i64 {
    i64::from(a.wrapping_sub(b) as i32)
}

/// Reassembles one direction of a TCP connection.
#[derive(Debug, Default, Clone)]
pub struct Reassembler {
    next: Option<u32>,
    /// Another possible start, from an earlier SYN with another sequence
    /// number, while nothing has been received: the first data or
    /// acknowledgement that fits one of the two starts settles it.
    other_start: Option<u32>,
    pending: Vec<(u32, Vec<u8>)>,
    pending_bytes: usize,
    /// Bytes delivered so far.
    pub delivered: u64,
    /// Holes skipped (data never captured).
    pub gaps: u32,
    /// The stream's start was set by a SYN.
    pub saw_syn: bool,
}

impl Reassembler {
    /// A reassembler with no sequence base yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The SYN (or SYN-ACK) of this direction: data starts at `isn + 1`.
    /// A later SYN with another number, before any data, makes its start
    /// the likelier one, the earlier start is kept as the other possibility
    /// (see [`Reassembler::acked`] and [`Reassembler::segment`]).
    pub fn syn(&mut self, isn: u32) {
        if self.delivered == 0 && self.pending.is_empty() {
            let start = isn.wrapping_add(1);
            if self.saw_syn && self.next != Some(start) {
                self.other_start = self.next;
            }
            self.next = Some(start);
            self.saw_syn = true;
        }
    }

    /// The peer acknowledged this direction up to `ack`: when two starts
    /// are possible, the one the acknowledgement fits is the stream's.
    pub fn acked(&mut self, ack: u32) {
        self.settle(ack);
    }

    /// Chooses between two possible starts with a sequence number of this
    /// direction (a data byte, or an acknowledgement): the start at or
    /// nearest before it, within reach. A number neither start reaches
    /// tells nothing.
    fn settle(&mut self, seq: u32) {
        let (Some(other), Some(next)) = (self.other_start, self.next) else {
            return;
        };
        let reach = |start: u32| {
            let d = seq_diff(seq, start);
            (0..i64::from(MAX_AHEAD)).contains(&d).then_some(d)
        };
        match (reach(next), reach(other)) {
            (Some(dn), Some(dother)) if dother < dn => self.next = Some(other),
            (None, Some(_)) => self.next = Some(other),
            (None, None) => return,
            _ => {}
        }
        self.other_start = None;
    }

    /// Bytes waiting for a hole to fill.
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    /// Memory held by the out-of-order queue (segments and their slots).
    pub fn memory(&self) -> usize {
        self.pending_bytes
            + self.pending.len() * 32
            + self.pending.capacity() * std::mem::size_of::<(u32, Vec<u8>)>()
    }

    /// Sequence number of the next byte expected, once known.
    pub fn next_seq(&self) -> Option<u32> {
        self.next
    }

    /// Adds a segment; in-order bytes are passed to `out`. `wire_len` is the
    /// payload length on the wire: when the capture cut the payload short,
    /// the missing tail becomes a hole (skipped at once, reported as a gap).
    pub fn segment(
        &mut self,
        seq: u32,
        data: &[u8],
        wire_len: u32,
        out: &mut dyn FnMut(Piece<'_>),
    ) {
        if data.is_empty() && wire_len == 0 {
            return;
        }
        if self.other_start.is_some() {
            self.settle(seq);
        }
        let next = *self.next.get_or_insert(seq);
        let off = seq_diff(seq, next);
        if off <= 0 {
            let skip = usize::try_from(-off).unwrap_or(usize::MAX);
            if let Some(new) = data.get(skip..) {
                self.deliver(new, out);
            }
            let end = seq.wrapping_add(wire_len);
            if (data.len() as u32) < wire_len && seq_diff(end, self.next.unwrap_or(end)) > 0 {
                // Snap length cut this segment: the rest was never captured.
                self.next = Some(end);
                self.gaps += 1;
                out(Piece::Gap);
            }
            self.drain(out);
        } else if off < i64::from(MAX_AHEAD) && !data.is_empty() {
            match self
                .pending
                .binary_search_by(|(s, _)| seq_diff(*s, next).cmp(&off))
            {
                Err(i) => {
                    self.pending.insert(i, (seq, data.to_vec()));
                    self.pending_bytes += data.len();
                }
                // Same start: keep the longer (a retransmission may carry more).
                Ok(i) => {
                    if let Some((_, held)) = self.pending.get_mut(i)
                        && held.len() < data.len()
                    {
                        self.pending_bytes += data.len() - held.len();
                        *held = data.to_vec();
                    }
                }
            }
            // One skip may free only a small segment: skip until in bounds.
            while (self.pending_bytes > MAX_PENDING || self.pending.len() > MAX_PENDING_SEGMENTS)
                && self.skip_hole(out)
            {}
        }
        if self.delivered > 0 || !self.pending.is_empty() {
            // The stream has begun where it has: no other start any more.
            self.other_start = None;
        }
    }

    fn deliver(&mut self, data: &[u8], out: &mut dyn FnMut(Piece<'_>)) {
        if data.is_empty() {
            return;
        }
        out(Piece::Data(data));
        self.delivered += data.len() as u64;
        self.next = self.next.map(|n| n.wrapping_add(data.len() as u32));
    }

    fn drain(&mut self, out: &mut dyn FnMut(Piece<'_>)) {
        while let Some(next) = self.next {
            let Some((seq, _)) = self.pending.first() else {
                break;
            };
            let off = seq_diff(*seq, next);
            if off > 0 {
                break;
            }
            let (seq, data) = self.pending.remove(0);
            self.pending_bytes -= data.len();
            let skip = usize::try_from(seq_diff(next, seq)).unwrap_or(usize::MAX);
            if let Some(new) = data.get(skip..) {
                self.deliver(new, out);
            }
        }
    }

    /// Gives up the first hole: continues at the earliest buffered segment.
    /// Returns false when nothing was buffered.
    pub fn skip_hole(&mut self, out: &mut dyn FnMut(Piece<'_>)) -> bool {
        let Some((seq, _)) = self.pending.first() else {
            return false;
        };
        self.next = Some(*seq);
        self.gaps += 1;
        out(Piece::Gap);
        self.drain(out);
        true
    }

    /// Back to a new stream, keeping the queue's memory.
    pub fn reset(&mut self) {
        self.pending.clear();
        *self = Reassembler {
            pending: std::mem::take(&mut self.pending),
            ..Reassembler::default()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(got: &mut Vec<u8>, p: Piece<'_>) {
        match p {
            Piece::Data(b) => got.extend_from_slice(b),
            Piece::Gap => got.push(b'|'),
        }
    }

    fn run(r: &mut Reassembler, segs: &[(u32, &[u8])]) -> Vec<u8> {
        let mut got = Vec::new();
        for (s, d) in segs {
            r.segment(*s, d, d.len() as u32, &mut |p| push(&mut got, p));
        }
        got
    }

    #[test]
    fn in_order_and_reordered() {
        let mut r = Reassembler::new();
        r.syn(99);
        let got = run(&mut r, &[(100, b"abc"), (106, b"ghi"), (103, b"def")]);
        assert_eq!(got, b"abcdefghi");
        assert_eq!(r.pending_bytes(), 0);
    }

    #[test]
    fn duplicates_and_overlaps() {
        let mut r = Reassembler::new();
        r.syn(0);
        let got = run(
            &mut r,
            &[
                (1, b"abcd"),
                (1, b"abcd"),
                (3, b"cdef"),
                (9, b"ij"),
                (6, b"fghi"),
                (2, b"b"),
            ],
        );
        assert_eq!(got, b"abcdefghij");
    }

    #[test]
    fn sequence_wrap() {
        let mut r = Reassembler::new();
        r.syn(u32::MAX - 2);
        let got = run(&mut r, &[(u32::MAX - 1, b"ab"), (1, b"de"), (0, b"c")]);
        assert_eq!(got, b"abcde");
    }

    #[test]
    fn no_syn_starts_at_first_segment() {
        let mut r = Reassembler::new();
        let got = run(&mut r, &[(5000, b"hello"), (4990, b"old"), (5005, b"!")]);
        assert_eq!(got, b"hello!");
        assert!(!r.saw_syn);
    }

    #[test]
    fn hole_is_skipped_when_queue_full_or_asked() {
        let mut r = Reassembler::new();
        r.syn(0);
        let mut got = Vec::new();
        r.segment(1, b"a", 1, &mut |p| push(&mut got, p));
        r.segment(10, b"z", 1, &mut |p| push(&mut got, p));
        assert_eq!(got, b"a");
        assert!(r.skip_hole(&mut |p| push(&mut got, p)));
        assert_eq!(got, b"a|z");
        assert_eq!(r.gaps, 1);
        let big = vec![7u8; 1000];
        for i in 0..70u32 {
            r.segment(100 + i * 1000, &big, 1000, &mut |p| push(&mut got, p));
        }
        assert!(r.pending_bytes() <= MAX_PENDING);
        assert_eq!(r.gaps, 2);
    }

    /// Fuzz regression: one hole skip freed a 1-byte segment while a 64 KiB
    /// one arrived, so the queue grew past `MAX_PENDING` (without bound).
    #[test]
    fn queue_stays_bounded_with_many_small_holes() {
        let mut r = Reassembler::new();
        r.syn(0);
        let mut got = Vec::new();
        for i in 0..100u32 {
            r.segment(10 + 2 * i, b"x", 1, &mut |p| push(&mut got, p));
        }
        let big = vec![1u8; 60_000];
        for i in 0..20u32 {
            r.segment(1000 + 1000 * i, &big, 60_000, &mut |p| push(&mut got, p));
            assert!(r.pending_bytes() <= MAX_PENDING, "{}", r.pending_bytes());
        }
    }

    /// Property-test regression: a longer segment starting where a queued
    /// shorter one starts was dropped, losing the bytes past the shorter one.
    #[test]
    fn longer_segment_with_same_start_replaces_queued_one() {
        let mut r = Reassembler::new();
        r.syn(0);
        let got = run(&mut r, &[(4, b"d"), (4, b"defgh"), (1, b"abc")]);
        assert_eq!(got, b"abcdefgh");
        assert_eq!(r.pending_bytes(), 0);
    }

    /// Many tiny segments in descending order: each insert and each drain
    /// step moves the whole queue, so the queue's length must stay small.
    #[test]
    fn many_tiny_segments_stay_cheap() {
        let mut r = Reassembler::new();
        r.syn(0);
        let mut n = 0u64;
        let start = std::time::Instant::now();
        for i in (2..60_002u32).rev() {
            r.segment(i, b"x", 1, &mut |p| {
                if let Piece::Data(d) = p {
                    n += d.len() as u64;
                }
            });
        }
        r.segment(1, b"x", 1, &mut |_| {});
        while r.skip_hole(&mut |_| {}) {}
        assert!(start.elapsed().as_secs() < 5, "{:?}", start.elapsed());
        assert_eq!(r.pending_bytes(), 0);
    }

    /// Two SYN-ACKs with different numbers: the data settles which start
    /// the stream follows, whichever SYN-ACK came last.
    #[test]
    fn two_syns_data_settles_the_start() {
        for (first, second, data_at) in [(1000, 50_000, 50_001), (1000, 50_000, 1001)] {
            let mut r = Reassembler::new();
            r.syn(first);
            r.syn(second);
            let got = run(&mut r, &[(data_at, b"hello"), (data_at + 5, b"!")]);
            assert_eq!(got, b"hello!", "data at {data_at}");
            assert_eq!(r.next_seq(), Some(data_at + 6));
        }
        // Across the wrap, and the same SYN twice is one start.
        let mut r = Reassembler::new();
        r.syn(u32::MAX - 1);
        r.syn(7);
        r.syn(7);
        assert_eq!(run(&mut r, &[(u32::MAX, b"ab"), (1, b"c")]), b"abc");
    }

    /// The peer's acknowledgement settles the start before any data; a
    /// number neither start reaches leaves both open.
    #[test]
    fn two_syns_acknowledgement_settles_the_start() {
        let mut r = Reassembler::new();
        r.syn(1000);
        r.syn(3_000_000);
        r.acked(2_000_000_000);
        r.acked(1001);
        assert_eq!(r.next_seq(), Some(1001));
        // Settled: a segment at the other start is no longer taken as the
        // beginning (it is far ahead of this one).
        assert_eq!(run(&mut r, &[(3_000_001, b"x")]), b"");
        assert_eq!(run(&mut r, &[(1001, b"y")]), b"y");
    }

    #[test]
    fn snaplen_cut_makes_a_gap() {
        let mut r = Reassembler::new();
        r.syn(0);
        let mut got = Vec::new();
        r.segment(1, b"abc", 10, &mut |p| push(&mut got, p));
        r.segment(11, b"k", 1, &mut |p| push(&mut got, p));
        assert_eq!(got, b"abc|k");
        assert_eq!(r.gaps, 1);
    }
}
