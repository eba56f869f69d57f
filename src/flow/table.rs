//! The flow table: segments in, finished connections out.
//!
//! [`FlowTable`] keeps the connections (a fast-hashed map of
//! [`Connection`]s), routes each decoded segment to its connection, hands
//! a connection to [`Finished`] as soon as its handshake facts are complete
//! (then only counts its packets), and bounds memory: connections idle
//! longer than the idle timeout are closed, and when the table is full the
//! longest-idle connections are evicted. Every eviction is counted in
//! [`Stats`]. It does not build rows: that is the [`Finished`] side's job.

use std::net::IpAddr;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::budget::{self, Budget, CONN_COST, Share};
use super::closed::{CUT_LAG_US, RecentlyClosed, Verdict};
use super::conn::{Connection, Pool, Side};
use super::defrag::{Datagram, Defrag, DefragLimits};
use super::done_filter::DoneFilter;
use super::key::FlowKey;
use super::names::{NameLog, may_name, tcp_names, udp_wanted};
use super::segment::{bare_ack, may_open, pure_syn};
use crate::model::stats::Stats;
use crate::wire::decode::{self, LinkType, Segment, Skip, flags};
use crate::wire::names::frame::transport_if;

/// Where connections go once their facts are final.
pub trait Finished {
    /// A connection leaves analysis (its facts complete, or it closed, was
    /// evicted or the input ended). Returns true when a row was reported
    /// for it now (counted in [`Stats::rows`]).
    fn finished(&mut self, key: &FlowKey, conn: &Connection) -> bool;

    /// Reporting failed (an output cannot be written): analysis should stop.
    fn failed(&self) -> bool {
        false
    }

    /// An interim report of everything so far (long live captures).
    fn interim(&mut self, _stats: &Stats) {}

    /// Chunk mode: a connection handed over to the next chunk with nothing
    /// to report yet (see [`FlowTable::release_stalled`]), flushed. Its row,
    /// if any, is due only if no later chunk reports the connection.
    fn deferred(&mut self, _key: &FlowKey, _conn: &Connection) {}

    /// A connection whose analysis ended earlier (see [`Connection::done`])
    /// leaves the table, its packets all counted.
    fn left(&mut self, _key: &FlowKey, _conn: &Connection) {}

    /// A live capture's pause about once a second: a chance to take up
    /// changed settings (newer endpoint data).
    fn tick(&mut self) {}

    /// A UDP datagram from port 53 (a DNS answer, mostly) received by
    /// `client` at `ts`: the server names of connections without SNI.
    fn dns_answer(&mut self, _ts: i64, _client: IpAddr, _msg: &[u8]) {}
}

/// IP protocols whose fragments are reassembled: TCP, and what may carry
/// a tunnel (UDP, GRE, IP in IP, IPv6 extension headers).
fn may_carry_tcp(proto: u8) -> bool {
    matches!(proto, 0 | 4 | 6 | 17 | 41 | 43 | 47 | 51 | 60)
}

/// Limits of the flow table.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most connections tracked at once.
    pub max_flows: usize,
    /// A connection with no packet for this long (capture time, µs) is closed.
    pub idle_timeout_us: i64,
    /// The memory budget of the run (bytes, see [`crate::flow::budget`]).
    pub memcap: usize,
    /// Names are learned: DNS answers go to [`Finished::dns_answer`] and
    /// [`FlowTable::with_names`] keeps name traffic (`--no-names` clears it).
    pub names: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_flows: 200_000,
            idle_timeout_us: 300 * 1_000_000,
            memcap: budget::DEFAULT_MEMCAP,
            names: true,
        }
    }
}

/// A connection tracked at the end of a chunk.
#[derive(Debug, Clone, Copy)]
pub struct Owned {
    /// The sequence number of its SYN, if seen.
    pub isn: Option<u32>,
    /// Its first packet (µs).
    pub first_ts: i64,
    /// Its latest packet (µs).
    pub last_ts: i64,
    /// Packets counted so far.
    pub packets: u64,
}

