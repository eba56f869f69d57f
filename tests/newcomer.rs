//! What a newcomer trips over (issue 14): outputs named twice, signals,
//! runs where nothing was read, the terminal report, tcpdump habits.

use std::path::Path;

use crate::util::{read_rows, records, sample, tlsready};

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
    // One input named twice (here through its hard link): said so.
    std::fs::hard_link(&copy, d.join("in-again.pcap")).expect("hard link");
    let out = tlsready()
        .arg("analyze")
        .arg(&copy)
        .arg(d.join("in-again.pcap"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is named twice as an input"), "{err}");
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

/// One output that fails (a full disk) does not lose the others: the
/// clients CSV and the HTML report of what was gathered are written, the
/// summary printed, and the error names the output (exit 1).
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_on_one_output_keeps_the_others() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (clients, html) = (dir.path().join("clients.csv"), dir.path().join("r.html"));
    std::fs::write(&clients, "old\n").expect("write");
    let out = tlsready()
        .arg("analyze")
        .arg(sample("openssl-tls10.pcap"))
        .args(["--connections", "/dev/full", "--scope", "all", "--clients"])
        .arg(&clients)
        .arg("--html")
        .arg(&html)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot write --connections /dev/full: No space left"),
        "{err}"
    );
    let rows = read_rows(&clients, b',');
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(
        std::fs::read_to_string(&html)
            .expect("html")
            .contains("</html>")
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("TLS1.0"));
}

/// A classic little-endian pcap of `name` repeated `reps` times, each copy
/// `gap` seconds after the one before (so its connections are new ones).
fn repeated_capture(name: &str, reps: u32, gap: u32, out: &Path) {
    use std::io::Write;
    let data = std::fs::read(sample(name)).expect("sample");
    let recs = records(&data);
    let mut w = std::io::BufWriter::new(std::fs::File::create(out).expect("create"));
    w.write_all(&data[..24]).expect("write");
    for r in 0..reps {
        for rec in &recs {
            let secs = u32::from_le_bytes(rec[..4].try_into().expect("4")) + r * gap;
            w.write_all(&secs.to_le_bytes()).expect("write");
            w.write_all(&rec[4..]).expect("write");
        }
    }
    w.flush().expect("flush");
}

/// SIGINT in the middle of `analyze` of a large file (one thread and
/// several): reading stops, the connections CSV holds whole rows, the
/// summary says it was interrupted, exit status 130.
#[test]
fn sigint_during_analyze_writes_whole_rows_and_exits_130() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big = dir.path().join("big.pcap");
    // 10 rows per copy; about 1 GB.
    let reps = 30_000;
    repeated_capture("clients-mixed.pcap", reps, 1000, &big);
    for threads in ["1", "2"] {
        let csv = dir.path().join(format!("conn{threads}.csv"));
        let child = tlsready()
            .arg("analyze")
            .arg(&big)
            .args(["--threads", threads, "--scope", "all", "--connections"])
            .arg(&csv)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        // Wait until rows are being written, then interrupt.
        let t0 = std::time::Instant::now();
        while std::fs::metadata(&csv).map_or(0, |m| m.len()) < 100_000 {
            assert!(t0.elapsed().as_secs() < 60, "no rows written");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // SAFETY: sends a signal to the child we started.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let out = child.wait_with_output().expect("wait");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "threads {threads}: {stderr}");
        assert!(stdout.starts_with("INTERRUPTED"), "{stdout}");
        assert!(stderr.contains("interrupted"), "{stderr}");
        let text = std::fs::read(&csv).expect("read");
        assert!(text.ends_with(b"\n"), "the CSV ends mid-row");
        let rows = crate::util::rows_from(&text, b',');
        assert!(!rows.is_empty());
        assert!(
            (rows.len() as u64) < u64::from(reps) * 10,
            "threads {threads}: all {} rows written: not interrupted",
            rows.len()
        );
        let cols = rows[0].len();
        assert!(
            rows.iter()
                .all(|r| r.len() == cols && !r["client_ip"].is_empty())
        );
    }
}

/// A run whose inputs all failed says that nothing was analysed, not
/// "0 clients will break".
#[test]
fn all_inputs_failed_says_nothing_was_analysed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a capture\n".repeat(10)).expect("write");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let missing = dir.path().join("missing.pcap");
    for args in [
        vec![&missing],
        vec![&text],
        vec![&empty],
        vec![&missing, &text],
    ] {
        let out = tlsready().arg("analyze").args(&args).output().expect("run");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        assert!(
            stdout.contains("Nothing was analysed"),
            "{args:?}: {stdout}"
        );
        assert!(!stdout.contains("will break"), "{args:?}: {stdout}");
    }
    // One good input among bad ones: the report as usual.
    let out = tlsready()
        .arg("analyze")
        .arg(&missing)
        .arg(sample("openssl-tls10.pcap"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stdout).contains("will break"));
}

