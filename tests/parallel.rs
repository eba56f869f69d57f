//! Files cut into chunks and analysed on several threads give the rows of
//! one reader, exactly (row order aside).
//!
//! `--min-chunk` (hidden; default 32 MiB) is lowered so that small files
//! are cut too, with boundaries falling inside handshakes. Inputs: the
//! bundled samples, the public corpus read from `../shared/corpus/pcaps`
//! (not copied here), and an 8 MiB capture made by the benchmark generator
//! `../shared/bench/make-corpus.py` (seed 4). Without `../shared` (or
//! python3) those tests print why they skip.

use crate::util::{python3, records, shared, tlsready};
use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) struct Run {
    pub(crate) rows: Vec<String>,
    pub(crate) clients: Vec<String>,
    pub(crate) stdout: String,
}

/// Runs `analyze` on `paths` with `extra` arguments; returns the sorted
/// connection rows, the clients CSV rows and standard output.
pub(crate) fn analyze(paths: &[PathBuf], extra: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let (conn, clients) = (dir.path().join("c.csv"), dir.path().join("k.csv"));
    let o = tlsready()
        .arg("analyze")
        .args(paths)
        .arg("--connections")
        .arg(&conn)
        .arg("--clients")
        .arg(&clients)
        .args(["--scope", "all"])
        .args(extra)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{paths:?} {extra:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let lines = |p: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        v.sort();
        v
    };
    Run {
        rows: lines(&conn),
        clients: lines(&clients),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
    }
}

/// pcap and pcapng files (the ones cut into chunks) under `dir`.
fn captures(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (is ../shared beside this repository?)",
                dir.display()
            )
        })
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let head = std::fs::read(p).map(|b| b.get(..4).map(<[u8]>::to_vec));
            matches!(head, Ok(Some(m)) if m == [0xd4, 0xc3, 0xb2, 0xa1]
                || m == [0xa1, 0xb2, 0xc3, 0xd4]
                || m == [0x0a, 0x0d, 0x0d, 0x0a])
        })
        .collect();
    v.sort();
    v
}

/// Fails with the lines only one side has.
fn same(want: &[String], got: &[String], what: &str) {
    if want != got {
        let only = |a: &[String], b: &[String]| -> Vec<String> {
            a.iter()
                .filter(|l| !b.contains(l))
                .take(5)
                .cloned()
                .collect()
        };
        panic!(
            "{what}: {} vs {} lines\nonly with one thread: {:#?}\nonly in chunks: {:#?}",
            want.len(),
            got.len(),
            only(want, got),
            only(got, want)
        );
    }
}

/// One file at a time: chunked runs equal the single-thread run.
fn check_each(files: &[PathBuf], threads: &[&str]) -> usize {
    let mut rows = 0;
    for f in files {
        let one = analyze(std::slice::from_ref(f), &["-q", "--threads", "1"]);
        for t in threads {
            let many = analyze(
                std::slice::from_ref(f),
                &["-q", "--threads", t, "--min-chunk", "1"],
            );
            same(
                &one.rows,
                &many.rows,
                &format!("{}: --threads {t}", f.display()),
            );
            same(
                &one.clients,
                &many.clients,
                &format!("{}: --threads {t} clients", f.display()),
            );
        }
        rows += one.rows.len() - 1;
    }
    rows
}

#[test]
fn samples_cut_anywhere_give_the_same_rows() {
    let files = captures(Path::new("samples"));
    assert!(files.len() >= 20, "samples: {files:?}");
    let rows = check_each(&files, &["2", "3", "7"]);
    assert!(rows >= 20, "only {rows} rows in the samples");
    // All of them as one stream (rotated files): files read in parallel,
    // connections followed across file ends.
    let one = analyze(&files, &["--threads", "1"]);
    let many = analyze(&files, &["--threads", "4", "--min-chunk", "1"]);
    same(&one.rows, &many.rows, "all samples");
    same(&one.clients, &many.clients, "all samples, clients");
    // The summary counts every frame once.
    let packets = |s: &str| {
        s.lines()
            .find_map(|l| l.split_once(" packets"))
            .map(|(n, _)| n.trim().to_string())
            .unwrap_or_default()
    };
    assert!(!packets(&one.stdout).is_empty(), "{}", one.stdout);
    assert_eq!(packets(&one.stdout), packets(&many.stdout));
}

