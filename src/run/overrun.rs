//! Reading past a chunk's end (the overrun): a worker reads on for the
//! connections it still follows, until none is left or time runs out.

use rustc_hash::FxHashSet;

use super::chunk::Chunk;
use super::driver::{Consumer, Driver, ReadControl};
use super::progress::NoProgress;
use crate::flow::key::FlowKey;
use crate::flow::table::FlowTable;
use crate::input::filter::FrameFilter;
use crate::input::frame::{Event, Frame, FrameSource};
use crate::input::offline::{self, Opened};

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
pub(super) fn overrun(
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
