//! The clients CSV: the tally, one row per client x service x server
//! name, with its verdict. Grouped by device (`--group-by device`, see
//! `enrich::devices`) a client is a device: `client_ip` its most recent
//! address, `client_addresses` (the last column) all of them.

use std::io::{self, Write};

use super::csv::csv_writer;
use crate::enrich::tally::{Tally, VERSION_COLUMNS};
use crate::model::version::TlsVersion;
use crate::text::{push_safe, push_time};

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
    // One buffer per cell, written over for every row (no allocation per
    // cell); the same text as writing each value out.
    let mut cells: Vec<String> = vec![String::new(); header.len()];
    for r in tally.rows() {
        let e = r.entry;
        for c in &mut cells {
            c.clear();
        }
        let mut at = 0;
        let mut next = || {
            at += 1;
            at - 1
        };
        if let Some(c) = cells.get_mut(next()) {
            push_ip(c, r.key.client_ip);
        }
        if let Some(c) = cells.get_mut(next()) {
            push_safe(c, &r.key.client_helo);
        }
        if let Some(c) = cells.get_mut(next()) {
            c.push_str(&r.key.service);
        }
        if let Some(c) = cells.get_mut(next()) {
            push_safe(c, &r.key.server_name);
        }
        if let Some(c) = cells.get_mut(next()) {
            c.push_str(r.verdict.as_str());
        }
        let counts = [e.connections].into_iter().chain(e.by_version).chain([
            e.other_version,
            e.no_server_hello,
            e.plaintext,
            e.legacy_endpoint,
        ]);
        for n in counts {
            if let Some(c) = cells.get_mut(next()) {
                c.push_str(itoa::Buffer::new().format(n));
            }
        }
        for v in [e.lowest, e.highest, e.max_offered] {
            if let Some(c) = cells.get_mut(next())
                && let Some(v) = v
            {
                c.push_str(&TlsVersion(v).name());
            }
        }
        for t in [e.first_seen, e.last_seen] {
            if let Some(c) = cells.get_mut(next()) {
                push_time(c, t);
            }
        }
        for list in [&r.ja4, &r.ja3, &r.m365_match] {
            if let Some(c) = cells.get_mut(next()) {
                push_joined(c, list.iter().copied());
            }
        }
        if let Some(c) = cells.get_mut(next()) {
            let mut b = itoa::Buffer::new();
            push_joined(c, e.server_ports().iter().map(|p| b.format(*p).to_string()));
        }
        if let Some(c) = cells.get_mut(next()) {
            push_joined(c, e.protocols().iter().map(|p| p.as_str()));
        }
        let who = tally.client_name(r.key.client_ip, &r.key.client_helo);
        let who = who.as_ref();
        if let Some(c) = cells.get_mut(next()) {
            push_safe(c, who.map_or("", |c| &c.name));
        }
        if let Some(c) = cells.get_mut(next()) {
            c.push_str(who.map_or("", |c| c.source));
        }
        if let Some(c) = cells.get_mut(next()) {
            c.push_str(who.map_or("", |c| &c.mac));
        }
        if let Some(c) = cells.get_mut(next()) {
            push_safe(c, who.map_or("", |c| &c.vendor));
        }
        if let Some(c) = cells.get_mut(next()) {
            push_safe(c, who.map_or("", |c| &c.os_hint));
        }
        if by_device && let Some(c) = cells.get_mut(next()) {
            let all = tally
                .device_addresses(r.key.client_ip)
                .unwrap_or_else(|| vec![r.key.client_ip]);
            for (i, ip) in all.iter().enumerate() {
                if i > 0 {
                    c.push(';');
                }
                push_ip(c, *ip);
            }
        }
        w.write_record(&cells).map_err(io::Error::other)?;
    }
    w.flush()
}

/// Appends `ip` as its `Display` writes it (an IPv4 address without the
/// formatting machinery).
fn push_ip(out: &mut String, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let mut b = itoa::Buffer::new();
            for (i, o) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                out.push_str(b.format(o));
            }
        }
        std::net::IpAddr::V6(_) => {
            use std::fmt::Write;
            let _ = write!(out, "{ip}");
        }
    }
}

/// Appends the items separated by spaces.
fn push_joined<S: AsRef<str>>(out: &mut String, items: impl Iterator<Item = S>) {
    for (i, s) in items.enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(s.as_ref());
    }
}
