//! One TCP connection: both directions' reassembly, content detection, and
//! the handshake facts gathered so far.
//!
//! Each direction starts in *detect* mode. Bytes that begin with a TLS record
//! (or an SSLv2 hello) go straight to the TLS parser; anything else is
//! plaintext (SMTP/IMAP/POP3 dialogue, SOCKS, XMPP, HTTP...), which is fed to
//! the mail dialogue tracker and scanned for a hello record starting later in
//! the stream (STARTTLS, proxies). Plaintext is followed for at most
//! [`PLAIN_LIMIT`] bytes per direction.

use std::net::IpAddr;

use super::assembler::{Piece, Reassembler};
use super::segment::no_data;
use crate::model::version::TlsVersion;
use crate::wire::decode::{Segment, flags};
use crate::wire::mail::Dialogue;
use crate::wire::tls::{self, ClientHello, Event, HandshakeStream, ServerHello, Start};

/// Plaintext followed per direction before giving up on finding TLS in it.
pub const PLAIN_LIMIT: usize = 16 * 1024;

/// Side of a connection: 0 is the lower endpoint of the flow key, 1 the other.
pub type Side = usize;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Mode {
    #[default]
    Detect,
    Plain,
    Tls,
    Off,
}

/// What a direction's stream began with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    /// A TLS record or SSLv2 hello.
    Tls,
    /// Text: a mail greeting, an HTTP answer...
    Text,
    /// Anything else (binary, not TLS).
    Other,
}

/// Bytes looked at to tell text from binary.
const TEXT_PROBE: usize = 32;

/// Do the first bytes read as text (printable ASCII, tabs, line ends)?
fn looks_like_text(b: &[u8]) -> bool {
    b.iter()
        .take(TEXT_PROBE)
        .all(|&x| matches!(x, b' '..=b'~' | b'\t' | b'\r' | b'\n'))
}

#[derive(Debug, Default)]
struct Engine {
    mode: Mode,
    /// What the first bytes were, once told (a gap first leaves it unknown).
    opening: Option<Opening>,
    tls: HandshakeStream,
    plain: Vec<u8>,
    /// Bytes of `plain` already given to the mail dialogue.
    fed: usize,
    /// Plaintext bytes seen in this direction.
    plain_seen: usize,
}

#[derive(Debug, Default)]
struct Dir {
    reasm: Reassembler,
    eng: Engine,
}

/// Recycled per-connection stream state, so that buffers are not
/// allocated anew for every connection.
#[derive(Debug, Default)]
pub struct Pool {
    // Boxed so that taking one out moves a pointer, not two Dirs.
    #[allow(clippy::vec_box)]
    free: Vec<Box<[Dir; 2]>>,
}

/// Connections' stream states kept for reuse.
const POOL_MAX: usize = 128;
/// Buffers larger than this are not kept in the pool.
const POOL_BUF_MAX: usize = 16 * 1024;

impl Pool {
    fn take(&mut self) -> Box<[Dir; 2]> {
        self.free.pop().unwrap_or_default()
    }

    fn give(&mut self, mut d: Box<[Dir; 2]>) {
        if self.free.len() >= POOL_MAX {
            return;
        }
        for dir in d.iter_mut() {
            dir.reasm.reset();
            dir.eng.mode = Mode::Detect;
            dir.eng.opening = None;
            dir.eng.fed = 0;
            dir.eng.plain_seen = 0;
            dir.eng.plain.clear();
            dir.eng.tls.reset();
            if dir.eng.plain.capacity() > POOL_BUF_MAX || dir.eng.tls.capacity() > POOL_BUF_MAX {
                *dir = Dir::default();
            }
        }
        self.free.push(d);
    }
}

/// A plaintext alert seen during the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertSeen {
    /// Which side sent it.
    pub side: Side,
    /// Alert level (1 warning, 2 fatal).
    pub level: u8,
    /// Alert description code.
    pub description: u8,
}