/// `clients-mixed.pcap` (classic, little-endian) `reps` times, 100 s
/// apart (new connections each time), each packet with a copy `lag_us`
/// later (a second capture point), in time order.
fn with_copies(out: &Path, reps: u32, lag_us: u32) {
    with_copies_from(out, reps, lag_us, false);
}

/// As [`with_copies`] (a lag of 0: no copies); with `new_isns`, each repetition's TCP sequence and
/// acknowledgement numbers are shifted (new initial sequence numbers, as
/// new connections on the same ports have; checksums are not verified).
fn with_copies_from(out: &Path, reps: u32, lag_us: u32, new_isns: bool) {
    let data = std::fs::read("samples/clients-mixed.pcap").unwrap();
    let recs: Vec<(u64, &[u8])> = records(&data)
        .into_iter()
        .map(|r| {
            let word = |i: usize| u64::from(u32::from_le_bytes(r[i..i + 4].try_into().unwrap()));
            (word(0) * 1_000_000 + word(4), &r[8..])
        })
        .collect();
    let shifted = |r: u64, rest: &[u8]| {
        let mut rest = rest.to_vec();
        // Ethernet, IPv4 (every frame of the sample), TCP: seq and ack.
        let tcp = 8 + 14 + usize::from(rest[8 + 14] & 0x0f) * 4;
        if new_isns && rest[8 + 14 + 9] == 6 {
            for at in [tcp + 4, tcp + 8] {
                let n = u32::from_be_bytes(rest[at..at + 4].try_into().unwrap());
                let n = n.wrapping_add((r as u32).wrapping_mul(0x0100_0193));
                rest[at..at + 4].copy_from_slice(&n.to_be_bytes());
            }
        }
        rest
    };
    let mut all: Vec<(u64, Vec<u8>)> = (0..u64::from(reps))
        .flat_map(|r| {
            recs.iter().flat_map(move |&(ts, rest)| {
                let t = ts + r * 100_000_000;
                let rest = shifted(r, rest);
                let copy = (lag_us > 0).then(|| (t + u64::from(lag_us), rest.clone()));
                std::iter::once((t, rest)).chain(copy)
            })
        })
        .collect();
    all.sort_by_key(|(t, _)| *t);
    let mut w = data[..24].to_vec();
    for (t, rest) in all {
        w.extend_from_slice(&((t / 1_000_000) as u32).to_le_bytes());
        w.extend_from_slice(&((t % 1_000_000) as u32).to_le_bytes());
        w.extend_from_slice(&rest);
    }
    std::fs::write(out, w).unwrap();
}

/// Copies of packets (a second capture point) lagging 0.3 ms (within a
/// handshake) or 50 ms (after the close): one row per connection, and
/// the same rows wherever the cuts fall (a copied SYN in one chunk and
/// the rest of the copy in the next, a cut between a SYN and its copy).
#[test]
fn copies_cut_anywhere_give_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for lag in [300, 50_000] {
        let f = dir.path().join(format!("copies-{lag}.pcap"));
        with_copies(&f, 60, lag);
        files.push(f);
    }
    let rows = check_each(&files, &["2", "3", "4", "6", "7", "8"]);
    assert_eq!(rows, 2 * 60 * 10);
}

/// A connection whose handshake ends before a cut and whose close comes
/// after it (the chunk after sees it mid-stream, not its close), its
/// copies after a later cut: still one row. Small chunks of the sample of
/// two capture points make it happen (it gave 11 to 20 rows for 10).
#[test]
fn copies_of_a_connection_closed_across_cuts_are_one_connection() {
    let f = PathBuf::from("samples/mergecap-two-points.pcapng");
    let rows = check_each(&[f], &["10", "12", "20", "32", "64"]);
    assert_eq!(rows, 10);
}

/// A capture replayed in a loop every 100 s with the same sequence
/// numbers (tcpreplay), without copies: each replay's connections are new
/// ones (past TIME-WAIT), wherever the cuts fall, also when a later chunk
/// than the one that saw a connection open saw it close.
#[test]
fn a_looped_replay_cut_anywhere_gives_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("looped.pcap");
    with_copies_from(&f, 40, 0, false);
    // (From 41 threads on, chunks are shorter than the loop.)
    let threads: Vec<String> = (2..=40)
        .step_by(3)
        .chain(41..=64)
        .map(|t| t.to_string())
        .collect();
    let threads: Vec<&str> = threads.iter().map(String::as_str).collect();
    let rows = check_each(&[f], &threads);
    assert_eq!(rows, 40 * 10);
}

