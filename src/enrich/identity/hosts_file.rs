//! Names the user already has (`--hosts FILE`): a DHCP lease export or an
//! asset list as CSV `ip,name[,mac]`, or the `/etc/hosts` format
//! (`ip name [aliases…]`, `#` comments). They win over everything learned
//! from the capture.
//!
//! CSV (a file whose first line that is not a comment has a comma) is read
//! as RFC 4180 (quoted cells may hold commas). Its first line is a header
//! when it has no digit in its first cell; a header's column names choose
//! the columns (`IPAddress`/`ip`/`address`, `HostName`/`name`/`host`,
//! `ClientId`/`mac`: a Windows DHCP server's `Get-DhcpServerv4Lease |
//! Export-Csv` as it is), else they are the first three. A byte-order mark
//! (UTF-8, or UTF-16 as Windows PowerShell 5 writes) is read as such.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

use super::escape;
use super::oui::parse_mac;
use crate::wire::names::Mac;

/// One known host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownHost {
    /// Its name (escaped like a name from the network).
    pub name: String,
    /// Its MAC, when the file gives one.
    pub mac: Option<Mac>,
}

/// Reads a hosts file. Errors name the file and line.
pub fn load(path: &Path) -> Result<HashMap<IpAddr, KnownHost>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&decode(&bytes)).map_err(|e| format!("{}: {e}", path.display()))
}

/// The text of a file: UTF-16 after its byte-order mark, else UTF-8 (a
/// mark dropped; invalid bytes replaced).
fn decode(bytes: &[u8]) -> String {
    let utf16 = |be: bool| {
        let units: Vec<u16> = bytes
            .get(2..)
            .unwrap_or_default()
            .chunks_exact(2)
            .map(|c| {
                if be {
                    u16::from_be_bytes([c[0], c[1]])
                } else {
                    u16::from_le_bytes([c[0], c[1]])
                }
            })
            .collect();
        String::from_utf16_lossy(&units)
    };
    match bytes {
        [0xff, 0xfe, ..] => utf16(false),
        [0xfe, 0xff, ..] => utf16(true),
        _ => {
            let b = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
            String::from_utf8_lossy(b).into_owned()
        }
    }
}

/// Column indices of a CSV file: address, name, MAC.
type Columns = (usize, usize, Option<usize>);

/// The columns a header names, when it names an address and a name.
fn columns(header: &csv::StringRecord) -> Option<Columns> {
    let find = |names: &[&str]| {
        header.iter().position(|h| {
            let h: String = h.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
            names.iter().any(|n| h.eq_ignore_ascii_case(n))
        })
    };
    let ip = find(&["ipaddress", "ip", "address", "ipv4address", "ipv4"])?;
    let name = find(&[
        "hostname",
        "name",
        "host",
        "computername",
        "dnsname",
        "fqdn",
    ])?;
    let mac = find(&["clientid", "mac", "macaddress", "hardwareaddress"]);
    Some((ip, name, mac))
}

/// Parses a hosts file's text (see the module doc). Later lines win.
pub fn parse(text: &str) -> Result<HashMap<IpAddr, KnownHost>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let csv = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .is_some_and(|l| l.contains(','));
    let mut out = HashMap::new();
    if csv {
        parse_csv(text, &mut out)?;
    } else {
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            let cells: Vec<&str> = line.split_whitespace().collect();
            if !cells.is_empty() {
                add(&mut out, i + 1, &cells, (0, 1, None))?;
            }
        }
    }
    Ok(out)
}

fn parse_csv(text: &str, out: &mut HashMap<IpAddr, KnownHost>) -> Result<(), String> {
    let mut rd = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let mut cols: Columns = (0, 1, Some(2));
    let mut first = true;
    for rec in rd.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            format!("line {line}: {e}")
        })?;
        let n = rec.position().map_or(0, |p| p.line()) as usize;
        if std::mem::take(&mut first)
            && !rec.get(0).unwrap_or("").chars().any(|c| c.is_ascii_digit())
        {
            // A header: its names choose the columns when they can.
            if let Some(c) = columns(&rec) {
                cols = c;
            }
            continue;
        }
        let cells: Vec<&str> = rec.iter().collect();
        if cells.iter().all(|c| c.is_empty()) {
            continue;
        }
        add(out, n, &cells, cols)?;
    }
    Ok(())
}

