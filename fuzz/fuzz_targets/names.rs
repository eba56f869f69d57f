//! The name parsers behind their ports: DHCP, DHCPv6, DNS, mDNS, LLMNR,
//! NetBIOS and Kerberos datagrams, and TCP stream starts (Kerberos, DNS,
//! HTTP), fed to one host identity.
//!
//! Input: a control byte choosing the ports and the transport, then the
//! payload. Whatever the bytes, nothing panics and the tables stay bounded.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tlsready::enrich::identity::{Datagram, Identity};

const PORTS: [(u16, u16); 12] = [
    (68, 67),
    (67, 68),
    (546, 547),
    (547, 546),
    (53, 40000),
    (5353, 5353),
    (5355, 40000),
    (137, 137),
    (88, 40000),
    (40000, 88),
    (40000, 80),
    (53, 53),
];

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, payload)) = data.split_first() else {
        return;
    };
    let (sport, dport) = PORTS[usize::from(ctl & 0x0f) % PORTS.len()];
    let mut id = Identity::default();
    let d = Datagram {
        ts: 1_700_000_000_000_000,
        src_mac: Some([2, 0, 0, 0, 0, ctl]),
        src: "10.0.0.2".parse().unwrap(),
        dst: "10.0.0.1".parse().unwrap(),
        sport,
        dport,
        payload,
    };
    if ctl & 0x80 == 0 {
        id.udp(&d);
    } else {
        let _ = id.tcp_stream(&d);
    }
    let _ = id.host_rows();
    let _ = id.client(d.src, d.ts);
    let _ = id.stats();
});
