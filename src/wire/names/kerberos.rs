//! Kerberos V5 (RFC 4120) client principals, on UDP and TCP port 88,
//! decoded by rusticata's `kerberos-parser`.
//!
//! The client's name travels in clear in an AS-REQ (`cname`, with the
//! realm of the request), in the AS-REP and TGS-REP that answer it
//! (`crealm`, `cname`: this is where a TGS exchange names its client), and
//! in most KRB-ERRORs. A machine account (`HOST$@REALM`) or a host service
//! principal (`host/fqdn@REALM`) names the computer; any other principal
//! names a user on it.

use asn1_rs::FromDer;
use kerberos_parser::krb5::{KrbError, PrincipalName, Realm};
use kerberos_parser::krb5_parser::{parse_as_rep, parse_as_req, parse_tgs_rep, parse_tgs_req};

/// Which message it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// AS-REQ (client to KDC).
    AsReq,
    /// TGS-REQ (client to KDC; no client name in clear).
    TgsReq,
    /// AS-REP (KDC to client).
    AsRep,
    /// TGS-REP (KDC to client).
    TgsRep,
    /// KRB-ERROR (KDC to client).
    Error,
}

impl Kind {
    /// The message goes from the client to the KDC (the client is the
    /// source address), else from the KDC to the client (the destination).
    pub fn from_client(self) -> bool {
        matches!(self, Kind::AsReq | Kind::TgsReq)
    }
}

/// A client principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Name components (`["host", "pc7.corp.example"]`, `["PC7$"]`).
    pub components: Vec<String>,
    /// Name type (1 principal, 3 service host, 10 enterprise...).
    pub name_type: i32,
    /// Realm.
    pub realm: String,
}

/// NT-ENTERPRISE: the one component is itself `user@domain`.
const NT_ENTERPRISE: i32 = 10;

impl Principal {
    /// The usual text form: components joined by `/`, then `@REALM`. An
    /// enterprise name (`user@domain`, name type 10) is shown as it is.
    pub fn text(&self) -> String {
        let name = self.components.join("/");
        if self.name_type == NT_ENTERPRISE && name.contains('@') || self.realm.is_empty() {
            name
        } else {
            format!("{name}@{}", self.realm)
        }
    }

    /// A computer's principal: one component ending in `$` (a Windows
    /// machine account) or `host/<name>`. Returns the computer name
    /// (without the `$`).
    pub fn machine(&self) -> Option<&str> {
        match self.components.as_slice() {
            [one] => one.strip_suffix('$').filter(|n| !n.is_empty()),
            [svc, host] if svc.eq_ignore_ascii_case("host") && !host.is_empty() => Some(host),
            _ => None,
        }
    }
}

/// The facts of one Kerberos message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Krb {
    /// Which message.
    pub kind: Kind,
    /// The client principal when the message carries it.
    pub client: Option<Principal>,
    /// The KRB-ERROR code (6 = client unknown, 24 = pre-auth failed...).
    pub error_code: Option<i32>,
}

/// Parses one Kerberos message (a UDP payload, or a TCP record without its
/// length). `None` for other messages (AP-REQ...) and bytes that do not
/// decode.
pub fn parse(msg: &[u8]) -> Option<Krb> {
    let principal = |name: &PrincipalName, realm: &Realm| Principal {
        components: name.name_string.clone(),
        name_type: name.name_type.0,
        realm: realm.0.clone(),
    };
    Some(match *msg.first()? {
        0x6a | 0x6c => {
            let (kind, req) = if msg[0] == 0x6a {
                (Kind::AsReq, parse_as_req(msg).ok()?.1)
            } else {
                (Kind::TgsReq, parse_tgs_req(msg).ok()?.1)
            };
            let body = &req.req_body;
            Krb {
                kind,
                client: body.cname.as_ref().map(|n| principal(n, &body.realm)),
                error_code: None,
            }
        }
        0x6b | 0x6d => {
            let (kind, rep) = if msg[0] == 0x6b {
                (Kind::AsRep, parse_as_rep(msg).ok()?.1)
            } else {
                (Kind::TgsRep, parse_tgs_rep(msg).ok()?.1)
            };
            Krb {
                kind,
                client: Some(principal(&rep.cname, &rep.crealm)),
                error_code: None,
            }
        }
        0x7e => {
            let e = KrbError::from_der(msg).ok()?.1;
            let client = match (&e.cname, &e.crealm) {
                (Some(n), Some(r)) => Some(principal(n, r)),
                (Some(n), None) => Some(principal(n, &e.realm)),
                _ => None,
            };
            Krb {
                kind: Kind::Error,
                client,
                error_code: Some(e.error_code.0),
            }
        }
        _ => return None,
    })
}

