//! The general decoding path: from a link layer, through shim headers and
//! tunnels, to the innermost IP packet that carries TCP, or to an IP
//! fragment (reassembled by the flow table, see `flow::defrag`).
//!
//! Layers followed: Ethernet (802.1Q/802.1ad tags, unencrypted MACsec),
//! MPLS label stacks, PPPoE sessions, IPv4/IPv6 (etherparse, lax: a frame
//! cut by the snap length still gives what was captured), GRE (with
//! ERSPAN I/II/III and PPTP), VXLAN and GENEVE (by UDP destination port),
//! IP in IP; at the link: 802.11, radiotap, PPI and NFLOG. Each header is
//! one step, at most [`MAX_DEPTH`] per frame: deeper nesting is
//! [`Found::Malformed`].
//!
//! IP lengths bound every payload, so Ethernet padding and FCS trailers
//! never reach TCP.

use std::net::IpAddr;

use etherparse::{
    EtherType, Ethernet2HeaderSlice, IpNumber, Ipv6ExtensionSlice, Ipv6ExtensionsSlice, LaxIpSlice,
    LaxMacsecPayloadSlice, LaxMacsecSlice, SingleVlanHeaderSlice, UdpSlice,
};

use super::tunnel::{self, Inner};
use super::{ieee80211, nflog, ppi, radiotap};

/// Headers followed in one frame at most (each VLAN tag, MPLS stack,
/// tunnel header and IP header counts one).
pub const MAX_DEPTH: usize = 16;

/// The innermost IP packet carrying TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpTcp<'a> {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// The IP payload as captured (TCP header and data), bounded by the IP
    /// length fields.
    pub payload: &'a [u8],
    /// IP payload length stated by the IP header(s).
    pub stated: u32,
    /// The capture holds less than the IP header states (snap length).
    pub incomplete: bool,
}

/// One IP fragment, as the reassembly needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment<'a> {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IPv4 identification or IPv6 fragment header identification.
    pub ident: u32,
    /// Protocol of the reassembled payload (IPv4 protocol; for IPv6 the
    /// fragment header's next header).
    pub proto: u8,
    /// Byte offset of this fragment's data in the datagram.
    pub offset: u16,
    /// More fragments follow.
    pub more: bool,
    /// This fragment's data.
    pub data: &'a [u8],
    /// The capture holds less of it than the IP header states.
    pub incomplete: bool,
}

/// What a frame holds, innermost first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found<'a> {
    /// An IP packet carrying TCP.
    Tcp(IpTcp<'a>),
    /// An IP fragment.
    Fragment(Fragment<'a>),
    /// Neither: other protocols, encrypted or unsupported content.
    NotTcp,
    /// Headers cut short or invalid, or nested deeper than [`MAX_DEPTH`].
    Malformed,
}

enum Step<'a> {
    Ethernet(&'a [u8]),
    EtherType(u16, &'a [u8]),
    Ip(&'a [u8]),
    Done(Found<'a>),
}

fn walk(mut step: Step<'_>) -> Found<'_> {
    for _ in 0..MAX_DEPTH {
        step = match step {
            Step::Ethernet(b) => ethernet_step(b),
            Step::EtherType(et, b) => ether_type_step(et, b),
            Step::Ip(b) => ip_step(b),
            Step::Done(found) => return found,
        };
    }
    match step {
        Step::Done(found) => found,
        _ => Found::Malformed,
    }
}

/// An Ethernet II frame.
pub fn ethernet(b: &[u8]) -> Found<'_> {
    walk(Step::Ethernet(b))
}

/// A payload of the given ether type.
pub fn ether_type(et: u16, b: &[u8]) -> Found<'_> {
    walk(Step::EtherType(et, b))
}

/// An IPv4 or IPv6 packet.
pub fn ip(b: &[u8]) -> Found<'_> {
    walk(Step::Ip(b))
}

/// An 802.11 frame (`data_pad`: its MAC header is padded to 4 bytes).
pub fn ieee80211(b: &[u8], data_pad: bool) -> Found<'_> {
    match ieee80211::data(b, data_pad) {
        Ok((et, payload)) => ether_type(et, payload),
        Err(ieee80211::Error::Short) => Found::Malformed,
        Err(ieee80211::Error::NoData) => Found::NotTcp,
    }
}

/// A radiotap header and the 802.11 frame after it. Frames that failed
/// their FCS check are malformed (their bytes cannot be trusted).
pub fn radiotap(b: &[u8]) -> Found<'_> {
    match radiotap::parse(b) {
        Ok(r) if !r.bad_fcs => ieee80211(r.frame, r.data_pad),
        _ => Found::Malformed,
    }
}

