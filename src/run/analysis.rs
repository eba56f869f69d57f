//! The flow table as the driver's [`Consumer`]: frames are analysed, input
//! errors reported, and the name traffic handed on as the table's log
//! fills (where the run learns it as it goes).

use std::sync::atomic::{AtomicBool, Ordering};

use super::driver::Consumer;
use crate::flow::names::NameLog;
use crate::flow::table::FlowTable;
use crate::input::frame::{Dropped, Frame};
use crate::input::source::Problem;

/// The flow table fed by the driver.
pub struct Analysis<'t, 'o> {
    /// The table.
    pub table: &'t mut FlowTable<'o>,
    /// Where input errors go (already formatted, naming the input).
    pub report: &'t mut dyn FnMut(Problem),
    /// Where the table's name log goes as it fills. `None`: the log is
    /// taken whole at the end or drained by the caller (live capture).
    pub learn: Option<Learn<'t>>,
}

/// Where a table's name log goes as it fills: a run read by one reader
/// keeps every name, not only what one log holds; a chunk's names are
/// learned while it is analysed, once those of the chunks before it are.
pub struct Learn<'t> {
    /// Takes the log.
    pub take: &'t mut dyn FnMut(NameLog),
    /// Bytes the log holds before it is taken.
    pub at: usize,
    /// Taken only once this is set; `None`: at once.
    pub when: Option<&'t AtomicBool>,
}

impl Consumer for Analysis<'_, '_> {
    #[inline]
    fn frame(&mut self, f: &Frame<'_>) -> bool {
        let save = self.table.frame(f.link, f.ts_us, f.data, f.wire_len);
        if let Some(l) = self.learn.as_mut()
            && self.table.names_bytes() >= l.at
            && l.when.is_none_or(|w| w.load(Ordering::Acquire))
            && let Some(log) = self.table.drain_names()
        {
            (l.take)(log);
        }
        save
    }

    #[inline]
    fn dropped(&mut self, d: &Dropped) {
        self.table.skipped(d.frames, d.bytes, d.not_tcp, d.last_ts);
    }

    fn failed(&mut self, msg: String) {
        (self.report)(Problem::Error(msg));
    }

    fn warning(&mut self, msg: String) {
        (self.report)(Problem::Warning(msg));
    }

    #[inline]
    fn done(&self) -> bool {
        self.table.failed()
    }
}
