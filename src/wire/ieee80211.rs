//! IEEE 802.11 frames (LINKTYPE_IEEE802_11, 105): the MSDU of a data or
//! QoS data frame, through its LLC/SNAP header, as an ether type and payload.
//!
//! Any To/From-DS combination (the fourth address when both are set),
//! the QoS control field and the HT control field (QoS frames with the
//! Order bit) are stepped over. Management and control frames, data
//! subtypes that carry no data (Null, CF-Ack/Poll only), protected
//! (encrypted) frames, aggregated MSDUs and payloads that are not
//! LLC/SNAP are [`Error::NoData`]: there is no IP packet to read.

/// Why a frame gave no payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The header is cut short.
    Short,
    /// A valid frame without a readable IP-bearing payload.
    NoData,
}

const FC_TODS_FROMDS: u8 = 0x03;
const FC_PROTECTED: u8 = 0x40;
const FC_ORDER: u8 = 0x80;
const QOS_AMSDU: u8 = 0x80;

/// The LLC/SNAP payload of a data frame: its ether type and the bytes
/// after it. `data_pad` (from radiotap) pads the MAC header to 4 bytes.
pub fn data(b: &[u8], data_pad: bool) -> Result<(u16, &[u8]), Error> {
    let fc = b.get(..2).ok_or(Error::Short)?;
    let (fc0, fc1) = (fc[0], fc[1]);
    let (version, kind, subtype) = (fc0 & 0x03, (fc0 >> 2) & 0x03, fc0 >> 4);
    // Version 0, type 2 (data), a subtype with data (bit 2 clear).
    if version != 0 || kind != 2 || subtype & 0x04 != 0 || fc1 & FC_PROTECTED != 0 {
        return Err(Error::NoData);
    }
    let mut len = 24;
    if fc1 & FC_TODS_FROMDS == FC_TODS_FROMDS {
        len += 6;
    }
    if subtype & 0x08 != 0 {
        let qos = *b.get(len).ok_or(Error::Short)?;
        if qos & QOS_AMSDU != 0 {
            return Err(Error::NoData);
        }
        len += 2;
        if fc1 & FC_ORDER != 0 {
            len += 4;
        }
    }
    if data_pad {
        len = len.next_multiple_of(4);
    }
    let body = b.get(len..).ok_or(Error::Short)?;
    match body {
        [
            0xaa,
            0xaa,
            0x03,
            0x00,
            0x00,
            0x00 | 0xf8,
            t0,
            t1,
            payload @ ..,
        ] => Ok((u16::from_be_bytes([*t0, *t1]), payload)),
        [0xaa, 0xaa, 0x03, ..] | [] if body.len() < 8 => Err(Error::Short),
        _ => Err(Error::NoData),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SNAP_IP: [u8; 10] = [0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00, 0x45, 0x00];

    fn frame(fc0: u8, fc1: u8, extra: usize) -> Vec<u8> {
        let mut f = vec![fc0, fc1];
        f.extend_from_slice(&[0; 22]);
        f.extend(std::iter::repeat_n(0x11, extra));
        f.extend_from_slice(&SNAP_IP);
        f
    }

    #[test]
    fn data_frames_every_ds_combination() {
        for fc1 in [0x00, 0x01, 0x02] {
            let f = frame(0x08, fc1, 0);
            assert_eq!(data(&f, false), Ok((0x0800, &[0x45, 0x00][..])), "{fc1}");
        }
        // To and From DS: a fourth address.
        let f = frame(0x08, 0x03, 6);
        assert_eq!(data(&f, false), Ok((0x0800, &[0x45, 0x00][..])));
    }

    #[test]
    fn qos_data_with_ht_control_and_padding() {
        let f = frame(0x88, 0x01, 2);
        assert_eq!(data(&f, false).unwrap().0, 0x0800);
        // Order bit on a QoS frame: 4 more bytes of HT control.
        let f = frame(0x88, 0x81, 6);
        assert_eq!(data(&f, false).unwrap().0, 0x0800);
        // Four addresses and QoS: 32-byte header, radiotap data padding
        // keeps it (a multiple of 4); three addresses and QoS: 26 -> 28.
        let f = frame(0x88, 0x03, 8);
        assert_eq!(data(&f, true).unwrap().0, 0x0800);
        let f = frame(0x88, 0x02, 4);
        assert_eq!(data(&f, true).unwrap().0, 0x0800);
        // An A-MSDU is not followed.
        let mut f = frame(0x88, 0x02, 2);
        f[24] = 0x80;
        assert_eq!(data(&f, false), Err(Error::NoData));
    }

    #[test]
    fn frames_without_data() {
        // Beacon (management), ACK (control), Null and QoS Null, protected.
        for (fc0, fc1) in [
            (0x80, 0),
            (0xd4, 0),
            (0x48, 0x01),
            (0xc8, 0x01),
            (0x08, 0x41),
        ] {
            assert_eq!(
                data(&frame(fc0, fc1, 2), false),
                Err(Error::NoData),
                "{fc0:x}"
            );
        }
        // Not SNAP (a plain LLC, e.g. spanning tree).
        let mut f = frame(0x08, 0x02, 0);
        f[24] = 0x42;
        f[25] = 0x42;
        assert_eq!(data(&f, false), Err(Error::NoData));
    }

    #[test]
    fn cut_headers() {
        let f = frame(0x88, 0x83, 12);
        // 36 header bytes, then SNAP needs 8.
        for n in 0..44 {
            assert!(data(&f[..n], true).is_err(), "{n}");
            let _ = data(&f[..n], false);
        }
        assert_eq!(data(&f[..24], false), Err(Error::Short));
    }
}
