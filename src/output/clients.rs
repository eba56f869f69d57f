//! The clients CSV: the tally, one row per client x service x server
//! name, with its verdict. Grouped by device (`--group-by device`, see
//! `enrich::devices`) a client is a device: `client_ip` its most recent
//! address, `client_addresses` (the last column) all of them.

use std::io::{self, Write};

use super::csv::csv_writer;
use crate::enrich::tally::{Tally, VERSION_COLUMNS};
use crate::model::version::version_cell;
use crate::text::{rfc3339, safe_cell};

/// Writes the tally as CSV: one row per client x service x server name;
/// `by_device`: grouped by device (`client_addresses` at the end).
pub fn write_clients_csv(tally: &Tally, by_device: bool, out: Box<dyn Write>) -> io::Result<()> {
    let mut w = csv_writer(out);
    let mut header: Vec<String> = [
        "client_ip",
        "client_helo",
        "service",
        "server_name",
        "verdict",
        "connections",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    header.extend(VERSION_COLUMNS.iter().map(|(n, _)| n.to_string()));
    header.extend(
        [
            "other_version",
            "no_server_hello",
            "plaintext",
            "legacy_endpoint_connections",
            "lowest_version",
            "highest_version",
            "client_max_offered",
            "first_seen",
            "last_seen",
            "ja4",
            "ja3",
            "m365_match",
            "server_ports",
            "protocols",
            "client_name",
            "client_name_source",
            "client_mac",
            "client_vendor",
            "client_os_hint",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    if by_device {
        header.push("client_addresses".to_string());
    }
    w.write_record(&header).map_err(io::Error::other)?;
    for r in tally.rows() {
        let e = r.entry;
        let mut rec = vec![
            r.key.client_ip.to_string(),
            safe_cell(&r.key.client_helo),
            r.key.service.clone(),
            safe_cell(&r.key.server_name),
            r.verdict.as_str().to_string(),
            e.connections.to_string(),
        ];
        rec.extend(e.by_version.iter().map(u64::to_string));
        rec.extend([
            e.other_version.to_string(),
            e.no_server_hello.to_string(),
            e.plaintext.to_string(),
            e.legacy_endpoint.to_string(),
            version_cell(e.lowest),
            version_cell(e.highest),
            version_cell(e.max_offered),
            rfc3339(e.first_seen),
            rfc3339(e.last_seen),
            r.ja4.join(" "),
            r.ja3.join(" "),
            r.m365_match.join(" "),
            e.server_ports()
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(" "),
            e.protocols()
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        ]);
        let who = tally.client_name(r.key.client_ip, &r.key.client_helo);
        let who = who.as_ref();
        rec.extend([
            safe_cell(who.map_or("", |c| &c.name)),
            who.map_or("", |c| c.source).to_string(),
            who.map_or("", |c| &c.mac).to_string(),
            safe_cell(who.map_or("", |c| &c.vendor)),
            safe_cell(who.map_or("", |c| &c.os_hint)),
        ]);
        if by_device {
            let all = tally
                .device_addresses(r.key.client_ip)
                .unwrap_or_else(|| vec![r.key.client_ip]);
            let all: Vec<String> = all.iter().map(ToString::to_string).collect();
            rec.push(all.join(";"));
        }
        w.write_record(&rec).map_err(io::Error::other)?;
    }
    w.flush()
}
