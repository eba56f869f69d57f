//! Passive host identity on real captures: the DHCP, Kerberos and mDNS
//! traces of Zeek's test suite in `../shared/identity/captures`, read
//! frame by frame (libpcap + etherparse, independently of tlsready's own
//! decoder), their UDP datagrams and TCP streams fed to the identity
//! observers; what they learn must agree with the logs Zeek's own test
//! suite expects from the same packets (`../shared/identity/zeek`).
//!
//! Skipped, with the reason printed, when `../shared` is absent.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use tlsready::enrich::identity::oui::format_mac;
use tlsready::enrich::identity::table::HostRow;
use tlsready::enrich::identity::{Datagram, Identity, Source};

const SHARED: &str = "../shared/identity";

fn shared() -> Option<PathBuf> {
    let p = Path::new(SHARED);
    if p.join("captures").is_dir() && p.join("zeek").is_dir() {
        Some(p.to_path_buf())
    } else {
        eprintln!(
            "skipped: {SHARED} is absent (the shared identity captures sit beside the repository)"
        );
        None
    }
}

/// One TCP direction: (src, sport, dst, dport).
type Dir = (IpAddr, u16, IpAddr, u16);
/// A direction's first data time, source MAC, and segments by sequence.
type Segments = (i64, Option<[u8; 6]>, BTreeMap<u32, Vec<u8>>);

/// What [`feed`] saw.
struct Fed {
    frames: usize,
    /// TLS ClientHellos: (time, client, server).
    hellos: Vec<(i64, IpAddr, IpAddr)>,
}

/// Feeds every UDP datagram of a capture to `id` (with its source MAC),
/// and every TCP stream direction (reassembled by sequence number) once
/// the capture is read.
fn feed(id: &mut Identity, capture: &Path, udp: bool) -> Fed {
    let mut cap = pcap::Capture::from_file(capture).unwrap();
    assert_eq!(cap.get_datalink(), pcap::Linktype::ETHERNET);
    let mut streams: BTreeMap<Dir, Segments> = BTreeMap::new();
    let mut frames = 0;
    let mut hellos = Vec::new();
    while let Ok(p) = cap.next_packet() {
        frames += 1;
        #[allow(clippy::useless_conversion)] // i32 fields on some platforms
        let ts = i64::from(p.header.ts.tv_sec) * 1_000_000 + i64::from(p.header.ts.tv_usec);
        let pkt = SlicedPacket::from_ethernet(p.data).unwrap();
        let src_mac = match &pkt.link {
            Some(etherparse::LinkSlice::Ethernet2(e)) => Some(e.source()),
            _ => None,
        };
        let (src, dst) = match &pkt.net {
            Some(NetSlice::Ipv4(ip)) => (
                IpAddr::V4(ip.header().source_addr()),
                IpAddr::V4(ip.header().destination_addr()),
            ),
            Some(NetSlice::Ipv6(ip)) => (
                IpAddr::V6(ip.header().source_addr()),
                IpAddr::V6(ip.header().destination_addr()),
            ),
            _ => continue,
        };
        match &pkt.transport {
            Some(TransportSlice::Udp(u)) if udp => id.udp(&Datagram {
                ts,
                src_mac,
                src,
                dst,
                sport: u.source_port(),
                dport: u.destination_port(),
                payload: u.payload(),
            }),
            Some(TransportSlice::Tcp(t)) if !t.payload().is_empty() => {
                if t.payload()[0] == 0x16 && t.payload().get(5) == Some(&1) {
                    hellos.push((ts, src, dst));
                    if let Some(mac) = src_mac {
                        id.frame_mac(ts, mac, src);
                    }
                }
                let e = streams
                    .entry((src, t.source_port(), dst, t.destination_port()))
                    .or_insert((ts, src_mac, BTreeMap::new()));
                e.2.entry(t.sequence_number())
                    .or_insert_with(|| t.payload().to_vec());
            }
            _ => {}
        }
    }
    for ((src, sport, dst, dport), (ts, src_mac, segs)) in streams {
        let mut stream = Vec::new();
        let mut next = *segs.keys().next().unwrap();
        for (seq, data) in segs {
            if seq == next {
                stream.extend_from_slice(&data);
                next = next.wrapping_add(data.len() as u32);
            }
        }
        id.tcp_stream(&Datagram {
            ts,
            src_mac,
            src,
            dst,
            sport,
            dport,
            payload: &stream,
        });
    }
    Fed { frames, hellos }
}

