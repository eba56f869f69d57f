//! Record framing and the handshake stream: one direction's reassembled
//! bytes in, [`Event`]s out. Records may span segments, handshake messages
//! may span records, and several messages may share a record.

use std::sync::Arc;

use super::cert::certificate_message_names;
use super::hello::{ClientHello, ServerHello, parse_client_hello, parse_server_hello};
use super::sslv2::{parse_sslv2_client_hello, parse_sslv2_server_hello};
use crate::model::version::TlsVersion;

/// Largest TLS record body accepted (2^14 plus the 2048 bytes of expansion RFC 5246 allows).
pub const MAX_RECORD_LEN: usize = 16384 + 2048;
/// Largest handshake message reassembled; larger ones are parsed as truncated.
pub const MAX_HANDSHAKE_LEN: usize = 64 * 1024;

/// Record content types.
const CT_CCS: u8 = 20;
const CT_ALERT: u8 = 21;
const CT_HANDSHAKE: u8 = 22;
const CT_APPDATA: u8 = 23;
const CT_HEARTBEAT: u8 = 24;

/// Handshake message types.
pub const HS_CLIENT_HELLO: u8 = 1;
/// ServerHello handshake type.
pub const HS_SERVER_HELLO: u8 = 2;
const HS_CERTIFICATE: u8 = 11;
const HS_SERVER_HELLO_DONE: u8 = 14;

/// What a direction's stream told us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A ClientHello.
    ClientHello(Box<ClientHello>),
    /// A ServerHello (HelloRetryRequests included: check `is_hrr`).
    ServerHello(Box<ServerHello>),
    /// The leaf certificate's subject CN and DNS SANs, escaped.
    Certificate(Arc<[String]>),
    /// ServerHelloDone: the server's plaintext flight is over (TLS <= 1.2).
    ServerHelloDone,
    /// A plaintext alert (level, description).
    Alert(u8, u8),
    /// ChangeCipherSpec or application data: later records are encrypted.
    Encrypted,
    /// The bytes are not TLS (first record header invalid).
    NotTls,
}

/// How a buffer's start relates to a TLS record or SSLv2 hello.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// A plausible TLS record header.
    Tls,
    /// A plausible SSLv2-format hello (2-byte header).
    Sslv2,
    /// Not TLS.
    No,
    /// Too few bytes to tell.
    NeedMore,
}

/// Does `b` start with a TLS record (or SSLv2 hello) that a stream could
/// begin with? `hs` narrows it to a handshake record carrying that message type.
pub fn classify_start(b: &[u8], hs: Option<u8>) -> Start {
    let Some(&first) = b.first() else {
        return Start::NeedMore;
    };
    if first & 0x80 != 0 {
        // SSLv2 record: 2-byte length, msg type 1 (client) or 4 (server).
        if b.len() < 5 {
            return Start::NeedMore;
        }
        let len = (usize::from(first & 0x7f) << 8) | usize::from(b[1]);
        let ok_type = match hs {
            Some(HS_CLIENT_HELLO) => b[2] == 1,
            Some(HS_SERVER_HELLO) => b[2] == 4,
            _ => b[2] == 1 || b[2] == 4,
        };
        let ver = u16::from_be_bytes([b[3], b[4]]);
        let ver_ok = if b[2] == 1 {
            ver == 0x0002 || (0x0300..=0x0304).contains(&ver)
        } else if b.len() >= 7 {
            let v = u16::from_be_bytes([b[5], b[6]]);
            v == 0x0002 || (0x0300..=0x0304).contains(&v)
        } else {
            return Start::NeedMore;
        };
        return if ok_type && ver_ok && len >= 9 {
            Start::Sslv2
        } else {
            Start::No
        };
    }
    if b.len() < 5 {
        return Start::NeedMore;
    }
    let ct = b[0];
    let len = usize::from(u16::from_be_bytes([b[3], b[4]]));
    if !(CT_CCS..=CT_HEARTBEAT).contains(&ct) || b[1] != 3 || b[2] > 4 || len > MAX_RECORD_LEN {
        return Start::No;
    }
    let Some(t) = hs else { return Start::Tls };
    if ct != CT_HANDSHAKE || len < 4 {
        return Start::No;
    }
    // Check the bytes there are: handshake type, a length < 2^16, and a
    // hello body starting with version 3.x (or a TLS 1.3 draft 0x7fNN).
    let ok = |i: usize, f: &dyn Fn(u8) -> bool| b.get(i).is_none_or(|&x| f(x));
    if !ok(5, &|x| x == t)
        || !ok(6, &|x| x == 0)
        || !ok(9, &|x| x == 3 || (t == HS_SERVER_HELLO && x == 0x7f))
    {
        return Start::No;
    }
    if b.len() < 10 {
        Start::NeedMore
    } else {
        Start::Tls
    }
}

