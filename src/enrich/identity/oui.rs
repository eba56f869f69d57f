//! MAC vendor names from the IEEE registry: an embedded snapshot
//! (`data/oui/oui.tsv`, see `data/oui/SOURCE.md`), or files the user
//! passes (`--oui FILE`) in the formats the IEEE publishes.

use rustc_hash::FxHashMap as HashMap;
use std::path::Path;
use std::sync::OnceLock;

use crate::wire::names::Mac;

const EMBEDDED: &str = include_str!("../../../data/oui/oui.tsv");

/// Prefix lengths of IEEE assignments, longest first: MA-S/IAB (36 bits),
/// MA-M (28), MA-L (24).
const BITS: [u32; 3] = [36, 28, 24];

/// A vendor table: assignments by prefix length.
#[derive(Debug, Default)]
pub struct Oui {
    /// Keyed by (prefix bits, the MAC's top `bits` bits).
    by_prefix: HashMap<(u32, u64), Box<str>>,
}

/// What a MAC says of its maker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor<'a> {
    /// The registered organisation.
    Registered(&'a str),
    /// A locally administered address (the 0x02 bit of the first byte):
    /// randomised "private" addresses of phones and laptops, virtual
    /// machines, containers. It names no vendor.
    Local,
    /// Not in the table.
    Unknown,
}

impl<'a> Vendor<'a> {
    /// The cell written in reports: the organisation, `locally
    /// administered`, or empty.
    pub fn cell(self) -> &'a str {
        match self {
            Vendor::Registered(org) => org,
            Vendor::Local => "locally administered",
            Vendor::Unknown => "",
        }
    }
}

impl Oui {
    /// The embedded snapshot, parsed once.
    pub fn embedded() -> &'static Oui {
        static TABLE: OnceLock<Oui> = OnceLock::new();
        TABLE.get_or_init(|| {
            let mut t = Oui::default();
            t.add_text(EMBEDDED);
            t
        })
    }

    /// A table from files: the IEEE's CSV (`Registry,Assignment,
    /// Organization Name,…`: oui.csv, mam.csv, oui36.csv), its text format
    /// (`XXXXXX (base 16) Organization`: oui.txt), or `HEX<TAB>name` lines
    /// as embedded. Later files win. Fails naming the file when it holds no
    /// assignment at all.
    pub fn from_files(paths: &[impl AsRef<Path>]) -> Result<Oui, String> {
        let mut t = Oui::default();
        for p in paths {
            let p = p.as_ref();
            let bytes = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
            let text = String::from_utf8_lossy(&bytes);
            if t.add_text(&text) == 0 {
                return Err(format!(
                    "{}: no MAC assignment found (expected the IEEE's oui.csv or oui.txt format)",
                    p.display()
                ));
            }
        }
        Ok(t)
    }

    /// Number of assignments.
    pub fn len(&self) -> usize {
        self.by_prefix.len()
    }

    /// No assignment.
    pub fn is_empty(&self) -> bool {
        self.by_prefix.is_empty()
    }

    /// Adds the assignments in `text` (any of the three formats); returns
    /// how many lines were assignments.
    fn add_text(&mut self, text: &str) -> usize {
        let mut n = 0;
        if text.starts_with("Registry,Assignment") {
            // Quoted fields may hold commas and line breaks.
            let mut r = csv::ReaderBuilder::new()
                .flexible(true)
                .from_reader(text.as_bytes());
            for rec in r.records().flatten() {
                if let (Some(hex), Some(org)) = (rec.get(1), rec.get(2))
                    && self.insert(hex.trim(), org)
                {
                    n += 1;
                }
            }
            return n;
        }
        for line in text.lines() {
            let tsv = line
                .split_once('\t')
                .is_some_and(|(hex, org)| self.insert(hex.trim(), org));
            if tsv || text_line(line).is_some_and(|(hex, org)| self.insert(hex, org)) {
                n += 1;
            }
        }
        n
    }

    fn insert(&mut self, hex: &str, org: &str) -> bool {
        let org = org.split_whitespace().collect::<Vec<_>>().join(" ");
        let bits = match hex.len() {
            6 => 24,
            7 => 28,
            9 => 36,
            _ => return false,
        };
        let Ok(v) = u64::from_str_radix(hex, 16) else {
            return false;
        };
        if org.is_empty() || org.eq_ignore_ascii_case("private") {
            return false;
        }
        self.by_prefix.insert((bits, v), org.into_boxed_str());
        true
    }

    /// The vendor of `mac`: longest registered prefix; a locally
    /// administered address is [`Vendor::Local`] whatever its bits.
    pub fn vendor(&self, mac: &Mac) -> Vendor<'_> {
        if mac[0] & 0x02 != 0 {
            return Vendor::Local;
        }
        let v = mac.iter().fold(0u64, |a, &b| (a << 8) | u64::from(b));
        for bits in BITS {
            if let Some(org) = self.by_prefix.get(&(bits, v >> (48 - bits))) {
                return Vendor::Registered(org);
            }
        }
        Vendor::Unknown
    }
}

