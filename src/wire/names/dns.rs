//! DNS answers, shared by unicast DNS, multicast DNS (RFC 6762) and LLMNR
//! (RFC 4795), which use the same message format. Decoded by `simple-dns`
//! (borrowed: names are slices of the packet until kept).
//!
//! Only responses are read (QR set, standard query, no error): a question
//! names nothing, and the records an mDNS querier lists as known answers
//! are other hosts' claims.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use simple_dns::rdata::RData;
use simple_dns::{Name, Packet, ResourceRecord};

/// The naming facts of one response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    /// Message id.
    pub id: u16,
    /// The first question's name (unicast DNS and LLMNR carry one; mDNS
    /// responses usually none).
    pub question: Option<Vec<u8>>,
    /// A and AAAA records (answer and additional sections): owner name,
    /// address, TTL, and whether the record is in the answer section.
    pub addresses: Vec<AddressRecord>,
    /// Reverse-lookup PTR records (`…in-addr.arpa`, `…ip6.arpa`): the
    /// address the owner name spells, and the name it points to.
    pub ptrs: Vec<(IpAddr, Vec<u8>)>,
}

/// One A or AAAA record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressRecord {
    /// Owner name.
    pub name: Vec<u8>,
    /// Address.
    pub addr: IpAddr,
    /// Time to live, seconds.
    pub ttl: u32,
    /// In the answer section (else additional).
    pub answer: bool,
}

/// Most records taken from one message.
const MAX_RECORDS: usize = 64;

/// Parses a DNS-format response. `None` for queries, errors, other opcodes,
/// and bytes that do not decode.
pub fn parse_response(payload: &[u8]) -> Option<Response> {
    let h = payload.get(..12)?;
    let flags = u16::from_be_bytes([h[2], h[3]]);
    let is_response = flags & 0x8000 != 0;
    let opcode = (flags >> 11) & 0xf;
    let rcode = flags & 0xf;
    if !is_response || opcode != 0 || rcode != 0 {
        return None;
    }
    // Counts that cannot fit the message are hostile: refuse them before
    // the decoder reserves room for them.
    let count = |i: usize| usize::from(u16::from_be_bytes([h[i], h[i + 1]]));
    let min_len = 12 + count(4) * 5 + (count(6) + count(8) + count(10)) * 11;
    if min_len > payload.len() {
        return None;
    }
    let p = Packet::parse(payload).ok()?;
    let mut r = Response {
        id: u16::from_be_bytes([h[0], h[1]]),
        question: p.questions.first().map(|q| name_bytes(&q.qname)),
        ..Response::default()
    };
    let sections = p
        .answers
        .iter()
        .map(|rr| (rr, true))
        .chain(p.additional_records.iter().map(|rr| (rr, false)));
    for (rr, answer) in sections.take(MAX_RECORDS) {
        record(rr, answer, &mut r);
    }
    Some(r)
}

fn record(rr: &ResourceRecord<'_>, answer: bool, r: &mut Response) {
    let addr = match &rr.rdata {
        RData::A(a) => IpAddr::V4(Ipv4Addr::from(a.address)),
        RData::AAAA(a) => IpAddr::V6(Ipv6Addr::from(a.address)),
        RData::PTR(target) => {
            if let Some(a) = reverse_address(&rr.name) {
                r.ptrs.push((a, name_bytes(target)));
            }
            return;
        }
        _ => return,
    };
    r.addresses.push(AddressRecord {
        name: name_bytes(&rr.name),
        addr,
        ttl: rr.ttl,
        answer,
    });
}

/// A name's labels joined with dots, raw.
fn name_bytes(n: &Name<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    for label in n.as_bytes() {
        if !out.is_empty() {
            out.push(b'.');
        }
        out.extend_from_slice(label);
    }
    out
}

/// The address a reverse-lookup name spells: `4.3.2.1.in-addr.arpa` is
/// 1.2.3.4; `ip6.arpa` names have 32 nibble labels, least significant first.
pub fn reverse_address(n: &Name<'_>) -> Option<IpAddr> {
    let labels: Vec<&[u8]> = n.as_bytes().collect();
    let lower = |i: usize| labels.get(i).map(|l| l.to_ascii_lowercase());
    let tail = (
        lower(labels.len().checked_sub(2)?)?,
        lower(labels.len() - 1)?,
    );
    match (tail.0.as_slice(), tail.1.as_slice()) {
        (b"in-addr", b"arpa") if labels.len() == 6 => {
            let mut o = [0u8; 4];
            for (i, l) in labels[..4].iter().enumerate() {
                let s = std::str::from_utf8(l).ok()?;
                if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                o[3 - i] = s.parse().ok()?;
            }
            Some(IpAddr::V4(Ipv4Addr::from(o)))
        }
        (b"ip6", b"arpa") if labels.len() == 34 => {
            let mut v: u128 = 0;
            for l in labels[..32].iter().rev() {
                let [c] = **l else { return None };
                let d = char::from(c).to_digit(16)?;
                v = (v << 4) | u128::from(d);
            }
            Some(IpAddr::V6(Ipv6Addr::from(v)))
        }
        _ => None,
    }
}

