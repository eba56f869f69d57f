//! Unfinished handshakes (issue 20): captures of connections that send
//! part of a ClientHello and never finish it, the shape of a
//! slow-handshake flood or of a capture cut off mid-traffic (as
//! `examples/slowhello.rs` writes them at benchmark size).
//!
//! Cut into chunks, such a capture gives the rows of one thread (every
//! connection a chunk owns is reported when the input ends); a small
//! `--memcap` sheds the connections holding the most, reports them as
//! truncated and counts them in the summary.

use crate::util::{handshake, record, tcp_frame, tlsready};
use std::path::{Path, PathBuf};

/// Connections open at once (interleaved frame by frame).
const ROUND: u32 = 50;

/// Writes `n` connections, each a SYN then `records` TLS records of
/// `per` bytes of a ClientHello announced longer than what is sent,
/// interleaved in rounds of [`ROUND`], 10 ms apart; with `ooo`, the first
/// data segment of each connection is missing (the rest waits behind the
/// hole). Returns the file's path.
fn write_capture(dir: &Path, n: u32, per: usize, records: usize, ooo: bool) -> PathBuf {
    let total = per * records;
    let mut msg = handshake(1, &vec![0x41u8; total + 16]);
    msg[4] = 3;
    msg[5] = 3;
    msg.truncate(total);
    let stream: Vec<u8> = msg.chunks(per).flat_map(|c| record(22, c)).collect();
    let segments: Vec<(usize, &[u8])> = stream
        .chunks(1400)
        .enumerate()
        .map(|(i, c)| (i * 1400, c))
        .filter(|(i, _)| !ooo || *i != 0)
        .collect();
    let server = [52, 96, 0, 1];
    let client = |i: u32| ([10, 1, (i >> 8) as u8, i as u8], (20_000 + i) as u16);
    let mut out = vec![
        0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0,
    ];
    let mut ts: u64 = 1_700_000_000_000_000;
    let mut put = |f: Vec<u8>| {
        ts += 10_000;
        let len = u32::try_from(f.len()).unwrap();
        out.extend_from_slice(&u32::try_from(ts / 1_000_000).unwrap().to_le_bytes());
        out.extend_from_slice(&u32::try_from(ts % 1_000_000).unwrap().to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&f);
    };
    for round in (0..n).step_by(ROUND as usize) {
        let ids = round..(round + ROUND).min(n);
        for i in ids.clone() {
            let (c, p) = client(i);
            put(tcp_frame(c, server, (p, 443), 1000, 0, 0x02, &[]));
        }
        for (off, data) in &segments {
            for i in ids.clone() {
                let (c, p) = client(i);
                let seq = 1001 + u32::try_from(*off).unwrap();
                put(tcp_frame(c, server, (p, 443), seq, 1, 0x18, data));
            }
        }
    }
    let path = dir.join(if ooo { "ooo.pcap" } else { "inorder.pcap" });
    std::fs::write(&path, out).unwrap();
    path
}

/// Runs `analyze` on `path` with `extra` (the chunk tests' helper);
/// returns the sorted connection rows (header included) and standard output.
fn analyze(path: &Path, extra: &[&str]) -> (Vec<String>, String) {
    let run = crate::parallel::analyze(&[path.to_path_buf()], extra);
    (run.rows, run.stdout)
}

#[test]
fn unfinished_handshakes_cut_into_chunks_give_the_rows_of_one_thread() {
    let dir = tempfile::tempdir().unwrap();
    // 400 connections of 8 KiB each, in rounds lasting 4.5 s: at every
    // chunk's end some are quiet for longer than the overrun follows them.
    let path = write_capture(dir.path(), 400, 2048, 4, false);
    let (one, _) = analyze(&path, &["-q", "--threads", "1"]);
    assert_eq!(one.len(), 401, "a row per connection");
    assert!(
        one.iter()
            .filter(|r| !r.starts_with("ts,"))
            .all(|r| r.contains(",truncated,"))
    );
    for t in ["2", "3", "5"] {
        let (many, _) = analyze(&path, &["-q", "--threads", t, "--min-chunk", "1"]);
        assert_eq!(many.len(), one.len(), "--threads {t}: rows");
        for (a, b) in one.iter().zip(&many) {
            assert_eq!(a, b, "--threads {t}");
        }
    }
}

