//! Cipher suite names: IANA names through `tls-parser`, SSLv2 cipher
//! kinds by hand.

use std::borrow::Cow;

use tls_parser::TlsCipherSuite;

/// IANA name of a cipher suite, or `0xNNNN` when unknown.
pub fn cipher_name(id: u32) -> Cow<'static, str> {
    if id > 0xffff {
        return sslv2_cipher_name(id);
    }
    match TlsCipherSuite::from_id(id as u16) {
        Some(c) => c.name.into(),
        None => format!("0x{id:04x}").into(),
    }
}

fn sslv2_cipher_name(id: u32) -> Cow<'static, str> {
    match id {
        0x010080 => "SSL2_RC4_128_WITH_MD5".into(),
        0x020080 => "SSL2_RC4_128_EXPORT40_WITH_MD5".into(),
        0x030080 => "SSL2_RC2_128_CBC_WITH_MD5".into(),
        0x040080 => "SSL2_RC2_128_CBC_EXPORT40_WITH_MD5".into(),
        0x050080 => "SSL2_IDEA_128_CBC_WITH_MD5".into(),
        0x060040 => "SSL2_DES_64_CBC_WITH_MD5".into(),
        0x0700c0 => "SSL2_DES_192_EDE3_CBC_WITH_MD5".into(),
        _ => format!("0x{id:06x}").into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(cipher_name(0x1301), "TLS_AES_128_GCM_SHA256");
        assert_eq!(cipher_name(0x0700c0), "SSL2_DES_192_EDE3_CBC_WITH_MD5");
        assert_eq!(cipher_name(0xfefe), "0xfefe");
    }
}
