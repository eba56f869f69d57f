//! Large captures on several threads.
//!
//! Each pcap or pcapng file is cut into chunks ([`crate::split`]); worker
//! threads analyse chunks at once, each with an [`Analyzer`] of its own,
//! and the results are joined here in capture order: rows appended from
//! each chunk's spool, counters and tallies added (chunks that start a
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

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use rustc_hash::{FxHashMap, FxHashSet};

use crate::analyzer::{Analyzer, FlowKey, Held, Limits, Owned, Sink, Stats};
use crate::m365::Endpoints;
use crate::outputs::{Outputs, SpoolSpec};
use crate::record::ConnRecord;
use crate::source::{self, Input, Opened, SourceError};
use crate::split::{self, Layout, Walk};
use crate::summary::Summary;

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
        let Ok(Some((layout, starts))) = split::plan(path, want, QUIET_US) else {
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
    write_error: Option<std::io::Error>,
}

/// Sets `edge` (if any) to false unless it was set before: a chunk that
/// ends early voids the next.
struct EdgeGuard<'a>(Option<&'a OnceLock<bool>>);

impl Drop for EdgeGuard<'_> {
    fn drop(&mut self) {
        if let Some(e) = self.0 {
            let _ = e.set(false);
        }
    }
}

enum ChunkError {
    Open(SourceError),
    Read(String),
}

fn open(c: &Chunk) -> Result<(Opened, Arc<Walk>), SourceError> {
    source::open_at(&c.path, &c.layout, c.start, c.end)
}

/// What the workers of a run share.
struct Ctx<'a, 'o> {
    chunks: &'a [Chunk],
    s: &'a Settings,
    spec: SpoolSpec,
    bar: &'a indicatif::ProgressBar,
    /// The run's outputs, written by the first chunk directly.
    direct: &'a Mutex<&'o mut Outputs>,
    /// The run's summary.
    summary: &'a Mutex<Summary>,
    /// `edges[i]`: the chunk before chunk `i` ended exactly at its start
    /// (set by that chunk's worker when it reaches its end).
    edges: &'a [OnceLock<bool>],
}

