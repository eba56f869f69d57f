//! Broken captures on the command line: each gives one stderr line naming
//! the file, exit status 3, no panic, and the rows read before the damage.
//!
//! The captures are made here, from a small good one built by hand: three
//! TLS connections (SYN, SYN-ACK, ClientHello, ServerHello + ServerHelloDone)
//! over Ethernet/IPv4, one packet per 10 ms.

use std::path::{Path, PathBuf};

use crate::util::{handshake, record, tcp_frame, tlsready};

/// Exit status for a missing, unreadable, non-capture or truncated input.
const EXIT_INPUT: i32 = 3;

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH_ACK: u8 = 0x18;

struct Conn {
    client: [u8; 4],
    server: [u8; 4],
    port: u16,
    client_version: u16,
    server_version: u16,
}

const CONNS: [Conn; 3] = [
    Conn {
        client: [10, 0, 0, 1],
        server: [52, 96, 0, 1],
        port: 40001,
        client_version: 0x0301,
        server_version: 0x0301,
    },
    Conn {
        client: [10, 0, 0, 2],
        server: [52, 96, 0, 2],
        port: 40002,
        client_version: 0x0303,
        server_version: 0x0303,
    },
    Conn {
        client: [10, 0, 0, 3],
        server: [198, 51, 100, 3],
        port: 40003,
        client_version: 0x0303,
        server_version: 0x0302,
    },
];

fn client_hello(version: u16, sni: &str) -> Vec<u8> {
    let mut b = version.to_be_bytes().to_vec();
    b.extend_from_slice(&[0x11; 32]);
    b.push(0);
    b.extend_from_slice(&[0, 6, 0xc0, 0x2f, 0xc0, 0x14, 0x00, 0x2f, 1, 0]);
    let mut sni_ext = vec![0, 0];
    let name = sni.as_bytes();
    sni_ext.extend_from_slice(&((name.len() + 5) as u16).to_be_bytes());
    sni_ext.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
    sni_ext.push(0);
    sni_ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
    sni_ext.extend_from_slice(name);
    b.extend_from_slice(&(sni_ext.len() as u16).to_be_bytes());
    b.extend_from_slice(&sni_ext);
    record(22, &handshake(1, &b))
}

fn server_hello(version: u16) -> Vec<u8> {
    let mut b = version.to_be_bytes().to_vec();
    b.extend_from_slice(&[0x22; 32]);
    b.extend_from_slice(&[0, 0xc0, 0x14, 0]);
    let mut msgs = handshake(2, &b);
    msgs.extend_from_slice(&handshake(14, &[]));
    record(22, &msgs)
}

/// The frames of the good capture, in order.
fn frames() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for c in &CONNS {
        let (cp, sp) = (c.port, 443);
        let (cisn, sisn) = (1000u32, 5000u32);
        let ch = client_hello(c.client_version, "mail.example.org");
        out.push(tcp_frame(c.client, c.server, (cp, sp), cisn, 0, SYN, &[]));
        out.push(tcp_frame(
            c.server,
            c.client,
            (sp, cp),
            sisn,
            cisn + 1,
            SYN | ACK,
            &[],
        ));
        out.push(tcp_frame(
            c.client,
            c.server,
            (cp, sp),
            cisn + 1,
            sisn + 1,
            PSH_ACK,
            &ch,
        ));
        out.push(tcp_frame(
            c.server,
            c.client,
            (sp, cp),
            sisn + 1,
            cisn + 1 + ch.len() as u32,
            PSH_ACK,
            &server_hello(c.server_version),
        ));
    }
    out
}

/// A classic little-endian pcap; each record is (captured bytes, wire length).
fn pcap(records: &[(Vec<u8>, u32)]) -> Vec<u8> {
    let mut p = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
    p.extend_from_slice(&[0; 8]);
    p.extend_from_slice(&65535u32.to_le_bytes());
    p.extend_from_slice(&1u32.to_le_bytes());
    for (i, (data, len)) in records.iter().enumerate() {
        p.extend_from_slice(&1_750_000_000u32.to_le_bytes());
        p.extend_from_slice(&(i as u32 * 10_000).to_le_bytes());
        p.extend_from_slice(&(data.len() as u32).to_le_bytes());
        p.extend_from_slice(&len.to_le_bytes());
        p.extend_from_slice(data);
    }
    p
}