/// A quick walk over a unicast response's answer section, without
/// decoding names or allocating: the hot path for the A/AAAA answers that
/// give server names (a fifth of the flows in a typical edge capture are
/// DNS; the full decoder costs several times more per answer).
#[derive(Debug, Clone, Copy)]
pub struct Scan<'a> {
    msg: &'a [u8],
    /// Message id.
    pub id: u16,
    /// The first question's name in wire format (length-prefixed labels),
    /// when it is not compressed (it never is in practice).
    pub question: Option<&'a [u8]>,
    answers: u16,
    start: usize,
}

/// Record types.
pub mod rtype {
    /// IPv4 address.
    pub const A: u16 = 1;
    /// Pointer.
    pub const PTR: u16 = 12;
    /// IPv6 address.
    pub const AAAA: u16 = 28;
}

/// Scans a response (QR set, standard query, no error). `None` for
/// queries, errors, other opcodes, and questions that do not parse.
pub fn scan(msg: &[u8]) -> Option<Scan<'_>> {
    let h = msg.get(..12)?;
    let flags = u16::from_be_bytes([h[2], h[3]]);
    if flags & 0x8000 == 0 || (flags >> 11) & 0xf != 0 || flags & 0xf != 0 {
        return None;
    }
    let qd = u16::from_be_bytes([h[4], h[5]]);
    let mut pos = 12;
    let mut question = None;
    for i in 0..qd {
        let end = skip_name(msg, pos)?;
        if i == 0 && msg.get(end - 1) == Some(&0) {
            question = msg.get(pos..end);
        }
        pos = end + 4;
        msg.get(..pos)?;
    }
    Some(Scan {
        msg,
        id: u16::from_be_bytes([h[0], h[1]]),
        question,
        answers: u16::from_be_bytes([h[6], h[7]]).min(MAX_RECORDS as u16),
        start: pos,
    })
}

impl<'a> Scan<'a> {
    /// The answer section's records: (type, rdata). Stops at the first
    /// record that does not parse.
    pub fn answers(&self) -> impl Iterator<Item = (u16, &'a [u8])> + 'a {
        let msg = self.msg;
        let mut pos = self.start;
        let mut left = self.answers;
        std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            left -= 1;
            let after = skip_name(msg, pos)?;
            let f = msg.get(after..after + 10)?;
            let rtype = u16::from_be_bytes([f[0], f[1]]);
            let len = usize::from(u16::from_be_bytes([f[8], f[9]]));
            let rdata = msg.get(after + 10..after + 10 + len)?;
            pos = after + 10 + len;
            Some((rtype, rdata))
        })
    }

    /// The A and AAAA addresses of the answer section.
    pub fn addresses(&self) -> impl Iterator<Item = IpAddr> + 'a {
        self.answers().filter_map(|(t, d)| match (t, d.len()) {
            (rtype::A, 4) => Some(IpAddr::V4(Ipv4Addr::new(d[0], d[1], d[2], d[3]))),
            (rtype::AAAA, 16) => <[u8; 16]>::try_from(d).ok().map(|a| IpAddr::V6(a.into())),
            _ => None,
        })
    }
}

/// The position after the (possibly compressed) name at `pos`.
fn skip_name(p: &[u8], mut pos: usize) -> Option<usize> {
    for _ in 0..128 {
        let len = *p.get(pos)?;
        match len {
            0 => return Some(pos + 1),
            l if l & 0xc0 == 0xc0 => {
                p.get(pos + 1)?;
                return Some(pos + 2);
            }
            l if l & 0xc0 != 0 => return None,
            l => pos += 1 + usize::from(l),
        }
    }
    None
}

