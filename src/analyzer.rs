//! The pipeline driver: frames in, connection rows out.
//!
//! [`Analyzer`] keeps the flow table (a fast-hashed map of [`Connection`]s),
//! routes each decoded segment to its connection, writes a row to the
//! [`Sink`] as soon as a connection's handshake facts are complete (then
//! only counts its packets), and bounds memory: connections idle longer than
//! the idle timeout are closed, and when the table is full the longest-idle
//! connections are evicted. Every eviction is counted in [`Stats`].

use std::net::IpAddr;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::conn::{Connection, Pool, Side};
use crate::decode::{self, LinkType, Segment, Skip, flags};
use crate::flow::defrag::{Datagram, Defrag, DefragLimits};
use crate::m365::Endpoints;
use crate::pipeline::{DoneFilter, flow_hash};
use crate::record::ConnRecord;

/// Where finished rows go.
pub trait Sink {
    /// One finished connection.
    fn record(&mut self, rec: &ConnRecord) -> std::io::Result<()>;

    /// Prints an interim report (long live captures); nothing by default.
    fn interim_report(&self, _stats: &Stats) {}
}

/// Limits of the flow table.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most connections tracked at once.
    pub max_flows: usize,
    /// A connection with no packet for this long (capture time, µs) is closed.
    pub idle_timeout_us: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_flows: 200_000,
            idle_timeout_us: 300 * 1_000_000,
        }
    }
}

/// Counters shown in the summary.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Stats {
    /// Frames read.
    pub packets: u64,
    /// Bytes of frames on the wire.
    pub bytes: u64,
    /// TCP segments decoded.
    pub tcp_packets: u64,
    /// Frames that were not TCP.
    pub not_tcp: u64,
    /// IP fragments (reassembled by `flow::defrag`).
    pub fragments: u64,
    /// IP datagrams reassembled from fragments.
    pub reassembled: u64,
    /// Fragmented datagrams dropped incomplete (timed out, or at the end).
    pub frag_incomplete: u64,
    /// Fragmented datagrams dropped over a bound (size, count, bytes).
    pub frag_over_limit: u64,
    /// Fragmented datagrams dropped as invalid (inconsistent, cut short).
    pub frag_invalid: u64,
    /// Frames too short or malformed to decode.
    pub malformed: u64,
    /// Connections tracked.
    pub connections: u64,
    /// Connections closed for being idle.
    pub evicted_idle: u64,
    /// Connections evicted because the table was full.
    pub evicted_full: u64,
    /// Rows written.
    pub rows: u64,
    /// Frames the reader thread dropped without analysis (not TCP, bare
    /// ACKs, connections already reported).
    pub early_dropped: u64,
}

impl Stats {
    /// Adds the counts of another part of the same run.
    pub fn add(&mut self, o: &Stats) {
        let Stats {
            packets,
            bytes,
            tcp_packets,
            not_tcp,
            fragments,
            reassembled,
            frag_incomplete,
            frag_over_limit,
            frag_invalid,
            malformed,
            connections,
            evicted_idle,
            evicted_full,
            rows,
            early_dropped,
        } = *o;
        self.packets += packets;
        self.bytes += bytes;
        self.tcp_packets += tcp_packets;
        self.not_tcp += not_tcp;
        self.fragments += fragments;
        self.reassembled += reassembled;
        self.frag_incomplete += frag_incomplete;
        self.frag_over_limit += frag_over_limit;
        self.frag_invalid += frag_invalid;
        self.malformed += malformed;
        self.connections += connections;
        self.evicted_idle += evicted_idle;
        self.evicted_full += evicted_full;
        self.rows += rows;
        self.early_dropped += early_dropped;
    }
}

/// Canonical connection key: the lower (address, port) first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowKey {
    a: IpAddr,
    b: IpAddr,
    ap: u16,
    bp: u16,
}

impl FlowKey {
    fn tag(&self) -> u64 {
        flow_hash(self.a, self.ap, self.b, self.bp)
    }

    fn of(seg: &Segment<'_>) -> (FlowKey, Side) {
        // Both addresses are of one family: comparing their bits orders
        // them as `IpAddr` does.
        if (ip_bits(seg.src), seg.sport) <= (ip_bits(seg.dst), seg.dport) {
            let k = FlowKey {
                a: seg.src,
                ap: seg.sport,
                b: seg.dst,
                bp: seg.dport,
            };
            (k, 0)
        } else {
            let k = FlowKey {
                a: seg.dst,
                ap: seg.dport,
                b: seg.src,
                bp: seg.sport,
            };
            (k, 1)
        }
    }
}

