//! Regression tests for bugs found in code review, end to end through the
//! binary. Each input capture is built here from `samples/openssl-tls12.pcap`
//! (one TLS 1.2 connection 127.0.0.1:52968 -> 127.0.0.1:443) by editing its
//! frames: a small classic-pcap reader/writer and frame helpers below.
//! Every case runs with `--threads 1` and `--threads 2`, which must agree.

use crate::util::tlsready;
use std::path::Path;

use tlsready::run::pipelined::BATCH_FRAMES;

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/openssl-tls12.pcap");

// TCP flag bits.
const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

/// Ethernet header length (the sample has no VLAN tags).
const ETH: usize = 14;

// ---------------------------------------------------------------------------
// Classic pcap reading and writing.

/// One captured frame: timestamp in microseconds and its bytes.
#[derive(Clone, Debug)]
struct Pkt {
    ts: i64,
    data: Vec<u8>,
}

/// A classic pcap file: the 24-byte global header as read, and its frames.
struct Pcap {
    header: Vec<u8>,
    pkts: Vec<Pkt>,
}

fn u32_at(b: &[u8], at: usize, le: bool) -> u32 {
    let a: [u8; 4] = b[at..at + 4].try_into().unwrap();
    if le {
        u32::from_le_bytes(a)
    } else {
        u32::from_be_bytes(a)
    }
}

/// Reads a microsecond-resolution classic pcap (either byte order).
fn read_pcap(path: &str) -> Pcap {
    let b = std::fs::read(path).unwrap();
    let le = match &b[..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] => false,
        m => panic!("{path}: not a microsecond classic pcap (magic {m:02x?})"),
    };
    assert!(le, "the writer below assumes a little-endian sample");
    let mut pkts = Vec::new();
    let mut at = 24;
    while at + 16 <= b.len() {
        let sec = i64::from(u32_at(&b, at, le));
        let usec = i64::from(u32_at(&b, at + 4, le));
        let incl = u32_at(&b, at + 8, le) as usize;
        at += 16;
        pkts.push(Pkt {
            ts: sec * 1_000_000 + usec,
            data: b[at..at + incl].to_vec(),
        });
        at += incl;
    }
    assert_eq!(at, b.len(), "{path}: trailing bytes");
    Pcap {
        header: b[..24].to_vec(),
        pkts,
    }
}

/// Writes frames with the sample's global header (little-endian, µs).
fn write_pcap(path: &Path, header: &[u8], pkts: &[Pkt]) {
    let mut out = header.to_vec();
    for p in pkts {
        let len = u32::try_from(p.data.len()).unwrap();
        out.extend_from_slice(&u32::try_from(p.ts / 1_000_000).unwrap().to_le_bytes());
        out.extend_from_slice(&u32::try_from(p.ts % 1_000_000).unwrap().to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&p.data);
    }
    std::fs::write(path, out).unwrap();
}

// ---------------------------------------------------------------------------
// Frame editing: Ethernet + IPv4 + TCP.

/// Offset of the TCP header.
fn tcp_off(f: &[u8]) -> usize {
    assert_eq!(&f[12..14], &[0x08, 0x00], "not IPv4 over Ethernet");
    ETH + usize::from(f[ETH] & 0x0f) * 4
}

/// Offset of the TCP payload.
fn payload_off(f: &[u8]) -> usize {
    let t = tcp_off(f);
    t + usize::from(f[t + 12] >> 4) * 4
}

fn payload(f: &[u8]) -> &[u8] {
    &f[payload_off(f)..]
}

fn tcp_flags(f: &[u8]) -> u8 {
    f[tcp_off(f) + 13]
}

fn set_flags(f: &mut [u8], flags: u8) {
    let t = tcp_off(f);
    f[t + 13] = flags;
}

fn sport(f: &[u8]) -> u16 {
    let t = tcp_off(f);
    u16::from_be_bytes([f[t], f[t + 1]])
}

fn dport(f: &[u8]) -> u16 {
    let t = tcp_off(f);
    u16::from_be_bytes([f[t + 2], f[t + 3]])
}

fn set_ports(f: &mut [u8], src: u16, dst: u16) {
    let t = tcp_off(f);
    f[t..t + 2].copy_from_slice(&src.to_be_bytes());
    f[t + 2..t + 4].copy_from_slice(&dst.to_be_bytes());
}

