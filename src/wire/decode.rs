//! Link, IP and TCP decoding: a captured frame in, a [`Segment`] out.
//!
//! Link layers: Ethernet II (802.1Q / 802.1ad tags, stacked), Linux cooked
//! capture v1 and v2, raw IPv4/IPv6 and BSD null/loopback, 802.11, radiotap,
//! PPI and NFLOG. The common case (Ethernet or raw IP, at most one VLAN tag,
//! IPv4 or IPv6, TCP) is decoded first, on its own; everything else, tunnels
//! and shim headers included, goes through [`crate::wire::encap`]. IP and TCP
//! are decoded by `etherparse` in its lax mode, so a frame cut short by the
//! snap length still yields the payload bytes that were captured. Checksums
//! are never verified (checksum offload makes them wrong in most captures).

use std::net::IpAddr;

use etherparse::{EtherType, TcpSlice};

use crate::wire::encap::{self, Found, IpTcp};
use crate::wire::tunnel;

pub use crate::wire::encap::Fragment;

/// Link-layer header types we decode (libpcap DLT / LINKTYPE values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkType {
    /// BSD loopback: 4-byte address family in host order.
    Null,
    /// Ethernet II.
    Ethernet,
    /// Raw IP (DLT_RAW 12/14 or LINKTYPE_RAW 101), IPv4 (228) and IPv6 (229).
    Raw,
    /// OpenBSD loopback: 4-byte address family in network order.
    Loop,
    /// Linux cooked capture v1.
    LinuxSll,
    /// Linux cooked capture v2.
    LinuxSll2,
    /// IEEE 802.11 without a radio header (105).
    Ieee80211,
    /// 802.11 after a radiotap header (127).
    Radiotap,
    /// A PPI header, then the frame of the link type it names (192).
    Ppi,
    /// Linux netfilter NFLOG (239).
    Nflog,
}

impl LinkType {
    /// Maps a libpcap link-type number; `None` for types we do not decode.
    pub fn from_dlt(dlt: i32) -> Option<LinkType> {
        Some(match dlt {
            0 => LinkType::Null,
            1 => LinkType::Ethernet,
            12 | 14 | 101 | 228 | 229 => LinkType::Raw,
            105 => LinkType::Ieee80211,
            108 => LinkType::Loop,
            113 => LinkType::LinuxSll,
            127 => LinkType::Radiotap,
            192 => LinkType::Ppi,
            239 => LinkType::Nflog,
            276 => LinkType::LinuxSll2,
            _ => return None,
        })
    }
}

/// TCP flag bits.
pub mod flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// ACK.
    pub const ACK: u8 = 0x10;
}

/// One TCP segment, borrowed from the frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment<'a> {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number (meaningful with the ACK flag).
    pub ack: u32,
    /// TCP flags (see [`flags`]).
    pub flags: u8,
    /// Payload bytes captured.
    pub payload: &'a [u8],
    /// Payload length on the wire (larger than `payload.len()` when the
    /// frame was cut by the snap length).
    pub wire_len: u32,
}

/// Why a frame gave no TCP segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Not IP, or IP but not TCP (UDP, ICMP, ARP...).
    NotTcp,
    /// A whole UDP datagram over IPv4 (not a tunnel), with its ports: not
    /// TCP either, read by the fast path (a datagram on no name port is
    /// dropped without decoding the frame again; the others are decoded
    /// again for their payload).
    Udp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
    },
    /// An IP fragment (see [`fragment`]: the flow table reassembles them).
    Fragment,
    /// Headers cut short or malformed.
    Malformed,
}

fn ether_type_of_family(af: u32) -> Option<EtherType> {
    match af {
        2 => Some(EtherType::IPV4),
        // AF_INET6 differs per OS: Linux 10, BSDs 24, FreeBSD 28, macOS 30.
        10 | 24 | 28 | 30 => Some(EtherType::IPV6),
        _ => None,
    }
}

/// Decodes one frame of the given link type down to TCP.
#[inline(always)]
pub fn decode(link: LinkType, frame: &[u8]) -> Result<Segment<'_>, Skip> {
    if let Some(r) = fast(link, frame) {
        return r;
    }
    segment(general(link, frame))
}

