//! End-to-end tests on the bundled samples (made by real TLS stacks, see
//! samples/README.md). Expected facts come from `samples/expected.tsv`,
//! written by tshark (samples/oracle.sh), an oracle independent of tlsready.

use std::collections::BTreeMap;
use std::path::Path;

use crate::util::{Row, tlsready};

/// Runs `analyze` with extra arguments; returns the connection rows.
fn analyze(paths: &[&str], extra: &[&str]) -> (Vec<Row>, String, i32) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c.csv");
    let o = tlsready()
        .arg("analyze")
        .args(paths)
        .arg("--connections")
        .arg(&out)
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    (read_csv(&out), stdout, o.status.code().unwrap_or(-1))
}

fn read_csv(p: &Path) -> Vec<Row> {
    crate::util::read_rows(p, b',')
}

fn expected() -> Vec<Row> {
    crate::util::read_rows(Path::new("samples/expected.tsv"), b'\t')
}

fn one(file: &str) -> Row {
    let (rows, _, code) = analyze(&[&format!("samples/{file}")], &["-q"]);
    assert_eq!(code, 0, "{file}");
    assert_eq!(rows.len(), 1, "{file}: {rows:?}");
    rows.into_iter().next().unwrap()
}

const FACTS: [&str; 9] = [
    "client_ip",
    "client_port",
    "server_ip",
    "server_port",
    "sni",
    "client_max_version",
    "negotiated_version",
    "cipher",
    "alpn",
];

/// Cells where tshark 4.0 reads a sample wrong: (file, column, tshark's
/// value in expected.tsv, the right value). Each has its own test below.
const TSHARK_WRONG: &[(&str, &str, &str, &str)] = &[
    // tshark takes a ServerHello with version 0x0304 for the RFC 8446 layout
    // and reads the cipher from the key_share bytes; its draft-18 twin
    // (identical but for the version field) shows the cipher tshark gets right.
    (
        "tls13-draft-layout-0304.pcap",
        "cipher",
        "Unknown",
        "TLS_AES_256_GCM_SHA384",
    ),
    // Two SYN-ACKs with different ISNs, the server's data following the
    // first: tshark follows the later one and finds no ServerHello.
    ("tfo-stale-synack.pcap", "negotiated_version", "", "TLS1.3"),
    (
        "tfo-stale-synack.pcap",
        "cipher",
        "",
        "TLS_AES_256_GCM_SHA384",
    ),
];

/// Every sample's rows equal tshark's, field by field, with no extra rows
/// (mail sessions without TLS aside, which tshark does not list), except the
/// cells in [`TSHARK_WRONG`], which must hold the right value instead.
#[test]
fn every_sample_matches_the_tshark_oracle() {
    let exp = expected();
    let mut by_file: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    for e in exp {
        by_file.entry(e["file"].clone()).or_default().push(e);
    }
    let mut files: Vec<String> = std::fs::read_dir("samples")
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".pcap") || n.ends_with(".pcapng"))
        .collect();
    files.sort();
    assert!(files.len() >= 30, "samples missing: {files:?}");
    for f in files {
        let (mut got, _, code) = analyze(&[&format!("samples/{f}")], &["-q"]);
        assert_eq!(code, 0, "{f}");
        got.retain(|r| r["status"] != "plaintext" && r["status"] != "starttls_refused");
        let want = by_file.remove(&f).unwrap_or_default();
        assert_eq!(got.len(), want.len(), "{f}: rows {got:?} want {want:?}");
        for w in &want {
            let g = got
                .iter()
                .find(|g| g["client_port"] == w["client_port"] && g["client_ip"] == w["client_ip"])
                .unwrap_or_else(|| panic!("{f}: no row for {w:?}"));
            for k in FACTS {
                match TSHARK_WRONG.iter().find(|x| x.0 == f && x.1 == k) {
                    Some(&(_, _, tshark, right)) => {
                        assert_eq!(w[k], tshark, "{f}: column {k}: expected.tsv changed");
                        assert_eq!(g[k], right, "{f}: column {k}");
                    }
                    None => assert_eq!(g[k], w[k], "{f}: column {k}"),
                }
            }
        }
    }
    assert!(
        by_file.is_empty(),
        "oracle rows for missing files: {by_file:?}"
    );
}