/// A PPI header and the frame after it (802.11, radiotap or Ethernet).
pub fn ppi(b: &[u8]) -> Found<'_> {
    match ppi::parse(b) {
        Ok(p) if p.bad_fcs => Found::Malformed,
        Ok(p) => match p.dlt {
            1 => ethernet(p.frame),
            105 => ieee80211(p.frame, false),
            127 => radiotap(p.frame),
            _ => Found::NotTcp,
        },
        Err(_) => Found::Malformed,
    }
}

/// An NFLOG frame's logged packet.
pub fn nflog(b: &[u8]) -> Found<'_> {
    match nflog::payload(b) {
        Ok(p) => ip(p),
        Err(nflog::Error::Short) => Found::Malformed,
        Err(nflog::Error::NoPayload) => Found::NotTcp,
    }
}

/// The payload of a reassembled IP datagram of protocol `proto`.
pub fn datagram(proto: u8, src: IpAddr, dst: IpAddr, data: &[u8]) -> Found<'_> {
    let (mut proto, mut data) = (IpNumber(proto), data);
    if src.is_ipv6() && is_ipv6_extension(proto) {
        // Extension headers after the fragment header.
        let (_, next, rest, err) = Ipv6ExtensionsSlice::from_slice_lax(proto, data);
        if err.is_some() {
            return Found::Malformed;
        }
        (proto, data) = (next, rest);
    }
    if proto == IpNumber::TCP {
        let stated = u32::try_from(data.len()).unwrap_or(u32::MAX);
        return Found::Tcp(IpTcp {
            src,
            dst,
            payload: data,
            stated,
            incomplete: false,
        });
    }
    walk(transport_step(proto, data))
}

fn is_ipv6_extension(p: IpNumber) -> bool {
    matches!(
        p,
        IpNumber::IPV6_HEADER_HOP_BY_HOP
            | IpNumber::IPV6_ROUTE_HEADER
            | IpNumber::IPV6_FRAGMENTATION_HEADER
            | IpNumber::IPV6_DESTINATION_OPTIONS
            | IpNumber::AUTHENTICATION_HEADER
    )
}

fn inner(r: Result<Inner<'_>, tunnel::Error>) -> Step<'_> {
    match r {
        Ok(Inner::Ethernet(b)) => Step::Ethernet(b),
        Ok(Inner::EtherType(et, b)) => Step::EtherType(et, b),
        Ok(Inner::Ip(b)) => Step::Ip(b),
        Err(tunnel::Error::Short) => Step::Done(Found::Malformed),
        Err(tunnel::Error::Unsupported) => Step::Done(Found::NotTcp),
    }
}

fn ethernet_step(b: &[u8]) -> Step<'_> {
    match Ethernet2HeaderSlice::from_slice(b) {
        Ok(eth) => Step::EtherType(eth.ether_type().0, &b[eth.slice().len()..]),
        Err(_) => Step::Done(Found::Malformed),
    }
}

fn ether_type_step(et: u16, b: &[u8]) -> Step<'_> {
    match EtherType(et) {
        EtherType::IPV4 | EtherType::IPV6 => Step::Ip(b),
        EtherType::VLAN_TAGGED_FRAME
        | EtherType::PROVIDER_BRIDGING
        | EtherType::VLAN_DOUBLE_TAGGED_FRAME => match SingleVlanHeaderSlice::from_slice(b) {
            Ok(v) => Step::EtherType(v.ether_type().0, &b[v.slice().len()..]),
            Err(_) => Step::Done(Found::Malformed),
        },
        EtherType::MACSEC => match LaxMacsecSlice::from_slice(b) {
            Ok(m) => match m.payload {
                LaxMacsecPayloadSlice::Unmodified(p) => Step::EtherType(p.ether_type.0, p.payload),
                LaxMacsecPayloadSlice::Modified { .. } => Step::Done(Found::NotTcp),
            },
            Err(_) => Step::Done(Found::Malformed),
        },
        _ => match et {
            tunnel::ETHERTYPE_MPLS | tunnel::ETHERTYPE_MPLS_MC => inner(tunnel::mpls(b)),
            tunnel::ETHERTYPE_PPPOE_SESSION => inner(tunnel::pppoe_session(b)),
            tunnel::ETHERTYPE_TEB => Step::Ethernet(b),
            _ => Step::Done(Found::NotTcp),
        },
    }
}

