//! `tlsready tally`: the per-client tally from connection rows instead of
//! packets. tlsready's own rows must give `analyze`'s clients CSV byte for
//! byte, however they are split over files, directories, gzip and threads;
//! Zeek's ssl.log (Zeek's own logs of corpus captures) and Suricata's
//! eve.json (made by Suricata from the samples, samples/suricata/) must give
//! the facts tlsready finds in the packets of the same captures.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::{bin, empty_data_dir, read_rows, shared, tlsready};

fn run(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let o = tlsready()
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .unwrap();
    assert!(
        o.status.code().is_some(),
        "tlsready was killed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// `analyze` of `inputs`: (connections CSV, JSON lines, clients CSV) paths.
fn analyze(dir: &Path, inputs: &[&str], extra: &[&str]) -> (PathBuf, PathBuf, PathBuf) {
    let (csv, json, clients) = (
        dir.join("conns.csv"),
        dir.join("conns.jsonl"),
        dir.join("clients-analyze.csv"),
    );
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"analyze"];
    for i in inputs {
        args.push(i);
    }
    args.extend([
        &"--connections" as &dyn AsRef<std::ffi::OsStr>,
        &csv,
        &"--json",
        &json,
        &"--clients",
        &clients,
        &"-q",
    ]);
    for e in extra {
        args.push(e);
    }
    let o = run(&args);
    assert!(
        o.status.success(),
        "analyze failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    (csv, json, clients)
}

/// `tally` of `inputs` with `extra` arguments; returns the clients CSV.
fn tally(dir: &Path, inputs: &[&Path], extra: &[&str]) -> (Vec<u8>, Output) {
    let clients = dir.join("clients-tally.csv");
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"tally"];
    for i in inputs {
        args.push(i);
    }
    args.extend([&"--clients" as &dyn AsRef<std::ffi::OsStr>, &clients, &"-q"]);
    for e in extra {
        args.push(e);
    }
    let o = run(&args);
    let csv = std::fs::read(&clients).unwrap_or_default();
    (csv, o)
}

/// The cells of a clients CSV, line by line, and those of its columns that
/// come from the frames alone (the client's MAC, its vendor, the OS hint:
/// rows do not carry them), apart.
fn cells(csv: &[u8]) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    const FRAMES_ONLY: [&str; 1] = ["client_os_hint"];
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(csv);
    let lines: Vec<Vec<String>> = r
        .records()
        .map(|l| l.unwrap().iter().map(str::to_string).collect())
        .collect();
    let Some(header) = lines.first() else {
        return (lines, Vec::new());
    };
    let apart: Vec<usize> = FRAMES_ONLY
        .iter()
        .map(|c| header.iter().position(|h| h == c).unwrap())
        .collect();
    let (mut kept, mut frames) = (Vec::new(), Vec::new());
    for (i, l) in lines.iter().enumerate() {
        let (k, f): (Vec<_>, Vec<_>) = l
            .iter()
            .enumerate()
            .partition(|(j, _)| i == 0 || !apart.contains(j));
        kept.push(k.into_iter().map(|(_, c)| c.clone()).collect());
        frames.push(f.into_iter().map(|(_, c)| c.clone()).collect());
    }
    (kept, frames)
}

/// `tally`'s clients CSV is `analyze`'s, but for the cell only frames give
/// (the OS hint: rows carry the client's name and MAC, not that), empty in
/// `tally`'s.
fn assert_same(want: &Path, got: &[u8], what: &str) {
    let want = std::fs::read(want).unwrap();
    let ((a, _), (t, t_frames)) = (cells(&want), cells(got));
    assert!(
        a == t,
        "{what}: clients CSV differs\n--- analyze\n{}\n--- tally\n{}",
        String::from_utf8_lossy(&want),
        String::from_utf8_lossy(got)
    );
    assert!(
        t_frames.iter().flatten().all(String::is_empty),
        "{what}: tally's clients CSV has cells only frames give"
    );
}

fn check_equal_to_analyze(inputs: &[&str], scope: &str) {
    let dir = tempfile::tempdir().unwrap();
    // Per address here (tests/devices.rs compares the grouping by device).
    let (csv, json, clients) = analyze(
        dir.path(),
        inputs,
        &["--scope", scope, "--group-by", "address"],
    );
    let lines = std::fs::read_to_string(&json).unwrap().lines().count();
    assert!(lines > 0, "no rows from {inputs:?}");
    for rows in [&json, &csv] {
        for threads in ["1", "3"] {
            let (got, o) = tally(
                dir.path(),
                &[rows],
                &[
                    "--scope",
                    scope,
                    "--threads",
                    threads,
                    "--group-by",
                    "address",
                ],
            );
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            assert_same(
                &clients,
                &got,
                &format!("{} --threads {threads}", rows.display()),
            );
        }
    }
    // Blocks of a few rows each, read by several threads.
    let (got, _) = tally(
        dir.path(),
        &[&json, &csv],
        &["--scope", scope, "--threads", "4", "--block-bytes", "3000"],
    );
    let (twice, _) = tally(
        dir.path(),
        &[&json, &json],
        &["--scope", scope, "--threads", "1"],
    );
    assert_eq!(
        got, twice,
        "JSON + CSV = JSON twice, in blocks of 3000 bytes"
    );
}

#[test]
fn rows_of_the_samples_give_analyze_clients() {
    check_equal_to_analyze(&["samples/"], "m365");
    check_equal_to_analyze(&["samples/"], "all");
}

#[test]
fn rows_of_the_corpus_give_analyze_clients() {
    let Some(pcaps) = shared("corpus/pcaps") else {
        return;
    };
    check_equal_to_analyze(&[pcaps.to_str().unwrap()], "all");
}

