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
        // The first frame of samples/identity/lan.pcap is a DHCP DISCOVER.
        let cap = std::fs::read("samples/identity/lan.pcap").unwrap();
        // pcap global header 24 bytes, record header 16.
        let len = u32::from_le_bytes(cap[32..36].try_into().unwrap()) as usize;
        let frame = &cap[40..40 + len];
        let t = transport(LinkType::Ethernet, frame).unwrap();
        assert_eq!(t.proto, Proto::Udp);
        assert_eq!((t.sport, t.dport), (68, 67));
        assert!(t.src_mac.is_some());
        assert!(transport(LinkType::Ethernet, &frame[..20]).is_none());
        assert!(transport(LinkType::Nflog, frame).is_none());
    }
}
