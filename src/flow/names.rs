//! The frames that name hosts, kept by the flow table as they pass (UDP
//! datagrams of the name protocols, TCP segments on the Kerberos, DNS and
//! HTTP ports, the source MAC of each connection's SYN), in capture order.
//! A run replays them into one host identity, each chunk's as it is
//! joined (in capture order), and names the rows once the input is read,
//! so a name learned anywhere in the capture applies, at its time, to
//! every connection, whichever thread read it.

use std::net::IpAddr;

use super::key::direction_hash;
use crate::wire::decode::LinkType;
use crate::wire::names::Mac;
use crate::wire::names::frame::{Transport, transport_if};

/// Bytes kept at most, frames and SYN sources with their entries (what
/// comes after is counted, not kept).
pub const MAX_BYTES: usize = 64 << 20;

/// Distinct IPv4 addresses a MAC sources over a capture that make it a
/// router (the host identity's rule, see `enrich::identity::macs`).
pub const MAX_V4: usize = 16;
/// Distinct IPv6 addresses that make a router.
pub const MAX_V6: usize = 32;

/// What one entry costs besides a frame's bytes.
const ENTRY: usize = std::mem::size_of::<Logged>();

/// One thing kept.
#[derive(Debug, Clone)]
pub enum Logged {
    /// A frame carrying name traffic.
    Frame {
        /// Capture time (µs).
        ts: i64,
        /// Its link type.
        link: LinkType,
        /// Its bytes.
        data: Box<[u8]>,
    },
    /// A SYN opened an HTTP request direction: the names pass starts its
    /// stream there, as from the SYN's frame (which is not kept: only the
    /// request's first segment is read).
    Syn {
        /// Capture time (µs).
        ts: i64,
        /// The direction: source, source port, destination, port.
        dir: (IpAddr, u16, IpAddr, u16),
        /// The SYN's sequence number.
        seq: u32,
    },
    /// A TCP client's SYN came from this MAC.
    Mac {
        /// Capture time (µs).
        ts: i64,
        /// The Ethernet source.
        mac: Mac,
        /// The client address.
        addr: IpAddr,
    },
}

/// UDP ports whose datagrams name hosts: DHCP, DHCPv6, DNS answers, mDNS,
/// LLMNR answers, NetBIOS name service, Kerberos.
#[inline]
pub fn udp_names(sport: u16, dport: u16) -> bool {
    matches!((sport, dport), (67 | 68, 67 | 68) | (546 | 547, 546 | 547))
        || matches!(sport, 53 | 5353 | 5355 | 137 | 88)
        || matches!(dport, 5353 | 137 | 88)
}

/// TCP ports whose streams name hosts (or hint at their OS): Kerberos,
/// DNS answers, HTTP requests.
#[inline]
pub fn tcp_names(sport: u16, dport: u16) -> bool {
    low_ports(sport, dport)
        && (sport == 88 || dport == 88 || sport == 53 || dport == 80 || dport == 8080)
}

/// Whether a TCP segment may be name traffic at all ([`tcp_names`], or a
/// SYN, whose MAC is kept): one test for most segments, which have
/// neither port this low (nor 8080) and no SYN.
#[inline(always)]
pub fn may_name(syn: bool, sport: u16, dport: u16) -> bool {
    syn || low_ports(sport, dport)
}

#[inline(always)]
fn low_ports(sport: u16, dport: u16) -> bool {
    sport.min(dport) <= 88 || dport == 8080
}

/// Whether a datagram (`udp`, else TCP) with these ports is read for
/// names: a DNS answer (which may name a server: the flow table hands
/// those on at once) or [`udp_names`].
#[inline(always)]
pub fn udp_wanted(udp: bool, sport: u16, dport: u16) -> bool {
    udp && (sport == 53 || udp_names(sport, dport))
}

/// Whether a frame that is not TCP carries name traffic or a DNS answer.
pub fn frame_names(link: LinkType, frame: &[u8]) -> bool {
    transport_if(link, frame, udp_wanted).is_some()
}

/// Whether a UDP datagram names hosts: unicast DNS answers only when they
/// answer a PTR (or ANY) question (the A/AAAA answers of every lookup, a
/// fifth of the flows of a busy network, name servers, not clients).
fn logged(t: &Transport<'_>) -> bool {
    udp_names(t.sport, t.dport) && (t.sport != 53 || names_hosts(t.payload))
}