fn gzip(path: &Path, data: &[u8]) {
    let f = std::fs::File::create(path).unwrap();
    let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap();
}

/// The same rows over several sensors and days, JSON and CSV, gzip or not,
/// in a directory tree: the same clients CSV.
#[test]
fn rows_split_over_sensors_days_and_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, json, clients) = analyze(dir.path(), &["samples/"], &["--scope", "all"]);
    let json = std::fs::read_to_string(&json).unwrap();
    let csv = std::fs::read_to_string(&csv).unwrap();
    let (header, csv_rows) = csv.split_once("\r\n").unwrap();
    let tree = dir.path().join("estate");
    let lines: Vec<&str> = json.lines().collect();
    let csv_lines: Vec<&str> = csv_rows.split_terminator("\r\n").collect();
    assert_eq!(lines.len(), csv_lines.len());
    // Row i goes to sensor i % 3, day i % 2; sensor 2 writes CSV.
    let mut files: BTreeMap<PathBuf, String> = BTreeMap::new();
    for (i, (j, c)) in lines.iter().zip(&csv_lines).enumerate() {
        let sensor = i % 3;
        let day = i % 2;
        let (name, row) = if sensor == 2 {
            (
                format!("sensor{sensor}/2026-12-0{day}/conns.csv"),
                format!("{c}\r\n"),
            )
        } else {
            (
                format!("sensor{sensor}/2026-12-0{day}/conns.jsonl"),
                format!("{j}\n"),
            )
        };
        let path = tree.join(name);
        let text = files.entry(path).or_insert_with(|| {
            if sensor == 2 {
                format!("{header}\r\n")
            } else {
                String::new()
            }
        });
        text.push_str(&row);
    }
    for (n, (path, text)) in files.iter().enumerate() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        if n % 2 == 0 {
            gzip(&path.with_extension("gz"), text.as_bytes());
        } else {
            std::fs::write(path, text).unwrap();
        }
    }
    // A file that is not rows, and a hidden one, are passed over in a
    // directory.
    std::fs::write(tree.join("sensor0/notes.txt"), "not rows\n").unwrap();
    std::fs::write(tree.join("sensor0/.conns.jsonl.partial"), "{\"broken").unwrap();
    // So is a Zeek log other than ssl.log (a sensor's log directory).
    let conn_log = tree.join("sensor1/conn.log");
    std::fs::write(
        &conn_log,
        "#separator \\x09\n#path\tconn\n#fields\tts\tuid\tid.orig_h\n1.0\tC1\t10.0.0.1\n",
    )
    .unwrap();
    for threads in ["1", "2"] {
        let (got, o) = tally(
            dir.path(),
            &[&tree],
            &["--scope", "all", "--threads", threads],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_same(&clients, &got, &format!("estate tree, --threads {threads}"));
    }
    // Standard input.
    let mut child = tlsready()
        .args(["tally", "-", "--scope", "all", "--clients", "-", "-q"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(json.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    assert_same(&clients, &o.stdout, "standard input");
    // Named on the command line, a file that is not rows is an input error
    // (exit 3), the others still counted.
    let notes = tree.join("sensor0/notes.txt");
    let (got, o) = tally(dir.path(), &[&tree, &notes], &["--scope", "all"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("notes.txt: not connection rows"));
    assert_same(&clients, &got, "with a bad input named");
    let (got, o) = tally(dir.path(), &[&tree, &conn_log], &["--scope", "all"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("conn.log: not connection rows"));
    assert_same(&clients, &got, "with a Zeek conn.log named");
    // A directory of files none of which are rows (the wrong folder) is
    // an input problem, not a clean run of none.
    let wrong = dir.path().join("wrong");
    std::fs::create_dir(&wrong).unwrap();
    std::fs::copy(&conn_log, wrong.join("conn.log")).unwrap();
    let (_, o) = tally(dir.path(), &[&wrong], &["--scope", "all"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("none of them connection rows"));
}

/// Malformed rows are skipped with one line naming the file and the first
/// bad line (exit 3); a gzip file cut short keeps the rows before the cut.
#[test]
fn malformed_rows_and_cut_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let (_, json, _) = analyze(dir.path(), &["samples/"], &["--scope", "all"]);
    let text = std::fs::read_to_string(&json).unwrap();
    let n = text.lines().count();
    let mut bad = String::new();
    for (i, l) in text.lines().enumerate() {
        bad.push_str(l);
        bad.push('\n');
        if i == 2 {
            bad.push_str("{\"client_ip\":\"10.0.0.1\",\"server_ip\":\"x\"}\n");
        }
    }
    let bad_path = dir.path().join("bad.jsonl");
    std::fs::write(&bad_path, &bad).unwrap();
    let o = run(&[&"tally", &bad_path, &"--scope", &"all"]);
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.jsonl: 1 malformed row skipped (first at line 4:"),
        "{err}"
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.starts_with(&format!(
            "{n} connection rows from 1 file, 1 malformed row skipped"
        )),
        "{out}"
    );
    // gzip cut in the middle.
    let gz = dir.path().join("cut.jsonl.gz");
    gzip(&gz, text.as_bytes());
    let whole = std::fs::read(&gz).unwrap();
    std::fs::write(&gz, &whole[..whole.len() * 2 / 3]).unwrap();
    let o = run(&[&"tally", &gz, &"--scope", &"all", &"--threads", &"1"]);
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cut.jsonl.gz: cannot read further after"),
        "{err}"
    );
    // A CSV without a column rows need: the same message and status with
    // one thread and with a file read in blocks by several.
    let short = dir.path().join("short.csv");
    std::fs::write(
        &short,
        "ts,client_ip,server_ip\n2026-01-01T00:00:00Z,10.0.0.1,192.0.2.4\n",
    )
    .unwrap();
    for threads in ["1", "2"] {
        let o = run(&[&"tally", &short, &"--threads", &threads]);
        assert_eq!(o.status.code(), Some(3), "--threads {threads}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("short.csv: cannot read further after 0 rows: connections CSV without a client_port column"),
            "--threads {threads}: {err}"
        );
    }
}

/// A file read in blocks by several threads (each block a few KiB here,
/// lines longer than a block among them, malformed rows in several blocks)
/// gives what one thread gives: the same clients CSV, row counts and first
/// malformed line; so does a CSV file, also with a quoted cell over two
/// lines.
#[test]
fn blocks_read_by_threads_give_one_thread_s_result() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, json, _) = analyze(dir.path(), &["samples/"], &["--scope", "all"]);
    let text = std::fs::read_to_string(&json).unwrap();
    let mut big = String::new();
    for copy in 0..6 {
        for (i, l) in text.lines().enumerate() {
            big.push_str(l);
            big.push('\n');
            if copy > 0 && i % 97 == 5 {
                big.push_str("{\"client_ip\":\"10.0.0.1\",\"server_ip\":\"x\"}\n");
            }
            if i % 53 == 7 {
                // A long line: a row with a long unknown key's value.
                let pad = "p".repeat(9000 + i);
                big.push_str(&l.replacen('{', &format!("{{\"pad\":\"{pad}\","), 1));
                big.push('\n');
            }
        }
    }
    let csv_text = std::fs::read_to_string(&csv).unwrap();
    let (header, body) = csv_text.split_once("\r\n").unwrap();
    let mut big_csv = format!("{header}\r\n");
    for _ in 0..6 {
        big_csv.push_str(body);
        big_csv.push_str("2026-11-28T10:56:59Z,10.0.0.1,x,10.0.0.2,443\r\n");
    }
    let mut quoted = big_csv.clone();
    quoted.push_str("2026-11-28T10:56:59Z,10.9.9.9,5,10.0.0.2,443,\"a\r\nb\"\r\n");
    quoted.push_str(body);
    for (name, data) in [
        ("big.jsonl", &big),
        ("big.csv", &big_csv),
        ("quoted.csv", &quoted),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, data).unwrap();
        let one = tally(dir.path(), &[&path], &["--scope", "all", "--threads", "1"]);
        for block in ["4096", "5000", "65536"] {
            let many = tally(
                dir.path(),
                &[&path],
                &["--scope", "all", "--threads", "3", "--block-bytes", block],
            );
            assert_eq!(one.0, many.0, "{name} {block}: clients CSV");
            assert_eq!(one.1.status.code(), many.1.status.code(), "{name}");
            assert_eq!(one.1.stderr, many.1.stderr, "{name} {block}");
            // The file read, not mapped: blocks cut by one thread, the same.
            let clients = dir.path().join("clients-read.csv");
            let o = tlsready()
                .env("TLSREADY_MMAP", "0")
                .arg("tally")
                .arg(&path)
                .arg("--clients")
                .arg(&clients)
                .args([
                    "-q",
                    "--scope",
                    "all",
                    "--threads",
                    "3",
                    "--block-bytes",
                    block,
                ])
                .output()
                .unwrap();
            assert_eq!(
                one.0,
                std::fs::read(&clients).unwrap(),
                "{name} {block}: read"
            );
            assert_eq!(one.1.stderr, o.stderr, "{name} {block}: read");
        }
        let err = String::from_utf8_lossy(&one.1.stderr);
        assert!(
            err.contains("malformed rows skipped (first at line"),
            "{name}: {err}"
        );
    }
}

/// Rows written with the built-in endpoint data, tallied with other data,
/// give what `analyze` of the packets gives with that data: recognition is
/// applied again, not read from the rows.
#[test]
fn microsoft_365_recognition_is_applied_again() {
    let dir = tempfile::tempdir().unwrap();
    let endpoints = dir.path().join("endpoints.json");
    std::fs::write(
        &endpoints,
        r#"[{"id":900,"serviceArea":"Exchange","urls":["*.example.test"],"required":true},
            {"id":901,"serviceArea":"SharePoint","ips":["10.20.0.0/16"],"required":true}]"#,
    )
    .unwrap();
    let ep = endpoints.to_str().unwrap();
    let (_, json, _) = analyze(dir.path(), &["samples/"], &[]);
    let fresh = dir.path().join("fresh");
    std::fs::create_dir(&fresh).unwrap();
    let (_, _, want) = analyze(&fresh, &["samples/"], &["--endpoints", ep]);
    let (got, o) = tally(dir.path(), &[&json], &["--endpoints", ep]);
    assert!(o.status.success());
    assert_same(&want, &got, "tally with other endpoint data");
    let got = String::from_utf8_lossy(&got);
    assert!(got.contains("tls10.example.test"), "{got}");
    assert!(!got.contains("outlook.office365.com"), "{got}");
    // And with the rows re-written: their Microsoft 365 columns are new.
    let rewritten = dir.path().join("rewritten.jsonl");
    let o = run(&[
        &"tally",
        &json,
        &"--endpoints",
        &ep,
        &"--json",
        &rewritten,
        &"-q",
    ]);
    assert!(o.status.success());
    let text = std::fs::read_to_string(&rewritten).unwrap();
    assert!(text.contains(r#""m365_endpoint_id":900"#));
    assert_eq!(
        text.lines().count(),
        std::fs::read_to_string(&json).unwrap().lines().count()
    );
}

/// Per client: negotiated versions and SNIs.
type Facts = BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)>;

fn facts_of(json: &Path) -> Facts {
    let mut out = Facts::new();
    for l in std::fs::read_to_string(json).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
        let e = out.entry(s("client_ip")).or_default();
        e.0.insert(s("negotiated_version"));
        e.1.insert(s("sni"));
    }
    out
}

