//! What a newcomer trips over (issue 14): outputs named twice, signals,
//! runs where nothing was read, the terminal report, tcpdump habits.

use std::path::Path;

use crate::util::{read_rows, sample, tlsready};

/// Two outputs naming one file (directly, through a hard link, through a
/// symbolic link, or an input) are refused before anything is written.
#[test]
fn same_output_file_twice_is_refused_before_writing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let keep = d.join("keep.csv");
    std::fs::write(&keep, "keep me\n").expect("write");
    std::fs::hard_link(&keep, d.join("hard.csv")).expect("hard link");
    std::os::unix::fs::symlink(&keep, d.join("sym.csv")).expect("symlink");
    let pcap = sample("openssl-tls10.pcap");
    let cases: [(&str, &str); 4] = [
        ("keep.csv", "keep.csv"),
        ("keep.csv", "hard.csv"),
        ("sym.csv", "keep.csv"),
        ("new.csv", "./new.csv"),
    ];
    for (a, b) in cases {
        let out = tlsready()
            .current_dir(d)
            .arg("analyze")
            .arg(&pcap)
            .args(["--connections", a, "--clients", b])
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{a} {b}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("name the same file"), "{a} {b}: {err}");
        assert_eq!(std::fs::read_to_string(&keep).expect("read"), "keep me\n");
        assert!(!d.join("new.csv").exists(), "{a} {b}: a file was created");
    }
    // Output over an input capture.
    let copy = d.join("in.pcap");
    std::fs::copy(&pcap, &copy).expect("copy");
    let before = std::fs::read(&copy).expect("read");
    let out = tlsready()
        .arg("analyze")
        .arg(&copy)
        .arg("--json")
        .arg(&copy)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read(&copy).expect("read"), before);
    // Distinct files still work.
    let ok = tlsready()
        .current_dir(d)
        .arg("analyze")
        .arg(&pcap)
        .args(["--connections", "c.csv", "--clients", "k.csv", "-q"])
        .status()
        .expect("run");
    assert!(ok.success());
    assert_eq!(read_rows(&d.join("c.csv"), b',').len(), 1);
    assert!(Path::new(&d.join("k.csv")).exists());
}
