//! Capture files as administrators' tools write them (issue 13, reader
//! half): raw IP from a tun device, dumpcap on two interfaces of different
//! link types, mergecap across link types, editcap conversions, pcapng
//! sections of both byte orders (samples/README.md "Capture file
//! formats"), read by the native reader whole, cut into chunks, and
//! through gzip on standard input; an interface of a link type not decoded
//! is skipped with one warning.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::util::{Row, read_rows, sample, tlsready};

/// The format samples.
const FORMAT_SAMPLES: [&str; 11] = [
    "rawip.pcap",
    "dumpcap-two-interfaces.pcapng",
    "mergecap-link-types.pcapng",
    "mergecap-two-points.pcapng",
    "editcap-pcapng.pcapng",
    "editcap-nsec.pcap",
    "editcap-modified.pcap",
    "editcap-rh6_1.pcap",
    "editcap-suse6_3.pcap",
    "editcap-nokia.pcap",
    "sections-both-byte-orders.pcapng",
];

/// Connection facts compared with tshark's rows.
const FACTS: [&str; 8] = [
    "client_ip",
    "client_port",
    "server_ip",
    "server_port",
    "sni",
    "client_max_version",
    "negotiated_version",
    "cipher",
];

/// `analyze -q` with extra arguments: rows (sorted by client port),
/// standard error (without the endpoint data's age warning), exit status.
fn analyze(paths: &[&Path], extra: &[&str]) -> (Vec<Row>, String, i32) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c.csv");
    let o = tlsready()
        .arg("analyze")
        .args(paths)
        .arg("--connections")
        .arg(&out)
        .arg("-q")
        .args(extra)
        .output()
        .unwrap();
    let mut rows = read_rows(&out, b',');
    rows.sort_by(|a, b| a["client_port"].cmp(&b["client_port"]));
    let stderr = String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter(|l| !l.contains("Microsoft 365 endpoint data"))
        .map(|l| format!("{l}\n"))
        .collect();
    (rows, stderr, o.status.code().unwrap_or(-1))
}

/// Every connection of each format sample, with tshark's facts
/// (samples/expected.tsv), without a word on standard error, read whole or
/// cut into chunks of any size.
#[test]
fn capture_formats_as_tools_write_them() {
    let exp = read_rows(Path::new("samples/expected.tsv"), b'\t');
    for f in FORMAT_SAMPLES {
        let path = sample(f);
        let mut want: Vec<&Row> = exp.iter().filter(|r| r["file"] == f).collect();
        want.sort_by(|a, b| a["client_port"].cmp(&b["client_port"]));
        assert!(!want.is_empty(), "{f}: no oracle rows");
        let (one, err, code) = analyze(&[&path], &["--threads", "1"]);
        assert_eq!((code, err.as_str()), (0, ""), "{f}");
        assert_eq!(one.len(), want.len(), "{f}: {one:?}");
        for (g, w) in one.iter().zip(&want) {
            for k in FACTS {
                assert_eq!(g[k], w[k], "{f}: {k}");
            }
        }
        let (cut, err, code) = analyze(&[&path], &["--threads", "3", "--min-chunk", "1"]);
        assert_eq!((code, err.as_str()), (0, ""), "{f}");
        assert_eq!(cut, one, "{f}: chunked");
    }
    // Standard input, and gzip: the same rows.
    for f in [
        "mergecap-link-types.pcapng",
        "sections-both-byte-orders.pcapng",
        "editcap-rh6_1.pcap",
    ] {
        let path = sample(f);
        let (want, _, _) = analyze(&[&path], &[]);
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&std::fs::read(&path).unwrap()).unwrap();
        let gz = e.finish().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("c.csv");
        let mut child = tlsready()
            .args(["analyze", "-", "-q", "--connections"])
            .arg(&out)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&gz).unwrap();
        assert!(child.wait().unwrap().success(), "{f}");
        let mut got = read_rows(&out, b',');
        got.sort_by(|a, b| a["client_port"].cmp(&b["client_port"]));
        assert_eq!(got, want, "{f} through gzip on standard input");
    }
}

/// A directory scan picks the modified (Kuznetzov) pcap by its magic.
#[test]
fn a_directory_scan_picks_modified_pcap() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        sample("editcap-modified.pcap"),
        dir.path().join("modified.cap"),
    )
    .unwrap();
    let (rows, err, code) = analyze(&[dir.path()], &[]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["sni"], "editcap-modified.example.test");
}

/// An interface whose link type is not decoded (Token Ring, written by
/// editcap, merged with an Ethernet sample by mergecap): its packets are
/// skipped with one warning naming the file, interface and link type,
/// whatever the thread count; the other interface's connection is reported
/// and the exit status stays 0.
#[test]
fn an_unsupported_interface_is_skipped_with_one_warning() {
    let dir = tempfile::tempdir().unwrap();
    let tr = dir.path().join("tr.pcap");
    let mixed = dir.path().join("mixed.pcapng");
    let quiet = |c: &mut Command| {
        c.stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let made = quiet(
        Command::new("editcap")
            .args(["-T", "tr"])
            .arg(sample("openssl-tls11.pcap"))
            .arg(&tr),
    ) && quiet(
        Command::new("mergecap")
            .args(["-F", "pcapng", "-w"])
            .arg(&mixed)
            .arg(sample("openssl-tls12.pcap"))
            .arg(&tr),
    );
    if !made {
        eprintln!("skipped: editcap and mergecap (wireshark-common) are not available");
        return;
    }
    let (base, _, _) = analyze(&[&sample("openssl-tls12.pcap")], &[]);
    assert_eq!(base.len(), 1);
    for threads in ["1", "2", "3"] {
        let (rows, err, code) = analyze(&[&mixed], &["--threads", threads, "--min-chunk", "1"]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            err,
            format!(
                "tlsready: warning: {}: interface 1: link type 6 (IEEE802) is not supported; \
                 its packets are skipped\n",
                mixed.display()
            ),
            "--threads {threads}"
        );
        assert_eq!(rows.len(), 1, "{rows:?}");
        for k in FACTS {
            assert_eq!(rows[0][k], base[0][k], "{k}");
        }
    }
}
