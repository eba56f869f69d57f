//! A frame down to its UDP datagram or TCP segment, for the name parsers:
//! Ethernet (VLAN tags included), raw IP and Linux cooked capture, read by
//! `etherparse`. Other link types, IP fragments and tunnels name nothing
//! here (the TLS path follows those; name traffic is local and plain).

use std::net::IpAddr;

use etherparse::{LaxNetSlice, LaxSlicedPacket, LinkSlice, TransportSlice};

use super::Mac;
use crate::wire::decode::LinkType;

/// The transport of one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// UDP.
    Udp,
    /// TCP, with its sequence number and flags.
    Tcp {
        /// Sequence number.
        seq: u32,
        /// SYN set.
        syn: bool,
    },
}

/// One UDP datagram or TCP segment and where it came from.
#[derive(Debug, Clone, Copy)]
pub struct Transport<'a> {
    /// Ethernet source MAC, when the link has one.
    pub src_mac: Option<Mac>,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// UDP or TCP.
    pub proto: Proto,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Payload bytes captured.
    pub payload: &'a [u8],
}

/// Decodes `frame` of `link` type down to UDP or TCP; `None` for anything
/// else (or a link type read only by the TLS path).
#[inline]
pub fn transport(link: LinkType, frame: &[u8]) -> Option<Transport<'_>> {
    match fast(link, frame) {
        Fast::Done(t) => t,
        Fast::General => general(link, frame),
    }
}

/// [`transport`], only when `keep(udp, sport, dport)`. In the common case
/// the ports are read first ([`peek`]), so a frame of no interest costs
/// little.
#[inline]
pub fn transport_if(
    link: LinkType,
    frame: &[u8],
    keep: impl Fn(bool, u16, u16) -> bool,
) -> Option<Transport<'_>> {
    if let Some((udp, sport, dport)) = peek(link, frame)
        && !keep(udp, sport, dport)
    {
        return None;
    }
    transport(link, frame).filter(|t| keep(t.proto == Proto::Udp, t.sport, t.dport))
}

/// UDP (true) or TCP and the ports, read as [`fast`] reads them, in the
/// cases where it reads them; `None` for anything else (fast may then still
/// find a transport).
#[inline]
fn peek(link: LinkType, frame: &[u8]) -> Option<(bool, u16, u16)> {
    let (mut et, mut at) = match link {
        LinkType::Ethernet => (be16(frame, 12)?, 14),
        LinkType::Raw => match frame.first()? >> 4 {
            4 => (0x0800, 0),
            6 => (0x86dd, 0),
            _ => return None,
        },
        _ => return None,
    };
    if et == 0x8100 {
        et = be16(frame, at + 2)?;
        at += 4;
    }
    let ip = frame.get(at..)?;
    let (proto, l4) = match et {
        0x0800 => {
            let vihl = *ip.first()?;
            let hl = usize::from(vihl & 0x0f) * 4;
            if vihl >> 4 != 4 || hl < 20 || ip.len() < hl {
                return None;
            }
            (ip[9], hl)
        }
        0x86dd if ip.len() >= 40 && ip[0] >> 4 == 6 => (ip[6], 40),
        _ => return None,
    };
    if !matches!(proto, 6 | 17) {
        return None;
    }
    Some((proto == 17, be16(ip, l4)?, be16(ip, l4 + 2)?))
}

