//! Hostile traffic fed to the library directly: a SYN flood against the
//! flow-table limit, a hole that is never filled, handshakes that never
//! finish, plus regressions found by the fuzz targets (fuzz/).

use std::sync::OnceLock;

use crate::util::{handshake, record, tcp_frame};

use tlsready::enrich::m365::Endpoints;
use tlsready::flow::assembler::MAX_PENDING;
use tlsready::flow::conn::{Connection, PLAIN_LIMIT};
use tlsready::flow::key::FlowKey;
use tlsready::flow::table::{Finished, FlowTable, Limits};
use tlsready::model::row::{ConnRecord, Status};
use tlsready::wire::decode::LinkType;
use tlsready::wire::tls::{MAX_HANDSHAKE_LEN, MAX_RECORD_LEN};

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH_ACK: u8 = 0x18;
const T0: i64 = 1_750_000_000_000_000;

/// The rows of the connections the table hands on.
#[derive(Default)]
struct Rows(Vec<ConnRecord>);

fn endpoints() -> &'static Endpoints {
    static EP: OnceLock<Endpoints> = OnceLock::new();
    EP.get_or_init(Endpoints::embedded)
}

impl Finished for Rows {
    fn finished(&mut self, _key: &FlowKey, conn: &Connection) -> bool {
        match tlsready::enrich::row::build(conn, endpoints()) {
            Some(r) => {
                self.0.push(r);
                true
            }
            None => false,
        }
    }
}

fn analyzer(rows: &mut Rows, limits: Limits) -> FlowTable<'_> {
    FlowTable::new(limits, rows)
}

/// An Ethernet/IPv4/TCP frame (ack number 1).
fn frame(
    src: [u8; 4],
    dst: [u8; 4],
    ports: (u16, u16),
    seq: u32,
    flags: u8,
    data: &[u8],
) -> Vec<u8> {
    tcp_frame(src, dst, ports, seq, 1, flags, data)
}

fn client_hello(version: u16) -> Vec<u8> {
    let mut b = version.to_be_bytes().to_vec();
    b.extend_from_slice(&[0x11; 32]);
    b.push(0);
    b.extend_from_slice(&[0, 4, 0xc0, 0x2f, 0x00, 0x2f, 1, 0, 0, 0]);
    record(22, &handshake(1, &b))
}

fn server_hello(version: u16) -> Vec<u8> {
    let mut b = version.to_be_bytes().to_vec();
    b.extend_from_slice(&[0x22; 32]);
    b.extend_from_slice(&[0, 0x00, 0x2f, 0]);
    let mut m = handshake(2, &b);
    m.extend_from_slice(&handshake(14, &[]));
    record(22, &m)
}

/// The four frames of a complete TLS 1.0 handshake from `client`:`port`.
fn handshake_frames(client: [u8; 4], port: u16) -> Vec<Vec<u8>> {
    let server = [52, 96, 0, 1];
    let ch = client_hello(0x0301);
    vec![
        frame(client, server, (port, 443), 100, SYN, &[]),
        frame(server, client, (443, port), 500, SYN | ACK, &[]),
        frame(client, server, (port, 443), 101, PSH_ACK, &ch),
        frame(
            server,
            client,
            (443, port),
            501,
            PSH_ACK,
            &server_hello(0x0301),
        ),
    ]
}

#[test]
fn syn_flood_is_bounded_by_the_table_and_real_handshakes_still_reported() {
    const FLOWS: u32 = 300_000;
    const MAX: usize = 10_000;
    let mut rows = Rows::default();
    let mut a = analyzer(
        &mut rows,
        Limits {
            max_flows: MAX,
            ..Limits::default()
        },
    );
    let real = [(1_000u32, 11_001u16), (150_000, 11_002), (299_000, 11_003)];
    let mut ts = T0;
    for i in 0..FLOWS {
        if let Some((_, port)) = real.iter().find(|(at, _)| *at == i) {
            for f in handshake_frames([192, 0, 2, 1], *port) {
                ts += 10;
                let _ = a.frame(LinkType::Ethernet, ts, &f, f.len() as u32);
            }
        }
        let src = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
        let f = frame(src, [52, 96, 0, 2], (40_000, 443), i, SYN, &[]);
        ts += 10;
        let _ = a.frame(LinkType::Ethernet, ts, &f, f.len() as u32);
        assert!(a.tracked() <= MAX, "{} tracked", a.tracked());
    }
    let stats = a.stats;
    assert_eq!(stats.connections, u64::from(FLOWS) + 3);
    assert_eq!(stats.evicted_idle, 0);
    assert_eq!(stats.evicted_full + a.tracked() as u64, stats.connections);
    assert!(stats.evicted_full >= u64::from(FLOWS) - MAX as u64);
    a.finish();
    drop(a);
    let got: Vec<(u16, Status)> = rows.0.iter().map(|r| (r.client_port, r.status)).collect();
    assert_eq!(
        got,
        vec![
            (11_001, Status::Established),
            (11_002, Status::Established),
            (11_003, Status::Established),
        ]
    );
}