/// Analyses chunk `i` and its overrun.
fn work(cx: &Ctx<'_, '_>, i: usize) -> Done {
    let Ctx {
        chunks,
        s,
        spec,
        bar,
        direct,
        summary,
        edges,
    } = *cx;
    let mut done = Done {
        index: i,
        outputs: None,
        held: Vec::new(),
        owned: FxHashMap::default(),
        handed_off: FxHashSet::default(),
        stats: Stats::default(),
        packets: 0,
        error: None,
        voids_rest: false,
        summary: None,
        write_error: None,
    };
    // Whether the next chunk's start is good, for its worker (see `edges`
    // in [`run`]).
    let _edge = EdgeGuard(edges.get(i + 1));
    let Some(c) = chunks.get(i) else {
        return done;
    };
    // The first chunk writes rows straight to the run's outputs (nothing
    // is joined before it); the others to spools. A chunk that starts a
    // file counts into the run's summary; one whose start was found by
    // resynchronising counts into its own, added below once the chunks
    // before it prove the start good (if not, the chunk is dropped whole).
    let mut guard;
    let mut spool = None;
    let rows: &mut Outputs = if i == 0 {
        guard = lock(direct);
        &mut guard
    } else {
        match spec.open() {
            Ok(o) => spool.insert(o),
            Err(e) => {
                done.write_error = Some(e);
                return done;
            }
        }
    };
    let mut shared = None;
    let sink: &mut dyn Sink = if c.first_of_file() {
        shared.insert(Shared {
            rows,
            summary,
            local: Summary::new(spec.scope()),
        })
    } else {
        rows
    };
    let mut an = Analyzer::new(Arc::clone(&s.endpoints), s.worker_limits(), sink);
    if i > 0 {
        an = an.hold_midstream();
    }
    let (mut opened, walk) = match open(c) {
        Ok(o) => o,
        Err(e) => {
            done.error = Some(ChunkError::Open(e));
            drop(an);
            done.outputs = spool;
            return done;
        }
    };
    let link = opened.link;
    let mut unreported = 0u64;
    let mut at_eof = false;
    // The chunk's packets: as many as the stream's walk found before the
    // chunk's end, once it got there.
    let mut limit = None;
    loop {
        if limit.is_none() {
            limit = walk.packets_before_end();
            if limit.is_some() && walk.later_chunks_void() {
                // The next chunk's start is not a record's, or interfaces
                // changed: read the rest of the file here.
                done.voids_rest = true;
                limit = Some(u64::MAX);
            }
        }
        if limit.is_some_and(|l| done.packets >= l) {
            break;
        }
        match source::next_packet(&mut opened) {
            Ok(Some((ts, data, len))) => {
                an.frame(link, ts, data, len);
                done.packets += 1;
                // About the bytes read (record headers vary).
                unreported += 16 + data.len() as u64;
                if unreported >= 1 << 22 {
                    bar.inc(unreported);
                    unreported = 0;
                }
            }
            Ok(None) => {
                at_eof = true;
                break;
            }
            Err(e) => {
                done.error = Some(ChunkError::Read(e.to_string()));
                at_eof = true;
                break;
            }
        }
        if let Some(e) = an.take_error() {
            done.write_error = Some(e);
            break;
        }
    }
    bar.inc(unreported);
    // Also after a read error: what follows a corrupt record is not read,
    // as by one reader.
    done.voids_rest |= walk.later_chunks_void() || done.error.is_some();
    if let Some(e) = edges.get(i + 1) {
        let _ = e.set(!done.voids_rest);
    }
    if i + 1 < chunks.len() && done.write_error.is_none() {
        done.owned = an.begin_overrun();
        done.handed_off = overrun(&mut an, chunks, i, (!at_eof).then_some(opened));
    }
    an.finish();
    if let Some(e) = an.take_error() {
        done.write_error.get_or_insert(e);
    }
    done.held = an.take_held();
    done.stats = an.stats;
    drop(an);
    // Counts made while the run's summary was busy.
    done.summary = shared.map(|s| s.local);
    if !c.first_of_file()
        && let Some(part) = spool.as_mut()
        && start_is_good(chunks, i, edges)
    {
        // Added here, while the chunk before may still be in its overrun,
        // rather than when joining.
        let counts = std::mem::replace(&mut part.summary, Summary::new(spec.scope()));
        lock(summary).merge(&counts);
        std::thread::spawn(move || drop(counts));
    }
    done.outputs = spool;
    done
}

