//! Real captures from public test suites, read in place from
//! `../shared/corpus` (not copied into this repository): JA4 fingerprints
//! must equal those of FoxIO's reference tool (expected/ja4), and the
//! per-connection facts are scored by `../shared/corpus/score.py`
//! (run by scripts/test.sh).

use crate::util::{shared, tlsready};
use std::collections::BTreeMap;

#[test]
fn ja4_matches_reference_tool() {
    let Some(corpus) = shared("corpus") else {
        return;
    };
    let dir = corpus.join("expected/ja4");
    let tmp = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let capture = path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches(".tsv")
            .to_string();
        let out = tmp.path().join(format!("{capture}.csv"));
        let status = tlsready()
            .args(["analyze", "-q", "--connections"])
            .arg(&out)
            .arg(corpus.join("pcaps").join(&capture))
            .status()
            .unwrap();
        assert!(status.success(), "{capture}");
        let mut got = BTreeMap::new();
        for rec in csv::Reader::from_path(&out)
            .unwrap()
            .deserialize::<BTreeMap<String, String>>()
        {
            let r = rec.unwrap();
            got.insert(
                (r["client_ip"].clone(), r["client_port"].clone()),
                r["ja4"].clone(),
            );
        }
        let mut rd = csv::ReaderBuilder::new()
            .delimiter(b'\t')
            .from_path(&path)
            .unwrap();
        for rec in rd.deserialize::<BTreeMap<String, String>>() {
            let e = rec.unwrap();
            if e["transport"] != "tcp" {
                continue;
            }
            let key = (e["client_ip"].clone(), e["client_port"].clone());
            assert_eq!(got.get(&key), Some(&e["ja4"]), "{capture} {key:?}");
            checked += 1;
        }
    }
    assert!(checked >= 100, "only {checked} fingerprints checked");
}

/// A ClientHello answered in text is `plaintext_answer` (an HTTP server's
/// error page in https-to-http.pcap); one answered with binary bytes that
/// are no TLS record (tls-1.2-protocol-error.pcap: the server's alert with
/// its header zeroed) stays `no_server_hello`.
#[test]
fn clienthello_answered_by_something_else_than_tls() {
    let Some(pcaps) = shared("corpus/pcaps") else {
        return;
    };
    for (capture, status) in [
        ("https-to-http.pcap", "plaintext_answer"),
        ("tls-1.2-protocol-error.pcap", "no_server_hello"),
    ] {
        let out = tlsready()
            .args(["analyze", "-q", "--connections", "-"])
            .arg(pcaps.join(capture))
            .output()
            .unwrap();
        assert!(out.status.success(), "{capture}");
        let rows: Vec<BTreeMap<String, String>> = csv::Reader::from_reader(&out.stdout[..])
            .deserialize()
            .map(Result::unwrap)
            .collect();
        assert_eq!(rows.len(), 1, "{capture}: {rows:?}");
        assert_eq!(
            (rows[0]["protocol"].as_str(), rows[0]["status"].as_str()),
            ("tls", status),
            "{capture}"
        );
    }
}
