//! NetBIOS name service (RFC 1001/1002, UDP 137): name registrations and
//! refreshes, positive name query answers, and node status answers.
//!
//! Written here rather than with a DNS crate: NBNS shares DNS's layout, but
//! its opcodes (registration 5, refresh 8/9, multi-homed 15), its NB and
//! NBSTAT records (NBSTAT is type 33, SRV to a DNS parser) and the
//! first-level encoding of names (RFC 1001 §14.1) are its own, and no
//! maintained crate reads them.

use std::net::Ipv4Addr;

use super::Mac;

/// What a message does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A host registers (or refreshes) its names (request, opcode 5, 8, 9
    /// or 15), or a name server confirms a registration (positive response).
    Registration,
    /// A host releases its names (opcode 6).
    Release,
    /// A positive answer to a name query: name -> address(es).
    QueryAnswer,
    /// A node status answer: the responder's own name table (and MAC).
    NodeStatus,
}

/// One NetBIOS name with its facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NbName {
    /// The name (up to 15 bytes, trailing spaces removed), raw.
    pub name: Vec<u8>,
    /// The 16th byte: 0x00 workstation, 0x20 file server, 0x1c domain
    /// controllers, 0x1d/0x1b browsers, 0x03 messenger...
    pub suffix: u8,
    /// A group name (a workgroup or domain), not one host's.
    pub group: bool,
    /// The address the record gives (none for node status).
    pub addr: Option<Ipv4Addr>,
}

impl NbName {
    /// A unique workstation (0x00) or server (0x20) name: the computer's
    /// own name.
    pub fn is_host_name(&self) -> bool {
        !self.group && (self.suffix == 0x00 || self.suffix == 0x20) && !self.name.is_empty()
    }
}

/// The naming facts of one NBNS message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nbns {
    /// What it does.
    pub kind: Kind,
    /// The names it carries.
    pub names: Vec<NbName>,
    /// The responder's MAC (node status "unit ID"), when not all zero.
    pub mac: Option<Mac>,
}

const TYPE_NB: u16 = 0x20;
const TYPE_NBSTAT: u16 = 0x21;
/// Most names or addresses taken from one message.
const MAX_NAMES: usize = 64;

/// Parses an NBNS message. `None` for queries, negative answers and other
/// messages that name nothing, and for bytes that do not decode.
pub fn parse(payload: &[u8]) -> Option<Nbns> {
    let h = payload.get(..12)?;
    let flags = u16::from_be_bytes([h[2], h[3]]);
    let response = flags & 0x8000 != 0;
    let opcode = (flags >> 11) & 0xf;
    let rcode = flags & 0xf;
    let qd = u16::from_be_bytes([h[4], h[5]]);
    let an = u16::from_be_bytes([h[6], h[7]]);
    let ar = u16::from_be_bytes([h[10], h[11]]);
    if rcode != 0 {
        return None;
    }
    let kind = match (response, opcode) {
        (false, 5 | 8 | 9 | 15) | (true, 5 | 8 | 9 | 15) => Kind::Registration,
        (false, 6) => Kind::Release,
        (true, 0) => Kind::QueryAnswer,
        _ => return None,
    };
    let mut pos = 12;
    for _ in 0..qd {
        pos = skip_name(payload, pos)? + 4;
    }
    // Requests carry their record in the additional section, responses in
    // the answer section.
    let records = if response { an } else { ar };
    if !response {
        let before = u32::from(an) + u32::from(u16::from_be_bytes([h[8], h[9]]));
        for _ in 0..before {
            pos = skip_record(payload, pos)?;
        }
    }
    let mut out = Nbns {
        kind,
        names: Vec::new(),
        mac: None,
    };
    for _ in 0..records.min(4) {
        let (raw, after) = read_name(payload, pos)?;
        let (name, suffix) = decode_first_level(&raw)?;
        let f = payload.get(after..after + 10)?;
        let rtype = u16::from_be_bytes([f[0], f[1]]);
        let rdlen = usize::from(u16::from_be_bytes([f[8], f[9]]));
        let rdata = payload.get(after + 10..after + 10 + rdlen)?;
        pos = after + 10 + rdlen;
        match rtype {
            TYPE_NB => {
                for e in rdata.chunks_exact(6).take(MAX_NAMES) {
                    out.names.push(NbName {
                        name: name.clone(),
                        suffix,
                        group: e[0] & 0x80 != 0,
                        addr: Some(Ipv4Addr::new(e[2], e[3], e[4], e[5])),
                    });
                }
            }
            TYPE_NBSTAT if response => {
                out.kind = Kind::NodeStatus;
                node_status(rdata, &mut out);
            }
            _ => {}
        }
    }
    (!out.names.is_empty()).then_some(out)
}

