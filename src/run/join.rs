//! Joining the chunks in order: the sinks a chunk's rows and counts go to
//! meanwhile, and the join itself (rows of connections an earlier chunk
//! owned dropped, rows handed over written when due).

use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rustc_hash::{FxHashMap, FxHashSet};

use super::chunk::{Chunk, ChunkError, Done};
use super::gate::{Gate, lock, start_known_good};
use crate::enrich::identity::server_names::ServerNames;
use crate::enrich::m365::Endpoints;
use crate::enrich::row;
use crate::flow::closed::{RecentlyClosed, Verdict, WAIT_US};
use crate::flow::key::FlowKey;
use crate::flow::names::NameLog;
use crate::flow::table::Owned;
use crate::input::source::{Problem, SourceError};
use crate::model::row::ConnRecord;
use crate::model::sink::Sink;
use crate::model::stats::Stats;
use crate::output::summary::Summary;
use crate::output::{Ahead, Outputs};

/// The DNS answers of this many chunks (the latest joined) name the rows
/// the join writes: rows a chunk could not name from its own client's
/// answer look back this far.
pub const RECENT_ANSWERS: usize = 4;

/// Connections left to a next chunk (see [`Join::reopened`]) kept at most.
const MAX_REOPENED: usize = 1 << 16;

/// Rows between two looks whether a chunk's counts can be handed over.
const HANDOFF_ROWS: u32 = 256;

/// The sink of a chunk that does not start its file: rows and counts to
/// its spool. The counts wait there until the chunks before prove its
/// start good; from then on they are handed to the join every
/// [`HANDOFF_ROWS`] rows (when it has taken the last), which adds them to
/// the run's summary while this chunk is still analysed: adding a chunk's
/// tally at its end took 10 to 20 ms on the benchmark, all of it at the
/// end of the run.
pub(super) struct Provisional<'a> {
    pub(super) out: &'a mut Outputs,
    pub(super) chunks: &'a [Chunk],
    pub(super) i: usize,
    pub(super) gate: &'a Gate,
    pub(super) slot: Option<&'a Mutex<Option<Summary>>>,
    pub(super) rows: u32,
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

/// Adds the counts chunk `i` handed over (see [`Provisional`]) to the
/// run's summary.
pub(super) fn take_handoff(
    handoffs: &[Mutex<Option<Summary>>],
    i: usize,
    summary: &Mutex<Summary>,
) {
    let counts = handoffs.get(i).and_then(|h| lock(h).take());
    if let Some(c) = counts {
        lock(summary).merge(&c);
    }
}

/// `owned` without the connections idle for more than `idle_us` at `now`.
pub(super) fn idle_dropped(
    mut owned: FxHashMap<FlowKey, Owned>,
    now: i64,
    idle_us: i64,
) -> FxHashMap<FlowKey, Owned> {
    owned.retain(|_, o| now.saturating_sub(o.last_ts) <= idle_us);
    owned
}

/// The sink of a chunk that starts a file: rows to `rows` (the run's
/// outputs or a spool), counts to the run's summary (the tally does not
/// depend on the order rows come in).
pub(super) struct Shared<'a> {
    pub(super) rows: &'a mut Outputs,
    pub(super) summary: &'a Mutex<Summary>,
    /// Counts made while another thread holds the run's summary (added
    /// when joining): the analysis never waits for it.
    pub(super) local: Summary,
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
pub(super) struct Join {
    pub(super) idle_us: i64,
    pub(super) stats: Stats,
    /// Connections earlier chunks tracked at their ends (the latest chunk
    /// to track one wins), while not idle.
    pub(super) owned: FxHashMap<FlowKey, Owned>,
    /// Of those, the ones handed over unreported.
    pub(super) handed_off: FxHashSet<FlowKey>,
    /// Rows of connections handed over (with the order they came in): due
    /// unless a later chunk reports the connection, written once it is no
    /// longer handed over or at the end.
    pub(super) deferred: FxHashMap<FlowKey, (u64, ConnRecord)>,
    pub(super) deferred_seq: u64,
    /// A worker read the rest of this file: its later chunks are void.
    pub(super) skip_rest_of: Option<PathBuf>,
    /// Records of the current file joined so far (for error messages).
    pub(super) file_packets: u64,
    /// Of them: skipped (interfaces whose link type is not decoded).
    pub(super) file_skipped: u64,
    /// A chunk was stopped (Ctrl-C): files were not read to their end.
    pub(super) interrupted: bool,
    /// Warnings given (each chunk of a file may meet the same interface).
    pub(super) warned: FxHashSet<String>,
    pub(super) write_error: Option<io::Error>,
    /// The DNS answers of the latest chunks joined ([`RECENT_ANSWERS`]):
    /// rows the join writes take their server names from these.
    pub(super) servers: std::collections::VecDeque<ServerNames>,
    /// Connections the chunks joined so far closed lately: a row a later
    /// chunk holds of a copy of one is dropped.
    pub(super) closed: RecentlyClosed,
    /// Connections an overrun left to the next chunk at their SYN seen
    /// again, as tracked at the cut: the next chunk's row takes their
    /// first packet's time and counts.
    pub(super) reopened: FxHashMap<FlowKey, Owned>,
    pub(super) endpoints: Arc<Endpoints>,
}