/// Waits until the chunks before `i` in its file have read up to their
/// ends; true when each ended exactly where the next starts (chunk `i`'s
/// start, and those before it, are good).
fn start_is_good(chunks: &[Chunk], i: usize, edges: &[OnceLock<bool>]) -> bool {
    let first = (0..=i)
        .rev()
        .find(|&j| chunks.get(j).is_some_and(Chunk::first_of_file))
        .unwrap_or(0);
    ((first + 1)..=i).all(|k| {
        let Some(e) = edges.get(k) else { return false };
        loop {
            if let Some(&good) = e.get() {
                return good;
            }
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
    })
}

/// After chunk `i`: follows the connections `an` still follows, reading on
/// from `reader` (the chunk's file, `None` at its end) and then the next
/// files, until each completes or is released (see [`QUIET_US`],
/// [`STALL_US`], [`MAX_OVERRUN_US`]). Returns the connections handed over
/// to later chunks.
fn overrun(
    an: &mut Analyzer<'_>,
    chunks: &[Chunk],
    i: usize,
    reader: Option<Opened>,
) -> FxHashSet<FlowKey> {
    let mut handed = FxHashSet::default();
    let boundary = an.now();
    let mut last_release = boundary;
    let mut file = i;
    let mut reader = reader;
    while an.tracked() > 0 {
        let next = match reader.as_mut() {
            Some(opened) => {
                let link = opened.link;
                source::next_packet(opened).map(|p| p.map(|p| (p, link)))
            }
            None => Ok(None),
        };
        match next {
            Ok(Some(((ts, data, _), link))) => {
                // Far past the chunk's end, or back before it (the next
                // file is another capture): stop.
                let ahead = ts.saturating_sub(boundary);
                if !(-STALL_US..=MAX_OVERRUN_US).contains(&ahead) {
                    break;
                }
                an.overrun_frame(link, ts, data);
                if ts.saturating_sub(last_release) >= QUIET_US / 4 {
                    last_release = ts;
                    let (quiet, stalled) =
                        (ts.saturating_sub(QUIET_US), ts.saturating_sub(STALL_US));
                    handed.extend(an.release_stalled(quiet, stalled));
                }
            }
            _ => {
                // This file is over: go on with the next one.
                let Some(j) = (file + 1..chunks.len())
                    .find(|&j| chunks.get(j).is_some_and(Chunk::first_of_file))
                else {
                    break;
                };
                let Some(Ok((o, _))) = chunks.get(j).map(open) else {
                    break;
                };
                reader = Some(o);
                file = j;
            }
        }
    }
    handed.extend(an.release_stalled(i64::MAX, i64::MAX));
    handed
}

/// Analyses `chunks` on `s.threads` workers and joins the results into
/// `outputs` in order. Read errors go to `report_error` (already formatted,
/// naming the file); returns the counters, and the first error writing
/// rows (the run should then stop: nothing more can be written).
pub fn run(
    chunks: &[Chunk],
    s: &Settings,
    outputs: &mut Outputs,
    bar: &indicatif::ProgressBar,
    report_error: &mut dyn FnMut(String),
) -> (Stats, Option<std::io::Error>) {
    let spec = outputs.spool_spec();
    let next = AtomicUsize::new(0);
    let joined = AtomicUsize::new(0);
    let threads = s.threads.clamp(1, chunks.len().max(1));
    // The workers actually started share out `max_flows`.
    let s = &Settings {
        endpoints: Arc::clone(&s.endpoints),
        limits: s.limits,
        threads,
    };
    // Workers run at most this many chunks ahead of the join (each
    // finished chunk holds two open temporary files).
    let ahead = 4 * threads;
    let mut join = Join {
        idle_us: s.limits.idle_timeout_us,
        stats: Stats::default(),
        owned: FxHashMap::default(),
        handed_off: FxHashSet::default(),
        skip_rest_of: None,
        file_packets: 0,
        write_error: None,
    };
    let scope = outputs.summary.scope();
    let summary = Mutex::new(std::mem::replace(&mut outputs.summary, Summary::new(scope)));
    let direct = Mutex::new(&mut *outputs);
    // edges[i]: the chunk before chunk `i` ended exactly at its start (set
    // by that chunk's worker when it reaches its end).
    let edges: Vec<OnceLock<bool>> = (0..chunks.len()).map(|_| OnceLock::new()).collect();
    let cx = Ctx {
        chunks,
        s,
        spec,
        bar,
        direct: &direct,
        summary: &summary,
        edges: &edges,
    };
    std::thread::scope(|sc| {
        let (tx, rx) = std::sync::mpsc::channel::<Done>();
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, joined, cx) = (&next, &joined, &cx);
            sc.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= chunks.len() {
                        break;
                    }
                    while i >= joined.load(Ordering::Acquire) + ahead {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    let d = work(cx, i);
                    if tx.send(d).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut pending = BTreeMap::new();
        for d in rx.iter() {
            pending.insert(d.index, d);
            while let Some(d) = pending.remove(&joined.load(Ordering::Acquire)) {
                let mut rows = lock(&direct);
                let mut sink = Shared {
                    rows: &mut rows,
                    summary: &summary,
                    local: Summary::new(scope),
                };
                join.add(chunks, d, &mut sink, report_error);
                let local = sink.local;
                if local.connections > 0 {
                    lock(&summary).merge(&local);
                }
                joined.fetch_add(1, Ordering::Release);
            }
            if join.write_error.is_some() {
                // Nothing more can be written: stop the workers early.
                next.store(chunks.len(), Ordering::Relaxed);
                joined.store(usize::MAX / 2, Ordering::Release);
                break;
            }
        }
    });
    outputs.summary = summary.into_inner().unwrap_or_else(|p| p.into_inner());
    (join.stats, join.write_error)
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
    fn record(&mut self, rec: &ConnRecord) -> std::io::Result<()> {
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
    /// A worker read the rest of this file: its later chunks are void.
    skip_rest_of: Option<PathBuf>,
    /// Records of the current file joined so far (for error messages).
    file_packets: u64,
    write_error: Option<std::io::Error>,
}

impl Join {
    fn add(
        &mut self,
        chunks: &[Chunk],
        mut d: Done,
        outputs: &mut Shared<'_>,
        report_error: &mut dyn FnMut(String),
    ) {
        let Some(c) = chunks.get(d.index) else { return };
        if c.first_of_file() {
            self.file_packets = 0;
            self.skip_rest_of = None;
        } else if self.skip_rest_of.as_ref() == Some(&c.path) {
            return;
        }
        if let Some(e) = d.write_error {
            self.write_error.get_or_insert(e);
        }
        for mut h in d.held {
            if let Some(o) = self.owned.get(&h.key) {
                if self.handed_off.contains(&h.key) {
                    // Started in the chunk before, data only in this one.
                    h.rec.ts = o.first_ts;
                    h.rec.packets += o.packets;
                } else if h.rec.ts.saturating_sub(o.last_ts) <= self.idle_us {
                    // The chunk before reported it (or had nothing to report).
                    continue;
                }
            }
            self.stats.rows += 1;
            if let Err(e) = outputs.record(&h.rec) {
                self.write_error.get_or_insert(e);
            }
        }
        if let Some(part) = d.outputs.as_mut() {
            if let Err(e) = outputs.rows.absorb(part) {
                self.write_error.get_or_insert(e);
            }
            // Counts not added yet (a worker adds its chunk's own counts
            // once the chunk's start proves good).
            if part.summary.connections > 0 {
                lock(outputs.summary).merge(&part.summary);
            }
        }
        self.stats.add(&d.stats);
        let label = c.path.display().to_string();
        match d.error {
            Some(ChunkError::Open(e)) => report_error(e.to_string()),
            Some(ChunkError::Read(msg)) => report_error(
                SourceError::Truncated(label, self.file_packets + d.packets, msg).to_string(),
            ),
            None => {}
        }
        self.file_packets += d.packets;
        // A chunk may have no packet at all of a connection an earlier one
        // follows: ownership carries over chunks, newest first, and is
        // forgotten once idle for the idle timeout.
        let now = d.owned.values().map(|o| o.last_ts).max();
        for k in d.owned.keys() {
            self.handed_off.remove(k);
        }
        self.handed_off.extend(d.handed_off);
        self.owned.extend(d.owned);
        if let Some(now) = now {
            let idle = self.idle_us;
            self.owned
                .retain(|_, o| now.saturating_sub(o.last_ts) <= idle);
            let owned = &self.owned;
            self.handed_off.retain(|k| owned.contains_key(k));
        }
        if let Some(local) = d.summary.as_ref().filter(|l| l.connections > 0) {
            lock(outputs.summary).merge(local);
        }
        if d.voids_rest {
            self.skip_rest_of = Some(c.path.clone());
        }
        // Freeing a part's tally (many small allocations) is left to a
        // thread of its own, off the join's path.
        let rest = d.outputs;
        std::thread::spawn(move || drop(rest));
    }
}