/// NODE_STATUS rdata: a count, 18-byte entries (16-byte name, flags), then
/// statistics that begin with the 6-byte unit ID (the adapter's MAC).
fn node_status(rdata: &[u8], out: &mut Nbns) {
    let Some((&n, rest)) = rdata.split_first() else {
        return;
    };
    let n = usize::from(n);
    for e in rest.chunks_exact(18).take(n.min(MAX_NAMES)) {
        let (raw, flags) = e.split_at(16);
        let end = raw[..15]
            .iter()
            .rposition(|&b| b != b' ')
            .map_or(0, |i| i + 1);
        out.names.push(NbName {
            name: raw[..end].to_vec(),
            suffix: raw[15],
            group: flags[0] & 0x80 != 0,
            addr: None,
        });
    }
    out.mac = rest
        .get(n * 18..n * 18 + 6)
        .and_then(|m| <Mac>::try_from(m).ok())
        .filter(|m| m.iter().any(|&b| b != 0));
}

/// Decodes the first-level encoding: 32 letters `A`..`P`, two per byte
/// (high nibble first). Returns the 15-byte name without its padding and
/// the 16th (suffix) byte.
pub fn decode_first_level(encoded: &[u8]) -> Option<(Vec<u8>, u8)> {
    if encoded.len() != 32 {
        return None;
    }
    let mut raw = [0u8; 16];
    for (i, pair) in encoded.chunks_exact(2).enumerate() {
        let hi = pair[0].checked_sub(b'A').filter(|&v| v < 16)?;
        let lo = pair[1].checked_sub(b'A').filter(|&v| v < 16)?;
        raw[i] = (hi << 4) | lo;
    }
    let end = raw[..15]
        .iter()
        .rposition(|&b| b != b' ')
        .map_or(0, |i| i + 1);
    Some((raw[..end].to_vec(), raw[15]))
}

/// Reads the first label of a (possibly compressed) name at `pos` (the
/// encoded NetBIOS name; scope labels are skipped). Returns it and the
/// position after the name.
fn read_name(p: &[u8], pos: usize) -> Option<(Vec<u8>, usize)> {
    let end = skip_name(p, pos)?;
    let mut at = pos;
    // Follow at most a few pointers, each strictly backwards.
    for _ in 0..4 {
        let len = *p.get(at)?;
        if len & 0xc0 == 0xc0 {
            let target = usize::from(u16::from_be_bytes([len, *p.get(at + 1)?]) & 0x3fff);
            if target >= at {
                return None;
            }
            at = target;
            continue;
        }
        let label = p.get(at + 1..at + 1 + usize::from(len))?;
        return Some((label.to_vec(), end));
    }
    None
}

/// The position after the name at `pos` (labels up to a zero byte, or a
/// two-byte pointer).
fn skip_name(p: &[u8], mut pos: usize) -> Option<usize> {
    for _ in 0..128 {
        let len = *p.get(pos)?;
        if len == 0 {
            return Some(pos + 1);
        }
        if len & 0xc0 == 0xc0 {
            p.get(pos + 1)?;
            return Some(pos + 2);
        }
        if len & 0xc0 != 0 {
            return None;
        }
        pos += 1 + usize::from(len);
    }
    None
}

