//! NFLOG (LINKTYPE_NFLOG, 239): packets logged by Linux netfilter's NFLOG
//! target or nftables' `log group`, as `tcpdump -i nflog:N` writes them.
//!
//! A 4-byte header (address family, version, resource id), then TLVs whose
//! length and type are in the byte order of the capturing host; the
//! NFULA_PAYLOAD TLV holds the packet from its IP header. The byte order is
//! told from the first TLV (types are small numbers).

/// Why an NFLOG frame gave no packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// A header or TLV cut short.
    Short,
    /// No payload TLV, or a family other than IPv4/IPv6.
    NoPayload,
}

const NFULA_PAYLOAD: u16 = 9;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

/// The logged IP packet of an NFLOG frame.
pub fn payload(b: &[u8]) -> Result<&[u8], Error> {
    let h = b.get(..4).ok_or(Error::Short)?;
    if h[0] != AF_INET && h[0] != AF_INET6 {
        return Err(Error::NoPayload);
    }
    let mut pos = 4;
    let mut big_endian = None;
    while let Some(t) = b.get(pos..pos + 4) {
        let be = *big_endian.get_or_insert_with(|| {
            let le_type = u16::from_le_bytes([t[2], t[3]]) & 0x7fff;
            let be_type = u16::from_be_bytes([t[2], t[3]]) & 0x7fff;
            le_type >= 0x100 && be_type < 0x100
        });
        let read = |x: u8, y: u8| {
            if be {
                u16::from_be_bytes([x, y])
            } else {
                u16::from_le_bytes([x, y])
            }
        };
        let len = usize::from(read(t[0], t[1]));
        let kind = read(t[2], t[3]) & 0x7fff;
        if len < 4 {
            return Err(Error::Short);
        }
        let value = b.get(pos + 4..pos + len).ok_or(Error::Short)?;
        if kind == NFULA_PAYLOAD {
            return Ok(value);
        }
        pos += len.next_multiple_of(4);
    }
    Err(Error::NoPayload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlv(be: bool, kind: u16, value: &[u8]) -> Vec<u8> {
        let len = (value.len() + 4) as u16;
        let mut v = if be {
            [len.to_be_bytes(), kind.to_be_bytes()].concat()
        } else {
            [len.to_le_bytes(), kind.to_le_bytes()].concat()
        };
        v.extend_from_slice(value);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    #[test]
    fn payload_after_other_tlvs_either_byte_order() {
        for be in [false, true] {
            let mut f = vec![AF_INET, 0, 0, 5];
            f.extend(tlv(be, 1, &[0x08, 0x00, 3, 0])); // packet header
            f.extend(tlv(be, 10, b"prefix\0")); // prefix, padded
            f.extend(tlv(be, NFULA_PAYLOAD, &[0x45, 1, 2, 3, 4]));
            assert_eq!(payload(&f), Ok(&[0x45, 1, 2, 3, 4][..]), "be={be}");
            // The last 3 bytes are padding.
            for n in 0..f.len() - 3 {
                assert!(payload(&f[..n]).is_err(), "{n}");
            }
        }
    }

    #[test]
    fn no_payload() {
        let mut f = vec![AF_INET6, 0, 0, 5];
        f.extend(tlv(false, 1, &[0x86, 0xdd, 3, 0]));
        assert_eq!(payload(&f), Err(Error::NoPayload));
        assert_eq!(payload(&[7, 0, 0, 0]), Err(Error::NoPayload));
        // A zero-length TLV would loop forever: it is an error.
        assert_eq!(payload(&[AF_INET, 0, 0, 0, 0, 0, 9, 0]), Err(Error::Short));
    }
}
