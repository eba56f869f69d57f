//! DHCPv6 (RFC 8415): the client's FQDN (option 39, RFC 4704), its DUID
//! (with the MAC inside DUID-LLT and DUID-LL), vendor class, and the
//! addresses a server's Reply assigns (IA_NA). Read by [`options`], a
//! walk of RFC 8415's option format (code, length, value), where each
//! option must fit in its message. Relay-forward and relay-reply messages
//! are not unwrapped.

use std::net::Ipv6Addr;

use super::{Mac, wire_name};

const OPT_CLIENT_ID: u16 = 1;
const OPT_IA_NA: u16 = 3;
const OPT_IAADDR: u16 = 5;
const OPT_VENDOR_CLASS: u16 = 16;

/// The options of `bytes` (code, value); `None` when one runs past the end.
fn options(mut bytes: &[u8]) -> Option<Vec<(u16, &[u8])>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let code = u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?]);
        let len = usize::from(u16::from_be_bytes([*bytes.get(2)?, *bytes.get(3)?]));
        let value = bytes.get(4..4 + len)?;
        out.push((code, value));
        bytes = &bytes[4 + len..];
    }
    Some(out)
}

/// The facts of one DHCPv6 message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dhcp6 {
    /// Message type number (1 Solicit … 11 Information-request).
    pub msg_type: u8,
    /// Transaction id (24 bits).
    pub xid: u32,
    /// Client DUID (option 1), raw.
    pub duid: Vec<u8>,
    /// The link-layer address inside a DUID-LLT or DUID-LL of an Ethernet
    /// hardware type.
    pub client_mac: Option<Mac>,
    /// Option 39, client FQDN, as text.
    pub fqdn: Option<Vec<u8>>,
    /// Option 16, vendor class: the first vendor-class-data item.
    pub vendor_class: Option<Vec<u8>>,
    /// Addresses in IA_NA options (in a server's Reply: assigned).
    pub addresses: Vec<Ipv6Addr>,
}

/// Message types.
pub mod msg {
    /// Solicit.
    pub const SOLICIT: u8 = 1;
    /// Advertise.
    pub const ADVERTISE: u8 = 2;
    /// Request.
    pub const REQUEST: u8 = 3;
    /// Renew.
    pub const RENEW: u8 = 5;
    /// Reply.
    pub const REPLY: u8 = 7;
    /// Release.
    pub const RELEASE: u8 = 8;
    /// Information-request.
    pub const INFORMATION_REQUEST: u8 = 11;
}

const OPT_CLIENT_FQDN: u16 = 39;
const MAX_VALUE: usize = 255;

/// Parses a DHCPv6 client or server message. `None` for relay messages and
/// anything that does not decode.
pub fn parse(payload: &[u8]) -> Option<Dhcp6> {
    let t = *payload.first()?;
    if !(1..=11).contains(&t) {
        return None;
    }
    let mut d = Dhcp6 {
        msg_type: t,
        xid: u32::from_be_bytes([0, *payload.get(1)?, *payload.get(2)?, *payload.get(3)?]),
        ..Dhcp6::default()
    };
    for (code, v) in options(payload.get(4..)?)? {
        match code {
            OPT_CLIENT_ID => {
                d.client_mac = duid_mac(v);
                d.duid = v.get(..MAX_VALUE).unwrap_or(v).to_vec();
            }
            OPT_VENDOR_CLASS => {
                // enterprise number, then items of (length, data): the first.
                if let Some(&[a, b]) = v.get(4..6) {
                    let item = v.get(6..6 + usize::from(u16::from_be_bytes([a, b])))?;
                    d.vendor_class = Some(item.get(..MAX_VALUE).unwrap_or(item).to_vec());
                }
            }
            OPT_IA_NA => {
                // IAID, T1, T2, then options.
                for (sub, a) in options(v.get(12..)?)? {
                    if sub == OPT_IAADDR {
                        let a: [u8; 16] = a.get(..16)?.try_into().ok()?;
                        d.addresses.push(Ipv6Addr::from(a));
                    }
                }
            }
            OPT_CLIENT_FQDN => {
                // flags (1 byte), then the name in wire format, maybe partial.
                d.fqdn = v.get(1..).and_then(wire_name).filter(|n| !n.is_empty());
            }
            _ => {}
        }
    }
    Some(d)
}

