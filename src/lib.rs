//! tlsready: find the clients that still talk TLS below 1.2 to Microsoft 365,
//! passively, from packet captures or a live interface.
//!
//! The library follows the data flow, one module per stage:
//!
//! 1. [`source`]: capture files (pcap, pcapng, gzip, stdin, directories) via libpcap;
//!    [`capture`]: live capture.
//! 2. [`decode`]: link, IP and TCP headers of a frame; [`wire`]: the parsers of
//!    what frames carry (802.11, radiotap, PPI, NFLOG, tunnels and shim headers);
//!    [`flow::defrag`]: IP fragment reassembly.
//! 3. [`reassembly`]: per-direction TCP byte streams.
//! 4. [`tls`] and [`starttls`]: handshake facts, and the plaintext mail dialogue before STARTTLS.
//! 5. [`conn`]: one connection's state; [`analyzer`]: the flow table driving it all;
//!    [`pipeline`]: reading and analysis on two threads.
//! 6. [`m365`]: Microsoft 365 endpoint recognition; [`fingerprint`]: JA4/JA3.
//! 7. [`record`]: the per-connection row; [`tally`]: per-client verdicts;
//!    [`report`], [`summary`] and [`outputs`]: CSV, JSON and terminal output.

#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod analyzer;
pub mod capture;
pub mod conn;
pub mod decode;
pub mod fingerprint;
pub mod m365;
pub mod outputs;
pub mod parallel;
pub mod pipeline;
pub mod reassembly;
pub mod record;
pub mod report;
pub mod source;
pub mod split;
pub mod starttls;
pub mod summary;
pub mod tally;
pub mod tls;

/// Pure parsers of what frames carry (issue #12 moves `decode` here too).
pub mod wire {
    pub mod encap;
    pub mod ieee80211;
    pub mod nflog;
    pub mod ppi;
    pub mod radiotap;
    pub mod tunnel;
}

/// Flow state (issue #12 moves the flow table here too).
pub mod flow {
    pub mod defrag;
}
