//! Finished connections to rows: each connection's facts become a row
//! ([`crate::enrich::row::build`]) written to the run's [`Sink`]. In chunk
//! mode, rows of connections first seen mid-stream are held back instead,
//! as the chunk before may own them (see [`super::chunked`]).
//!
//! DNS answers pass here too: a row without SNI takes the name its client
//! resolved for the server ([`row::resolve`]). In chunk mode a row that
//! found no answer its own client received is held back as well: an
//! earlier chunk may hold it, and the join looks again.
//!
//! In a live capture ([`Rows::named`]) each row also gets its client's name
//! as known when it is written, and each report names the clients with
//! everything learned so far.

use std::cell::Cell;
use std::io;
use std::sync::Arc;

use super::names::Learner;
use crate::enrich::identity::server_names::{Resolved, ServerNames};
use crate::enrich::m365::Endpoints;
use crate::enrich::row;
use crate::flow::conn::Connection;
use crate::flow::key::FlowKey;
use crate::flow::table::Finished;
use crate::model::row::{ConnRecord, RowName};
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
    /// Opened by a SYN with this sequence number just after the chunk's
    /// start ([`Connection::near_cut`]): dropped if it repeats a connection
    /// an earlier chunk followed (a copy); else first seen mid-stream.
    pub syn: Option<u32>,
}

/// Endpoint data that classifies a live capture's rows from now on (a
/// newer stored update taken up), and its description for the sink.
pub struct Replacement {
    /// The data.
    pub endpoints: Arc<Endpoints>,
    /// What the summary says of it.
    pub description: String,
}

/// A connection first seen mid-stream in a chunk, with nothing to report:
/// its packets count into the row of the connection the chunk before
/// handed over, if it is that one.
#[derive(Debug, Clone, Copy)]
pub struct Continued {
    /// The connection's canonical key.
    pub key: FlowKey,
    /// Packets counted in this chunk.
    pub packets: u64,
    /// Its latest packet.
    pub last_ts: i64,
}

/// Builds rows and writes them to a sink; keeps the first write error.
pub struct Rows<'s> {
    endpoints: Arc<Endpoints>,
    sink: &'s mut dyn Sink,
    held: Option<Vec<Held>>,
    /// Rows of connections handed over to the next chunk (chunk mode).
    deferred: Vec<Held>,
    /// Connections first seen mid-stream with nothing to report (chunk
    /// mode): perhaps the rest of one the chunk before handed over.
    continued: Vec<Continued>,
    /// Rows without SNI whose server name an earlier chunk may know
    /// (chunk mode).
    unresolved: Vec<ConnRecord>,
    /// Server names from the DNS answers seen so far.
    servers: ServerNames,
    error: Option<io::Error>,
    /// Where a replacement of the endpoint data waits for the next tick.
    next: Option<&'s Cell<Option<Replacement>>>,
    /// A live capture's names.
    names: Option<&'s Learner>,
}

impl<'s> Rows<'s> {
    /// Rows classified with `endpoints`, written to `sink`.
    pub fn new(endpoints: Arc<Endpoints>, sink: &'s mut dyn Sink) -> Self {
        Rows {
            endpoints,
            sink,
            held: None,
            deferred: Vec::new(),
            continued: Vec::new(),
            unresolved: Vec::new(),
            servers: ServerNames::default(),
            error: None,
            next: None,
            names: None,
        }
    }

    /// Live capture: each row names its client as `names` knows it when
    /// the row is written; each report names the clients with all of it.
    pub fn named(mut self, names: &'s Learner) -> Self {
        self.names = Some(names);
        self
    }

    /// Live capture: the endpoint data put in `slot` replaces the rows'
    /// at the next [`Finished::tick`].
    pub fn replaceable(mut self, slot: &'s Cell<Option<Replacement>>) -> Self {
        self.next = Some(slot);
        self
    }

    /// Chunk mode, for a chunk that does not start the capture: rows of
    /// connections first seen mid-stream (not by a SYN), or opened by a
    /// SYN just after the chunk's start, are held back;
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

    /// Rows of connections handed over to the next chunk unreported: each
    /// is due unless a later chunk reports its connection.
    pub fn take_deferred(&mut self) -> Vec<Held> {
        std::mem::take(&mut self.deferred)
    }