/// Zeek's JSON form of a TSV log: unset fields left out, times and ports
/// as numbers, booleans, vectors as arrays (Zeek's JSON writer).
fn zeek_tsv_to_json(tsv: &str) -> String {
    let mut fields: Vec<&str> = Vec::new();
    let mut types: Vec<&str> = Vec::new();
    let mut out = String::new();
    for line in tsv.lines() {
        if let Some(f) = line.strip_prefix("#fields\t") {
            fields = f.split('\t').collect();
            continue;
        }
        if let Some(t) = line.strip_prefix("#types\t") {
            types = t.split('\t').collect();
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let mut obj = serde_json::Map::new();
        for ((f, t), v) in fields.iter().zip(&types).zip(line.split('\t')) {
            if v == "-" {
                continue;
            }
            let val = match *t {
                "time" => serde_json::json!(v.parse::<f64>().unwrap()),
                "port" | "count" => serde_json::json!(v.parse::<u64>().unwrap()),
                "bool" => serde_json::json!(v == "T"),
                "vector[count]" | "set[count]" => {
                    let items: Vec<u64> = if v == "(empty)" {
                        vec![]
                    } else {
                        v.split(',').map(|n| n.parse().unwrap()).collect()
                    };
                    serde_json::json!(items)
                }
                t if t.starts_with("vector[") || t.starts_with("set[") => {
                    let items: Vec<&str> = if v == "(empty)" {
                        vec![]
                    } else {
                        v.split(',').collect()
                    };
                    serde_json::json!(items)
                }
                _ => serde_json::json!(v),
            };
            obj.insert(f.to_string(), val);
        }
        out.push_str(&serde_json::Value::Object(obj).to_string());
        out.push('\n');
    }
    out
}

/// Zeek's own ssl.log of corpus captures give, per client, the versions
/// and server names tlsready finds in the packets.
#[test]
fn zeek_ssl_logs_give_the_facts_of_the_packets() {
    let Some(logs) = shared("corpus/zeek-logs") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".ssl.log"))
        .collect();
    entries.sort();
    for log in entries {
        let name = log.file_name().unwrap().to_string_lossy().to_string();
        let capture = name.trim_end_matches(".ssl.log");
        let text = std::fs::read_to_string(&log).unwrap();
        if text.contains("\tDTLSv") {
            // DTLS runs over UDP: tlsready reads TLS over TCP.
            continue;
        }
        // Zeek's test baselines mask times (`XXXXXXXXXX.XXXXXX`) and may
        // hold the logs of several traces one after another: the first is
        // the capture's.
        let first = match text.match_indices("#close").next() {
            Some((i, _)) => &text[..i],
            None => &text[..],
        };
        let zeek = dir.path().join(&name);
        let first = first.replace("XXXXXXXXXX.XXXXXX", "1700000000.000000");
        std::fs::write(&zeek, &first).unwrap();
        let rows = dir.path().join(format!("{capture}.zeek.jsonl"));
        let o = run(&[&"tally", &zeek, &"--scope", &"all", &"--json", &rows, &"-q"]);
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let sub = dir.path().join(capture);
        std::fs::create_dir(&sub).unwrap();
        let pcap = logs.join("../pcaps").join(capture);
        let (_, json, _) = analyze(&sub, &[pcap.to_str().unwrap()], &["--scope", "all"]);
        let (z, t) = (facts_of(&rows), facts_of(&json));
        assert!(!z.is_empty(), "{name}: no rows");
        assert_eq!(
            z, t,
            "{name}: Zeek's facts (left) differ from the packets' (right)"
        );
        // The same log as Zeek writes it in JSON (LogAscii::use_json).
        let zeek_json = dir.path().join(format!("{capture}.zeek.json"));
        std::fs::write(&zeek_json, zeek_tsv_to_json(&first)).unwrap();
        let rows_j = dir.path().join(format!("{capture}.zeek-json.jsonl"));
        let o = run(&[
            &"tally", &zeek_json, &"--scope", &"all", &"--json", &rows_j, &"-q",
        ]);
        assert!(
            o.status.success(),
            "{name} (JSON): {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(
            std::fs::read_to_string(&rows_j).unwrap(),
            std::fs::read_to_string(&rows).unwrap(),
            "{name}: the JSON form gives other rows"
        );
        // The default ssl.log does not say what the client offered.
        let text = std::fs::read_to_string(&rows).unwrap();
        assert!(!text.contains("client_max_version"), "{name}");
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} Zeek logs compared");
}