fn ip_step(b: &[u8]) -> Step<'_> {
    let Ok((ip, ext_err)) = LaxIpSlice::from_slice(b) else {
        return Step::Done(Found::Malformed);
    };
    let p = ip.payload();
    if p.fragmented {
        return Step::Done(fragment_of(b, &ip));
    }
    if ext_err.is_some() {
        // Extension headers cut short: what follows is unknown.
        return Step::Done(if p.ip_number == IpNumber::TCP {
            Found::Malformed
        } else {
            Found::NotTcp
        });
    }
    if p.ip_number == IpNumber::TCP {
        return Step::Done(Found::Tcp(IpTcp {
            src: ip.source_addr(),
            dst: ip.destination_addr(),
            payload: p.payload,
            stated: stated_payload_len(&ip),
            incomplete: p.incomplete,
        }));
    }
    transport_step(p.ip_number, p.payload)
}

/// The IP payload length the header states (IPv6: less the extension
/// headers already read).
fn stated_payload_len(ip: &LaxIpSlice<'_>) -> u32 {
    match ip {
        LaxIpSlice::Ipv4(v4) => {
            let h = v4.header();
            u32::from(h.total_len()).saturating_sub(u32::from(h.ihl()) * 4)
        }
        LaxIpSlice::Ipv6(v6) => {
            let ext = u32::try_from(v6.extensions().slice().len()).unwrap_or(u32::MAX);
            u32::from(v6.header().payload_length()).saturating_sub(ext)
        }
    }
}

fn transport_step(proto: IpNumber, b: &[u8]) -> Step<'_> {
    match proto {
        IpNumber::UDP => {
            let Ok(udp) = UdpSlice::from_slice_lax(b) else {
                return Step::Done(Found::NotTcp);
            };
            match udp.destination_port() {
                tunnel::VXLAN_PORT => inner(tunnel::vxlan(udp.payload())),
                tunnel::GENEVE_PORT => inner(tunnel::geneve(udp.payload())),
                _ => Step::Done(Found::NotTcp),
            }
        }
        IpNumber::GRE => inner(tunnel::gre(b)),
        IpNumber::IPV4 | IpNumber::IPV6 => Step::Ip(b),
        _ => Step::Done(Found::NotTcp),
    }
}

/// Offset of `part` (a subslice) in `whole`.
fn offset_in(whole: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize).saturating_sub(whole.as_ptr() as usize)
}

fn fragment_of<'a>(b: &'a [u8], ip: &LaxIpSlice<'a>) -> Found<'a> {
    let p = ip.payload();
    match ip {
        LaxIpSlice::Ipv4(v4) => {
            let h = v4.header();
            Found::Fragment(Fragment {
                src: ip.source_addr(),
                dst: ip.destination_addr(),
                ident: u32::from(h.identification()),
                proto: p.ip_number.0,
                offset: h.fragments_offset().byte_offset(),
                more: h.more_fragments(),
                data: p.payload,
                incomplete: p.incomplete,
            })
        }
        LaxIpSlice::Ipv6(v6) => {
            // The data starts right after the fragment header (etherparse
            // may have read further, as if the data were headers) and ends
            // where the IP payload ends.
            let frag = v6.extensions().clone().into_iter().find_map(|e| match e {
                Ipv6ExtensionSlice::Fragment(f) => Some(f),
                _ => None,
            });
            let Some(f) = frag else {
                return Found::Malformed;
            };
            let start = offset_in(b, f.slice()) + f.slice().len();
            let end = offset_in(b, p.payload) + p.payload.len();
            let Some(data) = b.get(start..end) else {
                return Found::Malformed;
            };
            Found::Fragment(Fragment {
                src: ip.source_addr(),
                dst: ip.destination_addr(),
                ident: f.identification(),
                proto: f.next_header().0,
                offset: f.fragment_offset().byte_offset(),
                more: f.more_fragments(),
                data,
                incomplete: p.incomplete,
            })
        }
    }
}
