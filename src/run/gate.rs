//! How the threads of a chunked run wait for each other (a worker for its
//! turn, and for the chunks before it to reach their ends) and learn
//! whether a chunk's start is good.

use std::sync::{Condvar, Mutex, MutexGuard};

use super::chunk::Chunk;

/// Where the threads of a run wait for each other.
pub(super) struct Gate {
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
    pub(super) fn new(chunks: usize) -> Self {
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
    pub(super) fn set_edge(&self, i: usize, good: bool) {
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
    pub(super) fn edge_now(&self, i: usize) -> Option<bool> {
        self.lock().edges.get(i).copied().flatten()
    }

    /// Waits until chunk `i` is fewer than `ahead` chunks ahead of the join.
    pub(super) fn wait_turn(&self, i: usize, ahead: usize) {
        let mut st = self.lock();
        while i >= st.joined.saturating_add(ahead) {
            st = self.turn.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// One more chunk joined.
    pub(super) fn joined_one(&self) {
        self.lock().joined += 1;
        self.turn.notify_all();
    }

    /// Releases every waiting worker (the run stops early).
    pub(super) fn open_all(&self) {
        self.lock().joined = usize::MAX / 2;
        self.turn.notify_all();
    }
}

/// Answers "no" about the next chunk's start unless answered before: a
/// chunk that ends early (or whose worker fails) voids the next.
pub(super) struct EdgeGuard<'a>(pub(super) &'a Gate, pub(super) usize);

impl Drop for EdgeGuard<'_> {
    fn drop(&mut self) {
        self.0.set_edge(self.1, false);
    }
}

/// The edges that make chunk `i`'s start good: those of the chunks after
/// the first of its file, up to `i`.
fn edges_before(chunks: &[Chunk], i: usize) -> std::ops::RangeInclusive<usize> {
    let first = (0..=i)
        .rev()
        .find(|&j| chunks.get(j).is_some_and(Chunk::first_of_file))
        .unwrap_or(0);
    (first + 1)..=i
}

/// Whether the chunks before `i` in its file are known to have ended
/// exactly where the next starts (without waiting: false while unknown).
pub(super) fn start_known_good(chunks: &[Chunk], i: usize, gate: &Gate) -> bool {
    edges_before(chunks, i).all(|k| gate.edge_now(k) == Some(true))
}

/// Waits until the chunks before `i` in its file have read up to their
/// ends; true when each ended exactly where the next starts (chunk `i`'s
/// start, and those before it, are good).
pub(super) fn start_is_good(chunks: &[Chunk], i: usize, gate: &Gate) -> bool {
    edges_before(chunks, i).all(|k| gate.edge(k))
}

/// Locks `m`, also after a thread panicked holding it.
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