/// The IP fragment a frame carries (for frames [`decode`] answered with
/// [`Skip::Fragment`]).
pub fn fragment(link: LinkType, frame: &[u8]) -> Option<Fragment<'_>> {
    match general(link, frame) {
        Found::Fragment(f) => Some(f),
        _ => None,
    }
}

/// Decodes a reassembled IP datagram's payload of protocol `proto`.
pub fn datagram(proto: u8, src: IpAddr, dst: IpAddr, data: &[u8]) -> Result<Segment<'_>, Skip> {
    segment(encap::datagram(proto, src, dst, data))
}

/// The IP fragment a reassembled datagram carries inside a tunnel.
pub fn datagram_fragment(proto: u8, src: IpAddr, dst: IpAddr, data: &[u8]) -> Option<Fragment<'_>> {
    match encap::datagram(proto, src, dst, data) {
        Found::Fragment(f) => Some(f),
        _ => None,
    }
}

fn general(link: LinkType, frame: &[u8]) -> Found<'_> {
    match link {
        LinkType::Ethernet => encap::ethernet(frame),
        LinkType::Raw => encap::ip(frame),
        LinkType::Null | LinkType::Loop => {
            let Some(h) = frame.get(..4) else {
                return Found::Malformed;
            };
            let raw = [h[0], h[1], h[2], h[3]];
            let af = if link == LinkType::Loop {
                u32::from_be_bytes(raw)
            } else {
                // Host order of the capturing machine: accept either.
                let le = u32::from_le_bytes(raw);
                if le < 0x100 {
                    le
                } else {
                    u32::from_be_bytes(raw)
                }
            };
            match ether_type_of_family(af) {
                Some(et) => encap::ether_type(et.0, &frame[4..]),
                None => Found::NotTcp,
            }
        }
        LinkType::LinuxSll => {
            // 16-byte header; protocol (ether type) at offset 14.
            match frame.get(14..16) {
                Some(p) => encap::ether_type(u16::from_be_bytes([p[0], p[1]]), &frame[16..]),
                None => Found::Malformed,
            }
        }
        LinkType::LinuxSll2 => {
            // 20-byte header; protocol (ether type) at offset 0.
            if frame.len() < 20 {
                return Found::Malformed;
            }
            encap::ether_type(u16::from_be_bytes([frame[0], frame[1]]), &frame[20..])
        }
        LinkType::Ieee80211 => encap::ieee80211(frame, false),
        LinkType::Radiotap => encap::radiotap(frame),
        LinkType::Ppi => encap::ppi(frame),
        LinkType::Nflog => encap::nflog(frame),
    }
}

