//! A read filter for frames from any reader (`analyze -f EXPR`): a BPF
//! expression as tcpdump takes it, compiled by libpcap once per link type
//! (`pcap_open_dead` + `pcap_compile`) and run on each frame
//! (`pcap_offline_filter`), so it works whoever read the frame.

use pcap::{BpfProgram, Capture, Linktype};

use super::frame::Frame;
use crate::wire::decode::LinkType;

/// Link types in the order of [`FrameFilter`]'s programs, with the
/// libpcap number each is compiled for (raw IP of any flavour as
/// LINKTYPE_RAW: the program checks the IP version itself).
const LINKS: [(LinkType, i32); 6] = [
    (LinkType::Null, 0),
    (LinkType::Ethernet, 1),
    (LinkType::Raw, 101),
    (LinkType::Loop, 108),
    (LinkType::LinuxSll, 113),
    (LinkType::LinuxSll2, 276),
];

/// A compiled read filter. Not shared between threads (libpcap's
/// programs are not `Sync`): each reading thread compiles its own.
pub struct FrameFilter {
    /// Per link type in [`LINKS`] order; `None` where the expression does
    /// not apply to the link type (e.g. `ether host` on raw IP): such
    /// frames never match.
    programs: Vec<Option<BpfProgram>>,
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
        Ok(FrameFilter {
            programs: LINKS.iter().map(|&(_, d)| compile(expr, d).ok()).collect(),
        })
    }

    /// Whether the frame passes the filter.
    pub fn matches(&self, f: &Frame<'_>) -> bool {
        LINKS
            .iter()
            .position(|(l, _)| *l == f.link)
            .and_then(|i| self.programs.get(i))
            .and_then(Option::as_ref)
            .is_some_and(|p| p.filter(f.data))
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
}