/// First possible ClientHello or ServerHello record in `b`: its offset,
/// and whether it is certain (false: a possible start cut by the end of `b`).
pub fn find_hello_start(b: &[u8]) -> Option<(usize, bool)> {
    let mut i = 0;
    while let Some(p) = b.get(i..).and_then(|s| memchr::memchr(CT_HANDSHAKE, s)) {
        let at = i + p;
        let rest = b.get(at..).unwrap_or_default();
        let kinds = [
            classify_start(rest, Some(HS_CLIENT_HELLO)),
            classify_start(rest, Some(HS_SERVER_HELLO)),
        ];
        if kinds.contains(&Start::Tls) {
            return Some((at, true));
        }
        if kinds.contains(&Start::NeedMore) {
            return Some((at, false));
        }
        i = at + 1;
    }
    None
}

/// Per-direction TLS record and handshake reassembler.
#[derive(Debug, Default)]
pub struct HandshakeStream {
    /// Stream bytes not yet forming a whole record.
    buf: Vec<u8>,
    /// Handshake bytes not yet forming a whole message.
    hs: Vec<u8>,
    st: State,
}

/// Everything but the buffers, so that messages can be handled while the
/// buffers are borrowed.
#[derive(Debug, Default)]
struct State {
    hs_record_version: u16,
    /// A HelloRetryRequest went by: a compatibility ChangeCipherSpec may
    /// follow before the real ServerHello, so CCS does not end plaintext.
    after_hrr: bool,
    encrypted: bool,
    failed: bool,
}

impl State {
    fn finished(&self) -> bool {
        self.encrypted || self.failed
    }

    fn message(&mut self, t: u8, msg: &[u8], cut: bool, out: &mut dyn FnMut(Event)) {
        match t {
            HS_CLIENT_HELLO => {
                if let Some(mut ch) = parse_client_hello(msg, self.hs_record_version) {
                    ch.truncated |= cut;
                    out(Event::ClientHello(Box::new(ch)));
                }
            }
            HS_SERVER_HELLO => {
                if let Some(mut sh) = parse_server_hello(msg) {
                    sh.truncated |= cut;
                    let v13 = TlsVersion(sh.version()).is_tls13();
                    let hrr = sh.is_hrr;
                    self.after_hrr |= hrr;
                    out(Event::ServerHello(Box::new(sh)));
                    if v13 && !hrr {
                        // Everything after a TLS 1.3 ServerHello is encrypted.
                        self.encrypted = true;
                        out(Event::Encrypted);
                    }
                }
            }
            HS_CERTIFICATE => out(Event::Certificate(certificate_message_names(msg))),
            HS_SERVER_HELLO_DONE => out(Event::ServerHelloDone),
            _ => {}
        }
    }

    /// Parses the whole messages at the front of `hs`; returns the bytes used.
    fn messages(&mut self, hs: &[u8], out: &mut dyn FnMut(Event)) -> usize {
        let mut pos = 0;
        while let Some(h) = hs.get(pos..pos + 4) {
            let t = h[0];
            let len = (usize::from(h[1]) << 16) | (usize::from(h[2]) << 8) | usize::from(h[3]);
            if len > MAX_HANDSHAKE_LEN {
                // Hostile or garbage length: report what we have, stop.
                self.message(t, hs.get(pos + 4..).unwrap_or_default(), true, out);
                self.failed = true;
                return hs.len();
            }
            let Some(msg) = hs.get(pos + 4..pos + 4 + len) else {
                break;
            };
            pos += 4 + len;
            self.message(t, msg, false, out);
            if self.finished() {
                return hs.len();
            }
        }
        pos
    }

