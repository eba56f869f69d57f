//! Large captures on several threads.
//!
//! Each pcap or pcapng file is cut into chunks ([`crate::input::layout`]);
//! worker threads analyse chunks at once, each with a flow table of its
//! own, and the results are joined here in capture order: rows appended
//! from each chunk's spool, counters and tallies added (chunks that start a
//! file count straight into the run's tally, which does not depend on the
//! order rows come in).
//!
//! A connection belongs to the chunk where it was first seen. At the end
//! of its chunk a worker keeps reading (the *overrun*), but only for
//! connections whose handshake it is still following, until none is left
//! (usually a few frames). Later chunks' workers meet those same
//! connections mid-stream: rows of connections they first saw mid-stream
//! are held back, and when joining dropped if an earlier chunk still
//! tracked the connection at its end (and had seen it within the idle
//! timeout), written otherwise. A connection still quiet when the overrun
//! gives up on it is handed over (see [`QUIET_US`], [`STALL_US`]). Idle
//! sweeps fall at the same capture times in every chunk. So the rows are
//! those one reader would write; only their order differs near chunk
//! boundaries.
//!
//! Threads wait for each other on a condition variable (`Gate`): a
//! worker for its turn (at most a few chunks ahead of the join) and for the
//! chunks before it to reach their ends.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use rustc_hash::{FxHashMap, FxHashSet};

use super::analysis::Analysis;
use super::driver::{Consumer, Driver, ReadControl, Stop};
use super::progress::{NoProgress, Progress};
use super::rows::{Continued, Held, Rows};
use crate::enrich::identity::server_names::ServerNames;
use crate::enrich::m365::Endpoints;
use crate::enrich::row;
use crate::flow::budget::Budget;
use crate::flow::key::FlowKey;
use crate::flow::names::NameLog;
use crate::flow::table::{FlowTable, Limits, Owned};
use crate::input::filter::FrameFilter;
use crate::input::frame::{Event, Frame, FrameSource};
use crate::input::layout::{self, Layout};
use crate::input::offline::{self, ChunkSource, Opened};
use crate::input::source::{Input, Problem, SourceError};
use crate::model::row::ConnRecord;
use crate::model::sink::Sink;
use crate::model::stats::Stats;
use crate::output::summary::Summary;
use crate::output::{Ahead, Outputs, SpoolSpec};

/// The overrun stops following a connection with nothing to report yet
/// (no hello, no mail dialogue) and no packet for this long (capture time,
/// µs): the next chunk reports it if a hello comes later.
pub const QUIET_US: i64 = 3_000_000;
/// The overrun stops following any connection with no packet for this
/// long (capture time, µs; longer than TCP's first retransmission
/// timeouts): it is reported as it stands (as at its close).
pub const STALL_US: i64 = 10_000_000;
/// The overrun ends this long (capture time, µs) after the chunk's end at
/// the latest; connections still followed are then released as stalled.
pub const MAX_OVERRUN_US: i64 = 30_000_000;

/// The DNS answers of this many chunks (the latest joined) name the rows
/// the join writes: rows a chunk could not name from its own client's
/// answer look back this far.
pub const RECENT_ANSWERS: usize = 4;

/// While the chunk joined next is analysed, its rows written so far are
/// appended this often (the run's end then copies only its last rows).
const AHEAD_EVERY: std::time::Duration = std::time::Duration::from_millis(2);

/// Bytes below which a file is not cut (it may still be read beside
/// other files).
pub const MIN_CHUNK: u64 = 32 << 20;

/// A part of a pcap or pcapng file, read by one worker.
#[derive(Debug, Clone)]
pub struct Chunk {
    /// The file.
    pub path: PathBuf,
    /// How its records are laid out.
    pub layout: Arc<Layout>,
    /// Offset of the chunk's first record.
    pub start: u64,
    /// Offset of the next chunk's first record (the file's length for the
    /// last chunk of a file).
    pub end: u64,
}

impl Chunk {
    fn first_of_file(&self) -> bool {
        self.start == self.layout.first_record()
    }

    fn open(&self) -> Result<ChunkSource, SourceError> {
        ChunkSource::open(&self.path, self.start, self.end)
    }
}

/// Cuts `inputs` into chunks for `threads` workers: each file into up to
/// `threads` chunks of at least `min_chunk` bytes. `None` unless every
/// input is a pcap or pcapng file (gzip and streams are read by one
/// reader).
pub fn plan(inputs: &[Input], threads: usize, min_chunk: u64) -> Option<Vec<Chunk>> {
    let mut chunks = Vec::new();
    for input in inputs {
        let Input::File(path) = input else {
            return None;
        };
        let len = std::fs::metadata(path).ok()?.len();
        let want = (len / min_chunk.max(1)).clamp(1, threads.max(1) as u64) as usize;
        let Ok(Some((layout, starts))) = layout::plan(path, want, QUIET_US) else {
            return None;
        };
        let ends = starts.iter().skip(1).copied().chain([len]);
        for (start, end) in starts.iter().copied().zip(ends) {
            chunks.push(Chunk {
                path: path.clone(),
                layout: Arc::clone(&layout),
                start,
                end,
            });
        }
    }
    (!chunks.is_empty()).then_some(chunks)
}