#[test]
fn directory_gzip_and_rotated_files() {
    let plain = one("openssl-tls12.pcap");
    let gz = one("openssl-tls12.pcap.gz");
    for k in FACTS {
        assert_eq!(plain[k], gz[k], "{k}");
    }
    // The whole directory at once: one stream of traffic. Many samples
    // are another's packets, at the same times, in other frames (VLAN,
    // tunnels, gzip...): the same connection seen again, one row (see
    // README "Copies of packets"). Every connection of the oracle is
    // there, and the two mail sessions without TLS.
    let (rows, summary, code) = analyze(&["samples/"], &[]);
    assert_eq!(code, 0);
    let four =
        |r: &Row| ["client_ip", "client_port", "server_ip", "server_port"].map(|k| r[k].clone());
    let seen: std::collections::BTreeSet<_> = rows.iter().map(four).collect();
    for e in expected() {
        assert!(seen.contains(&four(&e)), "{e:?}");
    }
    let mut once = std::collections::BTreeSet::new();
    for r in &rows {
        assert!(once.insert((four(r), r["ts"].clone())), "a copy: {r:?}");
    }
    let plain = |s: &str| rows.iter().filter(|r| r["status"] == s).count();
    assert_eq!((plain("plaintext"), plain("starttls_refused")), (1, 1));
    assert!(summary.contains("after close: "), "{summary}");
}

#[test]
fn link_layers_and_segmentation() {
    let base = one("openssl-tls12.pcap");
    for f in ["vlan.pcap", "qinq.pcap"] {
        let r = one(f);
        assert_eq!(r["negotiated_version"], "TLS1.2", "{f}");
        assert_eq!(r["sni"], base["sni"], "{f}");
    }
    for f in ["sll.pcap", "sll2.pcap", "ipv6.pcap", "openssl-tls13.pcapng"] {
        let r = one(f);
        assert!(!r["negotiated_version"].is_empty(), "{f}: {r:?}");
    }
    for f in [
        "split-segments.pcap",
        "split-segments-reordered.pcap",
        "split-segments-retransmit.pcap",
        "split-records.pcap",
    ] {
        let r = one(f);
        assert_eq!(r["status"], "established", "{f}");
        assert!(!r["sni"].is_empty(), "{f}");
        assert!(!r["ja4"].is_empty(), "{f}");
    }
}

/// Samples whose frames samples/encap.py wrapped in 802.11, tunnels, IPv6
/// fragments, FCS trailers...: the whole row of the source sample, every
/// column (timestamps, fingerprints, packet counts included).
#[test]
fn encapsulated_samples_give_their_sources_rows() {
    for (wrapped, source) in [
        ("wifi-80211.pcap", "openssl-tls12.pcap"),
        ("wifi-radiotap.pcap", "openssl-tls13.pcap"),
        ("wifi-ppi.pcap", "gnutls-tls12.pcap"),
        ("geneve.pcap", "python-tls12.pcap"),
        ("gre.pcap", "openssl-tls11.pcap"),
        ("erspan1.pcap", "openssl-tls10.pcap"),
        ("erspan2.pcap", "curl-tls13.pcap"),
        ("erspan3.pcap", "openssl-tls13-client-tls10-server.pcap"),
        ("mpls.pcap", "m365-sni-tls12.pcap"),
        ("pppoe-ipv6.pcap", "ipv6.pcap"),
        ("nested-tunnels.pcap", "openssl-tls13-hrr.pcap"),
        ("raw-ipv4.pcap", "openssl-tls12-client-tls10-server.pcap"),
        ("raw-ipv6.pcap", "ipv6.pcap"),
        ("ipv6-fragments.pcap", "m365-ipv6.pcap"),
        ("eth-fcs.pcap", "split-segments.pcap"),
    ] {
        // The client's MAC is the link's, not the connection's.
        let facts = |f| {
            let mut r = one(f);
            r.remove("client_mac");
            r
        };
        assert_eq!(facts(wrapped), facts(source), "{wrapped}");
    }
}

