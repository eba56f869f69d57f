//! Connections: from decoded segments to each connection's handshake
//! facts.
//!
//! - [`key`]: the connection a segment belongs to (canonical key, hash);
//! - [`segment`]: what a segment's flags and length say (bare ACK...);
//! - [`assembler`]: per-direction TCP byte streams;
//! - [`conn`]: one connection's state and facts (TLS, mail dialogue);
//! - [`table`]: the flow table, with its limits, handing finished
//!   connections on;
//! - [`names`]: the frames that name hosts, kept for the host identity;
//! - [`defrag`]: IPv4/IPv6 fragment reassembly, bounded;
//! - [`done_filter`]: connections done, shared with a reader thread.
//! - [`closed`]: connections closed lately, whose copies are not new ones.

pub mod assembler;
pub mod budget;
pub mod closed;
pub mod conn;
pub mod defrag;
pub mod done_filter;
pub mod key;
pub mod names;
pub mod segment;
pub mod table;