/// What the workers share.
pub struct Settings {
    /// Microsoft 365 endpoints.
    pub endpoints: Arc<Endpoints>,
    /// Flow-table limits of the run; `max_flows` is shared out among the
    /// workers (see [`Settings::worker_limits`]).
    pub limits: Limits,
    /// Worker threads.
    pub threads: usize,
    /// Signals and the read filter.
    pub control: ReadControl,
}

impl Settings {
    /// A worker's limits: an equal share of `max_flows`, so that the run
    /// as a whole tracks at most `max_flows` connections.
    pub fn worker_limits(&self) -> Limits {
        Limits {
            max_flows: (self.limits.max_flows / self.threads.max(1)).max(1),
            ..self.limits
        }
    }
}

/// One chunk analysed.
struct Done {
    index: usize,
    outputs: Option<Outputs>,
    held: Vec<Held>,
    /// Rows of the connections handed off, due unless a later chunk
    /// reports them.
    deferred: Vec<Held>,
    /// Connections first seen mid-stream with nothing to report.
    continued: Vec<Continued>,
    /// Connections tracked at the end of the chunk, with their latest
    /// packet time.
    owned: FxHashMap<FlowKey, Owned>,
    /// Of those, the ones handed over to the next chunk unreported.
    handed_off: FxHashSet<FlowKey>,
    stats: Stats,
    /// Records read in the chunk itself.
    packets: u64,
    /// A read error (message) after `packets` records, or an open error.
    error: Option<ChunkError>,
    /// The later chunks of this file are void: the next one's start was
    /// not a record's (this worker read the rest of the file instead),
    /// interfaces changed, or a read error stopped the file here.
    voids_rest: bool,
    /// Counts still to add to the run's summary when joining.
    summary: Option<Summary>,
    /// Warnings of the chunk's reader (skipped interfaces), naming the file.
    warnings: Vec<String>,
    write_error: Option<io::Error>,
    /// The chunk's name traffic (its own records, not the overrun's).
    names: NameLog,
    /// Rows without SNI for the join to name from DNS answers.
    unresolved: Vec<ConnRecord>,
    /// The DNS answers the chunk saw (its overrun's too).
    servers: ServerNames,
}

enum ChunkError {
    Open(SourceError),
    Read(String),
}

/// Where the threads of a run wait for each other.
struct Gate {
    state: Mutex<GateState>,
    turn: Condvar,
}

struct GateState {
    /// `edges[i]`: the chunk before chunk `i` ended exactly at its start
    /// (set by that chunk's worker when it reaches its end; the first
    /// answer stands).
    edges: Vec<Option<bool>>,
    /// Chunks joined so far.
    joined: usize,
}