    /// Parses the whole records at the front of `b`, appending handshake
    /// bytes to `hs`; returns the bytes used.
    fn records(&mut self, b: &[u8], hs: &mut Vec<u8>, out: &mut dyn FnMut(Event)) -> usize {
        let mut pos = 0;
        while !self.finished() {
            let rest = b.get(pos..).unwrap_or_default();
            if rest.is_empty() {
                break;
            }
            match classify_start(rest, None) {
                Start::NeedMore => break,
                Start::No => {
                    self.failed = true;
                    out(Event::NotTls);
                }
                Start::Sslv2 => {
                    let len = (usize::from(rest[0] & 0x7f) << 8) | usize::from(rest[1]);
                    let Some(msg) = rest.get(2..2 + len) else {
                        break;
                    };
                    if let Some(ch) = parse_sslv2_client_hello(msg) {
                        out(Event::ClientHello(Box::new(ch)));
                    } else if let Some(sh) = parse_sslv2_server_hello(msg) {
                        out(Event::ServerHello(Box::new(sh)));
                    }
                    // Later SSLv2 messages are encrypted or irrelevant.
                    self.encrypted = true;
                    out(Event::Encrypted);
                    pos += 2 + len;
                }
                Start::Tls => {
                    let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
                    let Some(body) = rest.get(5..5 + len) else {
                        break;
                    };
                    let ct = rest[0];
                    pos += 5 + len;
                    match ct {
                        CT_HANDSHAKE => {
                            if hs.is_empty() {
                                self.hs_record_version = u16::from_be_bytes([rest[1], rest[2]]);
                                // The common case, a message in one record: no copy.
                                let used = self.messages(body, out);
                                hs.extend_from_slice(body.get(used..).unwrap_or_default());
                            } else {
                                hs.extend_from_slice(body);
                                let used = self.messages(hs, out);
                                hs.drain(..used.min(hs.len()));
                            }
                        }
                        CT_ALERT if body.len() == 2 => out(Event::Alert(body[0], body[1])),
                        CT_CCS if self.after_hrr => {}
                        // An alert of another length is encrypted.
                        CT_ALERT | CT_CCS | CT_APPDATA => {
                            self.encrypted = true;
                            out(Event::Encrypted);
                        }
                        _ => {}
                    }
                }
            }
        }
        pos
    }
}

impl HandshakeStream {
    /// A new stream positioned at a record boundary.
    pub fn new() -> Self {
        Self::default()
    }

    /// True once the stream is past its plaintext handshake or not TLS.
    pub fn finished(&self) -> bool {
        self.st.finished()
    }

    /// Bytes buffered (record and handshake reassembly).
    pub fn buffered(&self) -> usize {
        self.buf.len() + self.hs.len()
    }

    /// Memory held by the buffers.
    pub fn capacity(&self) -> usize {
        self.buf.capacity() + self.hs.capacity()
    }

    /// Back to a new stream, keeping the buffers' memory.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.hs.clear();
        self.st = State::default();
    }

    /// Feeds the next stream bytes; events go to `out`.
    pub fn feed(&mut self, data: &[u8], out: &mut dyn FnMut(Event)) {
        if self.finished() {
            return;
        }
        if self.buf.is_empty() {
            // Whole records straight from `data`; keep only the rest.
            let used = self.st.records(data, &mut self.hs, out);
            self.buf
                .extend_from_slice(data.get(used..).unwrap_or_default());
        } else {
            self.buf.extend_from_slice(data);
            let used = self.st.records(&self.buf, &mut self.hs, out);
            self.buf.drain(..used.min(self.buf.len()));
        }
        if self.finished() {
            self.buf.clear();
            self.hs.clear();
        }
    }

    /// At the end of the stream: a hello still being reassembled is parsed
    /// as truncated, so the facts before the cut are kept.
    pub fn flush_truncated(&mut self, out: &mut dyn FnMut(Event)) {
        if self.finished() {
            return;
        }
        // A record whose body was cut: take its handshake bytes as they are.
        let start = classify_start(&self.buf, None);
        if self.buf.len() > 5 && start == Start::Tls && self.buf[0] == CT_HANDSHAKE {
            if self.hs.is_empty() {
                self.st.hs_record_version = u16::from_be_bytes([self.buf[1], self.buf[2]]);
            }
            self.hs.extend_from_slice(&self.buf[5..]);
        } else if self.buf.len() > 2
            && start == Start::Sslv2
            && let Some(mut ch) = parse_sslv2_client_hello(&self.buf[2..])
        {
            ch.truncated = true;
            out(Event::ClientHello(Box::new(ch)));
        }
        if let Some((&t, rest)) = self.hs.split_first()
            && (t == HS_CLIENT_HELLO || t == HS_SERVER_HELLO)
            && rest.len() > 3
        {
            self.st.message(t, &rest[3..], true, out);
        }
        self.buf.clear();
        self.hs.clear();
        self.st.failed = true;
    }
}