fn seq(f: &[u8]) -> u32 {
    let t = tcp_off(f);
    u32::from_be_bytes(f[t + 4..t + 8].try_into().unwrap())
}

fn set_seq(f: &mut [u8], v: u32) {
    let t = tcp_off(f);
    f[t + 4..t + 8].copy_from_slice(&v.to_be_bytes());
}

fn ack(f: &[u8]) -> u32 {
    let t = tcp_off(f);
    u32::from_be_bytes(f[t + 8..t + 12].try_into().unwrap())
}

fn set_ack(f: &mut [u8], v: u32) {
    let t = tcp_off(f);
    f[t + 8..t + 12].copy_from_slice(&v.to_be_bytes());
}

/// Replaces the TCP payload, keeping the IPv4 total length consistent.
fn set_payload(f: &mut Vec<u8>, data: &[u8]) {
    let p = payload_off(f);
    f.truncate(p);
    f.extend_from_slice(data);
    let total = u16::try_from(f.len() - ETH).unwrap();
    f[ETH + 2..ETH + 4].copy_from_slice(&total.to_be_bytes());
}

/// Shifts the sequence number, and the ack number when ACK is set (a new
/// ISN on both sides).
fn shift_seq_ack(f: &mut [u8], by: u32) {
    set_seq(f, seq(f).wrapping_add(by));
    if tcp_flags(f) & ACK != 0 {
        set_ack(f, ack(f).wrapping_add(by));
    }
}

fn is_fin(p: &Pkt) -> bool {
    tcp_flags(&p.data) & FIN != 0
}

fn from_client(p: &Pkt) -> bool {
    sport(&p.data) == CLIENT_PORT
}

const CLIENT_PORT: u16 = 52968;
const SERVER_PORT: u16 = 443;

/// The sample, checked to be what these tests assume.
fn sample() -> Pcap {
    let s = read_pcap(SAMPLE);
    assert_eq!(s.pkts.len(), 15);
    let first = &s.pkts[0].data;
    assert_eq!(tcp_flags(first), SYN);
    assert_eq!((sport(first), dport(first)), (CLIENT_PORT, SERVER_PORT));
    for p in &s.pkts {
        let ports = (sport(&p.data), dport(&p.data));
        assert!(ports == (CLIENT_PORT, SERVER_PORT) || ports == (SERVER_PORT, CLIENT_PORT));
        // IPv4 total length matches the captured frame (no padding).
        let total = usize::from(u16::from_be_bytes([p.data[ETH + 2], p.data[ETH + 3]]));
        assert_eq!(total + ETH, p.data.len());
    }
    assert_eq!(s.pkts.iter().filter(|p| is_fin(p)).count(), 2);
    s
}

/// Copies of `pkts` moved by `dt` µs, with sequence/ack numbers shifted.
fn shifted(pkts: &[Pkt], dt: i64, by: u32) -> Vec<Pkt> {
    pkts.iter()
        .map(|p| {
            let mut q = p.clone();
            q.ts += dt;
            shift_seq_ack(&mut q.data, by);
            q
        })
        .collect()
}

/// `n` FIN frames of unrelated connections (client ports 10000 + i), one
/// millisecond apart from `ts`. They pass the reader thread (FINs always
/// do) and so fill its batches, but create no connection (a FIN of an
/// unknown connection tells nothing). Used to push later frames past a
/// batch boundary, where the reader's done filter applies.
fn fin_fillers(template: &[u8], n: usize, ts: i64) -> Vec<Pkt> {
    (0..n)
        .map(|i| {
            let mut f = template.to_vec();
            set_flags(&mut f, FIN | ACK);
            set_payload(&mut f, b"");
            set_ports(&mut f, 10_000 + u16::try_from(i).unwrap(), SERVER_PORT);
            Pkt {
                ts: ts + 1000 * i64::try_from(i + 1).unwrap(),
                data: f,
            }
        })
        .collect()
}

/// The sample's frames: (SYN, SYN-ACK, ClientHello frame, first server data
/// frame), templates for building other connections.
struct Templates {
    syn: Vec<u8>,
    syn_ack: Vec<u8>,
    client_data: Vec<u8>,
    server_data: Vec<u8>,
}