impl Gate {
    fn new(chunks: usize) -> Self {
        Gate {
            state: Mutex::new(GateState {
                edges: vec![None; chunks],
                joined: 0,
            }),
            turn: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, GateState> {
        lock(&self.state)
    }

    /// Answers whether chunk `i`'s start is good (first answer stands).
    fn set_edge(&self, i: usize, good: bool) {
        let mut st = self.lock();
        if let Some(e) = st.edges.get_mut(i)
            && e.is_none()
        {
            *e = Some(good);
            self.turn.notify_all();
        }
    }

    /// Waits for the answer about chunk `i`'s start.
    fn edge(&self, i: usize) -> bool {
        let mut st = self.lock();
        loop {
            match st.edges.get(i) {
                None => return false,
                Some(Some(good)) => return *good,
                Some(None) => st = self.turn.wait(st).unwrap_or_else(|p| p.into_inner()),
            }
        }
    }

    /// The answer about chunk `i`'s start, if given yet.
    fn edge_now(&self, i: usize) -> Option<bool> {
        self.lock().edges.get(i).copied().flatten()
    }

    /// Waits until chunk `i` is fewer than `ahead` chunks ahead of the join.
    fn wait_turn(&self, i: usize, ahead: usize) {
        let mut st = self.lock();
        while i >= st.joined.saturating_add(ahead) {
            st = self.turn.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// One more chunk joined.
    fn joined_one(&self) {
        self.lock().joined += 1;
        self.turn.notify_all();
    }

    /// Releases every waiting worker (the run stops early).
    fn open_all(&self) {
        self.lock().joined = usize::MAX / 2;
        self.turn.notify_all();
    }
}

/// Answers "no" about the next chunk's start unless answered before: a
/// chunk that ends early (or whose worker fails) voids the next.
struct EdgeGuard<'a>(&'a Gate, usize);

impl Drop for EdgeGuard<'_> {
    fn drop(&mut self) {
        self.0.set_edge(self.1, false);
    }
}

/// What the workers of a run share.
struct Ctx<'a, 'o> {
    chunks: &'a [Chunk],
    s: &'a Settings,
    spec: SpoolSpec,
    progress: &'a dyn Progress,
    /// The run's outputs, written by the first chunk directly.
    direct: &'a Mutex<&'o mut Outputs>,
    /// The run's summary.
    summary: &'a Mutex<Summary>,
    gate: &'a Gate,
    /// The run's memory budget, shared by the workers' tables.
    budget: &'a Arc<Budget>,
    /// Each chunk's spooled rows as written so far, for the join to append
    /// ahead (see [`Outputs::absorb_ahead`]).
    taps: &'a Mutex<Vec<Option<Ahead>>>,
    /// Each chunk's counts handed to the join before it ends (see
    /// [`Provisional`]).
    handoffs: &'a [Mutex<Option<Summary>>],
}

/// Analyses chunk `i` and its overrun; also the counts of a chunk whose
/// start was found by resynchronising, once proved good, for its worker
/// to add to the run's summary.
fn work(cx: &Ctx<'_, '_>, i: usize) -> (Done, Option<Summary>) {
    let Ctx {
        chunks,
        s,
        spec,
        progress,
        direct,
        summary,
        gate,
        budget,
        taps,
        handoffs,
    } = *cx;
    let mut done = Done {
        index: i,
        outputs: None,
        held: Vec::new(),
        deferred: Vec::new(),
        continued: Vec::new(),
        owned: FxHashMap::default(),
        handed_off: FxHashSet::default(),
        stats: Stats::default(),
        packets: 0,
        error: None,
        voids_rest: false,
        summary: None,
        warnings: Vec::new(),
        write_error: None,
        names: NameLog::default(),
        unresolved: Vec::new(),
        servers: ServerNames::default(),
    };
    // Whether the next chunk's start is good, for its worker.
    let _edge = EdgeGuard(gate, i + 1);
    let Some(c) = chunks.get(i) else {
        return (done, None);
    };
    // The first chunk writes rows straight to the run's outputs (nothing
    // is joined before it); the others to spools. A chunk that starts a
    // file counts into the run's summary; one whose start was found by
    // resynchronising counts into its own, added below once the chunks
    // before it prove the start good (if not, the chunk is dropped whole).
    let mut guard;
    let mut spool = None;
    let out: &mut Outputs = if i == 0 {
        guard = lock(direct);
        &mut guard
    } else {
        match spec.open() {
            Ok(o) => {
                if let Some(t) = lock(taps).get_mut(i) {
                    *t = Some(o.taps());
                }
                spool.insert(o)
            }
            Err(e) => {
                done.write_error = Some(e);
                return (done, None);
            }
        }
    };
    let (mut shared, mut provisional) = (None, None);
    let sink: &mut dyn Sink = if c.first_of_file() {
        shared.insert(Shared {
            rows: out,
            summary,
            local: Summary::new(spec.scope()),
        })
    } else {
        provisional.insert(Provisional {
            out,
            chunks,
            i,
            gate,
            slot: handoffs.get(i),
            rows: 0,
        })
    };
    let mut rows = Rows::new(Arc::clone(&s.endpoints), sink);
    if i > 0 {
        rows = rows.hold_midstream();
    }
    let mut src = match c.open() {
        Ok(o) => o,
        Err(e) => {
            done.error = Some(ChunkError::Open(e));
            // The file's other chunks fail alike: one message for the file.
            done.voids_rest = true;
            drop(rows);
            done.outputs = spool;
            return (done, None);
        }
    };
    let mut table = FlowTable::new(s.worker_limits(), &mut rows)
        .with_budget(Arc::clone(budget))
        .with_names();
    let filter = s.control.compile();
    let interrupted = Driver::new(progress)
        .controlled(&s.control, filter.as_ref())
        .run(
            &mut src,
            &mut Analysis {
                table: &mut table,
                report: &mut |_| {},
                learn: None,
            },
        );
    let failed = table.failed();
    done.names = table.take_names();
    done.packets = src.packets();
    done.error = src.error.take().map(ChunkError::Read);
    done.warnings = std::mem::take(&mut src.warnings);
    // Also after a read error: what follows a corrupt record is not read,
    // as by one reader.
    done.voids_rest = src.voids_rest || src.later_chunks_void() || done.error.is_some();
    gate.set_edge(i + 1, !done.voids_rest);
    let interrupted = interrupted == Stop::Requested;
    if i + 1 < chunks.len() && !failed && !interrupted {
        // Forgotten here those idle at its end, not in the join (where
        // the run waits).
        let owned = table.begin_overrun();
        done.owned = match owned.values().map(|o| o.last_ts).max() {
            Some(now) => idle_dropped(owned, now, s.limits.idle_timeout_us),
            None => owned,
        };
        let last_ts = src.last_ts();
        done.handed_off = overrun(
            &mut table,
            chunks,
            i,
            src.into_rest(),
            last_ts,
            filter.as_ref(),
        );
    }
    table.finish();
    done.stats = table.stats;
    drop(table);
    done.write_error = rows.take_error();
    done.held = rows.take_held();
    done.deferred = rows.take_deferred();
    done.continued = rows.take_continued();
    done.unresolved = rows.take_unresolved();
    done.servers = rows.take_servers();
    drop(rows);
    // Counts made while the run's summary was busy.
    done.summary = shared.map(|s| s.local);
    let mut counts = None;
    if !c.first_of_file()
        && let Some(part) = spool.as_mut()
        && start_is_good(chunks, i, gate)
    {
        // Added by this worker once the chunk is handed to the join (while
        // the join writes its rows), not by the join.
        counts = Some(std::mem::replace(
            &mut part.summary,
            Summary::new(spec.scope()),
        ));
    }
    done.outputs = spool;
    (done, counts)
}

/// Whether the chunks before `i` in its file are known to have ended
/// exactly where the next starts (without waiting: false while unknown).
fn start_known_good(chunks: &[Chunk], i: usize, gate: &Gate) -> bool {
    let first = (0..=i)
        .rev()
        .find(|&j| chunks.get(j).is_some_and(Chunk::first_of_file))
        .unwrap_or(0);
    ((first + 1)..=i).all(|k| gate.edge_now(k) == Some(true))
}

/// Rows between two looks whether a chunk's counts can be handed over.
const HANDOFF_ROWS: u32 = 256;

/// The sink of a chunk that does not start its file: rows and counts to
/// its spool. The counts wait there until the chunks before prove its
/// start good; from then on they are handed to the join every
/// [`HANDOFF_ROWS`] rows (when it has taken the last), which adds them to
/// the run's summary while this chunk is still analysed: adding a chunk's
/// tally at its end took 10 to 20 ms on the benchmark, all of it at the
/// end of the run.
struct Provisional<'a> {
    out: &'a mut Outputs,
    chunks: &'a [Chunk],
    i: usize,
    gate: &'a Gate,
    slot: Option<&'a Mutex<Option<Summary>>>,
    rows: u32,
}

impl Sink for Provisional<'_> {
    fn record(&mut self, rec: &ConnRecord) -> io::Result<()> {
        self.out.record(rec)?;
        self.rows += 1;
        if self.rows >= HANDOFF_ROWS {
            self.rows = 0;
            if let Some(slot) = self.slot
                && start_known_good(self.chunks, self.i, self.gate)
            {
                let mut slot = lock(slot);
                if slot.is_none() {
                    let scope = self.out.summary.scope();
                    *slot = Some(std::mem::replace(
                        &mut self.out.summary,
                        Summary::new(scope),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Waits until the chunks before `i` in its file have read up to their
/// ends; true when each ended exactly where the next starts (chunk `i`'s
/// start, and those before it, are good).
fn start_is_good(chunks: &[Chunk], i: usize, gate: &Gate) -> bool {
    let first = (0..=i)
        .rev()
        .find(|&j| chunks.get(j).is_some_and(Chunk::first_of_file))
        .unwrap_or(0);
    ((first + 1)..=i).all(|k| gate.edge(k))
}

/// The overrun's source: the rest of the chunk's file, then the next files.
struct Rest<'a> {
    reader: Option<Opened>,
    chunks: &'a [Chunk],
    /// Index of the chunk of the file being read.
    file: usize,
    /// The file being read is over.
    over: bool,
}

impl FrameSource for Rest<'_> {
    #[inline]
    fn next(&mut self) -> Event<'_> {
        if self.over {
            // This file is over: go on with the next one.
            self.over = false;
            self.reader = None;
            let Some(j) = (self.file + 1..self.chunks.len())
                .find(|&j| self.chunks.get(j).is_some_and(Chunk::first_of_file))
            else {
                return Event::End;
            };
            let Some(Ok(o)) = self
                .chunks
                .get(j)
                .map(|c| offline::open_chunk(&c.path, c.start))
            else {
                return Event::End;
            };
            self.reader = Some(o);
            self.file = j;
        }
        let Some(reader) = self.reader.as_mut() else {
            self.over = true;
            return Event::Closed;
        };
        match reader.next_frame() {
            Some(f) => Event::Frame(f),
            None => {
                self.over = true;
                Event::Closed
            }
        }
    }
}

/// The overrun's consumer: frames of the connections still followed, until
/// none is left or time runs out.
struct Overrun<'t, 'o> {
    table: &'t mut FlowTable<'o>,
    boundary: i64,
    last_release: i64,
    handed: FxHashSet<FlowKey>,
    /// Time left the window: far past the chunk's end, or back before it
    /// (the next file is another capture).
    out_of_time: bool,
}

impl Consumer for Overrun<'_, '_> {
    fn frame(&mut self, f: &Frame<'_>) -> bool {
        let ts = f.ts_us;
        let ahead = ts.saturating_sub(self.boundary);
        if !(-STALL_US..=MAX_OVERRUN_US).contains(&ahead) {
            self.out_of_time = true;
            return false;
        }
        self.table.overrun_frame(f.link, ts, f.data);
        if ts.saturating_sub(self.last_release) >= QUIET_US / 4 {
            self.last_release = ts;
            let (quiet, stalled) = (ts.saturating_sub(QUIET_US), ts.saturating_sub(STALL_US));
            self.handed
                .extend(self.table.release_stalled(quiet, stalled));
        }
        false
    }

    fn failed(&mut self, _msg: String) {}

    fn done(&self) -> bool {
        self.out_of_time || self.table.tracked() == 0
    }
}

/// After chunk `i`: follows the connections `table` still follows, reading
/// on from `reader` (the chunk's file, `None` at its end; its last record
/// at `last_ts`) and then the next files, until each completes or is released (see [`QUIET_US`],
/// [`STALL_US`], [`MAX_OVERRUN_US`]). Returns the connections handed over
/// to later chunks.
fn overrun(
    table: &mut FlowTable<'_>,
    chunks: &[Chunk],
    i: usize,
    reader: Option<Opened>,
    last_ts: Option<i64>,
    filter: Option<&FrameFilter>,
) -> FxHashSet<FlowKey> {
    // The time of the chunk's last record: where the capture's time stepped
    // back within the chunk (captures put one after the other), the frames
    // after the chunk end are near it, not near the latest time seen.
    let boundary = last_ts.unwrap_or_else(|| table.now());
    let mut rest = Rest {
        over: reader.is_none(),
        reader,
        chunks,
        file: i,
    };
    let mut follow = Overrun {
        table,
        boundary,
        last_release: boundary,
        handed: FxHashSet::default(),
        out_of_time: false,
    };
    Driver::new(&NoProgress)
        .controlled(&ReadControl::default(), filter)
        .run(&mut rest, &mut follow);
    let mut handed = follow.handed;
    handed.extend(table.release_stalled(i64::MAX, i64::MAX));
    handed
}

/// Analyses `chunks` on `s.threads` workers and joins the results into
/// `outputs` in order. Read errors go to `report` (already formatted,
/// naming the file); returns the counters, and the first error writing
/// rows (the run should then stop: nothing more can be written).
pub fn run(
    chunks: &[Chunk],
    s: &Settings,
    outputs: &mut Outputs,
    progress: &dyn Progress,
    report: &mut dyn FnMut(Problem),
    learn: &mut (dyn FnMut(NameLog) + Send),
) -> (Stats, Option<io::Error>) {
    let spec = outputs.spool_spec();
    let next = AtomicUsize::new(0);
    let threads = s.threads.clamp(1, chunks.len().max(1));
    // The workers actually started share out `max_flows`.
    let s = &Settings {
        endpoints: Arc::clone(&s.endpoints),
        limits: s.limits,
        threads,
        control: s.control.clone(),
    };
    // Workers run at most this many chunks ahead of the join (each
    // finished chunk holds two open temporary files).
    let ahead = 4 * threads;
    let mut join = Join {
        idle_us: s.limits.idle_timeout_us,
        stats: Stats::default(),
        owned: FxHashMap::default(),
        handed_off: FxHashSet::default(),
        deferred: FxHashMap::default(),
        deferred_seq: 0,
        skip_rest_of: None,
        file_packets: 0,
        warned: FxHashSet::default(),
        write_error: None,
        servers: std::collections::VecDeque::new(),
        endpoints: Arc::clone(&s.endpoints),
    };
    let scope = outputs.summary.scope();
    let summary = Mutex::new(std::mem::replace(&mut outputs.summary, Summary::new(scope)));
    let direct = Mutex::new(&mut *outputs);
    let gate = Gate::new(chunks.len());
    let budget = Arc::new(Budget::new(s.limits.memcap));
    let taps = Mutex::new(vec![None; chunks.len()]);
    let handoffs: Vec<Mutex<Option<Summary>>> =
        (0..chunks.len()).map(|_| Mutex::new(None)).collect();
    let cx = Ctx {
        taps: &taps,
        handoffs: &handoffs,
        budget: &budget,
        chunks,
        s,
        spec,
        progress,
        direct: &direct,
        summary: &summary,
        gate: &gate,
    };
    std::thread::scope(|sc| {
        let (tx, rx) = std::sync::mpsc::channel::<Done>();
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, cx) = (&next, &cx);
            sc.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    // Interrupted: no new chunk is started.
                    if i >= chunks.len() || cx.s.control.stopped() {
                        break;
                    }
                    cx.gate.wait_turn(i, ahead);
                    let (d, counts) = work(cx, i);
                    let sent = tx.send(d).is_ok();
                    if let Some(c) = counts {
                        lock(cx.summary).merge(&c);
                    }
                    if !sent {
                        break;
                    }
                }
            });
        }
        drop(tx);
        // The names of each part of the input are learned, in order, on a
        // thread of their own: while later chunks are analysed, and while
        // the join writes the last one's rows.
        // Bounded: when learning falls behind, the join waits, and the gate
        // holds the workers back (the logs queued stay few).
        let (names_tx, names_rx) = std::sync::mpsc::sync_channel::<NameLog>(ahead);
        sc.spawn(move || {
            for log in names_rx {
                learn(log);
            }
        });
        let mut pending = BTreeMap::new();
        let mut joined = 0;
        // The rows of the chunk joined next, appended while it is analysed.
        let mut ahead: Option<Ahead> = None;
        let mut buf = Vec::new();
        loop {
            if ahead.is_none() && join.keeps_rows_of(chunks, joined, &gate) {
                ahead = lock(&taps).get_mut(joined).and_then(Option::take);
            }
            let d = match ahead.as_mut() {
                Some(a) => match rx.recv_timeout(AHEAD_EVERY) {
                    Ok(d) => d,
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                        if let Err(e) = lock(&direct).absorb_ahead(a, &mut buf) {
                            join.write_error.get_or_insert(e);
                            ahead = None;
                        }
                        take_handoff(&handoffs, joined, &summary);
                        continue;
                    }
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                },
                None => match rx.recv() {
                    Ok(d) => d,
                    Err(_) => break,
                },
            };
            pending.insert(d.index, d);
            while let Some(d) = pending.remove(&joined) {
                let mut rows = lock(&direct);
                let mut sink = Shared {
                    rows: &mut rows,
                    summary: &summary,
                    local: Summary::new(scope),
                };
                // The chunk's names go to the names thread before its rows
                // are written.
                take_handoff(&handoffs, joined, &summary);
                // (The spool's last handle goes with it, see `Join::add`.)
                let a = ahead
                    .take()
                    .or_else(|| lock(&taps).get_mut(joined).and_then(Option::take))
                    .unwrap_or_default();
                join.add(chunks, d, &mut sink, a, report, &mut |names| {
                    // (The names thread ends only with the run.)
                    let _ = names_tx.send(names);
                });
                let local = sink.local;
                drop(rows);
                if local.connections > 0 {
                    lock(&summary).merge(&local);
                }
                joined += 1;
                gate.joined_one();
            }
            if join.write_error.is_some() {
                // Nothing more can be written: stop the workers early.
                next.store(chunks.len(), Ordering::Relaxed);
                gate.open_all();
                break;
            }
        }
        drop(names_tx);
        // The input ended: connections handed over and seen by no later
        // chunk are reported as they stood (as one reader reports every
        // connection still open at the end).
        let mut rows = lock(&direct);
        let mut sink = Shared {
            rows: &mut rows,
            summary: &summary,
            local: Summary::new(scope),
        };
        join.write_deferred(&mut sink, |_| true);
        let local = sink.local;
        if local.connections > 0 {
            lock(&summary).merge(&local);
        }
    });
    outputs.summary = summary.into_inner().unwrap_or_else(|p| p.into_inner());
    // The last chunks' DNS answers and the connections followed at their
    // ends are freed on a thread of their own: about 3 ms on the
    // benchmark, at the end of the run.
    let (servers, owned) = (
        std::mem::take(&mut join.servers),
        std::mem::take(&mut join.owned),
    );
    std::thread::spawn(move || drop((servers, owned)));
    (join.stats, join.write_error)
}

