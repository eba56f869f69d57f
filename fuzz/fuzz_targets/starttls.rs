//! The plaintext mail dialogue on arbitrary two-sided text.
//!
//! Input: a list of turns, each a header byte (top bit: side, low 7 bits:
//! length) and that many bytes. The turns are fed to a `Dialogue` as they
//! are and, separately, byte by byte: both must end in the same state (line
//! splitting does not depend on segment boundaries).

#![no_main]

use libfuzzer_sys::fuzz_target;
use tlsready::wire::mail::{Dialogue, MAX_LINE, MAX_TEXT};

fuzz_target!(|data: &[u8]| {
    let mut turns = Vec::new();
    let mut rest = data;
    while let Some((&h, tail)) = rest.split_first() {
        let n = usize::from(h & 0x7f).min(tail.len());
        let (text, tail) = tail.split_at(n);
        turns.push((usize::from(h >> 7), text));
        rest = tail;
    }

    let mut d = Dialogue::default();
    let mut bytewise = Dialogue::default();
    for (side, text) in &turns {
        d.text(*side, text);
        for b in text.chunks(1) {
            bytewise.text(*side, b);
        }
    }
    // Arbitrary side numbers are folded to 0/1, never out of bounds.
    d.text(usize::MAX, b"x\r\n");
    bytewise.text(usize::MAX, b"x\r\n");
    for side in [0, 1] {
        d.end(side);
        bytewise.end(side);
    }
    assert_eq!(format!("{d:?}"), format!("{bytewise:?}"));

    let _ = d.client_side().map(|s| assert!(s < 2));
    let _ = d.starttls_label();
    for name in [&d.banner_host, &d.client_helo].into_iter().flatten() {
        // Names are escaped and come from one cut line at most.
        assert!(name.len() <= 4 * MAX_LINE);
        assert!(!name.chars().any(char::is_control));
    }
    assert!(d.commands as usize <= 2 * MAX_TEXT + 1);
});
