//! Shim and tunnel headers found inside frames: MPLS label stacks, PPPoE
//! sessions and PPP, GRE (RFC 2784/2890, RFC 1701 routing, PPTP's enhanced
//! GRE), ERSPAN types I, II and III, VXLAN (RFC 7348) and GENEVE (RFC 8926).
//!
//! Pure parsers over byte slices: each checks its header and says what
//! follows it ([`Inner`]). Nothing here allocates, and every read is
//! bounds-checked: a short or odd header is an [`Error`], never a panic.

/// What a header says comes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inner<'a> {
    /// An Ethernet frame (MACs, then an ether type).
    Ethernet(&'a [u8]),
    /// A payload of the given ether type.
    EtherType(u16, &'a [u8]),
    /// An IPv4 or IPv6 packet (told apart by its first nibble).
    Ip(&'a [u8]),
}

/// Why a header gave nothing to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The header is cut short.
    Short,
    /// A valid header of something we do not follow (another PPP protocol,
    /// an unknown version, a non-Ethernet ERSPAN frame...).
    Unsupported,
}

/// Ether type of MPLS unicast.
pub const ETHERTYPE_MPLS: u16 = 0x8847;
/// Ether type of MPLS multicast.
pub const ETHERTYPE_MPLS_MC: u16 = 0x8848;
/// Ether type of a PPPoE session.
pub const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;
/// Transparent Ethernet bridging (GRE, GENEVE): an Ethernet frame follows.
pub const ETHERTYPE_TEB: u16 = 0x6558;
/// GRE protocol type of ERSPAN types I and II.
pub const ETHERTYPE_ERSPAN_2: u16 = 0x88be;
/// GRE protocol type of ERSPAN type III.
pub const ETHERTYPE_ERSPAN_3: u16 = 0x22eb;
/// GRE protocol type of PPP (PPTP).
pub const ETHERTYPE_PPP: u16 = 0x880b;
/// VXLAN's UDP destination port (IANA).
pub const VXLAN_PORT: u16 = 4789;
/// GENEVE's UDP destination port (IANA).
pub const GENEVE_PORT: u16 = 6081;
/// Labels read in one MPLS stack at most.
pub const MAX_MPLS_LABELS: usize = 16;

fn be16(b: &[u8], at: usize) -> Result<u16, Error> {
    match b.get(at..at + 2) {
        Some(&[x, y]) => Ok(u16::from_be_bytes([x, y])),
        _ => Err(Error::Short),
    }
}

fn rest(b: &[u8], from: usize) -> Result<&[u8], Error> {
    b.get(from..).ok_or(Error::Short)
}

/// An MPLS label stack (RFC 3032) up to its bottom-of-stack entry, then the
/// payload, which must be IPv4 or IPv6 (by its first nibble, as the label
/// does not say). Pseudowires (Ethernet over MPLS) are not followed.
pub fn mpls(b: &[u8]) -> Result<Inner<'_>, Error> {
    for i in 0..MAX_MPLS_LABELS {
        let entry = b.get(i * 4..i * 4 + 4).ok_or(Error::Short)?;
        if entry[2] & 0x01 != 0 {
            let payload = rest(b, i * 4 + 4)?;
            return match payload.first().map(|v| v >> 4) {
                Some(4 | 6) => Ok(Inner::Ip(payload)),
                Some(_) => Err(Error::Unsupported),
                None => Err(Error::Short),
            };
        }
    }
    Err(Error::Unsupported)
}

/// A PPPoE session frame (RFC 2516, ether type 0x8864): version/type 0x11,
/// code 0, session id, length; the payload (as long as the length field
/// says, at most what was captured) is PPP.
pub fn pppoe_session(b: &[u8]) -> Result<Inner<'_>, Error> {
    let h = b.get(..6).ok_or(Error::Short)?;
    if h[0] != 0x11 || h[1] != 0 {
        return Err(Error::Unsupported);
    }
    let len = usize::from(be16(b, 4)?);
    let payload = rest(b, 6)?;
    ppp(payload.get(..len).unwrap_or(payload))
}

