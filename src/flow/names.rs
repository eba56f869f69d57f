//! The frames that name hosts, kept by the flow table as they pass (UDP
//! datagrams of the name protocols, TCP segments on the Kerberos, DNS and
//! HTTP ports, the source MAC of each connection's SYN), in capture order.
//! A run replays them into one host identity once the input is read, so
//! a name learned anywhere in the capture applies, at its time, to every
//! connection, whichever thread read it.

use std::net::IpAddr;

use crate::wire::decode::LinkType;
use crate::wire::names::Mac;
use crate::wire::names::frame::{Proto, transport};

/// Bytes of frames kept at most (the frames after are counted, not kept).
pub const MAX_BYTES: usize = 64 << 20;

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
    sport == 88 || dport == 88 || sport == 53 || dport == 80 || dport == 8080
}

/// Whether a frame that is not TCP carries name traffic.
pub fn frame_names(link: LinkType, frame: &[u8]) -> bool {
    transport(link, frame).is_some_and(|t| t.proto == Proto::Udp && udp_names(t.sport, t.dport))
}

/// What a table kept, in the order frames came.
#[derive(Debug, Default)]
pub struct NameLog {
    entries: Vec<Logged>,
    bytes: usize,
    /// Frames not kept (over [`MAX_BYTES`]).
    pub dropped: u64,
}

impl NameLog {
    /// Keeps a frame known to carry name traffic.
    pub fn frame(&mut self, link: LinkType, ts: i64, frame: &[u8]) {
        if self.bytes + frame.len() > MAX_BYTES {
            self.dropped += 1;
            return;
        }
        self.bytes += frame.len();
        self.entries.push(Logged::Frame {
            ts,
            link,
            data: frame.into(),
        });
    }

    /// A frame that is not TCP: kept when it carries name traffic.
    pub fn not_tcp(&mut self, link: LinkType, ts: i64, frame: &[u8]) {
        if frame_names(link, frame) {
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
        if let Some(t) = transport(link, frame)
            && t.src == addr
            && matches!(t.proto, Proto::Tcp { syn: true, .. })
            && let Some(mac) = t.src_mac
        {
            self.entries.push(Logged::Mac { ts, mac, addr });
        }
    }

    /// Appends `later` (the log of the next chunk of the input).
    pub fn append(&mut self, mut later: NameLog) {
        self.bytes += later.bytes;
        self.dropped += later.dropped;
        self.entries.append(&mut later.entries);
    }

    /// What was kept, in order.
    pub fn entries(&self) -> &[Logged] {
        &self.entries
    }

    /// Nothing kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
