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
pub fn transport(link: LinkType, frame: &[u8]) -> Option<Transport<'_>> {
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
    }
}