#[test]
fn a_small_memcap_sheds_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    // 400 connections holding 8 KiB of a hello each (over 3 MiB at once
    // with the table's share), or 8 KiB behind a hole.
    for ooo in [false, true] {
        let path = write_capture(dir.path(), 400, 2048, 4, ooo);
        let (free, summary) = analyze(&path, &["--threads", "1"]);
        assert!(!summary.contains("--memcap"), "{summary}");
        for t in ["1", "2"] {
            let (rows, summary) = analyze(
                &path,
                &["--threads", t, "--min-chunk", "1", "--memcap", "1M"],
            );
            let line = summary
                .lines()
                .find(|l| l.starts_with("memory budget (--memcap) reached: "))
                .unwrap_or_else(|| panic!("no shedding counted: {summary}"));
            let shed: u64 = line
                .split(": ")
                .nth(1)
                .and_then(|s| s.split(' ').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{line}"));
            assert!(shed >= 100, "ooo {ooo} --threads {t}: {line}");
            if !ooo {
                // The facts so far of every connection are still written,
                // truncated: shed or not, none is lost.
                assert_eq!(rows.len(), free.len(), "--threads {t}");
                assert!(
                    rows.iter()
                        .filter(|r| !r.starts_with("ts,"))
                        .all(|r| r.contains(",truncated,"))
                );
            }
        }
    }
}

#[test]
fn memcap_sizes_are_checked() {
    let path = crate::util::sample("openssl-tls12.pcap");
    for ok in ["512M", "2G", "256MiB", "1000000"] {
        let o = tlsready()
            .args(["analyze", "-q", "--memcap", ok])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{ok}");
    }
    let o = tlsready()
        .args(["analyze", "-q", "--memcap", "lots"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--memcap"));
}

/// The names of each chunk reach the names thread through a bounded queue:
/// when learning falls behind (here the first log takes a second), the join
/// waits and the workers are held back, instead of every chunk's name log
/// (up to 64 MiB each) piling up while the whole input is read. 32 copies
/// of a capture full of name traffic, cut into 64 chunks on 2 threads:
/// workers may run a few chunks ahead, not through the input.
#[test]
fn slow_name_learning_holds_the_workers_back() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use tlsready::enrich::m365::Endpoints;
    use tlsready::enrich::tally::Scope;
    use tlsready::flow::table::Limits;
    use tlsready::input::source::Input;
    use tlsready::output::{OutputPaths, Outputs};
    use tlsready::run::ReadControl;
    use tlsready::run::chunked::{self, Settings};
    use tlsready::run::progress::Progress;

    struct Read(AtomicU64);
    impl Progress for Read {
        fn advance(&self, bytes: u64) {
            self.0.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let src = crate::util::sample("identity/lan.pcap");
    let inputs: Vec<Input> = (0..32)
        .map(|i| {
            let p = dir.path().join(format!("lan-{i}.pcap"));
            std::fs::copy(&src, &p).unwrap();
            Input::File(p)
        })
        .collect();
    let bytes = 32 * std::fs::metadata(&src).unwrap().len();
    let chunks = chunked::plan(&inputs, 2, 1024).expect("pcap files are cut");
    assert_eq!(chunks.len(), 64);
    let settings = Settings {
        endpoints: Arc::new(Endpoints::embedded()),
        limits: Limits::default(),
        threads: 2,
        control: ReadControl::default(),
    };
    let mut outputs = Outputs::open(&OutputPaths::default(), Scope::All, false).unwrap();
    let read = Read(AtomicU64::new(0));
    let (mut logs, mut read_while_stuck) = (0, None);
    let mut learn = |_log| {
        logs += 1;
        if read_while_stuck.is_none() {
            std::thread::sleep(std::time::Duration::from_secs(1));
            read_while_stuck = Some(read.0.load(Ordering::Relaxed));
        }
    };
    let (stats, err) = chunked::run(
        &chunks,
        &settings,
        &mut outputs,
        &read,
        &mut |_| {},
        &mut learn,
    );
    assert!(err.is_none());
    assert!(stats.packets > 0);
    // Every chunk's names were learned in the end.
    assert!(logs >= 32, "{logs} name logs");
    let stuck = read_while_stuck.expect("names were learned");
    // Every record was read (progress counts records, not file headers).
    let total = read.0.load(Ordering::Relaxed);
    assert!(total > bytes * 99 / 100, "{total} of {bytes} bytes read");
    assert!(
        stuck < total / 2,
        "{stuck} of {total} bytes read while the first chunk's names were being learned"
    );
}