/// A DNS message whose first question asks for a PTR (12) or ANY (255)
/// record (the question name is read label by label, uncompressed as
/// questions are).
fn names_hosts(msg: &[u8]) -> bool {
    if msg.get(4..6).is_none_or(|q| q == [0, 0]) {
        return false;
    }
    let mut at = 12;
    while let Some(&len) = msg.get(at) {
        if len == 0 {
            return matches!(msg.get(at + 1..at + 3), Some([0, 12] | [0, 255]));
        }
        if len & 0xc0 != 0 {
            return false;
        }
        at += 1 + usize::from(len);
    }
    false
}

/// The Ethernet source MAC of `frame` when its own IP header (after at
/// most one VLAN tag) has source `addr`: the frame of a client's SYN, not
/// a tunnel end's (read by offsets: it runs on every SYN).
fn own_source_mac(frame: &[u8], addr: IpAddr) -> Option<Mac> {
    let be16 = |at: usize| Some(u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]));
    let (et, ip) = match be16(12)? {
        0x8100 | 0x88a8 => (be16(16)?, 18),
        et => (et, 14),
    };
    let same = match (et, addr) {
        (0x0800, IpAddr::V4(a)) => frame.get(ip + 12..ip + 16)? == a.octets(),
        (0x86dd, IpAddr::V6(a)) => frame.get(ip + 8..ip + 24)? == a.octets(),
        _ => false,
    };
    same.then(|| Mac::try_from(frame.get(6..12)?).ok())
        .flatten()
}

/// What a table kept, in the order frames came.
#[derive(Debug, Default)]
pub struct NameLog {
    entries: Vec<Logged>,
    bytes: usize,
    /// Frames not kept (over [`MAX_BYTES`]).
    pub dropped: u64,
    /// What is kept of each TCP direction (the start of a stream is what
    /// names: a Kerberos record, an HTTP request's headers).
    streams: Streams,
    /// The source of the latest SYNs.
    last_mac: LastMac,
}

/// The MAC of the latest SYNs and the client addresses it sourced. Once
/// it sourced more than the router rule's counts ([`MAX_V4`], [`MAX_V6`]),
/// the host table has taken it for a router by the time this log is
/// learned and learns nothing more from it: its later SYNs are not kept
/// (behind a router, nearly every SYN is its).
#[derive(Debug, Default)]
struct LastMac {
    mac: Option<Mac>,
    addrs: Vec<IpAddr>,
    router: bool,
}

impl LastMac {
    /// A SYN from `mac` and `addr`: true when it teaches nothing.
    fn router(&mut self, mac: Mac, addr: IpAddr) -> bool {
        if self.mac != Some(mac) {
            self.mac = Some(mac);
            self.addrs.clear();
            self.router = false;
        }
        if !self.router && !self.addrs.contains(&addr) {
            self.addrs.push(addr);
            let v4 = self.addrs.iter().filter(|a| a.is_ipv4()).count();
            // This SYN is kept: it is the one that makes the router.
            self.router = v4 > MAX_V4 || self.addrs.len() - v4 > MAX_V6;
            return false;
        }
        self.router
    }
}

/// What a TCP direction's log holds so far.
#[derive(Debug, Default, Clone, Copy)]
struct Kept {
    /// Payload bytes kept (at most a little over the stream's cap).
    bytes: u32,
    /// The sequence number of the stream's first payload byte (after a
    /// SYN), when known.
    start: Option<u32>,
}

/// Places of [`Streams`] (a power of two; 32 bytes each).
const STREAM_PLACES: usize = 8192;

/// Places of a set of [`Streams`] (two cache lines).
const STREAM_WAYS: usize = 4;

/// A place of [`Streams`] unused this long (capture time, µs) is free.
const STREAM_IDLE_US: i64 = 60_000_000;

/// What is kept of TCP directions, in sets of [`STREAM_WAYS`] places by
/// the direction's hash ([`direction_hash`]): one set a segment, asked for
/// ahead ([`NameLog::prefetch`]; a hash map of whole addresses missed the
/// cache at every segment, and a map of hashes twice). A new direction
/// takes a free place of its set (empty, or unused for
/// [`STREAM_IDLE_US`]); when none is free, a SYN takes the place used
/// least lately, and a direction seen without its SYN is not kept. So a
/// direction that lost its place is not kept again from there, and
/// directions sharing a set cannot take places from each other at every
/// segment: what is kept stays within a cap a stream start. (The hash has
/// no secret key: directions can be made to share a set; a stream's start
/// may be lost, nothing more.)
#[derive(Debug, Default)]
struct Streams {
    sets: Box<[StreamSet]>,
}

