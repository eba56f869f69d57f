//! `--group-by device|address` (issue 15) on a capture made by real stacks
//! (`samples/identity/moving.py`): LAGER-PC (MAC 90:b1:1c:20:05:01, DHCP
//! host name) makes two TLS 1.0-only handshakes at its first address, is
//! given another address when the DHCP scope is renumbered, then makes one
//! TLS 1.2 handshake and one TLS 1.0-only one; kasse-2 (DHCP) and an
//! unnamed static client keep their address.

use std::collections::BTreeMap;

use crate::util::{Row, rows_from, tlsready};

const MOVING: &str = "samples/identity/moving.pcap";
const MAC: &str = "90:b1:1c:20:05:01";

fn run(args: &[&str]) -> std::process::Output {
    let out = tlsready()
        .arg("analyze")
        .arg(MOVING)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn clients(args: &[&str]) -> (Vec<String>, Vec<Row>) {
    let mut a = vec!["-q", "--clients", "-"];
    a.extend_from_slice(args);
    let out = run(&a);
    let text = String::from_utf8(out.stdout).unwrap();
    let header = text
        .lines()
        .next()
        .unwrap()
        .split(',')
        .map(str::to_string)
        .collect();
    (header, rows_from(text.as_bytes(), b','))
}

fn n(r: &Row, c: &str) -> u64 {
    r[c].parse().unwrap_or_else(|_| panic!("{c}: {:?}", r[c]))
}

/// The device row of LAGER-PC adds up its two address rows (every count
/// column, the first and last times), its verdict is decided over all four
/// connections (at risk: 3 of 4 below TLS 1.2, though one address alone
/// will break and the other alone is ready), `client_ip` is its most recent
/// address and `client_addresses` lists both; the other clients' device
/// rows are their address rows plus their one address; `--group-by
/// address` gives the address rows without the column. The same with the
/// file cut into chunks.
#[test]
fn a_device_whose_address_moved_is_one_row() {
    for threads in ["1", "3"] {
        let t = ["--threads", threads, "--min-chunk", "4096"];
        let (addr_header, by_addr) = clients(&[&t[..], &["--group-by", "address"]].concat());
        let (dev_header, by_dev) = clients(&t);
        assert_eq!(addr_header.last().unwrap(), "client_os_hint");
        let mut want_header = addr_header.clone();
        want_header.push("client_addresses".into());
        assert_eq!(dev_header, want_header);

        // Per address: LAGER-PC at two addresses, one that will break.
        assert_eq!(by_addr.len(), 4, "{by_addr:?}");
        let mut pc: Vec<&Row> = by_addr.iter().filter(|r| r["client_mac"] == MAC).collect();
        pc.sort_by_key(|r| r["first_seen"].clone());
        assert_eq!(pc.len(), 2);
        let (old, new) = (pc[0], pc[1]);
        assert_ne!(old["client_ip"], new["client_ip"]);
        for r in [old, new] {
            assert_eq!(r["client_name"], "LAGER-PC");
            assert_eq!(r["client_name_source"], "dhcp");
        }
        assert_eq!(
            (old["verdict"].as_str(), n(old, "tls10"), n(old, "tls12")),
            ("will-break", 2, 0)
        );
        assert_eq!(
            (new["verdict"].as_str(), n(new, "tls10"), n(new, "tls12")),
            ("ready", 1, 1)
        );

        // Per device: one row for LAGER-PC.
        assert_eq!(by_dev.len(), 3, "{by_dev:?}");
        let dev: Vec<&Row> = by_dev.iter().filter(|r| r["client_mac"] == MAC).collect();
        assert_eq!(dev.len(), 1);
        let d = dev[0];
        assert_eq!(d["client_ip"], new["client_ip"], "the most recent address");
        let mut both = [old["client_ip"].clone(), new["client_ip"].clone()];
        both.sort_by_key(|a| a.parse::<std::net::IpAddr>().unwrap());
        assert_eq!(d["client_addresses"], both.join(";"));
        for c in [
            "connections",
            "ssl2",
            "ssl3",
            "tls10",
            "tls11",
            "tls12",
            "tls13",
            "other_version",
            "no_server_hello",
            "plaintext",
            "legacy_endpoint_connections",
        ] {
            assert_eq!(n(d, c), n(old, c) + n(new, c), "{c}");
        }
        assert_eq!(n(d, "connections"), 4);
        assert_eq!(d["first_seen"], old["first_seen"]);
        assert_eq!(d["last_seen"], new["last_seen"]);
        assert_eq!(d["lowest_version"], "TLS1.0");
        assert_eq!(d["highest_version"], "TLS1.2");
        assert_eq!(d["verdict"], "at-risk");
        for c in [
            "client_helo",
            "service",
            "server_name",
            "client_name",
            "client_name_source",
            "client_vendor",
            "client_os_hint",
        ] {
            assert_eq!(d[c], new[c], "{c}");
        }

        // Every other client: its address row, plus its one address.
        let others: BTreeMap<&str, &Row> = by_addr
            .iter()
            .filter(|r| r["client_mac"] != MAC)
            .map(|r| (r["client_ip"].as_str(), r))
            .collect();
        assert_eq!(others.len(), 2);
        for r in by_dev.iter().filter(|r| r["client_mac"] != MAC) {
            let a = others[r["client_ip"].as_str()];
            assert_eq!(r["client_addresses"], r["client_ip"]);
            for c in &addr_header {
                assert_eq!(r[c], a[c], "{c}");
            }
        }
        assert!(by_dev.iter().any(|r| r["client_name"] == "kasse-2"));
        assert!(
            by_dev
                .iter()
                .any(|r| r["client_name"].is_empty() && r["client_mac"] == "02:00:00:00:05:03")
        );
    }
}

/// The terminal report follows the grouping: the device, named first, with
/// its addresses (the most recent first) and one verdict; per address, the
/// old address will break. The exit status of `--fail-on-legacy` is that of
/// the report: per device nothing will break (LAGER-PC offers TLS 1.2 at
/// its new address).
#[test]
fn the_terminal_report_and_exit_status_follow_the_grouping() {
    let (_, by_addr) = clients(&["--group-by", "address"]);
    let mut pc: Vec<&Row> = by_addr.iter().filter(|r| r["client_mac"] == MAC).collect();
    pc.sort_by_key(|r| r["first_seen"].clone());
    let (old, new) = (&pc[0]["client_ip"], &pc[1]["client_ip"]);

    let dev = String::from_utf8(run(&[]).stdout).unwrap();
    assert!(dev.contains(&format!("LAGER-PC ({new}, {old})")), "{dev}");
    assert!(
        dev.contains("Microsoft 365: 0 distinct clients will break"),
        "{dev}"
    );
    assert!(dev.contains("Microsoft 365: 1 client at risk"), "{dev}");
    let line = dev.lines().find(|l| l.contains("LAGER-PC")).unwrap();
    assert!(line.starts_with("at-risk"), "{line}");
    assert!(line.ends_with("TLS1.0×3 TLS1.2×1"), "{line}");

    let addr = String::from_utf8(run(&["--group-by", "address"]).stdout).unwrap();
    let line = addr.lines().find(|l| l.contains("LAGER-PC")).unwrap();
    assert!(line.starts_with("will-break"), "{line}");
    assert!(line.contains(&format!("LAGER-PC ({old})")), "{line}");
    assert!(
        addr.contains("Microsoft 365: 1 client will break"),
        "{addr}"
    );

    let status = |by: &str| {
        tlsready()
            .args([
                "analyze",
                MOVING,
                "-q",
                "--fail-on-legacy",
                "--group-by",
                by,
            ])
            .status()
            .unwrap()
            .code()
    };
    assert_eq!(status("address"), Some(4));
    assert_eq!(status("device"), Some(0));
}

/// The HTML report's clients table is the clients CSV's: grouped by device
/// it has the `client_addresses` column and LAGER-PC's one row.
#[test]
fn the_html_table_follows_the_grouping() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("r.html");
    let csv = dir.path().join("c.csv");
    for by in ["device", "address"] {
        let st = tlsready()
            .args(["analyze", MOVING, "-q", "--group-by", by])
            .arg("--html")
            .arg(&page)
            .arg("--clients")
            .arg(&csv)
            .status()
            .unwrap();
        assert!(st.success());
        let html = std::fs::read_to_string(&page).unwrap();
        let rows = crate::util::read_rows(&csv, b',');
        let lager = html.matches("<td>LAGER-PC</td>").count();
        if by == "device" {
            assert!(html.contains("client_<wbr>addresses"), "{by}");
            assert_eq!(lager, 1);
            let d = rows
                .iter()
                .find(|r| r["client_name"] == "LAGER-PC")
                .unwrap();
            assert!(d["client_addresses"].contains(';'));
            assert!(html.contains(&format!(">{}</td>", d["client_addresses"])));
        } else {
            assert!(!html.contains("client_<wbr>addresses"), "{by}");
            assert_eq!(lager, 2);
        }
    }
}