/// Adds the counts chunk `i` handed over (see [`Provisional`]) to the
/// run's summary.
fn take_handoff(handoffs: &[Mutex<Option<Summary>>], i: usize, summary: &Mutex<Summary>) {
    let counts = handoffs.get(i).and_then(|h| lock(h).take());
    if let Some(c) = counts {
        lock(summary).merge(&c);
    }
}

/// `owned` without the connections idle for more than `idle_us` at `now`.
fn idle_dropped(
    mut owned: FxHashMap<FlowKey, Owned>,
    now: i64,
    idle_us: i64,
) -> FxHashMap<FlowKey, Owned> {
    owned.retain(|_, o| now.saturating_sub(o.last_ts) <= idle_us);
    owned
}

/// Locks `m`, also after a thread panicked holding it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The sink of a chunk that starts a file: rows to `rows` (the run's
/// outputs or a spool), counts to the run's summary (the tally does not
/// depend on the order rows come in).
struct Shared<'a> {
    rows: &'a mut Outputs,
    summary: &'a Mutex<Summary>,
    /// Counts made while another thread holds the run's summary (added
    /// when joining): the analysis never waits for it.
    local: Summary,
}

impl Sink for Shared<'_> {
    fn record(&mut self, rec: &ConnRecord) -> io::Result<()> {
        self.rows.record_rows(rec)?;
        match self.summary.try_lock() {
            Ok(mut s) => s.record(rec),
            Err(_) => self.local.record(rec),
        }
    }
}