/// One set of [`Streams`].
#[derive(Debug, Default, Clone, Copy)]
#[repr(align(64))]
struct StreamSet([Place; STREAM_WAYS]);

/// One direction in [`Streams`].
#[derive(Debug, Default, Clone, Copy)]
struct Place {
    /// Its hash (0: none).
    dir: u64,
    /// When it was last seen.
    ts: i64,
    kept: Kept,
}

fn set_of(dir: u64) -> usize {
    (dir >> 40) as usize & (STREAM_PLACES / STREAM_WAYS - 1)
}

impl Streams {
    /// What is kept of direction `dir` at `ts` (empty when it is new
    /// here; `syn`: a SYN starts it anew); `None` when another direction
    /// holds its place.
    fn get(&mut self, dir: u64, ts: i64, syn: bool) -> Option<&mut Kept> {
        if self.sets.is_empty() {
            self.sets = vec![StreamSet::default(); STREAM_PLACES / STREAM_WAYS].into_boxed_slice();
        }
        let set = &mut self.sets[set_of(dir)].0;
        let free = |p: &Place| p.dir == 0 || ts.abs_diff(p.ts) > STREAM_IDLE_US.unsigned_abs();
        let i = match set.iter().position(|p| p.dir == dir) {
            Some(i) => i,
            None => {
                let i = match set.iter().position(free) {
                    Some(i) => i,
                    None if syn => (0..STREAM_WAYS).min_by_key(|&i| set[i].ts).unwrap_or(0),
                    None => return None,
                };
                set[i] = Place {
                    dir,
                    ts,
                    kept: Kept::default(),
                };
                i
            }
        };
        let place = &mut set[i];
        place.ts = ts;
        Some(&mut place.kept)
    }
}

/// A TCP direction to an HTTP port (requests).
fn is_http(dport: u16) -> bool {
    dport == 80 || dport == 8080
}

/// Bytes of a TCP direction kept: a Kerberos or DNS message (at most
/// 64 KiB as read), the headers of an HTTP request.
fn stream_cap(dport: u16) -> u32 {
    if is_http(dport) { 4096 } else { 65_536 }
}

impl NameLog {
    /// Keeps a frame known to carry name traffic.
    pub fn frame(&mut self, link: LinkType, ts: i64, frame: &[u8]) {
        if self.room(frame.len()) {
            self.entries.push(Logged::Frame {
                ts,
                link,
                data: frame.into(),
            });
        }
    }

    /// Whether one more entry holding `extra` bytes fits in [`MAX_BYTES`]:
    /// counted in the bytes kept if so, in those dropped if not.
    fn room(&mut self, extra: usize) -> bool {
        if self.bytes + ENTRY + extra > MAX_BYTES {
            self.dropped += 1;
            return false;
        }
        self.bytes += ENTRY + extra;
        true
    }

    /// Asks for the memory of what is kept of `seg`'s direction when it is
    /// on a name port, ahead of [`NameLog::tcp`]: its miss in the cache
    /// then overlaps the flow table's work on the segment.
    #[inline]
    pub fn prefetch(&self, seg: &crate::wire::decode::Segment<'_>) {
        if tcp_names(seg.sport, seg.dport)
            && let Some(set) = self.streams.sets.get(set_of(direction_hash(
                seg.src, seg.sport, seg.dst, seg.dport,
            )))
        {
            // (A set is two cache lines.)
            let p: *const StreamSet = set;
            crate::cache::prefetch(p);
            crate::cache::prefetch(p.cast::<u8>().wrapping_add(64));
        }
    }

