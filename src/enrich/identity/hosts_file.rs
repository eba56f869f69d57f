//! Names the user already has (`--hosts FILE`): a DHCP lease export or an
//! asset list as CSV `ip,name[,mac]` (a header line is allowed), or the
//! `/etc/hosts` format (`ip name [aliases…]`, `#` comments). They win over
//! everything learned from the capture.

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
    parse(&String::from_utf8_lossy(&bytes)).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses a hosts file's text (see the module doc). The first line may be
/// a CSV header (its first cell not an address). Later lines win.
pub fn parse(text: &str) -> Result<HashMap<IpAddr, KnownHost>, String> {
    let mut out = HashMap::new();
    let mut first = true;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let cells: Vec<&str> = if line.contains(',') {
            line.split(',')
                .map(|c| c.trim().trim_matches('"'))
                .collect()
        } else {
            line.split_whitespace().collect()
        };
        let Ok(ip) = cells[0].parse::<IpAddr>() else {
            if std::mem::take(&mut first) {
                continue; // a header
            }
            return Err(format!("line {n}: `{}` is not an IP address", cells[0]));
        };
        first = false;
        let name = cells.get(1).copied().unwrap_or("");
        if name.is_empty() {
            return Err(format!("line {n}: no name after {ip}"));
        }
        let mac = match (line.contains(','), cells.get(2)) {
            (true, Some(m)) if !m.is_empty() => {
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
    }
    Ok(out)
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
