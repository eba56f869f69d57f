//! The flow table as the driver's [`Consumer`]: frames are analysed, input
//! errors reported.

use super::driver::Consumer;
use crate::flow::table::FlowTable;
use crate::input::frame::{Dropped, Frame};
use crate::input::source::Problem;

/// The flow table fed by the driver.
pub struct Analysis<'t, 'o> {
    /// The table.
    pub table: &'t mut FlowTable<'o>,
    /// Where input errors go (already formatted, naming the input).
    pub report: &'t mut dyn FnMut(Problem),
}

impl Consumer for Analysis<'_, '_> {
    #[inline]
    fn frame(&mut self, f: &Frame<'_>) -> bool {
        self.table.frame(f.link, f.ts_us, f.data, f.wire_len)
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