/// A PPP frame: optional address and control bytes (0xff 0x03), then the
/// protocol (one byte when compressed); IPv4 (0x0021) and IPv6 (0x0057)
/// are followed.
pub fn ppp(b: &[u8]) -> Result<Inner<'_>, Error> {
    let b = match b {
        [0xff, 0x03, r @ ..] => r,
        _ => b,
    };
    let (proto, payload) = match b {
        [p, r @ ..] if p & 1 == 1 => (u16::from(*p), r),
        [p, q, r @ ..] => (u16::from_be_bytes([*p, *q]), r),
        _ => return Err(Error::Short),
    };
    match proto {
        0x0021 | 0x0057 => Ok(Inner::Ip(payload)),
        _ => Err(Error::Unsupported),
    }
}

const GRE_C: u16 = 0x8000;
const GRE_R: u16 = 0x4000;
const GRE_K: u16 = 0x2000;
const GRE_S: u16 = 0x1000;
const GRE_A: u16 = 0x0080;

/// A GRE header (IP protocol 47): version 0 with its optional checksum,
/// key, sequence number and RFC 1701 source routes; version 1 (PPTP) with
/// its key, optional sequence and acknowledgment numbers, carrying PPP.
/// The protocol type says what follows: transparent Ethernet bridging,
/// ERSPAN (type I when the sequence number is absent, as Wireshark reads
/// it; types II and III by their version field), PPP, or an ether type.
pub fn gre(b: &[u8]) -> Result<Inner<'_>, Error> {
    let flags = be16(b, 0)?;
    let proto = be16(b, 2)?;
    let mut off = 4;
    match flags & 0x0007 {
        0 => {
            if flags & (GRE_C | GRE_R) != 0 {
                off += 4;
            }
            if flags & GRE_K != 0 {
                off += 4;
            }
            if flags & GRE_S != 0 {
                off += 4;
            }
            if flags & GRE_R != 0 {
                // Source route entries until the null one (RFC 1701).
                loop {
                    let sre = b.get(off..off + 4).ok_or(Error::Short)?;
                    let (family, len) = (u16::from_be_bytes([sre[0], sre[1]]), sre[3]);
                    off += 4 + usize::from(len);
                    if family == 0 && len == 0 {
                        break;
                    }
                }
            }
        }
        1 => {
            if proto != ETHERTYPE_PPP || flags & GRE_K == 0 {
                return Err(Error::Unsupported);
            }
            off += 4;
            if flags & GRE_S != 0 {
                off += 4;
            }
            if flags & GRE_A != 0 {
                off += 4;
            }
        }
        _ => return Err(Error::Unsupported),
    }
    let payload = rest(b, off)?;
    match proto {
        ETHERTYPE_TEB => Ok(Inner::Ethernet(payload)),
        ETHERTYPE_ERSPAN_2 if flags & GRE_S == 0 => Ok(Inner::Ethernet(payload)),
        ETHERTYPE_ERSPAN_2 | ETHERTYPE_ERSPAN_3 => erspan(payload),
        ETHERTYPE_PPP => ppp(payload),
        _ => Ok(Inner::EtherType(proto, payload)),
    }
}

/// An ERSPAN header (draft-foschiano-erspan), by its version field:
/// 1 (type II, 8 bytes) or 2 (type III, 12 bytes, plus an 8-byte platform
/// specific subheader when its O bit is set). Type II always carries an
/// Ethernet frame; type III an Ethernet frame when its frame type is 0,
/// an IP packet when it is 2.
pub fn erspan(b: &[u8]) -> Result<Inner<'_>, Error> {
    let w0 = be16(b, 0)?;
    match w0 >> 12 {
        1 => Ok(Inner::Ethernet(rest(b, 8)?)),
        2 => {
            let w2 = be16(b, 10)?;
            let off = if w2 & 0x0001 != 0 { 20 } else { 12 };
            let payload = rest(b, off)?;
            match (w2 >> 10) & 0x1f {
                0 => Ok(Inner::Ethernet(payload)),
                2 => Ok(Inner::Ip(payload)),
                _ => Err(Error::Unsupported),
            }
        }
        _ => Err(Error::Unsupported),
    }
}