/// The Ethernet address in a DUID-LLT (type 1: type, hardware type, time,
/// address) or DUID-LL (type 3: type, hardware type, address).
fn duid_mac(duid: &[u8]) -> Option<Mac> {
    let kind = u16::from_be_bytes([*duid.first()?, *duid.get(1)?]);
    let hw = u16::from_be_bytes([*duid.get(2)?, *duid.get(3)?]);
    let addr = match kind {
        1 => duid.get(8..)?,
        3 => duid.get(4..)?,
        _ => return None,
    };
    if hw != 1 {
        return None;
    }
    addr.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // From samples/identity/lan.pcap: ISC dhclient -6's Solicit (frame 35)
    // and dnsmasq's Reply (frame 42).
    const SOLICIT: &str = "015bb6140001000e0001000132a23db390b11c20034100060004001700180008000200000027001d000d4255434848414c54554e472d3704636f7270076578616d706c65000003000c1c20034100000e1000001518";
    const REPLY: &str = "0755e23e0001000e0001000132a23db390b11c2003410002000e0001000132a23daa4e9c8683806b000300281c2003410000070800000c4e00050018fd00019700000000000000000000010c00000e1000000e10000d000900007375636365737300170010fd0001970000000000000000000000010027001d030d4255434848414c54554e472d3704636f7270076578616d706c6500";

    #[test]
    fn real_solicit_and_reply() {
        let hexz = crate::wire::names::hexz;
        let mac = [0x90, 0xb1, 0x1c, 0x20, 0x03, 0x41];
        let s = parse(&hexz(SOLICIT)).unwrap();
        assert_eq!(s.msg_type, msg::SOLICIT);
        assert_eq!(s.xid, 0x5bb614);
        assert_eq!(s.fqdn.as_deref(), Some(&b"BUCHHALTUNG-7.corp.example"[..]));
        assert_eq!(s.client_mac, Some(mac));
        assert!(s.addresses.is_empty());
        let r = parse(&hexz(REPLY)).unwrap();
        assert_eq!(r.msg_type, msg::REPLY);
        assert_eq!(r.duid, s.duid);
        assert_eq!(
            r.addresses,
            vec!["fd00:197::10c".parse::<Ipv6Addr>().unwrap()]
        );
        assert_eq!(r.fqdn.as_deref(), Some(&b"BUCHHALTUNG-7.corp.example"[..]));
    }

    #[test]
    fn duid_forms() {
        let mac = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
        let mut llt = vec![0, 1, 0, 1, 0x2c, 0x4e, 0x1a, 0x7b];
        llt.extend_from_slice(&mac);
        assert_eq!(duid_mac(&llt), Some(mac));
        let mut ll = vec![0, 3, 0, 1];
        ll.extend_from_slice(&mac);
        assert_eq!(duid_mac(&ll), Some(mac));
        // DUID-UUID (type 4) carries no MAC; a non-Ethernet type neither.
        assert_eq!(duid_mac(&[0, 4, 1, 2, 3, 4, 5, 6, 7, 8]), None);
        let mut ll = vec![0, 3, 0, 6];
        ll.extend_from_slice(&mac);
        assert_eq!(duid_mac(&ll), None);
        assert_eq!(duid_mac(&[0, 3, 0]), None);
    }

    #[test]
    fn not_dhcpv6() {
        assert_eq!(parse(&[]), None);
        assert_eq!(parse(&[12, 0, 0, 0]), None); // relay-forward
        assert_eq!(parse(&[0x45, 0, 0, 0]), None);
    }
}