fn templates(s: &Pcap) -> Templates {
    let syn = s.pkts[0].data.clone();
    let syn_ack = s.pkts[1].data.clone();
    assert_eq!(tcp_flags(&syn_ack), SYN | ACK);
    let client_data = s
        .pkts
        .iter()
        .find(|p| from_client(p) && !payload(&p.data).is_empty())
        .unwrap()
        .data
        .clone();
    let server_data = s
        .pkts
        .iter()
        .find(|p| !from_client(p) && !payload(&p.data).is_empty())
        .unwrap()
        .data
        .clone();
    Templates {
        syn,
        syn_ack,
        client_data,
        server_data,
    }
}

/// Builds a synthetic connection from the templates, keeping sequence
/// numbers right for each side.
struct Builder<'t> {
    t: &'t Templates,
    ports: (u16, u16),
    /// Next sequence number per side: 0 client, 1 server.
    next: [u32; 2],
    ts: i64,
    pkts: Vec<Pkt>,
}

impl<'t> Builder<'t> {
    fn new(t: &'t Templates, client_port: u16, server_port: u16, ts: i64) -> Self {
        Builder {
            t,
            ports: (client_port, server_port),
            next: [1_000_000, 7_000_000],
            ts,
            pkts: Vec::new(),
        }
    }

    fn push(&mut self, mut f: Vec<u8>, side: usize) {
        if side == 0 {
            set_ports(&mut f, self.ports.0, self.ports.1);
        } else {
            set_ports(&mut f, self.ports.1, self.ports.0);
        }
        self.ts += 100;
        self.pkts.push(Pkt {
            ts: self.ts,
            data: f,
        });
    }

    fn handshake(&mut self) -> &mut Self {
        let mut syn = self.t.syn.clone();
        set_seq(&mut syn, self.next[0]);
        self.next[0] += 1;
        self.push(syn, 0);
        let mut sa = self.t.syn_ack.clone();
        set_seq(&mut sa, self.next[1]);
        set_ack(&mut sa, self.next[0]);
        self.next[1] += 1;
        self.push(sa, 1);
        self
    }

    /// A data segment (PSH|ACK) from `side` (0 client, 1 server).
    fn data(&mut self, side: usize, text: &[u8]) -> &mut Self {
        let mut f = if side == 0 {
            self.t.client_data.clone()
        } else {
            self.t.server_data.clone()
        };
        set_flags(&mut f, PSH | ACK);
        set_seq(&mut f, self.next[side]);
        set_ack(&mut f, self.next[1 - side]);
        set_payload(&mut f, text);
        self.next[side] += u32::try_from(text.len()).unwrap();
        self.push(f, side);
        self
    }

    /// A FIN|ACK from `side`.
    fn fin(&mut self, side: usize) -> &mut Self {
        let mut f = if side == 0 {
            self.t.client_data.clone()
        } else {
            self.t.server_data.clone()
        };
        set_flags(&mut f, FIN | ACK);
        set_seq(&mut f, self.next[side]);
        set_ack(&mut f, self.next[1 - side]);
        set_payload(&mut f, b"");
        self.next[side] += 1;
        self.push(f, side);
        self
    }
}

// ---------------------------------------------------------------------------
// Running the binary.

struct Run {
    status: i32,
    stdout: String,
    stderr: String,
    rows: Vec<Vec<(String, String)>>,
}

fn run(pcap: &Path, threads: &str, extra: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("connections.csv");
    let o = tlsready()
        .arg("analyze")
        .arg(pcap)
        .arg("--connections")
        .arg(&out)
        .args(["--threads", threads])
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    let mut r = csv::Reader::from_path(&out)
        .unwrap_or_else(|e| panic!("no connections CSV ({e}); stderr: {stderr}"));
    let headers = r.headers().unwrap().clone();
    let rows = r
        .records()
        .map(|rec| {
            let rec = rec.unwrap();
            headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect();
    Run {
        status: o.status.code().unwrap_or(-1),
        stdout,
        stderr,
        rows,
    }
}

/// Runs with `--threads 1` and `--threads 2`; both must succeed with the
/// same rows. Returns both runs (1 then 2).
fn run_both(pkts: &[Pkt], extra: &[&str]) -> (Run, Run) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("case.pcap");
    write_pcap(&path, &sample().header, pkts);
    let one = run(&path, "1", extra);
    let two = run(&path, "2", extra);
    for (n, r) in [("1", &one), ("2", &two)] {
        assert_eq!(
            r.status, 0,
            "--threads {n}: exit status; stderr: {}",
            r.stderr
        );
    }
    assert_eq!(
        one.rows, two.rows,
        "--threads 1 and --threads 2 give different rows"
    );
    (one, two)
}

fn col<'r>(row: &'r [(String, String)], name: &str) -> &'r str {
    row.iter()
        .find(|(h, _)| h == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no column {name}"))
}