/// `tally` groups by what its rows carry: `analyze`'s connection rows carry
/// each client's name and MAC, so `tally` of them by device gives
/// `analyze`'s device rows (but for the OS hint, which rows do not carry),
/// and `--group-by address` its address rows.
#[test]
fn tally_of_named_rows_groups_as_analyze() {
    let dir = tempfile::tempdir().unwrap();
    let conns = dir.path().join("conns.csv");
    let st = tlsready()
        .args(["analyze", MOVING, "-q", "--connections"])
        .arg(&conns)
        .status()
        .unwrap();
    assert!(st.success());
    let tally = |by: &str| {
        let out = tlsready()
            .args(["tally", "-q", "--group-by", by, "--clients", "-"])
            .arg(&conns)
            .output()
            .unwrap();
        assert!(out.status.success());
        out.stdout
    };
    for by in ["device", "address"] {
        let (header, rows) = clients(&["--group-by", by]);
        let got = rows_from(&tally(by), b',');
        assert_eq!(got.len(), rows.len(), "{by}");
        for (t, a) in got.iter().zip(&rows) {
            for c in header.iter().filter(|c| *c != "client_os_hint") {
                assert_eq!(t[c], a[c], "{by}: {c}");
            }
            assert_eq!(t["client_os_hint"], "", "{by}");
        }
        let moved = got
            .iter()
            .filter(|r| r["client_name"] == "LAGER-PC")
            .count();
        assert_eq!(moved, if by == "device" { 1 } else { 2 }, "{by}");
    }
}

