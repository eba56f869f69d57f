//! DHCPv4 (RFC 2131): who a client says it is, and which address it holds.
//!
//! The fixed header by its offsets, the options by a walk of RFC 2132's
//! format (pad, end, code-length-value); option values are taken as raw
//! bytes so that a name that is not UTF-8 is escaped later rather than
//! dropping the message.

use std::net::Ipv4Addr;

use super::{Mac, wire_name};

/// The options after the magic cookie (code, value), up to the end option,
/// the end of the message, or an option cut short (those before it stand).
fn options(mut bytes: &[u8]) -> Vec<(u8, &[u8])> {
    let mut out = Vec::new();
    while let Some((&code, rest)) = bytes.split_first() {
        match code {
            0 => bytes = rest,
            255 => break,
            _ => {
                let Some(&len) = rest.first() else { break };
                let Some(value) = rest.get(1..1 + usize::from(len)) else {
                    break;
                };
                out.push((code, value));
                bytes = &rest[1 + usize::from(len)..];
            }
        }
    }
    out
}

fn addr(payload: &[u8], at: usize) -> Option<Ipv4Addr> {
    let b: [u8; 4] = payload.get(at..at + 4)?.try_into().ok()?;
    Some(Ipv4Addr::from(b))
}

/// DHCP message types (option 53).
pub mod msg {
    /// DHCPDISCOVER.
    pub const DISCOVER: u8 = 1;
    /// DHCPOFFER.
    pub const OFFER: u8 = 2;
    /// DHCPREQUEST.
    pub const REQUEST: u8 = 3;
    /// DHCPDECLINE.
    pub const DECLINE: u8 = 4;
    /// DHCPACK.
    pub const ACK: u8 = 5;
    /// DHCPNAK.
    pub const NAK: u8 = 6;
    /// DHCPRELEASE.
    pub const RELEASE: u8 = 7;
    /// DHCPINFORM.
    pub const INFORM: u8 = 8;
}

/// What a message says about the address it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrRole {
    /// The server assigned it (ACK: `yiaddr`), or confirmed the client's
    /// configured address (ACK to INFORM: `ciaddr`).
    Assigned,
    /// The client uses it (INFORM, or REQUEST while renewing: `ciaddr`).
    InUse,
    /// The client asks for it (REQUEST in SELECTING or INIT-REBOOT: option
    /// 50); a later ACK or NAK settles it.
    Requested,
    /// The client gives it back (RELEASE: `ciaddr`).
    Released,
    /// The client found it in use by another host (DECLINE: option 50).
    Declined,
}

/// The facts of one DHCPv4 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dhcp4 {
    /// BOOTP op: 1 request (client), 2 reply (server).
    pub op: u8,
    /// Option 53, when present (plain BOOTP has none).
    pub msg_type: Option<u8>,
    /// Transaction id.
    pub xid: u32,
    /// Client hardware address, when it is Ethernet (`htype` 1, `hlen` 6);
    /// else the Ethernet address in a client identifier (option 61, type 1).
    pub client_mac: Option<Mac>,
    /// `ciaddr`.
    pub ciaddr: Ipv4Addr,
    /// `yiaddr`.
    pub yiaddr: Ipv4Addr,
    /// Option 50, requested IP address.
    pub requested: Option<Ipv4Addr>,
    /// Option 12, host name, raw.
    pub host_name: Option<Vec<u8>>,
    /// Option 81, client FQDN, as text (wire or the deprecated ASCII form).
    pub fqdn: Option<Vec<u8>>,
    /// Option 60, vendor class identifier (client messages only).
    pub vendor_class: Option<Vec<u8>>,
    /// Option 15, domain name (usually from the server).
    pub domain: Option<Vec<u8>>,
}

const OPT_HOST_NAME: u8 = 12;
const OPT_DOMAIN: u8 = 15;
const OPT_REQUESTED: u8 = 50;
const OPT_MSG_TYPE: u8 = 53;
const OPT_VENDOR_CLASS: u8 = 60;
const OPT_CLIENT_ID: u8 = 61;
const OPT_FQDN: u8 = 81;

/// Longest option value kept (an option is at most 255 bytes, long options
/// of RFC 3396 are concatenated).
const MAX_VALUE: usize = 255;

