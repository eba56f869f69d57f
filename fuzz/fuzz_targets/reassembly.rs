//! TCP reassembly on arbitrary segment sequences.
//!
//! Input: an optional SYN, then operations of 7 bytes each: a kind byte,
//! a 32-bit sequence number (relative to a base, or absolute), a payload
//! length and the extra wire length of a snap-length cut. Payload bytes are
//! a function of their sequence number, so the output can be checked:
//! between two gaps, delivered bytes are consecutive in sequence space.
//! Also checked: nothing panics, delivered bytes never exceed the bytes
//! given, `delivered` matches the callback, and the out-of-order queue
//! stays within `MAX_PENDING` plus one segment.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tlsready::flow::assembler::{MAX_PENDING, Piece, Reassembler};

/// Byte at sequence number `s`: its low byte.
fn byte_at(s: u32) -> u8 {
    s as u8
}

struct Check {
    got: u64,
    last: Option<u8>,
}

impl Check {
    fn piece(&mut self, p: Piece<'_>) {
        match p {
            Piece::Data(d) => {
                assert!(!d.is_empty(), "empty Data piece");
                for &b in d {
                    if let Some(l) = self.last {
                        assert_eq!(b, l.wrapping_add(1), "bytes out of order");
                    }
                    self.last = Some(b);
                }
                self.got += d.len() as u64;
            }
            Piece::Gap => self.last = None,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, mut ops)) = data.split_first() else {
        return;
    };
    let base = u32::from_be_bytes([ctl, ctl ^ 0x5a, ctl.wrapping_mul(3), 0xff]);
    let mut r = Reassembler::new();
    if ctl & 1 == 1 {
        r.syn(base.wrapping_sub(1));
    }
    let mut chk = Check { got: 0, last: None };
    let mut given = 0u64;
    let mut buf = Vec::new();
    while ops.len() >= 7 {
        let (op, tail) = ops.split_at(7);
        ops = tail;
        let kind = op[0];
        let v = u32::from_be_bytes([op[1], op[2], op[3], op[4]]);
        let seq = if kind & 0x80 != 0 {
            v
        } else {
            // Mostly near the base: small offsets, backwards too.
            base.wrapping_add((v as i32 >> 12) as u32)
        };
        let len = match kind & 0x03 {
            0 => usize::from(op[5] & 0x0f),
            1 => usize::from(op[5]),
            2 => usize::from(u16::from_be_bytes([op[5], op[6]])) % 1500,
            _ => usize::from(u16::from_be_bytes([op[5], op[6]])),
        };
        let cut = if kind & 0x04 != 0 {
            u32::from(op[6])
        } else {
            0
        };
        match kind & 0x18 {
            0x18 => {
                let before = r.gaps;
                let skipped = r.skip_hole(&mut |p| chk.piece(p));
                assert_eq!(skipped, r.gaps == before + 1);
            }
            0x10 if kind & 0x20 != 0 => r.syn(seq),
            _ => {
                buf.clear();
                buf.extend((0..len as u32).map(|i| byte_at(seq.wrapping_add(i))));
                given += len as u64;
                r.segment(seq, &buf, len as u32 + cut, &mut |p| chk.piece(p));
            }
        }
        assert!(chk.got <= given, "delivered {} > given {given}", chk.got);
        assert_eq!(chk.got, r.delivered);
        assert!(
            r.pending_bytes() <= MAX_PENDING,
            "pending {} > {MAX_PENDING}",
            r.pending_bytes()
        );
    }
    while r.skip_hole(&mut |p| chk.piece(p)) {}
    assert_eq!(r.pending_bytes(), 0);
    assert!(chk.got <= given);
    assert_eq!(chk.got, r.delivered);
});
