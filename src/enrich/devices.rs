//! `--group-by device|address`: the tally per device rather than per
//! address, for the clients CSV, the terminal report and the HTML report.
//!
//! Addresses move (DHCP gives a laptop another one after a week, a host
//! has an IPv4 and an IPv6 address), so a device can appear under several
//! addresses. Grouped by device (the default), the addresses that the
//! host identity says are one device become one client:
//!
//! * **The device key.** The MAC when one is known (the identity already
//!   refuses a router's MAC: one MAC sourcing many addresses names none of
//!   them), else the name with its class of source, else the address (an
//!   unnamed address is its own device). Name classes: the user's own list
//!   (`--hosts`); the names a device gives itself (DHCP, DHCPv6, Kerberos
//!   machine account, NetBIOS, LLMNR, mDNS), compared as one class; DNS
//!   (PTR). Names compare without regard to ASCII case or a final dot.
//!   The name a mail client gives in EHLO and a Kerberos *user* principal
//!   name no device (many hosts say `localhost` in EHLO, a user logs on
//!   from several computers), nor does `localhost` from any source: such
//!   an address stays its own device.
//! * **Who a device is.** What the identity knows of its most recent
//!   address; a field it lacks (name, MAC, OS hint) comes from the
//!   device's other addresses, latest first.
//! * **Which address stands for it.** `client_ip` is the device's most
//!   recent address: that of its last packet in the tally (the address an
//!   administrator finds it at now); `client_addresses` (at the end of the
//!   clients CSV) lists all its addresses, ascending, `;`-separated.
//! * **EHLO names stay in the row key.** Rows stay keyed by client, EHLO
//!   name, service and server name, with the device as the client: one
//!   device that greets with two names (two mail programs on one host)
//!   keeps two rows and two verdicts, as one address does today; the same
//!   EHLO name from a device's two addresses is one row.
//! * **Verdicts** are decided over all the connections of the device by the
//!   rules of [`crate::enrich::tally`]: the per-address counts are added up
//!   ([`Tally::regroup`], the code that joins the parts of a capture read
//!   on several threads), not the per-address verdicts combined. An address
//!   that will break and another that is ready can make a device at risk.
//! * **Time.** An address is given the identity that held it at its first
//!   connection in the tally (as the names of address rows are): an address
//!   that two devices held in turn within one capture counts as the first.
//!
//! Grouped by address (`--group-by address`), the outputs are those of a
//! tally per address, column for column. When every device has one address
//! the device rows are the address rows, plus the `client_addresses` column.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::net::IpAddr;

use rustc_hash::FxHashMap;

use crate::enrich::tally::Tally;
use crate::model::row::ClientName;

/// What the tally's rows are per.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum GroupBy {
    /// Per device: the addresses of one MAC or one name together.
    #[default]
    Device,
    /// Per address.
    Address,
}

/// Which names are compared with which (see the module's text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum NameClass {
    /// `--hosts`.
    Hosts,
    /// A name the device gives itself.
    Own,
    /// DNS PTR.
    Dns,
}

/// What makes addresses one device.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum DeviceKey {
    Mac(String),
    Name(NameClass, String),
    Address(IpAddr),
}

/// The class of a name's source (`ClientName::source`), `None` for
/// sources that name no device.
fn name_class(source: &str) -> Option<NameClass> {
    match source {
        "hosts" => Some(NameClass::Hosts),
        "dhcp" | "dhcpv6" | "kerberos" | "nbns" | "llmnr" | "mdns" => Some(NameClass::Own),
        "ptr" => Some(NameClass::Dns),
        // `ehlo`, `kerberos-user`, none.
        _ => None,
    }
}

fn key(ip: IpAddr, who: Option<&ClientName>) -> DeviceKey {
    let Some(who) = who else {
        return DeviceKey::Address(ip);
    };
    if !who.mac.is_empty() {
        return DeviceKey::Mac(who.mac.to_ascii_lowercase());
    }
    let name = who.name.trim_end_matches('.').to_ascii_lowercase();
    match name_class(who.source) {
        Some(class)
            if !name.is_empty() && name != "localhost" && !name.starts_with("localhost.") =>
        {
            DeviceKey::Name(class, name)
        }
        _ => DeviceKey::Address(ip),
    }
}

/// Fills the fields `into` lacks from `from`.
fn fill(into: &mut ClientName, from: &ClientName) {
    if into.name.is_empty() && !from.name.is_empty() {
        into.name.clone_from(&from.name);
        into.source = from.source;
    }
    if into.mac.is_empty() && !from.mac.is_empty() {
        into.mac.clone_from(&from.mac);
        into.vendor.clone_from(&from.vendor);
    }
    if into.os_hint.is_empty() {
        into.os_hint.clone_from(&from.os_hint);
    }
}

