//! Large captures on several threads.
//!
//! Each pcap or pcapng file is cut into chunks ([`crate::input::layout`]);
//! worker threads analyse chunks at once, each with a flow table of its
//! own, and the results are joined in capture order (`join.rs`):
//! rows appended from each chunk's spool, counters and tallies added
//! (chunks that start a file count straight into the run's tally, which
//! does not depend on the order rows come in). The chunk joined next has
//! its rows appended, its counts added and its names learned while it is
//! still analysed, so the run's end waits for little.
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
//! those one reader would write; only their order differs (each chunk's
//! own rows, then those the join writes for it).
//!
//! Threads wait for each other at a gate (`gate.rs`): a worker for its
//! turn (at most a few chunks ahead of the join) and for the chunks before
//! it to reach their ends.

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};

use rustc_hash::{FxHashMap, FxHashSet};

use super::analysis::{Analysis, Learn};
pub use super::chunk::Chunk;
use super::chunk::{ChunkError, Done};
use super::driver::{Driver, ReadControl, Stop};
use super::gate::{EdgeGuard, Gate, lock, start_is_good};
use super::join::{Join, Provisional, Shared, idle_dropped, take_handoff};
use super::overrun::overrun;
pub use super::overrun::{QUIET_US, STALL_US};
use super::progress::Progress;
use super::rows::Rows;
use crate::enrich::identity::server_names::ServerNames;
use crate::enrich::m365::Endpoints;
use crate::flow::budget::Budget;
use crate::flow::closed::RecentlyClosed;
use crate::flow::names::NameLog;
use crate::flow::table::{FlowTable, Limits};
use crate::input::layout;
use crate::input::source::{Input, Problem};
use crate::model::sink::Sink;
use crate::model::stats::Stats;
use crate::output::summary::Summary;
use crate::output::{Ahead, Outputs, SpoolSpec};

/// While the chunk joined next is analysed, its rows written so far are
/// appended this often (the run's end then copies only its last rows).
const AHEAD_EVERY: std::time::Duration = std::time::Duration::from_millis(2);

/// Bytes below which a file is not cut (it may still be read beside
/// other files).
pub const MIN_CHUNK: u64 = 32 << 20;

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
    /// Each chunk's names may go to the names thread as they come: those
    /// of the chunks before it have gone (set by the join).
    names_flow: &'a [AtomicBool],
}

/// A chunk's name log is handed to the names thread whenever it holds this
/// many bytes and the chunk's names may flow: the last chunk's names were
/// learned after it ended, 10 to 30 ms at the end of a run on the
/// benchmark.
const NAMES_AT: usize = 256 << 10;