/// The first line of the report: "N packets (M passed over), ...".
fn packets_line(args: &[&std::ffi::OsStr]) -> String {
    let out = tlsready().args(args).output().expect("run");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// "Passed over" counts the frames with no TCP segment, the same with one
/// thread, several, and chunks of any size.
#[test]
fn passed_over_does_not_depend_on_threads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big = dir.path().join("rep.pcap");
    repeated_capture("clients-mixed.pcap", 50, 1000, &big);
    for f in [sample("vlan.pcap"), sample("clients-mixed.pcap"), big] {
        let one = packets_line(&[
            "analyze".as_ref(),
            f.as_os_str(),
            "--threads".as_ref(),
            "1".as_ref(),
        ]);
        let two = packets_line(&[
            "analyze".as_ref(),
            f.as_os_str(),
            "--threads".as_ref(),
            "2".as_ref(),
            "--min-chunk".as_ref(),
            "4096".as_ref(),
        ]);
        assert!(one.contains("passed over"), "{one}");
        assert_eq!(one, two, "{}", f.display());
    }
}

/// `name` rewritten to IPv6 (Ethernet, IPv4 -> IPv6): the client becomes
/// `client`, the side with source port `server_port` `server`.
fn to_ipv6(name: &str, server_port: u16, client: [u8; 16], server: [u8; 16], out: &Path) {
    let data = std::fs::read(sample(name)).expect("sample");
    assert_eq!(&data[20..24], &[1, 0, 0, 0], "Ethernet");
    let mut w = data[..24].to_vec();
    for rec in records(&data) {
        let frame = &rec[16..];
        if frame.len() < 34 || frame[12..14] != [0x08, 0x00] {
            continue;
        }
        let ihl = usize::from(frame[14] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([frame[16], frame[17]]));
        let l4 = &frame[14 + ihl..(14 + total).min(frame.len())];
        let sport = u16::from_be_bytes([l4[0], l4[1]]);
        let (src, dst) = if sport == server_port {
            (server, client)
        } else {
            (client, server)
        };
        let mut f = frame[..12].to_vec();
        f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
        f.extend_from_slice(&(l4.len() as u16).to_be_bytes());
        f.extend_from_slice(&[6, 64]);
        f.extend_from_slice(&src);
        f.extend_from_slice(&dst);
        f.extend_from_slice(l4);
        w.extend_from_slice(&rec[..8]);
        w.extend_from_slice(&(f.len() as u32).to_le_bytes());
        w.extend_from_slice(&(f.len() as u32).to_le_bytes());
        w.extend_from_slice(&f);
    }
    std::fs::write(out, w).expect("write");
}

/// The terminal report keeps long IPv6 addresses and names whole when
/// standard output is not a terminal (and addresses always).
#[test]
fn report_never_cuts_long_ipv6_addresses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let client: std::net::Ipv6Addr = "2001:db8:85a3:1234:5678:9abc:def0:1234"
        .parse()
        .expect("ip");
    let mail: std::net::Ipv6Addr = "2001:db8:85a3:1234:5678:9abc:def0:5678"
        .parse()
        .expect("ip");
    let server: std::net::Ipv6Addr = "2001:db8:ffff:eeee:dddd:cccc:bbbb:aaaa"
        .parse()
        .expect("ip");
    let a = dir.path().join("tls10-v6.pcap");
    let b = dir.path().join("smtp-v6.pcap");
    to_ipv6(
        "openssl-tls10.pcap",
        443,
        client.octets(),
        server.octets(),
        &a,
    );
    to_ipv6(
        "smtp-starttls-tls10-587.pcap",
        587,
        mail.octets(),
        server.octets(),
        &b,
    );
    let out = tlsready()
        .args(["analyze", "--scope", "all"])
        .arg(&a)
        .arg(&b)
        .env("COLUMNS", "40")
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    for whole in [
        "2001:db8:85a3:1234:5678:9abc:def0:1234",
        "printer01.corp.example (2001:db8:85a3:1234:5678:9abc:def0:5678)",
        "tls10.example.test",
        "587/smtp-starttls",
        "TLS1.0×1",
    ] {
        assert!(stdout.contains(whole), "{whole} missing or cut:\n{stdout}");
    }
    assert!(!stdout.contains('~'), "something was cut:\n{stdout}");
    assert!(stdout.contains("VERSIONS: connections per negotiated version"));
}