fn assert_established_tls12(rows: &[Vec<(String, String)>]) {
    for row in rows {
        assert_eq!(col(row, "status"), "established", "{row:?}");
        assert_eq!(col(row, "negotiated_version"), "TLS1.2", "{row:?}");
        assert_eq!(col(row, "client_max_version"), "TLS1.2", "{row:?}");
        assert_eq!(col(row, "sni"), "tls12.example.test", "{row:?}");
        assert_eq!(col(row, "client_port"), CLIENT_PORT.to_string(), "{row:?}");
        assert_eq!(col(row, "server_port"), SERVER_PORT.to_string(), "{row:?}");
    }
}

/// Numbers from the summary's first line: (packets, passed over).
fn summary_counts(stdout: &str) -> (u64, u64) {
    let first = stdout.lines().next().unwrap_or_default();
    let (packets, rest) = first
        .split_once(" packets (")
        .unwrap_or_else(|| panic!("unexpected summary line: {first:?}"));
    let (over, _) = rest
        .split_once(" passed over)")
        .unwrap_or_else(|| panic!("unexpected summary line: {first:?}"));
    (
        packets.trim().parse().unwrap(),
        over.trim().parse().unwrap(),
    )
}

const SECOND: i64 = 1_000_000;

// ---------------------------------------------------------------------------
// Cases.

/// The same 4-tuple reused by a new connection (new ISN) while the first,
/// which never sent a FIN, is still in the flow table: two connections.
#[test]
fn port_reuse_without_fin() {
    let s = sample();
    let first: Vec<Pkt> = s.pkts.iter().filter(|p| !is_fin(p)).cloned().collect();
    let mut pkts = first;
    pkts.extend(shifted(&s.pkts, 10 * SECOND, 100_000));
    let (one, _) = run_both(&pkts, &[]);
    assert_eq!(one.rows.len(), 2, "{:?}", one.rows);
    assert_established_tls12(&one.rows);
    assert_ne!(col(&one.rows[0], "ts"), col(&one.rows[1], "ts"));
}

/// Port reuse when the reader thread runs ahead of the analysis: the first
/// connection is done (in the shared done filter) when the reader already
/// passed its FINs and the second connection's SYN; the second connection's
/// hellos must still be analysed.
#[test]
fn port_reuse_after_race() {
    let s = sample();
    let conn1: Vec<Pkt> = s.pkts.iter().filter(|p| !is_fin(p)).cloned().collect();
    let fins: Vec<Pkt> = s.pkts.iter().filter(|p| is_fin(p)).cloned().collect();
    let mut t = conn1.last().unwrap().ts;
    let mut pkts = conn1;
    for i in 0..2100u16 {
        let mut f = s.pkts[0].data.clone();
        set_ports(&mut f, 10_000 + i, SERVER_PORT);
        t += 1000;
        pkts.push(Pkt { ts: t, data: f });
    }
    for mut f in fins {
        t += 1000;
        f.ts = t;
        pkts.push(f);
    }
    let dt = t + SECOND - s.pkts[0].ts;
    pkts.extend(shifted(&s.pkts, dt, 100_000));
    for w in pkts.windows(2) {
        assert!(w[0].ts < w[1].ts);
    }
    let (one, _) = run_both(&pkts, &[]);
    assert_eq!(one.rows.len(), 2, "{:?}", one.rows);
    assert_established_tls12(&one.rows);
}