enum Fast<'a> {
    Done(Option<Transport<'a>>),
    General,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// The common case by offsets alone (it runs on every name frame kept and
/// every datagram on a name port): Ethernet with at most one VLAN tag, or raw IP;
/// IPv4 (not a fragment) or IPv6 without extension headers; UDP or TCP.
/// Anything else goes to etherparse.
#[inline]
fn fast(link: LinkType, frame: &[u8]) -> Fast<'_> {
    let (src_mac, mut et, mut at) = match link {
        LinkType::Ethernet => match (frame.get(6..12), be16(frame, 12)) {
            (Some(m), Some(et)) => (Some(m), et, 14),
            _ => return Fast::Done(None),
        },
        LinkType::Raw => match frame.first().map(|b| b >> 4) {
            Some(4) => (None, 0x0800, 0),
            Some(6) => (None, 0x86dd, 0),
            _ => return Fast::General,
        },
        _ => return Fast::General,
    };
    if et == 0x8100 {
        let Some(inner) = be16(frame, at + 2) else {
            return Fast::Done(None);
        };
        et = inner;
        at += 4;
    }
    let Some(ip) = frame.get(at..) else {
        return Fast::Done(None);
    };
    let (v6, ip, proto, rest) = match et {
        0x0800 => {
            let Some(&vihl) = ip.first() else {
                return Fast::Done(None);
            };
            let hl = usize::from(vihl & 0x0f) * 4;
            if vihl >> 4 != 4 || hl < 20 || ip.len() < hl {
                return Fast::General;
            }
            // More fragments, or an offset: not a whole datagram.
            if be16(ip, 6).is_none_or(|f| f & 0x3fff != 0) {
                return Fast::Done(None);
            }
            let total = usize::from(be16(ip, 2).unwrap_or(0));
            let end = if total < hl {
                ip.len()
            } else {
                total.min(ip.len())
            };
            (false, ip, ip[9], ip.get(hl..end).unwrap_or_default())
        }
        0x86dd => {
            if ip.len() < 40 || ip[0] >> 4 != 6 {
                return Fast::General;
            }
            let plen = usize::from(be16(ip, 4).unwrap_or(0));
            let end = if plen == 0 {
                ip.len()
            } else {
                (40 + plen).min(ip.len())
            };
            (true, ip, ip[6], ip.get(40..end).unwrap_or_default())
        }
        _ => return Fast::General,
    };
    let (Some(sport), Some(dport)) = (be16(rest, 0), be16(rest, 2)) else {
        return Fast::Done(None);
    };
    let (proto, payload) = match proto {
        17 if rest.len() >= 8 => (Proto::Udp, &rest[8..]),
        6 => {
            let Some(&off) = rest.get(12) else {
                return Fast::Done(None);
            };
            let hl = usize::from(off >> 4) * 4;
            if hl < 20 || rest.len() < hl {
                return Fast::Done(None);
            }
            let seq = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]);
            (
                Proto::Tcp {
                    seq,
                    syn: rest[13] & 0x02 != 0,
                },
                &rest[hl..],
            )
        }
        // Extension headers, tunnels: etherparse.
        0 | 43 | 44 | 60 | 47 | 4 | 41 => return Fast::General,
        _ => return Fast::Done(None),
    };
    // (Lengths checked above: 20 bytes of IPv4 header, 40 of IPv6.)
    let (src, dst) = if v6 {
        let mut a = [0u8; 16];
        a.copy_from_slice(&ip[8..24]);
        let mut b = [0u8; 16];
        b.copy_from_slice(&ip[24..40]);
        (IpAddr::from(a), IpAddr::from(b))
    } else {
        let a: [u8; 4] = [ip[12], ip[13], ip[14], ip[15]];
        let b: [u8; 4] = [ip[16], ip[17], ip[18], ip[19]];
        (IpAddr::from(a), IpAddr::from(b))
    };
    Fast::Done(Some(Transport {
        src_mac: src_mac.and_then(|m| Mac::try_from(m).ok()),
        src,
        dst,
        proto,
        sport,
        dport,
        payload,
    }))
}

