//! A classic pcap writer and an Ethernet/IPv4/TCP frame builder shared by
//! the capture generators (`synflood`, `slowhello`).

use std::io::{BufWriter, Write};

/// An Ethernet II / IPv4 / TCP frame (no options, checksums zero).
pub fn frame(
    src: [u8; 4],
    sport: u16,
    dst: [u8; 4],
    dport: u16,
    seq: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + 20 + payload.len()) as u16;
    let [hi, lo] = total.to_be_bytes();
    f.extend_from_slice(&[0x45, 0, hi, lo, 0, 0, 0x40, 0, 64, 6, 0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&0u32.to_be_bytes());
    f.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

/// A classic pcap file (microseconds, snaplen 65535, Ethernet).
pub struct Pcap(BufWriter<std::fs::File>);

impl Pcap {
    /// Creates `path` and writes the file header.
    pub fn create(path: &str) -> std::io::Result<Pcap> {
        let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
        w.write_all(&[
            0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0,
            0,
        ])?;
        Ok(Pcap(w))
    }

    /// One record, `ts` µs after 2023-11-14 22:13:20 UTC.
    pub fn write(&mut self, ts: u64, f: &[u8]) -> std::io::Result<()> {
        let sec = (1_700_000_000 + ts / 1_000_000) as u32;
        let usec = (ts % 1_000_000) as u32;
        self.0.write_all(&sec.to_le_bytes())?;
        self.0.write_all(&usec.to_le_bytes())?;
        self.0.write_all(&(f.len() as u32).to_le_bytes())?;
        self.0.write_all(&(f.len() as u32).to_le_bytes())?;
        self.0.write_all(f)
    }

    /// Flushes the file.
    pub fn finish(mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}