/// Zeek rows without a version: DTLS (a HelloVerifyRequest, or a
/// ClientHello retransmitted) is passed over as the rows that name DTLS;
/// a TLS handshake that failed with nothing known of the client's
/// versions makes the client `at-risk`, not `ready`.
#[test]
fn zeek_rows_without_a_version() {
    let Some(logs) = shared("corpus/zeek-logs") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for name in ["dtls13-wolfssl.pcap.ssl.log", "dtls1_2.pcap.ssl.log"] {
        let text = std::fs::read_to_string(logs.join(name)).unwrap();
        let log = dir.path().join(name);
        std::fs::write(&log, text.replace("XXXXXXXXXX.XXXXXX", "1700000000.000000")).unwrap();
        let rows = dir.path().join("dtls.jsonl");
        let o = run(&[&"tally", &log, &"--scope", &"all", &"--json", &rows, &"-q"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{name}: {err}");
        assert_eq!(std::fs::read_to_string(&rows).unwrap(), "", "{name}");
    }
    // A Zeek baseline's header, one failed handshake to Exchange (the
    // server's alert after the ClientHello), one without an answer.
    let text =
        std::fs::read_to_string(logs.join("tls-1.2-handshake-failure.pcap.ssl.log")).unwrap();
    let head: String = text
        .lines()
        .filter(|l| l.starts_with('#') && !l.starts_with("#close"))
        .map(|l| format!("{l}\n"))
        .collect();
    let fields: Vec<&str> = head
        .lines()
        .find_map(|l| l.strip_prefix("#fields\t"))
        .unwrap()
        .split('\t')
        .collect();
    let row = |port: &str, alert: &str, history: &str| {
        fields
            .iter()
            .map(|f| match *f {
                "ts" => "1700000000.000000",
                "uid" => "Cx",
                "id.orig_h" => "10.9.9.9",
                "id.orig_p" => port,
                "id.resp_h" => "52.96.30.1",
                "id.resp_p" => "443",
                "server_name" => "outlook.office365.com",
                "last_alert" => alert,
                "established" | "resumed" => "F",
                "ssl_history" => history,
                _ => "-",
            })
            .collect::<Vec<_>>()
            .join("\t")
    };
    let log = dir.path().join("failed.ssl.log");
    let body = format!(
        "{head}{}\n{}\n",
        row("50000", "protocol_version", "Ca"),
        row("50001", "-", "C")
    );
    std::fs::write(&log, body).unwrap();
    let clients = dir.path().join("clients.csv");
    let o = run(&[&"tally", &log, &"--clients", &clients, &"-q"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows = read_rows(&clients, b',');
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["verdict"], "at-risk");
    assert_eq!(rows[0]["connections"], "2");
    assert_eq!(rows[0]["no_server_hello"], "2");
}

/// JSON rows keyed by client address and port.
type ByConn = BTreeMap<(String, u64), serde_json::Value>;

/// The rows `tally` writes from another sensor's log `log` (kept in
/// `dir/tally.jsonl`), and the rows `analyze` writes from the samples'
/// packets, both keyed by connection.
fn tally_and_packets(dir: &Path, log: &str) -> (ByConn, ByConn) {
    let (_, json, _) = analyze(dir, &["samples/"], &["--scope", "all"]);
    let rows = dir.join("tally.jsonl");
    let o = run(&[&"tally", &log, &"--scope", &"all", &"--json", &rows]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let by_conn = |p: &Path| -> ByConn {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                let k = (
                    v["client_ip"].as_str().unwrap().to_string(),
                    v["client_port"].as_u64().unwrap(),
                );
                (k, v)
            })
            .collect()
    };
    (by_conn(&rows), by_conn(&json))
}

/// Suricata's eve.json of the samples (samples/suricata/make-eve.sh): each
/// tls event gives the facts of tlsready's row for the same connection.
#[test]
fn suricata_eve_gives_the_facts_of_the_packets() {
    let dir = tempfile::tempdir().unwrap();
    let (eve, ours) = tally_and_packets(dir.path(), "samples/suricata/eve.json");
    assert!(eve.len() >= 35, "{} tls events", eve.len());
    for (k, e) in &eve {
        let t = ours
            .get(k)
            .unwrap_or_else(|| panic!("{k:?}: no such connection in the packets"));
        for f in ["negotiated_version", "sni", "client_version", "ja3"] {
            assert_eq!(e.get(f), t.get(f), "{k:?} {f}");
        }
        // Offered version: from JA4, else from JA3 without supported_versions.
        if let Some(m) = e.get("client_max_version") {
            assert_eq!(Some(m), t.get("client_max_version"), "{k:?}");
        }
        // JA4's part a (Suricata 7.0.10 hashes the extensions of hellos
        // without signature algorithms differently from FoxIO's tool).
        let a = |v: &serde_json::Value| v["ja4"].as_str().map(|s| s[..10].to_string());
        assert_eq!(a(e), a(t), "{k:?} ja4");
    }
    // The failed handshake (a TLS 1.0 client, a server wanting 1.2): Suricata
    // writes the alert's record version; with no JA3S it is no ServerHello.
    let fail = eve
        .values()
        .find(|v| v["sni"] == "fail.example.test")
        .unwrap();
    assert!(fail.get("negotiated_version").is_none(), "{fail}");
    assert_eq!(fail["client_max_version"], "TLS1.0");
}

/// The ClickHouse table and SQL of contrib/clickhouse/, run by chdb (the
/// embedded ClickHouse engine) on the rows of the samples and the corpus,
/// give `tlsready tally`'s clients CSV row by row (tests/clickhouse/compare.py).
#[test]
fn clickhouse_sql_gives_the_tally() {
    let dir = tempfile::tempdir().unwrap();
    let (_, samples, _) = analyze(dir.path(), &["samples/"], &[]);
    let mut rows = vec![samples];
    if let Some(pcaps) = shared("corpus/pcaps") {
        let sub = dir.path().join("corpus");
        std::fs::create_dir(&sub).unwrap();
        rows.push(analyze(&sub, &[pcaps.to_str().unwrap()], &[]).1);
    }
    // A client whose handshakes all failed with nothing known of its
    // versions (as Zeek rows without `version` are): at-risk both ways.
    let failed = dir.path().join("failed.jsonl");
    let row = |port: u16, status: &str| {
        format!(
            r#"{{"ts":"2026-11-28T10:00:00.000000Z","last_ts":"2026-11-28T10:00:01.000000Z","client_ip":"10.9.9.9","client_port":{port},"server_ip":"52.96.30.1","server_port":443,"protocol":"tls","sni":"outlook.office365.com","status":"{status}","alert":"protocol_version","m365":"yes","m365_service":"Exchange","m365_match":"sni+ip","m365_data":"built-in:2026073100","legacy_endpoint":"no","hello_retry":"no"}}"#
        )
    };
    std::fs::write(
        &failed,
        format!(
            "{}\n{}\n",
            row(50000, "alert"),
            row(50001, "no_server_hello")
        ),
    )
    .unwrap();
    rows.push(failed);
    if !crate::util::python3() {
        return;
    }
    let o = match Command::new("python3")
        .env("TLSREADY_DATA_DIR", empty_data_dir())
        .arg("tests/clickhouse/compare.py")
        .arg(bin())
        .args(&rows)
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            eprintln!("skipped: python3 cannot be run ({e})");
            return;
        }
    };
    let out = String::from_utf8_lossy(&o.stdout);
    if o.status.code() == Some(77) {
        eprintln!("{}", out.trim());
        return;
    }
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains("scope m365: ") && out.contains(", 0 differ"),
        "{out}"
    );
    assert!(out.contains("2 passed, 0 failed"), "{out}");
}