/// `analyze -f 'tcp port 587' samples/` gives only the SMTP submission
/// rows, with one thread and several; a bad expression is one clear line.
#[test]
fn read_filter_keeps_only_matching_packets() {
    for threads in ["1", "2"] {
        let out = tlsready()
            .args(["analyze", "-f", "tcp port 587", "--scope", "all"])
            .arg(sample(""))
            .args(["--threads", threads, "--min-chunk", "4096"])
            .args(["--connections", "-", "-q"])
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rows = crate::util::rows_from(&out.stdout, b',');
        assert_eq!(rows.len(), 2, "threads {threads}: {rows:?}");
        assert!(
            rows.iter()
                .all(|r| r["server_port"] == "587" && r["protocol"] == "smtp-starttls")
        );
    }
    let out = tlsready()
        .args(["analyze", "--filter", "tcp port", "-q"])
        .arg(sample("openssl-tls10.pcap"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("tlsready: bad filter \"tcp port\""),
        "{err}"
    );
}

/// tcpdump's habits: `tlsready FILE` and `-r FILE` analyse FILE.
#[test]
fn a_path_or_dash_r_means_analyze() {
    let f = sample("openssl-tls10.pcap");
    for args in [vec![f.as_os_str()], vec!["-r".as_ref(), f.as_os_str()]] {
        let out = tlsready()
            .args(&args)
            .args(["--connections", "-", "-q"])
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(crate::util::rows_from(&out.stdout, b',').len(), 1);
    }
    let out = tlsready()
        .args(["analyze", "-r"])
        .arg(&f)
        .args(["-r"])
        .arg(sample("openssl-tls12.pcap"))
        .args(["--connections", "-", "-q"])
        .output()
        .expect("run");
    assert!(out.status.success());
    assert_eq!(crate::util::rows_from(&out.stdout, b',').len(), 2);
    // `-r` among PATHs keeps the command line's order: one handshake cut
    // into two files (its first four records, then the rest) is one
    // established connection, whichever way the two are named.
    let dir = tempfile::tempdir().expect("tempdir");
    let data = std::fs::read(sample("openssl-tls12.pcap")).expect("sample");
    let at = 24 + records(&data)[..4].iter().map(|r| r.len()).sum::<usize>();
    let (p1, p2) = (dir.path().join("p1.pcap"), dir.path().join("p2.pcap"));
    std::fs::write(&p1, &data[..at]).expect("write");
    std::fs::write(&p2, [&data[..24], &data[at..]].concat()).expect("write");
    for args in [
        vec!["-r".as_ref(), p1.as_os_str(), p2.as_os_str()],
        vec![
            "analyze".as_ref(),
            p1.as_os_str(),
            "-r".as_ref(),
            p2.as_os_str(),
        ],
    ] {
        let out = tlsready()
            .args(&args)
            .args(["--connections", "-", "-q", "--scope", "all"])
            .output()
            .expect("run");
        let rows = crate::util::rows_from(&out.stdout, b',');
        assert_eq!(rows.len(), 1, "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(",established,"),
            "{args:?}"
        );
    }
    // In a directory, tcpdump's rotated names are read in the order
    // written: `t.pcap9` before `t.pcap10`.
    let rotated = dir.path().join("rotated");
    std::fs::create_dir(&rotated).expect("mkdir");
    std::fs::copy(&p1, rotated.join("t.pcap9")).expect("copy");
    std::fs::copy(&p2, rotated.join("t.pcap10")).expect("copy");
    let out = tlsready()
        .arg(&rotated)
        .args(["--connections", "-", "-q", "--scope", "all"])
        .output()
        .expect("run");
    assert_eq!(crate::util::rows_from(&out.stdout, b',').len(), 1);
    assert!(String::from_utf8_lossy(&out.stdout).contains(",established,"));
    // A file named alone and in its directory is read once, with a warning.
    let out = tlsready()
        .arg(&rotated)
        .arg(rotated.join("t.pcap10"))
        .args(["--connections", "-", "-q", "--scope", "all"])
        .output()
        .expect("run");
    assert_eq!(crate::util::rows_from(&out.stdout, b',').len(), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("t.pcap10 is named twice"));
    // A missing file named alone is the input error naming it (exit 3); a
    // mistyped command stays a command-line error (exit 2).
    let out = tlsready().arg("missing.pcap").output().expect("run");
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.pcap: No such file"));
    let out = tlsready().arg("analyse").output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    // tcpdump's filter after the file: each word is a missing input, and a
    // hint says where the filter goes.
    let out = tlsready()
        .arg("-r")
        .arg(&p1)
        .args(["tcp", "port", "443", "and", "not", "port", "80", "-q"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("hint: a read filter is given with -f"));
}

/// One duration syntax for every option: `--idle-timeout 5m` as
/// `--duration 5m`; a bare number is seconds.
#[test]
fn idle_timeout_takes_durations() {
    for t in ["5m", "300", "90s", "1h 30m"] {
        let st = tlsready()
            .args(["analyze", "-q", "--idle-timeout", t])
            .arg(sample("openssl-tls10.pcap"))
            .status()
            .expect("run");
        assert!(st.success(), "{t}");
    }
    let out = tlsready()
        .args(["analyze", "-q", "--idle-timeout", "5 parsecs"])
        .arg(sample("openssl-tls10.pcap"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
}

/// `--report-every` blocks start with their time and period (loopback,
/// a port nothing uses; needs root, as the live capture tests).
#[test]
fn report_every_blocks_are_labelled() {
    let out = tlsready()
        .args([
            "capture",
            "-i",
            "lo",
            "--duration",
            "3s",
            "--report-every",
            "1s",
        ])
        .arg("tcp port 1")
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let headings: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("--- report at "))
        .collect();
    assert!(!headings.is_empty(), "{stdout}");
    assert!(headings[0].contains(", every 1s: the "), "{}", headings[0]);
    assert!(
        headings[0].contains(" since the capture began at "),
        "{}",
        headings[0]
    );
    // Each heading is followed by a report.
    let after = stdout.split("--- report at ").nth(1).unwrap_or_default();
    assert!(
        after
            .lines()
            .nth(1)
            .unwrap_or_default()
            .contains(" packets ("),
        "{stdout}"
    );
}

/// `endpoints lookup` takes a URL or a CIDR block; exit 0 on a match, 1
/// on none.
#[test]
fn endpoints_lookup_takes_urls_and_cidr_and_exits_on_match() {
    for (q, code) in [
        ("https://outlook.office365.com/owa", 0),
        ("52.96.0.0/14", 0),
        ("outlook.office365.com", 0),
        ("https://www.example.com/x", 1),
        ("192.0.2.0/24", 1),
        ("192.0.2.1", 1),
        // Holds Microsoft 365 prefixes, though its ends are in none.
        ("52.0.0.0/8", 0),
        // Not a query: a command-line error, not "no match".
        ("52.96.0.0/33", 2),
        ("foo bar", 2),
    ] {
        let out = tlsready()
            .args(["endpoints", "lookup", q])
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(code), "{q}");
        assert_eq!(out.stdout.is_empty(), code == 2, "{q}");
    }
}

/// `interfaces`: a header, aligned columns, devices that carry no TCP/IP
/// left out with a note (listed with --all).
#[test]
fn interfaces_have_a_header_and_aligned_columns() {
    let out = tlsready().arg("interfaces").output().expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = text.lines();
    let head = lines.next().unwrap_or_default();
    assert!(head.starts_with("INTERFACE "), "{text}");
    let col = head.find("STATE").expect("STATE column");
    for l in lines.filter(|l| !l.starts_with('(') && l.len() > col) {
        // The state column starts at the same place on every line.
        assert!(l[..col].ends_with("  "), "misaligned: {l:?}\n{text}");
    }
    assert!(!text.lines().any(|l| l.starts_with("dbus")), "{text}");
    let all = tlsready()
        .args(["interfaces", "--all"])
        .output()
        .expect("run");
    assert!(all.status.success());
}

/// Below-TLS-1.2 traffic to other servers only: a hint that `--scope all`
/// lists it. The clients CSV has the server ports and protocols (at the
/// end) and `legacy_endpoint_connections` (a count).
#[test]
fn scope_hint_and_clients_csv_ports_and_protocols() {
    let out = tlsready()
        .arg("analyze")
        .arg(sample("openssl-tls10.pcap"))
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Microsoft 365: 0 distinct clients will break"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "1 connection below TLS 1.2 went to servers outside Microsoft 365: `--scope all` lists them"
        ),
        "{stdout}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let clients = dir.path().join("clients.csv");
    let st = tlsready()
        .arg("analyze")
        .arg(sample("m365-legacy-smtp.pcap"))
        .arg(sample("clients-mixed.pcap"))
        .arg("--clients")
        .arg(&clients)
        .arg("-q")
        .status()
        .expect("run");
    assert!(st.success());
    let text = std::fs::read_to_string(&clients).expect("read");
    let header: Vec<&str> = text.lines().next().unwrap_or_default().split(',').collect();
    assert_eq!(
        header[header.len() - 8..],
        [
            "server_ports",
            "protocols",
            "client_name",
            "client_name_source",
            "client_mac",
            "client_vendor",
            "client_os_hint",
            "client_addresses"
        ]
    );
    assert!(header.contains(&"legacy_endpoint_connections"));
    assert!(!header.contains(&"legacy_endpoint"));
    let rows = read_rows(&clients, b',');
    assert!(
        rows.iter()
            .any(|r| r["server_ports"] == "587" && r["protocols"] == "smtp-starttls"),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .any(|r| r["server_ports"] == "443" && r["protocols"] == "tls")
    );
}

/// Status 0, and no word of the closed pipe nor a panic.
fn ends_quietly(out: &std::process::Output) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        !err.contains("Broken pipe") && !err.contains("panicked"),
        "{err}"
    );
}