    /// Connections first seen mid-stream with nothing to report.
    pub fn take_continued(&mut self) -> Vec<Continued> {
        std::mem::take(&mut self.continued)
    }

    /// Rows without SNI held back for the join to name (chunk mode).
    pub fn take_unresolved(&mut self) -> Vec<ConnRecord> {
        std::mem::take(&mut self.unresolved)
    }

    /// The server names learned from DNS answers.
    pub fn take_servers(&mut self) -> ServerNames {
        self.servers.settle();
        std::mem::take(&mut self.servers)
    }

    /// A row: named from DNS if it has no SNI, then written, or held back
    /// (chunk mode) when an earlier chunk may name it better.
    fn write(&mut self, key: &FlowKey, conn: &Connection, mut rec: ConnRecord) -> bool {
        if row::looks_up_dns(&rec) {
            self.servers.settle();
        }
        let how = row::resolve(&mut rec, &[&self.servers], &self.endpoints);
        if let Some(n) = self.names
            && rec.who.is_empty()
            && let Some(who) = n
                .client_name(rec.client_ip, rec.ts)
                .filter(|w| !w.name.is_empty() || !w.mac.is_empty())
        {
            rec.who = RowName {
                name: who.name,
                source: who.source.to_string(),
                mac: who.mac,
            };
        }
        if (conn.midstream || conn.near_cut)
            && let Some(held) = self.held.as_mut()
            && held.len() < MAX_HELD
        {
            let syn = if conn.midstream { None } else { conn.syn_isn };
            held.push(Held {
                key: *key,
                rec,
                syn,
            });
            return false;
        }
        if rec.sni.is_empty()
            && how != Some(Resolved::ByClient)
            && self.held.is_some()
            && self.unresolved.len() < MAX_HELD
        {
            self.unresolved.push(rec);
            return false;
        }
        if self.error.is_none()
            && let Err(e) = self.sink.record(&rec)
        {
            self.error = Some(e);
        }
        true
    }

    /// Chunk mode: remembers a mid-stream connection with no row.
    fn continued(&mut self, key: &FlowKey, conn: &Connection) {
        if conn.midstream && self.held.is_some() && self.continued.len() < MAX_HELD {
            self.continued.push(Continued {
                key: *key,
                packets: conn.packets,
                last_ts: conn.last_ts,
            });
        }
    }

    /// The first error the sink returned.
    pub fn take_error(&mut self) -> Option<io::Error> {
        self.error.take()
    }
}

impl Finished for Rows<'_> {
    fn finished(&mut self, key: &FlowKey, conn: &Connection) -> bool {
        let Some(rec) = row::build(conn, &self.endpoints) else {
            self.continued(key, conn);
            return false;
        };
        self.write(key, conn, rec)
    }

    fn failed(&self) -> bool {
        self.error.is_some()
    }

    fn left(&mut self, key: &FlowKey, conn: &Connection) {
        if conn.midstream && self.held.is_some() && row::build(conn, &self.endpoints).is_none() {
            self.continued(key, conn);
        }
    }

    fn deferred(&mut self, key: &FlowKey, conn: &Connection) {
        match row::build(conn, &self.endpoints) {
            Some(rec) => self.deferred.push(Held {
                key: *key,
                rec,
                syn: None,
            }),
            None => self.continued(key, conn),
        }
    }

    fn dns_answer(&mut self, ts: i64, client: std::net::IpAddr, msg: &[u8]) {
        self.servers.learn(ts, client, msg);
        if let Some(n) = self.names {
            n.answer_seen();
        }
    }

    fn interim(&mut self, stats: &Stats) {
        if let Some(n) = self.names {
            self.sink
                .name_clients(&|ip, ts| n.client_name(ip, ts), n.summary_line());
        }
        self.sink.interim_report(stats);
    }

    fn tick(&mut self) {
        if let Some(r) = self.next.and_then(Cell::take) {
            self.endpoints = r.endpoints;
            self.sink.endpoints_replaced(&r.description);
        }
        if self.error.is_none()
            && let Err(e) = self.sink.tick()
        {
            self.error = Some(e);
        }
    }
}