/// A ClientHello and a server flight carried in IPv4 fragments (made by a
/// router in a network namespace), in order and reversed with duplicates:
/// the same row, and the summary counts the fragments.
#[test]
fn ipv4_fragments_are_reassembled() {
    let (rows, summary, code) = analyze(&["samples/ipv4-fragments.pcap"], &["--threads", "1"]);
    assert_eq!((rows.len(), code), (1, 0));
    assert_eq!(rows[0]["sni"], "frag.example.test");
    assert_eq!(rows[0]["status"], "established");
    assert!(
        summary.contains("IP fragments: 10, 3 datagrams reassembled, 0 dropped"),
        "{summary}"
    );
    let (again, summary, _) = analyze(&["samples/ipv4-fragments-reordered.pcap"], &[]);
    assert_eq!(again, rows);
    assert!(
        summary.contains("IP fragments: 13, 3 datagrams reassembled, 0 dropped"),
        "{summary}"
    );
    // Without fragments, no such line.
    let (_, summary, _) = analyze(&["samples/openssl-tls12.pcap"], &[]);
    assert!(!summary.contains("IP fragments"), "{summary}");
}

#[test]
fn statuses() {
    let r = one("openssl-tls10-client-tls12min-server-fail.pcap");
    assert_eq!(
        (r["status"].as_str(), r["negotiated_version"].as_str()),
        ("alert", "")
    );
    assert_eq!(r["alert"], "fatal: protocol_version");
    let r = one("midstream-no-clienthello.pcap");
    assert_eq!(r["status"], "no_client_hello");
    assert_eq!(r["client_max_version"], "");
    let r = one("openssl-tls13-hrr.pcap");
    assert_eq!(
        (r["hello_retry"].as_str(), r["negotiated_version"].as_str()),
        ("yes", "TLS1.3")
    );
}

/// A TLS 1.3 ServerHello in the layout of the drafts before draft 22 (no
/// session id echo, no compression method) is parsed in that layout, whether
/// its version field says 0x0304 or a draft code: the cipher is the one the
/// bytes carry and the handshake is complete.
#[test]
fn tls13_pre_draft22_server_hello_layout() {
    for (f, version) in [
        ("tls13-draft-layout-0304.pcap", "TLS1.3"),
        ("tls13-draft18-layout.pcap", "TLS1.3-draft18"),
    ] {
        let r = one(f);
        assert_eq!(r["negotiated_version"], version, "{f}");
        assert_eq!(r["cipher"], "TLS_AES_256_GCM_SHA384", "{f}");
        assert_eq!(r["status"], "established", "{f}");
    }
}

/// TCP Fast Open (the ClientHello on the SYN), and a server answering that
/// SYN twice with different initial sequence numbers: the ISN the server's
/// data follows is the stream's, whether it came in the second SYN-ACK or the
/// first (the second then stale).
#[test]
fn fast_open_and_two_syn_acks() {
    for f in [
        "tfo-tls13.pcap",
        "tfo-second-synack.pcap",
        "tfo-stale-synack.pcap",
    ] {
        let r = one(f);
        let got = (
            r["status"].as_str(),
            r["negotiated_version"].as_str(),
            r["cipher"].as_str(),
            r["sni"].as_str(),
        );
        assert_eq!(
            got,
            (
                "established",
                "TLS1.3",
                "TLS_AES_256_GCM_SHA384",
                "tfo.example.test"
            ),
            "{f}"
        );
    }
}