/// The common case, on its own and first: Ethernet
/// (at most one VLAN tag), IPv4 or IPv6 without extension headers, TCP.
/// `None` hands anything else to the general path.
#[inline(always)]
fn fast(link: LinkType, frame: &[u8]) -> Option<Result<Segment<'_>, Skip>> {
    use etherparse::{Ethernet2HeaderSlice, SingleVlanHeaderSlice};
    let (mut et, mut rest) = match link {
        LinkType::Ethernet => {
            let eth = Ethernet2HeaderSlice::from_slice(frame).ok()?;
            (eth.ether_type(), frame.get(14..)?)
        }
        LinkType::Raw => match frame.first()? >> 4 {
            4 => (EtherType::IPV4, frame),
            6 => (EtherType::IPV6, frame),
            _ => return None,
        },
        _ => return None,
    };
    if et == EtherType::VLAN_TAGGED_FRAME {
        let vlan = SingleVlanHeaderSlice::from_slice(rest).ok()?;
        et = vlan.ether_type();
        rest = rest.get(4..)?;
    }
    let (src, dst, ip_payload, stated) = if et == EtherType::IPV4 {
        let ip = etherparse::Ipv4HeaderSlice::from_slice(rest).ok()?;
        if ip.is_fragmenting_payload() {
            return Some(Err(Skip::Fragment));
        }
        if ip.protocol() != etherparse::IpNumber::TCP {
            let l4 = rest.get(usize::from(ip.ihl()) * 4..);
            if may_tunnel(ip.protocol(), l4) {
                return None;
            }
            return Some(Err(match l4 {
                Some([a, b, c, d, ..]) if ip.protocol() == etherparse::IpNumber::UDP => Skip::Udp {
                    sport: u16::from_be_bytes([*a, *b]),
                    dport: u16::from_be_bytes([*c, *d]),
                },
                _ => Skip::NotTcp,
            }));
        }
        let hl = usize::from(ip.ihl()) * 4;
        let total = usize::from(ip.total_len());
        // total_len 0: segmentation offload, the capture holds the truth.
        let end = if total == 0 {
            rest.len()
        } else {
            total.min(rest.len())
        };
        let stated = if total == 0 {
            0
        } else {
            total.saturating_sub(hl)
        };
        (
            IpAddr::V4(ip.source_addr()),
            IpAddr::V4(ip.destination_addr()),
            rest.get(hl..end)?,
            stated,
        )
    } else if et == EtherType::IPV6 {
        let ip = etherparse::Ipv6HeaderSlice::from_slice(rest).ok()?;
        if ip.next_header() != etherparse::IpNumber::TCP {
            return None; // extension headers or not TCP: general path
        }
        let plen = usize::from(ip.payload_length());
        let end = if plen == 0 {
            rest.len()
        } else {
            (40 + plen).min(rest.len())
        };
        (
            IpAddr::V6(ip.source_addr()),
            IpAddr::V6(ip.destination_addr()),
            rest.get(40..end)?,
            plen,
        )
    } else if et == EtherType::ARP || et.0 < 0x0600 {
        return Some(Err(Skip::NotTcp));
    } else {
        return None;
    };
    let tcp = etherparse::TcpHeaderSlice::from_slice(ip_payload).ok()?;
    let hdr_len = usize::from(tcp.data_offset()) * 4;
    let payload = ip_payload.get(hdr_len..)?;
    let captured = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let stated = u32::try_from(stated.saturating_sub(hdr_len)).unwrap_or(u32::MAX);
    Some(Ok(Segment {
        src,
        dst,
        sport: tcp.source_port(),
        dport: tcp.destination_port(),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        flags: tcp.slice().get(13).copied().unwrap_or(0),
        payload,
        wire_len: stated.max(captured),
    }))
}

/// Over IPv4 in the fast path: true for a protocol that may carry a tunnel
/// (GRE, IP in IP, UDP to the VXLAN or GENEVE port), which the general path
/// then follows; anything else is not TCP.
#[inline]
fn may_tunnel(proto: etherparse::IpNumber, payload: Option<&[u8]>) -> bool {
    use etherparse::IpNumber;
    match proto {
        IpNumber::GRE | IpNumber::IPV4 | IpNumber::IPV6 => true,
        IpNumber::UDP => matches!(
            payload.and_then(|p| p.get(2..4)),
            Some(&[a, b]) if matches!(u16::from_be_bytes([a, b]), tunnel::VXLAN_PORT | tunnel::GENEVE_PORT)
        ),
        _ => false,
    }
}