/// Rows of a Zeek TSV log: column -> value (`-` for unset).
fn zeek_log(path: &Path) -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let fields: Vec<String> = text
        .lines()
        .find_map(|l| l.strip_prefix("#fields\t"))
        .unwrap()
        .split('\t')
        .map(String::from)
        .collect();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            fields
                .iter()
                .cloned()
                .zip(l.split('\t').map(String::from))
                .collect()
        })
        .collect()
}

/// `tlsready hosts --json` on a capture: (address, name, source) of
/// each row, and the MAC of the rows whose source carries one (DHCP).
fn hosts_command(capture: &Path) -> BTreeSet<(String, String, String)> {
    let out = crate::util::tlsready()
        .arg("hosts")
        .arg("--json")
        .arg(capture)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let cell = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            (cell("address"), cell("name"), cell("source"))
        })
        .collect()
}

/// What the library learns from a capture fed frame by frame; `tlsready
/// hosts` on the same capture must list the same addresses, names and
/// sources (so every agreement with Zeek below holds for the command too).
fn learn(capture: &str) -> Option<(Identity, Vec<HostRow>)> {
    let dir = shared()?;
    let mut id = Identity::default();
    let path = dir.join("captures").join(capture);
    let fed = feed(&mut id, &path, true);
    assert!(fed.frames > 0, "{capture}");
    let rows = id.host_rows();
    let lib: BTreeSet<_> = rows
        .iter()
        .map(|r| {
            (
                r.addr.to_string(),
                r.name.clone(),
                r.source.as_str().to_string(),
            )
        })
        .collect();
    assert_eq!(hosts_command(&path), lib, "tlsready hosts {capture}");
    Some((id, rows))
}

fn set(v: Option<&String>) -> Option<&str> {
    v.map(String::as_str).filter(|s| *s != "-")
}