#[test]
fn mail_starttls() {
    let r = one("smtp-starttls-tls10-587.pcap");
    assert_eq!(r["protocol"], "smtp-starttls");
    assert_eq!(r["negotiated_version"], "TLS1.0");
    assert_eq!(r["client_helo"], "printer01.corp.example");
    assert_eq!(r["server_banner"], "AM0PR01CA0001.outlook.office365.com");
    // Recognised as Microsoft 365 by its greeting only (loopback address).
    assert_eq!(
        (r["m365"].as_str(), r["m365_match"].as_str()),
        ("yes", "banner")
    );
    assert_eq!(r["m365_service"], "Exchange");
    for (f, proto) in [
        ("smtp-starttls-tls12-2525.pcap", "smtp-starttls"),
        ("imap-starttls-tls10-143.pcap", "imap-starttls"),
        ("imap-starttls-tls12-10143.pcap", "imap-starttls"),
        ("pop3-starttls-tls10-110.pcap", "pop3-starttls"),
        ("pop3-starttls-tls12-10110.pcap", "pop3-starttls"),
        ("smtps-implicit-tls12-465.pcap", "tls"),
        ("imaps-implicit-tls10-993.pcap", "tls"),
        ("pop3s-implicit-tls13-995.pcap", "tls"),
    ] {
        let r = one(f);
        assert_eq!(r["protocol"], proto, "{f}");
        assert_eq!(r["status"], "established", "{f}");
    }
    let r = one("smtp-starttls-refused-25.pcap");
    assert_eq!(
        (r["protocol"].as_str(), r["status"].as_str()),
        ("smtp", "starttls_refused")
    );
    assert_eq!(r["client_helo"], "printer02.corp.example");
    let r = one("smtp-plaintext-25.pcap");
    assert_eq!(
        (r["protocol"].as_str(), r["status"].as_str()),
        ("smtp", "plaintext")
    );
    assert_eq!(r["client_helo"], "printer03.corp.example");
}

/// Implicit TLS (a ClientHello from the first byte, on 465/993/995)
/// answered by a mail server's plaintext greeting: the protocol is `tls` (no
/// STARTTLS was asked for), the status `plaintext_answer`, the greeting host
/// kept. In the tally such a connection counts as one without ServerHello,
/// not as plaintext (the client sent nothing in clear): the verdict comes from
/// what the client offered.
#[test]
fn implicit_tls_answered_in_plaintext() {
    for (f, offered, banner) in [
        (
            "smtps-plaintext-answer-465.pcap",
            "TLS1.3",
            "AM0PR01CA0001.outlook.office365.com",
        ),
        ("imaps-plaintext-answer-993.pcap", "TLS1.0", ""),
        ("pop3s-plaintext-answer-995.pcap", "TLS1.2", ""),
    ] {
        let r = one(f);
        let got = (
            r["protocol"].as_str(),
            r["status"].as_str(),
            r["client_max_version"].as_str(),
            r["negotiated_version"].as_str(),
            r["server_banner"].as_str(),
        );
        assert_eq!(got, ("tls", "plaintext_answer", offered, "", banner), "{f}");
    }
    let dir = tempfile::tempdir().unwrap();
    let clients = dir.path().join("clients.csv");
    let cl = clients.to_str().unwrap();
    // Microsoft 365 by its greeting; the client offers TLS 1.3: ready.
    analyze(
        &["samples/smtps-plaintext-answer-465.pcap"],
        &["-q", "--clients", cl],
    );
    let t = read_csv(&clients);
    assert_eq!(t.len(), 1, "{t:?}");
    let counts = |r: &Row| {
        (
            r["service"].clone(),
            r["verdict"].clone(),
            r["no_server_hello"].clone(),
            r["plaintext"].clone(),
        )
    };
    assert_eq!(
        counts(&t[0]),
        ("Exchange".into(), "ready".into(), "1".into(), "0".into())
    );
    // The client offers only TLS 1.0: it will break, whatever the server said.
    analyze(
        &["samples/imaps-plaintext-answer-993.pcap"],
        &["-q", "--clients", cl, "--scope", "all"],
    );
    let t = read_csv(&clients);
    assert_eq!(t.len(), 1, "{t:?}");
    assert_eq!(
        counts(&t[0]),
        ("".into(), "will-break".into(), "1".into(), "0".into())
    );
}

