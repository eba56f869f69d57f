//! tlsready: find the clients that still talk TLS below 1.2 to Microsoft 365,
//! passively, from packet captures or a live interface.
//!
//! The modules follow the data, and depend only on those after them:
//!
//! 1. [`run`]: one packet loop (a driver over a frame source), configured
//!    inline, pipelined (a reader thread), chunked (files cut into chunks
//!    analysed at once) or live;
//! 2. [`input`]: where frames come from: capture files, gzip and streams,
//!    live capture, and how a file is cut into chunks;
//! 3. [`wire`]: pure parsers: link/IP/TCP headers, TLS records and
//!    hellos, the mail dialogue before STARTTLS;
//! 4. [`flow`]: connections: key, TCP reassembly, each connection's
//!    facts, the flow table handing finished connections on;
//! 5. [`enrich`]: facts to rows: JA4/JA3, Microsoft 365 recognition, and
//!    the per-client tally;
//! 6. [`output`]: connections CSV, JSON lines, clients CSV, terminal
//!    summary, spooling of parts, the HTML report.
//!
//! Two leaves serve them all: [`model`] (the row, counters, the sink
//! trait, versions) and [`text`] (numbers, timestamps, safe cells,
//! escaping), with [`cache`], the bounded memo of repeated work. The
//! command line itself lives in the binary (`src/cli/`).

#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod cache;
pub mod enrich;
pub mod flow;
pub mod input;
pub mod model;
pub mod output;
pub mod run;
pub mod text;
pub mod wire;

#[cfg(test)]
mod testing;