/// A Zeek ssl.log laid out as with Zeek's ssl-log-ext policy, its fields
/// taken from the samples' ClientHellos by tshark (samples/zeek/
/// make-ext-log.py): the offered versions, JA3 and JA4 read from it are
/// those tlsready finds in the packets.
#[test]
fn zeek_ssl_log_ext_gives_offers_and_fingerprints() {
    let dir = tempfile::tempdir().unwrap();
    let (zeek, ours) = tally_and_packets(dir.path(), "samples/zeek/ssl-ext.log");
    assert!(zeek.len() >= 40, "{} hellos", zeek.len());
    // Its JSON form (Zeek's JSON writer) gives the same rows.
    let tsv = std::fs::read_to_string("samples/zeek/ssl-ext.log").unwrap();
    let zeek_json = dir.path().join("ssl-ext.json");
    std::fs::write(&zeek_json, zeek_tsv_to_json(&tsv)).unwrap();
    let rows_j = dir.path().join("ext-json.jsonl");
    let o = run(&[&"tally", &zeek_json, &"--scope", &"all", &"--json", &rows_j]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read_to_string(&rows_j).unwrap(),
        std::fs::read_to_string(dir.path().join("tally.jsonl")).unwrap()
    );
    for (k, z) in &zeek {
        let t = ours
            .get(k)
            .unwrap_or_else(|| panic!("{k:?}: no such connection in the packets"));
        for f in ["client_max_version", "client_version", "ja3", "ja4", "sni"] {
            assert_eq!(z.get(f), t.get(f), "{k:?} {f}");
        }
    }
}