/// The tally as the reports show it: `tally` itself grouped by address,
/// or when no device has more than one address; else its addresses
/// grouped into devices (see the module's text). The reports add the
/// `client_addresses` column by the mode, not by the result.
pub fn group(tally: &Tally, by: GroupBy) -> Cow<'_, Tally> {
    if by == GroupBy::Address {
        return Cow::Borrowed(tally);
    }
    // Each address (ascending): its last and first packet in the tally.
    let seen: BTreeMap<IpAddr, (i64, i64)> = tally
        .client_spans()
        .into_iter()
        .map(|(ip, (first, last))| (ip, (last, first)))
        .collect();
    let mut devices: BTreeMap<DeviceKey, Vec<IpAddr>> = BTreeMap::new();
    for &ip in seen.keys() {
        let who = tally.client_name(ip, "");
        devices.entry(key(ip, who.as_ref())).or_default().push(ip);
    }
    if devices.len() == seen.len() {
        // Every device has one address: its rows are the address rows.
        return Cow::Borrowed(tally);
    }
    let mut to = FxHashMap::default();
    let mut names = FxHashMap::default();
    let mut addresses = FxHashMap::default();
    for ips in devices.into_values() {
        // Most recent first: last packet, then first, then the address.
        let mut recent = ips.clone();
        recent.sort_by_key(|ip| Reverse((seen.get(ip).copied(), *ip)));
        let Some(&rep) = recent.first() else {
            continue;
        };
        let mut who = ClientName::default();
        for &ip in &recent {
            if let Some(n) = tally.client_name(ip, "") {
                fill(&mut who, &n);
            }
        }
        if !who.is_empty() {
            names.insert(rep, who);
        }
        for &ip in &ips {
            to.insert(ip, rep);
        }
        // `ips` came in ascending order (from `seen`).
        addresses.insert(rep, ips);
    }
    Cow::Owned(tally.regroup(&to, names, addresses))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::identity::Source;
    use crate::enrich::tally::{Scope, Verdict};
    use crate::model::m365::{Classification, Service};
    use crate::model::row::ConnRecord;

    fn rec(client: &str, ts: i64, offer: u16, helo: &str) -> ConnRecord {
        ConnRecord {
            ts,
            last_ts: ts + 1,
            client_ip: client.parse().unwrap(),
            client_port: 1,
            server_ip: "52.96.0.1".parse().unwrap(),
            server_port: 443,
            sni: "outlook.office365.com".into(),
            client_max_version: Some(offer),
            client_best_version: Some(offer),
            client_version: Some(offer),
            negotiated_version: Some(offer),
            m365: Classification {
                m365: true,
                service: Some(Service::Exchange),
                ..Default::default()
            },
            m365_data: std::sync::Arc::from("built-in:2026073100"),
            client_helo: helo.into(),
            ja4: "t10".into(),
            packets: 3,
            ..ConnRecord::default()
        }
    }

    fn named(name: &str, source: &'static str, mac: &str) -> ClientName {
        ClientName {
            name: name.into(),
            source,
            mac: mac.into(),
            vendor: if mac.is_empty() { "" } else { "Dell Inc." }.into(),
            os_hint: String::new(),
        }
    }

    #[test]
    fn every_source_has_a_decided_class() {
        use Source::*;
        for s in Source::ALL {
            let want = match s {
                Hosts => Some(NameClass::Hosts),
                Ptr => Some(NameClass::Dns),
                Ehlo | KerberosUser => None,
                _ => Some(NameClass::Own),
            };
            assert_eq!(name_class(s.as_str()), want, "{s:?}");
        }
    }

    #[test]
    fn keys() {
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(key(ip, None), DeviceKey::Address(ip));
        let mac = named("pc7", "dhcp", "90:B1:1C:20:03:41");
        assert_eq!(
            key(ip, Some(&mac)),
            DeviceKey::Mac("90:b1:1c:20:03:41".into())
        );
        let n = named("PC7.corp.example.", "nbns", "");
        assert_eq!(
            key(ip, Some(&n)),
            DeviceKey::Name(NameClass::Own, "pc7.corp.example".into())
        );
        for (name, source) in [
            ("mail", "ehlo"),
            ("alice@CORP", "kerberos-user"),
            ("localhost", "dhcp"),
        ] {
            assert_eq!(
                key(ip, Some(&named(name, source, ""))),
                DeviceKey::Address(ip)
            );
        }
    }

    /// One device at two addresses (TLS 1.0 only at the first, TLS 1.2 and
    /// one fallback at the second), one at one address, one unnamed: the
    /// device row adds up the address rows and its verdict is decided over
    /// all of them; the others are their address rows.
    #[test]
    fn a_device_that_moved_is_one_row() {
        let mut t = Tally::new(Scope::M365);
        for r in [
            rec("10.0.0.5", 10, 0x0301, ""),
            rec("10.0.0.5", 11, 0x0301, ""),
            rec("10.0.0.9", 100, 0x0303, ""),
            rec("10.0.0.9", 101, 0x0301, ""),
            rec("10.0.0.7", 50, 0x0303, ""),
            rec("10.0.0.8", 60, 0x0301, ""),
        ] {
            t.add(&r);
        }
        t.name_clients(&|ip, _| match ip.to_string().as_str() {
            "10.0.0.5" => Some(named("LAGER-PC", "dhcp", "90:b1:1c:20:05:01")),
            // Only the MAC known at the new address: the name comes from
            // the old one.
            "10.0.0.9" => Some(named("", "", "90:b1:1c:20:05:01")),
            "10.0.0.7" => Some(named("kasse-2", "dhcp", "d8:3a:dd:00:05:02")),
            _ => None,
        });
        let by_addr = group(&t, GroupBy::Address);
        assert_eq!(by_addr.rows().len(), 4);
        assert!(
            by_addr
                .device_addresses("10.0.0.5".parse().unwrap())
                .is_none()
        );
        let a: IpAddr = "10.0.0.5".parse().unwrap();
        let b: IpAddr = "10.0.0.9".parse().unwrap();
        assert_eq!(t.verdict(a, "", "Exchange"), Verdict::WillBreak);
        assert_eq!(t.verdict(b, "", "Exchange"), Verdict::Ready);

        let dev = group(&t, GroupBy::Device);
        let rows = dev.rows();
        assert_eq!(rows.len(), 3);
        let pc = rows.iter().find(|r| r.key.client_ip == b).unwrap();
        assert_eq!(pc.entry.connections, 4);
        assert_eq!(pc.entry.by_version, [0, 0, 3, 0, 1, 0]);
        assert_eq!((pc.entry.first_seen, pc.entry.last_seen), (10, 102));
        assert_eq!(pc.verdict, Verdict::AtRisk);
        assert_eq!(dev.device_addresses(b), Some(vec![a, b]));
        let who = dev.client_name(b, "").unwrap();
        assert_eq!((who.name.as_str(), who.source), ("LAGER-PC", "dhcp"));
        assert_eq!(who.mac, "90:b1:1c:20:05:01");
        // The others: their address rows, one address each.
        for ip in ["10.0.0.7", "10.0.0.8"] {
            let ip: IpAddr = ip.parse().unwrap();
            let d = rows.iter().find(|r| r.key.client_ip == ip).unwrap();
            let o = t
                .rows()
                .into_iter()
                .find(|r| r.key.client_ip == ip)
                .unwrap();
            assert_eq!(d.entry.connections, o.entry.connections);
            assert_eq!(d.verdict, o.verdict);
            assert_eq!(dev.device_addresses(ip), Some(vec![ip]));
        }
        assert_eq!(dev.clients_with(Verdict::AtRisk), 1);
        assert_eq!(dev.clients_with(Verdict::WillBreak), 1);
        assert_eq!(t.clients_with(Verdict::WillBreak), 2);
    }

    /// When no device has two addresses, the tally is the address tally
    /// itself (nothing copied).
    #[test]
    fn one_address_per_device_is_the_address_tally() {
        let mut t = Tally::new(Scope::M365);
        t.add(&rec("10.0.0.5", 10, 0x0301, ""));
        t.add(&rec("10.0.0.6", 10, 0x0303, ""));
        t.name_clients(&|ip, _| {
            (ip.to_string() == "10.0.0.5").then(|| named("pc", "dhcp", "90:b1:1c:20:05:01"))
        });
        assert!(matches!(group(&t, GroupBy::Device), Cow::Borrowed(_)));
        assert_eq!(group(&t, GroupBy::Device).rows().len(), 2);
    }

    /// EHLO names stay in the row key: a device's two EHLO names are two
    /// rows; one EHLO name from its two addresses is one.
    #[test]
    fn ehlo_names_stay_apart() {
        let mut t = Tally::new(Scope::M365);
        for r in [
            rec("10.0.0.5", 10, 0x0303, "mx1"),
            rec("10.0.0.9", 20, 0x0303, "mx1"),
            rec("10.0.0.9", 30, 0x0303, "relay"),
        ] {
            t.add(&r);
        }
        t.name_clients(&|_, _| Some(named("mailhost", "ptr", "")));
        let dev = group(&t, GroupBy::Device);
        let rows = dev.rows();
        assert_eq!(rows.len(), 2);
        let mx1 = rows.iter().find(|r| r.key.client_helo == "mx1").unwrap();
        assert_eq!(mx1.entry.connections, 2);
        assert_eq!(mx1.key.client_ip.to_string(), "10.0.0.9");
    }
}
