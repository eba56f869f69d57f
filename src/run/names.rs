//! The names pass: the driver's [`Consumer`] that feeds an [`Identity`]
//! with every frame's name traffic (UDP datagrams of the name protocols,
//! the starts of TCP streams on the Kerberos, DNS and HTTP ports, source
//! MACs). `tlsready hosts` runs it over its inputs; `analyze` replays
//! what its flow tables kept ([`Follower::replay`], a chunk at a time); a
//! live capture learns as the frames come ([`Learner`]).

use rustc_hash::FxHashMap as HashMap;
use std::cell::{Cell, RefCell};
use std::net::IpAddr;

use super::driver::Consumer;
use crate::enrich::identity::{Datagram, Identity, StreamWant};
use crate::flow::names::{Logged, NameLog};
use crate::input::frame::Frame;
use crate::wire::names::Mac;
use crate::wire::names::frame::{Proto, transport};

/// Longest stream start kept (a Kerberos request with PKINIT fits).
const MAX_STREAM: usize = 65_536;
/// Stream directions followed at once; when full, the map is cleared.
const MAX_STREAMS: usize = 16_384;

/// One TCP direction: (src, sport, dst, dport).
type Dir = (IpAddr, u16, IpAddr, u16);

#[derive(Debug)]
struct Stream {
    mac: Option<Mac>,
    next: u32,
    buf: Vec<u8>,
    want: usize,
    done: bool,
}

/// Whether the name parsers read a TCP direction: Kerberos (88) both
/// ways, DNS answers (from 53), HTTP requests (to 80 or 8080).
fn wanted(sport: u16, dport: u16) -> bool {
    sport == 88 || dport == 88 || sport == 53 || dport == 80 || dport == 8080
}

/// The TCP directions whose starts the name parsers are reading: kept
/// from frame to frame (a long-lived [`Follower`] follows a live capture).
#[derive(Debug, Default)]
pub struct Follower {
    streams: HashMap<Dir, Stream>,
    /// Stream directions given up (the map was full).
    pub streams_dropped: u64,
}

impl Follower {
    /// Feeds `identity` with a frame's name traffic.
    pub fn frame(&mut self, identity: &mut Identity, f: &Frame<'_>) {
        let Some(t) = transport(f.link, f.data) else {
            return;
        };
        if let Some(mac) = t.src_mac {
            identity.frame_mac(f.ts_us, mac, t.src);
        }
        match t.proto {
            Proto::Udp => identity.udp(&Datagram {
                ts: f.ts_us,
                src_mac: t.src_mac,
                src: t.src,
                dst: t.dst,
                sport: t.sport,
                dport: t.dport,
                payload: t.payload,
            }),
            Proto::Tcp { seq, syn } => self.tcp(identity, f.ts_us, &t, seq, syn),
        }
    }

    /// Feeds `identity` with what a flow table kept (see
    /// [`crate::flow::names`]), in capture order.
    pub fn replay(&mut self, log: &NameLog, identity: &mut Identity) {
        for e in log.entries() {
            match e {
                Logged::Frame { ts, link, data } => self.frame(
                    identity,
                    &Frame {
                        link: *link,
                        ts_us: *ts,
                        data,
                        wire_len: data.len() as u32,
                    },
                ),
                Logged::Mac { ts, mac, addr } => identity.frame_mac(*ts, *mac, *addr),
                // (Its MAC came as a `Mac` entry; HTTP requests are read
                // without one.)
                Logged::Syn { dir, seq, .. } => self.start(*dir, None, *seq),
            }
        }
    }

    /// A SYN with sequence number `seq` (from `mac`) starts direction
    /// `dir`'s stream anew.
    fn start(&mut self, dir: Dir, mac: Option<Mac>, seq: u32) {
        if !wanted(dir.1, dir.3) {
            return;
        }
        self.room(&dir);
        self.streams.insert(
            dir,
            Stream {
                mac,
                next: seq.wrapping_add(1),
                buf: Vec::new(),
                want: 1,
                done: false,
            },
        );
    }

    /// Makes room for one more direction: when full, the map is cleared.
    fn room(&mut self, dir: &Dir) {
        if self.streams.len() >= MAX_STREAMS && !self.streams.contains_key(dir) {
            self.streams_dropped += self.streams.len() as u64;
            self.streams.clear();
        }
    }