impl Join {
    /// Joins chunk `d` (the next in order), unless it is void: the rest of
    /// its name traffic to `names` (what it sent as it went came first),
    /// the rest of its rows (past those appended ahead, `ahead`), then the
    /// rows the join decides on, and its counts.
    pub(super) fn add(
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
            self.file_skipped = 0;
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
        // A row the join writes: named from the latest chunks' answers.
        let (stats, write_error, endpoints) =
            (&mut self.stats, &mut self.write_error, &self.endpoints);
        let mut write = |mut rec: ConnRecord| {
            row::resolve(&mut rec, &servers, endpoints);
            stats.rows += 1;
            if let Err(e) = outputs.record(&rec) {
                write_error.get_or_insert(e);
            }
        };
        for rec in std::mem::take(&mut d.unresolved) {
            write(rec);
        }
        for mut h in d.held {
            if let Some(isn) = h.syn {
                // Opened just after the cut: a copy of a connection an
                // earlier chunk closed, or followed to its end with this
                // SYN's number and last seen within TIME-WAIT, is dropped,
                // a new connection written. (Whether it closed since is
                // not always known here; the same SYN later than that is a
                // new connection for one reader when it did: a looped
                // replay of the same packets.)
                let followed =
                    |o: &Owned| o.isn == Some(isn) && h.rec.ts.saturating_sub(o.last_ts) <= WAIT_US;
                let copy = self.closed.check(&h.key, Some(isn), h.rec.ts) == Verdict::Copy
                    || self.owned.get(&h.key).is_some_and(followed);
                if !copy {
                    if let Some(o) = self.reopened.remove(&h.key).filter(|o| o.isn == Some(isn)) {
                        h.rec.ts = o.first_ts;
                        h.rec.packets += o.packets;
                    }
                    write(h.rec);
                }
                continue;
            }
            let mut handed = false;
            if let Some(o) = self.owned.get(&h.key) {
                if self.handed_off.contains(&h.key) {
                    // Started in the chunk before, data only in this one:
                    // this row replaces the one due for the chunk before.
                    h.rec.ts = o.first_ts;
                    h.rec.packets += o.packets;
                    self.deferred.remove(&h.key);
                    handed = true;
                } else if h.rec.ts.saturating_sub(o.last_ts) <= self.idle_us {
                    // The chunk before reported it (or had nothing to report).
                    continue;
                }
            }
            // (Also past an earlier connection on these ports long idle.)
            if !handed && self.closed.check(&h.key, None, h.rec.ts) == Verdict::Copy {
                // Copies of a connection an earlier chunk closed.
                continue;
            }
            write(h.rec);
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
        self.closed.absorb(std::mem::take(&mut d.closed));
        self.stats.add(&d.stats);
        let label = c.path.display().to_string();
        for w in d.warnings {
            if self.warned.insert(w.clone()) {
                report(Problem::Warning(w));
            }
        }
        let failed = d.error.is_some();
        match d.error {
            Some(ChunkError::Open(e)) => report(Problem::Error(e.to_string())),
            Some(ChunkError::Read(msg)) => report(Problem::Error(
                SourceError::Truncated(label.clone(), self.file_packets + d.packets, msg)
                    .to_string(),
            )),
            None => {}
        }
        self.file_packets += d.packets;
        self.file_skipped += d.skipped;
        self.interrupted |= d.interrupted;
        let file_ends = d.voids_rest || chunks.get(d.index + 1).is_none_or(Chunk::first_of_file);
        // (A stopped run did not read the file to its end.)
        if file_ends
            && !failed
            && !self.interrupted
            && self.file_packets > 0
            && self.file_skipped == self.file_packets
        {
            report(Problem::Error(
                SourceError::NothingDecoded(label, self.file_packets).to_string(),
            ));
        }
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
            for (k, mut o) in d.owned {
                // First seen mid-stream here, the connection an earlier
                // chunk saw open (not idle since) goes on: it keeps that
                // SYN's sequence number, so that its copies after a later
                // cut are known (this chunk may not see it close).
                if o.isn.is_none()
                    && let Some(prev) = self.owned.get(&k)
                    && o.first_ts.saturating_sub(prev.last_ts) <= self.idle_us
                {
                    o.isn = prev.isn;
                }
                self.owned.insert(k, o);
            }
            if let Some(now) = now {
                self.owned = idle_dropped(std::mem::take(&mut self.owned), now, self.idle_us);
            }
        }
        // Left to the next chunk at their SYN seen again: its row stands,
        // from the connection's first packet.
        if self.reopened.len() > MAX_REOPENED {
            self.reopened.clear();
        }
        for k in &d.reopened {
            if let Some(o) = self.owned.remove(k) {
                self.reopened.insert(*k, o);
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
    pub(super) fn keeps_rows_of(&self, chunks: &[Chunk], i: usize, gate: &Gate) -> bool {
        let Some(c) = chunks.get(i) else {
            return false;
        };
        self.write_error.is_none()
            && (c.first_of_file()
                || (self.skip_rest_of.as_ref() != Some(&c.path) && gate.edge_now(i) == Some(true)))
    }

    /// Writes the deferred rows of the connections `due` says, in the
    /// order they came.
    pub(super) fn write_deferred(
        &mut self,
        outputs: &mut Shared<'_>,
        due: impl Fn(&FlowKey) -> bool,
    ) {
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
