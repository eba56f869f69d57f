//! Helpers shared by the integration tests: the binary under test, the
//! shared material beside the repository (`../shared`) and python3 (with a
//! printed reason to skip when absent), hand-built frames and TLS records,
//! and CSV rows read as column -> value maps.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A command running the `tlsready` binary under test, with an empty data
/// directory (see [`empty_data_dir`]).
pub fn tlsready() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tlsready"));
    c.env("TLSREADY_DATA_DIR", empty_data_dir());
    c
}

/// The path of the binary under test (a command running it through another
/// program sets `TLSREADY_DATA_DIR` to [`empty_data_dir`] itself).
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tlsready")
}

/// An empty data directory (`TLSREADY_DATA_DIR`) for the binary under
/// test: every run uses the built-in endpoint data, whatever the home
/// directory holds (`endpoints update` tests use data directories of their
/// own). Made once under cargo's temporary directory for tests; no run
/// writes to it.
pub fn empty_data_dir() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("empty-data-dir");
        std::fs::create_dir_all(&d).expect("create the empty data directory");
        d
    })
}

/// A file of `samples/`.
pub fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(name)
}

/// `../shared/<rel>` (the shared checkout beside the repository), or
/// `None` after printing why the calling test skips (CI has it).
pub fn shared(rel: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "skipped: {} is missing (the shared checkout ../shared sits beside the repository in CI)",
            p.display()
        );
        None
    }
}

/// Whether python3 runs; if not, prints why the calling test skips.
pub fn python3() -> bool {
    let ok = Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipped: python3 is not installed (CI has it)");
    }
    ok
}

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

/// The records (header and frame) of a classic little-endian pcap file's
/// bytes.
pub fn records(data: &[u8]) -> Vec<&[u8]> {
    assert_eq!(&data[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian pcap");
    let mut recs = Vec::new();
    let mut at = 24;
    while at + 16 <= data.len() {
        let caplen = u32::from_le_bytes(data[at + 8..at + 12].try_into().expect("4")) as usize;
        recs.push(&data[at..at + 16 + caplen]);
        at += 16 + caplen;
    }
    recs
}
