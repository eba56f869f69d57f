//! Radiotap headers (LINKTYPE_IEEE802_11_RADIOTAP, 127): the metadata a
//! wireless capture puts before each 802.11 frame.
//!
//! The header gives its own length; only the Flags field is read, for the
//! FCS-at-end, data-padding and bad-FCS bits. Fields are aligned to their
//! natural size from the start of the header, so reaching Flags means
//! walking every present bitmap word (bit 31 chains another) and aligning
//! TSFT, which precedes it, to 8 bytes. See <https://www.radiotap.org>.

/// A radiotap header's meaning for the frame after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Radiotap<'a> {
    /// The 802.11 frame, without its FCS when the header says one is there.
    pub frame: &'a [u8],
    /// The 802.11 header is padded to a multiple of 4 bytes.
    pub data_pad: bool,
    /// The frame failed its FCS check.
    pub bad_fcs: bool,
}

/// Why a radiotap header could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Shorter than its fixed part, or than the length it claims.
    Short,
    /// Not version 0.
    Version,
}

const PRESENT_TSFT: u32 = 1 << 0;
const PRESENT_FLAGS: u32 = 1 << 1;
const PRESENT_EXT: u32 = 1 << 31;
const FLAG_FCS: u8 = 0x10;
const FLAG_DATA_PAD: u8 = 0x20;
const FLAG_BAD_FCS: u8 = 0x40;

fn le32(b: &[u8], at: usize) -> Option<u32> {
    let w = b.get(at..at + 4)?;
    Some(u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
}

/// Reads the radiotap header at the start of `b`.
pub fn parse(b: &[u8]) -> Result<Radiotap<'_>, Error> {
    let fixed = b.get(..8).ok_or(Error::Short)?;
    if fixed[0] != 0 {
        return Err(Error::Version);
    }
    let len = usize::from(u16::from_le_bytes([fixed[2], fixed[3]]));
    let header = b.get(..len).ok_or(Error::Short)?;
    let first = le32(header, 4).ok_or(Error::Short)?;
    // Every bitmap word, then the fields.
    let mut pos = 4;
    loop {
        let word = le32(header, pos).ok_or(Error::Short)?;
        pos += 4;
        if word & PRESENT_EXT == 0 {
            break;
        }
    }
    let mut flags = 0;
    if first & PRESENT_TSFT != 0 {
        pos = pos.next_multiple_of(8) + 8;
    }
    if first & PRESENT_FLAGS != 0 {
        flags = *header.get(pos).ok_or(Error::Short)?;
    }
    let mut frame = &b[len..];
    if flags & FLAG_FCS != 0 {
        frame = &frame[..frame.len().saturating_sub(4)];
    }
    Ok(Radiotap {
        frame,
        data_pad: flags & FLAG_DATA_PAD != 0,
        bad_fcs: flags & FLAG_BAD_FCS != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_after_an_aligned_tsft_and_extended_bitmaps() {
        // Two bitmap words (the first chains with bit 31): fields start at
        // 12, TSFT aligned to 16, Flags at 24 (FCS at end), then a pad byte.
        let mut h = vec![0, 0, 0, 0];
        h.extend_from_slice(&(PRESENT_EXT | PRESENT_TSFT | PRESENT_FLAGS).to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
        h.extend_from_slice(&[0; 4]); // alignment padding
        h.extend_from_slice(&[1; 8]); // TSFT
        h.push(FLAG_FCS);
        h.push(0);
        let len = h.len() as u16;
        h[2..4].copy_from_slice(&len.to_le_bytes());
        h.extend_from_slice(b"frame");
        h.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        let r = parse(&h).unwrap();
        assert_eq!(r.frame, b"frame");
        assert!(!r.data_pad && !r.bad_fcs);
    }

    #[test]
    fn no_tsft_flags_right_after_the_bitmap() {
        let mut h = vec![0, 0, 10, 0];
        h.extend_from_slice(&PRESENT_FLAGS.to_le_bytes());
        h.extend_from_slice(&[FLAG_DATA_PAD | FLAG_BAD_FCS, 0]);
        h.extend_from_slice(b"xyz");
        let r = parse(&h).unwrap();
        assert_eq!(r.frame, b"xyz");
        assert!(r.data_pad && r.bad_fcs);
        // No flags at all: the frame is everything after the header.
        let h = [0, 0, 8, 0, 0, 0, 0, 0, 7, 7];
        assert_eq!(parse(&h).unwrap().frame, &[7, 7]);
    }

    #[test]
    fn bad_headers() {
        assert_eq!(parse(&[1, 0, 8, 0, 0, 0, 0, 0]), Err(Error::Version));
        assert_eq!(parse(&[0, 0, 9, 0, 0, 0, 0, 0]), Err(Error::Short));
        assert_eq!(parse(&[0, 0, 4, 0, 0, 0, 0, 0]), Err(Error::Short));
        // A bitmap chain running past the header.
        let h = [0, 0, 8, 0, 0, 0, 0, 0x80, 0, 0];
        assert_eq!(parse(&h), Err(Error::Short));
        // Flags announced but beyond the header's length.
        let h = [0, 0, 8, 0, 2, 0, 0, 0, 0x10];
        assert_eq!(parse(&h), Err(Error::Short));
        for n in 0..12 {
            let _ = parse(&[0, 0, 12, 0, 3, 0, 0, 0x80, 0, 0, 0, 0][..n]);
        }
    }
}
