//! What a TCP segment's flags and length say, written once for the reader
//! thread, the flow table and the connection.

use crate::wire::decode::{Segment, flags};

/// No payload, neither captured nor lost to the snap length.
pub fn no_data(seg: &Segment<'_>) -> bool {
    seg.payload.is_empty() && seg.wire_len == 0
}

/// A bare ACK: no payload and no SYN, FIN or RST. It carries nothing to
/// reassemble or parse.
pub fn bare_ack(seg: &Segment<'_>) -> bool {
    no_data(seg) && seg.flags & (flags::SYN | flags::FIN | flags::RST) == 0
}

/// A SYN without ACK: a client opens a connection.
pub fn pure_syn(seg: &Segment<'_>) -> bool {
    seg.flags & (flags::SYN | flags::ACK) == flags::SYN
}

/// Can this segment start tracking an unknown connection? A SYN or
/// payload; an ACK, FIN or RST alone tells nothing.
pub fn may_open(seg: &Segment<'_>) -> bool {
    !seg.payload.is_empty() || seg.flags & flags::SYN != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(fl: u8, payload: &'static [u8], wire_len: u32) -> Segment<'static> {
        Segment {
            src: "10.0.0.1".parse().unwrap(),
            dst: "10.0.0.2".parse().unwrap(),
            sport: 1,
            dport: 2,
            seq: 0,
            ack: 0,
            flags: fl,
            payload,
            wire_len,
        }
    }

    #[test]
    fn rules() {
        assert!(bare_ack(&seg(flags::ACK, b"", 0)));
        assert!(
            !bare_ack(&seg(flags::ACK, b"", 10)),
            "payload lost to the snap length"
        );
        assert!(!bare_ack(&seg(flags::ACK | flags::FIN, b"", 0)));
        assert!(!bare_ack(&seg(flags::ACK, b"x", 1)));
        assert!(pure_syn(&seg(flags::SYN, b"", 0)));
        assert!(!pure_syn(&seg(flags::SYN | flags::ACK, b"", 0)));
        assert!(may_open(&seg(flags::SYN | flags::ACK, b"", 0)));
        assert!(!may_open(&seg(flags::FIN | flags::ACK, b"", 0)));
        assert!(!may_open(&seg(flags::ACK, b"", 40)));
    }
}