fn good() -> Vec<u8> {
    let recs: Vec<(Vec<u8>, u32)> = frames()
        .into_iter()
        .map(|f| {
            let n = f.len() as u32;
            (f, n)
        })
        .collect();
    pcap(&recs)
}

/// Offset of the last record's header in a pcap made by [`pcap`].
fn last_record_offset() -> usize {
    let f = frames();
    24 + f[..f.len() - 1].iter().map(|x| 16 + x.len()).sum::<usize>()
}

struct Run {
    code: i32,
    stderr: String,
    /// Rows as (client_port, status, client_version, negotiated_version).
    rows: Vec<(String, String, String, String)>,
}

fn run(dir: &Path, args: &[&Path]) -> Run {
    let csv_path = dir.join("rows.csv");
    let out = tlsready()
        .arg("analyze")
        .args(args)
        .arg("--connections")
        .arg(&csv_path)
        .arg("--quiet")
        .output()
        .expect("run tlsready");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    // The built-in endpoint data is more than 60 days old (a warning line
    // first, on every run since): not what these tests are about.
    let stderr = match stderr.split_once('\n') {
        Some((first, rest))
            if first.starts_with(
                "tlsready: warning: the Microsoft 365 endpoint data in use, built-in",
            ) =>
        {
            rest.to_string()
        }
        _ => stderr,
    };
    let mut rows = Vec::new();
    let mut rd = csv::Reader::from_path(&csv_path).expect("connections CSV written");
    let head = rd.headers().expect("CSV header").clone();
    let col = |name: &str| {
        head.iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    };
    let cols = [
        col("client_port"),
        col("status"),
        col("client_version"),
        col("negotiated_version"),
    ];
    for r in rd.records() {
        let r = r.expect("CSV row");
        let cell = |i: usize| r.get(cols[i]).unwrap_or_default().to_string();
        rows.push((cell(0), cell(1), cell(2), cell(3)));
    }
    Run {
        code: out.status.code().expect("exit code"),
        stderr,
        rows,
    }
}

fn row(
    port: u16,
    status: &str,
    client: &str,
    negotiated: &str,
) -> (String, String, String, String) {
    (
        port.to_string(),
        status.into(),
        client.into(),
        negotiated.into(),
    )
}

fn all_established() -> Vec<(String, String, String, String)> {
    vec![
        row(40001, "established", "TLS1.0", "TLS1.0"),
        row(40002, "established", "TLS1.2", "TLS1.2"),
        row(40003, "established", "TLS1.2", "TLS1.1"),
    ]
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write test file");
    p
}

/// One line on stderr, exactly.
fn assert_stderr(r: &Run, line: String) {
    assert_eq!(r.stderr, format!("tlsready: {line}\n"));
}

#[test]
fn good_capture_baseline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(dir.path(), "good.pcap", &good());
    let r = run(dir.path(), &[&p]);
    assert_eq!(r.code, 0);
    assert_eq!(r.stderr, "");
    assert_eq!(r.rows, all_established());
}

#[test]
fn empty_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(dir.path(), "empty.pcap", b"");
    let r = run(dir.path(), &[&p]);
    assert_eq!(r.code, EXIT_INPUT);
    assert_stderr(
        &r,
        format!("{}: not a pcap or pcapng capture (empty file)", p.display()),
    );
    assert!(r.rows.is_empty());
}

#[test]
fn wrong_magic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bytes = good();
    bytes[..4].copy_from_slice(b"\x00\x01\x02\x03");
    let p = write(dir.path(), "magic.pcap", &bytes);
    let r = run(dir.path(), &[&p]);
    assert_eq!(r.code, EXIT_INPUT);
    assert_stderr(
        &r,
        format!(
            "{}: not a pcap or pcapng capture (libpcap error: unknown file format)",
            p.display()
        ),
    );
    assert!(r.rows.is_empty());
}