/// An address as a number (IPv4 in the low 32 bits).
fn ip_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v) => u128::from(u32::from(v)),
        IpAddr::V6(v) => u128::from(v),
    }
}

impl std::hash::Hash for FlowKey {
    /// One word per key (the derived hash feeds every address byte to the
    /// hasher; this runs for every packet).
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let (a, b) = (ip_bits(self.a), ip_bits(self.b));
        let x = (a as u64)
            ^ ((a >> 64) as u64).rotate_left(29)
            ^ (b as u64).rotate_left(13)
            ^ ((b >> 64) as u64).rotate_left(43)
            ^ (u64::from(self.ap) << 48 | u64::from(self.bp) << 32);
        h.write_u64(x);
    }
}

/// Analyses a stream of frames (one or several captures in a row).
pub struct Analyzer<'s> {
    /// Connections boxed, so that the table itself stays small: with
    /// the tombstones evictions leave it may grow to twice `max_flows`.
    table: FxHashMap<FlowKey, Box<Connection>>,
    limits: Limits,
    endpoints: Arc<Endpoints>,
    sink: &'s mut dyn Sink,
    /// Counters so far.
    pub stats: Stats,
    now: i64,
    /// The next sweep is due at this capture time.
    next_sweep: i64,
    error: Option<std::io::Error>,
    filter: Option<Arc<DoneFilter>>,
    pool: Pool,
    /// A leap forward in time seen on one frame, not yet believed.
    leap: Option<i64>,
    /// Index of the current frame in the reader thread's order.
    frame_index: u64,
    /// Chunk mode: rows of connections first seen mid-stream are held
    /// here instead of written (see [`Analyzer::hold_midstream`]).
    held: Option<Vec<Held>>,
    /// Overrun mode: only connections already tracked are followed.
    overrun: bool,
    /// IP datagrams being reassembled.
    defrag: Defrag,
}

/// IP protocols whose fragments are reassembled: TCP, and what may carry
/// a tunnel (UDP, GRE, IP in IP, IPv6 extension headers).
fn may_carry_tcp(proto: u8) -> bool {
    matches!(proto, 0 | 4 | 6 | 17 | 41 | 43 | 47 | 51 | 60)
}

/// A segment with no payload and no SYN, FIN or RST.
fn bare_ack(seg: &Segment<'_>) -> bool {
    seg.payload.is_empty()
        && seg.wire_len == 0
        && seg.flags & (flags::SYN | flags::FIN | flags::RST) == 0
}

/// A connection tracked at the end of a chunk.
#[derive(Debug, Clone, Copy)]
pub struct Owned {
    /// Its first packet (µs).
    pub first_ts: i64,
    /// Its latest packet (µs).
    pub last_ts: i64,
    /// Packets counted so far.
    pub packets: u64,
}

/// A row held back in chunk mode, with its connection's key.
#[derive(Debug)]
pub struct Held {
    /// The connection's canonical key.
    pub key: FlowKey,
    /// The row.
    pub rec: ConnRecord,
}

/// Rows held back at most; past this they are written at once.
const MAX_HELD: usize = 1 << 16;

impl<'s> Analyzer<'s> {
    /// A new analyzer writing rows to `sink`.
    pub fn new(endpoints: Arc<Endpoints>, limits: Limits, sink: &'s mut dyn Sink) -> Self {
        Analyzer {
            table: FxHashMap::default(),
            limits,
            endpoints,
            sink,
            stats: Stats::default(),
            now: i64::MIN,
            next_sweep: i64::MIN,
            error: None,
            filter: None,
            pool: Pool::default(),
            leap: None,
            frame_index: 0,
            held: None,
            overrun: false,
            defrag: Defrag::new(DefragLimits::default()),
        }
    }

    /// Chunk mode, for a chunk that does not start the capture: rows of
    /// connections first seen mid-stream (not by a SYN) are held back, as
    /// the chunk before may own them; [`Analyzer::take_held`] hands them
    /// over. Past [`MAX_HELD`] rows they are written at once.
    pub fn hold_midstream(mut self) -> Self {
        self.held = Some(Vec::new());
        self
    }

