//! Named pipes and process substitution (`tlsready analyze <(zcat x.gz)`):
//! read once, like standard input, plain or gzip, with the same rows as the
//! file itself.

use crate::util::{bin, empty_data_dir, sample, tlsready};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};
use std::thread;

const EXIT_INPUT: i32 = 3;

/// The connections CSV of `tlsready analyze FILE`.
fn rows_of_file(file: &Path, dir: &Path) -> String {
    let csv = dir.join("from-file.csv");
    let out = tlsready()
        .arg("analyze")
        .arg(file)
        .arg("--connections")
        .arg(&csv)
        .arg("--quiet")
        .output()
        .expect("run tlsready");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(csv).expect("CSV")
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "status {:?}, stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn mkfifo(path: &Path) {
    let st = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(st.success(), "mkfifo failed");
}

/// Writes `bytes` into the FIFO from a thread (opening blocks until
/// tlsready opens the other end).
fn feed(fifo: &Path, bytes: Vec<u8>) -> thread::JoinHandle<()> {
    let fifo = fifo.to_path_buf();
    thread::spawn(move || {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&fifo)
            .expect("open FIFO for writing");
        // tlsready may stop reading early on an error: a broken pipe is fine.
        let _ = f.write_all(&bytes);
    })
}

#[test]
fn process_substitution_plain_and_gzip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let want = rows_of_file(&sample("openssl-tls12.pcap"), dir.path());
    assert_eq!(want.lines().count(), 2, "sample has one connection: {want}");
    for name in ["openssl-tls12.pcap", "openssl-tls12.pcap.gz"] {
        let csv = dir.path().join(format!("{name}.csv"));
        let out = Command::new("bash")
            .env("TLSREADY_DATA_DIR", empty_data_dir())
            .arg("-c")
            .arg(r#""$0" analyze <(cat "$1") --connections "$2" --quiet"#)
            .arg(bin())
            .arg(sample(name))
            .arg(&csv)
            .output()
            .expect("run bash");
        assert_ok(&out);
        assert_eq!(std::fs::read_to_string(&csv).expect("CSV"), want, "{name}");
    }
}

#[test]
fn fifo_gzip_and_plain_give_the_rows_of_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["openssl-tls13.pcapng", "openssl-tls12.pcap.gz"] {
        let want = rows_of_file(&sample(name), dir.path());
        let fifo = dir.path().join(format!("{name}.fifo"));
        mkfifo(&fifo);
        let writer = feed(&fifo, std::fs::read(sample(name)).expect("sample"));
        let csv = dir.path().join(format!("{name}.csv"));
        let out = tlsready()
            .arg("analyze")
            .arg(&fifo)
            .arg("--connections")
            .arg(&csv)
            .arg("--quiet")
            .output()
            .expect("run tlsready");
        writer.join().expect("writer");
        assert_ok(&out);
        assert_eq!(std::fs::read_to_string(&csv).expect("CSV"), want, "{name}");
        assert!(want.lines().count() >= 2, "{name}: no rows");
    }
}

#[test]
fn fifo_with_text_is_not_a_capture() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("text.fifo");
    mkfifo(&fifo);
    let writer = feed(&fifo, b"hello, this is not a capture\n".to_vec());
    let out = tlsready()
        .arg("analyze")
        .arg(&fifo)
        .arg("--quiet")
        .output()
        .expect("run tlsready");
    writer.join().expect("writer");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(EXIT_INPUT), "stderr: {stderr}");
    assert!(
        stderr.contains(&fifo.display().to_string()) && stderr.contains("not a pcap"),
        "stderr: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
}
