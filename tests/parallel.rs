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
