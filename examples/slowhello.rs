//! Writes a capture of unfinished handshakes for the memory-budget
//! benchmark (bench/run.sh --mode memcap): N connections, each a SYN then
//! about 60 KiB of a ClientHello that never completes (61,440 bytes of a
//! handshake message in four TLS records, its last 4 bytes never sent; the
//! server never answers), or with `--ooo` 60 KiB of data behind a missing first segment
//! (out of order: nothing can be delivered until the hole is given up).
//!
//! Connections are interleaved in rounds of 1,000 (SYNs, then each record
//! of each connection in turn), so that many are unfinished at once, as in
//! a slow-handshake flood; 1 ms of capture time between frames.
//!
//! usage: slowhello OUT.pcap N [--ooo]

#[path = "common/pcap.rs"]
mod pcap;
use pcap::{Pcap, frame};

/// Bytes of the handshake message announced (never completed).
const HS_LEN: usize = 61_440;
/// Records the message is sent in (the last one is never sent).
const RECORDS: usize = 4;
/// Payload bytes per TCP segment.
const MSS: usize = 1460;
/// Connections open at once.
const ROUND: u64 = 1_000;

/// The client's byte stream: a ClientHello header announcing `HS_LEN`
/// bytes of body, then filler, the first `HS_LEN` bytes of the message
/// cut into `RECORDS` records of 15,360 bytes (the message never ends).
fn stream() -> Vec<Vec<u8>> {
    let per = HS_LEN / RECORDS;
    let mut msg = vec![1u8, (HS_LEN >> 16) as u8, (HS_LEN >> 8) as u8, HS_LEN as u8];
    msg.extend_from_slice(&[0x03, 0x03]);
    msg.resize(4 + HS_LEN, 0x41);
    let msg = &msg[..HS_LEN];
    (0..RECORDS)
        .map(|r| {
            let body = &msg[r * per..(r + 1) * per];
            let mut rec = vec![0x16, 0x03, 0x01, (body.len() >> 8) as u8, body.len() as u8];
            rec.extend_from_slice(body);
            rec
        })
        .collect()
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(out), Some(n)) = (args.get(1), args.get(2).and_then(|n| n.parse::<u64>().ok()))
    else {
        eprintln!("usage: slowhello OUT.pcap N [--ooo]");
        std::process::exit(2);
    };
    let ooo = args.iter().any(|a| a == "--ooo");
    let mut w = Pcap::create(out)?;
    let records = stream();
    // The four records (61,460 bytes; the message's last 4 bytes are
    // never sent); out of order, all but the first segment.
    let sent: Vec<u8> = records.concat();
    let segments: Vec<(usize, &[u8])> = sent
        .chunks(MSS)
        .enumerate()
        .map(|(i, c)| (i * MSS, c))
        .filter(|(i, _)| !ooo || *i != 0)
        .collect();
    let server = [52, 96, 0, 1];
    let mut ts: u64 = 0;
    let mut write = |f: &[u8]| -> std::io::Result<()> {
        ts += 1_000;
        w.write(ts, f)
    };
    let client = |i: u64| {
        (
            [10, (i >> 16) as u8, (i >> 8) as u8, i as u8],
            1024 + (i % 60_000) as u16,
        )
    };
    let isn = 1000u32;
    let mut first = 0;
    while first < n {
        let last = (first + ROUND).min(n);
        for i in first..last {
            let (c, p) = client(i);
            write(&frame(c, p, server, 443, isn, 0x02, &[]))?;
        }
        for (off, data) in &segments {
            for i in first..last {
                let (c, p) = client(i);
                let seq = isn + 1 + *off as u32;
                write(&frame(c, p, server, 443, seq, 0x18, data))?;
            }
        }
        first = last;
    }
    w.finish()
}
