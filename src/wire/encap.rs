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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::decode::{self, LinkType, Skip};

    /// The link type and frames of a sample capture.
    fn sample(name: &str) -> (i32, Vec<Vec<u8>>) {
        let path = format!("{}/samples/{name}", env!("CARGO_MANIFEST_DIR"));
        let mut cap = pcap::Capture::from_file(&path).unwrap();
        let dlt = cap.get_datalink().0;
        let mut frames = Vec::new();
        while let Ok(p) = cap.next_packet() {
            frames.push(p.data.to_vec());
        }
        (dlt, frames)
    }

    type Seg = (IpAddr, IpAddr, u16, u16, u32, u8, Vec<u8>);

    /// Every TCP segment `decode` finds in a sample, and how many frames
    /// were not TCP.
    fn segments(name: &str) -> (Vec<Seg>, usize) {
        let (dlt, frames) = sample(name);
        let link = LinkType::from_dlt(dlt).unwrap();
        let mut segs = Vec::new();
        let mut not_tcp = 0;
        for f in &frames {
            match decode::decode(link, f) {
                Ok(s) => segs.push((
                    s.src,
                    s.dst,
                    s.sport,
                    s.dport,
                    s.seq,
                    s.flags,
                    s.payload.to_vec(),
                )),
                Err(Skip::NotTcp | Skip::Udp { .. }) => not_tcp += 1,
                Err(e) => panic!("{name}: {e:?}"),
            }
        }
        (segs, not_tcp)
    }

    /// The samples encap.py wrapped around the frames of another: the same
    /// TCP segments, byte for byte, come out of both.
    #[test]
    fn wrapped_samples_give_their_sources_segments() {
        for (wrapped, source, not_tcp) in [
            ("wifi-80211.pcap", "openssl-tls12.pcap", 3),
            ("wifi-radiotap.pcap", "openssl-tls13.pcap", 0),
            ("wifi-ppi.pcap", "gnutls-tls12.pcap", 0),
            ("geneve.pcap", "python-tls12.pcap", 0),
            ("gre.pcap", "openssl-tls11.pcap", 0),
            ("erspan1.pcap", "openssl-tls10.pcap", 0),
            ("erspan2.pcap", "curl-tls13.pcap", 0),
            ("erspan3.pcap", "openssl-tls13-client-tls10-server.pcap", 0),
            ("mpls.pcap", "m365-sni-tls12.pcap", 0),
            ("pppoe-ipv6.pcap", "ipv6.pcap", 0),
            ("nested-tunnels.pcap", "openssl-tls13-hrr.pcap", 0),
            ("raw-ipv4.pcap", "openssl-tls12-client-tls10-server.pcap", 0),
            ("raw-ipv6.pcap", "ipv6.pcap", 0),
            // Padding and FCS after the IP packet never reach the payload.
            ("eth-fcs.pcap", "split-segments.pcap", 0),
        ] {
            let (got, skipped) = segments(wrapped);
            let (want, _) = segments(source);
            assert!(want.len() > 8, "{source}");
            assert_eq!(got, want, "{wrapped}");
            assert_eq!(skipped, not_tcp, "{wrapped}");
        }
    }

    #[test]
    fn eth_fcs_frames_hold_trailers_that_tcp_never_sees() {
        let (dlt, frames) = sample("eth-fcs.pcap");
        assert_eq!(dlt, 1);
        let (_, plain) = sample("split-segments.pcap");
        for (f, p) in frames.iter().zip(&plain) {
            // The frame is longer (padding, FCS), the decoded payload not.
            assert!(f.len() >= p.len() + 4);
            let a = decode::decode(LinkType::Ethernet, f).unwrap();
            let b = decode::decode(LinkType::Ethernet, p).unwrap();
            assert_eq!((a.payload, a.wire_len), (b.payload, b.wire_len));
            // The general path agrees with the fast one.
            let Found::Tcp(t) = ethernet(f) else {
                panic!("not TCP")
            };
            assert_eq!(t.payload.len(), t.stated as usize);
        }
    }

    #[test]
    fn real_vxlan_and_nflog_captures() {
        for (name, sni, client) in [
            ("vxlan.pcap", &b"vxlan.example.test"[..], "10.42.0.1"),
            ("nflog.pcap", b"nflog.example.test", "127.0.0.1"),
        ] {
            let (segs, _) = segments(name);
            let hello = segs
                .iter()
                .find(|s| {
                    s.6.starts_with(&[0x16, 0x03]) && s.6.windows(sni.len()).any(|w| w == sni)
                })
                .unwrap_or_else(|| panic!("{name}: no ClientHello"));
            assert_eq!(hello.0, client.parse::<IpAddr>().unwrap(), "{name}");
            assert_eq!(hello.3, 443);
        }
        // The VXLAN capture's ARP frames are inside VXLAN too: not TCP.
        let (_, not_tcp) = segments("vxlan.pcap");
        assert!(not_tcp >= 2);
    }

    #[test]
    fn fragments_are_found_in_real_captures() {
        for (name, n) in [("ipv4-fragments.pcap", 10), ("ipv6-fragments.pcap", 0)] {
            let (dlt, frames) = sample(name);
            let link = LinkType::from_dlt(dlt).unwrap();
            let frags: Vec<_> = frames
                .iter()
                .filter(|f| decode::decode(link, f) == Err(Skip::Fragment))
                .map(|f| decode::fragment(link, f).unwrap())
                .collect();
            assert!(frags.len() >= n.max(4), "{name}");
            for f in &frags {
                assert_eq!(f.proto, 6);
                assert!(f.more || f.offset > 0);
                assert!(!f.incomplete);
                // Every fragment but the last of its datagram is a multiple of 8.
                assert!(!f.more || f.data.len() % 8 == 0);
            }
        }
    }

    /// Each parser on the first frame of its sample, at the offsets the
    /// sample was built with (see samples/encap.py).
    #[test]
    fn parsers_on_sample_bytes() {
        let first = |name: &str| sample(name).1.swap_remove(0);
        let f = first("wifi-radiotap.pcap");
        let r = radiotap::parse(&f).unwrap();
        let rlen = usize::from(u16::from_le_bytes([f[2], f[3]]));
        assert_eq!(rlen, 32); // two bitmaps, TSFT at 16, Flags at 24...
        assert_eq!(r.frame, &f[rlen..f.len() - 4]);
        assert!(!r.data_pad && !r.bad_fcs);
        let (et, payload) = ieee80211::data(r.frame, false).unwrap();
        assert_eq!((et, payload[0] >> 4), (0x0800, 4));

        let f = first("wifi-ppi.pcap");
        let p = ppi::parse(&f).unwrap();
        assert_eq!(
            (p.dlt, p.frame.len(), p.bad_fcs),
            (105, f.len() - 32 - 4, false)
        );
        assert_eq!(ieee80211::data(p.frame, false).unwrap().0, 0x0800);

        let f = first("wifi-80211.pcap"); // the beacon
        assert_eq!(ieee80211::data(&f, false), Err(ieee80211::Error::NoData));

        let f = first("nflog.pcap");
        let ip = nflog::payload(&f).unwrap();
        assert_eq!(usize::from(u16::from_be_bytes([ip[2], ip[3]])), ip.len());

        let f = first("gre.pcap");
        assert!(matches!(tunnel::gre(&f[34..]), Ok(Inner::EtherType(0x0800, b)) if b[0] == 0x45));
        for name in ["erspan1.pcap", "erspan2.pcap", "erspan3.pcap"] {
            let f = first(name);
            assert!(
                matches!(tunnel::gre(&f[34..]), Ok(Inner::Ethernet(b)) if b[12..14] == [8, 0]),
                "{name}"
            );
        }
        let f = first("mpls.pcap");
        assert!(matches!(tunnel::mpls(&f[14..]), Ok(Inner::Ip(b)) if b[0] == 0x45));
        let f = first("pppoe-ipv6.pcap");
        assert!(matches!(tunnel::pppoe_session(&f[14..]), Ok(Inner::Ip(b)) if b[0] >> 4 == 6));
        let f = first("geneve.pcap");
        assert!(matches!(tunnel::geneve(&f[42..]), Ok(Inner::Ethernet(b)) if b[12..14] == [8, 0]));
        // The kernel's VXLAN: the first frame is an ARP request inside.
        let f = first("vxlan.pcap");
        assert!(matches!(tunnel::vxlan(&f[42..]), Ok(Inner::Ethernet(b)) if b[12..14] == [8, 6]));
    }

    fn vlan_tags(n: usize, inner: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        for _ in 0..n {
            f.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
        }
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(inner);
        f
    }

    #[test]
    fn nesting_depth_is_bounded() {
        let (_, frames) = sample("openssl-tls12.pcap");
        let ip = &frames[0][14..];
        // Ethernet, tags, IP: within the bound.
        assert!(matches!(
            ethernet(&vlan_tags(MAX_DEPTH - 3, ip)),
            Found::Tcp(_)
        ));
        assert_eq!(ethernet(&vlan_tags(MAX_DEPTH, ip)), Found::Malformed);
        // IP in IP, 40 deep: a loop that stops, not a recursion.
        let mut p = ip.to_vec();
        for _ in 0..40 {
            let mut outer = vec![
                0x45, 0, 0, 0, 0, 0, 0, 0, 64, 4, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
            ];
            let len = (outer.len() + p.len()) as u16;
            outer[2..4].copy_from_slice(&len.to_be_bytes());
            outer.extend_from_slice(&p);
            p = outer;
        }
        assert_eq!(ip_walk(&p), Found::Malformed);
    }

    fn ip_walk(b: &[u8]) -> Found<'_> {
        ip(b)
    }

    /// Every cut of every frame of every encapsulated sample, for every
    /// link type: an answer, never a panic.
    #[test]
    fn truncated_frames_never_panic() {
        let links = [
            LinkType::Ethernet,
            LinkType::Raw,
            LinkType::Null,
            LinkType::Loop,
            LinkType::LinuxSll,
            LinkType::LinuxSll2,
            LinkType::Ieee80211,
            LinkType::Radiotap,
            LinkType::Ppi,
            LinkType::Nflog,
        ];
        for name in [
            "wifi-80211.pcap",
            "wifi-radiotap.pcap",
            "wifi-ppi.pcap",
            "nested-tunnels.pcap",
            "erspan3.pcap",
            "geneve.pcap",
            "pppoe-ipv6.pcap",
            "nflog.pcap",
            "ipv6-fragments.pcap",
        ] {
            let (_, frames) = sample(name);
            for f in frames.iter().take(6) {
                for n in 0..=f.len() {
                    for link in links {
                        let _ = decode::decode(link, &f[..n]);
                        let _ = decode::fragment(link, &f[..n]);
                    }
                }
            }
        }
    }

    #[test]
    fn udp_other_than_tunnels_is_not_tcp() {
        // IPv4/UDP to port 53 and to 4789 with a VXLAN header lacking its I flag.
        let mut udp = vec![
            0x45, 0, 0, 36, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        udp.extend_from_slice(&[0xc0, 0x00, 0x00, 0x35, 0, 16, 0, 0]);
        udp.extend_from_slice(&[0x08, 0, 0, 0, 0, 0, 1, 0]);
        assert_eq!(
            decode::decode(LinkType::Raw, &udp),
            Err(Skip::Udp {
                sport: 0xc000,
                dport: 53
            })
        );
        udp[22..24].copy_from_slice(&4789u16.to_be_bytes());
        assert_eq!(ip(&udp), Found::Malformed); // VXLAN, then a cut Ethernet header
        udp[28] = 0;
        assert_eq!(ip(&udp), Found::NotTcp);
    }
}