/// Parses a DHCPv4 (or BOOTP) message. `None` when it is not one: too short,
/// an op other than 1 or 2, or without the DHCP magic cookie.
pub fn parse(payload: &[u8]) -> Option<Dhcp4> {
    let op = *payload.first()?;
    if op != 1 && op != 2 || payload.get(236..240)? != [99, 130, 83, 99] {
        return None;
    }
    let mut d = Dhcp4 {
        op,
        msg_type: None,
        xid: u32::from_be_bytes(payload.get(4..8)?.try_into().ok()?),
        client_mac: None,
        ciaddr: addr(payload, 12)?,
        yiaddr: addr(payload, 16)?,
        requested: None,
        host_name: None,
        fqdn: None,
        vendor_class: None,
        domain: None,
    };
    // chaddr is 16 bytes at offset 28.
    if payload[1] == 1 && payload[2] == 6 {
        d.client_mac = payload.get(28..34).and_then(|s| s.try_into().ok());
    }
    let mut client_id_mac = None;
    for (code, data) in options(payload.get(240..)?) {
        let kept = || data.get(..MAX_VALUE).unwrap_or(data).to_vec();
        match code {
            OPT_MSG_TYPE => d.msg_type = data.first().copied(),
            OPT_HOST_NAME => d.host_name = Some(trim_nul(&kept())),
            OPT_DOMAIN => d.domain = Some(trim_nul(&kept())),
            OPT_VENDOR_CLASS => d.vendor_class = Some(kept()),
            OPT_REQUESTED => {
                d.requested = <[u8; 4]>::try_from(data).ok().map(Ipv4Addr::from);
            }
            OPT_CLIENT_ID if data.len() == 7 && data[0] == 1 => {
                client_id_mac = data.get(1..7).and_then(|s| s.try_into().ok());
            }
            OPT_FQDN => d.fqdn = fqdn(data),
            _ => {}
        }
    }
    if d.client_mac.is_none() {
        d.client_mac = client_id_mac;
    }
    if op == 2 {
        // A server's option 60 names the server's kind, not the client's.
        d.vendor_class = None;
    }
    Some(d)
}

/// Option 81 (RFC 4702): flags, two obsolete RCODE bytes, then the name in
/// DNS wire format when flag E (0x04) is set, else in ASCII (as Windows
/// clients long sent it).
fn fqdn(data: &[u8]) -> Option<Vec<u8>> {
    let flags = *data.first()?;
    let name = data.get(3..)?;
    let text = if flags & 0x04 != 0 {
        wire_name(name)?
    } else {
        trim_nul(name)
    };
    let text = text.strip_suffix(b".").map(<[u8]>::to_vec).unwrap_or(text);
    (!text.is_empty()).then_some(text)
}

/// Some clients count a trailing NUL in the option length.
fn trim_nul(v: &[u8]) -> Vec<u8> {
    let end = v.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    v[..end].to_vec()
}

impl Dhcp4 {
    /// The address this message is about, and what it says of it, by
    /// message type: ACK `yiaddr` (or `ciaddr` for an ACK to INFORM),
    /// INFORM `ciaddr` (else option 50), REQUEST `ciaddr` when renewing
    /// else option 50, RELEASE `ciaddr`, DECLINE option 50.
    pub fn address(&self) -> Option<(Ipv4Addr, AddrRole)> {
        let set = |a: Ipv4Addr| (!a.is_unspecified() && !a.is_broadcast()).then_some(a);
        let (addr, role) = match self.msg_type? {
            msg::ACK => (set(self.yiaddr).or(set(self.ciaddr))?, AddrRole::Assigned),
            msg::INFORM => match set(self.ciaddr) {
                Some(a) => (a, AddrRole::InUse),
                None => (self.requested.and_then(set)?, AddrRole::Requested),
            },
            msg::REQUEST => match set(self.ciaddr) {
                Some(a) => (a, AddrRole::InUse),
                None => (self.requested.and_then(set)?, AddrRole::Requested),
            },
            msg::RELEASE => (set(self.ciaddr)?, AddrRole::Released),
            msg::DECLINE => (self.requested.and_then(set)?, AddrRole::Declined),
            _ => return None,
        };
        Some((addr, role))
    }