    fn tcp(
        &mut self,
        identity: &mut Identity,
        ts: i64,
        t: &crate::wire::names::frame::Transport<'_>,
        seq: u32,
        syn: bool,
    ) {
        if !wanted(t.sport, t.dport) {
            return;
        }
        let dir = (t.src, t.sport, t.dst, t.dport);
        if syn {
            self.start(dir, t.src_mac, seq);
        }
        if t.payload.is_empty() {
            return;
        }
        if !self.streams.contains_key(&dir) {
            // Begun before the capture: from this segment on.
            self.room(&dir);
            self.streams.insert(
                dir,
                Stream {
                    mac: t.src_mac,
                    next: seq,
                    buf: Vec::new(),
                    want: 1,
                    done: false,
                },
            );
        }
        let Some(s) = self.streams.get_mut(&dir) else {
            return;
        };
        if s.done || seq != s.next {
            // Done, or out of order (a retransmission or a gap): only the
            // start in order is read.
            return;
        }
        s.next = seq.wrapping_add(t.payload.len() as u32);
        let room = MAX_STREAM.saturating_sub(s.buf.len());
        let more = t.payload.get(..room).unwrap_or(t.payload);
        // The first segment is read where it lies (most starts fit in one).
        let in_place = s.buf.is_empty() && more.len() >= s.want;
        if !in_place {
            s.buf.extend_from_slice(more);
            if s.buf.len() < s.want {
                return;
            }
        }
        let payload = if in_place { more } else { &s.buf[..] };
        let read = payload.len();
        // The time of the segment that completes the message (as tshark
        // dates a reassembled PDU), not of the SYN.
        let want = identity.tcp_stream(&Datagram {
            ts,
            src_mac: s.mac,
            src: t.src,
            dst: t.dst,
            sport: t.sport,
            dport: t.dport,
            payload,
        });
        match want {
            StreamWant::More(n) if n <= MAX_STREAM && n > read => {
                if in_place {
                    s.buf.extend_from_slice(more);
                }
                s.want = n;
            }
            _ => {
                s.done = true;
                s.buf = Vec::new();
            }
        }
    }
}

/// Feeds `identity` from frames; input errors go to `report`.
pub struct Names<'a> {
    /// What is learned.
    pub identity: &'a mut Identity,
    /// Where input errors go (already formatted, naming the input).
    pub report: &'a mut dyn FnMut(String),
    /// The TCP streams followed.
    pub follower: Follower,
}

impl<'a> Names<'a> {
    /// Learning into `identity`.
    pub fn new(identity: &'a mut Identity, report: &'a mut dyn FnMut(String)) -> Self {
        Names {
            identity,
            report,
            follower: Follower::default(),
        }
    }
}

impl Consumer for Names<'_> {
    fn frame(&mut self, f: &Frame<'_>) -> bool {
        self.follower.frame(self.identity, f);
        false
    }

    fn failed(&mut self, msg: String) {
        (self.report)(msg);
    }
}

/// A live capture's host identity: fed with the name traffic of each frame
/// as it comes ([`Learner::learn`]), asked by each row as it is written and
/// by each report. Shared by reference on the capture's one thread.
#[derive(Debug, Default)]
pub struct Learner {
    identity: RefCell<Identity>,
    follower: RefCell<Follower>,
    /// Name frames the flow table could not keep.
    dropped: Cell<u64>,
    /// A DNS answer passed since [`Learner::take_answer`] (the rows learn
    /// server names from it).
    answer: Cell<bool>,
}

impl Learner {
    /// Learning into `identity` (with the user's `--hosts` and `--oui`).
    pub fn new(identity: Identity) -> Self {
        Learner {
            identity: RefCell::new(identity),
            ..Default::default()
        }
    }

    /// Learns from what the flow table kept since the last call.
    pub fn learn(&self, log: &NameLog) {
        self.dropped.set(self.dropped.get() + log.dropped);
        self.follower
            .borrow_mut()
            .replay(log, &mut self.identity.borrow_mut());
    }

    /// A DNS answer passed (see [`crate::flow::table::Finished::dns_answer`]).
    pub fn answer_seen(&self) {
        self.answer.set(true);
    }

    /// Whether a DNS answer passed since the last call.
    pub fn take_answer(&self) -> bool {
        self.answer.replace(false)
    }

    /// Who `addr` was at `ts`, as known now (see [`Identity::client_name`]).
    pub fn client_name(&self, addr: IpAddr, ts: i64) -> Option<crate::model::row::ClientName> {
        self.identity.borrow().client_name(addr, ts)
    }