/// DHCP: Zeek's address (assigned, else client, else requested), name
/// (client FQDN, else host name) and MAC per exchange; ours per address
/// x name x source. The two sets must be equal.
fn dhcp_agrees(capture: &str) {
    let Some((id, rows)) = learn(capture) else {
        return;
    };
    let log = Path::new(SHARED)
        .join("zeek")
        .join(format!("{capture}.dhcp.log"));
    let mut want = BTreeSet::new();
    for r in zeek_log(&log) {
        let addr = set(r.get("assigned_addr"))
            .or(set(r.get("client_addr")))
            .or(set(r.get("requested_addr")));
        let Some(addr) = addr else { continue };
        let name = set(r.get("client_fqdn"))
            .or(set(r.get("host_name")))
            .unwrap_or("");
        want.insert((addr.to_string(), name.to_string(), r["mac"].clone()));
    }
    assert!(!want.is_empty());
    let got: BTreeSet<_> = rows
        .iter()
        .map(|r| {
            assert_eq!(r.source, Source::Dhcp, "{r:?}");
            (
                r.addr.to_string(),
                r.name.clone(),
                r.mac.map(|m| format_mac(&m)).unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(got, want, "{capture}");
    // The vendor of Zeek's client MAC, from the embedded IEEE snapshot (at
    // the time the address was held).
    let first = rows.iter().min_by_key(|r| r.first_seen).unwrap();
    let who = id.client(first.addr, first.first_seen);
    assert_eq!(who.vendor, "Dell Inc.");
}

#[test]
fn dhcp_names_agree_with_zeek() {
    dhcp_agrees("dhcp.pcap");
}

#[test]
fn dhcp_inform_agrees_with_zeek() {
    dhcp_agrees("dhcp_inform.pcap");
}

#[test]
fn dhcp_address_held_at_the_time() {
    let Some((id, rows)) = learn("dhcp.pcap") else {
        return;
    };
    let a: IpAddr = "128.2.6.189".parse().unwrap();
    // ACK at 2.048 s, DECLINE at 3.059 s, INFORM at 5.099 s after the start.
    let ack = rows.iter().map(|r| r.first_seen).min().unwrap();
    let named = |ts| id.client(a, ts).name.map(|(n, _)| n);
    assert_eq!(named(ack), Some("btest.is.cool".to_string()));
    assert_eq!(named(ack + 2_000_000), None, "declined: no one holds it");
    // The INFORM from 0.0.0.0 asks for it in option 50, which an INFORM
    // must not carry: as for Zeek, the client holds no address then.
    assert_eq!(named(ack + 3_100_000), None, "INFORM without ciaddr");
    // The client's address was never 192.168.211.194 (asked for, refused).
    assert!(
        rows.iter()
            .all(|r| r.addr != "192.168.211.194".parse::<IpAddr>().unwrap())
    );
}

/// The lease of Zeek's dhcp.pcap: 128.2.6.189 ACKed at `ack` (DECLINEd
/// 1.011 s later) to the MAC `own`, named btest.is.cool.
struct Lease {
    id: Identity,
    a: IpAddr,
    ack: i64,
    own: [u8; 6],
}

fn dhcp_lease() -> Option<Lease> {
    let (id, rows) = learn("dhcp.pcap")?;
    let a: IpAddr = "128.2.6.189".parse().unwrap();
    let ack = rows.iter().map(|r| r.first_seen).min().unwrap();
    let own = id.client(a, ack).mac.expect("the ACK's chaddr");
    Some(Lease { id, a, ack, own })
}

/// An address DHCP gives to a device was another's before, when the frames
/// show one MAC there before the lease and another during it: the ACK's
/// tenancy does not reach back over that device. Without such frames it
/// does (a lease taken before the capture began).
#[test]
fn dhcp_tenancy_does_not_reach_back_over_another_device() {
    let Some(l) = dhcp_lease() else { return };
    let (mut id, a, ack, own) = (l.id, l.a, l.ack, l.own);
    let before = ack - 60_000_000;
    let named = |id: &Identity, ts| id.client(a, ts).name.map(|(n, _)| n);
    assert_eq!(named(&id, before).as_deref(), Some("btest.is.cool"));
    // Another device's SYN from that address a minute before the ACK,
    // and the ACK's device's own SYN while it holds the address.
    let other = [0x02, 0, 0, 0, 0, 0x07];
    assert_ne!(other, own);
    id.frame_mac(before, other, a);
    id.frame_mac(ack + 500_000, own, a);
    let then = id.client(a, before);
    assert_eq!(then.name, None, "the earlier device is not the ACK's");
    assert_eq!(then.mac, Some(other));
    assert_eq!(named(&id, ack).as_deref(), Some("btest.is.cool"));
    assert_eq!(id.client(a, ack).mac, Some(own));
}

/// A device seen only after the tenancy (here after the DECLINE) does not
/// take the name from before it.
#[test]
fn a_later_device_does_not_reach_back_either() {
    let Some(l) = dhcp_lease() else { return };
    let (mut id, a, ack, own) = (l.id, l.a, l.ack, l.own);
    let before = ack - 60_000_000;
    id.frame_mac(ack + 10_000_000, [0x02, 0, 0, 0, 0, 0x08], a);
    let then = id.client(a, before);
    assert_eq!(then.mac, Some(own));
    assert_eq!(then.name.map(|(n, _)| n).as_deref(), Some("btest.is.cool"));
}

/// One device whose lease MAC is not its frames' MAC (a DHCPv6 DUID made
/// from another interface) keeps its name before the Reply: frames are
/// compared with frames, not with the lease.
#[test]
fn a_lease_mac_unlike_the_frames_splits_no_device() {
    let mut id = Identity::default();
    feed(&mut id, Path::new("samples/identity/lan.pcap"), true);
    let addr: IpAddr = "fd00:197::10c".parse().unwrap();
    let reply = id
        .host_rows()
        .iter()
        .filter(|r| r.addr == addr)
        .map(|r| r.first_seen)
        .min()
        .expect("dhclient -6 Reply");
    let lease = id.client(addr, reply).mac.expect("the DUID's MAC");
    let wifi = [0xa4, 0x83, 0xe7, 0x11, 0x22, 0x33];
    assert_ne!(wifi, lease);
    id.frame_mac(reply - 60_000_000, wifi, addr);
    id.frame_mac(reply + 60_000_000, wifi, addr);
    let name = |ts| id.client(addr, ts).name.map(|(n, _)| n);
    assert_eq!(
        name(reply - 60_000_000).as_deref(),
        Some("BUCHHALTUNG-7.corp.example")
    );
    assert_eq!(name(reply - 60_000_000), name(reply + 60_000_000));
}

/// Kerberos: Zeek's client (`name/REALM`) per originator; ours
/// `name@REALM` (an enterprise name `user@domain` as it is). Anonymous
/// PKINIT (`WELLKNOWN/ANONYMOUS`) names no one and is left out.
fn kerberos_agrees(capture: &str) -> Option<Vec<HostRow>> {
    let (_, rows) = learn(capture)?;
    let log = Path::new(SHARED)
        .join("zeek")
        .join(format!("{capture}.kerberos.log"));
    let mut want = BTreeSet::new();
    for r in zeek_log(&log) {
        let Some(client) = set(r.get("client")) else {
            continue;
        };
        let (name, realm) = client.rsplit_once('/').unwrap();
        if name.starts_with("WELLKNOWN/") {
            continue;
        }
        let ours = if name.contains('@') {
            name.to_string()
        } else {
            format!("{name}@{realm}")
        };
        want.insert((r["id.orig_h"].clone(), ours));
    }
    let got: BTreeSet<_> = rows
        .iter()
        .map(|r| (r.addr.to_string(), r.name.clone()))
        .collect();
    assert_eq!(got, want, "{capture}");
    Some(rows)
}

#[test]
fn kerberos_principals_agree_with_zeek() {
    let Some(rows) = kerberos_agrees("kinit.pcap") else {
        return;
    };
    // UDP and TCP (the PKINIT requests span several segments).
    assert!(rows.iter().any(|r| r.name == "test_pkinit@VLADG.NET"));
    // One row per principal: ten besides the anonymous one.
    assert_eq!(rows.len(), 10, "{rows:#?}");
    // Users, not machine accounts.
    assert!(rows.iter().all(|r| r.source == Source::KerberosUser));
}

/// Kerberos over TCP alone: the 4-byte record length, and PKINIT requests
/// reassembled from several segments (tshark: frames 213-221).
#[test]
fn kerberos_over_tcp() {
    let Some(dir) = shared() else {
        return;
    };
    let mut id = Identity::default();
    feed(&mut id, &dir.join("captures/kinit.pcap"), false);
    let got: BTreeSet<_> = id.host_rows().into_iter().map(|r| r.name).collect();
    let want: BTreeSet<_> = ["enterprise_principal@AD.VLADG.NET", "test_pkinit@VLADG.NET"]
        .map(String::from)
        .into();
    assert_eq!(got, want);
    // The command's own stream reading (in-order starts of TCP 88), with
    // a BPF filter leaving UDP out.
    let out = crate::util::tlsready()
        .args(["hosts", "-f", "tcp"])
        .arg(dir.join("captures/kinit.pcap"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let got: BTreeSet<_> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().to_string())
        .collect();
    assert_eq!(got, want, "{text}");
    // Dated by the segments that complete the request and the answer
    // (tshark: frames 221 and 224), not by the SYN and SYN-ACK (210, 211).
    let pkinit = text.lines().find(|l| l.contains("test_pkinit")).unwrap();
    assert!(
        pkinit.ends_with(",2015-01-19T22:55:29.719401Z,2015-01-19T22:55:29.820127Z"),
        "{pkinit}"
    );
}

#[test]
fn kerberos_tgs_client_agrees_with_zeek() {
    kerberos_agrees("auth.pcap");
}

/// mDNS: every answer Zeek logs (query name -> address) names that
/// address; nothing else is learned.
#[test]
fn mdns_answers_agree_with_zeek() {
    let Some((_, rows)) = learn("mdns-no-assoc.pcap") else {
        return;
    };
    let log = Path::new(SHARED).join("zeek/mdns-no-assoc.pcap.dns.log");
    let mut want = BTreeSet::new();
    for r in zeek_log(&log) {
        if let Some(answers) = set(r.get("answers")) {
            for a in answers.split(',') {
                want.insert((a.parse::<IpAddr>().unwrap().to_string(), r["query"].clone()));
            }
        }
    }
    assert_eq!(want.len(), 3);
    let got: BTreeSet<_> = rows
        .iter()
        .map(|r| {
            assert_eq!(r.source, Source::Mdns);
            (r.addr.to_string(), r.name.clone())
        })
        .collect();
    assert_eq!(got, want);
}

/// The capture made by real stacks (samples/identity/make.py): every name
/// each client announced, checked against tshark's dissection of the same
/// frames (frame numbers in the comments).
#[test]
fn real_stacks_name_their_clients() {
    let mut id = Identity::default();
    let fed = feed(&mut id, Path::new("samples/identity/lan.pcap"), true);
    let rows: BTreeSet<(String, String, &str)> = id
        .host_rows()
        .iter()
        .map(|r| (r.addr.to_string(), r.name.clone(), r.source.as_str()))
        .collect();
    let want: BTreeSet<(String, String, &str)> = [
        // dhclient: REQUEST/ACK (23-24) host name; RELEASE (170).
        ("10.197.0.149", "BUCHHALTUNG-7", "dhcp"),
        // nmbd registrations (50...) and answers (92, 94).
        ("10.197.0.149", "BUCHHALTUNG-7", "nbns"),
        // dnsmasq's PTR answer (99).
        ("10.197.0.149", "BUCHHALTUNG-7.corp.example", "ptr"),
        // kinit: machine account over UDP (104), alice over TCP.
        ("10.197.0.149", "BUCHHALTUNG-7$@CORP.EXAMPLE", "kerberos"),
        ("10.197.0.149", "alice@CORP.EXAMPLE", "kerberos-user"),
        // dhclient -6: Solicit (35) from the link-local address, Reply (42).
        ("fd00:197::10c", "BUCHHALTUNG-7.corp.example", "dhcpv6"),
        (
            "fe80::92b1:1cff:fe20:341",
            "BUCHHALTUNG-7.corp.example",
            "dhcpv6",
        ),
        // udhcpc REQUEST/ACK (33-34).
        ("10.197.0.128", "scanner-3og", "dhcp"),
        // llmnrd's answer (97).
        ("10.197.0.128", "scanner-3og", "llmnr"),
        // avahi's announcements (57...): A and AAAA records.
        ("10.197.0.128", "scanner-3og.local", "mdns"),
        ("fe80::da3a:ddff:fe00:30f", "scanner-3og.local", "mdns"),
    ]
    .map(|(a, n, s)| (a.to_string(), n.to_string(), s))
    .into();
    assert_eq!(rows, want);
    let by_command: BTreeSet<_> = want
        .iter()
        .map(|(a, n, s)| (a.clone(), n.clone(), s.to_string()))
        .collect();
    assert_eq!(
        hosts_command(Path::new("samples/identity/lan.pcap")),
        by_command
    );

    // At the time of each TLS connection (130, 144: no SNI; 160: SNI).
    assert_eq!(fed.hellos.len(), 3);
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    let (pc, scanner, server) = (ip("10.197.0.149"), ip("10.197.0.128"), ip("10.197.0.1"));
    for &(ts, client, to) in &fed.hellos {
        assert_eq!(to, server);
        let who = id.client(client, ts);
        let (name, vendor, os) = if client == pc {
            ("BUCHHALTUNG-7", "Dell Inc.", "Windows 7 / Server 2008 R2")
        } else {
            assert_eq!(client, scanner);
            ("scanner-3og", "Raspberry Pi Trading Ltd", "Linux (BusyBox)")
        };
        assert_eq!(who.name, Some((name.to_string(), Source::Dhcp)));
        assert_eq!(who.vendor, vendor);
        assert_eq!(who.os_hint.as_deref(), Some(os));
    }
    // BUCHHALTUNG-7 gave its address back at the end (RELEASE, frame 170).
    let last = fed.hellos.iter().map(|h| h.0).max().unwrap();
    assert_eq!(id.client(pc, last + 10_000_000).name, None);
    assert!(id.stats().routers.is_empty());
}

proptest::proptest! {
    /// Hostile bytes on every name port, as UDP and as a TCP stream start,
    /// never panic (and names stay escaped: no control characters).
    #[test]
    fn hostile_bytes_never_panic(
        payload in proptest::collection::vec(proptest::num::u8::ANY, 0..700),
        port in proptest::sample::select(vec![53u16, 67, 68, 88, 137, 546, 547, 5353, 5355, 80]),
    ) {
        let mut id = Identity::default();
        let d = Datagram {
            ts: 1,
            src_mac: Some([0x90, 0xb1, 0x1c, 0, 0, 1]),
            src: "10.0.0.1".parse().unwrap(),
            dst: "10.0.0.2".parse().unwrap(),
            sport: port,
            dport: port,
            payload: &payload,
        };
        id.udp(&d);
        id.tcp_stream(&d);
        for r in id.host_rows() {
            proptest::prop_assert!(!r.name.chars().any(char::is_control), "{:?}", r.name);
        }
    }
}

/// Valid-looking headers with random bodies (so the fuzzing above reaches
/// option, record and DER parsing, not only the header checks): DHCPv4,
/// DHCPv6, Kerberos AS-REQ and KRB-ERROR, NBNS and DNS answers.
#[test]
fn random_bodies_behind_real_headers_never_panic() {
    use proptest::strategy::{Strategy, ValueTree};
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let body = proptest::collection::vec(proptest::num::u8::ANY, 0..400);
    let mut dhcp4 = vec![1u8, 1, 6, 0];
    dhcp4.resize(236, 0);
    dhcp4.extend_from_slice(&[99, 130, 83, 99]);
    let heads: [(&[u8], u16); 8] = [
        (&dhcp4, 67),
        (&[1, 0, 0, 1], 547),
        (&[7, 0, 0, 1], 546),
        (&[0x6a, 0x82, 0x01, 0x00, 0x30, 0x82, 0x00, 0xfc], 88),
        (&[0x7e, 0x81, 0xf0, 0x30, 0x81, 0xed], 88),
        (&[0, 1, 0x85, 0x80, 0, 0, 0, 1, 0, 0, 0, 0], 137),
        (&[0, 1, 0x28, 0x10, 0, 1, 0, 0, 0, 0, 0, 1], 137),
        (&[0, 1, 0x84, 0x00, 0, 0, 0, 2, 0, 0, 0, 1], 5353),
    ];
    for _ in 0..1000 {
        let tail = body.new_tree(&mut runner).unwrap().current();
        let mut id = Identity::default();
        for (head, port) in heads {
            let p = [head, &tail].concat();
            let d = Datagram {
                ts: 1,
                src_mac: None,
                src: "10.0.0.1".parse().unwrap(),
                dst: "10.0.0.2".parse().unwrap(),
                sport: port,
                dport: port,
                payload: &p,
            };
            id.udp(&d);
            id.tcp_stream(&d);
        }
    }
}

/// `analyze` on the real-stack sample: every TLS client carries the name
/// its DHCP exchange gave (the best source it has), its MAC, vendor and OS
/// hint in the clients CSV, and its name, source and MAC on each connection
/// row (CSV and JSON lines); the same rows with one thread and with the
/// file cut into chunks (names learned in one chunk apply to connections
/// in another): the same clients CSV, the same connection rows (whose
/// order differs, see "Chunked files" in the README).
/// `tlsready analyze` of the real-stack LAN sample, every server in scope.
fn analyze_lan() -> std::process::Command {
    let mut cmd = crate::util::tlsready();
    cmd.args([
        "analyze",
        "samples/identity/lan.pcap",
        "-q",
        "--scope",
        "all",
    ]);
    cmd
}

#[test]
fn analyze_names_every_client_whatever_the_threads() {
    let dir = tempfile::tempdir().unwrap();
    let out = |n: &str| dir.path().join(n);
    for t in ["1", "2", "3"] {
        let st = analyze_lan()
            .args(["--threads", t, "--min-chunk", "4096"])
            .arg("--connections")
            .arg(out(&format!("c{t}.csv")))
            .arg("--clients")
            .arg(out(&format!("k{t}.csv")))
            .arg("--json")
            .arg(out(&format!("j{t}.json")))
            .status()
            .unwrap();
        assert!(st.success());
    }
    for (f, ext) in [("c", "csv"), ("k", "csv"), ("j", "json")] {
        // Rows as lines, sorted unless in the clients CSV (the header first).
        let lines = |t: &str| {
            let text = std::fs::read_to_string(out(&format!("{f}{t}.{ext}"))).unwrap();
            let mut v: Vec<String> = text.lines().map(str::to_string).collect();
            if f != "k" {
                let skip = usize::from(ext == "csv");
                v.get_mut(skip..).unwrap_or_default().sort();
            }
            v
        };
        let one = lines("1");
        assert!(one.len() > 1, "{f}1.{ext}: no rows");
        for t in ["2", "3"] {
            assert!(one == lines(t), "{f}{t}.{ext}: differs from one thread's");
        }
    }
    let want = |ip: &str| match ip {
        "10.197.0.149" => (
            "BUCHHALTUNG-7",
            "90:b1:1c:20:03:41",
            "Dell Inc.",
            "Windows 7 / Server 2008 R2",
        ),
        "10.197.0.128" => (
            "scanner-3og",
            "d8:3a:dd:00:03:0f",
            "Raspberry Pi Trading Ltd",
            "Linux (BusyBox)",
        ),
        other => panic!("unexpected client {other}"),
    };
    // Rows for standard output are named too (they wait for the end).
    let piped = analyze_lan().args(["--connections", "-"]).output().unwrap();
    assert!(piped.status.success());
    assert!(piped.stdout == std::fs::read(out("c1.csv")).unwrap());
    let conns = crate::util::read_rows(&out("c1.csv"), b',');
    assert_eq!(conns.len(), 3);
    for r in &conns {
        // BUCHHALTUNG-7 sent no SNI: its DNS answer names the server (and
        // makes it Microsoft 365 by name), even where the answer and the
        // connection fell in different chunks.
        let dns = if r["client_ip"] == "10.197.0.149" {
            assert_eq!(r["sni"], "");
            assert_eq!(
                (&*r["m365"], &*r["m365_service"], &*r["m365_match"]),
                ("yes", "Exchange", "dns")
            );
            "outlook.office365.com"
        } else {
            assert_eq!(r["sni"], "contoso.sharepoint.com");
            ""
        };
        assert_eq!(r["dns_name"], dns, "{r:?}");
        let (name, mac, _, _) = want(&r["client_ip"]);
        assert_eq!(
            (
                &*r["client_name"],
                &*r["client_name_source"],
                &*r["client_mac"]
            ),
            (name, "dhcp", mac)
        );
    }
    let json = std::fs::read_to_string(out("j1.json")).unwrap();
    assert_eq!(json.lines().count(), 3);
    for l in json.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let (name, mac, _, _) = want(v["client_ip"].as_str().unwrap());
        assert_eq!(v["client_name"], name);
        assert_eq!(v["client_name_source"], "dhcp");
        assert_eq!(v["client_mac"], mac);
    }
    let clients = crate::util::read_rows(&out("k1.csv"), b',');
    assert_eq!(clients.len(), 2);
    for r in &clients {
        let (name, mac, vendor, os) = want(&r["client_ip"]);
        assert_eq!(r["client_name"], name);
        assert_eq!(r["client_name_source"], "dhcp");
        assert_eq!(r["client_mac"], mac);
        assert_eq!(r["client_vendor"], vendor);
        assert_eq!(r["client_os_hint"], os);
        let server = match name {
            "BUCHHALTUNG-7" => "outlook.office365.com",
            _ => "contoso.sharepoint.com",
        };
        assert_eq!(r["server_name"], server);
    }
}

/// More name traffic than one name log holds (64 MiB): 70 MB of NBNS
/// queries (which name nothing, padded with an Ethernet trailer), then the
/// LAN sample. One reader hands its log on to be learned each time it is
/// half full, so the sample's DHCP names still reach the clients, as when
/// the file is cut into chunks (each with a log of its own); the summary
/// counts no name frame left out.
#[test]
fn more_name_traffic_than_one_log_holds_loses_no_name() {
    let lan = std::fs::read(crate::util::sample("identity/lan.pcap")).unwrap();
    assert_eq!(
        &lan[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "little-endian µs pcap"
    );
    let (head, mut records) = (&lan[..24], Vec::new());
    let mut at = 24;
    while at + 16 <= lan.len() {
        let incl = u32::from_le_bytes(lan[at + 8..at + 12].try_into().unwrap()) as usize;
        records.push(&lan[at..at + 16 + incl]);
        at += 16 + incl;
    }
    // Frame 54: an NBNS name query for CORP<1d> from BUCHHALTUNG-7.
    let query = records[53];
    assert_eq!(&query[16 + 36..16 + 38], &137u16.to_be_bytes());
    let first_sec = u32::from_le_bytes(records[0][..4].try_into().unwrap());
    const PAD: usize = 60_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flood.pcap");
    let mut out = head.to_vec();
    for i in 0..1200u32 {
        let frame_len = query.len() - 16 + PAD;
        out.extend((first_sec - 2).to_le_bytes());
        out.extend((i * 100).to_le_bytes());
        out.extend((frame_len as u32).to_le_bytes());
        out.extend((frame_len as u32).to_le_bytes());
        out.extend(&query[16..]);
        out.extend(std::iter::repeat_n(0u8, PAD));
    }
    for r in &records {
        out.extend(*r);
    }
    assert!(out.len() > 70_000_000);
    std::fs::write(&path, &out).unwrap();
    drop(out);
    let mut clients = Vec::new();
    for t in ["1", "2"] {
        let k = dir.path().join(format!("k{t}.csv"));
        let o = crate::util::tlsready()
            .arg("analyze")
            .arg(&path)
            .args(["--scope", "all", "--threads", t, "--clients"])
            .arg(&k)
            .output()
            .unwrap();
        assert!(o.status.success());
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(!stdout.contains("name frames not kept"), "{t}: {stdout}");
        let rows = crate::util::read_rows(&k, b',');
        let mut named: Vec<(String, String)> = rows
            .iter()
            .map(|r| (r["client_name"].clone(), r["client_name_source"].clone()))
            .collect();
        named.sort();
        let want = [("BUCHHALTUNG-7", "dhcp"), ("scanner-3og", "dhcp")];
        let want: Vec<(String, String)> = want.map(|(a, b)| (a.into(), b.into())).into();
        assert_eq!(named, want, "--threads {t}");
        clients.push(std::fs::read(&k).unwrap());
    }
    assert!(
        clients[0] == clients[1],
        "the same clients CSV on 1 and 2 threads"
    );
}

/// `--no-names`: nothing is learned from the traffic (no DHCP names, MACs
/// or DNS server names), on the capture whose clients are all named above.
#[test]
fn no_names_learns_nothing_from_the_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let (conns, clients) = (dir.path().join("c.csv"), dir.path().join("k.csv"));
    let st = analyze_lan()
        .arg("--no-names")
        .arg("--connections")
        .arg(&conns)
        .arg("--clients")
        .arg(&clients)
        .status()
        .unwrap();
    assert!(st.success());
    let rows = crate::util::read_rows(&conns, b',');
    assert_eq!(rows.len(), 3);
    for r in &rows {
        for col in [
            "dns_name",
            "client_name",
            "client_name_source",
            "client_mac",
        ] {
            assert_eq!(r[col], "", "{col}: {r:?}");
        }
        assert!(!r["m365_match"].contains("dns"), "{r:?}");
    }
    let clients = crate::util::read_rows(&clients, b',');
    assert_eq!(clients.len(), 2);
    for r in &clients {
        assert_eq!((&*r["client_name"], &*r["client_mac"]), ("", ""), "{r:?}");
    }
}

/// `--hosts FILE` wins over what the capture teaches, and rows say so;
/// the mail client's EHLO name is the name of a client nothing else names.
#[test]
fn hosts_file_wins_and_ehlo_names_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let hosts = dir.path().join("hosts.csv");
    std::fs::write(
        &hosts,
        "ip,name,mac\n10.197.0.149,ACCOUNTING-7,00:11:22:33:44:55\n",
    )
    .unwrap();
    let out = analyze_lan()
        .arg("--hosts")
        .arg(&hosts)
        .args(["--clients", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let rows = crate::util::rows_from(&out.stdout, b',');
    let pc = rows
        .iter()
        .find(|r| r["client_ip"] == "10.197.0.149")
        .unwrap();
    assert_eq!(
        (
            pc["client_name"].as_str(),
            pc["client_name_source"].as_str(),
            pc["client_mac"].as_str()
        ),
        ("ACCOUNTING-7", "hosts", "00:11:22:33:44:55")
    );
    let scanner = rows
        .iter()
        .find(|r| r["client_ip"] == "10.197.0.128")
        .unwrap();
    assert_eq!(scanner["client_name_source"], "dhcp");
    // A capture with no name traffic: the SMTP client's EHLO name.
    let out = crate::util::tlsready()
        .args(["analyze", "-q", "--scope", "all", "--clients", "-"])
        .arg(crate::util::sample("smtp-starttls-tls10-587.pcap"))
        .output()
        .unwrap();
    let rows = crate::util::rows_from(&out.stdout, b',');
    assert!(!rows.is_empty());
    for r in &rows {
        assert!(!r["client_helo"].is_empty(), "{r:?}");
        assert_eq!(r["client_name"], r["client_helo"]);
        assert_eq!(r["client_name_source"], "ehlo");
    }
}

/// `tlsready hosts` with an input that fails: one line naming it, the
/// rows of the others, exit status 3; an `--oui` file with no assignment
/// is a fatal error naming it.
#[test]
fn hosts_command_reports_bad_inputs() {
    let out = crate::util::tlsready()
        .args(["hosts", "no-such.pcap", "samples/identity/lan.pcap"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no-such.pcap"), "{err}");
    let rows = crate::util::rows_from(&out.stdout, b',');
    assert!(
        rows.iter()
            .any(|r| r["name"] == "BUCHHALTUNG-7" && r["source"] == "nbns")
    );
    let out = crate::util::tlsready()
        .args(["hosts", "--oui", "Cargo.toml", "samples/identity/lan.pcap"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Cargo.toml: no MAC assignment"));
    // `-o` naming an input: a command-line error, the capture untouched.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("lan.pcap");
    std::fs::copy("samples/identity/lan.pcap", &copy).unwrap();
    let out = crate::util::tlsready()
        .arg("hosts")
        .arg(&copy)
        .arg("-o")
        .arg(&copy)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("name the same file"));
    assert_eq!(
        std::fs::read(&copy).unwrap(),
        std::fs::read("samples/identity/lan.pcap").unwrap()
    );
}

/// The terminal report names each client it lists by its best name: the
/// EHLO name, unless `--hosts` (or the capture) names it better.
#[test]
fn terminal_report_shows_the_best_name() {
    let smtp = crate::util::sample("smtp-starttls-tls10-587.pcap");
    let run = |extra: &[&std::ffi::OsStr]| {
        let out = crate::util::tlsready()
            .args(["analyze", "--scope", "all"])
            .arg(&smtp)
            .args(extra)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let plain = run(&[]);
    let line = plain.lines().find(|l| l.starts_with("will-break")).unwrap();
    assert!(
        line.contains("printer01.corp.example (127.0.0.1)"),
        "{plain}"
    );
    let dir = tempfile::tempdir().unwrap();
    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, "127.0.0.1 PRINTER-3OG\n").unwrap();
    let named = run(&["--hosts".as_ref(), hosts.as_os_str()]);
    let line = named.lines().find(|l| l.starts_with("will-break")).unwrap();
    assert!(line.contains("PRINTER-3OG (127.0.0.1)"), "{named}");
}