    /// The rows held back so far.
    pub fn take_held(&mut self) -> Vec<Held> {
        self.held.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Ends the chunk: from here on only connections still being followed
    /// are (frames through [`Analyzer::overrun_frame`]). Returns every
    /// connection tracked now, with its latest packet time: the next
    /// chunk's mid-stream connections with these keys are theirs.
    pub fn begin_overrun(&mut self) -> FxHashMap<FlowKey, Owned> {
        let owned = self
            .table
            .iter()
            .map(|(k, c)| {
                let o = Owned {
                    first_ts: c.first_ts,
                    last_ts: c.last_ts,
                    packets: c.packets,
                };
                (*k, o)
            })
            .collect();
        self.table.retain(|_, c| !c.done);
        self.overrun = true;
        owned
    }

    /// Overrun mode: stops following connections with nothing to report
    /// yet and no packet since `quiet`, and the others with no packet since
    /// `stalled` (capture times). The former are handed to the next chunk,
    /// which reports them if a hello comes later (their keys are returned);
    /// the others are reported now, as they stand, as at their close.
    pub fn release_stalled(&mut self, quiet: i64, stalled: i64) -> Vec<FlowKey> {
        let gone =
            self.remove_where(|c| c.last_ts < stalled || c.last_ts < quiet && c.nothing_yet());
        let mut handed = Vec::new();
        for (k, c) in gone {
            if c.nothing_yet() {
                handed.push(k);
            } else {
                self.retire(k, c);
            }
        }
        handed
    }

    /// A frame past the chunk's end, in overrun mode: time moves on, the
    /// frame is analysed only if it belongs to a connection followed.
    pub fn overrun_frame(&mut self, link: LinkType, ts: i64, frame: &[u8]) {
        self.advance(ts);
        match decode::decode(link, frame) {
            Ok(seg) if !self.table.is_empty() && !bare_ack(&seg) => {
                let _ = self.segment(&seg, ts);
            }
            Err(Skip::Fragment) => {
                let _ = self.fragment(link, ts, frame);
            }
            _ => {}
        }
    }

    /// Shares done connections with a reader thread through `filter`.
    pub fn with_filter(mut self, filter: Arc<DoneFilter>) -> Self {
        self.filter = Some(filter);
        self
    }

    /// [`Analyzer::frame`] for the `index`th frame the reader thread passed
    /// on (see [`DoneFilter::insert`]).
    pub fn frame_from_reader(
        &mut self,
        index: u64,
        link: LinkType,
        ts: i64,
        frame: &[u8],
        wire_len: u32,
    ) -> bool {
        self.frame_index = index;
        self.frame(link, ts, frame, wire_len)
    }

    /// Frames the reader thread dropped early: counted, and time moves on.
    pub fn skipped(&mut self, frames: u64, bytes: u64, not_tcp: u64, last_ts: i64) {
        self.stats.early_dropped += frames;
        self.stats.packets += frames;
        self.stats.bytes += bytes;
        self.stats.not_tcp += not_tcp;
        self.stats.tcp_packets += frames - not_tcp;
        self.advance(last_ts);
    }

    fn advance(&mut self, ts: i64) {
        if ts > self.now {
            // A leap past the idle timeout from one frame alone is more
            // likely a corrupt timestamp than a pause: believe it only when
            // the next frame agrees, or every connection would be swept.
            if self.now != i64::MIN && ts - self.now > self.limits.idle_timeout_us {
                let confirmed = self.leap.is_some_and(|l| ts >= l);
                self.leap = Some(ts);
                if !confirmed {
                    return;
                }
            }
            self.leap = None;
            self.now = ts;
            // Sweeping walks the table: every tenth of the idle timeout
            // (at least a second) is often enough. Sweeps fall on multiples
            // of that period, so that chunks of a split file sweep when
            // one reader would.
            if self.now >= self.next_sweep {
                if self.next_sweep != i64::MIN {
                    self.sweep_idle();
                    if !self.defrag.is_empty() {
                        self.defrag.expire(self.now);
                        self.count_defrag();
                    }
                }
                let every = (self.limits.idle_timeout_us / 10).max(1_000_000);
                self.next_sweep = (self.now.div_euclid(every) + 1).saturating_mul(every);
            }
        }
    }

    /// The first error the sink returned; analysis should stop.
    pub fn take_error(&mut self) -> Option<std::io::Error> {
        self.error.take()
    }

    /// Asks the sink for an interim report of everything so far.
    pub fn interim_report(&self) {
        self.sink.interim_report(&self.stats);
    }

    /// The capture time reached (µs; `i64::MIN` before the first frame).
    pub fn now(&self) -> i64 {
        self.now
    }

    /// Connections tracked now (in overrun mode: still followed; the
    /// overrun can stop at 0).
    pub fn tracked(&self) -> usize {
        self.table.len()
    }

    /// Bytes buffered by all tracked connections (reassembly and parsing).
    pub fn buffered_bytes(&self) -> usize {
        self.table.values().map(|c| c.buffered()).sum()
    }

    /// Processes one captured frame of `link` type taken at `ts` (µs since
    /// the epoch); `wire_len` is its length on the wire. Returns true when
    /// the frame belongs to a connection whose handshake was still being
    /// followed (the frames worth saving to re-analyse it later).
    pub fn frame(&mut self, link: LinkType, ts: i64, frame: &[u8], wire_len: u32) -> bool {
        self.stats.packets += 1;
        self.stats.bytes += u64::from(wire_len);
        self.advance(ts);
        let seg = match decode::decode(link, frame) {
            Ok(s) => s,
            Err(Skip::NotTcp) => {
                self.stats.not_tcp += 1;
                return false;
            }
            Err(Skip::Fragment) => {
                self.stats.fragments += 1;
                return self.fragment(link, ts, frame);
            }
            Err(Skip::Malformed) => {
                self.stats.malformed += 1;
                return false;
            }
        };
        self.stats.tcp_packets += 1;
        if bare_ack(&seg) {
            // Nothing to reassemble or parse (the reader thread drops
            // these too).
            return false;
        }
        self.segment(&seg, ts)
    }

    /// An IP fragment: on to the reassembly; a datagram it completes is
    /// decoded and analysed as a frame would be. True while the datagram
    /// may carry TCP (its frames are worth saving) or when it completes a
    /// followed connection's segment.
    fn fragment(&mut self, link: LinkType, ts: i64, frame: &[u8]) -> bool {
        let Some(f) = decode::fragment(link, frame).filter(|f| may_carry_tcp(f.proto)) else {
            return false;
        };
        let done = self.defrag.add(&f, ts);
        self.count_defrag();
        match done {
            Some(d) => self.datagram(d, ts, 0),
            None => self.defrag.is_pending(&f),
        }
    }

    /// A reassembled datagram; `depth` counts reassemblies inside
    /// reassembled datagrams (fragmented tunnels in fragmented tunnels).
    fn datagram(&mut self, d: Datagram, ts: i64, depth: u8) -> bool {
        let followed = match decode::datagram(d.proto, d.src, d.dst, &d.data) {
            Ok(seg) => {
                self.stats.tcp_packets += 1;
                if bare_ack(&seg) || self.overrun && self.table.is_empty() {
                    false
                } else {
                    self.segment(&seg, ts)
                }
            }
            Err(Skip::Fragment) if depth < 2 => {
                self.stats.fragments += 1;
                let inner = decode::datagram_fragment(d.proto, d.src, d.dst, &d.data)
                    .and_then(|f| self.defrag.add(&f, ts));
                self.count_defrag();
                match inner {
                    Some(i) => self.datagram(i, ts, depth + 1),
                    None => false,
                }
            }
            Err(Skip::NotTcp) => {
                self.stats.not_tcp += 1;
                false
            }
            Err(_) => {
                self.stats.malformed += 1;
                false
            }
        };
        self.defrag.recycle(d);
        followed
    }

    fn count_defrag(&mut self) {
        let c = self.defrag.take_counts();
        self.stats.reassembled += c.reassembled;
        self.stats.frag_incomplete += c.incomplete;
        self.stats.frag_over_limit += c.over_limit;
        self.stats.frag_invalid += c.invalid;
    }

    fn segment(&mut self, seg: &Segment<'_>, ts: i64) -> bool {
        let (key, side) = FlowKey::of(seg);
        let pure_syn = seg.flags & (flags::SYN | flags::ACK) == flags::SYN;
        if self.overrun {
            match self.table.get(&key) {
                None => return false,
                // The SYN again: the connection had not started, the next
                // chunk (which sees this SYN) reports it.
                Some(c) if pure_syn && c.syn_isn == Some(seg.seq) => {
                    self.forget(&key);
                    return false;
                }
                _ => {}
            }
        }
        if pure_syn
            && self
                .table
                .get(&key)
                .is_some_and(|c| c.syn_isn != Some(seg.seq))
            && let Some(old) = self.forget(&key)
        {
            // The ports are reused by a new connection (not a SYN resent).
            self.retire(key, old);
            if self.overrun {
                return false;
            }
        }
        let conn = match self.table.get_mut(&key) {
            Some(c) => c,
            None => {
                // A bare ACK/FIN/RST of an unknown connection tells nothing.
                if seg.payload.is_empty() && seg.flags & flags::SYN == 0 {
                    return false;
                }
                if self.table.len() >= self.limits.max_flows {
                    self.evict_for_room();
                }
                self.stats.connections += 1;
                let eps = [(key.a, key.ap), (key.b, key.bp)];
                let midstream = self.held.is_some() && !pure_syn;
                self.table.entry(key).or_insert_with(|| {
                    let mut c = Box::new(Connection::new(eps, ts));
                    c.midstream = midstream;
                    c
                })
            }
        };
        let following = !conn.done;
        conn.segment(side, seg, ts, &mut self.pool);
        let closed = conn.rst || (conn.fin[0] && conn.fin[1]);
        if conn.done {
            if closed || self.overrun {
                self.forget(&key);
            }
            return following;
        }
        if conn.facts.complete() || conn.exhausted() || closed {
            if closed || !conn.facts.complete() {
                conn.flush();
            }
            let rec = ConnRecord::from_connection(conn, &self.endpoints);
            let midstream = conn.midstream;
            conn.release(&mut self.pool);
            if closed || self.overrun {
                self.forget(&key);
            } else if let Some(f) = &self.filter {
                f.insert(key.tag(), self.frame_index);
            }
            if let Some(rec) = rec {
                self.emit(key, midstream, rec);
            }
        }
        following
    }

    /// Removes a connection from the table (and from the done filter).
    fn forget(&mut self, key: &FlowKey) -> Option<Box<Connection>> {
        if let Some(f) = &self.filter {
            f.remove(key.tag());
        }
        self.table.remove(key)
    }

    fn emit(&mut self, key: FlowKey, midstream: bool, rec: ConnRecord) {
        if midstream
            && let Some(held) = self.held.as_mut()
            && held.len() < MAX_HELD
        {
            held.push(Held { key, rec });
            return;
        }
        self.stats.rows += 1;
        if self.error.is_none()
            && let Err(e) = self.sink.record(&rec)
        {
            self.error = Some(e);
        }
    }

    /// Ends a connection that leaves the table: reports it if unreported.
    fn retire(&mut self, key: FlowKey, mut conn: Box<Connection>) {
        if conn.done {
            return;
        }
        conn.flush();
        if let Some(rec) = ConnRecord::from_connection(&conn, &self.endpoints) {
            self.emit(key, conn.midstream, rec);
        }
    }

    // Boxes as the table holds them: moving them out costs no copy.
    fn remove_where(
        &mut self,
        pred: impl Fn(&Connection) -> bool,
    ) -> Vec<(FlowKey, Box<Connection>)> {
        let keys: Vec<FlowKey> = self
            .table
            .iter()
            .filter(|(_, c)| pred(c))
            .map(|(k, _)| *k)
            .collect();
        let mut gone: Vec<(FlowKey, Box<Connection>)> = keys
            .iter()
            .filter_map(|k| Some((*k, self.forget(k)?)))
            .collect();
        gone.sort_by_key(|(_, c)| c.first_ts);
        gone
    }

    fn sweep_idle(&mut self) {
        if let Some(f) = &self.filter {
            // Done connections' packets may have stopped at the reader.
            for (k, c) in self.table.iter_mut().filter(|(_, c)| c.done) {
                if let Some(t) = f.last_seen(k.tag()) {
                    c.last_ts = c.last_ts.max(t);
                }
            }
        }
        let limit = self.now.saturating_sub(self.limits.idle_timeout_us);
        let gone = self.remove_where(|c| c.last_ts < limit);
        self.stats.evicted_idle += gone.len() as u64;
        for (k, c) in gone {
            self.retire(k, c);
        }
    }

    /// The table is full: evict the longest-idle tenth.
    fn evict_for_room(&mut self) {
        let mut idle: Vec<i64> = self.table.values().map(|c| c.last_ts).collect();
        let n = (idle.len() / 10).max(1);
        let (_, cut, _) = idle.select_nth_unstable(n - 1);
        let cut = *cut;
        let gone = self.remove_where(|c| c.last_ts <= cut);
        self.stats.evicted_full += gone.len() as u64;
        for (k, c) in gone {
            self.retire(k, c);
        }
    }

    /// End of input: every connection still open is reported as it stands.
    pub fn finish(&mut self) {
        self.defrag.finish();
        self.count_defrag();
        let gone = self.remove_where(|_| true);
        for (k, c) in gone {
            self.retire(k, c);
        }
    }
}
