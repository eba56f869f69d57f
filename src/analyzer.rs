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
    /// IP fragments skipped.
    pub fragments: u64,
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

/// Canonical connection key: the lower (address, port) first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FlowKey {
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
        if (seg.src, seg.sport) <= (seg.dst, seg.dport) {
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
    last_sweep: i64,
    error: Option<std::io::Error>,
    filter: Option<Arc<DoneFilter>>,
    pool: Pool,
    /// A leap forward in time seen on one frame, not yet believed.
    leap: Option<i64>,
    /// Index of the current frame in the reader thread's order.
    frame_index: u64,
}

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
            last_sweep: i64::MIN,
            error: None,
            filter: None,
            pool: Pool::default(),
            leap: None,
            frame_index: 0,
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
            // (at least a second) is often enough.
            let every = (self.limits.idle_timeout_us / 10).max(1_000_000);
            if self.now.saturating_sub(self.last_sweep) >= every {
                if self.last_sweep != i64::MIN {
                    self.sweep_idle();
                }
                self.last_sweep = self.now;
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

    /// Connections tracked now.
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
                return false;
            }
            Err(Skip::Malformed) => {
                self.stats.malformed += 1;
                return false;
            }
        };
        self.stats.tcp_packets += 1;
        if seg.payload.is_empty()
            && seg.wire_len == 0
            && seg.flags & (flags::SYN | flags::FIN | flags::RST) == 0
        {
            // A bare ACK: nothing to reassemble or parse (the reader thread
            // drops these too).
            return false;
        }
        self.segment(&seg, ts)
    }

    fn segment(&mut self, seg: &Segment<'_>, ts: i64) -> bool {
        let (key, side) = FlowKey::of(seg);
        if seg.flags & (flags::SYN | flags::ACK) == flags::SYN
            && self
                .table
                .get(&key)
                .is_some_and(|c| c.syn_isn != Some(seg.seq))
            && let Some(old) = self.forget(&key)
        {
            // The ports are reused by a new connection (not a SYN resent).
            self.retire(old);
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
                self.table
                    .entry(key)
                    .or_insert_with(|| Box::new(Connection::new(eps, ts)))
            }
        };
        let following = !conn.done;
        conn.segment(side, seg, ts, &mut self.pool);
        let closed = conn.rst || (conn.fin[0] && conn.fin[1]);
        if conn.done {
            if closed {
                self.forget(&key);
            }
            return following;
        }
        if conn.facts.complete() || conn.exhausted() || closed {
            if closed || !conn.facts.complete() {
                conn.flush();
            }
            let rec = ConnRecord::from_connection(conn, &self.endpoints);
            conn.release(&mut self.pool);
            if closed {
                self.forget(&key);
            } else if let Some(f) = &self.filter {
                f.insert(key.tag(), self.frame_index);
            }
            if let Some(rec) = rec {
                self.emit(&rec);
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

    fn emit(&mut self, rec: &ConnRecord) {
        self.stats.rows += 1;
        if self.error.is_none()
            && let Err(e) = self.sink.record(rec)
        {
            self.error = Some(e);
        }
    }

    /// Ends a connection that leaves the table: reports it if unreported.
    fn retire(&mut self, mut conn: Box<Connection>) {
        if conn.done {
            return;
        }
        conn.flush();
        if let Some(rec) = ConnRecord::from_connection(&conn, &self.endpoints) {
            self.emit(&rec);
        }
    }

    // Boxes as the table holds them: moving them out costs no copy.
    #[allow(clippy::vec_box)]
    fn remove_where(&mut self, pred: impl Fn(&Connection) -> bool) -> Vec<Box<Connection>> {
        let keys: Vec<FlowKey> = self
            .table
            .iter()
            .filter(|(_, c)| pred(c))
            .map(|(k, _)| *k)
            .collect();
        let mut gone: Vec<Box<Connection>> = keys.iter().filter_map(|k| self.forget(k)).collect();
        gone.sort_by_key(|c| c.first_ts);
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
        for c in gone {
            self.retire(c);
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
        for c in gone {
            self.retire(c);
        }
    }

    /// End of input: every connection still open is reported as it stands.
    pub fn finish(&mut self) {
        let gone = self.remove_where(|_| true);
        for c in gone {
            self.retire(c);
        }
    }
}