#[test]
fn non_capture_text_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(dir.path(), "notes.txt", b"this is not a capture\n");
    let r = run(dir.path(), &[&p]);
    assert_eq!(r.code, EXIT_INPUT);
    assert_stderr(
        &r,
        format!(
            "{}: not a pcap or pcapng capture (libpcap error: unknown file format)",
            p.display()
        ),
    );
    assert!(r.rows.is_empty());
}

#[test]
fn truncated_global_header() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(dir.path(), "header.pcap", &good()[..10]);
    let r = run(dir.path(), &[&p]);
    assert_eq!(r.code, EXIT_INPUT);
    assert_stderr(
        &r,
        format!(
            "{}: not a pcap or pcapng capture (libpcap error: truncated dump file; \
             tried to read 24 file header bytes, only got 6)",
            p.display()
        ),
    );
    assert!(r.rows.is_empty());
}

#[test]
fn truncated_last_packet_keeps_earlier_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = good();
    let last = frames().last().map_or(0, Vec::len);
    // Cut in the middle of the last record's data.
    let keep = last_record_offset() + 16 + last / 2;
    let p = write(dir.path(), "cut.pcap", &bytes[..keep]);
    let r = run(dir.path(), &[&p]);
    assert_eq!(r.code, EXIT_INPUT);
    assert_stderr(
        &r,
        format!(
            "{}: capture is truncated or corrupt after 11 packets (libpcap error: \
             truncated dump file; tried to read {last} captured bytes, only got {})",
            p.display(),
            last / 2
        ),
    );
    let mut want = all_established();
    want[2] = row(40003, "no_server_hello", "TLS1.2", "");
    assert_eq!(r.rows, want);
}

#[test]
fn small_snap_length_keeps_hello_facts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let recs: Vec<(Vec<u8>, u32)> = frames()
        .into_iter()
        .map(|f| {
            let n = f.len() as u32;
            (f[..f.len().min(100)].to_vec(), n)
        })
        .collect();
    let p = write(dir.path(), "snap100.pcap", &pcap(&recs));
    let r = run(dir.path(), &[&p]);
    assert_eq!(r.code, 0);
    assert_eq!(r.stderr, "");
    // 100 bytes keep 46 bytes of each hello: the versions are before the
    // cut, but a ServerHello of 0x0303 may be TLS 1.2 or 1.3 (its
    // supported_versions is past the cut): unknown. The cipher suite is
    // past the cut too, and a cut ClientHello gives no fingerprint.
    assert_eq!(
        r.rows,
        vec![
            row(40001, "truncated", "TLS1.0", "TLS1.0"),
            row(40002, "truncated", "TLS1.2", ""),
            row(40003, "truncated", "TLS1.2", "TLS1.1"),
        ]
    );
    let rows = crate::util::read_rows(&dir.path().join("rows.csv"), b',');
    assert_eq!(rows.len(), 3);
    for r in rows {
        assert!(!r["cipher"].is_empty());
        assert_eq!((r["ja3"].as_str(), r["ja4"].as_str()), ("", ""));
    }
}

#[test]
fn absurd_record_length() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bytes = good();
    let at = last_record_offset() + 8;
    bytes[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let p = write(dir.path(), "caplen.pcap", &bytes);
    let r = run(dir.path(), &[&p]);
    assert_eq!(r.code, EXIT_INPUT);
    assert_stderr(
        &r,
        format!(
            "{}: capture is truncated or corrupt after 11 packets (libpcap error: \
             invalid packet capture length 4294967295, bigger than snaplen of 65535)",
            p.display()
        ),
    );
    let mut want = all_established();
    want[2] = row(40003, "no_server_hello", "TLS1.2", "");
    assert_eq!(r.rows, want);
}

/// Gzip with stored (uncompressed) blocks, so that half the file holds
/// about half the packets.
fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