fn skip_record(p: &[u8], pos: usize) -> Option<usize> {
    let after = skip_name(p, pos)?;
    let f = p.get(after..after + 10)?;
    Some(after + 10 + usize::from(u16::from_be_bytes([f[8], f[9]])))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request whose answer and authority counts add up past 65,535 (found
    /// by the `names` fuzz target, whose debug build checks the overflow;
    /// the input is also its seed `fuzz/seeds/names/nbns-counts-past-u16`):
    /// nothing learned.
    #[test]
    fn record_counts_past_u16() {
        let request = [
            0x01, 0x00, 0x2d, 0x00, 0x00, 0x00, 0xd8, 0x00, 0xa7, 0x00, 0x00, 0xff, 0xff, 0xff,
        ];
        assert!(parse(&request).is_none());
    }

    #[test]
    fn first_level_names() {
        // RFC 1001 §14.1: "FRED" padded with spaces, suffix 0x20.
        let (n, s) = decode_first_level(b"EGFCEFEECACACACACACACACACACACACA").unwrap();
        assert_eq!((n.as_slice(), s), (&b"FRED"[..], 0x20));
        assert_eq!(decode_first_level(b"EGFCEFEE"), None);
        assert_eq!(decode_first_level(&[b'Z'; 32]), None);
        // The wildcard "*" padded with NULs.
        let (n, s) = decode_first_level(b"CKAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").unwrap();
        assert_eq!(
            (n.as_slice(), s),
            (&b"*\0\0\0\0\0\0\0\0\0\0\0\0\0\0"[..], 0)
        );
    }

    // From samples/identity/lan.pcap: Samba nmbd's registration of
    // BUCHHALTUNG-7<00> (frame 50), its node status answer (92) and name
    // query answer (94).
    const REGISTRATION: &str = "579d2910000100000000000120454346464544454945494542454d46454646454f4548434e44484341434141410000200001c00c0020000100000000000600000ac50095";
    const NODE_STATUS: &str = "2f268400000000010000000020434b4141414141414141414141414141414141414141414141414141414141410000210001000000000089054255434848414c54554e472d3720200004004255434848414c54554e472d3720200304004255434848414c54554e472d372020200400434f52502020202020202020202020008400434f525020202020202020202020201e84{47}";
    const ANSWER: &str = "62dc8580000000010000000020454346464544454945494542454d46454646454f4548434e444843414341414100002000010003f480000600000ac50095";

    #[test]
    fn real_nmbd_messages() {
        let hexz = crate::wire::names::hexz;
        let host = |n: &NbName| {
            (
                String::from_utf8_lossy(&n.name).into_owned(),
                n.suffix,
                n.is_host_name(),
            )
        };
        let r = parse(&hexz(REGISTRATION)).unwrap();
        assert_eq!(r.kind, Kind::Registration);
        assert_eq!(r.names.len(), 1);
        assert_eq!(host(&r.names[0]), ("BUCHHALTUNG-7".into(), 0, true));
        assert_eq!(r.names[0].addr, Some(Ipv4Addr::new(10, 197, 0, 149)));
        let s = parse(&hexz(NODE_STATUS)).unwrap();
        assert_eq!(s.kind, Kind::NodeStatus);
        let names: Vec<_> = s.names.iter().map(host).collect();
        assert_eq!(
            names,
            vec![
                ("BUCHHALTUNG-7".into(), 0x00, true),
                ("BUCHHALTUNG-7".into(), 0x03, false),
                ("BUCHHALTUNG-7".into(), 0x20, true),
                ("CORP".into(), 0x00, false),
                ("CORP".into(), 0x1e, false),
            ]
        );
        assert!(s.names[3].group);
        assert_eq!(s.mac, None); // nmbd reports an all-zero unit ID
        let a = parse(&hexz(ANSWER)).unwrap();
        assert_eq!(a.kind, Kind::QueryAnswer);
        assert_eq!(a.names[0].addr, Some(Ipv4Addr::new(10, 197, 0, 149)));
        // The query itself names nothing.
        let mut q = hexz(ANSWER);
        q[2] = 0x01;
        assert_eq!(parse(&q), None);
    }

    #[test]
    fn hostile() {
        assert_eq!(parse(&[]), None);
        // A pointer to itself.
        let mut m = vec![0, 1, 0x28, 0x10, 0, 0, 0, 0, 0, 0, 0, 1];
        m.extend_from_slice(&[0xc0, 12, 0, 0x20, 0, 1, 0, 0, 0, 0, 0, 6, 0, 0, 1, 2, 3, 4]);
        assert_eq!(parse(&m), None);
        // A label running off the end.
        let mut m = vec![0, 1, 0x28, 0x10, 0, 1, 0, 0, 0, 0, 0, 1, 0x3f];
        m.extend_from_slice(b"AB");
        assert_eq!(parse(&m), None);
    }
}
