//! From a connection's facts to what the report says about it:
//!
//! - [`row`]: facts to row ([`crate::model::row::ConnRecord`]);
//! - [`fingerprint`]: JA4 and JA3 of a ClientHello;
//! - [`m365`]: Microsoft 365 endpoint recognition (names, prefixes, the
//!   endpoints feed, lookup and its explanation);
//! - [`tally`]: per-client verdicts over all rows;
//! - [`devices`]: the tally per device (`--group-by`);
//! - [`identity`]: passive host identity (names, MACs, vendors, OS hints).

pub mod devices;
pub mod fingerprint;
pub mod identity;
pub mod m365;
pub mod row;
pub mod tally;