/// Everything learned about a connection's handshake.
#[derive(Debug, Default)]
pub struct Facts {
    /// The side that sent the ClientHello (or received the ServerHello).
    pub client_side: Option<Side>,
    /// First ClientHello.
    pub client_hello: Option<Box<ClientHello>>,
    /// First ServerHello that is not a HelloRetryRequest.
    pub server_hello: Option<Box<ServerHello>>,
    /// A HelloRetryRequest was seen.
    pub hello_retry: bool,
    /// Leaf certificate names (TLS <= 1.2, where certificates are plaintext).
    pub cert_names: std::sync::Arc<[String]>,
    /// The server's plaintext flight ended (ServerHelloDone or encryption).
    pub server_flight_done: bool,
    /// First plaintext alert.
    pub alert: Option<AlertSeen>,
    /// Data was lost inside the handshake (capture gap or snap length).
    pub gap_in_handshake: bool,
    /// Plaintext mail dialogue, when the connection started with one.
    pub mail: Option<Box<Dialogue>>,
    /// A direction carried more plaintext than is followed, without a hello.
    pub plain_gave_up: bool,
}

impl Facts {
    /// True when nothing more about the handshake is to be learned.
    pub fn complete(&self) -> bool {
        let server_done = match &self.server_hello {
            Some(sh) => {
                sh.sslv2_format
                    || TlsVersion(sh.version()).is_tls13()
                    || !self.cert_names.is_empty()
                    || self.server_flight_done
            }
            None => self.alert.is_some(),
        };
        self.client_hello.is_some() && server_done
    }

    /// Lets go of the hellos once the row is written, while they are still
    /// in the processor's cache (freed when the connection closes, much
    /// later, each is a cache miss); the connection is then only counted.
    pub fn shed(&mut self) {
        self.client_hello = None;
        self.server_hello = None;
    }

    fn on_event(&mut self, side: Side, ev: Event) {
        match ev {
            Event::ClientHello(ch) => {
                if self.client_hello.is_none() {
                    self.client_hello = Some(ch);
                    if self.client_side.is_none() {
                        self.client_side = Some(side);
                    }
                }
            }
            Event::ServerHello(sh) => {
                if sh.is_hrr {
                    self.hello_retry = true;
                } else if self.server_hello.is_none() {
                    self.server_hello = Some(sh);
                    if self.client_side.is_none() {
                        self.client_side = Some(1 - side);
                    }
                }
            }
            Event::Certificate(names) => {
                if self.client_side != Some(side) && self.cert_names.is_empty() {
                    self.cert_names = names;
                }
            }
            Event::ServerHelloDone => self.server_flight_done = true,
            Event::Alert(level, description) => {
                if self.alert.is_none() {
                    self.alert = Some(AlertSeen {
                        side,
                        level,
                        description,
                    });
                }
            }
            Event::Encrypted => {
                if self.server_hello.is_some() && self.client_side != Some(side) {
                    self.server_flight_done = true;
                }
            }
            Event::NotTls => {}
        }
    }
}

impl Engine {
    fn piece(&mut self, side: Side, piece: Piece<'_>, facts: &mut Facts) {
        let mut on = |ev: Event| facts_event(facts, side, ev);
        match piece {
            Piece::Gap => match self.mode {
                Mode::Tls => {
                    // Data lost while the plaintext handshake was in
                    // progress: parse what was cut, and remember the loss.
                    self.tls.flush_truncated(&mut on);
                    facts.gap_in_handshake = true;
                    self.mode = Mode::Off;
                }
                Mode::Detect | Mode::Plain => {
                    self.plain.clear();
                    self.fed = 0;
                    self.mode = Mode::Plain;
                }
                Mode::Off => {}
            },
            Piece::Data(d) => match self.mode {
                Mode::Off => {}
                Mode::Tls => {
                    self.tls.feed(d, &mut on);
                    if self.tls.finished() {
                        self.mode = Mode::Off;
                    }
                }
                Mode::Detect => {
                    if self.plain.is_empty()
                        && matches!(tls::classify_start(d, None), Start::Tls | Start::Sslv2)
                    {
                        // The stream's first bytes begin a record: to the
                        // parser straight from the segment, no copy.
                        self.opening = Some(Opening::Tls);
                        self.mode = Mode::Tls;
                        self.tls.feed(d, &mut on);
                        if self.tls.finished() {
                            self.mode = Mode::Off;
                        }
                        return;
                    }
                    self.plain.extend_from_slice(d);
                    match tls::classify_start(&self.plain, None) {
                        Start::NeedMore => {}
                        Start::Tls | Start::Sslv2 => {
                            let buf = std::mem::take(&mut self.plain);
                            self.opening = Some(Opening::Tls);
                            self.mode = Mode::Tls;
                            self.tls.feed(&buf, &mut on);
                            if self.tls.finished() {
                                self.mode = Mode::Off;
                            }
                        }
                        Start::No => {
                            self.opening = Some(if looks_like_text(&self.plain) {
                                Opening::Text
                            } else {
                                Opening::Other
                            });
                            self.mode = Mode::Plain;
                            self.plain_seen = self.plain.len();
                            self.plain_scan(side, facts);
                        }
                    }
                }
                Mode::Plain => {
                    self.plain.extend_from_slice(d);
                    self.plain_seen += d.len();
                    self.plain_scan(side, facts);
                }
            },
        }
    }