/// The join's state between chunks.
struct Join {
    idle_us: i64,
    stats: Stats,
    /// Connections earlier chunks tracked at their ends (the latest chunk
    /// to track one wins), while not idle.
    owned: FxHashMap<FlowKey, Owned>,
    /// Of those, the ones handed over unreported.
    handed_off: FxHashSet<FlowKey>,
    /// Rows of connections handed over (with the order they came in): due
    /// unless a later chunk reports the connection, written once it is no
    /// longer handed over or at the end.
    deferred: FxHashMap<FlowKey, (u64, ConnRecord)>,
    deferred_seq: u64,
    /// A worker read the rest of this file: its later chunks are void.
    skip_rest_of: Option<PathBuf>,
    /// Records of the current file joined so far (for error messages).
    file_packets: u64,
    /// Warnings given (each chunk of a file may meet the same interface).
    warned: FxHashSet<String>,
    write_error: Option<io::Error>,
    /// The DNS answers of the latest chunks joined ([`RECENT_ANSWERS`]):
    /// rows the join writes take their server names from these.
    servers: std::collections::VecDeque<ServerNames>,
    endpoints: Arc<Endpoints>,
}

impl Join {
    /// Joins chunk `d` (the next in order): its name traffic to `names`
    /// first (unless the chunk is void), then its rows and counts.
    fn add(
        &mut self,
        chunks: &[Chunk],
        mut d: Done,
        outputs: &mut Shared<'_>,
        ahead: Ahead,
        report: &mut dyn FnMut(Problem),
        names: &mut dyn FnMut(NameLog),
    ) {
        let Some(c) = chunks.get(d.index) else {
            return;
        };
        if c.first_of_file() {
            self.file_packets = 0;
            self.skip_rest_of = None;
        } else if self.skip_rest_of.as_ref() == Some(&c.path) {
            return;
        }
        names(std::mem::take(&mut d.names));
        if self.servers.len() >= RECENT_ANSWERS {
            self.servers.pop_front();
        }
        self.servers.push_back(std::mem::take(&mut d.servers));
        let servers: Vec<&ServerNames> = self.servers.iter().collect();
        if let Some(e) = d.write_error {
            self.write_error.get_or_insert(e);
        }
        // The chunk's own rows first, then those the join decides on: the
        // same order whatever part of them was appended ahead.
        if let Some(part) = d.outputs.as_mut() {
            if let Err(e) = outputs.rows.absorb(part, &ahead) {
                self.write_error.get_or_insert(e);
            }
            // Counts not added yet (a worker adds its chunk's own counts
            // once the chunk's start proves good).
            if part.summary.connections > 0 {
                lock(outputs.summary).merge(&part.summary);
            }
        }
        if let Some(part) = d.outputs.take() {
            // Closing a spool gives its pages back, about 3 ms for 24 MB of
            // rows: on a thread of its own, not where the run waits.
            std::thread::spawn(move || drop((part, ahead)));
        }
        for mut rec in std::mem::take(&mut d.unresolved) {
            row::resolve(&mut rec, &servers, &self.endpoints);
            self.stats.rows += 1;
            if let Err(e) = outputs.record(&rec) {
                self.write_error.get_or_insert(e);
            }
        }
        for mut h in d.held {
            if let Some(o) = self.owned.get(&h.key) {
                if self.handed_off.contains(&h.key) {
                    // Started in the chunk before, data only in this one:
                    // this row replaces the one due for the chunk before.
                    h.rec.ts = o.first_ts;
                    h.rec.packets += o.packets;
                    self.deferred.remove(&h.key);
                } else if h.rec.ts.saturating_sub(o.last_ts) <= self.idle_us {
                    // The chunk before reported it (or had nothing to report).
                    continue;
                }
            }
            row::resolve(&mut h.rec, &servers, &self.endpoints);
            self.stats.rows += 1;
            if let Err(e) = outputs.record(&h.rec) {
                self.write_error.get_or_insert(e);
            }
        }
        for c in &d.continued {
            // The rest of a connection handed over, with nothing more to
            // report: its packets count into the row due.
            // (The row counts the packets the chunk before followed past
            // its end too: this chunk's packets add to those up to its end.)
            if self.handed_off.contains(&c.key)
                && let Some(o) = self.owned.get(&c.key)
                && let Some((_, rec)) = self.deferred.get_mut(&c.key)
            {
                rec.packets = rec.packets.max(o.packets + c.packets);
                rec.last_ts = rec.last_ts.max(c.last_ts);
            }
        }
        for mut h in d.deferred {
            row::resolve(&mut h.rec, &servers, &self.endpoints);
            if let Some(o) = self.owned.get(&h.key) {
                if self.handed_off.contains(&h.key) {
                    // Handed over twice: the first chunk's row stands (it
                    // saw the connection's start), with this chunk's packets.
                    if let Some((_, rec)) = self.deferred.get_mut(&h.key) {
                        rec.packets = rec.packets.max(o.packets + h.rec.packets);
                        rec.last_ts = rec.last_ts.max(h.rec.last_ts);
                        continue;
                    }
                } else if h.rec.ts.saturating_sub(o.last_ts) <= self.idle_us {
                    // The chunk before reported it.
                    continue;
                }
            }
            self.deferred_seq += 1;
            self.deferred.insert(h.key, (self.deferred_seq, h.rec));
        }
        self.stats.add(&d.stats);
        let label = c.path.display().to_string();
        for w in d.warnings {
            if self.warned.insert(w.clone()) {
                report(Problem::Warning(w));
            }
        }
        match d.error {
            Some(ChunkError::Open(e)) => report(Problem::Error(e.to_string())),
            Some(ChunkError::Read(msg)) => report(Problem::Error(
                SourceError::Truncated(label, self.file_packets + d.packets, msg).to_string(),
            )),
            None => {}
        }
        self.file_packets += d.packets;
        // A chunk may have no packet at all of a connection an earlier one
        // follows: ownership carries over chunks, newest first, and is
        // forgotten once idle for the idle timeout.
        // (The chunk's worker forgot its own idle ones, see `idle_dropped`;
        // the first chunk's map is taken as it is, not copied.)
        let now = d.owned.values().map(|o| o.last_ts).max();
        if !self.handed_off.is_empty() {
            for k in d.owned.keys() {
                self.handed_off.remove(k);
            }
        }
        self.handed_off.extend(d.handed_off);
        if self.owned.is_empty() {
            self.owned = d.owned;
        } else {
            self.owned.extend(d.owned);
            if let Some(now) = now {
                self.owned = idle_dropped(std::mem::take(&mut self.owned), now, self.idle_us);
            }
        }
        if now.is_some() {
            let owned = &self.owned;
            self.handed_off.retain(|k| owned.contains_key(k));
        }
        // Handed over, and idle since: no later chunk can report it.
        let handed = std::mem::take(&mut self.handed_off);
        self.write_deferred(outputs, |k| !handed.contains(k));
        self.handed_off = handed;
        if let Some(local) = d.summary.as_ref().filter(|l| l.connections > 0) {
            lock(outputs.summary).merge(local);
        }
        if d.voids_rest {
            self.skip_rest_of = Some(c.path.clone());
        }
    }