/// A VXLAN header (8 bytes): the I flag (a valid VNI) must be set; an
/// Ethernet frame follows.
pub fn vxlan(b: &[u8]) -> Result<Inner<'_>, Error> {
    let h = b.get(..8).ok_or(Error::Short)?;
    if h[0] & 0x08 == 0 {
        return Err(Error::Unsupported);
    }
    Ok(Inner::Ethernet(&b[8..]))
}

/// A GENEVE header: version 0, options (their length in 4-byte words in
/// the first byte), then the protocol type: transparent Ethernet bridging
/// or an ether type.
pub fn geneve(b: &[u8]) -> Result<Inner<'_>, Error> {
    let first = *b.first().ok_or(Error::Short)?;
    if first >> 6 != 0 {
        return Err(Error::Unsupported);
    }
    let proto = be16(b, 2)?;
    if b.len() < 8 {
        return Err(Error::Short);
    }
    let payload = rest(b, 8 + usize::from(first & 0x3f) * 4)?;
    Ok(match proto {
        ETHERTYPE_TEB => Inner::Ethernet(payload),
        _ => Inner::EtherType(proto, payload),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: [u8; 4] = [0x45, 0, 0, 20];

    #[test]
    fn mpls_stack_to_bottom() {
        // Two labels (16, 17), bottom of stack on the second.
        let mut f = vec![0, 1, 0, 64, 0, 1, 0x11, 64];
        f.extend_from_slice(&IP);
        assert_eq!(mpls(&f), Ok(Inner::Ip(&IP)));
        // An Ethernet pseudowire (control word 0) is not followed.
        let pw = [0, 1, 1, 64, 0, 0, 0, 0];
        assert_eq!(mpls(&pw), Err(Error::Unsupported));
        // No bottom of stack within the bound.
        assert_eq!(mpls(&[0u8; 4 * 17]), Err(Error::Unsupported));
        assert_eq!(mpls(&[0u8; 6]), Err(Error::Short));
        assert_eq!(mpls(&[0, 1, 1, 64]), Err(Error::Short));
    }

    #[test]
    fn pppoe_and_ppp() {
        let mut f = vec![0x11, 0, 0x12, 0x34, 0, 6, 0x00, 0x21];
        f.extend_from_slice(&IP);
        f.extend_from_slice(&[0xee; 10]); // Ethernet padding after the length
        assert_eq!(pppoe_session(&f), Ok(Inner::Ip(&IP)));
        f[7] = 0x57;
        assert_eq!(pppoe_session(&f), Ok(Inner::Ip(&IP)));
        f[7] = 0x23; // something else
        assert_eq!(pppoe_session(&f), Err(Error::Unsupported));
        f[1] = 0x09; // discovery code
        assert_eq!(pppoe_session(&f), Err(Error::Unsupported));
        assert_eq!(ppp(&[0xff, 0x03, 0x21, 1, 2]), Ok(Inner::Ip(&[1, 2])));
        assert_eq!(ppp(&[0x00, 0x57]), Ok(Inner::Ip(&[])));
        assert_eq!(ppp(&[0x00]), Err(Error::Short));
    }

    #[test]
    fn gre_options_and_protocols() {
        // Checksum, key and sequence number present.
        let mut f = vec![0xb0, 0, 0x08, 0x00];
        f.extend_from_slice(&[0; 12]);
        f.extend_from_slice(&IP);
        assert_eq!(gre(&f), Ok(Inner::EtherType(0x0800, &IP)));
        // Plain, transparent Ethernet bridging.
        assert_eq!(gre(&[0, 0, 0x65, 0x58, 1, 2]), Ok(Inner::Ethernet(&[1, 2])));
        // RFC 1701 routing: offset word, one SRE of 4 bytes, the null SRE.
        let r = [
            0x40, 0, 0x08, 0x00, 0, 0, 0, 0, 0, 1, 0, 4, 9, 9, 9, 9, 0, 0, 0, 0, 7,
        ];
        assert_eq!(gre(&r), Ok(Inner::EtherType(0x0800, &[7])));
        // PPTP: key, sequence, acknowledgment, then PPP.
        let p = [
            0x30, 0x81, 0x88, 0x0b, 0, 8, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0xff, 0x03, 0x00, 0x21, 5,
        ];
        assert_eq!(gre(&p), Ok(Inner::Ip(&[5])));
        assert_eq!(gre(&[0, 2, 8, 0]), Err(Error::Unsupported)); // version 2
        assert_eq!(gre(&[0x20, 0, 8, 0, 1]), Err(Error::Short)); // key cut
    }

    #[test]
    fn erspan_types() {
        // Type I: 0x88be without a sequence number: Ethernet at once.
        assert_eq!(gre(&[0, 0, 0x88, 0xbe, 1]), Ok(Inner::Ethernet(&[1])));
        // Type II: sequence number, then an 8-byte header of version 1.
        let mut f = vec![0x10, 0, 0x88, 0xbe, 0, 0, 0, 1];
        f.extend_from_slice(&[0x10, 0x64, 0x00, 0x01, 0, 0, 0, 0, 0xaa]);
        assert_eq!(gre(&f), Ok(Inner::Ethernet(&[0xaa])));
        // Type III: 12 bytes, with and without the platform subheader.
        let mut h3 = vec![0x20, 0x64, 0x00, 0x01, 1, 2, 3, 4, 0, 0, 0x00, 0x00, 0xbb];
        assert_eq!(erspan(&h3), Ok(Inner::Ethernet(&[0xbb])));
        h3[11] = 0x01;
        h3.splice(12..12, [7u8; 8]);
        assert_eq!(erspan(&h3), Ok(Inner::Ethernet(&[0xbb])));
        h3[10] = 0x08; // frame type 2: IP
        assert_eq!(erspan(&h3), Ok(Inner::Ip(&[0xbb])));
        h3[10] = 0x04; // frame type 1
        assert_eq!(erspan(&h3), Err(Error::Unsupported));
        assert_eq!(erspan(&[0x30, 0]), Err(Error::Unsupported));
        assert_eq!(erspan(&h3[..11]), Err(Error::Short));
    }

    #[test]
    fn vxlan_and_geneve() {
        let v = [0x08, 0, 0, 0, 0, 0, 42, 0, 0xcc];
        assert_eq!(vxlan(&v), Ok(Inner::Ethernet(&[0xcc])));
        assert_eq!(vxlan(&[0u8; 9]), Err(Error::Unsupported));
        assert_eq!(vxlan(&v[..7]), Err(Error::Short));
        // GENEVE with one 4-byte option word, Ethernet payload.
        let g = [0x01, 0, 0x65, 0x58, 0, 0, 5, 0, 1, 2, 3, 4, 0xdd];
        assert_eq!(geneve(&g), Ok(Inner::Ethernet(&[0xdd])));
        let g4 = [0x00, 0, 0x08, 0x00, 0, 0, 5, 0, 0x45];
        assert_eq!(geneve(&g4), Ok(Inner::EtherType(0x0800, &[0x45])));
        assert_eq!(
            geneve(&[0x02, 0, 0x65, 0x58, 0, 0, 5, 0]),
            Err(Error::Short)
        );
        assert_eq!(
            geneve(&[0x40, 0, 0, 0, 0, 0, 0, 0]),
            Err(Error::Unsupported)
        );
    }

    #[test]
    fn every_cut_is_an_error_not_a_panic() {
        let frames: [&[u8]; 4] = [
            &[
                0xb0, 0, 0x22, 0xeb, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 0, 0, 1, 0, 0, 0, 0,
                0, 0, 0, 1,
            ],
            &[0x11, 0, 0, 1, 0, 4, 0xff, 0x03, 0x00, 0x21],
            &[0x3f, 0, 0x65, 0x58, 0, 0, 0, 0],
            &[0, 0, 0, 0, 0, 0, 0, 0],
        ];
        for f in frames {
            for n in 0..=f.len() {
                let b = &f[..n];
                let _ = (
                    gre(b),
                    erspan(b),
                    pppoe_session(b),
                    ppp(b),
                    mpls(b),
                    vxlan(b),
                    geneve(b),
                );
            }
        }
    }
}