/// TCP Fast Open: the ClientHello rides on the SYN.
#[test]
fn tcp_fast_open_client_hello_on_syn() {
    let s = sample();
    let ch_at = s
        .pkts
        .iter()
        .position(|p| from_client(p) && !payload(&p.data).is_empty())
        .unwrap();
    let hello = payload(&s.pkts[ch_at].data).to_vec();
    assert_eq!(
        hello[0], 0x16,
        "the ClientHello segment starts a handshake record"
    );
    let mut pkts = s.pkts.clone();
    let mut syn = pkts[0].data.clone();
    set_payload(&mut syn, &hello);
    assert_eq!(tcp_flags(&syn), SYN);
    pkts[0].data = syn;
    pkts.remove(ch_at);
    let (one, _) = run_both(&pkts, &[]);
    assert_eq!(one.rows.len(), 1, "{:?}", one.rows);
    assert_established_tls12(&one.rows);
}

/// A done connection that keeps sending data (its frames then stop at the
/// reader thread's done filter) is not idle and must not be evicted as idle.
/// Filler frames after the handshake push the 20 data frames, one every
/// 100 s, past the reader's first batch, so that they are dropped early
/// (deterministically so with `--threads 1`) and only the filter sees them.
#[test]
fn done_connection_with_traffic_is_not_idle() {
    let s = sample();
    let mut pkts: Vec<Pkt> = s.pkts.iter().filter(|p| !is_fin(p)).cloned().collect();
    let last = pkts
        .iter()
        .rev()
        .find(|p| !payload(&p.data).is_empty())
        .unwrap()
        .clone();
    pkts.extend(fin_fillers(&last.data, BATCH_FRAMES + 100, last.ts));
    let len = u32::try_from(payload(&last.data).len()).unwrap();
    for k in 1..=20u32 {
        let mut p = last.clone();
        p.ts += i64::from(k) * 100 * SECOND;
        set_seq(&mut p.data, seq(&last.data).wrapping_add(k * len));
        pkts.push(p);
    }
    let (one, two) = run_both(&pkts, &["--idle-timeout", "300"]);
    assert_eq!(one.rows.len(), 1, "{:?}", one.rows);
    assert_established_tls12(&one.rows);
    for (n, r) in [("1", &one), ("2", &two)] {
        assert!(
            r.stdout.contains(" packets ("),
            "--threads {n}: no summary:\n{}",
            r.stdout
        );
        assert!(
            !r.stdout.contains("evicted"),
            "--threads {n}: the connection was evicted idle:\n{}",
            r.stdout
        );
    }
    // "Passed over" counts frames with no TCP segment (issue 14): none
    // here, with one thread (where the 20 data frames are dropped early, at
    // the filter) as with two. The early drop itself is checked by the
    // pipelined unit tests.
    assert_eq!(summary_counts(&one.stdout).1, 0, "{}", one.stdout);
    assert_eq!(summary_counts(&two.stdout).1, 0, "{}", two.stdout);
}

/// Two outputs on standard output is a command-line error.
#[test]
fn two_outputs_on_stdout_rejected() {
    for threads in ["1", "2"] {
        let o = tlsready()
            .args(["analyze", SAMPLE, "--connections", "-", "--json", "-"])
            .args(["--threads", threads])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "--threads {threads}: {stderr}");
        assert!(
            o.stdout.is_empty(),
            "--threads {threads}: output written: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        // The error itself is one line (clap may add a usage hint after it).
        let errors: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("error") || l.starts_with("tlsready:"))
            .collect();
        assert_eq!(errors.len(), 1, "--threads {threads}: {stderr}");
        assert!(errors[0].contains("`-`"), "--threads {threads}: {stderr}");
    }
}