/// `--fail-on-legacy` as for `analyze`: exit 4 when a client will break,
/// and the summary names the rows read.
#[test]
fn fail_on_legacy_and_summary() {
    let dir = tempfile::tempdir().unwrap();
    let (_, json, _) = analyze(dir.path(), &["samples/"], &[]);
    let o = run(&[&"tally", &json, &"--fail-on-legacy"]);
    assert_eq!(o.status.code(), Some(4));
    let out = String::from_utf8_lossy(&o.stdout);
    let n = std::fs::read_to_string(&json).unwrap().lines().count();
    assert!(
        out.starts_with(&format!("{n} connection rows from 1 file\n")),
        "{out}"
    );
    assert!(
        out.contains("Microsoft 365: 6 distinct clients will break; per service: Exchange 6"),
        "{out}"
    );
    // Only clients that are ready: exit 0.
    let ready: String = std::fs::read_to_string(&json)
        .unwrap()
        .lines()
        .filter(|l| l.contains(r#""client_ip":"10.30.0.2""#))
        .map(|l| format!("{l}\n"))
        .collect();
    let ready_path = dir.path().join("ready.jsonl");
    std::fs::write(&ready_path, ready).unwrap();
    let o = run(&[&"tally", &ready_path, &"--fail-on-legacy", &"-q"]);
    assert_eq!(o.status.code(), Some(0));
}

/// Rows read back and written again are the rows `analyze` wrote, byte for
/// byte (JSON lines to CSV and JSON, CSV to JSON); `tally`'s terminal report
/// is `analyze`'s after the first line (less the packet-only lines) and its
/// HTML page is `analyze`'s but for the sources, the packet count and the
/// time it was made.
#[test]
fn rows_written_again_report_and_html_are_analyze_s() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let html_a = d.join("analyze.html");
    let (csv, json, _) = analyze(d, &["samples/"], &["--html", html_a.to_str().unwrap()]);
    let (csv2, json2, json3, html_t) = (
        d.join("again.csv"),
        d.join("again.jsonl"),
        d.join("from-csv.jsonl"),
        d.join("tally.html"),
    );
    let o = run(&[
        &"tally",
        &json,
        &"--connections",
        &csv2,
        &"--json",
        &json2,
        &"--html",
        &html_t,
        &"-q",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(&csv).unwrap(), std::fs::read(&csv2).unwrap());
    assert_eq!(
        std::fs::read(&json).unwrap(),
        std::fs::read(&json2).unwrap()
    );
    let o = run(&[&"tally", &csv, &"--json", &json3, &"-q"]);
    assert!(o.status.success());
    assert_eq!(
        std::fs::read(&json).unwrap(),
        std::fs::read(&json3).unwrap()
    );
    // The page: one element per line, the three lines that differ left out.
    let page = |p: &Path| -> Vec<String> {
        // The client's MAC and its vendor come from the frames: the rows
        // do not carry them (empty in the tally's table).
        let text = std::fs::read_to_string(p).unwrap();
        let text = without_mac_cells(&text).replace("><", ">\n<");
        let mut out = Vec::new();
        let mut after_made = false;
        for l in text.lines() {
            let skip = after_made
                || l.starts_with("<dd>files: ")
                || l.starts_with("<dd>connection rows: ")
                || l.contains("id=\"f-connections\"")
                || l.contains("Made by tlsready");
            after_made = l == "<dt>Report made</dt>";
            if !skip {
                out.push(l.to_string());
            }
        }
        out
    };
    let (a, t) = (page(&html_a), page(&html_t));
    assert!(a.len() > 500, "{} lines", a.len());
    for (i, (x, y)) in a.iter().zip(&t).enumerate() {
        assert_eq!(x, y, "HTML pages differ at line {i}");
    }
    assert_eq!(a.len(), t.len());
    assert!(
        std::fs::read_to_string(&html_t)
            .unwrap()
            .contains("TLS connections, <span id=\"f-below\">"),
        "no packet count in the tally's page"
    );
    // The terminal report.
    let report = |o: Output| -> Vec<String> {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .skip(1)
            .filter(|l| {
                !["IP fragments:", "evicted:", "after close:"]
                    .iter()
                    .any(|p| l.starts_with(p))
            })
            .map(str::to_string)
            .collect()
    };
    let a = report(run(&[&"analyze", &"samples/"]));
    let t = report(run(&[&"tally", &json]));
    assert!(a.len() > 10);
    assert_eq!(a, t);
}

/// Rows with columns or keys tlsready does not know (a later version's,
/// such as issue 15's `client_name`, `client_name_source`, `client_mac` at
/// the end of the row) still read, and give the same tally.
#[test]
fn unknown_columns_and_keys_are_passed_over() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, json, clients) = analyze(dir.path(), &["samples/"], &[]);
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut wide = String::new();
    for (i, l) in text.split_terminator("\r\n").enumerate() {
        wide.push_str(l);
        wide.push_str(if i == 0 {
            ",zz_site,zz_source,zz_mac\r\n"
        } else {
            ",\"laptop-7, 2nd floor\",dhcp,00:11:22:33:44:55\r\n"
        });
    }
    let wide_csv = dir.path().join("wide.csv");
    std::fs::write(&wide_csv, wide).unwrap();
    let mut wide = String::new();
    for l in std::fs::read_to_string(&json).unwrap().lines() {
        let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
        let o = v.as_object_mut().unwrap();
        o.insert("zz_name".into(), "laptop-7 \"x\"".into());
        o.insert("zz_mac".into(), "00:11:22:33:44:55".into());
        o.insert("zz_future".into(), serde_json::json!({"nested": [1, 2]}));
        o.insert("a_number".into(), serde_json::json!(1.5e3));
        wide.push_str(&serde_json::to_string(&v).unwrap());
        wide.push('\n');
    }
    let wide_json = dir.path().join("wide.jsonl");
    std::fs::write(&wide_json, wide).unwrap();
    for p in [&wide_csv, &wide_json] {
        for threads in ["1", "2"] {
            let (got, o) = tally(dir.path(), &[p], &["--threads", threads]);
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            assert_same(&clients, &got, &p.display().to_string());
        }
    }
}

