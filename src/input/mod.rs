//! Where frames come from:
//!
//! - [`source`]: the command line's paths as [`source::Input`]s, and their errors;
//! - [`frame`]: [`frame::Frame`] (each with its link type) and the
//!   [`frame::FrameSource`] trait every reader implements;
//! - [`offline`]: capture files (pcap, pcapng, gzip, standard input, named
//!   pipes), whole or one chunk, read by [`native`] (pcap and pcapng
//!   records, without libpcap) over a [`window`] (the input read into a
//!   buffer);
//! - [`live`]: an interface sniffed through libpcap;
//! - [`layout`]: how a pcap or pcapng file's records lie, to cut it into
//!   chunks (pure);
//! - [`filter`]: BPF expressions compiled by libpcap, run on each frame;
//! - [`rows`]: connection rows read back from files (tlsready's own CSV and
//!   JSON lines, Zeek `ssl.log`, Suricata `eve.json`), for `tally`;
//! - `mapped` (Unix): row files mapped into memory.

pub mod filter;
pub mod frame;
pub mod layout;
pub mod live;
#[cfg(unix)]
pub mod mapped;
pub mod native;
pub mod offline;
pub mod rows;
pub mod source;
pub mod window;
