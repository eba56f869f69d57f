//! Client names on connection rows. Rows are written as connections finish,
//! before the capture has taught every name (a DHCP exchange or a NetBIOS
//! registration may come after a client's first connections), so an
//! offline run names its rows once the input is read: the same name, at
//! the connection's time, as the clients CSV gives the client.
//!
//! A connections CSV is written with its three name cells empty (the row
//! ends `,,,` before CRLF) and JSON lines without the name keys; here each
//! line whose client has a name gets them: the cells filled, the keys
//! `client_mac`, `client_name`, `client_name_source` (those not empty)
//! added last.

use std::io::{self, BufRead, Write};
use std::net::IpAddr;

use super::csv::push_field;
use crate::input::rows::fields::parse_rfc3339 as parse_time;
use crate::model::row::ClientName;
use crate::text::push_safe;

/// Who a client was at a time (`None`: nothing known).
pub type Namer<'a> = &'a dyn Fn(IpAddr, i64) -> Option<ClientName>;

/// The name of a line's client, from its `ts` and `client_ip`.
fn lookup(namer: Namer<'_>, ts: &[u8], ip: &[u8]) -> Option<ClientName> {
    let ts = parse_time(std::str::from_utf8(ts).ok()?)?;
    let ip: IpAddr = std::str::from_utf8(ip).ok()?.parse().ok()?;
    namer(ip, ts).filter(|n| !n.name.is_empty() || !n.mac.is_empty())
}

/// Copies a connections CSV (header first) from `input` to `out`, filling
/// the name cells of each row whose client has a name. Rows already named,
/// or not ending in three empty cells, pass as they are.
pub fn name_csv(input: &mut dyn BufRead, out: &mut dyn Write, namer: Namer<'_>) -> io::Result<()> {
    let mut line = Vec::with_capacity(1024);
    let mut named = Vec::with_capacity(1024);
    let mut cell = String::new();
    let mut header = true;
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let body = line.strip_suffix(b"\r\n").unwrap_or(&line);
        let Some(rest) = body.strip_suffix(b",,,").filter(|_| !header) else {
            header = false;
            out.write_all(&line)?;
            continue;
        };
        let mut cells = body.splitn(3, |&b| b == b',');
        let who = match (cells.next(), cells.next()) {
            (Some(ts), Some(ip)) => lookup(namer, ts, ip),
            _ => None,
        };
        let Some(who) = who else {
            out.write_all(&line)?;
            continue;
        };
        named.clear();
        named.extend_from_slice(rest);
        for v in [who.name.as_str(), who.source, who.mac.as_str()] {
            named.push(b',');
            cell.clear();
            push_safe(&mut cell, v);
            push_field(&mut named, &cell);
        }
        named.extend_from_slice(b"\r\n");
        out.write_all(&named)?;
    }
}

/// The text of a string value `"key":"…"` in a JSON line (tlsready's own:
/// the values looked for hold no escapes).
fn string_value<'a>(line: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let at = memchr::memmem::find(line, key)? + key.len();
    let rest = line.get(at..)?;
    rest.get(..memchr::memchr(b'"', rest)?)
}

/// Copies JSON lines from `input` to `out`, adding the name keys to each
/// object whose client has a name.
pub fn name_json(input: &mut dyn BufRead, out: &mut dyn Write, namer: Namer<'_>) -> io::Result<()> {
    let mut line = Vec::with_capacity(1024);
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let body = line.strip_suffix(b"\n").unwrap_or(&line);
        let who = match (
            body.strip_suffix(b"}"),
            string_value(body, b"\"ts\":\""),
            string_value(body, b"\"client_ip\":\""),
        ) {
            (Some(_), Some(ts), Some(ip))
                if memchr::memmem::find(body, b"\"client_name").is_none()
                    && memchr::memmem::find(body, b"\"client_mac\"").is_none() =>
            {
                lookup(namer, ts, ip)
            }
            _ => None,
        };
        let Some(who) = who else {
            out.write_all(&line)?;
            continue;
        };
        out.write_all(&body[..body.len() - 1])?;
        for (k, v) in [
            ("client_mac", who.mac.as_str()),
            ("client_name", who.name.as_str()),
            ("client_name_source", who.source),
        ] {
            if !v.is_empty() {
                write!(out, ",\"{k}\":")?;
                serde_json::to_writer(&mut *out, v).map_err(io::Error::other)?;
            }
        }
        out.write_all(b"}\n")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn namer(ip: IpAddr, ts: i64) -> Option<ClientName> {
        (ip.to_string() == "10.0.0.7" && ts == 1_741_075_200_123_456).then(|| ClientName {
            name: "=PC,7".into(),
            source: "dhcp",
            mac: "00:11:22:33:44:55".into(),
            vendor: String::new(),
            os_hint: String::new(),
        })
    }

    #[test]
    fn csv_rows_named_in_place() {
        let text = "ts,client_ip,x,client_name,client_name_source,client_mac\r\n\
                    2025-03-04T08:00:00.123456Z,10.0.0.7,a,,,\r\n\
                    2025-03-04T08:00:00.123456Z,10.0.0.8,b,,,\r\n";
        let mut out = Vec::new();
        name_csv(&mut text.as_bytes(), &mut out, &namer).unwrap();
        let out = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = out.split("\r\n").collect();
        assert_eq!(
            lines[0],
            "ts,client_ip,x,client_name,client_name_source,client_mac"
        );
        assert_eq!(
            lines[1],
            "2025-03-04T08:00:00.123456Z,10.0.0.7,a,\"'=PC,7\",dhcp,00:11:22:33:44:55"
        );
        assert_eq!(lines[2], "2025-03-04T08:00:00.123456Z,10.0.0.8,b,,,");
        // The csv crate reads the filled cells back.
        let mut r = csv::Reader::from_reader(out.as_bytes());
        let row = r.records().next().unwrap().unwrap();
        assert_eq!(&row[3], "'=PC,7");
    }

    #[test]
    fn json_lines_gain_the_keys() {
        let text = "{\"client_ip\":\"10.0.0.7\",\"packets\":3,\"ts\":\"2025-03-04T08:00:00.123456Z\"}\n\
                    {\"client_ip\":\"10.0.0.9\",\"ts\":\"2025-03-04T08:00:00.123456Z\"}\n";
        let mut out = Vec::new();
        name_json(&mut text.as_bytes(), &mut out, &namer).unwrap();
        let out = String::from_utf8(out).unwrap();
        let mut lines = out.lines();
        let v: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
        assert_eq!(v["client_name"], "=PC,7");
        assert_eq!(v["client_name_source"], "dhcp");
        assert_eq!(v["client_mac"], "00:11:22:33:44:55");
        assert_eq!(v["packets"], 3);
        assert_eq!(
            lines.next().unwrap(),
            "{\"client_ip\":\"10.0.0.9\",\"ts\":\"2025-03-04T08:00:00.123456Z\"}"
        );
    }
}