/// What the start of a TCP stream to or from port 88 holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpRecord<'a> {
    /// A whole record: the message without its 4-byte length.
    Complete(&'a [u8]),
    /// The record is this many bytes long (length included); more is needed.
    Incomplete(usize),
    /// Not a Kerberos record (the high bit of the length is reserved, and
    /// a record above [`MAX_TCP_RECORD`] is not followed).
    Invalid,
}

/// Largest TCP record followed (PKINIT requests with certificates reach a
/// few KiB).
pub const MAX_TCP_RECORD: usize = 64 * 1024;

/// Splits the first record off a TCP stream (RFC 4120 §7.2.2: a 4-byte
/// big-endian length, then the message).
pub fn tcp_record(stream: &[u8]) -> TcpRecord<'_> {
    let Some(len) = stream.get(..4) else {
        return TcpRecord::Incomplete(4);
    };
    let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
    if len == 0 || len > MAX_TCP_RECORD {
        return TcpRecord::Invalid;
    }
    match stream.get(4..4 + len) {
        Some(m) => TcpRecord::Complete(m),
        None => TcpRecord::Incomplete(4 + len),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principal_text_and_machine() {
        let p = |c: &[&str], t: i32| Principal {
            components: c.iter().map(|s| s.to_string()).collect(),
            name_type: t,
            realm: "CORP.EXAMPLE".into(),
        };
        assert_eq!(p(&["PC7$"], 1).text(), "PC7$@CORP.EXAMPLE");
        assert_eq!(p(&["PC7$"], 1).machine(), Some("PC7"));
        assert_eq!(
            p(&["host", "pc7.corp.example"], 3).machine(),
            Some("pc7.corp.example")
        );
        assert_eq!(p(&["alice"], 1).machine(), None);
        assert_eq!(p(&["$"], 1).machine(), None);
        assert_eq!(p(&["alice@corp.example"], 10).text(), "alice@corp.example");
        assert_eq!(
            p(&["krbtgt", "CORP.EXAMPLE"], 2).text(),
            "krbtgt/CORP.EXAMPLE@CORP.EXAMPLE"
        );
    }

    #[test]
    fn tcp_records() {
        assert_eq!(tcp_record(&[0, 0]), TcpRecord::Incomplete(4));
        assert_eq!(tcp_record(&[0, 0, 0, 3, 1]), TcpRecord::Incomplete(7));
        assert_eq!(
            tcp_record(&[0, 0, 0, 2, 1, 2, 3]),
            TcpRecord::Complete(&[1, 2])
        );
        assert_eq!(tcp_record(&[0x80, 0, 0, 2, 1, 2]), TcpRecord::Invalid);
        assert_eq!(tcp_record(&[0, 0, 0, 0]), TcpRecord::Invalid);
    }

    // UDP payloads of Zeek's `krb/kinit.pcap` frames 1 (AS-REQ), 75 (AS-REQ,
    // enterprise name), 76 (KRB-ERROR to it) and `krb/auth.pcap` frame 2
    // (TGS-REP).
    const AS_REQ: &str = "6a81af3081aca103020105a20302010aa30e300c300aa10402020095a2020400a4818f30818ca00703050000000010a1233021a003020101a11a30181b1676616c69645f636c69656e745f7072696e636970616ca20b1b09564c4144472e4e4554a31e301ca003020102a11530131b066b72627467741b09564c4144472e4e4554a511180f32303135303131393232353435395aa70602047805a1eba814301202011202011102011002011702011902011a";
    const AS_REQ_ENTERPRISE: &str = "6a81ba3081b7a103020105a20302010aa30e300c300aa10402020095a2020400a4819a308197a00703050040000010a12e302ca00302010aa12530231b21656e74657270726973655f7072696e636970616c4041442e564c4144472e4e4554a20b1b09564c4144472e4e4554a31e301ca003020102a11530131b066b72627467741b09564c4144472e4e4554a511180f32303135303131393232353531315aa70602042e60944ca814301202011202011102011002011702011902011a";
    const KRB_ERROR: &str = "7e81bd3081baa003020105a10302011ea211180f31393934303832383133343233365aa411180f32303135303131393232353430335aa50502030631caa603020106a70b1b09564c4144472e4e4554a82e302ca00302010aa12530231b21656e74657270726973655f7072696e636970616c4041442e564c4144472e4e4554a90b1b09564c4144472e4e4554aa1e301ca003020102a11530131b066b72627467741b09564c4144472e4e4554ab121b10434c49454e545f4e4f545f464f554e44";
    const TGS_REP: &str = "6d82027630820272a003020105a10302010da30b1b09564c4144472e4e4554a4123010a003020101a10930071b05766c616467a582014e6182014a30820146a003020105a10b1b09564c4144472e4e4554a21e301ca003020101a11530131b066b72627467741b09564c4144472e4e4554a38201103082010ca003020112a103020101a281ff0481fc23daf04b61e57811ab60097874fc83b76c48c651a5ef84f00016ba946028c44d608126e110ec0b979bd38e119e6b745bf53f15bc1bfd1b2394f202c74ae23f9703861a746f0a75cf8b4572d5bf69743f7a86be8a793bc26a66279303df173d4f8cfa586cc8f5c4bbbeb99cb0ed484e898bbde0ba1dce721b99f22d54d0ef80b8d0a1172df49f5d40d336703a3bef542dc7f9f9f6fb9b1fa957d57351eba6ae038347540e088143903f0fdff81bcee496595d314e76c3f42bf7c0354feca893c545f03956dabb96c0a95cd8c39775b4a8451bba21420733723f69344570e8d15d1b2da037ea8103dceb53d1abbf55d7698cb6d33f6aefc362a66b5e10a681f23081efa003020112a281e70481e447fd39abbfd46847f626076ca16de00e0f21e2205e0c3541b707fe5c32a7759a49fdf7803eb4e753cdd36727413bc7c15b011c4844950bf83f21bc71aca9254039dad2ea773e0baa1f3340fe9ccc3e9f7f5bf1c466847277e7d0d2bf91ec2b425bda01fb8f46267aef0a8071b4ee4c0e6d5a4645f542810bf6d57a37489c078a70220e96a7ed751c32cd26a8227f723d5bb9af0abc48e33ada0b018e1f3ca85067242deaa72a9abe9ca397b2c78410a5f420d3a687347605de11222ce19757fedf12cce60f5c84844fba6ac9f41ad35cc124f35c00e59897069caf9d1498d7902ea02fdf";

    // From samples/identity/lan.pcap, frame 104: MIT kinit's AS-REQ for the
    // machine account BUCHHALTUNG-7$.
    const MACHINE: &str = "6a81bf3081bca103020105a20302010aa31a3018300aa10402020096a2020400300aa10402020095a2020400a48193308190a00703050000000010a11b3019a003020101a11230101b0e4255434848414c54554e472d3724a20e1b0c434f52502e4558414d504c45a321301fa003020102a11830161b066b72627467741b0c434f52502e4558414d504c45a511180f32303236313230333032323335355aa7060204766ff458a81a301802011202011102011402011302011002011702011902011a";

    #[test]
    fn real_machine_account() {
        let k = parse(&crate::wire::names::hexz(MACHINE)).unwrap();
        let p = k.client.unwrap();
        assert_eq!(p.text(), "BUCHHALTUNG-7$@CORP.EXAMPLE");
        assert_eq!(p.machine(), Some("BUCHHALTUNG-7"));
    }

    fn client(hex: &str) -> (Kind, String, Option<i32>) {
        let k = parse(&crate::wire::names::hexz(hex)).unwrap();
        (k.kind, k.client.unwrap().text(), k.error_code)
    }

    #[test]
    fn real_messages() {
        assert_eq!(
            client(AS_REQ),
            (Kind::AsReq, "valid_client_principal@VLADG.NET".into(), None)
        );
        assert_eq!(
            client(AS_REQ_ENTERPRISE),
            (
                Kind::AsReq,
                "enterprise_principal@AD.VLADG.NET".into(),
                None
            )
        );
        assert_eq!(
            client(KRB_ERROR),
            (
                Kind::Error,
                "enterprise_principal@AD.VLADG.NET".into(),
                Some(6)
            )
        );
        assert_eq!(
            client(TGS_REP),
            (Kind::TgsRep, "vladg@VLADG.NET".into(), None)
        );
        assert!(Kind::AsReq.from_client() && !Kind::TgsRep.from_client());
    }

    #[test]
    fn not_kerberos() {
        assert_eq!(parse(&[]), None);
        assert_eq!(parse(&[0x6a, 0x82, 0xff]), None);
        assert_eq!(parse(b"GET / HTTP/1.1\r\n"), None);
    }
}
