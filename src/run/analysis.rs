//! The flow table as the driver's [`Consumer`]: frames are analysed, input
//! errors reported, and (on one reader) the name traffic learned as the
//! table's log fills.

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
    /// Takes the table's name log each time it is half full: a run read by
    /// one reader keeps every name, not only what one log holds. `None`:
    /// the log is taken whole at the end (a chunk's, bounded per chunk and
    /// learned at the join) or drained by the caller (live capture).
    pub learn: Option<&'t mut dyn FnMut(NameLog)>,
}

impl Consumer for Analysis<'_, '_> {
    #[inline]
    fn frame(&mut self, f: &Frame<'_>) -> bool {
        let save = self.table.frame(f.link, f.ts_us, f.data, f.wire_len);
        if let Some(learn) = self.learn.as_deref_mut()
            && self.table.names_half_full()
            && let Some(log) = self.table.drain_names()
        {
            learn(log);
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