/// Analyses chunk `i` and its overrun; also the counts of a chunk whose
/// start was found by resynchronising, once proved good, for its worker
/// to add to the run's summary.
fn work(cx: &Ctx<'_, '_>, i: usize, names: &SyncSender<NameLog>) -> (Done, Option<Summary>) {
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
        names_flow,
    } = *cx;
    let mut done = Done {
        index: i,
        outputs: None,
        held: Vec::new(),
        deferred: Vec::new(),
        continued: Vec::new(),
        closed: RecentlyClosed::default(),
        reopened: Vec::new(),
        owned: FxHashMap::default(),
        handed_off: FxHashSet::default(),
        stats: Stats::default(),
        packets: 0,
        skipped: 0,
        interrupted: false,
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
            Ok(mut o) => {
                if let Some(t) = lock(taps).get_mut(i) {
                    *t = Some(o.take_taps());
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
    // (The names thread ends only with the run.)
    let mut hand_on = |log: NameLog| drop(names.send(log));
    let interrupted = Driver::new(progress)
        .controlled(&s.control, filter.as_ref())
        .run(
            &mut src,
            &mut Analysis {
                table: &mut table,
                report: &mut |_| {},
                learn: names_flow.get(i).map(|flow| Learn {
                    take: &mut hand_on,
                    at: NAMES_AT,
                    when: Some(flow),
                }),
            },
        );
    let failed = table.failed();
    done.names = table.take_names();
    done.packets = src.packets();
    done.skipped = src.skipped();
    done.error = src.error.take().map(ChunkError::Read);
    done.warnings = std::mem::take(&mut src.warnings);
    // Also after a read error: what follows a corrupt record is not read,
    // as by one reader.
    done.voids_rest = src.voids_rest || src.later_chunks_void() || done.error.is_some();
    gate.set_edge(i + 1, !done.voids_rest);
    let interrupted = interrupted == Stop::Requested;
    done.interrupted = interrupted;
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
    done.closed = table.take_closed();
    done.reopened = table.take_reopened();
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
        file_skipped: 0,
        interrupted: false,
        warned: FxHashSet::default(),
        write_error: None,
        servers: std::collections::VecDeque::new(),
        closed: RecentlyClosed::default(),
        reopened: FxHashMap::default(),
        endpoints: Arc::clone(&s.endpoints),
    };
    let scope = outputs.summary.scope();
    let summary = Mutex::new(std::mem::replace(&mut outputs.summary, Summary::new(scope)));
    let direct = Mutex::new(&mut *outputs);
    let gate = Gate::new(chunks.len());
    let budget = Arc::new(Budget::new(s.limits.memcap));
    let taps = Mutex::new((0..chunks.len()).map(|_| None).collect::<Vec<_>>());
    let handoffs: Vec<Mutex<Option<Summary>>> =
        (0..chunks.len()).map(|_| Mutex::new(None)).collect();
    let names_flow: Vec<AtomicBool> = (0..chunks.len()).map(|_| AtomicBool::new(false)).collect();
    let cx = Ctx {
        names_flow: &names_flow,
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
        // The names of each part of the input are learned, in order, on a
        // thread of their own: a chunk's as it is analysed once those of
        // the chunks before it are sent, the rest when it is joined.
        // Bounded: when learning falls behind, the workers and the join
        // wait, and the gate holds the workers back (the logs queued stay
        // few).
        let (names_tx, names_rx) = std::sync::mpsc::sync_channel::<NameLog>(ahead);
        for _ in 0..threads {
            let (tx, names_tx) = (tx.clone(), names_tx.clone());
            let (next, cx) = (&next, &cx);
            sc.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    // Interrupted: no new chunk is started (the next one's
                    // start cannot be proved then: its worker would wait
                    // for this answer for ever).
                    if i >= chunks.len() || cx.s.control.stopped() {
                        cx.gate.set_edge(i + 1, false);
                        break;
                    }
                    cx.gate.wait_turn(i, ahead);
                    let (d, counts) = work(cx, i, &names_tx);
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
        sc.spawn(move || {
            for log in names_rx {
                learn(log);
            }
        });
        let mut pending = BTreeMap::new();
        let mut joined = 0;
        // The rows of the chunk joined next, appended while it is analysed.
        let mut ahead: Option<Ahead> = None;
        // Appending ahead failed: the join appends the rest (from where
        // appending stopped) and meets the error again.
        let mut ahead_failed = false;
        let mut buf = Vec::new();
        loop {
            if join.keeps_rows_of(chunks, joined, &gate) {
                if let Some(flow) = names_flow.get(joined) {
                    flow.store(true, Ordering::Release);
                }
                if ahead.is_none() {
                    ahead = lock(&taps).get_mut(joined).and_then(Option::take);
                }
            }
            let d = match ahead.as_mut().filter(|_| !ahead_failed) {
                Some(a) => match rx.recv_timeout(AHEAD_EVERY) {
                    Ok(d) => d,
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                        if let Err(e) = lock(&direct).absorb_ahead(a, &mut buf) {
                            join.write_error.get_or_insert(e);
                            ahead_failed = true;
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
                // The counts it handed over and not yet added, then the
                // chunk (the rest of its names, rows and counts).
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
