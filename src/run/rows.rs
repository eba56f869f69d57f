//! Finished connections to rows: each connection's facts become a row
//! ([`crate::enrich::row::build`]) written to the run's [`Sink`]. In chunk
//! mode, rows of connections first seen mid-stream are held back instead,
//! as the chunk before may own them (see [`super::chunked`]).

use std::cell::Cell;
use std::io;
use std::sync::Arc;

use crate::enrich::m365::Endpoints;
use crate::enrich::row;
use crate::flow::conn::Connection;
use crate::flow::key::FlowKey;
use crate::flow::table::Finished;
use crate::model::row::ConnRecord;
use crate::model::sink::Sink;
use crate::model::stats::Stats;

/// Rows held back at most; past this they are written at once.
pub const MAX_HELD: usize = 1 << 16;

/// A row held back in chunk mode, with its connection's key.
#[derive(Debug)]
pub struct Held {
    /// The connection's canonical key.
    pub key: FlowKey,
    /// The row.
    pub rec: ConnRecord,
}

/// Endpoint data that classifies a live capture's rows from now on (a
/// newer stored update taken up), and its description for the sink.
pub struct Replacement {
    /// The data.
    pub endpoints: Arc<Endpoints>,
    /// What the summary says of it.
    pub description: String,
}

/// Builds rows and writes them to a sink; keeps the first write error.
pub struct Rows<'s> {
    endpoints: Arc<Endpoints>,
    sink: &'s mut dyn Sink,
    held: Option<Vec<Held>>,
    error: Option<io::Error>,
    /// Where a replacement of the endpoint data waits for the next tick.
    next: Option<&'s Cell<Option<Replacement>>>,
}

impl<'s> Rows<'s> {
    /// Rows classified with `endpoints`, written to `sink`.
    pub fn new(endpoints: Arc<Endpoints>, sink: &'s mut dyn Sink) -> Self {
        Rows {
            endpoints,
            sink,
            held: None,
            error: None,
            next: None,
        }
    }

    /// Live capture: the endpoint data put in `slot` replaces the rows'
    /// at the next [`Finished::tick`].
    pub fn replaceable(mut self, slot: &'s Cell<Option<Replacement>>) -> Self {
        self.next = Some(slot);
        self
    }

    /// Chunk mode, for a chunk that does not start the capture: rows of
    /// connections first seen mid-stream (not by a SYN) are held back;
    /// [`Rows::take_held`] hands them over. Past [`MAX_HELD`] rows they
    /// are written at once.
    pub fn hold_midstream(mut self) -> Self {
        self.held = Some(Vec::new());
        self
    }

    /// The rows held back so far.
    pub fn take_held(&mut self) -> Vec<Held> {
        self.held.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// The first error the sink returned.
    pub fn take_error(&mut self) -> Option<io::Error> {
        self.error.take()
    }
}

impl Finished for Rows<'_> {
    fn finished(&mut self, key: &FlowKey, conn: &Connection) -> bool {
        let Some(rec) = row::build(conn, &self.endpoints) else {
            return false;
        };
        if conn.midstream
            && let Some(held) = self.held.as_mut()
            && held.len() < MAX_HELD
        {
            held.push(Held { key: *key, rec });
            return false;
        }
        if self.error.is_none()
            && let Err(e) = self.sink.record(&rec)
        {
            self.error = Some(e);
        }
        true
    }

    fn failed(&self) -> bool {
        self.error.is_some()
    }

    fn interim(&self, stats: &Stats) {
        self.sink.interim_report(stats);
    }

    fn tick(&mut self) {
        if let Some(r) = self.next.and_then(Cell::take) {
            self.endpoints = r.endpoints;
            self.sink.endpoints_replaced(&r.description);
        }
    }
}