    /// Looks for a hello record in the plaintext; hands the text before it
    /// to the mail dialogue. Only a possible record start cut by the end of
    /// the data is kept for the next segment.
    fn plain_scan(&mut self, side: Side, facts: &mut Facts) {
        let found = tls::find_hello_start(&self.plain);
        let text_end = found.map_or(self.plain.len(), |(at, _)| at);
        if text_end > self.fed {
            let dialogue = facts.mail.get_or_insert_with(Box::default);
            dialogue.text(side, &self.plain[self.fed..text_end]);
        }
        match found {
            Some((at, true)) => {
                self.mode = Mode::Tls;
                let rest = std::mem::take(&mut self.plain);
                self.fed = 0;
                self.tls
                    .feed(&rest[at..], &mut |ev| facts_event(facts, side, ev));
                if self.tls.finished() {
                    self.mode = Mode::Off;
                }
                return;
            }
            Some((at, false)) => {
                self.plain.drain(..at);
                self.fed = 0;
            }
            None => {
                self.plain.clear();
                self.fed = 0;
            }
        }
        if self.plain_seen > PLAIN_LIMIT {
            self.mode = Mode::Off;
            self.plain = Vec::new();
            facts.plain_gave_up = true;
        }
    }
}

fn facts_event(facts: &mut Facts, side: Side, ev: Event) {
    facts.on_event(side, ev);
}

/// State of one TCP connection.
#[derive(Debug)]
pub struct Connection {
    /// Endpoints: index 0 is the flow key's lower endpoint.
    pub endpoints: [(IpAddr, u16); 2],
    /// Time of the first packet (microseconds since the Unix epoch).
    pub first_ts: i64,
    /// Time of the latest packet.
    pub last_ts: i64,
    /// Side that sent a SYN without ACK.
    pub syn_side: Option<Side>,
    /// Sequence number of that SYN (a SYN with another one is a new
    /// connection on the same ports).
    pub syn_isn: Option<u32>,
    /// Packets seen.
    pub packets: u64,
    /// FIN seen per side.
    pub fin: [bool; 2],
    /// RST seen.
    pub rst: bool,
    /// Handshake facts.
    pub facts: Facts,
    /// SYN sequence numbers per side (the last two different ones, older
    /// first), kept until the first payload allocates `dirs`.
    isn: [[Option<u32>; 2]; 2],
    /// Reassembly and parsing state, allocated at the first payload byte.
    dirs: Option<Box<[Dir; 2]>>,
    /// Parsing is over (row reported or nothing to report); later packets
    /// are only counted.
    pub done: bool,
    /// Bytes charged to the run's memory budget for it (see
    /// [`crate::flow::budget`]).
    pub charged: usize,
    /// First seen without its SYN (mid-stream): in a chunk after the first
    /// of a split file, perhaps a connection the chunk before owns (see
    /// `crate::run::chunked`).
    pub midstream: bool,
    /// Opened by a SYN within [`crate::flow::closed::CUT_LAG_US`] of its
    /// table's first frame: in a chunk after the first of a split file,
    /// perhaps a copy of a connection the chunk before followed.
    pub near_cut: bool,
    /// What each side's stream began with, kept when the stream state is
    /// released (see [`Connection::opening`]).
    openings: [Option<Opening>; 2],
}

impl Connection {
    /// A new connection first seen at `ts`.
    pub fn new(endpoints: [(IpAddr, u16); 2], ts: i64) -> Self {
        Connection {
            endpoints,
            first_ts: ts,
            last_ts: ts,
            syn_side: None,
            syn_isn: None,
            packets: 0,
            fin: [false; 2],
            rst: false,
            facts: Facts::default(),
            isn: [[None; 2]; 2],
            dirs: None,
            done: false,
            charged: 0,
            midstream: false,
            near_cut: false,
            openings: [None; 2],
        }
    }