#[cfg(test)]
mod tests {
    use super::super::hello::HRR_RANDOM;
    use super::*;

    /// A minimal ClientHello handshake message with the given extensions.
    fn client_hello_msg(version: u16, exts: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&version.to_be_bytes());
        body.extend_from_slice(&[7u8; 32]);
        body.push(0);
        body.extend_from_slice(&[0, 4, 0x13, 0x01, 0xc0, 0x2f]);
        body.extend_from_slice(&[1, 0]);
        let mut eb = Vec::new();
        for (t, d) in exts {
            eb.extend_from_slice(&t.to_be_bytes());
            eb.extend_from_slice(&(d.len() as u16).to_be_bytes());
            eb.extend_from_slice(d);
        }
        body.extend_from_slice(&(eb.len() as u16).to_be_bytes());
        body.extend_from_slice(&eb);
        let mut m = vec![HS_CLIENT_HELLO, 0, 0, 0];
        let l = body.len() as u32;
        m[1..4].copy_from_slice(&l.to_be_bytes()[1..]);
        m.extend_from_slice(&body);
        m
    }

    fn sni_ext(name: &str) -> (u16, Vec<u8>) {
        let mut d = Vec::new();
        d.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
        d.push(0);
        d.extend_from_slice(&(name.len() as u16).to_be_bytes());
        d.extend_from_slice(name.as_bytes());
        (0, d)
    }

    fn records(ct: u8, msg: &[u8], chunk: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for c in msg.chunks(chunk) {
            out.extend_from_slice(&[ct, 3, 1]);
            out.extend_from_slice(&(c.len() as u16).to_be_bytes());
            out.extend_from_slice(c);
        }
        out
    }

    fn collect(stream: &mut HandshakeStream, data: &[u8], step: usize) -> Vec<Event> {
        let mut ev = Vec::new();
        for c in data.chunks(step) {
            stream.feed(c, &mut |e| ev.push(e));
        }
        ev
    }

    #[test]
    fn client_hello_across_records_and_segments() {
        let msg = client_hello_msg(
            0x0303,
            &[
                sni_ext("mail.example.org"),
                (0x002b, vec![6, 0x0a, 0x0a, 3, 4, 3, 3]),
            ],
        );
        let wire = records(CT_HANDSHAKE, &msg, 17);
        for step in [1, 3, 7, 1000] {
            let mut s = HandshakeStream::new();
            let ev = collect(&mut s, &wire, step);
            let Some(Event::ClientHello(ch)) = ev.first() else {
                panic!("no hello at step {step}: {ev:?}");
            };
            assert_eq!(ch.sni.as_deref(), Some("mail.example.org"));
            assert_eq!(ch.supported_versions, vec![0x0a0a, 0x0304, 0x0303]);
            assert_eq!(ch.max_version(), 0x0304);
            assert_eq!(ch.best_version(), 0x0304);
            assert_eq!(ch.ciphers, vec![0x1301, 0xc02f]);
            assert_eq!(ch.extensions, vec![0, 0x2b]);
            assert!(!ch.truncated);
        }
    }

    #[test]
    fn several_messages_in_one_record() {
        let mut msg = Vec::new();
        // ServerHello TLS 1.2 + ServerHelloDone in one record.
        let mut sh = vec![3, 3];
        sh.extend_from_slice(&[1u8; 32]);
        sh.extend_from_slice(&[0, 0xc0, 0x2f, 0]);
        msg.extend_from_slice(&[HS_SERVER_HELLO, 0, 0, sh.len() as u8]);
        msg.extend_from_slice(&sh);
        msg.extend_from_slice(&[HS_SERVER_HELLO_DONE, 0, 0, 0]);
        let mut s = HandshakeStream::new();
        let ev = collect(&mut s, &records(CT_HANDSHAKE, &msg, 4000), 5);
        assert!(
            matches!(&ev[0], Event::ServerHello(sh) if sh.version() == 0x0303 && sh.cipher == Some(0xc02f))
        );
        assert_eq!(ev[1], Event::ServerHelloDone);
    }

    #[test]
    fn hello_retry_request_is_flagged() {
        let mut sh = vec![3, 3];
        sh.extend_from_slice(&HRR_RANDOM);
        sh.extend_from_slice(&[0, 0x13, 0x01, 0, 0, 6, 0, 0x2b, 0, 2, 3, 4]);
        let parsed = parse_server_hello(&sh).unwrap();
        assert!(parsed.is_hrr);
        assert_eq!(parsed.version(), 0x0304);
        let mut s = HandshakeStream::new();
        let mut msg = vec![HS_SERVER_HELLO, 0, 0, sh.len() as u8];
        msg.extend_from_slice(&sh);
        let ev = collect(&mut s, &records(CT_HANDSHAKE, &msg, 100), 100);
        // After an HRR the stream stays in plaintext, waiting for the real one.
        assert_eq!(ev.len(), 1);
        assert!(!s.finished());
    }

    #[test]
    fn sslv2_client_hello() {
        // SSLv2 CLIENT-HELLO: version 0x0301, 2 cipher specs, 16-byte challenge.
        let mut m = vec![1, 3, 1, 0, 6, 0, 0, 0, 16];
        m.extend_from_slice(&[0, 0, 0x2f, 0x07, 0x00, 0xc0]);
        m.extend_from_slice(&[9u8; 16]);
        let mut wire = vec![0x80, m.len() as u8];
        wire.extend_from_slice(&m);
        assert_eq!(classify_start(&wire, Some(HS_CLIENT_HELLO)), Start::Sslv2);
        let mut s = HandshakeStream::new();
        let ev = collect(&mut s, &wire, 3);
        let Some(Event::ClientHello(ch)) = ev.first() else {
            panic!("{ev:?}")
        };
        assert!(ch.sslv2_format);
        assert_eq!(ch.legacy_version, 0x0301);
        assert_eq!(ch.ciphers, vec![0x2f, 0x0700c0]);
    }

    #[test]
    fn truncated_hello_keeps_facts() {
        let msg = client_hello_msg(0x0301, &[sni_ext("cut.example"), (0x0017, vec![])]);
        let wire = records(CT_HANDSHAKE, &msg, 4000);
        let cut = &wire[..wire.len() - 2];
        let mut s = HandshakeStream::new();
        let mut ev = collect(&mut s, cut, 10);
        assert!(ev.is_empty());
        s.flush_truncated(&mut |e| ev.push(e));
        let Some(Event::ClientHello(ch)) = ev.first() else {
            panic!("{ev:?}")
        };
        assert!(ch.truncated);
        assert_eq!(ch.sni.as_deref(), Some("cut.example"));
        assert_eq!(ch.legacy_version, 0x0301);
    }

    #[test]
    fn hostile_lengths_do_not_panic() {
        let mut wire = vec![
            CT_HANDSHAKE,
            3,
            1,
            0,
            8,
            HS_CLIENT_HELLO,
            0xff,
            0xff,
            0xff,
            3,
            3,
            0,
            0,
        ];
        wire.extend_from_slice(&[0xff; 40]);
        let mut s = HandshakeStream::new();
        let _ = collect(&mut s, &wire, 1);
        s.flush_truncated(&mut |_| {});
        for n in 0..64 {
            let _ = parse_client_hello(&[3; 64][..n], 0x0301);
            let _ = parse_server_hello(&[3; 64][..n]);
            let _ = parse_sslv2_client_hello(&[1; 64][..n]);
            let _ = parse_sslv2_server_hello(&[4; 64][..n]);
        }
    }

    #[test]
    fn not_tls_and_scan() {
        let mut s = HandshakeStream::new();
        let ev = collect(&mut s, b"GET / HTTP/1.1\r\n", 100);
        assert_eq!(ev, vec![Event::NotTls]);
        let msg = client_hello_msg(0x0303, &[]);
        let mut buf = b"\x05\x01\x00junk".to_vec();
        let at = buf.len();
        buf.extend_from_slice(&records(CT_HANDSHAKE, &msg, 4000));
        assert_eq!(find_hello_start(&buf), Some((at, true)));
        // A ServerHello type byte after a ClientHello-looking header is a
        // possible ServerHello start, cut short: not certain.
        assert_eq!(
            find_hello_start(b"\x16\x03\x01\x00\x05\x02"),
            Some((0, false))
        );
        assert_eq!(find_hello_start(b"\x16\x03\x01\x00\x05\x07\x00"), None);
        // Cut after the record header: possible, not certain.
        assert_eq!(find_hello_start(b"xx\x16\x03\x01"), Some((2, false)));
    }
}