/// The same connections again every 100 s with new initial sequence
/// numbers (new connections on the same ports, past TIME-WAIT), copied
/// 50 ms later: a copy seen mid-stream just after a cut, of a connection
/// closed just before it, is a copy even where a connection on its ports
/// from hundreds of seconds before is still remembered.
#[test]
fn copies_after_port_reuse_cut_anywhere_give_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("reused.pcap");
    with_copies_from(&f, 40, 50_000, true);
    let threads: Vec<String> = (2..=40).step_by(3).map(|t| t.to_string()).collect();
    let threads: Vec<&str> = threads.iter().map(String::as_str).collect();
    let rows = check_each(&[f], &threads);
    assert_eq!(rows, 40 * 10);
}

#[test]
fn corpus_cut_anywhere_gives_the_same_rows() {
    let Some(dir) = shared("corpus/pcaps") else {
        return;
    };
    let files = captures(&dir);
    assert!(
        files.len() >= 20,
        "corpus: {} classic pcap files",
        files.len()
    );
    let rows = check_each(&files, &["2", "5"]);
    assert!(rows >= 40, "only {rows} rows in the corpus");
}

/// A capture of `mib` MiB from the benchmark's generator (seed `seed`),
/// in `dir`; `None` (said why) without `../shared` or python3.
fn generated(dir: &Path, mib: u32, seed: u32) -> Option<PathBuf> {
    let generator = shared("bench/make-corpus.py")?;
    if !python3() {
        return None;
    }
    let pcap = dir.join(format!("g{seed}.pcap"));
    let made = Command::new("python3")
        .arg(&generator)
        .args([
            "--size-mb",
            &mib.to_string(),
            "--seed",
            &seed.to_string(),
            "--out",
        ])
        .arg(&pcap)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    Some(pcap)
}

#[test]
fn generated_capture_cut_in_chunks_gives_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let Some(pcap) = generated(dir.path(), 8, 4) else {
        return;
    };
    // 31 chunks of 27 ms of traffic each: handshakes span several chunks.
    let rows = check_each(std::slice::from_ref(&pcap), &["2", "3", "8", "31"]);
    assert!(rows > 100, "only {rows} rows");

    // Another capture (seed 5) put after it with its times 12 s earlier
    // (the capture's time steps back by more than the overrun's stall
    // limit): the chunks after the step follow their handshakes past their
    // ends as one reader does.
    let Some(other) = generated(dir.path(), 4, 5) else {
        return;
    };
    let mut stepped = std::fs::read(&pcap).unwrap();
    let later = std::fs::read(&other).unwrap();
    let mut at = 24;
    while at + 16 <= later.len() {
        let secs = u32::from_le_bytes(later[at..at + 4].try_into().unwrap());
        let incl = u32::from_le_bytes(later[at + 8..at + 12].try_into().unwrap()) as usize;
        stepped.extend((secs - 12).to_le_bytes());
        stepped.extend(&later[at + 4..at + 16 + incl]);
        at += 16 + incl;
    }
    let stepped_path = dir.path().join("stepped.pcap");
    std::fs::write(&stepped_path, stepped).unwrap();
    let rows = check_each(&[stepped_path], &["2", "3", "8"]);
    assert!(rows > 150, "only {rows} rows");
}