/// A reader that goes away (`| head`) ends the run quietly: no "Broken
/// pipe", no panic, the other outputs whole, the exit status of the run.
/// The pipe has no reader from the start, so every write to it fails.
#[cfg(unix)]
#[test]
fn a_closed_pipe_is_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("c.jsonl");
    let closed = || {
        let (r, w) = std::io::pipe().unwrap();
        drop(r);
        w
    };
    // Standard output closed: the rows to it are dropped, the file kept.
    let out = tlsready()
        .arg("analyze")
        .arg(sample("openssl-tls10.pcap"))
        .args(["--connections", "-", "--json"])
        .arg(&json)
        .stdout(closed())
        .output()
        .unwrap();
    ends_quietly(&out);
    assert!(std::fs::read_to_string(&json).unwrap().lines().count() >= 1);
    // The same for tally's clients table.
    let rows = dir.path().join("rows.csv");
    let made = tlsready()
        .arg("analyze")
        .arg(sample("openssl-tls10.pcap"))
        .arg("--connections")
        .arg(&rows)
        .arg("-q")
        .status()
        .unwrap();
    assert!(made.success());
    let out = tlsready()
        .arg("tally")
        .arg(&rows)
        .args(["--clients", "-"])
        .stdout(closed())
        .output()
        .unwrap();
    ends_quietly(&out);
    // Standard error closed (`2>&1 | head`): messages and the summary go
    // nowhere; the run ends as it would (it used to panic, status 101).
    // A path alone always says "reading ... as `tlsready analyze ...`".
    let out = tlsready()
        .arg(sample("openssl-tls10.pcap"))
        .args(["--connections", "-"])
        .stderr(closed())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(!out.stdout.is_empty());
}

