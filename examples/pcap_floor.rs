//! The throughput floor for issue 7: the barest libpcap read loop (`pcap_next_ex` through
//! the `pcap` crate), touching nothing but each packet header. `tlsready analyze` is measured
//! against this on the same file (see `bench/run.sh`).
//!
//!     cargo run --release --example pcap_floor -- FILE [FILE ...]
//!
//! Prints `packets=N bytes=B` (B = sum of the original wire lengths, `header.len`).
use std::process::ExitCode;

fn main() -> ExitCode {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        eprintln!("usage: pcap_floor FILE [FILE ...]");
        return ExitCode::from(2);
    }
    let (mut packets, mut bytes) = (0u64, 0u64);
    for path in &paths {
        let mut cap = match pcap::Capture::from_file(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("pcap_floor: {path}: {e}");
                return ExitCode::from(1);
            }
        };
        loop {
            match cap.next_packet() {
                Ok(p) => {
                    packets += 1;
                    bytes += u64::from(p.header.len);
                }
                Err(pcap::Error::NoMorePackets) => break,
                Err(e) => {
                    eprintln!("pcap_floor: {path}: {e}");
                    return ExitCode::from(1);
                }
            }
        }
    }
    println!("packets={packets} bytes={bytes}");
    ExitCode::SUCCESS
}