#[test]
fn gzip_cut_halfway() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gz = gzip(&good());
    let p = write(dir.path(), "cut.pcap.gz", &gz[..gz.len() / 2]);
    let r = run(dir.path(), &[&p]);
    assert_eq!(r.code, EXIT_INPUT);
    assert_stderr(
        &r,
        format!(
            "{}: capture is truncated or corrupt after 6 packets (decompression failed: \
             incomplete deflate stream)",
            p.display()
        ),
    );
    // The first connection was complete before the cut (the second had
    // only its SYN and SYN-ACK, which make no row).
    assert_eq!(r.rows, all_established()[..1]);
}

#[test]
fn gzip_bad_checksum() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut gz = gzip(&good());
    let crc = gz.len() - 8;
    gz[crc] ^= 0xff;
    let p = write(dir.path(), "crc.pcap.gz", &gz);
    let r = run(dir.path(), &[&p]);
    assert_eq!(r.code, EXIT_INPUT);
    assert_stderr(
        &r,
        format!(
            "{}: capture is truncated or corrupt after 12 packets (decompression failed: \
             corrupt gzip stream does not have a matching checksum)",
            p.display()
        ),
    );
    assert_eq!(r.rows, all_established());
}

#[test]
fn gzip_garbage_halfway() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut gz = gzip(&good());
    let half = gz.len() / 2;
    gz[half..half + 40].fill(0xff);
    let p = write(dir.path(), "garbage.pcap.gz", &gz);
    let r = run(dir.path(), &[&p]);
    assert_eq!(r.code, EXIT_INPUT);
    let prefix = format!(
        "tlsready: {}: capture is truncated or corrupt after ",
        p.display()
    );
    assert!(r.stderr.starts_with(&prefix), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
}

#[test]
fn missing_file_does_not_stop_the_others() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.pcap");
    let p = write(dir.path(), "good.pcap", &good());
    let r = run(dir.path(), &[&missing, &p]);
    assert_eq!(r.code, EXIT_INPUT);
    assert_stderr(
        &r,
        format!(
            "{}: No such file or directory (os error 2)",
            missing.display()
        ),
    );
    assert_eq!(r.rows, all_established());
}

#[test]
fn directory_without_captures() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    write(&empty, "readme.txt", b"no captures here\n");
    let r = run(dir.path(), &[&empty]);
    assert_eq!(r.code, EXIT_INPUT);
    assert_stderr(
        &r,
        format!(
            "{}: no pcap, pcapng or gzip capture files in this directory",
            empty.display()
        ),
    );
    assert!(r.rows.is_empty());
}

#[test]
fn damaged_file_then_good_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = write(dir.path(), "a-bad.pcap", b"garbage");
    let good = write(dir.path(), "b-good.pcap", &good());
    let r = run(dir.path(), &[dir.path()]);
    // The directory scan skips files that are not captures by magic.
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.rows, all_established());
    let r = run(dir.path(), &[&bad, &good]);
    assert_eq!(r.code, EXIT_INPUT);
    assert_stderr(
        &r,
        format!(
            "{}: not a pcap or pcapng capture (libpcap error: unknown file format)",
            bad.display()
        ),
    );
    assert_eq!(r.rows, all_established());
}

/// A file of an unsupported link type, cut into chunks (`--min-chunk`
/// lowered): one line for the file, as with one thread, not one a chunk.
#[test]
fn unsupported_link_type_is_one_line_whatever_the_threads() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = good();
    for _ in 0..5 {
        let more = good();
        bytes.extend_from_slice(&more[24..]);
    }
    bytes[20..24].copy_from_slice(&147u32.to_le_bytes());
    let path = write(dir.path(), "dlt147.pcap", &bytes);
    for threads in ["1", "3"] {
        let out = tlsready()
            .arg("analyze")
            .arg(&path)
            .args(["--quiet", "--threads", threads, "--min-chunk", "256"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(EXIT_INPUT));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains("unsupported link type 147"))
            .collect();
        assert_eq!(lines.len(), 1, "--threads {threads}: {stderr}");
    }
}
