//! Writes a capture of a SYN flood for the resource-bound benchmark
//! (bench/flood.sh): N SYN-only connections from distinct source
//! addresses and ports, plus a few real-looking TLS ClientHellos spread
//! through it (so the test can check that rows are still reported).
//!
//! usage: synflood OUT.pcap N

#[path = "common/pcap.rs"]
mod pcap;
use pcap::{Pcap, frame};

/// A minimal TLS 1.0 ClientHello record (no extensions).
fn client_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x01];
    body.extend_from_slice(&[7u8; 32]);
    body.extend_from_slice(&[0, 0, 2, 0x00, 0x2f, 1, 0]);
    let mut hs = vec![1, 0, 0, body.len() as u8];
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 0x03, 0x01, 0, hs.len() as u8];
    rec.extend_from_slice(&hs);
    rec
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(out), Some(n)) = (args.get(1), args.get(2).and_then(|n| n.parse::<u64>().ok()))
    else {
        eprintln!("usage: synflood OUT.pcap N");
        std::process::exit(2);
    };
    let mut w = Pcap::create(out)?;
    let ch = client_hello();
    let server = [52, 96, 0, 1];
    let mut write = |ts: u64, f: &[u8]| w.write(ts, f);
    for i in 0..n {
        // 100 000 SYNs per second of capture time.
        let ts = i * 10;
        let src = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
        let sport = 1024 + (i % 60_000) as u16;
        write(ts, &frame(src, sport, server, 443, 1000, 0x02, &[]))?;
        if i % 1_000_000 == 0 {
            // A real client among the flood: SYN then a ClientHello.
            let c = [192, 168, (i >> 20) as u8, 1];
            write(ts + 1, &frame(c, 40000, server, 443, 1000, 0x02, &[]))?;
            // Data starts after the SYN's sequence number.
            write(ts + 2, &frame(c, 40000, server, 443, 1001, 0x18, &ch))?;
        }
    }
    w.finish()
}