/// Small things a first run meets: empty standard input is said to be
/// empty; `--html -` is a command-line error (status 2); `endpoints
/// lookup` takes `--endpoints` after the word `lookup` too.
#[test]
fn empty_stdin_html_dash_and_endpoints_after_lookup() {
    let out = tlsready()
        .args(["analyze", "-"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("<stdin>: not a pcap or pcapng capture (empty input)"),
        "{err}"
    );
    let out = tlsready()
        .arg("analyze")
        .arg(sample("openssl-tls10.pcap"))
        .args(["--html", "-"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--html needs a file name"), "{err}");
    // `capture --rotate` without output directories: also the command
    // line's fault (checked before any interface is opened).
    for extra in [&["--connections", "-"][..], &[]] {
        let out = tlsready()
            .args(["capture", "-i", "lo", "--rotate", "1h"])
            .args(extra)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("--rotate"), "{err}");
    }
    // Reports come on the second: less is refused, not rounded.
    for every in ["500ms", "0", "1.5s"] {
        let out = tlsready()
            .args(["capture", "-i", "lo", "--report-every", every])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{every}: {err}");
        assert!(err.contains("a whole number of seconds"), "{err}");
    }
    let Some(data) = crate::util::shared("m365/endpoints-worldwide.json") else {
        return;
    };
    let out = tlsready()
        .args([
            "endpoints",
            "lookup",
            "outlook.office365.com",
            "--endpoints",
        ])
        .arg(&data)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("(data file:"), "{text}");
}