/// A tracked connection as the table holds it. Once a connection's
/// analysis is over ([`Connection::done`]) its later packets are only
/// counted: what they change is kept here, beside the key, so that such a
/// packet (most packets: bulk data after the handshake) does not reach the
/// boxed connection, a cache miss on a busy link. [`Entry::conn`] and
/// [`Entry::into_conn`] bring the box up to date.
struct Entry {
    conn: Box<Connection>,
    /// Latest packet (µs); the box's `last_ts` lags behind while done.
    last_ts: i64,
    /// Packets counted while done, not yet in the box.
    more: u32,
    /// The box's `done`.
    done: bool,
    /// While done: FIN from side 0 ([`FIN0`]), from side 1, RST.
    closing: u8,
}

const FIN0: u8 = 1;
const FIN1: u8 = 2;
const RST: u8 = 4;

/// A connection's FIN and RST bits as [`Entry::closing`] keeps them.
#[inline]
fn closing_bits(fin: [bool; 2], rst: bool) -> u8 {
    (u8::from(fin[0]) * FIN0) | (u8::from(fin[1]) * FIN1) | (u8::from(rst) * RST)
}

impl Entry {
    fn new(conn: Box<Connection>) -> Self {
        Entry {
            last_ts: conn.last_ts,
            more: 0,
            done: conn.done,
            closing: closing_bits(conn.fin, conn.rst),
            conn,
        }
    }

    /// Packets seen so far.
    fn packets(&self) -> u64 {
        self.conn.packets + u64::from(self.more)
    }

    /// The connection, brought up to date.
    #[inline]
    fn conn(&mut self) -> &mut Connection {
        if self.done {
            self.sync();
        }
        &mut self.conn
    }

    fn sync(&mut self) {
        let c = &mut self.conn;
        c.packets += u64::from(std::mem::take(&mut self.more));
        c.last_ts = self.last_ts;
        c.fin = [self.closing & FIN0 != 0, self.closing & FIN1 != 0];
        c.rst = self.closing & RST != 0;
    }

    /// The connection just became done: its later packets count here.
    fn mark_done(&mut self) {
        self.done = true;
        self.last_ts = self.conn.last_ts;
        self.closing = closing_bits(self.conn.fin, self.conn.rst);
    }

    /// The connection, brought up to date, out of the table.
    fn into_conn(mut self) -> Box<Connection> {
        if self.done {
            self.sync();
        }
        self.conn
    }

    /// A packet of a done connection, from `side` with TCP `flags`: true
    /// when the connection is now closed (RST, or FIN both ways).
    #[inline]
    fn count(&mut self, side: Side, tcp_flags: u8, ts: i64) -> bool {
        if self.more == u32::MAX {
            self.sync();
        }
        self.more += 1;
        self.last_ts = ts;
        if tcp_flags & flags::FIN != 0 {
            self.closing |= if side == 0 { FIN0 } else { FIN1 };
        }
        if tcp_flags & flags::RST != 0 {
            self.closing |= RST;
        }
        self.closing & RST != 0 || self.closing & (FIN0 | FIN1) == FIN0 | FIN1
    }
}

/// Follows the connections of a stream of frames (one or several captures
/// in a row).
pub struct FlowTable<'o> {
    /// Connections boxed, so that the table itself stays small: with
    /// the tombstones evictions leave it may grow to twice `max_flows`.
    table: FxHashMap<FlowKey, Entry>,
    limits: Limits,
    out: &'o mut dyn Finished,
    /// Counters so far.
    pub stats: Stats,
    now: i64,
    /// The next sweep is due at this capture time.
    next_sweep: i64,
    filter: Option<Arc<DoneFilter>>,
    pool: Pool,
    /// A leap forward in time seen on one frame, not yet believed.
    leap: Option<i64>,
    /// Frames given to [`FlowTable::frame`] so far: the index of the next
    /// one in the reader thread's order of frames passed on.
    frames: u64,
    /// Index of the current frame.
    frame_index: u64,
    /// Overrun mode: only connections already tracked are followed.
    overrun: bool,
    /// [`Finished::failed`] after the latest report.
    failed: bool,
    /// IP datagrams being reassembled.
    defrag: Defrag,
    /// Connections closed lately: their copies open no new connection.
    closed: RecentlyClosed,
    /// [`Connection::near_cut`] before this capture time.
    near_cut_until: i64,
    /// Overrun mode: connections left to the next chunk at a SYN seen again.
    reopened: Vec<FlowKey>,
    /// The table's share of the run's memory budget (shared by the tables
    /// of a chunked run).
    budget: Share,
    /// Bytes this table has charged to the budget.
    charged: usize,
    /// A charge made the budget exceeded: shed (see [`FlowTable::relieve`]).
    pressure: bool,
    /// Shedding found too little to free: not tried again until this
    /// table's charge exceeds this.
    relief_after: usize,
    /// Name traffic kept for the host identity, when asked for.
    names: Option<Box<NameLog>>,
    /// Names are learned at all ([`Limits::names`]).
    learn_names: bool,
}