/// A long plaintext (HTTP-like) connection is given up after the plaintext
/// limit: no row, and the rest of its frames are passed over early. The
/// reader offers a whole batch before the analysis sees it, so filler
/// frames come first: the connection gives up within the first batch and
/// most of its 300 segments come in the next one.
#[test]
fn long_plaintext_connection_is_passed_over() {
    let s = sample();
    let t = templates(&s);
    let fillers = BATCH_FRAMES - 20;
    let mut pkts = fin_fillers(&t.client_data, fillers, s.pkts[0].ts - 10 * SECOND);
    let mut b = Builder::new(&t, CLIENT_PORT, SERVER_PORT, s.pkts[0].ts);
    b.handshake();
    b.data(0, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let body = vec![b'A'; 1400];
    for _ in 0..300 {
        b.data(1, &body);
    }
    pkts.extend(b.pkts);
    let total = u64::try_from(pkts.len()).unwrap();
    let (one, two) = run_both(&pkts, &[]);
    assert!(one.rows.is_empty(), "{:?}", one.rows);
    // Every frame is counted; "passed over" is the frames with no TCP
    // segment (issue 14), none here, whatever the threads.
    assert_eq!(summary_counts(&one.stdout), (total, 0), "{}", one.stdout);
    assert_eq!(summary_counts(&two.stdout), (total, 0), "{}", two.stdout);
}

/// The SMTP dialogue of cases 7 and 8 up to the STARTTLS answer.
fn smtp_dialogue<'t>(t: &'t Templates, ts: i64) -> Builder<'t> {
    let mut b = Builder::new(t, 41000, 25, ts);
    b.handshake();
    b.data(1, b"220 mx.example.net ESMTP\r\n");
    b.data(0, b"EHLO printer9\r\nSTARTTLS\r\n");
    b.data(1, b"250-mx.example.net\r\n250 STARTTLS\r\n");
    b
}

/// SMTP client pipelining EHLO and STARTTLS in one segment, STARTTLS
/// refused: the reply to EHLO is not the answer to STARTTLS.
#[test]
fn smtp_pipelined_starttls_refused() {
    let s = sample();
    let t = templates(&s);
    let mut b = smtp_dialogue(&t, s.pkts[0].ts);
    b.data(1, b"454 4.7.0 TLS not available\r\n");
    b.data(0, b"QUIT\r\n");
    b.fin(0);
    b.fin(1);
    let (one, _) = run_both(&b.pkts, &[]);
    assert_eq!(one.rows.len(), 1, "{:?}", one.rows);
    let row = &one.rows[0];
    assert_eq!(col(row, "protocol"), "smtp", "{row:?}");
    assert_eq!(col(row, "status"), "starttls_refused", "{row:?}");
    assert_eq!(col(row, "client_helo"), "printer9", "{row:?}");
    assert_eq!(col(row, "server_banner"), "mx.example.net", "{row:?}");
    assert_eq!(col(row, "server_port"), "25", "{row:?}");
    assert_eq!(col(row, "client_port"), "41000", "{row:?}");
}

/// STARTTLS accepted (after pipelining) but the capture ends before any
/// TLS: an smtp-starttls connection without ClientHello.
#[test]
fn smtp_starttls_accepted_without_tls() {
    let s = sample();
    let t = templates(&s);
    let mut b = smtp_dialogue(&t, s.pkts[0].ts);
    b.data(1, b"220 2.0.0 go ahead\r\n");
    let (one, _) = run_both(&b.pkts, &[]);
    assert_eq!(one.rows.len(), 1, "{:?}", one.rows);
    let row = &one.rows[0];
    assert_eq!(col(row, "protocol"), "smtp-starttls", "{row:?}");
    assert_eq!(col(row, "status"), "no_client_hello", "{row:?}");
    assert_eq!(col(row, "client_helo"), "printer9", "{row:?}");
    assert_eq!(col(row, "server_port"), "25", "{row:?}");
}

