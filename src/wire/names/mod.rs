//! Parsers for the clear-text traffic that names hosts: payload bytes in,
//! plain facts out. No state, no I/O, no knowledge of the pipeline; names
//! come out as the raw bytes sent (the caller escapes them, as it does SNI).
//!
//! | module | protocol | ports |
//! | --- | --- | --- |
//! | [`dhcp`] | DHCPv4 (host name, FQDN, vendor class, MAC, address) | UDP 67, 68 |
//! | [`dhcpv6`] | DHCPv6 (client FQDN, DUID, assigned addresses) | UDP 546, 547 |
//! | [`dns`] | DNS, mDNS, LLMNR answers (A, AAAA, PTR) | UDP 53, 5353, 5355 |
//! | [`nbns`] | NetBIOS name service registrations and answers | UDP 137 |
//! | [`kerberos`] | AS-REQ/TGS-REQ/AS-REP/TGS-REP/KRB-ERROR client principals | UDP and TCP 88 |
//! | [`http`] | plaintext HTTP request `User-Agent` and `Host` | any TCP |

pub mod dhcp;
pub mod dhcpv6;
pub mod dns;
pub mod frame;
pub mod http;
pub mod kerberos;
pub mod nbns;

/// An Ethernet (EUI-48) address.
pub type Mac = [u8; 6];

/// Appends the labels of an uncompressed DNS wire-format name (as DHCP
/// option 81 and DHCPv6 option 39 carry it) to `out`, dot-separated.
/// A truncated name (the "partial" form, without the final empty label)
/// is accepted. `None` when a label runs past the end or a compression
/// pointer appears (not allowed there).
pub(crate) fn wire_name(mut bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len());
    while let Some((&len, rest)) = bytes.split_first() {
        if len == 0 {
            break;
        }
        if len & 0xc0 != 0 {
            return None;
        }
        let label = rest.get(..usize::from(len))?;
        if !out.is_empty() {
            out.push(b'.');
        }
        out.extend_from_slice(label);
        bytes = &rest[usize::from(len)..];
    }
    Some(out)
}

/// Test helper: hex with `{N}` for N zero bytes (how the real packets of
/// the unit tests are written down compactly).
#[cfg(test)]
pub(crate) fn hexz(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('{') {
            let (n, r) = r.split_once('}').unwrap();
            out.resize(out.len() + n.parse::<usize>().unwrap(), 0);
            rest = r;
        } else if rest.starts_with(char::is_whitespace) {
            rest = rest.trim_start();
        } else {
            out.push(u8::from_str_radix(&rest[..2], 16).unwrap());
            rest = &rest[2..];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::wire_name;

    #[test]
    fn wire_names() {
        assert_eq!(
            wire_name(b"\x05host1\x07example\x03com\x00").as_deref(),
            Some(&b"host1.example.com"[..])
        );
        assert_eq!(wire_name(b"\x05host1").as_deref(), Some(&b"host1"[..]));
        assert_eq!(wire_name(b"").as_deref(), Some(&b""[..]));
        assert_eq!(wire_name(b"\x09host1"), None);
        assert_eq!(wire_name(b"\xc0\x0c"), None);
    }
}
