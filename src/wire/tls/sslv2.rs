//! SSLv2-format hellos (a 2-byte record header; CLIENT-HELLO and
//! SERVER-HELLO), still sent by very old clients and scanners.

use super::cursor::Rd;
use super::hello::{ClientHello, ServerHello};

/// Parses an SSLv2 CLIENT-HELLO message (after the 2-byte record header).
pub fn parse_sslv2_client_hello(msg: &[u8]) -> Option<ClientHello> {
    let mut r = Rd(msg);
    if r.u8()? != 1 {
        return None;
    }
    let version = r.u16()?;
    let cs_len = usize::from(r.u16()?);
    let sid_len = usize::from(r.u16()?);
    let ch_len = usize::from(r.u16()?);
    if cs_len % 3 != 0 || sid_len > 32 || !(16..=32).contains(&ch_len) {
        return None;
    }
    let (cs, whole) = r.take_upto(cs_len);
    let ciphers = cs
        .chunks_exact(3)
        .map(|c| (u32::from(c[0]) << 16) | (u32::from(c[1]) << 8) | u32::from(c[2]))
        .collect();
    let truncated = !whole || r.take(sid_len + ch_len).is_none();
    Some(ClientHello {
        record_version: 0x0002,
        legacy_version: version,
        sslv2_format: true,
        ciphers,
        truncated,
        ..Default::default()
    })
}

/// Parses an SSLv2 SERVER-HELLO message (after the 2-byte record header).
pub fn parse_sslv2_server_hello(msg: &[u8]) -> Option<ServerHello> {
    let mut r = Rd(msg);
    if r.u8()? != 4 {
        return None;
    }
    let _hit = r.u8()?;
    let _cert_type = r.u8()?;
    let version = r.u16()?;
    let cert_len = usize::from(r.u16()?);
    let cs_len = usize::from(r.u16()?);
    let _cid_len = r.u16()?;
    let cipher = r.take(cert_len).and_then(|_| r.take(cs_len.min(3)));
    let cipher = cipher
        .filter(|c| c.len() == 3)
        .map(|c| (u32::from(c[0]) << 16) | (u32::from(c[1]) << 8) | u32::from(c[2]));
    Some(ServerHello {
        legacy_version: version,
        cipher,
        sslv2_format: true,
        truncated: cipher.is_none(),
        ..Default::default()
    })
}