    /// Processes one segment sent by `side`; stream state comes from `pool`.
    pub fn segment(&mut self, side: Side, seg: &Segment<'_>, ts: i64, pool: &mut Pool) {
        self.packets += 1;
        self.last_ts = ts;
        if seg.flags & flags::RST != 0 {
            self.rst = true;
        }
        if seg.flags & flags::FIN != 0 {
            self.fin[side] = true;
        }
        if self.done {
            return;
        }
        if seg.flags & flags::SYN != 0 {
            if seg.flags & flags::ACK == 0 {
                self.syn_side = Some(side);
                self.syn_isn = Some(seg.seq);
            }
            match self.dirs.as_mut() {
                Some(d) => d[side].reasm.syn(seg.seq),
                None => {
                    let seen = &mut self.isn[side];
                    if seen[1] != Some(seg.seq) {
                        *seen = [seen[1], Some(seg.seq)];
                    }
                }
            }
        }
        // The acknowledgement tells the other direction where its data is.
        let acked = (seg.flags & flags::ACK != 0).then_some(seg.ack);
        if no_data(seg) {
            if let (Some(ack), Some(d)) = (acked, self.dirs.as_mut()) {
                d[1 - side].reasm.acked(ack);
            }
            return;
        }
        let isn = self.isn;
        let dirs = self.dirs.get_or_insert_with(|| {
            let mut d = pool.take();
            for (dir, isn) in d.iter_mut().zip(isn) {
                for isn in isn.into_iter().flatten() {
                    dir.reasm.syn(isn);
                }
            }
            d
        });
        if let Some(ack) = acked {
            dirs[1 - side].reasm.acked(ack);
        }
        let Dir { reasm, eng } = &mut dirs[side];
        if eng.mode == Mode::Off {
            return;
        }
        let facts = &mut self.facts;
        // Data on a SYN (TCP Fast Open) starts after the SYN's own number.
        let seq = if seg.flags & flags::SYN != 0 {
            seg.seq.wrapping_add(1)
        } else {
            seg.seq
        };
        reasm.segment(seq, seg.payload, seg.wire_len, &mut |p| {
            eng.piece(side, p, facts)
        });
    }

    /// True when both directions have nothing more to tell.
    pub fn exhausted(&self) -> bool {
        let f = &self.facts;
        match &self.dirs {
            None => self.done,
            // A long plaintext exchange with no hello (HTTP, SSH, a mail
            // session past its dialogue) is not TLS: stop following it.
            Some(_) if f.plain_gave_up && f.client_hello.is_none() && f.server_hello.is_none() => {
                true
            }
            Some(d) => {
                let off = |x: &Dir| x.eng.mode == Mode::Off;
                // Nothing received in this direction yet.
                let silent = |x: &Dir| {
                    x.eng.mode == Mode::Detect
                        && x.eng.plain.is_empty()
                        && x.reasm.pending_bytes() == 0
                };
                // No hello or mail text, and one direction already past
                // any handshake (encrypted records: a connection picked up
                // mid-stream, a bulk transfer) while the other sent
                // nothing: no hello can follow.
                let hopeless = f.client_hello.is_none()
                    && f.server_hello.is_none()
                    && f.mail.is_none()
                    && (off(&d[0]) && silent(&d[1]) || off(&d[1]) && silent(&d[0]));
                off(&d[0]) && off(&d[1]) || hopeless
            }
        }
    }

    /// What `side`'s stream began with, when its beginning was captured
    /// (its SYN seen, no data lost before the first bytes); `None` otherwise
    /// or when it sent nothing.
    pub fn opening(&self, side: Side) -> Option<Opening> {
        match self.dirs.as_ref() {
            Some(d) => {
                let d = d.get(side)?;
                if d.reasm.saw_syn { d.eng.opening } else { None }
            }
            None => *self.openings.get(side)?,
        }
    }

    /// Nothing to report yet: no hello, no recognised mail dialogue.
    pub fn nothing_yet(&self) -> bool {
        let f = &self.facts;
        f.client_hello.is_none()
            && f.server_hello.is_none()
            && f.mail.as_ref().is_none_or(|m| m.protocol.is_none())
    }

    /// Bytes buffered for this connection.
    pub fn buffered(&self) -> usize {
        self.dirs.as_ref().map_or(0, |d| {
            d.iter()
                .map(|x| x.reasm.pending_bytes() + x.eng.tls.buffered() + x.eng.plain.len())
                .sum()
        })
    }