/// Brings `conn`'s charge to the budget up to date; true when the budget
/// is now exceeded.
#[inline]
fn recharge(budget: &mut Share, total: &mut usize, conn: &mut Connection) -> bool {
    let cost = CONN_COST + budget::steps(conn.memory());
    if cost == conn.charged {
        return false;
    }
    *total = *total + cost - conn.charged;
    let over = budget.recharge(conn.charged, cost);
    conn.charged = cost;
    over
}

impl<'o> FlowTable<'o> {
    /// A new table handing finished connections to `out`.
    pub fn new(limits: Limits, out: &'o mut dyn Finished) -> Self {
        FlowTable {
            table: FxHashMap::default(),
            limits,
            out,
            stats: Stats::default(),
            now: i64::MIN,
            next_sweep: i64::MIN,
            filter: None,
            pool: Pool::default(),
            leap: None,
            frames: 0,
            frame_index: 0,
            overrun: false,
            failed: false,
            defrag: Defrag::new(DefragLimits::default()),
            closed: RecentlyClosed::default(),
            near_cut_until: i64::MIN,
            reopened: Vec::new(),
            budget: Share::new(Arc::new(Budget::new(limits.memcap))),
            charged: 0,
            pressure: false,
            relief_after: 0,
            names: None,
            learn_names: limits.names,
        }
    }

    /// Keeps the frames that name hosts (see [`NameLog`]), unless the
    /// limits say names are not learned.
    pub fn with_names(mut self) -> Self {
        if self.learn_names {
            self.names = Some(Box::default());
        }
        self
    }

    /// The name traffic kept so far (empty without [`Self::with_names`]).
    pub fn take_names(&mut self) -> NameLog {
        self.names
            .as_mut()
            .map(|n| std::mem::take(&mut **n))
            .unwrap_or_default()
    }

    /// The name traffic kept since the last call (see [`NameLog::drain`]);
    /// `None` when there is none (a live capture learns as frames come).
    #[inline]
    pub fn drain_names(&mut self) -> Option<NameLog> {
        let n = self.names.as_mut()?;
        (!n.is_empty() || n.dropped > 0).then(|| n.drain())
    }

    /// Bytes of the name log kept so far ([`NameLog::bytes`]).
    #[inline]
    pub fn names_bytes(&self) -> usize {
        self.names.as_ref().map_or(0, |n| n.bytes())
    }

    /// Charges buffered memory to `budget` (shared with other tables of
    /// the run) rather than to a budget of the table's own.
    pub fn with_budget(mut self, budget: Arc<Budget>) -> Self {
        self.budget = Share::new(budget);
        self
    }

    /// Shares done connections with a reader thread through `filter`;
    /// every frame the reader passes on must then reach
    /// [`FlowTable::frame`], in order.
    pub fn with_filter(mut self, filter: Arc<DoneFilter>) -> Self {
        self.filter = Some(filter);
        self
    }

    /// Ends the chunk: from here on only connections still being followed
    /// are (frames through [`FlowTable::overrun_frame`]). Returns every
    /// connection tracked now, with its latest packet time: the next
    /// chunk's mid-stream connections with these keys are theirs.
    pub fn begin_overrun(&mut self) -> FxHashMap<FlowKey, Owned> {
        let owned = self
            .table
            .iter()
            .map(|(k, e)| {
                let o = Owned {
                    isn: e.conn.syn_isn,
                    first_ts: e.conn.first_ts,
                    last_ts: e.last_ts,
                    packets: e.packets(),
                };
                (*k, o)
            })
            .collect();
        let done: Vec<FlowKey> = self
            .table
            .iter()
            .filter(|(_, e)| e.done)
            .map(|(k, _)| *k)
            .collect();
        for k in &done {
            self.forget(k);
        }
        self.overrun = true;
        owned
    }