    /// Whether chunk `i`'s rows will be written when it is joined, known
    /// before it ends: the chunks before it are joined, and it starts its
    /// file or its start was found good (so its rows may be appended ahead).
    fn keeps_rows_of(&self, chunks: &[Chunk], i: usize, gate: &Gate) -> bool {
        let Some(c) = chunks.get(i) else {
            return false;
        };
        self.write_error.is_none()
            && (c.first_of_file()
                || (self.skip_rest_of.as_ref() != Some(&c.path) && gate.edge_now(i) == Some(true)))
    }

    /// Writes the deferred rows of the connections `due` says, in the
    /// order they came.
    fn write_deferred(&mut self, outputs: &mut Shared<'_>, due: impl Fn(&FlowKey) -> bool) {
        if self.deferred.is_empty() {
            return;
        }
        let keys: Vec<FlowKey> = self.deferred.keys().filter(|k| due(k)).copied().collect();
        let mut rows: Vec<(u64, ConnRecord)> = keys
            .iter()
            .filter_map(|k| self.deferred.remove(k))
            .collect();
        rows.sort_by_key(|(seq, _)| *seq);
        for (_, rec) in rows {
            self.stats.rows += 1;
            if let Err(e) = outputs.record(&rec) {
                self.write_error.get_or_insert(e);
            }
        }
    }
}