/// Everything else, through etherparse.
fn general(link: LinkType, frame: &[u8]) -> Option<Transport<'_>> {
    let pkt = match link {
        LinkType::Ethernet => LaxSlicedPacket::from_ethernet(frame).ok()?,
        LinkType::Raw => LaxSlicedPacket::from_ip(frame).ok()?,
        LinkType::LinuxSll => {
            // 16-byte header, the ether type at offset 14.
            let p = frame.get(14..16)?;
            let et = etherparse::EtherType(u16::from_be_bytes([p[0], p[1]]));
            LaxSlicedPacket::from_ether_type(et, frame.get(16..)?)
        }
        _ => return None,
    };
    let src_mac = match &pkt.link {
        Some(LinkSlice::Ethernet2(e)) => Some(e.source()),
        _ => None,
    };
    let (src, dst) = match &pkt.net {
        Some(LaxNetSlice::Ipv4(ip)) => {
            if ip.header().is_fragmenting_payload() {
                return None;
            }
            (
                IpAddr::V4(ip.header().source_addr()),
                IpAddr::V4(ip.header().destination_addr()),
            )
        }
        Some(LaxNetSlice::Ipv6(ip)) => (
            IpAddr::V6(ip.header().source_addr()),
            IpAddr::V6(ip.header().destination_addr()),
        ),
        _ => return None,
    };
    let (proto, sport, dport, payload) = match pkt.transport.as_ref()? {
        TransportSlice::Udp(u) => (
            Proto::Udp,
            u.source_port(),
            u.destination_port(),
            u.payload(),
        ),
        TransportSlice::Tcp(t) => (
            Proto::Tcp {
                seq: t.sequence_number(),
                syn: t.syn(),
            },
            t.source_port(),
            t.destination_port(),
            t.payload(),
        ),
        _ => return None,
    };
    Some(Transport {
        src_mac,
        src,
        dst,
        proto,
        sport,
        dport,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_over_ethernet_and_nothing_else() {
        // The frames of samples/identity/lan.pcap (classic pcap, little
        // endian: a 24-byte file header, 16-byte record headers).
        let cap = std::fs::read("samples/identity/lan.pcap").unwrap();
        let mut frames = Vec::new();
        let mut at = 24;
        while at + 16 <= cap.len() {
            let len = u32::from_le_bytes(cap[at + 8..at + 12].try_into().unwrap()) as usize;
            frames.push(&cap[at + 16..at + 16 + len]);
            at += 16 + len;
        }
        // dhclient's DISCOVER/REQUEST: UDP 68 -> 67 with the client's MAC.
        let dhcp = frames
            .iter()
            .filter_map(|f| transport(LinkType::Ethernet, f))
            .find(|t| (t.sport, t.dport) == (68, 67))
            .unwrap();
        assert_eq!(dhcp.proto, Proto::Udp);
        assert_eq!(dhcp.src_mac, Some([0x90, 0xb1, 0x1c, 0x20, 0x03, 0x41]));
        // Kerberos over TCP from the same capture.
        assert!(
            frames
                .iter()
                .filter_map(|f| transport(LinkType::Ethernet, f))
                .any(|t| {
                    matches!(t.proto, Proto::Tcp { .. }) && t.dport == 88 && !t.payload.is_empty()
                })
        );
        // Cut inside the IP header, or a link type not read here.
        assert!(transport(LinkType::Ethernet, &frames[0][..20]).is_none());
        assert!(transport(LinkType::Nflog, frames[0]).is_none());
        // The offsets-only path and etherparse agree on every frame.
        for f in &frames {
            let (a, b) = (
                transport(LinkType::Ethernet, f),
                general(LinkType::Ethernet, f),
            );
            assert_eq!(a.is_some(), b.is_some());
            if let (Some(a), Some(b)) = (a, b) {
                assert_eq!(
                    (
                        a.src_mac, a.src, a.dst, a.proto, a.sport, a.dport, a.payload
                    ),
                    (
                        b.src_mac, b.src, b.dst, b.proto, b.sport, b.dport, b.payload
                    )
                );
            }
        }
    }

    /// `transport_if` finds what `transport` finds and `keep` accepts, on
    /// the frames of several link types (Ethernet with and without VLAN
    /// tags, raw IP, Linux cooked, IPv6, fragments, tunnels).
    #[test]
    fn transport_if_is_transport_filtered() {
        let keeps: [&dyn Fn(bool, u16, u16) -> bool; 4] = [
            &|_, _, _| true,
            &|udp, _, _| udp,
            &|udp, sport, dport| udp && (sport == 53 || dport == 67),
            &|udp, _, dport| !udp && dport == 88,
        ];
        let mut kept = [0; 4];
        for name in [
            "identity/lan.pcap",
            "vlan.pcap",
            "qinq.pcap",
            "raw-ipv4.pcap",
            "raw-ipv6.pcap",
            "sll.pcap",
            "ipv6.pcap",
            "ipv4-fragments.pcap",
            "gre.pcap",
        ] {
            for f in crate::testing::frames(name) {
                for (i, keep) in keeps.iter().enumerate() {
                    let a = transport_if(f.link, &f.data, keep);
                    let b = transport(f.link, &f.data)
                        .filter(|t| keep(t.proto == Proto::Udp, t.sport, t.dport));
                    assert_eq!(format!("{a:?}"), format!("{b:?}"), "{name}");
                    kept[i] += usize::from(a.is_some());
                }
            }
        }
        // Each filter kept some frames, and fewer than everything.
        assert!(
            kept[0] > kept[1] && kept[1] > kept[2] && kept[2] > 0,
            "{kept:?}"
        );
        assert!(kept[3] > 0, "{kept:?}");
    }
}
