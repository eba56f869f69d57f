//! PPI, the Per-Packet Information header (LINKTYPE_PPI, 192): a length,
//! the link type of the frame after it (802.11 in practice), and typed
//! fields, of which only 802.11-Common is read, for its FCS flags.

/// A PPI header's meaning for the frame after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ppi<'a> {
    /// Link type (DLT) of `frame`.
    pub dlt: u32,
    /// The frame, without its FCS when the 802.11-Common field says one is there.
    pub frame: &'a [u8],
    /// The 802.11-Common field says the FCS is invalid.
    pub bad_fcs: bool,
}

/// Why a PPI header could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Shorter than its fixed part, or than the length it claims.
    Short,
    /// Not version 0.
    Version,
}

const FIELD_80211_COMMON: u16 = 2;
const COMMON_FCS: u16 = 0x0001;
const COMMON_BAD_FCS: u16 = 0x0004;

fn le16(b: &[u8], at: usize) -> Option<u16> {
    let w = b.get(at..at + 2)?;
    Some(u16::from_le_bytes([w[0], w[1]]))
}

/// Reads the PPI header at the start of `b`.
pub fn parse(b: &[u8]) -> Result<Ppi<'_>, Error> {
    let fixed = b.get(..8).ok_or(Error::Short)?;
    if fixed[0] != 0 {
        return Err(Error::Version);
    }
    let aligned = fixed[1] & 0x01 != 0;
    let len = usize::from(u16::from_le_bytes([fixed[2], fixed[3]]));
    let dlt = u32::from_le_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
    let header = b.get(..len).ok_or(Error::Short)?;
    let mut frame = &b[len..];
    let mut bad_fcs = false;
    let mut pos = 8;
    while let (Some(kind), Some(flen)) = (le16(header, pos), le16(header, pos + 2)) {
        let data = header
            .get(pos + 4..pos + 4 + usize::from(flen))
            .ok_or(Error::Short)?;
        if kind == FIELD_80211_COMMON
            && let Some(flags) = le16(data, 8)
        {
            if flags & COMMON_FCS != 0 {
                frame = &frame[..frame.len().saturating_sub(4)];
            }
            bad_fcs = flags & COMMON_BAD_FCS != 0;
        }
        pos += 4 + usize::from(flen);
        if aligned {
            pos = pos.next_multiple_of(4);
        }
    }
    Ok(Ppi {
        dlt,
        frame,
        bad_fcs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ppi(fields: &[(u16, Vec<u8>)], dlt: u32, body: &[u8]) -> Vec<u8> {
        let mut f = vec![0, 0, 0, 0];
        f.extend_from_slice(&dlt.to_le_bytes());
        for (kind, data) in fields {
            f.extend_from_slice(&kind.to_le_bytes());
            f.extend_from_slice(&(data.len() as u16).to_le_bytes());
            f.extend_from_slice(data);
        }
        let len = f.len() as u16;
        f[2..4].copy_from_slice(&len.to_le_bytes());
        f.extend_from_slice(body);
        f
    }

    fn common(flags: u16) -> Vec<u8> {
        let mut d = vec![0; 8];
        d.extend_from_slice(&flags.to_le_bytes());
        d.extend_from_slice(&[0; 10]);
        d
    }

    #[test]
    fn fields_and_fcs() {
        let f = ppi(&[(30002, vec![1, 2, 3]), (2, common(1))], 105, b"wifi1234");
        let p = parse(&f).unwrap();
        assert_eq!((p.dlt, p.frame, p.bad_fcs), (105, &b"wifi"[..], false));
        let f = ppi(&[(2, common(4))], 105, b"wifi1234");
        let p = parse(&f).unwrap();
        assert_eq!((p.frame, p.bad_fcs), (&b"wifi1234"[..], true));
        let f = ppi(&[], 1, b"eth");
        assert_eq!(parse(&f).unwrap().frame, b"eth");
    }

    #[test]
    fn bad_headers() {
        let f = ppi(&[(2, common(1))], 105, b"x");
        assert_eq!(parse(&f[..7]), Err(Error::Short));
        assert_eq!(parse(&f[..20]), Err(Error::Short));
        let mut v = f.clone();
        v[0] = 1;
        assert_eq!(parse(&v), Err(Error::Version));
        // A field claiming more than the header holds.
        let mut v = f.clone();
        v[10] = 0xff;
        assert_eq!(parse(&v), Err(Error::Short));
        for n in 0..f.len() {
            let _ = parse(&f[..n]);
        }
    }
}