    /// A TCP segment on a name port ([`tcp_names`]): the SYN, and the
    /// first bytes of each direction.
    pub fn tcp(
        &mut self,
        link: LinkType,
        ts: i64,
        frame: &[u8],
        seg: &crate::wire::decode::Segment<'_>,
    ) {
        let syn = seg.flags & crate::wire::decode::flags::SYN != 0;
        if !syn && seg.payload.is_empty() {
            return;
        }
        let dir = direction_hash(seg.src, seg.sport, seg.dst, seg.dport);
        let Some(kept) = self.streams.get(dir, ts, syn) else {
            return;
        };
        let cap = stream_cap(seg.dport);
        if syn {
            *kept = Kept {
                bytes: 0,
                start: Some(seg.seq.wrapping_add(1)),
            };
            // Of an HTTP request direction's SYN, its ports and sequence
            // number (the names pass starts the stream there, see
            // `Logged::Syn`) and its source MAC, as of any SYN: not its
            // frame, which teaches nothing more.
            if is_http(seg.dport) && seg.payload.is_empty() {
                self.syn(link, ts, frame, seg.src);
                if self.room(0) {
                    self.entries.push(Logged::Syn {
                        ts,
                        dir: (seg.src, seg.sport, seg.dst, seg.dport),
                        seq: seg.seq,
                    });
                }
                return;
            }
        } else if kept.bytes >= cap {
            return;
        }
        kept.bytes = kept
            .bytes
            .saturating_add(u32::try_from(seg.payload.len()).unwrap_or(u32::MAX));
        // An HTTP request is read from the first segment after the SYN
        // (see `run::names::Follower`): the rest is not kept. (Without the
        // SYN, in an earlier chunk, the cap applies.)
        if is_http(seg.dport) && !seg.payload.is_empty() && kept.start == Some(seg.seq) {
            kept.bytes = cap;
        }
        self.frame(link, ts, frame);
    }

    /// A UDP frame (`t` its transport): kept when it names hosts.
    pub fn udp(&mut self, link: LinkType, ts: i64, frame: &[u8], t: &Transport<'_>) {
        if logged(t) {
            self.frame(link, ts, frame);
        }
    }

    /// A client's SYN: the source MAC of its Ethernet frame, when the
    /// frame's own IP header is the connection's (not a tunnel's: the
    /// outer MAC is then the tunnel end's).
    pub fn syn(&mut self, link: LinkType, ts: i64, frame: &[u8], addr: IpAddr) {
        if link != LinkType::Ethernet {
            return;
        }
        if let Some(mac) = own_source_mac(frame, addr)
            && !self.last_mac.router(mac, addr)
            && self.room(0)
        {
            self.entries.push(Logged::Mac { ts, mac, addr });
        }
    }

    /// What was kept since the last drain, and the count of what was not:
    /// handed on as it comes (live capture), while the starts of the TCP
    /// directions stay counted here.
    pub fn drain(&mut self) -> NameLog {
        NameLog {
            entries: std::mem::take(&mut self.entries),
            bytes: std::mem::take(&mut self.bytes),
            dropped: std::mem::take(&mut self.dropped),
            streams: Default::default(),
            last_mac: Default::default(),
        }
    }

    /// What was kept, in order.
    pub fn entries(&self) -> &[Logged] {
        &self.entries
    }

