//! A read filter for frames from any reader (`analyze -f EXPR`): a BPF
//! expression as tcpdump takes it, compiled by libpcap once per link type
//! (`pcap_open_dead` + `pcap_compile`) and run on each frame
//! (`pcap_offline_filter`), so it works whoever read the frame.

use pcap::{BpfProgram, Capture, Linktype};

use super::frame::Frame;
use crate::wire::decode::LinkType;

/// Link types in the order of [`FrameFilter`]'s programs, with the
/// libpcap DLT number each is compiled for. Raw IP of any flavour
/// (LINKTYPE_RAW 101, IPv4 228, IPv6 229 in files) is compiled for the
/// system's DLT_RAW (12 on most systems, 14 on OpenBSD: libpcap's own
/// `RAW`; 101 is a file's number, which `pcap_compile` refuses): the
/// program checks the IP version itself. BSD loopback frames of either
/// kind are run through a DLT_LOOP program with their address family
/// rewritten (see [`loopback_header`]). NFLOG has no program: libpcap
/// cannot compile filters for it (tcpdump refuses them too), so its frames
/// never match a filter.
fn links() -> [(LinkType, i32); 9] {
    let raw = Linktype::from_name("RAW").map_or(12, |l| l.0);
    [
        (LinkType::Null, LOOP),
        (LinkType::Ethernet, 1),
        (LinkType::Raw, raw),
        (LinkType::Ieee80211, 105),
        (LinkType::Loop, LOOP),
        (LinkType::LinuxSll, 113),
        (LinkType::Radiotap, 127),
        (LinkType::Ppi, 192),
        (LinkType::LinuxSll2, 276),
    ]
}

/// DLT_LOOP: a 4-byte address family in network byte order.
const LOOP: i32 = 108;

/// The 4-byte header of a BSD loopback frame (DLT_NULL in the capturing
/// host's byte order, DLT_LOOP in network order) as a program compiled
/// here for DLT_LOOP reads it. libpcap compiles for a handle that is not a
/// file as for a live capture on this system: it checks this system's
/// AF_INET6 only, where a file's program checks those of every BSD (24,
/// 28, 30). So the family is read in either byte order and written in
/// network order, IPv6 as this system's `AF_INET6` (10 on Linux).
fn loopback_header(h: [u8; 4]) -> [u8; 4] {
    let le = u32::from_le_bytes(h);
    let af = if le < 0x100 {
        le
    } else {
        u32::from_be_bytes(h)
    };
    let af = match af {
        10 | 24 | 28 | 30 => AF_INET6,
        other => other,
    };
    af.to_be_bytes()
}

/// This system's AF_INET6, as libpcap's live-capture programs test it.
#[cfg(target_os = "linux")]
const AF_INET6: u32 = 10;
#[cfg(target_os = "macos")]
const AF_INET6: u32 = 30;
#[cfg(target_os = "freebsd")]
const AF_INET6: u32 = 28;
#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "freebsd")))]
const AF_INET6: u32 = 24;

/// A compiled read filter. Not shared between threads (libpcap's
/// programs are not `Sync`): each reading thread compiles its own.
pub struct FrameFilter {
    /// Link types in [`links`] order.
    links: [LinkType; 9],
    /// Per link type in [`links`] order; `None` where the expression does
    /// not apply to the link type (e.g. `ether host` on raw IP): such
    /// frames never match.
    programs: Vec<Option<BpfProgram>>,
    /// A loopback frame with its header rewritten ([`loopback_header`]).
    scratch: std::cell::RefCell<Vec<u8>>,
}

fn compile(expr: &str, dlt: i32) -> Result<BpfProgram, String> {
    let cap = Capture::dead(Linktype(dlt)).map_err(|e| e.to_string())?;
    cap.compile(expr, true).map_err(|e| e.to_string())
}

impl FrameFilter {
    /// Compiles `expr`; an error (the expression is not valid for
    /// Ethernet, the common case) names what libpcap found wrong.
    pub fn new(expr: &str) -> Result<FrameFilter, String> {
        compile(expr, 1).map_err(|e| format!("bad filter \"{expr}\": {e}"))?;
        let links = links();
        Ok(FrameFilter {
            links: links.map(|(l, _)| l),
            programs: links.iter().map(|&(_, d)| compile(expr, d).ok()).collect(),
            scratch: Default::default(),
        })
    }

    /// Whether the frame passes the filter.
    pub fn matches(&self, f: &Frame<'_>) -> bool {
        self.links
            .iter()
            .position(|l| *l == f.link)
            .and_then(|i| self.programs.get(i))
            .and_then(Option::as_ref)
            .is_some_and(|p| match (f.link, f.data.first_chunk::<4>()) {
                (LinkType::Null | LinkType::Loop, Some(h)) => {
                    let mut buf = self.scratch.borrow_mut();
                    buf.clear();
                    buf.extend_from_slice(&loopback_header(*h));
                    buf.extend_from_slice(f.data.get(4..).unwrap_or_default());
                    p.filter(&buf)
                }
                _ => p.filter(f.data),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::frames;

    #[test]
    fn filters_sample_frames_by_port() {
        let f = FrameFilter::new("tcp port 587").expect("compiles");
        let smtp = frames("smtp-starttls-tls10-587.pcap");
        let https = frames("openssl-tls12.pcap");
        let sll = frames("sll.pcap");
        let m = |o: &crate::testing::Owned| {
            f.matches(&Frame {
                link: o.link,
                ts_us: o.ts_us,
                data: &o.data,
                wire_len: o.wire_len,
            })
        };
        assert!(smtp.iter().all(m));
        assert!(!https.iter().any(m));
        assert!(!sll.iter().any(m));
        let any443 = FrameFilter::new("tcp port 443").expect("compiles");
        assert!(sll.iter().any(|o| any443.matches(&Frame {
            link: o.link,
            ts_us: o.ts_us,
            data: &o.data,
            wire_len: o.wire_len,
        })));
        assert!(FrameFilter::new("tcp port").is_err());
    }

    /// Raw IP, Wi-Fi and BSD loopback frames match as tcpdump matches them
    /// (the loopback ones: the real IPv6 frames of a raw capture behind a
    /// macOS DLT_NULL header and an OpenBSD DLT_LOOP one).
    #[test]
    fn filters_every_link_type() {
        let f = FrameFilter::new("tcp port 443").expect("compiles");
        let udp = FrameFilter::new("udp").expect("compiles");
        let m = |f: &FrameFilter, link, data: &[u8]| {
            f.matches(&Frame {
                link,
                ts_us: 0,
                data,
                wire_len: data.len() as u32,
            })
        };
        // Frames that `tcpdump -r FILE 'tcp port 443'` prints.
        for (name, want) in [
            ("rawip.pcap", 16),
            ("raw-ipv6.pcap", 16),
            ("wifi-80211.pcap", 15),
            ("wifi-radiotap.pcap", 10),
            ("wifi-ppi.pcap", 16),
        ] {
            let frames = frames(name);
            let got = frames.iter().filter(|o| m(&f, o.link, &o.data)).count();
            assert_eq!(got, want, "{name}");
            assert!(!frames.iter().any(|o| m(&udp, o.link, &o.data)), "{name}");
        }
        for (link, head) in [
            (LinkType::Null, [30, 0, 0, 0]),
            (LinkType::Loop, [0, 0, 0, 24]),
        ] {
            for o in frames("raw-ipv6.pcap") {
                let data = [&head[..], &o.data].concat();
                assert!(m(&f, link, &data), "{link:?}");
                assert!(!m(&udp, link, &data), "{link:?}");
            }
        }
    }
}
