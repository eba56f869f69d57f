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

use std::sync::Arc;
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

/// One flow table's share of the run's [`Budget`]: charges are drawn from
/// the shared counter in grants of up to 1 MiB and given back past two
/// grants, so that the counter (a cache line every thread writes) changes
/// rarely. The counter is then ahead of what connections hold by at most
/// two grants per table; what is left is given back when the share is
/// dropped.
#[derive(Debug)]
pub struct Share {
    budget: Arc<Budget>,
    /// Drawn from the counter, not charged to a connection.
    spare: usize,
    grant: usize,
}

impl Share {
    /// A share of `budget`, with nothing drawn yet.
    pub fn new(budget: Arc<Budget>) -> Self {
        let grant = (budget.cap / 256).clamp(STEP, 1 << 20);
        Share {
            budget,
            spare: 0,
            grant,
        }
    }

    /// The budget shared.
    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// Moves a charge from `old` bytes to `new` bytes; true when drawing
    /// it exceeded the budget (see [`Budget::recharge`]).
    #[inline]
    pub fn recharge(&mut self, old: usize, new: usize) -> bool {
        if new > old {
            let need = new - old;
            if need <= self.spare {
                self.spare -= need;
                return false;
            }
            let draw = need - self.spare + self.grant;
            self.spare = self.grant;
            self.budget.recharge(0, draw)
        } else {
            self.spare += old - new;
            if self.spare > 2 * self.grant {
                self.budget.recharge(self.spare - self.grant, 0);
                self.spare = self.grant;
            }
            false
        }
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        self.budget.recharge(self.spare, 0);
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

    /// Shares draw from the counter in grants, stay within two grants of
    /// what they charged, see the budget exceeded, and give everything
    /// back when dropped.
    #[test]
    fn shares_draw_in_grants_and_give_back() {
        let budget = Arc::new(Budget::new(64 << 20));
        let mut a = Share::new(Arc::clone(&budget));
        let mut b = Share::new(Arc::clone(&budget));
        let grant = 64 << 20 >> 8;
        assert!(!a.recharge(0, STEP));
        assert_eq!(budget.used(), STEP + grant);
        // Within the spare: the counter does not change.
        assert!(!a.recharge(STEP, 3 * STEP));
        assert_eq!(budget.used(), STEP + grant);
        assert!(!b.recharge(0, 10 << 20));
        assert_eq!(budget.used(), STEP + grant + (10 << 20) + grant);
        // Past the cap: the draw says so.
        assert!(b.recharge(10 << 20, 70 << 20));
        assert!(budget.over());
        // Giving back keeps at most two grants aside.
        assert!(!b.recharge(70 << 20, 0));
        assert!(budget.used() <= 3 * STEP + 4 * grant);
        drop(b);
        assert!(!a.recharge(3 * STEP, 0));
        drop(a);
        assert_eq!(budget.used(), 0);
    }

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