    /// Memory its buffers and parsing state hold (for the memory budget).
    pub fn memory(&self) -> usize {
        let dirs = self.dirs.as_ref().map_or(0, |d| {
            std::mem::size_of::<[Dir; 2]>()
                + d.iter()
                    .map(|x| x.reasm.memory() + x.eng.tls.capacity() + x.eng.plain.capacity())
                    .sum::<usize>()
        });
        dirs + self.facts.mail.as_ref().map_or(0, |m| m.memory())
    }

    /// End of the connection (close, eviction or end of input): skips any
    /// holes and parses cut hellos so the facts before a cut are kept.
    pub fn flush(&mut self) {
        let Some(dirs) = self.dirs.as_mut() else {
            return;
        };
        for (side, Dir { reasm, eng }) in dirs.iter_mut().enumerate() {
            let facts = &mut self.facts;
            while reasm.skip_hole(&mut |p| eng.piece(side, p, facts)) {}
            if eng.mode == Mode::Tls {
                // End of the stream, not a loss: a hello cut here is
                // flagged truncated by the parser itself.
                eng.tls.flush_truncated(&mut |e| facts.on_event(side, e));
                eng.mode = Mode::Off;
            }
            if (eng.mode == Mode::Plain || eng.mode == Mode::Detect)
                && let Some(m) = facts.mail.as_mut()
            {
                m.end(side);
            }
        }
    }

    /// Frees the reassembly and parsing state (back to `pool`); later
    /// packets are counted only.
    pub fn release(&mut self, pool: &mut Pool) {
        if self.dirs.is_some() {
            self.openings = [self.opening(0), self.opening(1)];
        }
        if let Some(d) = self.dirs.take() {
            pool.give(d);
        }
        self.done = true;
    }

