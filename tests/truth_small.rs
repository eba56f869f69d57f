//! End-to-end exactness on a generated capture: every TLS connection the benchmark
//! generator writes into its ground truth must come out of `tlsready analyze --connections`
//! with the same SNI, client maximum version, negotiated version and M365 flag, and nothing
//! else may come out.
//!
//! The generator is NOT part of this repository: the test runs
//! `python3 ../shared/bench/make-corpus.py` (relative to the crate root, i.e. the shared
//! checkout next to this repo; see ../shared/bench/README.md). When it or python3 is absent
//! the test prints why it skips (CI has both).
//!
//! 8 MiB, seed 3: a few hundred TLS connections, SMTP STARTTLS on 587 included (the tool
//! reports those with protocol `smtp-starttls`), reordered and retransmitted segments,
//! ClientHellos spanning two segments. Takes ~1-2 s with a release build.

use crate::util::{python3, shared, tlsready};
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

type Key = (String, u16, String, u16);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Conn {
    sni: String,
    client_max_version: String,
    negotiated_version: String,
    m365: bool,
    protocol: String,
}

fn dash_empty(s: &str) -> String {
    let s = s.trim();
    if s == "-" {
        String::new()
    } else {
        s.to_string()
    }
}

fn read_truth(path: &Path) -> Vec<(Key, Conn)> {
    let text = std::fs::read_to_string(path).expect("read truth TSV");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("truth header").split('\t').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("truth TSV has no column {name}: {header:?}"))
    };
    let (ci, cp, si, sp) = (
        col("client_ip"),
        col("client_port"),
        col("server_ip"),
        col("server_port"),
    );
    let (sni, cmax, neg, m365) = (
        col("sni"),
        col("client_max_version"),
        col("negotiated_version"),
        col("is_m365"),
    );
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let server_port: u16 = f[sp].parse().expect("truth server_port");
            let key = (
                f[ci].to_string(),
                f[cp].parse().expect("truth client_port"),
                f[si].to_string(),
                server_port,
            );
            let conn = Conn {
                sni: dash_empty(f[sni]),
                client_max_version: dash_empty(f[cmax]),
                negotiated_version: dash_empty(f[neg]),
                m365: f[m365] == "1",
                protocol: if server_port == 587 {
                    "smtp-starttls".into()
                } else {
                    "tls".into()
                },
            };
            (key, conn)
        })
        .collect()
}

fn read_csv(path: &Path) -> Vec<(Key, Conn)> {
    let mut rd = csv::Reader::from_path(path).expect("open connections CSV");
    let headers = rd.headers().expect("CSV header").clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("connections CSV has no column {name}: {headers:?}"))
    };
    let idx: Vec<usize> = [
        "client_ip",
        "client_port",
        "server_ip",
        "server_port",
        "sni",
        "client_max_version",
        "negotiated_version",
        "m365",
        "protocol",
    ]
    .iter()
    .map(|c| col(c))
    .collect();
    rd.records()
        .map(|r| {
            let r = r.expect("CSV record");
            let g = |i: usize| r.get(idx[i]).unwrap_or("").trim().to_string();
            let key = (
                g(0),
                g(1).parse().expect("CSV client_port"),
                g(2),
                g(3).parse().expect("CSV server_port"),
            );
            let conn = Conn {
                sni: g(4),
                client_max_version: g(5),
                negotiated_version: g(6),
                m365: g(7) == "yes",
                protocol: g(8),
            };
            (key, conn)
        })
        .collect()
}

fn fmt_key(k: &Key) -> String {
    format!("{}:{} -> {}:{}", k.0, k.1, k.2, k.3)
}

#[test]
fn generated_corpus_matches_truth_row_by_row() {
    let Some(generator) = shared("bench/make-corpus.py") else {
        return;
    };
    if !python3() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("small.pcap");
    let truth = dir.path().join("small.truth.tsv");
    let out = dir.path().join("conn.csv");

    let made = Command::new("python3")
        .arg(&generator)
        .args(["--size-mb", "8", "--seed", "3", "--out"])
        .arg(&pcap)
        .arg("--truth")
        .arg(&truth)
        .output()
        .expect("run python3 (needed for ../shared/bench/make-corpus.py)");
    assert!(
        made.status.success(),
        "make-corpus.py failed: {}\n{}",
        made.status,
        String::from_utf8_lossy(&made.stderr)
    );

    let run = tlsready()
        .arg("analyze")
        .arg(&pcap)
        .arg("--connections")
        .arg(&out)
        .arg("-q")
        .output()
        .expect("run tlsready");
    assert!(
        run.status.success(),
        "tlsready analyze exited with {}: {}",
        run.status,
        String::from_utf8_lossy(&run.stderr)
    );

    let want = read_truth(&truth);
    let got_rows = read_csv(&out);
    assert!(
        want.len() > 100,
        "truth unexpectedly small: {} rows",
        want.len()
    );
    assert!(
        want.iter().any(|(_, c)| c.protocol == "smtp-starttls"),
        "seed 3 at 8 MiB should include SMTP STARTTLS connections"
    );

    let mut got: HashMap<Key, Conn> = HashMap::new();
    let mut problems: Vec<String> = Vec::new();
    for (k, c) in &got_rows {
        if let Some(prev) = got.insert(k.clone(), c.clone()) {
            problems.push(format!("DUPLICATE {}: {prev:?} and {c:?}", fmt_key(k)));
        }
    }

    let mut seen = 0usize;
    for (k, w) in &want {
        match got.remove(k) {
            Some(g) if &g == w => seen += 1,
            Some(g) => problems.push(format!("DIFFER  {}: got {g:?}, want {w:?}", fmt_key(k))),
            None => {
                let rev = (k.2.clone(), k.3, k.0.clone(), k.1);
                if let Some(g) = got.remove(&rev) {
                    problems.push(format!(
                        "REVERSED {} reported as {}: {g:?}",
                        fmt_key(k),
                        fmt_key(&rev)
                    ));
                } else {
                    problems.push(format!("MISSING {}: want {w:?}", fmt_key(k)));
                }
            }
        }
    }
    let mut extra: Vec<_> = got.into_iter().collect();
    extra.sort_by(|a, b| a.0.cmp(&b.0));
    for (k, g) in extra {
        problems.push(format!("EXTRA   {}: {g:?}", fmt_key(&k)));
    }

    if !problems.is_empty() {
        let shown: Vec<&String> = problems.iter().take(15).collect();
        panic!(
            "{} of {} truth connections exact; {} problems ({} CSV rows). First ones:\n  {}",
            seen,
            want.len(),
            problems.len(),
            got_rows.len(),
            shown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n  ")
        );
    }
    eprintln!(
        "truth_small: {} / {} connections exact, {} CSV rows",
        seen,
        want.len(),
        got_rows.len()
    );
}
