//! Where frames come from:
//!
//! - [`source`]: the command line's paths as [`source::Input`]s, and their errors;
//! - [`frame`]: [`frame::Frame`] (each with its link type) and the
//!   [`frame::FrameSource`] trait every reader implements;
//! - [`offline`]: capture files through libpcap, whole or one chunk;
//! - [`stream`]: gzip files, standard input and named pipes, through a pipe;
//! - [`live`]: an interface sniffed through libpcap;
//! - [`layout`]: how a pcap or pcapng file's records lie, to cut it into
//!   chunks (pure);
//! - [`cookie`]: the `fopencookie` stream libpcap reads a chunk through
//!   (the one piece of FFI);
//! - [`rows`]: connection rows read back from files (tlsready's own CSV and
//!   JSON lines, Zeek `ssl.log`, Suricata `eve.json`), for `tally`.

pub mod cookie;
pub mod filter;
pub mod frame;
pub mod layout;
pub mod live;
pub mod offline;
pub mod rows;
pub mod source;
pub mod stream;