/// On the corpus read as one input (Zeek's test traces, several of them
/// recorded on one laptop at different networks over the years), device
/// rows add up the address rows of their addresses: for every device row,
/// its addresses are those of the address rows with its MAC (or its one
/// address), and each count is the sum over those rows with the same EHLO
/// name, service and server name; the totals are the same.
#[test]
fn device_rows_add_up_the_address_rows_on_the_corpus() {
    let Some(pcaps) = crate::util::shared("corpus/pcaps") else {
        return;
    };
    let get = |by: &str| {
        let out = tlsready()
            .arg("analyze")
            .arg(&pcaps)
            .args(["-q", "--scope", "all", "--group-by", by, "--clients", "-"])
            .output()
            .unwrap();
        assert!(out.status.success());
        rows_from(&out.stdout, b',')
    };
    let (by_addr, by_dev) = (get("address"), get("device"));
    assert!(
        by_dev.len() < by_addr.len(),
        "some addresses are one device"
    );
    let total = |rows: &[Row]| rows.iter().map(|r| n(r, "connections")).sum::<u64>();
    assert_eq!(total(&by_dev), total(&by_addr));
    let mut merged = 0;
    for d in &by_dev {
        let addrs: Vec<&str> = d["client_addresses"].split(';').collect();
        assert!(addrs.contains(&d["client_ip"].as_str()));
        if addrs.len() > 1 {
            merged += 1;
            assert!(!d["client_mac"].is_empty(), "{d:?}");
            let mut of_mac: Vec<&str> = by_addr
                .iter()
                .filter(|a| a["client_mac"] == d["client_mac"])
                .map(|a| a["client_ip"].as_str())
                .collect();
            of_mac.sort_by_key(|a| a.parse::<std::net::IpAddr>().unwrap());
            of_mac.dedup();
            assert_eq!(of_mac, addrs);
        }
        let parts: Vec<&Row> = by_addr
            .iter()
            .filter(|a| {
                addrs.contains(&a["client_ip"].as_str())
                    && ["client_helo", "service", "server_name"]
                        .iter()
                        .all(|c| a[*c] == d[*c])
            })
            .collect();
        assert!(!parts.is_empty());
        for c in ["connections", "tls10", "tls12", "tls13", "no_server_hello"] {
            assert_eq!(
                n(d, c),
                parts.iter().map(|a| n(a, c)).sum::<u64>(),
                "{c} of {d:?}"
            );
        }
        let first = parts.iter().map(|a| a["first_seen"].as_str()).min();
        let last = parts.iter().map(|a| a["last_seen"].as_str()).max();
        assert_eq!(Some(d["first_seen"].as_str()), first);
        assert_eq!(Some(d["last_seen"].as_str()), last);
    }
    assert!(merged > 0);
}