/// One host from a line's cells.
fn add(
    out: &mut HashMap<IpAddr, KnownHost>,
    n: usize,
    cells: &[&str],
    (ip_col, name_col, mac_col): Columns,
) -> Result<(), String> {
    let cell = |i: usize| cells.get(i).copied().unwrap_or("");
    let ip: IpAddr = cell(ip_col)
        .parse()
        .map_err(|_| format!("line {n}: `{}` is not an IP address", cell(ip_col)))?;
    let name = cell(name_col);
    if name.is_empty() {
        return Err(format!("line {n}: no name after {ip}"));
    }
    let mac = match mac_col.map(cell) {
        Some(m) if !m.is_empty() => {
            Some(parse_mac(m).ok_or_else(|| format!("line {n}: `{m}` is not a MAC address"))?)
        }
        _ => None,
    };
    out.insert(
        ip,
        KnownHost {
            name: escape(name.as_bytes()),
            mac,
        },
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_header_and_mac() {
        let t = parse(
            "ip,name,mac\n10.20.3.41,BUCHHALTUNG-7,90:b1:1c:99:49:29\n\
             \"10.20.3.42\",\"scanner-3og\",\n2001:db8::7,pc7\n",
        )
        .unwrap();
        assert_eq!(t.len(), 3);
        let h = &t[&"10.20.3.41".parse::<IpAddr>().unwrap()];
        assert_eq!(h.name, "BUCHHALTUNG-7");
        assert_eq!(h.mac, Some([0x90, 0xb1, 0x1c, 0x99, 0x49, 0x29]));
        assert_eq!(t[&"10.20.3.42".parse::<IpAddr>().unwrap()].mac, None);
        assert_eq!(t[&"2001:db8::7".parse::<IpAddr>().unwrap()].name, "pc7");
    }

    #[test]
    fn hosts_format() {
        let t =
            parse("# lab\n127.0.0.1\tlocalhost\n10.0.0.5   printer.lab printer  # 2nd floor\n\n")
                .unwrap();
        assert_eq!(
            t[&"10.0.0.5".parse::<IpAddr>().unwrap()].name,
            "printer.lab"
        );
        assert_eq!(t.len(), 2);
    }

    /// What spreadsheets and Windows write: a byte-order mark, quoted
    /// commas, a `#` inside a name, a DHCP server's lease export (its
    /// columns found by name), UTF-16; a mistyped first line is an error,
    /// not a header.
    #[test]
    fn exports_from_windows_and_spreadsheets() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let t = parse(
            "\u{feff}10.0.0.1,PC-BOM\n10.0.0.2,\"Smith, John\",aa:bb:cc:dd:ee:ff\n10.0.0.3,PC#3\n",
        )
        .unwrap();
        assert_eq!(t[&ip("10.0.0.1")].name, "PC-BOM");
        assert_eq!(t[&ip("10.0.0.2")].name, "Smith, John");
        assert_eq!(t[&ip("10.0.0.3")].name, "PC#3");
        let lease = "#TYPE Microsoft.Management.Infrastructure.CimInstance\n\
            \"IPAddress\",\"ScopeId\",\"AddressState\",\"ClientId\",\"HostName\"\n\
            \"10.197.0.149\",\"10.197.0.0\",\"Active\",\"90-b1-1c-20-03-41\",\"BUCHHALTUNG-7.corp.example\"\n";
        let t = parse(lease).unwrap();
        let h = &t[&ip("10.197.0.149")];
        assert_eq!(h.name, "BUCHHALTUNG-7.corp.example");
        assert_eq!(h.mac, Some([0x90, 0xb1, 0x1c, 0x20, 0x03, 0x41]));
        let mut utf16 = vec![0xff, 0xfe];
        for u in "10.0.0.9 pc9\n".encode_utf16() {
            utf16.extend(u.to_le_bytes());
        }
        assert_eq!(parse(&decode(&utf16)).unwrap()[&ip("10.0.0.9")].name, "pc9");
        assert_eq!(
            parse("10.0.0.l49,TYPO\n").unwrap_err(),
            "line 1: `10.0.0.l49` is not an IP address"
        );
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(
            parse("10.0.0.1,a\nfoo,b\n").unwrap_err(),
            "line 2: `foo` is not an IP address"
        );
        assert_eq!(
            parse("10.0.0.1\n").unwrap_err(),
            "line 1: no name after 10.0.0.1"
        );
        assert_eq!(
            parse("10.0.0.1,a,zz\n").unwrap_err(),
            "line 1: `zz` is not a MAC address"
        );
        // Control characters in a name are escaped as on the wire.
        assert_eq!(
            parse("10.0.0.1 a\x1bb\n").unwrap()[&"10.0.0.1".parse::<IpAddr>().unwrap()].name,
            "a\\x1bb"
        );
    }
}