    /// Client and server endpoints: the ClientHello sender is the client,
    /// else the ServerHello receiver, else the SYN sender, else side 0.
    pub fn client_side(&self) -> Side {
        self.facts
            .client_side
            .or(self.syn_side)
            .or_else(|| self.facts.mail.as_ref().and_then(|m| m.client_side()))
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::key::FlowKey;
    use crate::testing::frames;
    use crate::wire::decode::decode;
    use crate::wire::mail::{MailProtocol, StartTls};

    /// One connection fed every TCP segment of a sample (the samples hold
    /// one connection each), as the flow table would; returns it and how
    /// many segments made it exhausted or complete first.
    fn connection(sample: &str, upto: Option<usize>) -> Connection {
        let fr = frames(sample);
        let mut pool = Pool::default();
        let mut conn: Option<Connection> = None;
        for f in fr.iter().take(upto.unwrap_or(usize::MAX)) {
            let Ok(seg) = decode(f.link, &f.data) else {
                continue;
            };
            let (key, side) = FlowKey::of(&seg);
            let c = conn.get_or_insert_with(|| Connection::new(key.endpoints(), f.ts_us));
            c.segment(side, &seg, f.ts_us, &mut pool);
        }
        conn.expect("a TCP segment")
    }

    #[test]
    fn tls13_handshake_facts() {
        let c = connection("openssl-tls13.pcap", None);
        let f = &c.facts;
        let ch = f.client_hello.as_ref().expect("ClientHello");
        assert_eq!(ch.sni.as_deref(), Some("tls13.example.test"));
        assert!(ch.supported_versions.contains(&0x0304));
        assert!(!ch.truncated);
        assert_eq!(f.server_hello.as_ref().map(|s| s.version()), Some(0x0304));
        // TLS 1.3: nothing after the ServerHello is readable, the facts
        // are complete without a certificate.
        assert!(f.complete());
        assert!(f.cert_names.is_empty());
        // The SYN sender is the client, and sent the ClientHello.
        assert_eq!(f.client_side, c.syn_side);
        assert_eq!(c.endpoints[c.client_side()].1, 52974);
        assert!(!c.midstream);
    }

    #[test]
    fn tls12_certificate_names_and_server_flight() {
        let c = connection("openssl-tls12.pcap", None);
        let f = &c.facts;
        assert_eq!(f.server_hello.as_ref().map(|s| s.version()), Some(0x0303));
        assert!(!f.cert_names.is_empty(), "TLS 1.2 certificate in clear");
        assert!(f.complete());
        assert!(c.fin[0] || c.fin[1]);
    }

    #[test]
    fn hello_cut_by_the_end_keeps_its_facts() {
        // Up to the second of the segments a ClientHello is split over (3
        // and 87 bytes); the end of input flushes it as truncated.
        let all = frames("split-segments.pcap");
        let data: Vec<usize> = all
            .iter()
            .enumerate()
            .filter(|(_, f)| decode(f.link, &f.data).is_ok_and(|s| !s.payload.is_empty()))
            .map(|(i, _)| i)
            .collect();
        let first_data = data[1];
        let mut c = connection("split-segments.pcap", Some(first_data + 1));
        assert!(c.facts.client_hello.is_none());
        c.flush();
        let ch = c.facts.client_hello.as_ref().expect("cut ClientHello");
        assert!(ch.truncated);
        let whole = connection("split-segments.pcap", None);
        let wch = whole.facts.client_hello.as_ref().expect("ClientHello");
        assert!(!wch.truncated);
        assert_eq!(wch.sni.as_deref(), Some("split-segments.example.test"));
    }

    #[test]
    fn reordered_segments_are_reassembled() {
        let c = connection("split-segments-reordered.pcap", None);
        let ch = c.facts.client_hello.as_ref().expect("ClientHello");
        assert!(!ch.truncated);
        assert!(!c.facts.gap_in_handshake);
        assert_eq!(ch.sni.as_deref(), Some("split-segments.example.test"));
    }

    #[test]
    fn smtp_starttls_dialogue_then_tls() {
        let c = connection("smtp-starttls-tls12-2525.pcap", None);
        let f = &c.facts;
        let mail = f.mail.as_ref().expect("mail dialogue");
        assert_eq!(mail.protocol, Some(MailProtocol::Smtp));
        assert_eq!(mail.starttls, StartTls::Accepted);
        assert!(mail.client_helo.is_some());
        assert_eq!(
            f.client_hello.as_ref().and_then(|h| h.sni.as_deref()),
            Some("smtp.example.test")
        );
        assert!(f.complete());
    }

    #[test]
    fn plaintext_mail_is_nothing_yet_as_tls_but_a_dialogue() {
        let c = connection("smtp-plaintext-25.pcap", None);
        assert!(c.facts.client_hello.is_none());
        assert!(!c.nothing_yet());
        let mail = c.facts.mail.as_ref().expect("mail dialogue");
        assert_eq!(mail.starttls, StartTls::NotRequested);
        assert!(mail.transaction);
    }

    #[test]
    fn release_frees_the_stream_state() {
        let mut c = connection("openssl-tls12.pcap", None);
        let mut pool = Pool::default();
        c.release(&mut pool);
        assert!(c.done);
        assert_eq!(c.buffered(), 0);
        assert_eq!(pool.free.len(), 1);
    }

    use std::net::Ipv4Addr;

    fn seg(from_client: bool, seq: u32, ack: u32, fl: u8, payload: &[u8]) -> Segment<'_> {
        let (c, s) = (
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        );
        let (src, dst, sport, dport) = if from_client {
            (c, s, 40000, 443)
        } else {
            (s, c, 443, 40000)
        };
        Segment {
            src,
            dst,
            sport,
            dport,
            seq,
            ack,
            flags: fl,
            payload,
            wire_len: payload.len() as u32,
        }
    }

    /// Two SYN-ACKs with different numbers before any payload: both are
    /// kept until the first payload, and the client's acknowledgement on it
    /// settles the server's start (here the earlier SYN-ACK's).
    #[test]
    fn client_ack_settles_which_syn_ack_the_server_follows() {
        let eps = [
            (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 40000),
            (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 443),
        ];
        let mut pool = Pool::default();
        for (acked, start) in [(5001, 5001), (900_001, 900_001)] {
            let mut c = Connection::new(eps, 0);
            c.segment(0, &seg(true, 100, 0, flags::SYN, b""), 0, &mut pool);
            c.segment(
                1,
                &seg(false, 5000, 101, flags::SYN | flags::ACK, b""),
                0,
                &mut pool,
            );
            c.segment(
                1,
                &seg(false, 900_000, 101, flags::SYN | flags::ACK, b""),
                0,
                &mut pool,
            );
            c.segment(0, &seg(true, 101, acked, flags::ACK, b"\x16"), 0, &mut pool);
            let dirs = c.dirs.as_ref().unwrap();
            assert_eq!(dirs[1].reasm.next_seq(), Some(start), "acked {acked}");
        }
    }
}