    /// The summary's line on the names learned so far.
    pub fn summary_line(&self) -> String {
        self.identity
            .borrow()
            .stats()
            .summary_line(self.dropped.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::conn::Connection;
    use crate::flow::key::FlowKey;
    use crate::flow::table::{Finished, FlowTable, Limits};

    struct Nothing;
    impl Finished for Nothing {
        fn finished(&mut self, _key: &FlowKey, _conn: &Connection) -> bool {
            false
        }
    }

    fn sorted(mut rows: Vec<crate::enrich::identity::table::HostRow>) -> Vec<String> {
        rows.sort_by_key(|r| (r.addr, r.first_seen, r.name.clone()));
        rows.iter().map(|r| format!("{r:?}")).collect()
    }

    /// A client that opens a second HTTP connection on the same ports (a
    /// port used again) has its second request read too, though the log
    /// keeps no HTTP SYN frame, also when the second SYN and its request
    /// are in two logs (a file's chunks, cut between them): the real SYN
    /// and request of
    /// samples/identity/lan.pcap (Windows 7's CryptoAPI), then again 120 s
    /// later with another sequence number and the User-Agent of Windows
    /// 8.1, which wins (the same rank, later).
    #[test]
    fn a_request_on_ports_used_again_is_read() {
        use crate::flow::names::NameLog;
        use crate::wire::decode::{decode, flags};
        let frames = crate::testing::frames("identity/lan.pcap");
        let to_http = |want_syn: bool| {
            frames
                .iter()
                .find(|f| {
                    decode(f.link, &f.data).is_ok_and(|s| {
                        s.dport == 80
                            && (s.flags & flags::SYN != 0) == want_syn
                            && (want_syn || !s.payload.is_empty())
                    })
                })
                .expect("an HTTP SYN and request in the sample")
        };
        let (syn, req) = (to_http(true), to_http(false));
        let client = decode(req.link, &req.data).unwrap().src;
        let ua = b"Microsoft-CryptoAPI/6.1";
        let at = req.data.windows(ua.len()).position(|w| w == ua).unwrap();
        // (TCP sequence number at offset 14 + 20 + 4: IPv4 without options.)
        let again = |f: &crate::testing::Owned, delta: u32| {
            let mut d = f.data.clone();
            let seq = u32::from_be_bytes(d[38..42].try_into().unwrap()).wrapping_add(delta);
            d[38..42].copy_from_slice(&seq.to_be_bytes());
            d
        };
        let (syn2, mut req2) = (again(syn, 7777), again(req, 7777));
        req2[at + ua.len() - 1] = b'3';
        let later = 120_000_000;
        let frames = [
            (syn.ts_us, &syn.data),
            (req.ts_us, &req.data),
            (syn.ts_us + later, &syn2),
            (req.ts_us + later, &req2),
        ];
        for cut in [4, 3] {
            let mut logs = [NameLog::default(), NameLog::default()];
            for (i, (ts, data)) in frames.iter().enumerate() {
                let log = &mut logs[usize::from(i >= cut)];
                log.tcp(syn.link, *ts, data, &decode(syn.link, data).unwrap());
            }
            let mut identity = Identity::default();
            let mut follower = Follower::default();
            for log in &logs {
                follower.replay(log, &mut identity);
            }
            let os = identity
                .client_name(client, req.ts_us + later)
                .map(|c| c.os_hint)
                .unwrap_or_default();
            assert!(os.starts_with("Windows 8.1"), "cut {cut}: {os}");
        }
    }

    /// A live capture learns frame by frame (the table's log drained after
    /// each) what `analyze` learns replaying the whole log at the end: the
    /// real stacks of samples/identity/lan.pcap (Kerberos over TCP across
    /// several frames included).
    #[test]
    fn learning_as_frames_come_equals_replaying_at_the_end() {
        let frames = crate::testing::frames("identity/lan.pcap");
        let (mut out, mut out2) = (Nothing, Nothing);
        let mut whole = FlowTable::new(Limits::default(), &mut out).with_names();
        let mut live = FlowTable::new(Limits::default(), &mut out2).with_names();
        let learner = Learner::default();
        let mut drains = 0;
        for f in &frames {
            whole.frame(f.link, f.ts_us, &f.data, f.wire_len);
            live.frame(f.link, f.ts_us, &f.data, f.wire_len);
            if let Some(log) = live.drain_names() {
                drains += 1;
                learner.learn(&log);
            }
        }
        let mut at_end = Identity::default();
        Follower::default().replay(&whole.take_names(), &mut at_end);
        assert!(drains > 10, "{drains} drains");
        let learned = learner.identity.into_inner();
        let rows = sorted(at_end.host_rows());
        assert!(rows.iter().any(|r| r.contains("Kerberos")), "{rows:?}");
        assert_eq!(sorted(learned.host_rows()), rows);
        assert_eq!(
            learned.stats().summary_line(0),
            at_end.stats().summary_line(0)
        );
    }

    /// `names_anyone` (asked before the rows are named) says whether some
    /// learned row has a name or a MAC: yes on the LAN sample, no on a
    /// capture of TLS alone.
    #[test]
    fn names_anyone_as_the_rows_say() {
        for (name, expect) in [("identity/lan.pcap", true), ("openssl-tls12.pcap", false)] {
            let mut identity = Identity::default();
            let mut follower = Follower::default();
            for f in crate::testing::frames(name) {
                follower.frame(
                    &mut identity,
                    &Frame {
                        link: f.link,
                        ts_us: f.ts_us,
                        data: &f.data,
                        wire_len: f.wire_len,
                    },
                );
            }
            let rows = identity.host_rows();
            let any = rows.iter().any(|r| !r.name.is_empty() || r.mac.is_some());
            assert_eq!((identity.names_anyone(), any), (expect, expect), "{name}");
        }
    }
}
