//! Helpers shared by the integration tests: hand-built frames and TLS
//! records, and CSV rows read as column -> value maps.

#![allow(dead_code)] // each test file uses a subset

use std::collections::BTreeMap;

/// A CSV (or TSV) row: column -> value.
pub type Row = BTreeMap<String, String>;

/// Rows of a delimited text with a header line.
pub fn rows_from(text: &[u8], delimiter: u8) -> Vec<Row> {
    csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .from_reader(text)
        .deserialize()
        .map(|r| r.expect("CSV row"))
        .collect()
}

/// Rows of a delimited file with a header line.
pub fn read_rows(path: &std::path::Path, delimiter: u8) -> Vec<Row> {
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    rows_from(&text, delimiter)
}

/// An Ethernet II / IPv4 / TCP frame (no options, checksums left zero).
pub fn tcp_frame(
    src: [u8; 4],
    dst: [u8; 4],
    ports: (u16, u16),
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00];
    let total = (20 + 20 + payload.len()) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x40, 0, 64, 6, 0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&ports.0.to_be_bytes());
    f.extend_from_slice(&ports.1.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&ack.to_be_bytes());
    f.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

/// A TLS record of content type `ct` (record version 3.1).
pub fn record(ct: u8, body: &[u8]) -> Vec<u8> {
    let mut r = vec![ct, 3, 1];
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(body);
    r
}

/// A handshake message of type `t`.
pub fn handshake(t: u8, body: &[u8]) -> Vec<u8> {
    let len = (body.len() as u32).to_be_bytes();
    let mut m = vec![t, len[1], len[2], len[3]];
    m.extend_from_slice(body);
    m
}