/// The race of `port_reuse_after_race`, with a wide window: connection 2's
/// SYN comes right after the reader's first batch, and its ClientHello
/// 1900 frames later, in the same batch. The reader offers the SYN (which
/// clears the done filter for the 4-tuple) before the analysis thread has
/// seen connection 1's handshake in the first batch; the analysis then
/// marks connection 1 done, and the reader drops connection 2's hellos as
/// frames of a done connection. With `--threads 1` the analysis of the first
/// batch happens before the SYN is offered, so there is no race.
#[test]
fn port_reuse_race_reader_far_ahead() {
    let s = sample();
    let conn1: Vec<Pkt> = s.pkts.iter().filter(|p| !is_fin(p)).cloned().collect();
    let fins: Vec<Pkt> = s.pkts.iter().filter(|p| is_fin(p)).cloned().collect();
    let t = conn1.last().unwrap().ts;
    let mut pkts = conn1;
    // Ends the first batch (and a little more).
    pkts.extend(fin_fillers(&s.pkts[0].data, BATCH_FRAMES, t));
    for mut f in fins {
        f.ts = pkts.last().unwrap().ts + 1000;
        pkts.push(f);
    }
    let t = pkts.last().unwrap().ts;
    let conn2 = shifted(&s.pkts, t + SECOND - s.pkts[0].ts, 100_000);
    // Connection 2's SYN and SYN-ACK, 1900 fillers, then the rest of it.
    pkts.extend(conn2[..2].iter().cloned());
    let t = pkts.last().unwrap().ts;
    pkts.extend(fin_fillers(&s.pkts[0].data, 1900, t));
    let t = pkts.last().unwrap().ts;
    pkts.extend(shifted(&conn2[2..], t + 1000 - conn2[2].ts, 0));
    for w in pkts.windows(2) {
        assert!(w[0].ts < w[1].ts);
    }
    let (one, _) = run_both(&pkts, &[]);
    assert_eq!(one.rows.len(), 2, "{:?}", one.rows);
    assert_established_tls12(&one.rows);
    // The outcome with two threads depends on timing: try several times.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("case.pcap");
    write_pcap(&path, &s.header, &pkts);
    for attempt in 1..=10 {
        let two = run(&path, "2", &[]);
        assert_eq!(two.status, 0, "{}", two.stderr);
        let got: Vec<String> = two
            .rows
            .iter()
            .map(|r| format!("{} {}", col(r, "ts"), col(r, "status")))
            .collect();
        assert_eq!(
            two.rows.len(),
            2,
            "--threads 2, attempt {attempt}: connection 2 lost; rows: {got:?}"
        );
        assert_eq!(one.rows, two.rows, "--threads 2, attempt {attempt}");
    }
}

/// A client without SNI resolved the server's name, then connected after
/// a long stretch of other traffic: with the file cut into chunks, the DNS
/// answer and the connection fall in different chunks, and the row still
/// takes the name (`dns_name`, Microsoft 365 by `dns`) as one reader's does.
#[test]
fn dns_answer_in_an_earlier_chunk_names_the_connection() {
    let lan = read_pcap("samples/identity/lan.pcap");
    let udp_dport =
        |f: &[u8]| (f.len() > 42 && f[23] == 17).then(|| u16::from_be_bytes([f[36], f[37]]));
    let query = lan
        .pkts
        .iter()
        .find(|p| udp_dport(&p.data) == Some(53))
        .expect("a DNS query in the sample")
        .data
        .clone();
    // The first SYN of the client that sends no SNI (10.197.0.149).
    let syn = lan
        .pkts
        .iter()
        .position(|p| {
            p.data.len() > 54
                && p.data[23] == 6
                && p.data[26..30] == [10, 197, 0, 149]
                && tcp_flags(&p.data) == 0x02
        })
        .expect("the client's SYN");
    let before = lan.pkts[syn - 1].ts;
    let gap = lan.pkts[syn].ts - before;
    // Queries nobody answers: neither name traffic nor TCP, 120 KiB of them.
    let fillers = (0..1500).map(|i| Pkt {
        ts: before + gap * i / 1600,
        data: query.clone(),
    });
    let mut pkts: Vec<Pkt> = lan.pkts[..syn]
        .iter()
        .map(|p| Pkt {
            ts: p.ts,
            data: p.data.clone(),
        })
        .collect();
    pkts.extend(fillers);
    pkts.extend(lan.pkts[syn..].iter().map(|p| Pkt {
        ts: p.ts,
        data: p.data.clone(),
    }));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("late.pcap");
    write_pcap(&path, &lan.header, &pkts);
    let mut runs = Vec::new();
    for t in ["1", "3"] {
        let r = run(&path, t, &["--min-chunk", "4096", "--scope", "all"]);
        assert_eq!(r.status, 0, "--threads {t}: {}", r.stderr);
        let mut rows = r.rows;
        rows.sort();
        runs.push(rows);
    }
    assert_eq!(runs[0], runs[1], "--threads 1 and 3 differ");
    let named: Vec<_> = runs[0]
        .iter()
        .filter(|r| col(r, "client_ip") == "10.197.0.149")
        .collect();
    assert_eq!(named.len(), 2);
    for r in named {
        assert_eq!(col(r, "sni"), "");
        assert_eq!(col(r, "dns_name"), "outlook.office365.com");
        assert_eq!(col(r, "m365_match"), "dns");
    }
}