/// A cut that lands inside a large frame whose bytes look like pcap
/// records: the resynchronised start is wrong, the thread of the chunk
/// before notices it and reads on; the rows are those of one thread.
#[test]
fn a_false_record_boundary_is_caught() {
    let real = std::fs::read("samples/clients-mixed.pcap").unwrap();
    let (head, body) = real.split_at(24);
    let secs = u32::from_le_bytes(body[0..4].try_into().unwrap());
    // Records of the sample, split after the first quarter of them.
    let mut records = Vec::new();
    let mut at = 0;
    while at + 16 <= body.len() {
        let caplen = u32::from_le_bytes(body[at + 8..at + 12].try_into().unwrap()) as usize;
        records.push(&body[at..at + 16 + caplen]);
        at += 16 + caplen;
    }
    assert!(records.len() > 20);
    let quarter = records.len() / 4;
    // An Ethernet frame (local ethertype 0x88b5) of 200 kB whose payload is
    // a run of plausible 24-byte pcap records.
    let mut frame = vec![2u8; 12];
    frame.extend([0x88, 0xb5]);
    while frame.len() < 200_000 {
        frame.extend(secs.to_le_bytes());
        frame.extend(1u32.to_le_bytes());
        frame.extend(8u32.to_le_bytes());
        frame.extend(8u32.to_le_bytes());
        frame.extend([0xffu8; 8]);
    }
    let mut file = head.to_vec();
    // Snapshot length 262144, so that the big frame is legal.
    file[16..20].copy_from_slice(&262_144u32.to_le_bytes());
    for r in &records[..quarter] {
        file.extend_from_slice(r);
    }
    let ts = &records[quarter - 1][0..8];
    file.extend_from_slice(ts);
    file.extend((frame.len() as u32).to_le_bytes());
    file.extend((frame.len() as u32).to_le_bytes());
    file.extend(&frame);
    for r in &records[quarter..] {
        file.extend_from_slice(r);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("false-boundary.pcap");
    std::fs::write(&path, &file).unwrap();
    // Both cuts of a 2-chunk plan fall inside the big frame.
    let frame_at = 24 + records[..quarter].iter().map(|r| r.len()).sum::<usize>();
    assert!(frame_at < file.len() / 5 && frame_at + frame.len() > file.len() * 4 / 5);

    let one = analyze(std::slice::from_ref(&path), &["-q", "--threads", "1"]);
    assert!(one.rows.len() > 10, "{:?}", one.rows);
    for t in ["2", "3"] {
        let many = analyze(
            std::slice::from_ref(&path),
            &["-q", "--threads", t, "--min-chunk", "1"],
        );
        same(&one.rows, &many.rows, &format!("--threads {t}"));
        same(
            &one.clients,
            &many.clients,
            &format!("--threads {t} clients"),
        );
    }
}

/// pcapng: a second section after the first packets, whose interface has
/// another time resolution (later chunks' heads, from the first section,
/// would read its times wrong): the chunk that holds the section header
/// reads on; the rows are those of one thread.
#[test]
fn a_pcapng_section_mid_file_is_caught() {
    let real = std::fs::read("samples/openssl-tls13.pcapng").unwrap();
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    assert_eq!(
        u32_at(&real, 8),
        0x1a2b_3c4d,
        "little-endian sample expected"
    );
    let mut blocks = Vec::new();
    let mut at = 0;
    while at + 8 <= real.len() {
        let len = u32_at(&real, at + 4) as usize;
        blocks.push((u32_at(&real, at), &real[at..at + len]));
        at += len;
    }
    let (shb, idb) = (blocks[0].1, blocks[1].1);
    assert_eq!((blocks[0].0, blocks[1].0), (0x0a0d_0d0a, 1));
    // The sample's interface has nanosecond times (if_tsresol 9).
    assert!(idb.windows(8).any(|w| w == [9, 0, 1, 0, 9, 0, 0, 0]));
    let packets: Vec<&[u8]> = blocks.iter().filter(|b| b.0 == 6).map(|b| b.1).collect();
    assert!(packets.len() > 8);
    // Section 2: the same packets, with an interface of the default
    // microsecond resolution and times to match.
    let mut file = real.clone();
    file.extend_from_slice(shb);
    let mut idb2 = 1u32.to_le_bytes().to_vec();
    idb2.extend(20u32.to_le_bytes());
    idb2.extend_from_slice(&idb[8..16]); // link type, reserved, snap length
    idb2.extend(20u32.to_le_bytes());
    file.extend(idb2);
    for p in packets {
        let mut p = p.to_vec();
        let ns = (u64::from(u32_at(&p, 12)) << 32) | u64::from(u32_at(&p, 16));
        let us = ns / 1000;
        p[12..16].copy_from_slice(&((us >> 32) as u32).to_le_bytes());
        p[16..20].copy_from_slice(&(us as u32).to_le_bytes());
        file.extend(p);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("two-sections.pcapng");
    std::fs::write(&path, &file).unwrap();
    let one = analyze(std::slice::from_ref(&path), &["-q", "--threads", "1"]);
    assert!(!one.rows.is_empty());
    for t in ["2", "3", "5"] {
        let many = analyze(
            std::slice::from_ref(&path),
            &["-q", "--threads", t, "--min-chunk", "1"],
        );
        same(&one.rows, &many.rows, &format!("--threads {t}"));
        same(
            &one.clients,
            &many.clients,
            &format!("--threads {t} clients"),
        );
    }
}

/// A corrupt record in the middle: chunked runs stop there as one thread
/// does, with the same message, exit status and rows.
#[test]
fn a_corrupt_record_stops_the_file_as_with_one_thread() {
    let real = std::fs::read("samples/clients-mixed.pcap").unwrap();
    let mut file = real[..24].to_vec();
    let mut at = 24;
    let mut n = 0;
    while at + 16 <= real.len() {
        let caplen = u32::from_le_bytes(real[at + 8..at + 12].try_into().unwrap()) as usize;
        let mut r = real[at..at + 16 + caplen].to_vec();
        n += 1;
        if n == 60 {
            r[8..12].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
        }
        file.extend(r);
        at += 16 + caplen;
    }
    assert!(n > 100, "{n} records");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corrupt.pcap");
    std::fs::write(&path, &file).unwrap();
    let run = |extra: &[&str]| {
        let out = dir.path().join("c.csv");
        let o = tlsready()
            .arg("analyze")
            .arg(&path)
            .arg("--connections")
            .arg(&out)
            .arg("-q")
            .args(extra)
            .output()
            .unwrap();
        let mut rows: Vec<String> = std::fs::read_to_string(&out)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        rows.sort();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
            rows,
        )
    };
    let one = run(&["--threads", "1"]);
    assert_eq!(one.0, Some(3));
    assert!(one.1.contains("after 59 packets"), "{}", one.1);
    for t in ["2", "3", "5"] {
        assert_eq!(
            run(&["--threads", t, "--min-chunk", "1"]),
            one,
            "--threads {t}"
        );
    }
}

/// A file that ends inside a record header (found by fuzzing: the chunk
/// stream's record walk underflowed): same message and rows as one thread.
#[test]
fn a_record_header_cut_by_the_end_of_the_file() {
    let real = std::fs::read("samples/clients-mixed.pcap").unwrap();
    let mut at = 24;
    let mut last = at;
    while at + 16 <= real.len() {
        last = at;
        at += 16 + u32::from_le_bytes(real[at + 8..at + 12].try_into().unwrap()) as usize;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.pcap");
    std::fs::write(&path, &real[..last + 9]).unwrap();
    let run = |t: &str| {
        let o = tlsready()
            .arg("analyze")
            .arg(&path)
            .args(["-q", "--threads", t, "--min-chunk", "1"])
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let one = run("1");
    assert_eq!(one.0, Some(3), "{}", one.1);
    for t in ["2", "3"] {
        assert_eq!(run(t), one, "--threads {t}");
    }
}

/// The rows of the chunk joined next are appended while it is still
/// analysed: the connections CSV is the same in every run, and when
/// another output (a pipe whose reader goes away) fails midway, no row is
/// written twice (the rows appended ahead were appended again, a third of
/// the file's rows twice, in most runs).
#[test]
fn rows_appended_ahead_are_written_once() {
    let dir = tempfile::tempdir().unwrap();
    let Some(pcap) = generated(dir.path(), 48, 6) else {
        return;
    };
    let run = |csv: &Path, json: &Path| {
        tlsready()
            .args([
                "analyze",
                "--threads",
                "2",
                "--min-chunk",
                "2000000",
                "--scope",
                "all",
                "-q",
            ])
            .arg("--connections")
            .arg(csv)
            .arg("--json")
            .arg(json)
            .arg(&pcap)
            .output()
            .unwrap()
    };
    let whole = |n: &str| {
        let csv = dir.path().join(format!("{n}.csv"));
        assert!(
            run(&csv, &dir.path().join(format!("{n}.json")))
                .status
                .success()
        );
        std::fs::read_to_string(csv).unwrap()
    };
    let first = whole("a");
    assert!(
        first == whole("b"),
        "the connections CSV differs between runs"
    );
    let all: std::collections::HashSet<&str> = first.lines().collect();
    assert!(all.len() > 2000 && all.len() == first.lines().count());
    for i in 0..4 {
        let fifo = dir.path().join(format!("json{i}"));
        let st = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
        assert!(st.success(), "mkfifo failed");
        // A reader that goes away after 1.5 MB of JSON lines.
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || {
                use std::io::Read;
                let mut f = std::fs::File::open(fifo).unwrap();
                let mut buf = vec![0u8; 1_500_000];
                let _ = f.read_exact(&mut buf);
            })
        };
        let csv = dir.path().join(format!("cut{i}.csv"));
        let out = run(&csv, &fifo);
        reader.join().unwrap();
        assert!(
            !out.status.success(),
            "the JSON lines could not all be written"
        );
        let text = std::fs::read_to_string(&csv).unwrap();
        let mut seen = std::collections::HashSet::new();
        for line in text.lines() {
            assert!(all.contains(line), "run {i}: a row of no whole run: {line}");
            assert!(seen.insert(line), "run {i}: a row written twice: {line}");
        }
    }
}
