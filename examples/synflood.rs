//! Writes a capture of a SYN flood for the resource-bound benchmark
//! (bench/flood.sh): N SYN-only connections from distinct source
//! addresses and ports, plus a few real-looking TLS ClientHellos spread
//! through it (so the test can check that rows are still reported).
//!
//! usage: synflood OUT.pcap N

use std::io::{BufWriter, Write};

fn frame(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + 20 + payload.len()) as u16;
    f.extend_from_slice(&[
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0x40,
        0,
        64,
        6,
        0,
        0,
    ]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&1000u32.to_be_bytes());
    f.extend_from_slice(&0u32.to_be_bytes());
    f.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

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
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(out)?);
    // Classic pcap header: microseconds, snaplen 65535, Ethernet.
    w.write_all(&[
        0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0,
    ])?;
    let ch = client_hello();
    let server = [52, 96, 0, 1];
    let mut write = |ts: u64, f: &[u8]| -> std::io::Result<()> {
        let sec = (1_700_000_000 + ts / 1_000_000) as u32;
        let usec = (ts % 1_000_000) as u32;
        w.write_all(&sec.to_le_bytes())?;
        w.write_all(&usec.to_le_bytes())?;
        w.write_all(&(f.len() as u32).to_le_bytes())?;
        w.write_all(&(f.len() as u32).to_le_bytes())?;
        w.write_all(f)
    };
    for i in 0..n {
        // 100 000 SYNs per second of capture time.
        let ts = i * 10;
        let src = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
        let sport = 1024 + (i % 60_000) as u16;
        write(ts, &frame(src, sport, server, 443, 0x02, &[]))?;
        if i % 1_000_000 == 0 {
            // A real client among the flood: SYN then a ClientHello.
            let c = [192, 168, (i >> 20) as u8, 1];
            write(ts + 1, &frame(c, 40000, server, 443, 0x02, &[]))?;
            let mut f = frame(c, 40000, server, 443, 0x18, &ch);
            // Data starts after the SYN's sequence number.
            f[38..42].copy_from_slice(&1001u32.to_be_bytes());
            write(ts + 2, &f)?;
        }
    }
    w.flush()
}