fn segment(found: Found<'_>) -> Result<Segment<'_>, Skip> {
    match found {
        Found::Tcp(t) => tcp_segment(t),
        Found::Fragment(_) => Err(Skip::Fragment),
        Found::NotTcp => Err(Skip::NotTcp),
        Found::Malformed => Err(Skip::Malformed),
    }
}

fn tcp_segment(t: IpTcp<'_>) -> Result<Segment<'_>, Skip> {
    let tcp = TcpSlice::from_slice(t.payload).map_err(|_| Skip::Malformed)?;
    let hdr_len = u32::from(tcp.data_offset()) * 4;
    let payload = tcp.payload();
    let captured = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    // The IP header says how long the segment was on the wire; a zero length
    // (TCP segmentation offload) or a lie shorter than the capture is ignored.
    let stated = t.stated.saturating_sub(hdr_len);
    let wire_len = if t.incomplete {
        stated.max(captured)
    } else {
        captured
    };
    let bits = tcp.slice().get(13).copied().unwrap_or(0);
    Ok(Segment {
        src: t.src,
        dst: t.dst,
        sport: tcp.source_port(),
        dport: tcp.destination_port(),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        flags: bits,
        payload,
        wire_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4_tcp(payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        let total = 20 + 20 + payload.len();
        v.extend_from_slice(&[
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            1,
            0x40,
            0,
            64,
            6,
            0,
            0,
        ]);
        v.extend_from_slice(&[10, 0, 0, 1, 52, 96, 0, 1]);
        v.extend_from_slice(&[0xc3, 0x50, 0x01, 0xbb]); // 50000 -> 443
        v.extend_from_slice(&1000u32.to_be_bytes());
        v.extend_from_slice(&0u32.to_be_bytes());
        v.extend_from_slice(&[0x50, 0x18, 0xff, 0xff, 0xde, 0xad, 0, 0]); // bad checksum
        v.extend_from_slice(payload);
        v
    }

    fn ether(et: &[u8], inner: &[u8]) -> Vec<u8> {
        let mut v = vec![0u8; 12];
        v.extend_from_slice(et);
        v.extend_from_slice(inner);
        v
    }

    #[test]
    fn ethernet_vlan_stacked_and_checksum_ignored() {
        let ip = ipv4_tcp(b"hello");
        for et in [
            vec![0x08, 0x00],
            vec![0x81, 0x00, 0x00, 0x05, 0x08, 0x00],
            vec![0x88, 0xa8, 0x00, 0x05, 0x81, 0x00, 0x00, 0x07, 0x08, 0x00],
        ] {
            let f = ether(&et, &ip);
            let s = decode(LinkType::Ethernet, &f).unwrap();
            assert_eq!(s.src, "10.0.0.1".parse::<IpAddr>().unwrap());
            assert_eq!(s.dst, "52.96.0.1".parse::<IpAddr>().unwrap());
            assert_eq!((s.sport, s.dport, s.seq), (50000, 443, 1000));
            assert_eq!(s.payload, b"hello");
            assert_eq!(s.flags, 0x18);
        }
    }

    #[test]
    fn cooked_null_raw() {
        let ip = ipv4_tcp(b"xy");
        let mut sll = vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00];
        sll.extend_from_slice(&ip);
        assert_eq!(decode(LinkType::LinuxSll, &sll).unwrap().payload, b"xy");
        let mut sll2 = vec![
            0x08, 0x00, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0,
        ];
        sll2.extend_from_slice(&ip);
        assert_eq!(decode(LinkType::LinuxSll2, &sll2).unwrap().payload, b"xy");
        let mut null = 2u32.to_le_bytes().to_vec();
        null.extend_from_slice(&ip);
        assert_eq!(decode(LinkType::Null, &null).unwrap().payload, b"xy");
        assert_eq!(decode(LinkType::Raw, &ip).unwrap().payload, b"xy");
    }

    #[test]
    fn ipv6_with_extension_header() {
        let mut v = vec![0x60, 0, 0, 0, 0, 0, 0, 0];
        let mut src = [0u8; 16];
        src[15] = 1;
        let mut dst = [0u8; 16];
        dst[0] = 0x26;
        dst[1] = 0x03;
        dst[15] = 2;
        v.extend_from_slice(&src);
        v.extend_from_slice(&dst);
        // Hop-by-hop options header (8 bytes) then TCP.
        let mut rest = vec![6, 0, 1, 4, 0, 0, 0, 0];
        let tcp = &ipv4_tcp(b"v6")[20..];
        rest.extend_from_slice(tcp);
        let plen = rest.len() as u16;
        v[4..6].copy_from_slice(&plen.to_be_bytes());
        v[6] = 0; // next header: hop-by-hop
        v.extend_from_slice(&rest);
        let s = decode(LinkType::Raw, &v).unwrap();
        assert_eq!(s.payload, b"v6");
        assert_eq!(s.dst, "2603::2".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn truncated_by_snaplen_and_not_tcp() {
        let ip = ipv4_tcp(&[0x16; 100]);
        let f = ether(&[0x08, 0x00], &ip);
        let cut = &f[..14 + 40 + 30];
        let s = decode(LinkType::Ethernet, cut).unwrap();
        assert_eq!(s.payload.len(), 30);
        assert_eq!(s.wire_len, 100);
        assert_eq!(
            decode(LinkType::Ethernet, &ether(&[0x08, 0x06], &[0; 28])),
            Err(Skip::NotTcp)
        );
        assert!(decode(LinkType::Ethernet, &f[..10]).is_err());
        for n in 0..f.len() {
            let _ = decode(LinkType::Ethernet, &f[..n]);
            let _ = decode(LinkType::LinuxSll2, &f[..n]);
            let _ = decode(LinkType::Null, &f[..n]);
        }
    }
}
