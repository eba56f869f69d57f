//! One memory budget (`--memcap`) for every byte the analysis buffers,
//! shared by all threads of a run.
//!
//! Each connection is charged a fixed estimate of what tracking it costs
//! (its table entry and state) plus the memory its buffers hold
//! (out-of-order segments, partial TLS records and handshake messages,
//! plaintext kept while looking for a hello, mail dialogue lines),
//! rounded up to [`STEP`] bytes so that the shared counter changes only
//! when a buffer grows or shrinks by a step. When the budget is exceeded
//! the flow table sheds connections (see [`crate::flow::table`]).

use std::sync::atomic::{AtomicUsize, Ordering};

/// Default budget: 256 MiB.
pub const DEFAULT_MEMCAP: usize = 256 << 20;

/// Buffer memory is charged in steps of this many bytes.
pub const STEP: usize = 4096;

/// What tracking one connection costs besides its buffers: the boxed
/// connection, its table slot (with room for the tombstones evictions
/// leave) and facts so far (hellos parsed, names).
pub const CONN_COST: usize = 1024;

/// The run's budget: bytes charged so far against a cap.
#[derive(Debug)]
pub struct Budget {
    cap: usize,
    used: AtomicUsize,
}

impl Budget {
    /// A budget of `cap` bytes.
    pub fn new(cap: usize) -> Self {
        Budget {
            cap: cap.max(1),
            used: AtomicUsize::new(0),
        }
    }

    /// The cap, in bytes.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Bytes charged now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Moves a charge from `old` to `new` bytes; true when the budget is
    /// now exceeded (only checked when the charge grows).
    #[inline]
    pub fn recharge(&self, old: usize, new: usize) -> bool {
        if new > old {
            let before = self.used.fetch_add(new - old, Ordering::Relaxed);
            before + (new - old) > self.cap
        } else {
            if new < old {
                self.used.fetch_sub(old - new, Ordering::Relaxed);
            }
            false
        }
    }

    /// True when the budget is exceeded.
    pub fn over(&self) -> bool {
        self.used() > self.cap
    }

    /// How far above `fraction_percent` of the cap the charge is (bytes).
    pub fn above(&self, percent: usize) -> usize {
        self.used().saturating_sub(self.cap / 100 * percent)
    }
}

impl Default for Budget {
    fn default() -> Self {
        Budget::new(DEFAULT_MEMCAP)
    }
}

/// `bytes` rounded up to a whole number of [`STEP`]s.
#[inline]
pub fn steps(bytes: usize) -> usize {
    bytes.div_ceil(STEP) * STEP
}

/// Reads a size: plain bytes, or with a binary unit (`512M`, `2G`,
/// `256MiB`, `64k`).
pub fn parse_size(s: &str) -> Result<usize, String> {
    let n = parse_size::Config::new()
        .with_binary()
        .parse_size(s.trim())
        .map_err(|e| format!("bad size {s:?}: {e} (e.g. 512M, 2G, 268435456)"))?;
    usize::try_from(n).map_err(|_| format!("size {s:?} too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("256MiB"), Ok(256 << 20));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn charges_add_up() {
        let b = Budget::new(10_000);
        assert!(!b.recharge(0, steps(1)));
        assert_eq!(b.used(), STEP);
        assert!(b.recharge(STEP, 3 * STEP));
        assert!(b.over());
        assert!(!b.recharge(3 * STEP, 0));
        assert_eq!(b.used(), 0);
    }
}