/// The endpoint data is chosen as for `analyze`: the stored update of
/// `--instance` (as `endpoints update` writes it) classifies old rows, they
/// come out with its `m365_data`, and the report says which data it is; an
/// instance without stored data is an error (exit 1), as for `analyze`.
#[test]
fn stored_update_of_the_instance_is_applied_to_old_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (_, json, _) = analyze(dir.path(), &["samples/"], &[]);
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(
        data.join("endpoints-usgovgcchigh.json"),
        r#"{"format":1,"instance":"USGovGCCHigh","version":"2026112800","fetched":"2026-11-28T06:00:00Z","url":"https://endpoints.office.com/endpoints/USGovGCCHigh","endpoints":[{"id":700,"serviceArea":"Exchange","urls":["tls10.example.test"],"required":true}]}"#,
    )
    .unwrap();
    let with_data = |args: &[&dyn AsRef<std::ffi::OsStr>]| {
        tlsready()
            .env("TLSREADY_DATA_DIR", &data)
            .args(args.iter().map(|a| a.as_ref()))
            .output()
            .unwrap()
    };
    let out = dir.path().join("gcc.jsonl");
    let o = with_data(&[
        &"tally",
        &json,
        &"--instance",
        &"usgovgcchigh",
        &"--json",
        &out,
        &"--clients",
        &"-",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let clients = String::from_utf8_lossy(&o.stdout);
    let rows = crate::util::rows_from(clients.as_bytes(), b',');
    assert!(!rows.is_empty());
    // Only the stored data's one name (and the opt-in legacy endpoints,
    // recognised whatever the data).
    let ours: Vec<_> = rows
        .iter()
        .filter(|r| r["server_name"] == "tls10.example.test")
        .collect();
    assert!(!ours.is_empty(), "{clients}");
    assert!(
        rows.iter()
            .all(|r| r["server_name"] == "tls10.example.test"
                || r["server_name"].contains("-legacy.")),
        "{clients}"
    );
    let report = String::from_utf8_lossy(&o.stderr);
    assert!(
        report.contains("Microsoft 365 data: stored 2026112800 (USGovGCCHigh"),
        "{report}"
    );
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        std::fs::read_to_string(&json).unwrap().lines().count()
    );
    assert!(
        lines
            .iter()
            .all(|l| l.contains(r#""m365_data":"stored:2026112800""#)),
        "{}",
        lines[0]
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains(r#""m365_endpoint_id":700"#))
            .count(),
        ours.iter()
            .map(|r| r["connections"].parse::<usize>().unwrap())
            .sum::<usize>()
    );
    // No stored data for another instance: an error, nothing tallied.
    let o = with_data(&[&"tally", &json, &"--instance", &"china", &"-q"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("endpoints update --instance"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `text` with the table cells holding a MAC (`aa:bb:cc:dd:ee:ff`) or the
/// vendor `locally administered` emptied.
fn without_mac_cells(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("<td>") {
        out.push_str(&rest[..at + 4]);
        rest = &rest[at + 4..];
        let end = rest.find("</td>").unwrap_or(0);
        let cell = &rest[..end];
        let mac = cell.len() == 17
            && cell
                .split(':')
                .all(|b| b.len() == 2 && b.bytes().all(|c| c.is_ascii_hexdigit()));
        if mac || cell == "locally administered" {
            rest = &rest[end..];
        }
    }
    out.push_str(rest);
    out
}

/// A hostile row (escape sequences, a right-to-left mark in its SNI, as a
/// JSON line and as a CSV cell): the terminal report and the clients CSV
/// show it escaped, never the raw control bytes.
#[test]
fn control_characters_in_rows_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("esc.jsonl");
    std::fs::write(
        &json,
        "{\"ts\":\"2026-01-01T00:00:00Z\",\"client_ip\":\"10.0.0.1\",\"client_port\":1,\
         \"server_ip\":\"192.0.2.4\",\"server_port\":443,\
         \"sni\":\"\\u001b]0;owned\\u0007\\u001b[2Jevil\\u202e\",\"negotiated_version\":\"TLS1.0\"}\n",
    )
    .unwrap();
    let (clients, o) = tally(dir.path(), &[&json], &["--scope", "all"]);
    assert_eq!(o.status.code(), Some(0));
    let report = run(&[&"tally", &json, &"--scope", &"all"]);
    for (what, bytes) in [("clients CSV", &clients), ("report", &report.stdout)] {
        assert!(
            !bytes.iter().any(|&b| b == 0x1b || b == 0x07),
            "{what}: {}",
            String::from_utf8_lossy(bytes)
        );
        let text = String::from_utf8_lossy(bytes);
        assert!(
            text.contains("\\x1b]0;owned\\x07\\x1b[2Jevil\\xe2\\x80\\xae"),
            "{what}: {text}"
        );
    }
}

/// Inputs as they come from scripts and Windows: an empty hour of rows
/// (plain and gzip) is 0 rows, not an error; a byte-order mark (PowerShell,
/// Excel) is not part of the first row, in a file read by one thread or
/// several and on standard input; standard input whose first read is a few
/// bytes, or whose first line is blank, is still recognised.
#[test]
fn empty_files_byte_order_marks_and_slow_pipes() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, json, _) = analyze(dir.path(), &["samples/"], &["--scope", "all"]);
    let want = run(&[&"tally", &json, &"--scope", &"all"]);
    assert_eq!(want.status.code(), Some(0));
    let first = |o: &Output| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        first(&want).ends_with("connection rows from 1 file"),
        "{}",
        first(&want)
    );
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, b"").unwrap();
    let empty_gz = dir.path().join("empty.jsonl.gz");
    gzip(&empty_gz, b"");
    for e in [&empty, &empty_gz] {
        let o = run(&[&"tally", e]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(first(&o), "0 connection rows from 1 file");
    }
    let bom = dir.path().join("bom.jsonl");
    let mut bytes = b"\xef\xbb\xbf".to_vec();
    bytes.extend(std::fs::read(&json).unwrap());
    std::fs::write(&bom, &bytes).unwrap();
    for threads in ["1", "2"] {
        let o = run(&[&"tally", &bom, &"--scope", &"all", &"--threads", &threads]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(o.stdout, want.stdout, "--threads {threads}");
    }
    let bin = crate::util::bin();
    for (what, feed) in [
        ("byte-order mark", format!("cat '{}'", bom.display())),
        (
            "blank first line",
            format!("(echo; cat '{}')", json.display()),
        ),
        (
            "slow pipe",
            format!(
                "(head -c 10 '{0}'; sleep 0.3; tail -c +11 '{0}')",
                csv.display()
            ),
        ),
    ] {
        let o = Command::new("sh")
            .arg("-c")
            .arg(format!("{feed} | '{bin}' tally - --scope all"))
            .env("TLSREADY_DATA_DIR", crate::util::empty_data_dir())
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{what}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(first(&o), first(&want), "{what}");
    }
}

/// Zeek JSON with `JSON::TS_MILLIS` (whole milliseconds) is read as such;
/// rows from another sensor count no packets, and say so with an empty
/// cell; a malformed JSON row is named by its line, once.
#[test]
fn zeek_millisecond_times_and_uncounted_packets() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("ssl.json");
    let row = r#"{"ts":1400000000123,"uid":"C1","id.orig_h":"10.0.0.1","id.orig_p":50000,"id.resp_h":"52.96.30.1","id.resp_p":443,"version":"TLSv12","server_name":"outlook.office365.com","established":true,"ssl_history":"CsxknGIti"}"#;
    std::fs::write(
        &log,
        format!("{row}\n{{\"id.orig_h\":\"1.2.3\",\"uid\":\"C2\"}}\n"),
    )
    .unwrap();
    let (json, csv) = (dir.path().join("r.jsonl"), dir.path().join("r.csv"));
    let o = run(&[&"tally", &log, &"--json", &json, &"--connections", &csv]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains("1 malformed row skipped (first at line 2: ")
            && err.contains("(column ")
            && !err.contains(" at line 1 column "),
        "{err}"
    );
    let text = std::fs::read_to_string(&json).unwrap();
    assert!(
        text.contains(r#""ts":"2014-05-13T16:53:20.123000Z""#),
        "{text}"
    );
    assert!(!text.contains("packets"), "{text}");
    let rows = read_rows(&csv, b',');
    assert_eq!(rows[0]["ts"], "2014-05-13T16:53:20.123000Z");
    assert_eq!(rows[0]["packets"], "");
}
