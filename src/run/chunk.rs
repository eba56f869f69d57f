//! A chunk of a capture file, and what its worker hands to the join.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};

use super::rows::{Continued, Held};
use crate::enrich::identity::server_names::ServerNames;
use crate::flow::closed::RecentlyClosed;
use crate::flow::key::FlowKey;
use crate::flow::names::NameLog;
use crate::flow::table::Owned;
use crate::input::layout::Layout;
use crate::input::offline::ChunkSource;
use crate::input::source::SourceError;
use crate::model::row::ConnRecord;
use crate::model::stats::Stats;
use crate::output::Outputs;
use crate::output::summary::Summary;

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
    pub(super) fn first_of_file(&self) -> bool {
        self.start == self.layout.first_record()
    }

    pub(super) fn open(&self) -> Result<ChunkSource, SourceError> {
        ChunkSource::open(&self.path, self.start, self.end)
    }
}

/// One chunk analysed.
pub(super) struct Done {
    pub(super) index: usize,
    pub(super) outputs: Option<Outputs>,
    pub(super) held: Vec<Held>,
    /// Rows of the connections handed off, due unless a later chunk
    /// reports them.
    pub(super) deferred: Vec<Held>,
    /// Connections first seen mid-stream with nothing to report.
    pub(super) continued: Vec<Continued>,
    /// Connections tracked at the end of the chunk, with their latest
    /// packet time.
    pub(super) owned: FxHashMap<FlowKey, Owned>,
    /// Of those, the ones handed over to the next chunk unreported.
    pub(super) handed_off: FxHashSet<FlowKey>,
    pub(super) stats: Stats,
    /// Records read in the chunk itself.
    pub(super) packets: u64,
    /// Of them: skipped (interfaces whose link type is not decoded).
    pub(super) skipped: u64,
    /// The run was stopped (Ctrl-C) while this chunk was read.
    pub(super) interrupted: bool,
    /// A read error (message) after `packets` records, or an open error.
    pub(super) error: Option<ChunkError>,
    /// The later chunks of this file are void: the next one's start was
    /// not a record's (this worker read the rest of the file instead),
    /// interfaces changed, or a read error stopped the file here.
    pub(super) voids_rest: bool,
    /// Counts still to add to the run's summary when joining.
    pub(super) summary: Option<Summary>,
    /// Warnings of the chunk's reader (skipped interfaces), naming the file.
    pub(super) warnings: Vec<String>,
    pub(super) write_error: Option<io::Error>,
    /// The chunk's name traffic (its own records, not the overrun's).
    pub(super) names: NameLog,
    /// Rows without SNI for the join to name from DNS answers.
    pub(super) unresolved: Vec<ConnRecord>,
    /// The DNS answers the chunk saw (its overrun's too).
    pub(super) servers: ServerNames,
    /// Connections closed lately at the chunk's end (its overrun's too).
    pub(super) closed: RecentlyClosed,
    /// Connections of `owned` its overrun left to the next chunk at their
    /// SYN seen again: the next chunk reports them.
    pub(super) reopened: Vec<FlowKey>,
}

pub(super) enum ChunkError {
    Open(SourceError),
    Read(String),
}