    /// The message comes from the client (BOOTREQUEST).
    pub fn from_client(&self) -> bool {
        self.op == 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::names::hexz;

    // UDP payloads of real packets: Zeek's `dhcp/dhcp.pcap` frames 5 (REQUEST),
    // 6 (ACK), 9 (INFORM) and `dhcp/dhcp_inform.pcap` frame 1 (INFORM).
    const REQUEST: &str = "01010600000007c0{20}90b11c994929{202}638253633501033204800206bd0c0d62746573742e69732e636f6f6cff";
    const ACK: &str = "02010600000007c00000000000000000800206bdac13e6070000000090b11c994929{202}638253633501053604800206983304000003840104ffffff0003048002060106088002010b8002010a04088002011480020115430d6e6574776f726b2d636f6e66671c04800206ff2a0c8002011480020115800201162b0b3137322e31382e362e33373c07417275626141502c088002681d8002681e2e01020f07636d752e656475ff";
    const INFORM_REQUESTED: &str = "01010600000007c4{20}90b11c994929{202}638253633501083304012ec3c03204800206bd0c0d62746573742e69732e636f6f6cff";
    const INFORM: &str = "01010600a42cec51000000008002067a00000000000000000000000090b11c994929{202}63825363350108370101ff";
    const MAC: Mac = [0x90, 0xb1, 0x1c, 0x99, 0x49, 0x29];

    #[test]
    fn request_names_and_requested_address() {
        let d = parse(&hexz(REQUEST)).unwrap();
        assert!(d.from_client());
        assert_eq!(d.msg_type, Some(msg::REQUEST));
        assert_eq!(d.xid, 0x7c0);
        assert_eq!(d.client_mac, Some(MAC));
        assert_eq!(d.host_name.as_deref(), Some(&b"btest.is.cool"[..]));
        assert_eq!(d.vendor_class, None);
        assert_eq!(
            d.address(),
            Some((Ipv4Addr::new(128, 2, 6, 189), AddrRole::Requested))
        );
    }

    #[test]
    fn ack_assigns_yiaddr() {
        let d = parse(&hexz(ACK)).unwrap();
        assert!(!d.from_client());
        assert_eq!(d.msg_type, Some(msg::ACK));
        assert_eq!(d.client_mac, Some(MAC));
        assert_eq!(d.domain.as_deref(), Some(&b"cmu.edu"[..]));
        // The server's own option 60 ("ArubaAP") is not the client's.
        assert_eq!(d.vendor_class, None);
        assert_eq!(
            d.address(),
            Some((Ipv4Addr::new(128, 2, 6, 189), AddrRole::Assigned))
        );
    }

    #[test]
    fn inform_in_use_or_requested() {
        let d = parse(&hexz(INFORM)).unwrap();
        assert_eq!(d.msg_type, Some(msg::INFORM));
        assert_eq!(d.host_name, None);
        assert_eq!(
            d.address(),
            Some((Ipv4Addr::new(128, 2, 6, 122), AddrRole::InUse))
        );
        let d = parse(&hexz(INFORM_REQUESTED)).unwrap();
        assert_eq!(d.host_name.as_deref(), Some(&b"btest.is.cool"[..]));
        assert_eq!(
            d.address(),
            Some((Ipv4Addr::new(128, 2, 6, 189), AddrRole::Requested))
        );
    }

    // From samples/identity/lan.pcap (real stacks, see samples/identity/make.py):
    // frame 23, ISC dhclient's REQUEST configured with a Windows client's host
    // name and vendor class; frame 33, BusyBox udhcpc's REQUEST.
    const DHCLIENT: &str = "01010600789ceb740003{18}90b11c200341{202}6382536335010336040ac5000132040ac500950c0d4255434848414c54554e472d373705011c030f063c084d53465420352e30ff000000000000000000000000";
    const UDHCPC: &str = "010106009da340470003{18}d83add00030f{202}6382536335010332040ac5008036040ac500013902024037070103060c0f1c2a0c0b7363616e6e65722d336f673c0c756468637020312e33352e303d0701d83add00030fff";

    #[test]
    fn real_clients() {
        let d = parse(&hexz(DHCLIENT)).unwrap();
        assert_eq!(d.host_name.as_deref(), Some(&b"BUCHHALTUNG-7"[..]));
        assert_eq!(d.vendor_class.as_deref(), Some(&b"MSFT 5.0"[..]));
        assert_eq!(d.client_mac, Some([0x90, 0xb1, 0x1c, 0x20, 0x03, 0x41]));
        assert_eq!(
            d.address(),
            Some((Ipv4Addr::new(10, 197, 0, 149), AddrRole::Requested))
        );
        let d = parse(&hexz(UDHCPC)).unwrap();
        assert_eq!(d.host_name.as_deref(), Some(&b"scanner-3og"[..]));
        assert_eq!(d.vendor_class.as_deref(), Some(&b"udhcp 1.35.0"[..]));
        assert_eq!(d.client_mac, Some([0xd8, 0x3a, 0xdd, 0x00, 0x03, 0x0f]));
    }

    #[test]
    fn fqdn_forms() {
        assert_eq!(
            fqdn(b"\x05\x00\x00\x04host\x04corp\x07example\x00").as_deref(),
            Some(&b"host.corp.example"[..])
        );
        // Deprecated ASCII form (E clear), trailing dot and NUL.
        assert_eq!(
            fqdn(b"\x00\x00\x00PC-7.corp.example.\x00").as_deref(),
            Some(&b"PC-7.corp.example"[..])
        );
        assert_eq!(fqdn(b"\x01\x00"), None);
        assert_eq!(fqdn(b"\x04\x00\x00\x00"), None);
    }

    #[test]
    fn not_dhcp_or_hostile() {
        assert_eq!(parse(&[0; 239]), None);
        let mut b = hexz(REQUEST);
        b[236] = 0;
        assert_eq!(parse(&b), None);
        let mut b = hexz(REQUEST);
        b[2] = 200; // hlen past chaddr: no MAC, no panic
        assert_eq!(parse(&b).unwrap().client_mac, None);
        let mut b = hexz(REQUEST);
        b.truncate(b.len() - 5); // option cut short
        assert_eq!(parse(&b).unwrap().host_name, None);
    }
}
