//! Cutting a capture into chunks: the file's head parsed, then a record
//! boundary looked for from offsets in arbitrary bytes. Never a panic;
//! a boundary found lies within the bytes given (or is the file's end).
//!
//! Input: the file's bytes (its head is what `Layout::parse` reads).

#![no_main]

use libfuzzer_sys::fuzz_target;
use tlsready::input::layout::Layout;

fuzz_target!(|data: &[u8]| {
    let Some(layout) = Layout::parse(data) else {
        return;
    };
    let len = data.len() as u64;
    assert!(layout.first_record() <= len.max(24));
    // As the planner cuts: at fractions of the file, and at the first
    // offsets (the head's edge).
    let cuts = (0..16).map(|k| data.len() * k / 16).chain(0..64);
    for at in cuts {
        let Some(b) = data.get(at..) else { continue };
        if let Some(s) = layout.find_record(b, at as u64, len) {
            assert!(s >= at as u64 && s <= len, "{s} outside {at}..{len}");
        }
    }
});