#[test]
fn hole_never_filled_keeps_buffers_bounded() {
    let mut rows = Rows::default();
    let mut a = analyzer(&mut rows, Limits::default());
    let (c, s) = ([10, 0, 0, 1], [52, 96, 0, 1]);
    let mut ts = T0;
    let mut send = |a: &mut FlowTable<'_>, f: Vec<u8>| {
        ts += 100;
        let _ = a.frame(LinkType::Ethernet, ts, &f, f.len() as u32);
    };
    send(&mut a, frame(c, s, (40_000, 443), 1000, SYN, &[]));
    send(&mut a, frame(s, c, (443, 40_000), 9000, SYN | ACK, &[]));
    let ch = client_hello(0x0303);
    send(&mut a, frame(c, s, (40_000, 443), 1001, PSH_ACK, &ch[..20]));
    // The rest of the hello never comes; data keeps coming after the hole.
    let junk = vec![0x17u8; 1400];
    let mut max = 0;
    for i in 0..600u32 {
        let seq = 1001 + ch.len() as u32 + 100 + i * 1400;
        send(&mut a, frame(c, s, (40_000, 443), seq, PSH_ACK, &junk));
        max = max.max(a.buffered_bytes());
    }
    assert!(
        max <= MAX_PENDING + 5 + MAX_RECORD_LEN,
        "{max} bytes buffered"
    );
    a.finish();
    drop(a);
    assert_eq!(rows.0.len(), 1);
    assert_eq!(rows.0[0].status, Status::Truncated);
}

#[test]
fn handshakes_that_never_finish_keep_buffers_bounded() {
    let mut rows = Rows::default();
    let mut a = analyzer(&mut rows, Limits::default());
    let s = [52, 96, 0, 1];
    let mut ts = T0;
    let mut max = 0;
    let mut send = |a: &mut FlowTable<'_>, f: Vec<u8>| {
        ts += 100;
        let _ = a.frame(LinkType::Ethernet, ts, &f, f.len() as u32);
        max = max.max(a.buffered_bytes());
    };
    // 1: a ClientHello announcing 60000 bytes, sent in full records, never ending.
    let c1 = [10, 0, 0, 1];
    let mut msg = vec![1, 0, 0xea, 0x60, 3, 3];
    msg.resize(50_000, 0x41);
    let mut wire = Vec::new();
    for chunk in msg.chunks(MAX_RECORD_LEN / 2) {
        wire.extend_from_slice(&record(22, chunk));
    }
    // 2: one record announcing 16 KiB, trickled and never completed.
    let c2 = [10, 0, 0, 2];
    let mut trickle = vec![22, 3, 1, 0x40, 0x00, 1, 0, 0x3f, 0xfc, 3, 1];
    trickle.resize(16_000, 0x42);
    // 3: plaintext without a newline, 1 MiB of it.
    let c3 = [10, 0, 0, 3];
    let text = vec![b'A'; 1000];
    for (c, port) in [(c1, 40_001), (c2, 40_002), (c3, 40_003)] {
        send(&mut a, frame(c, s, (port, 443), 0, SYN, &[]));
    }
    for i in 0..1049u32 {
        let at = i as usize * 1000;
        if let Some(part) = wire.get(at..(at + 1000).min(wire.len())) {
            send(
                &mut a,
                frame(c1, s, (40_001, 443), 1 + at as u32, PSH_ACK, part),
            );
        }
        if let Some(part) = trickle.get(at / 10..(at / 10 + 100).min(trickle.len())) {
            send(
                &mut a,
                frame(c2, s, (40_002, 443), 1 + at as u32 / 10, PSH_ACK, part),
            );
        }
        send(
            &mut a,
            frame(c3, s, (40_003, 25), 1 + at as u32, PSH_ACK, &text),
        );
    }
    let bound =
        (5 + MAX_RECORD_LEN + 4 + MAX_HANDSHAKE_LEN) + (5 + MAX_RECORD_LEN) + PLAIN_LIMIT + 1000;
    assert!(max <= bound, "{max} bytes buffered, bound {bound}");
    a.finish();
    assert_eq!(a.buffered_bytes(), 0);
    drop(a);
    let truncated: Vec<u16> = rows
        .0
        .iter()
        .filter(|r| r.status == Status::Truncated)
        .map(|r| r.client_port)
        .collect();
    assert_eq!(truncated, vec![40_001, 40_002]);
}

