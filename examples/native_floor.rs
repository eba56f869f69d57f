//! The native reader's own floor: every frame of the inputs (pcap, pcapng,
//! gzip, `-` for standard input) read as `tlsready analyze` reads them
//! (`input::offline::Files`), touching only each frame's header fields and
//! one byte of it (as a decoder would).
//!
//!     cargo run --release --example native_floor -- FILE [FILE ...]
//!
//! Prints `packets=N bytes=B` (B = sum of the wire lengths), as
//! `pcap_floor` does.
use std::path::PathBuf;
use std::process::ExitCode;

use tlsready::input::frame::{Event, FrameSource};
use tlsready::input::offline::Files;
use tlsready::input::source;

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if args.is_empty() {
        eprintln!("usage: native_floor FILE [FILE ...]");
        return ExitCode::from(2);
    }
    let inputs = match source::expand(&args) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("native_floor: {e}");
            return ExitCode::from(1);
        }
    };
    let (mut packets, mut bytes, mut sum) = (0u64, 0u64, 0u64);
    let mut files = Files::new(inputs);
    loop {
        match files.next() {
            Event::Frame(f) => {
                packets += 1;
                bytes += u64::from(f.wire_len);
                sum += u64::from(f.data.get(12).copied().unwrap_or(0));
            }
            Event::Failed(e) => {
                eprintln!("native_floor: {e}");
                return ExitCode::from(1);
            }
            Event::Warning(w) => eprintln!("native_floor: warning: {w}"),
            Event::End => break,
            _ => {}
        }
    }
    println!("packets={packets} bytes={bytes} (checksum {sum})");
    ExitCode::SUCCESS
}
