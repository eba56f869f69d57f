//! TLS hello parsing on arbitrary bytes.
//!
//! Input: one control byte choosing how the rest is chunked, then the
//! stream bytes. The stream is fed to a `HandshakeStream` in those chunks
//! and, separately, in one piece: both must give the same events (record
//! and message reassembly does not depend on segment boundaries). Then
//! `flush_truncated`, and every parse function directly on the bytes and
//! on every prefix length the control byte picks.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tlsready::wire::tls::{
    self, Event, HS_CLIENT_HELLO, HS_SERVER_HELLO, HandshakeStream, MAX_HANDSHAKE_LEN,
    MAX_RECORD_LEN,
};

/// Upper bound on what a stream may hold between calls: one SSLv2 record
/// (15-bit length) or one TLS record, plus one handshake message.
const MAX_BUFFERED: usize = 2 + 0x7fff + 5 + MAX_RECORD_LEN + 4 + MAX_HANDSHAKE_LEN;

fn feed_chunked(data: &[u8], ctl: u8) -> (Vec<Event>, HandshakeStream) {
    let mut s = HandshakeStream::new();
    let mut ev = Vec::new();
    let mut state = u32::from(ctl) | 1;
    let mut pos = 0;
    while pos < data.len() {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let max = usize::from(ctl & 0x3f) + 1;
        let step = 1 + (state >> 16) as usize % max;
        let end = (pos + step).min(data.len());
        s.feed(&data[pos..end], &mut |e| ev.push(e));
        assert!(s.buffered() <= MAX_BUFFERED, "buffered {}", s.buffered());
        pos = end;
    }
    (ev, s)
}

fuzz_target!(|input: &[u8]| {
    let Some((&ctl, data)) = input.split_first() else {
        return;
    };

    // Stream: chunked vs. whole must agree.
    let (mut chunked, mut s1) = feed_chunked(data, ctl);
    let mut whole = Vec::new();
    let mut s2 = HandshakeStream::new();
    s2.feed(data, &mut |e| whole.push(e));
    assert_eq!(chunked, whole);
    s1.flush_truncated(&mut |e| chunked.push(e));
    s2.flush_truncated(&mut |e| whole.push(e));
    assert_eq!(chunked, whole);
    assert_eq!(s1.buffered(), 0);
    // A flushed stream is over: more bytes change nothing.
    s1.feed(data, &mut |_| panic!("event after flush_truncated"));
    for e in &whole {
        if let Event::ClientHello(ch) = e {
            let _ = ch.max_version();
        }
    }

    // Parsers directly, on the bytes and on a prefix.
    let cut = data.len().saturating_sub(usize::from(ctl));
    for b in [data, &data[..cut]] {
        if let Some(ch) = tls::parse_client_hello(b, 0x0301) {
            let _ = ch.max_version();
        }
        if let Some(sh) = tls::parse_server_hello(b) {
            let _ = sh.version();
        }
        let _ = tls::parse_sslv2_client_hello(b);
        let _ = tls::parse_sslv2_server_hello(b);
        for hs in [None, Some(HS_CLIENT_HELLO), Some(HS_SERVER_HELLO)] {
            let _ = tls::classify_start(b, hs);
        }
        if let Some((at, _)) = tls::find_hello_start(b) {
            assert!(at < b.len());
        }
    }
    if ctl & 0xc0 == 0xc0 {
        let _ = tls::certificate_names(data);
    }
    let _ = tlsready::text::escape_name(data);
});