/// DNS over TCP: the first message of a stream, after its 2-byte length.
/// `None` until the stream holds all of it.
pub fn tcp_message(stream: &[u8]) -> Option<&[u8]> {
    let len = usize::from(u16::from_be_bytes([*stream.first()?, *stream.get(1)?]));
    stream.get(2..2 + len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::names::hexz;

    // UDP payloads of Zeek's `dns/mdns-no-assoc.pcap`: frame 1 (query),
    // 3 (A response), 4 (AAAA response), 6 (AAAA response over IPv6).
    const QUERY: &str =
        "0000000000010000000000000f696e697469616c2d71756572792d61056c6f63616c0000010001";
    const RESP_A: &str = "00008400000000010000000011756e72656c617465642d7265706c792d61056c6f63616c0000010001000000780004c0a80002";
    const RESP_AAAA: &str = "00008400000000010000000014756e72656c617465642d7265706c792d61616161056c6f63616c00001c0001000000780010fe800000000000000200defffeadbeef";
    const RESP_V6: &str = "0000840000000001000000000c76362d756e72656c61746564056c6f63616c00001c0001000000780010fe800000000000000000000000000001";

    #[test]
    fn mdns_answers() {
        assert_eq!(parse_response(&hexz(QUERY)), None);
        let r = parse_response(&hexz(RESP_A)).unwrap();
        assert_eq!(r.question, None);
        assert_eq!(
            r.addresses,
            vec![AddressRecord {
                name: b"unrelated-reply-a.local".to_vec(),
                addr: "192.168.0.2".parse().unwrap(),
                ttl: 120,
                answer: true,
            }]
        );
        let r = parse_response(&hexz(RESP_AAAA)).unwrap();
        assert_eq!(r.addresses[0].name, b"unrelated-reply-aaaa.local");
        assert_eq!(
            r.addresses[0].addr,
            "fe80::200:deff:fead:beef".parse::<IpAddr>().unwrap()
        );
        let r = parse_response(&hexz(RESP_V6)).unwrap();
        assert_eq!(r.addresses[0].name, b"v6-unrelated.local");
        assert_eq!(r.addresses[0].addr, "fe80::1".parse::<IpAddr>().unwrap());
    }

    // From samples/identity/lan.pcap: llmnrd's answer (frame 97), dnsmasq's
    // PTR answer (99) and A answer for a Microsoft 365 name (101).
    const LLMNR: &str = "0000800000010001000000000b7363616e6e65722d336f6700000100010b7363616e6e65722d336f6700000100010000001e00040ac50080";
    const PTR: &str = "307b858000010001000000000331343901300331393702313007696e2d61646472046172706100000c0001c00c000c000100000000001c0d4255434848414c54554e472d3704636f7270076578616d706c6500";
    const A: &str = "a92c85800001000100000000076f75746c6f6f6b096f666669636533363503636f6d0000010001c00c000100010000000000040ac50001";

    #[test]
    fn real_llmnr_ptr_and_a() {
        let r = parse_response(&hexz(LLMNR)).unwrap();
        assert_eq!(r.question.as_deref(), Some(&b"scanner-3og"[..]));
        assert_eq!(r.addresses[0].name, b"scanner-3og");
        assert_eq!(
            r.addresses[0].addr,
            "10.197.0.128".parse::<IpAddr>().unwrap()
        );
        let r = parse_response(&hexz(PTR)).unwrap();
        assert_eq!(
            r.ptrs,
            vec![(
                "10.197.0.149".parse().unwrap(),
                b"BUCHHALTUNG-7.corp.example".to_vec()
            )]
        );
        assert!(r.addresses.is_empty());
        let r = parse_response(&hexz(A)).unwrap();
        assert_eq!(r.question.as_deref(), Some(&b"outlook.office365.com"[..]));
        assert_eq!(r.addresses[0].addr, "10.197.0.1".parse::<IpAddr>().unwrap());
        assert!(r.addresses[0].answer);
    }

    #[test]
    fn scan_agrees_with_the_decoder() {
        for hex in [LLMNR, PTR, A, RESP_A, RESP_AAAA, RESP_V6] {
            let b = hexz(hex);
            let full = parse_response(&b).unwrap();
            let s = scan(&b).unwrap();
            let fast: Vec<IpAddr> = s.addresses().collect();
            let slow: Vec<IpAddr> = full
                .addresses
                .iter()
                .filter(|a| a.answer)
                .map(|a| a.addr)
                .collect();
            assert_eq!(fast, slow, "{hex}");
            assert_eq!(
                s.question.and_then(crate::wire::names::wire_name),
                full.question,
                "{hex}"
            );
            assert_eq!(
                s.answers().any(|(t, _)| t == rtype::PTR),
                !full.ptrs.is_empty()
            );
        }
        assert!(scan(&hexz(QUERY)).is_none());
        let mut b = hexz(A);
        b.truncate(b.len() - 2); // rdata cut: the record is not returned
        assert_eq!(scan(&b).unwrap().addresses().count(), 0);
    }

    #[test]
    fn reverse_names() {
        let n = Name::new_unchecked("41.3.20.10.in-addr.arpa");
        assert_eq!(reverse_address(&n), Some("10.20.3.41".parse().unwrap()));
        let n = Name::new_unchecked(
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.e.f.IP6.ARPA",
        );
        assert_eq!(reverse_address(&n), Some("fe80::1".parse().unwrap()));
        for bad in [
            "3.20.10.in-addr.arpa",
            "256.3.20.10.in-addr.arpa",
            "x.3.20.10.in-addr.arpa",
            "_http._tcp.local",
            "arpa",
        ] {
            assert_eq!(reverse_address(&Name::new_unchecked(bad)), None, "{bad}");
        }
    }

    #[test]
    fn hostile_counts_refused() {
        let mut b = hexz(RESP_A);
        b[6] = 0xff; // 65 000 answers claimed in 50 bytes
        assert_eq!(parse_response(&b), None);
        assert_eq!(parse_response(&b[..11]), None);
        assert_eq!(tcp_message(&[0, 3, 1, 2]), None);
        assert_eq!(tcp_message(&[0, 2, 1, 2]), Some(&[1u8, 2][..]));
    }
}