#[test]
fn microsoft_365_recognition() {
    let cases = [
        (
            "m365-sni-tls12.pcap",
            "yes",
            "Exchange",
            "sni+cert+ip",
            "no",
        ),
        ("m365-cert-only-tls10.pcap", "yes", "Exchange", "cert", "no"),
        ("m365-ip-only-tls11.pcap", "yes", "Exchange", "ip", "no"),
        ("m365-ipv6.pcap", "yes", "Exchange", "sni+cert+ip", "no"),
        ("m365-sni-spoof.pcap", "yes", "SharePoint", "sni", "no"),
        (
            "m365-legacy-smtp.pcap",
            "yes",
            "Exchange",
            "sni+cert+banner+ip",
            "yes",
        ),
        ("not-m365.pcap", "no", "", "", "no"),
        ("openssl-tls12.pcap", "no", "", "", "no"),
    ];
    for (f, m365, service, how, legacy) in cases {
        let r = one(f);
        let got = (
            r["m365"].as_str(),
            r["m365_service"].as_str(),
            r["m365_match"].as_str(),
            r["legacy_endpoint"].as_str(),
        );
        assert_eq!(got, (m365, service, how, legacy), "{f}");
    }
    // The endpoint set comes from the strongest evidence.
    assert_eq!(one("m365-sni-tls12.pcap")["m365_endpoint_id"], "1");
    assert_eq!(one("m365-legacy-smtp.pcap")["m365_endpoint_id"], "");
}

#[test]
fn per_client_tally_and_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let clients = dir.path().join("clients.csv");
    let (rows, summary, code) = analyze(
        &["samples/clients-mixed.pcap"],
        &["--clients", clients.to_str().unwrap(), "--fail-on-legacy"],
    );
    assert_eq!(rows.len(), 10);
    // 10.30.0.1 only ever offers TLS 1.0: --fail-on-legacy exits 4.
    assert_eq!(code, 4, "{summary}");
    assert!(
        summary.contains("Microsoft 365: 1 client will break; per service: Exchange 1"),
        "{summary}"
    );
    assert!(summary.contains("will-break 10.30.0.1"), "{summary}");
    let tally = read_csv(&clients);
    let get = |ip: &str| tally.iter().find(|r| r["client_ip"] == ip).unwrap();
    let a = get("10.30.0.1");
    assert_eq!(
        (
            a["verdict"].as_str(),
            a["connections"].as_str(),
            a["tls10"].as_str()
        ),
        ("will-break", "3", "3")
    );
    assert_eq!(a["client_max_offered"], "TLS1.0");
    // One TLS 1.0 connection among TLS 1.2 ones is an occasional fallback.
    let b = get("10.30.0.2");
    assert_eq!(
        (
            b["verdict"].as_str(),
            b["tls12"].as_str(),
            b["tls10"].as_str()
        ),
        ("ready", "4", "1")
    );
    assert_eq!(
        (b["lowest_version"].as_str(), b["highest_version"].as_str()),
        ("TLS1.0", "TLS1.2")
    );
    let c = get("10.30.0.3");
    assert_eq!((c["verdict"].as_str(), c["tls13"].as_str()), ("ready", "2"));
    assert!(c["first_seen"].ends_with('Z') && c["first_seen"] <= c["last_seen"]);
    assert!(!c["ja4"].is_empty());
    // Without --fail-on-legacy the same run exits 0.
    let (_, _, code) = analyze(&["samples/clients-mixed.pcap"], &["-q"]);
    assert_eq!(code, 0);
}

#[test]
fn json_lines_and_scope() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("c.jsonl");
    let (rows, _, _) = analyze(
        &["samples/clients-mixed.pcap"],
        &["-q", "--json", json.to_str().unwrap()],
    );
    let text = std::fs::read_to_string(&json).unwrap();
    let objs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objs.len(), rows.len());
    assert_eq!(objs[0]["server_port"], 443);
    assert_eq!(objs[0]["m365"], "yes");
    // --scope all covers non-Microsoft servers too.
    let clients = dir.path().join("cl.csv");
    analyze(
        &["samples/openssl-tls10.pcap"],
        &[
            "-q",
            "--clients",
            clients.to_str().unwrap(),
            "--scope",
            "all",
        ],
    );
    let t = read_csv(&clients);
    assert_eq!(t.len(), 1);
    assert_eq!(
        (t[0]["service"].as_str(), t[0]["verdict"].as_str()),
        ("", "will-break")
    );
    analyze(
        &["samples/openssl-tls10.pcap"],
        &["-q", "--clients", clients.to_str().unwrap()],
    );
    assert!(read_csv(&clients).is_empty());
}
