//! Files cut into chunks and analysed on several threads give the rows of
//! one reader, exactly (row order aside).
//!
//! `--min-chunk` (hidden; default 32 MiB) is lowered so that small files
//! are cut too, with boundaries falling inside handshakes. Inputs: the
//! bundled samples, the public corpus read from `../shared/corpus/pcaps`
//! (not copied here), and an 8 MiB capture made by the benchmark generator
//! `../shared/bench/make-corpus.py` (seed 4). A missing `../shared` fails
//! the tests, with a message saying so.

use std::path::{Path, PathBuf};
use std::process::Command;

struct Run {
    rows: Vec<String>,
    clients: Vec<String>,
    stdout: String,
}

/// Runs `analyze` on `paths` with `extra` arguments; returns the sorted
/// connection rows, the clients CSV rows and standard output.
fn analyze(paths: &[PathBuf], extra: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let (conn, clients) = (dir.path().join("c.csv"), dir.path().join("k.csv"));
    let o = Command::new(env!("CARGO_BIN_EXE_tlsready"))
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

/// Classic pcap files (the ones cut into chunks) under `dir`.
fn classic_pcaps(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e} (is ../shared beside this repository?)", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let head = std::fs::read(p).map(|b| b.get(..4).map(<[u8]>::to_vec));
            matches!(head, Ok(Some(m)) if m == [0xd4, 0xc3, 0xb2, 0xa1] || m == [0xa1, 0xb2, 0xc3, 0xd4])
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
    let files = classic_pcaps(Path::new("samples"));
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

#[test]
fn corpus_cut_anywhere_gives_the_same_rows() {
    let files =
        classic_pcaps(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/pcaps"));
    assert!(
        files.len() >= 20,
        "corpus: {} classic pcap files",
        files.len()
    );
    let rows = check_each(&files, &["2", "5"]);
    assert!(rows >= 40, "only {rows} rows in the corpus");
}

#[test]
fn generated_capture_cut_in_chunks_gives_the_same_rows() {
    let generator = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/bench/make-corpus.py");
    assert!(generator.is_file(), "{} is missing", generator.display());
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("g.pcap");
    let made = Command::new("python3")
        .arg(&generator)
        .args(["--size-mb", "8", "--seed", "4", "--out"])
        .arg(&pcap)
        .arg("--truth")
        .arg(dir.path().join("g.truth.tsv"))
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    // 31 chunks of 27 ms of traffic each: handshakes span several chunks.
    let rows = check_each(&[pcap], &["2", "3", "8", "31"]);
    assert!(rows > 100, "only {rows} rows");
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