    /// Bytes kept (of [`MAX_BYTES`]; hand the log on with
    /// [`NameLog::drain`] well before).
    #[inline]
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Nothing kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A SYN's MAC is taken when the frame's own IP header is the
    /// client's (plain and VLAN-tagged Ethernet), never a tunnel end's.
    #[test]
    fn syn_mac_from_the_clients_own_frame() {
        let mac = [0x90, 0xb1, 0x1c, 0x20, 0x03, 0x41];
        let frame = |vlan: bool, src: [u8; 4]| {
            let mut f = vec![0xff; 6];
            f.extend_from_slice(&mac);
            if vlan {
                f.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
            }
            f.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0]);
            f.extend_from_slice(&src);
            f.extend_from_slice(&[52, 96, 0, 1]);
            f
        };
        let client: IpAddr = "10.0.0.7".parse().unwrap();
        assert_eq!(
            own_source_mac(&frame(false, [10, 0, 0, 7]), client),
            Some(mac)
        );
        assert_eq!(
            own_source_mac(&frame(true, [10, 0, 0, 7]), client),
            Some(mac)
        );
        // The outer header of a tunnel: another address.
        assert_eq!(own_source_mac(&frame(false, [192, 0, 2, 1]), client), None);
        assert_eq!(
            own_source_mac(&frame(false, [10, 0, 0, 7])[..20], client),
            None
        );
    }

    /// A direction keeps its place; a new direction takes a free place of
    /// its set, or with a SYN the place used least lately, never a held
    /// one mid-stream; a place idle long enough is free; other sets are
    /// untouched.
    #[test]
    fn stream_places_are_taken_by_a_syn_or_when_idle() {
        let mut s = Streams::default();
        // Five directions of one set (low bits differ, set bits equal).
        let dirs: Vec<u64> = (1..=5).map(|k| 0x0000_0100_0000_0000u64 | k).collect();
        let other_set = dirs[0] ^ (1 << 40);
        for (i, d) in dirs.iter().take(4).enumerate() {
            s.get(*d, i as i64, false).unwrap().bytes = 10 + i as u32;
        }
        s.get(other_set, 0, false).unwrap().bytes = 7;
        assert!(
            s.get(dirs[4], 10, false).is_none(),
            "a full set: not taken mid-stream"
        );
        assert_eq!(s.get(dirs[0], 11, false).unwrap().bytes, 10, "its own");
        // A SYN takes the place used least lately: the second's (at 1).
        s.get(dirs[4], 12, true).unwrap().start = Some(5);
        assert_eq!(s.get(dirs[4], 13, false).unwrap().start, Some(5));
        assert!(
            s.get(dirs[1], 14, false).is_none(),
            "lost, and not taken back"
        );
        assert_eq!(s.get(dirs[2], 15, false).unwrap().bytes, 12);
        let idle = 15 + STREAM_IDLE_US + 1;
        let back = *s.get(dirs[1], idle, false).unwrap();
        assert_eq!(
            (back.bytes, back.start),
            (0, None),
            "an idle place: new again"
        );
        assert_eq!(s.get(other_set, idle, false).unwrap().bytes, 7);
        assert_eq!(s.sets.len() * STREAM_WAYS, STREAM_PLACES);
    }

    /// Six uploads seen mid-stream whose directions share a set, their
    /// segments alternating: what the log keeps stays within a cap for
    /// each of the four that hold the set's places, however long they go
    /// on.
    #[test]
    fn directions_sharing_a_set_keep_within_their_caps() {
        use crate::wire::decode::{Segment, flags};
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let server = ip("10.0.0.9");
        let set = |src, sport| set_of(direction_hash(src, sport, server, 8080));
        let a = ip("10.0.0.1");
        let b = ip("10.0.0.2");
        let mut dirs = vec![(a, 50_000)];
        dirs.extend(
            (1..=u16::MAX)
                .filter(|&p| set(b, p) == set(a, 50_000))
                .take(5)
                .map(|p| (b, p)),
        );
        assert_eq!(dirs.len(), 6);
        let payload = vec![b'x'; 1400];
        let mut log = NameLog::default();
        for i in 0..1000u32 {
            for &(src, sport) in &dirs {
                let seg = Segment {
                    src,
                    dst: server,
                    sport,
                    dport: 8080,
                    seq: 1 + i * 1400,
                    ack: 1,
                    flags: flags::ACK,
                    payload: &payload,
                    wire_len: 1400,
                };
                log.tcp(LinkType::Raw, i64::from(i) * 1000, &payload, &seg);
            }
        }
        // 4,096 bytes of each: three segments of 1,400.
        assert_eq!(log.entries().len(), 4 * 3);
    }

    /// Of an HTTP request direction the log keeps the first segment after
    /// the SYN (all the follower reads) and, of the SYN, its source MAC and
    /// where its stream starts: on the real frames of
    /// samples/identity/lan.pcap, with a second request added after the
    /// first (its sequence number moved on).
    #[test]
    fn http_keeps_the_first_request_segment() {
        use crate::wire::decode::{decode, flags};
        let frames = crate::testing::frames("identity/lan.pcap");
        let http: Vec<_> = frames
            .iter()
            .filter(|f| decode(f.link, &f.data).is_ok_and(|s| s.dport == 80))
            .collect();
        let first = http
            .iter()
            .find(|f| decode(f.link, &f.data).is_ok_and(|s| !s.payload.is_empty()))
            .expect("an HTTP request in the sample");
        let seg = decode(first.link, &first.data).unwrap();
        assert!(seg.payload.starts_with(b"GET "));
        // The same request again, after the first (TCP sequence number at
        // offset 14 + 20 + 4, IPv4 without options).
        let mut again = first.data.clone();
        let next = seg.seq.wrapping_add(seg.payload.len() as u32);
        again[38..42].copy_from_slice(&next.to_be_bytes());
        assert_eq!(decode(first.link, &again).unwrap().seq, next);
        let mut log = NameLog::default();
        let mut syns = 0;
        for f in &http {
            let s = decode(f.link, &f.data).unwrap();
            syns += usize::from(s.flags & flags::SYN != 0);
            log.tcp(f.link, f.ts_us, &f.data, &s);
        }
        let kept = log.entries().len();
        let s = decode(first.link, &again).unwrap();
        log.tcp(first.link, first.ts_us, &again, &s);
        assert!(syns >= 1);
        let frames: Vec<_> = log
            .entries()
            .iter()
            .filter_map(|e| match e {
                Logged::Frame { data, .. } => Some(data),
                Logged::Mac { .. } | Logged::Syn { .. } => None,
            })
            .collect();
        assert_eq!(frames, [&first.data[..].into()], "the request alone");
        let client = seg.src;
        assert_eq!(
            log.entries()
                .iter()
                .filter(|e| matches!(e, Logged::Mac { addr, .. } if *addr == client))
                .count(),
            syns,
            "of each SYN, the client's MAC"
        );
        assert_eq!(
            log.entries()
                .iter()
                .filter(|e| matches!(e, Logged::Syn { dir, .. } if dir.0 == client && dir.3 == 80))
                .count(),
            syns,
            "of each SYN, where its stream starts"
        );
        assert_eq!(log.entries().len(), kept, "the second request is not kept");
        // Another direction to port 8080 without its SYN in this log: its
        // segments are kept up to the cap.
        let mut log = NameLog::default();
        let mut moved = first.data.clone();
        moved[36..38].copy_from_slice(&8080u16.to_be_bytes());
        let s = decode(first.link, &moved).unwrap();
        log.tcp(first.link, first.ts_us, &moved, &s);
        let mut moved2 = again.clone();
        moved2[36..38].copy_from_slice(&8080u16.to_be_bytes());
        let s = decode(first.link, &moved2).unwrap();
        log.tcp(first.link, first.ts_us, &moved2, &s);
        assert_eq!(log.entries().len(), 2);
    }

    /// Behind a router the log stops keeping its SYNs once they make it
    /// one; learned, the log gives the table what every SYN would have.
    #[test]
    fn a_routers_later_syns_are_not_kept() {
        use crate::enrich::identity::macs::{Limits, MacTable};
        let syn = |mac: [u8; 6], src: [u8; 4]| {
            let mut f = vec![0xff; 6];
            f.extend_from_slice(&mac);
            f.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0]);
            f.extend_from_slice(&src);
            f.extend_from_slice(&[52, 96, 0, 1]);
            f
        };
        let gw = [0x00, 0x0c, 0x29, 0x40, 0x0e, 0xef];
        let host = [0x90, 0xb1, 0x1c, 0x20, 0x03, 0x41];
        // A host, then 40 clients behind the router (one of them twice),
        // the host again.
        let mut syns = vec![(host, [192, 168, 1, 7])];
        syns.extend((0..40).map(|i| (gw, [10, 0, i / 8, i])));
        syns.push((gw, [10, 0, 0, 3]));
        syns.push((host, [192, 168, 1, 7]));
        let mut log = NameLog::default();
        let mut every = MacTable::new(Limits::default());
        for (i, (mac, src)) in syns.iter().enumerate() {
            let ts = i as i64 * 1_000;
            let addr = IpAddr::from(*src);
            log.syn(LinkType::Ethernet, ts, &syn(*mac, *src), addr);
            every.observe(ts, *mac, addr);
        }
        // The host's two, and the router's up to the one that made it one.
        assert_eq!(log.entries().len(), 2 + MAX_V4 + 1);
        let mut learned = MacTable::new(Limits::default());
        for e in log.entries() {
            if let Logged::Mac { ts, mac, addr } = e {
                learned.observe(*ts, *mac, *addr);
            }
        }
        assert_eq!(learned.routers(), every.routers());
        assert_eq!(learned.routers().len(), 1);
        for (_, src) in &syns {
            let addr = IpAddr::from(*src);
            assert_eq!(learned.mac_for(addr, 0), every.mac_for(addr, 0));
        }
        assert_eq!(
            learned.mac_for("192.168.1.7".parse().unwrap(), 0),
            Some(host)
        );
    }
}