/// Fuzz regression (capture target): with real timestamps, the idle sweep's
/// `now - last_sweep` overflowed (a panic in debug builds; in release builds
/// the idle timeout never ran).
#[test]
fn idle_sweep_with_real_timestamps() {
    let mut rows = Rows::default();
    let mut a = analyzer(
        &mut rows,
        Limits {
            idle_timeout_us: 1_000_000,
            ..Limits::default()
        },
    );
    let (c, s) = ([10, 0, 0, 1], [52, 96, 0, 1]);
    let ch = client_hello(0x0301);
    let f = frame(c, s, (40_000, 443), 1, PSH_ACK, &ch);
    let _ = a.frame(LinkType::Ethernet, T0, &f, f.len() as u32);
    // A pause longer than the idle timeout is believed when a second
    // frame confirms it.
    let f = frame([10, 0, 0, 2], s, (40_001, 443), 1, SYN, &[]);
    let _ = a.frame(LinkType::Ethernet, T0 + 5_000_000, &f, f.len() as u32);
    let f = frame([10, 0, 0, 3], s, (40_002, 443), 1, SYN, &[]);
    let _ = a.frame(LinkType::Ethernet, T0 + 5_000_100, &f, f.len() as u32);
    assert_eq!(a.stats.evicted_idle, 1);
    assert_eq!(a.tracked(), 2);
    drop(a);
    assert_eq!(rows.0.len(), 1);
    assert_eq!(rows.0[0].status, Status::NoServerHello);
}

/// One corrupt timestamp far in the future must not sweep every
/// connection in progress (their handshakes would be cut in two rows).
#[test]
fn one_garbage_timestamp_does_not_sweep_everything() {
    let mut rows = Rows::default();
    let mut a = analyzer(&mut rows, Limits::default());
    let (c, s) = ([10, 0, 0, 1], [52, 96, 0, 1]);
    let ch = client_hello(0x0303);
    let f = frame(c, s, (40_000, 443), 1, PSH_ACK, &ch);
    let _ = a.frame(LinkType::Ethernet, T0, &f, f.len() as u32);
    // Another connection's frame stamped 50 years later.
    let g = frame([10, 0, 0, 9], s, (40_009, 443), 1, SYN, &[]);
    let _ = a.frame(
        LinkType::Ethernet,
        T0 + 50 * 365 * 86_400_000_000,
        &g,
        g.len() as u32,
    );
    let sh = server_hello(0x0303);
    let f = frame(s, c, (443, 40_000), 1, PSH_ACK, &sh);
    let _ = a.frame(LinkType::Ethernet, T0 + 1_000, &f, f.len() as u32);
    assert_eq!(a.stats.evicted_idle, 0);
    drop(a);
    let ours: Vec<_> = rows.0.iter().filter(|r| r.client_port == 40_000).collect();
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert_eq!(ours[0].negotiated_version, Some(0x0303));
}

/// Fuzz-found class: a pcapng interface with a one-second timestamp
/// resolution and a huge timestamp overflowed the µs conversion.
#[test]
fn pcapng_huge_timestamp_saturates() {
    fn block(t: u32, body: &[u8]) -> Vec<u8> {
        let len = (12 + body.len()) as u32;
        let mut b = t.to_le_bytes().to_vec();
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(body);
        b.extend_from_slice(&len.to_le_bytes());
        b
    }
    let mut shb = 0x1a2b_3c4du32.to_le_bytes().to_vec();
    shb.extend_from_slice(&[1, 0, 0, 0]);
    shb.extend_from_slice(&u64::MAX.to_le_bytes());
    let mut idb = vec![1, 0, 0, 0];
    idb.extend_from_slice(&65535u32.to_le_bytes());
    // if_tsresol = 10^0: timestamps in seconds.
    idb.extend_from_slice(&[9, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let pkt = frame([10, 0, 0, 1], [52, 96, 0, 1], (40_000, 443), 1, SYN, &[]);
    let mut epb = 0u32.to_le_bytes().to_vec();
    let t = i64::MAX as u64 - 5;
    epb.extend_from_slice(&((t >> 32) as u32).to_le_bytes());
    epb.extend_from_slice(&(t as u32).to_le_bytes());
    epb.extend_from_slice(&(pkt.len() as u32).to_le_bytes());
    epb.extend_from_slice(&(pkt.len() as u32).to_le_bytes());
    epb.extend_from_slice(&pkt);
    epb.resize(epb.len().next_multiple_of(4), 0);
    let mut file = block(0x0a0d_0d0a, &shb);
    file.extend(block(1, &idb));
    file.extend(block(6, &epb));
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("huge-ts.pcapng");
    std::fs::write(&path, &file).expect("write");

    use tlsready::input::frame::{Event, FrameSource};
    let inputs = tlsready::input::source::expand(std::slice::from_ref(&path)).expect("expand");
    let mut files = tlsready::input::offline::Files::new(inputs);
    let mut seen = Vec::new();
    loop {
        match files.next() {
            Event::Frame(f) => seen.push(f.ts_us),
            Event::Failed(e) => panic!("{e}"),
            Event::End => break,
            _ => {}
        }
    }
    assert_eq!(seen, vec![i64::MAX]);
}