    /// Overrun mode: stops following connections with nothing to report
    /// yet and no packet since `quiet`, and the others with no packet since
    /// `stalled` (capture times). The former are handed to the next chunk,
    /// which reports them if a hello comes later (their keys are returned);
    /// what they hold is flushed and handed to [`Finished::deferred`] (a
    /// hello cut by the end of the input: the row due if no later chunk
    /// sees the connection again). The others are reported now, as they
    /// stand, as at their close.
    pub fn release_stalled(&mut self, quiet: i64, stalled: i64) -> Vec<FlowKey> {
        let gone =
            self.remove_where(|e| e.last_ts < stalled || e.last_ts < quiet && e.conn.nothing_yet());
        let mut handed = Vec::new();
        for (k, mut c) in gone {
            if c.nothing_yet() {
                if !c.done {
                    c.flush();
                    self.out.deferred(&k, &c);
                }
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
                if self.pressure {
                    self.relieve();
                }
            }
            Err(Skip::Fragment) => {
                let _ = self.fragment(link, ts, frame);
            }
            _ => {}
        }
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

    /// Capture time moves to `ts` (a frame's time).
    #[inline]
    fn advance(&mut self, ts: i64) {
        // The common case: a little later, no sweep due.
        if ts > self.now
            && self.now != i64::MIN
            && ts - self.now <= self.limits.idle_timeout_us
            && ts < self.next_sweep
        {
            self.leap = None;
            self.now = ts;
            return;
        }
        self.advance_slow(ts);
    }

    #[inline(never)]
    fn advance_slow(&mut self, ts: i64) {
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
            if self.now == i64::MIN {
                self.near_cut_until = ts.saturating_add(CUT_LAG_US);
            }
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

    /// Reporting failed: analysis should stop.
    #[inline]
    pub fn failed(&self) -> bool {
        self.failed
    }

    /// A live capture's pause (see [`Finished::tick`]).
    pub fn tick(&mut self) {
        self.out.tick();
    }

    /// Asks for an interim report of everything so far.
    pub fn interim_report(&mut self) {
        self.out.interim(&self.stats);
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
        self.table.values().map(|e| e.conn.buffered()).sum()
    }

    /// Processes one captured frame of `link` type taken at `ts` (µs since
    /// the epoch); `wire_len` is its length on the wire. Returns true when
    /// the frame belongs to a connection whose handshake was still being
    /// followed (the frames worth saving to re-analyse it later).
    #[inline]
    pub fn frame(&mut self, link: LinkType, ts: i64, frame: &[u8], wire_len: u32) -> bool {
        self.frame_index = self.frames;
        self.frames += 1;
        self.stats.packets += 1;
        self.stats.bytes += u64::from(wire_len);
        self.advance(ts);
        let seg = match decode::decode(link, frame) {
            Ok(s) => s,
            Err(Skip::NotTcp) => {
                self.stats.not_tcp += 1;
                self.not_tcp(link, ts, frame);
                return false;
            }
            Err(Skip::Udp { sport, dport }) => {
                self.stats.not_tcp += 1;
                // Most datagrams (QUIC) are on no name port.
                if udp_wanted(true, sport, dport) {
                    self.not_tcp(link, ts, frame);
                }
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
            // these too), no name.
            return false;
        }
        // Name traffic: the rest out of line, after the segment (what is
        // kept of its direction is asked for first, see `NameLog::prefetch`).
        let named = match &self.names {
            Some(n) if may_name(seg.flags & flags::SYN != 0, seg.sport, seg.dport) => {
                n.prefetch(&seg);
                true
            }
            _ => false,
        };
        let following = self.segment(&seg, ts);
        if named {
            self.names_segment(link, ts, frame, &seg);
        }
        if self.pressure {
            self.relieve();
        }
        following
    }

    /// A TCP segment that may be name traffic (see [`Self::frame`]): to
    /// the log when it is.
    #[inline(never)]
    fn names_segment(&mut self, link: LinkType, ts: i64, frame: &[u8], seg: &Segment<'_>) {
        if let Some(n) = self.names.as_mut() {
            if tcp_names(seg.sport, seg.dport) {
                n.tcp(link, ts, frame, seg);
            } else if pure_syn(seg) {
                n.syn(link, ts, frame, seg.src);
            }
        }
    }

    /// A frame that is not TCP: DNS answers to the consumer, name traffic
    /// to the log.
    fn not_tcp(&mut self, link: LinkType, ts: i64, frame: &[u8]) {
        if !self.learn_names {
            return;
        }
        // UDP only, and only the ports that may name (read first: most
        // datagrams are QUIC, and cost little).
        let Some(t) = transport_if(link, frame, udp_wanted) else {
            return;
        };
        if t.sport == 53 {
            self.out.dns_answer(ts, t.dst, t.payload);
        }
        if let Some(n) = self.names.as_mut() {
            n.udp(link, ts, frame, &t);
        }
    }

    /// An IP fragment: on to the reassembly; a datagram it completes is
    /// decoded and analysed as a frame would be. True while the datagram
    /// may carry TCP (its frames are worth saving) or when it completes a
    /// followed connection's segment.
    #[inline(never)]
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
            Err(Skip::NotTcp | Skip::Udp { .. }) => {
                self.stats.not_tcp += 1;
                // A DNS answer too long for one packet.
                if d.proto == 17
                    && d.data.get(..2) == Some(&[0, 53])
                    && let Some(msg) = d.data.get(8..)
                {
                    self.out.dns_answer(ts, d.dst, msg);
                }
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
        let pure_syn = pure_syn(seg);
        // A SYN may open a connection (the closed table is checked first),
        // a FIN or RST may close one (and is put in it).
        if pure_syn || seg.flags & (flags::FIN | flags::RST) != 0 {
            self.closed.prefetch(&key);
        }
        if pure_syn && self.syn_again(&key, seg.seq) {
            return false;
        }
        let e = match self.table.get_mut(&key) {
            Some(e) => e,
            None => {
                // In overrun mode only connections already tracked are.
                if self.overrun || !may_open(seg) {
                    return false;
                }
                if self.closed.check(&key, pure_syn.then_some(seg.seq), ts) == Verdict::Copy {
                    self.stats.after_close += 1;
                    return false;
                }
                if self.table.len() >= self.limits.max_flows {
                    self.evict_for_room();
                }
                self.stats.connections += 1;
                let mut c = Box::new(Connection::new(key.endpoints(), ts));
                c.midstream = !pure_syn;
                c.near_cut = pure_syn && ts < self.near_cut_until;
                // (Charged with its first segment below.)
                self.table.entry(key).or_insert(Entry::new(c))
            }
        };
        if e.done {
            // Only counted: the boxed connection is not touched.
            let closed = e.count(side, seg.flags, ts);
            if closed {
                self.closed.insert(&key, e.conn.syn_isn, ts);
            }
            if closed || self.overrun {
                self.forget(&key);
            }
            return false;
        }
        let conn = &mut *e.conn;
        conn.segment(side, seg, ts, &mut self.pool);
        e.last_ts = ts;
        if recharge(&mut self.budget, &mut self.charged, conn) {
            self.pressure = true;
        }
        let closed = conn.rst || (conn.fin[0] && conn.fin[1]);
        if conn.facts.complete() || conn.exhausted() || closed {
            if closed || !conn.facts.complete() {
                conn.flush();
            }
            conn.release(&mut self.pool);
            recharge(&mut self.budget, &mut self.charged, conn);
            if closed {
                self.closed.insert(&key, conn.syn_isn, ts);
            }
            e.mark_done();
            if closed || self.overrun {
                if let Some(c) = self.forget(&key) {
                    self.report(&key, &c);
                }
            } else {
                if let Some(f) = &self.filter {
                    f.insert(key.tag(), self.frame_index);
                }
                if self.out.finished(&key, &e.conn) {
                    self.stats.rows += 1;
                }
                self.failed = self.out.failed();
                // Only a connection first seen mid-stream is looked at
                // again when it leaves (see `Finished::left`).
                if !e.conn.midstream {
                    e.conn.facts.shed();
                }
            }
        }
        true
    }

    /// A SYN without ACK on the ports of a tracked connection: the same
    /// SYN again (resent, or a copy), or a new connection on the same
    /// ports (the old one is retired; true in overrun mode). In overrun
    /// mode, the same SYN before any hello means the connection had not
    /// started: the next chunk, which sees this SYN, reports it (true; the
    /// key is in [`FlowTable::take_reopened`]); after a hello, this chunk
    /// goes on following it, as one reader would.
    #[inline(never)]
    fn syn_again(&mut self, key: &FlowKey, seq: u32) -> bool {
        let Some(e) = self.table.get(key) else {
            return false;
        };
        if e.conn.syn_isn == Some(seq) {
            if self.overrun && e.conn.nothing_yet() {
                self.forget(key);
                self.reopened.push(*key);
                return true;
            }
            return false;
        }
        // The ports are reused by a new connection (not a SYN resent).
        if let Some(old) = self.forget(key) {
            self.retire(*key, old);
        }
        self.overrun
    }

    /// Hands a connection's facts to [`Finished`].
    fn report(&mut self, key: &FlowKey, conn: &Connection) {
        if self.out.finished(key, conn) {
            self.stats.rows += 1;
        }
        self.failed = self.out.failed();
    }

    /// Removes a connection from the table (and from the done filter).
    fn forget(&mut self, key: &FlowKey) -> Option<Box<Connection>> {
        if let Some(f) = &self.filter {
            f.remove(key.tag());
        }
        let c = self.table.remove(key)?.into_conn();
        self.budget.recharge(c.charged, 0);
        self.charged -= c.charged;
        if c.done {
            self.out.left(key, &c);
        }
        Some(c)
    }

    /// Ends a connection that leaves the table: reports it if unreported.
    fn retire(&mut self, key: FlowKey, mut conn: Box<Connection>) {
        if conn.done {
            return;
        }
        conn.flush();
        self.report(&key, &conn);
    }

    // Boxes as the table holds them: moving them out costs no copy.
    fn remove_where(&mut self, pred: impl Fn(&Entry) -> bool) -> Vec<(FlowKey, Box<Connection>)> {
        let keys: Vec<FlowKey> = self
            .table
            .iter()
            .filter(|(_, e)| pred(e))
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
            for (k, e) in self.table.iter_mut().filter(|(_, e)| e.done) {
                if let Some(t) = f.last_seen(k.tag()) {
                    e.last_ts = e.last_ts.max(t);
                }
            }
        }
        let limit = self.now.saturating_sub(self.limits.idle_timeout_us);
        let gone = self.remove_where(|e| e.last_ts < limit);
        self.stats.evicted_idle += gone.len() as u64;
        for (k, c) in gone {
            self.retire(k, c);
        }
    }

    /// The table is full: evict the longest-idle tenth.
    fn evict_for_room(&mut self) {
        let n = self.evict_idle_tenth();
        self.stats.evicted_full += n;
    }

    /// Evicts the longest-idle tenth of the table; returns how many.
    fn evict_idle_tenth(&mut self) -> u64 {
        let mut idle: Vec<i64> = self.table.values().map(|e| e.last_ts).collect();
        let n = (idle.len() / 10).max(1);
        let (_, cut, _) = idle.select_nth_unstable(n - 1);
        let cut = *cut;
        let gone = self.remove_where(|e| e.last_ts <= cut);
        let n = gone.len() as u64;
        for (k, c) in gone {
            self.retire(k, c);
        }
        n
    }

    /// The memory budget is exceeded: sheds this table's connections that
    /// hold the most buffered bytes for the longest (buffered bytes times
    /// the time since their first packet) until the run is back under 7/8
    /// of the budget. Each is reported as it stands (marked truncated: the
    /// rest of its handshake is not followed) and its later packets only
    /// counted; completed facts hold no buffers and are never shed. If
    /// that is not enough and the table's own memory is a quarter of the
    /// budget or more, the longest-idle tenth of the table is evicted.
    fn relieve(&mut self) {
        self.pressure = false;
        let excess = self.budget.budget().above(87);
        if excess == 0 || self.charged < self.relief_after {
            return;
        }
        let now = self.now;
        let mut heavy: Vec<(u128, FlowKey)> = self
            .table
            .iter()
            .filter(|(_, e)| !e.done && e.conn.charged > CONN_COST)
            .map(|(k, e)| {
                let c = &e.conn;
                let held = (c.charged - CONN_COST) as u128;
                let age = now.saturating_sub(c.first_ts).max(1) as u128;
                (held * age, *k)
            })
            .collect();
        heavy.sort_unstable_by_key(|h| std::cmp::Reverse(h.0));
        let mut freed = 0;
        for (_, key) in heavy {
            if freed >= excess {
                break;
            }
            let Some(e) = self.table.get_mut(&key) else {
                continue;
            };
            let conn = e.conn();
            let before = conn.charged;
            self.stats.shed_memcap += 1;
            self.stats.shed_bytes += conn.memory() as u64;
            conn.flush();
            conn.facts.gap_in_handshake = true;
            conn.release(&mut self.pool);
            recharge(&mut self.budget, &mut self.charged, conn);
            freed += before.saturating_sub(conn.charged);
            e.mark_done();
            if self.overrun {
                if let Some(c) = self.forget(&key) {
                    self.report(&key, &c);
                }
            } else {
                if let Some(e) = self.table.get(&key)
                    && self.out.finished(&key, &e.conn)
                {
                    self.stats.rows += 1;
                }
                self.failed = self.out.failed();
            }
        }
        // The table's own memory is a large part of the budget: evict.
        if freed < excess
            && self.table.len().saturating_mul(CONN_COST) >= self.budget.budget().cap() / 4
        {
            let before = self.charged;
            let n = self.evict_idle_tenth();
            self.stats.evicted_memcap += n;
            freed += before.saturating_sub(self.charged);
        }
        if freed < excess {
            // Too little here (other threads hold the rest): try again
            // once this table holds more.
            self.relief_after = self.charged + self.budget.budget().cap() / 16;
        } else {
            self.relief_after = 0;
        }
    }

    /// The connections closed lately (for the join of a chunked run).
    pub fn take_closed(&mut self) -> RecentlyClosed {
        std::mem::take(&mut self.closed)
    }

    /// Overrun mode: the connections left to the next chunk at their SYN
    /// seen again (see `syn_again`).
    pub fn take_reopened(&mut self) -> Vec<FlowKey> {
        std::mem::take(&mut self.reopened)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Owned, frames};

    /// What the table handed on: the client's SNI, the negotiated version
    /// and the packets counted, per connection.
    #[derive(Default)]
    struct Seen(Vec<(Option<String>, Option<u16>, u64)>);

    impl Finished for Seen {
        fn finished(&mut self, _key: &FlowKey, c: &Connection) -> bool {
            let f = &c.facts;
            let sni = f.client_hello.as_ref().and_then(|h| h.sni.clone());
            let v = f.server_hello.as_ref().map(|h| h.version());
            self.0.push((sni, v, c.packets));
            true
        }
    }

    fn feed(t: &mut FlowTable<'_>, frames: &[Owned]) -> Vec<bool> {
        frames
            .iter()
            .map(|f| t.frame(f.link, f.ts_us, &f.data, f.wire_len))
            .collect()
    }

    #[test]
    fn a_handshake_is_handed_on_once_then_only_counted() {
        let fr = frames("openssl-tls12.pcap");
        let mut seen = Seen::default();
        let mut t = FlowTable::new(Limits::default(), &mut seen);
        let following = feed(&mut t, &fr);
        // The SYN and the hellos are followed; once the facts are complete
        // the rest (encrypted data, FIN) is only counted.
        assert!(following[0]);
        assert!(!following[fr.len() - 1]);
        assert_eq!(t.stats.packets, fr.len() as u64);
        assert_eq!(t.stats.connections, 1);
        assert_eq!(t.stats.rows, 1);
        t.finish();
        assert_eq!(t.tracked(), 0);
        assert_eq!(t.stats.rows, 1);
        drop(t);
        assert_eq!(seen.0.len(), 1);
        let (sni, v, packets) = &seen.0[0];
        assert_eq!(sni.as_deref(), Some("tls12.example.test"));
        assert_eq!(*v, Some(0x0303));
        // Segments with payload, SYN, FIN or RST up to the row (bare ACKs
        // are not analysed): the CSV's `packets` column says 4.
        assert_eq!(*packets, 4);
    }

    /// `openssl-tls12.pcap` again `later` µs after itself (its client's
    /// sequence numbers moved by `isn_shift`), fed after the original:
    /// the rows handed on, and the segments counted as copies.
    fn seen_twice(later: i64, isn_shift: u32) -> (usize, u64) {
        let fr = frames("openssl-tls12.pcap");
        let mut again = fr.clone();
        for f in &mut again {
            f.ts_us += later;
            // Ethernet, IPv4 without options: TCP at 34; the client is
            // port 52968 (0xcee8), its sequence number at 38, the server's
            // acknowledgement at 42.
            let at = if f.data[34..36] == [0xce, 0xe8] {
                38
            } else {
                42
            };
            if at == 42 && f.data[47] & flags::ACK == 0 {
                continue;
            }
            let n = u32::from_be_bytes(f.data[at..at + 4].try_into().unwrap());
            f.data[at..at + 4].copy_from_slice(&n.wrapping_add(isn_shift).to_be_bytes());
        }
        let mut seen = Seen::default();
        let mut t = FlowTable::new(Limits::default(), &mut seen);
        feed(&mut t, &fr);
        feed(&mut t, &again);
        t.finish();
        let copies = t.stats.after_close;
        drop(t);
        (seen.0.len(), copies)
    }

    /// The same packets after their connection closed (a second capture
    /// point): one connection within TIME-WAIT; a new one after it, or
    /// when its SYN has another sequence number (the ports reused).
    #[test]
    fn copies_after_the_close_are_one_connection() {
        let (rows, copies) = seen_twice(10_000, 0);
        assert_eq!(rows, 1);
        // Every segment the table analyses (payload, SYN, FIN or RST).
        assert!(copies >= 8, "{copies}");
        assert_eq!(seen_twice(61_000_000, 0), (2, 0));
        assert_eq!(seen_twice(10_000, 1_000_000), (2, 0));
    }

    #[test]
    fn every_connection_of_a_capture_is_handed_on() {
        let fr = frames("clients-mixed.pcap");
        let mut seen = Seen::default();
        let mut t = FlowTable::new(Limits::default(), &mut seen);
        feed(&mut t, &fr);
        t.finish();
        assert_eq!(t.stats.connections, 10);
        assert_eq!(t.stats.rows, 10);
        assert_eq!(t.stats.evicted_full + t.stats.evicted_idle, 0);
        drop(t);
        let versions: Vec<Option<u16>> = seen.0.iter().map(|s| s.1).collect();
        assert_eq!(versions.iter().filter(|v| **v == Some(0x0301)).count(), 4);
        assert_eq!(versions.iter().filter(|v| **v == Some(0x0304)).count(), 2);
    }

    #[test]
    fn a_full_table_evicts_and_stays_bounded() {
        // Interleave the frames of ten connections so that all are open
        // at once, with room for two.
        let mut fr = frames("clients-mixed.pcap");
        fr.sort_by_key(|f| f.ts_us);
        let mut seen = Seen::default();
        let limits = Limits {
            max_flows: 2,
            ..Limits::default()
        };
        let mut t = FlowTable::new(limits, &mut seen);
        for f in &fr {
            t.frame(f.link, f.ts_us, &f.data, f.wire_len);
            assert!(t.tracked() <= 2);
        }
        t.finish();
        assert_eq!(t.stats.connections, 10);
        assert_eq!(t.tracked(), 0);
    }

    #[test]
    fn an_idle_connection_is_swept_as_it_stands() {
        // The SYN and ClientHello of one connection, then another capture's
        // frames five minutes and more later: the first is closed for being
        // idle and reported without its ServerHello.
        let first = frames("openssl-tls12.pcap");
        let hello_at = first
            .iter()
            .position(|f| f.data.len() > 200)
            .expect("a ClientHello frame");
        let mut later = frames("openssl-tls10.pcap");
        let t0 = first[hello_at].ts_us;
        for (i, f) in later.iter_mut().enumerate() {
            f.ts_us = t0 + 400_000_000 + i as i64;
        }
        let mut seen = Seen::default();
        let mut t = FlowTable::new(Limits::default(), &mut seen);
        feed(&mut t, &first[..=hello_at]);
        assert_eq!(t.tracked(), 1);
        feed(&mut t, &later);
        assert_eq!(t.stats.evicted_idle, 1);
        t.finish();
        drop(t);
        assert_eq!(seen.0.len(), 2);
        // SYN, SYN-ACK and ClientHello (the bare ACK is not counted).
        assert_eq!(seen.0[0], (Some("tls12.example.test".to_string()), None, 3));
        assert_eq!(seen.0[1].0.as_deref(), Some("tls10.example.test"));
    }

    #[test]
    fn one_garbage_timestamp_is_not_believed() {
        let fr = frames("openssl-tls12.pcap");
        let mut seen = Seen::default();
        let mut t = FlowTable::new(Limits::default(), &mut seen);
        feed(&mut t, &fr[..2]);
        let now = t.now();
        // A lone frame a day ahead: time does not move.
        let mut odd = fr[2].clone();
        odd.ts_us += 86_400_000_000;
        feed(&mut t, std::slice::from_ref(&odd));
        assert_eq!(t.now(), now);
        assert_eq!(t.stats.evicted_idle, 0);
    }
}