/// `10E992     (base 16)\t\tINGRAM MICRO SERVICES`.
fn text_line(line: &str) -> Option<(&str, &str)> {
    let (hex, rest) = line.trim_start().split_once(char::is_whitespace)?;
    let org = rest.trim_start().strip_prefix("(base 16)")?;
    (hex.len() == 6).then_some((hex, org))
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(m: &Mac) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// Parses `aa:bb:cc:dd:ee:ff`, `aa-bb-…` or `aabb.ccdd.eeff` (any case).
pub fn parse_mac(s: &str) -> Option<Mac> {
    let hex: String = s
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | '.'))
        .collect();
    if hex.len() != 12 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut m = [0u8; 6];
    for (i, b) in m.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_lookups() {
        let t = Oui::embedded();
        assert!(t.len() > 40_000, "{}", t.len());
        // The DHCP client and server of Zeek's dhcp.pcap.
        let dell = parse_mac("90:b1:1c:99:49:29").unwrap();
        assert_eq!(t.vendor(&dell), Vendor::Registered("Dell Inc."));
        let vmware = parse_mac("00:0c:29:40:0e:ef").unwrap();
        assert_eq!(t.vendor(&vmware), Vendor::Registered("VMware, Inc."));
        // The locally administered MAC of a QEMU guest.
        let qemu = parse_mac("52:54:00:12:34:56").unwrap();
        assert_eq!(t.vendor(&qemu), Vendor::Local);
        assert_eq!(Vendor::Local.cell(), "locally administered");
    }

    #[test]
    fn longest_prefix_wins() {
        let mut t = Oui::default();
        t.add_text(
            "Registry,Assignment,Organization Name,Organization Address\n\
             MA-L,70B3D5,IEEE Registration Authority,445 Hoes Lane\n\
             MA-S,70B3D5123,\"Small, Co.\",\"Some\nwhere\"\n\
             MA-M,70B3D51,Medium Co,Elsewhere\n\
             MA-L,001122,Private,\n",
        );
        assert_eq!(t.len(), 3);
        let m = |s| parse_mac(s).unwrap();
        assert_eq!(
            t.vendor(&m("70:b3:d5:12:34:56")),
            Vendor::Registered("Small, Co.")
        );
        assert_eq!(
            t.vendor(&m("70:b3:d5:1f:00:00")),
            Vendor::Registered("Medium Co")
        );
        assert_eq!(
            t.vendor(&m("70:b3:d5:ff:00:00")),
            Vendor::Registered("IEEE Registration Authority")
        );
        assert_eq!(t.vendor(&m("00:11:22:33:44:55")), Vendor::Unknown);
    }

    #[test]
    fn ieee_text_format() {
        let mut t = Oui::default();
        let n = t.add_text(
            "OUI/MA-L\t\tOrganization\n\n10-E9-92   (hex)\t\tINGRAM MICRO SERVICES\n\
             10E992     (base 16)\t\tINGRAM MICRO SERVICES\n\t\t\t\t100 CHEMIN DE BAILLOT\n",
        );
        assert_eq!(n, 1);
        assert_eq!(
            t.vendor(&parse_mac("10e9.9200.0001").unwrap()),
            Vendor::Registered("INGRAM MICRO SERVICES")
        );
    }

    #[test]
    fn files_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("oui.csv");
        std::fs::write(
            &good,
            "Registry,Assignment,Organization Name,Organization Address\nMA-L,AABBCC,Acme,x\n",
        )
        .unwrap();
        let t = Oui::from_files(&[&good]).unwrap();
        assert_eq!(t.len(), 1);
        let bad = dir.path().join("bad.txt");
        std::fs::write(&bad, "hello\n").unwrap();
        let e = Oui::from_files(&[&bad]).unwrap_err();
        assert!(e.contains("bad.txt: no MAC assignment"), "{e}");
        assert!(Oui::from_files(&[dir.path().join("none")]).is_err());
    }

    #[test]
    fn macs() {
        assert_eq!(
            parse_mac("90-B1-1C-99-49-29"),
            Some([0x90, 0xb1, 0x1c, 0x99, 0x49, 0x29])
        );
        assert_eq!(parse_mac("90:b1:1c:99:49"), None);
        assert_eq!(parse_mac("zz:b1:1c:99:49:29"), None);
        assert_eq!(
            format_mac(&[0x90, 0xb1, 0x1c, 0x99, 0x49, 0x29]),
            "90:b1:1c:99:49:29"
        );
    }
}
