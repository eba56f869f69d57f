//! `tlsready hosts`: what the capture taught about its hosts, one row per
//! address × name × source (× MAC), as CSV or JSON lines.

use std::io::{self, Write};

use serde::Serialize;

use crate::enrich::identity::Identity;
use crate::enrich::identity::oui::format_mac;
use crate::enrich::identity::table::HostRow;
use crate::text::{rfc3339, safe_cell};

/// The columns, in CSV order (also the JSON keys).
pub const COLUMNS: [&str; 9] = [
    "address",
    "name",
    "source",
    "mac",
    "vendor",
    "os_hint",
    "os_evidence",
    "first_seen",
    "last_seen",
];

#[derive(Serialize)]
struct View<'a> {
    address: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    name: &'a str,
    source: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    mac: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    vendor: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    os_hint: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    os_evidence: &'a str,
    first_seen: String,
    last_seen: String,
}

fn view<'a>(id: &'a Identity, r: &'a HostRow) -> View<'a> {
    View {
        address: r.addr.to_string(),
        name: &r.name,
        source: r.source.as_str(),
        mac: r.mac.map(|m| format_mac(&m)).unwrap_or_default(),
        vendor: r.mac.as_ref().map(|m| id.vendor(m)).unwrap_or_default(),
        os_hint: r.os.as_ref().map(|o| &*o.os).unwrap_or_default(),
        os_evidence: r.os.as_ref().map(|o| &*o.evidence).unwrap_or_default(),
        first_seen: rfc3339(r.first_seen),
        last_seen: rfc3339(r.last_seen),
    }
}

/// The rows in a stable order: address, first seen, source, name.
pub fn sorted_rows(id: &Identity) -> Vec<HostRow> {
    let mut rows = id.host_rows();
    rows.sort_by(|a, b| {
        (a.addr, a.first_seen, a.source, &a.name).cmp(&(b.addr, b.first_seen, b.source, &b.name))
    });
    rows
}

/// Writes the rows as RFC 4180 CSV with a header (text cells made safe
/// for spreadsheets; names are escaped already).
pub fn write_csv(id: &Identity, out: impl Write) -> io::Result<()> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(out);
    w.write_record(COLUMNS)?;
    for r in sorted_rows(id) {
        let v = view(id, &r);
        w.write_record([
            v.address,
            safe_cell(v.name),
            v.source.to_string(),
            v.mac,
            safe_cell(v.vendor),
            safe_cell(v.os_hint),
            safe_cell(v.os_evidence),
            v.first_seen,
            v.last_seen,
        ])?;
    }
    w.flush()
}

/// Writes the rows as JSON lines (empty cells left out).
pub fn write_json(id: &Identity, mut out: impl Write) -> io::Result<()> {
    for r in sorted_rows(id) {
        serde_json::to_writer(&mut out, &view(id, &r))?;
        out.write_all(b"\n")?;
    }
    out.flush()
}
