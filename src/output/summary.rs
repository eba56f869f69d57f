//! The run's counts and the terminal report.
//!
//! [`Summary`] is a [`Sink`] that counts connections by negotiated version and
//! feeds the [`Tally`]; it keeps no per-connection state, so it stays small
//! on captures of any size. The clients CSV is [`super::clients`].

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use crate::enrich::devices::{self, GroupBy};
use crate::enrich::tally::{Entry, Scope, Tally, VERSION_COLUMNS, Verdict};
use crate::model::row::ConnRecord;
use crate::model::sink::Sink;
use crate::model::stats::Stats;
use crate::model::version::TlsVersion;

/// Rows listed in the terminal report before "and N more".
pub const MAX_LISTED: usize = 40;

/// Negotiated versions counted in a short list (the rest in a map).
const LISTED_VERSIONS: usize = 16;

/// Counts and tally for the end-of-run (or periodic) report.
#[derive(Debug)]
pub struct Summary {
    /// Connections reported, by negotiated version (in the order first
    /// seen; see [`Summary::by_version`]).
    versions: Vec<(Option<u16>, u64)>,
    /// Versions beyond the first [`LISTED_VERSIONS`] (wild values).
    more_versions: rustc_hash::FxHashMap<Option<u16>, u64>,
    /// Connections reported.
    pub connections: u64,
    /// Connections below TLS 1.2 (negotiated, or offered at most).
    pub below: u64,
    /// The per-client tally.
    pub tally: Tally,
    /// Connections in scope per time bucket, and the time span.
    pub timeline: crate::model::timeline::Timeline,
    /// Which Microsoft 365 endpoint data the run uses (e.g. `built-in
    /// 2026073100 (Worldwide)`); no line when empty.
    pub m365_data: String,
    /// What the host identity learned and what its bounds dropped; no line
    /// when empty.
    pub host_names: String,
    /// A signal stopped the run before its inputs ended (said first in
    /// the report).
    pub interrupted: bool,
    /// Every input failed: nothing was read, so there is no verdict to give.
    pub nothing_read: bool,
    /// Connections below TLS 1.2 to servers outside the scope (for the
    /// hint to widen it).
    pub below_elsewhere: u64,
    /// The first line of a tally of rows read from files (`tally`), in
    /// place of the packet counts.
    pub rows_line: Option<String>,
    /// What the reports' rows are per (`--group-by`): the tally is kept
    /// per address, grouped when reported ([`Summary::report_tally`]).
    pub group_by: GroupBy,
    scope: Scope,
}

impl Summary {
    /// An empty summary for `scope`.
    pub fn new(scope: Scope) -> Self {
        Summary {
            versions: Vec::new(),
            more_versions: Default::default(),
            connections: 0,
            below: 0,
            tally: Tally::new(scope),
            timeline: Default::default(),
            m365_data: String::new(),
            host_names: String::new(),
            interrupted: false,
            nothing_read: false,
            below_elsewhere: 0,
            rows_line: None,
            group_by: GroupBy::default(),
            scope,
        }
    }

    /// The tally as every report shows it (clients CSV, terminal, HTML,
    /// the exit status): per device or per address (`--group-by`).
    pub fn report_tally(&self) -> std::borrow::Cow<'_, Tally> {
        devices::group(&self.tally, self.group_by)
    }

    /// Grouped by device (the clients CSV then has `client_addresses`).
    pub fn by_device(&self) -> bool {
        self.group_by == GroupBy::Device
    }

    /// The scope counted.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// Connections reported, by negotiated version spelling ("" = none).
    pub fn by_version(&self) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for (&v, &n) in self
            .versions
            .iter()
            .map(|(v, n)| (v, n))
            .chain(&self.more_versions)
        {
            let name = v
                .map(|v| TlsVersion(v).name().into_owned())
                .unwrap_or_default();
            *m.entry(name).or_default() += n;
        }
        m
    }

    /// Counts `n` connections that negotiated `v` (a few versions: a
    /// short list, no spelling made per connection).
    fn count_version(&mut self, v: Option<u16>, n: u64) {
        if let Some((_, c)) = self.versions.iter_mut().find(|(x, _)| *x == v) {
            *c += n;
        } else if self.versions.len() < LISTED_VERSIONS {
            self.versions.push((v, n));
        } else {
            *self.more_versions.entry(v).or_default() += n;
        }
    }

    /// Adds the counts of another part of the same capture.
    pub fn merge(&mut self, o: &Summary) {
        self.connections += o.connections;
        self.below += o.below;
        self.below_elsewhere += o.below_elsewhere;
        for (&v, &n) in o
            .versions
            .iter()
            .map(|(v, n)| (v, n))
            .chain(&o.more_versions)
        {
            self.count_version(v, n);
        }
        self.tally.merge(&o.tally);
        self.timeline.merge(&o.timeline);
    }
}

impl Sink for Summary {
    fn record(&mut self, rec: &ConnRecord) -> io::Result<()> {
        self.connections += 1;
        self.count_version(rec.negotiated_version, 1);
        let below = rec.below_tls12();
        if below {
            self.below += 1;
            if self.scope == Scope::M365 && !rec.m365.m365 {
                self.below_elsewhere += 1;
            }
        }
        let counted = self.scope.covers(rec).then_some(below);
        self.timeline.add(rec.ts, rec.last_ts, counted);
        self.tally.add(rec);
        Ok(())
    }
}

/// Addresses of a device listed in the terminal report at most; the
/// clients CSV lists them all.
const MAX_ADDRESSES: usize = 3;

/// A client's addresses as the terminal report shows them: grouped by
/// device, the one in `client_ip` (the most recent) first, then the
/// others ascending, at most [`MAX_ADDRESSES`] and `+N` for the rest.
fn address_cell(tally: &Tally, ip: std::net::IpAddr) -> String {
    let mut cell = ip.to_string();
    let Some(all) = tally.device_addresses(ip) else {
        return cell;
    };
    let others: Vec<_> = all.iter().filter(|a| **a != ip).collect();
    for a in others.iter().take(MAX_ADDRESSES - 1) {
        cell.push_str(", ");
        cell.push_str(&a.to_string());
    }
    if others.len() > MAX_ADDRESSES - 1 {
        cell.push_str(&format!(" +{}", others.len() - (MAX_ADDRESSES - 1)));
    }
    cell
}

/// How the report is shown: colours, and the width to fit.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// Use ANSI colours.
    pub color: bool,
    /// The terminal's width in columns; `None` (not a terminal): nothing
    /// is cut.
    pub width: Option<usize>,
}

impl Style {
    /// Colours only on a terminal and when `NO_COLOR` is unset or empty;
    /// the width of the terminal (`None` when not one).
    pub fn detect(is_terminal: bool, width: Option<usize>) -> Style {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            color: is_terminal && !no_color,
            width: if is_terminal { width } else { None },
        }
    }

    fn verdict(&self, v: Verdict) -> String {
        let code = match v {
            Verdict::WillBreak => "31;1",
            Verdict::AtRisk => "33",
            Verdict::Ready => "32",
        };
        if self.color {
            format!("\x1b[{code}m{:<10}\x1b[0m", v.as_str())
        } else {
            format!("{:<10}", v.as_str())
        }
    }
}

/// Shortens `s` to `n` characters, marking the cut with `~`.
fn fit(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('~');
        t
    }
}

/// The legend of the VERSIONS column.
pub const VERSIONS_LEGEND: &str = "VERSIONS: connections per negotiated version (TLS1.0×3); \
no answer = no ServerHello (refused or failed); plaintext = mail without TLS";

/// A row's connections as people read them: `TLS1.0×1 TLS1.2×4 no answer×3`.
pub fn version_mix(e: &Entry) -> String {
    let mut parts = Vec::new();
    for ((_, v), n) in VERSION_COLUMNS.iter().zip(e.by_version) {
        if n > 0 {
            parts.push(format!("{}×{n}", TlsVersion(*v).name()));
        }
    }
    if e.other_version > 0 {
        parts.push(format!("other×{}", e.other_version));
    }
    // Plaintext sessions have no ServerHello either: counted apart.
    let no_answer = e.no_server_hello.saturating_sub(e.plaintext);
    if no_answer > 0 {
        parts.push(format!("no answer×{no_answer}"));
    }
    if e.plaintext > 0 {
        parts.push(format!("plaintext×{}", e.plaintext));
    }
    parts.join(" ")
}

/// `1 connection`, `2 connections`.
pub fn count(n: impl Into<u64>, what: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// What needs doing about a row, most urgent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Finding {
    /// Connections that work today below TLS 1.2.
    Legacy,
    /// Mail in plaintext (or STARTTLS refused).
    Plaintext,
    /// The opt-in legacy endpoint.
    LegacyEndpoint,
    /// Handshakes that already fail (no answer).
    Failing,
    /// Nothing wrong in this row (the client's verdict comes from others).
    Nothing,
}

impl Finding {
    fn of(e: &Entry) -> Finding {
        let legacy: u64 = e.by_version.iter().take(4).sum();
        if legacy > 0 {
            Finding::Legacy
        } else if e.plaintext > 0 {
            Finding::Plaintext
        } else if e.legacy_endpoint > 0 {
            Finding::LegacyEndpoint
        } else if e.no_server_hello > 0 {
            Finding::Failing
        } else {
            Finding::Nothing
        }
    }

    /// What was found, and what to do.
    fn advice(self) -> Option<(&'static str, &'static str)> {
        Some(match self {
            Finding::Legacy => (
                "TLS below 1.2 today",
                "enable TLS 1.2 on the client (OS or application setting) or update it",
            ),
            Finding::Plaintext => (
                "mail sent in plaintext or STARTTLS refused",
                "configure the client for STARTTLS or implicit TLS with TLS 1.2",
            ),
            Finding::LegacyEndpoint => (
                "opt-in legacy endpoint",
                "stop using it: point the client at the standard endpoint, with TLS 1.2",
            ),
            Finding::Failing => (
                "handshakes with no answer (already failing)",
                "enable TLS 1.2 on the client or update it",
            ),
            Finding::Nothing => return None,
        })
    }
}

/// A server port with the protocol it carried: `587/smtp-starttls`.
fn port_cell(e: &Entry) -> String {
    let ports: Vec<String> = e.server_ports().iter().map(u16::to_string).collect();
    let protos: Vec<&str> = e.protocols().iter().map(|p| p.as_str()).collect();
    let proto = match protos.as_slice() {
        ["tls"] => "tls".to_string(),
        _ => protos.join("+"),
    };
    format!("{}/{proto}", ports.join(","))
}

/// Widths of the name columns (client's EHLO name, server name) so that
/// a line fits `width`: names are cut only when the terminal is too
/// narrow, and never below 12 characters; addresses are never cut.
fn name_widths(fixed: usize, helo: usize, server: usize, width: Option<usize>) -> (usize, usize) {
    let Some(width) = width else {
        return (helo, server);
    };
    let room = width.saturating_sub(fixed);
    if helo + server <= room {
        return (helo, server);
    }
    // Cut the longer first, down to 12 characters each.
    let (mut h, mut s) = (helo, server);
    while h + s > room && (h > 12 || s > 12) {
        if s >= h && s > 12 {
            s -= 1;
        } else if h > 12 {
            h -= 1;
        } else {
            s -= 1;
        }
    }
    (h, s)
}

impl Summary {
    /// Writes the report: counts, the headline, then the clients that will
    /// break or are at risk, what needs action first, a legend and advice.
    /// Fits the terminal's width (`style.width`); addresses are never cut.
    pub fn write_report(&self, out: &mut dyn Write, stats: &Stats, style: Style) -> io::Result<()> {
        if self.interrupted {
            writeln!(
                out,
                "INTERRUPTED: stopped by a signal; everything below covers only the part read"
            )?;
        }
        if self.nothing_read {
            return writeln!(
                out,
                "Nothing was analysed: no input could be read (see the errors above), \
                 so there is no verdict."
            );
        }
        match &self.rows_line {
            Some(line) => writeln!(out, "{line}")?,
            None => writeln!(
                out,
                "{} ({} passed over), {}",
                count(stats.packets, "packet"),
                stats.passed_over(),
                count(self.connections, "TLS connection")
            )?,
        }
        let mix: Vec<String> = self
            .by_version()
            .iter()
            .map(|(v, n)| format!("{} {n}", if v.is_empty() { "none" } else { v }))
            .collect();
        if !mix.is_empty() {
            writeln!(out, "negotiated: {}", mix.join(", "))?;
        }
        writeln!(out, "below TLS 1.2: {}", count(self.below, "connection"))?;
        if stats.fragments > 0 {
            let dropped = stats.frag_incomplete + stats.frag_over_limit + stats.frag_invalid;
            writeln!(
                out,
                "IP fragments: {}, {} datagrams reassembled, {dropped} dropped ({} incomplete, {} over limits, {} invalid)",
                stats.fragments,
                stats.reassembled,
                stats.frag_incomplete,
                stats.frag_over_limit,
                stats.frag_invalid
            )?;
        }
        if stats.evicted_full > 0 || stats.evicted_idle > 0 {
            writeln!(
                out,
                "evicted: {} idle, {} when the flow table was full",
                stats.evicted_idle, stats.evicted_full
            )?;
        }
        if stats.after_close > 0 {
            writeln!(
                out,
                "after close: {} on the ports of connections closed lately (copies, late retransmissions), not taken as new connections",
                count(stats.after_close, "segment")
            )?;
        }
        if !self.m365_data.is_empty() {
            writeln!(out, "Microsoft 365 data: {}", self.m365_data)?;
        }
        if !self.host_names.is_empty() {
            writeln!(out, "Host names: {}", self.host_names)?;
        }
        if stats.shed_memcap > 0 || stats.evicted_memcap > 0 {
            writeln!(
                out,
                "memory budget (--memcap) reached: {} connections shed ({:.1} MiB buffered, reported truncated), {} evicted",
                stats.shed_memcap,
                stats.shed_bytes as f64 / f64::from(1u32 << 20),
                stats.evicted_memcap
            )?;
        }
        let what = match self.scope {
            Scope::M365 => "Microsoft 365",
            Scope::All => "all servers",
        };
        let tally = self.report_tally();
        let tally = tally.as_ref();
        let head = tally.headline();
        let per = |v: Verdict| -> String {
            let parts: Vec<String> = head
                .iter()
                .filter(|((x, _), _)| *x == v)
                .map(|((_, s), n)| format!("{} {n}", if s.is_empty() { "other" } else { s }))
                .collect();
            if parts.is_empty() {
                String::new()
            } else {
                format!("; per service: {}", parts.join(", "))
            }
        };
        let clients = |n: usize| {
            if n == 1 {
                "1 client".to_string()
            } else {
                format!("{n} distinct clients")
            }
        };
        writeln!(out)?;
        writeln!(
            out,
            "{what}: {} will break{}",
            clients(tally.clients_with(Verdict::WillBreak)),
            per(Verdict::WillBreak)
        )?;
        writeln!(
            out,
            "{what}: {} at risk{}",
            clients(tally.clients_with(Verdict::AtRisk)),
            per(Verdict::AtRisk),
        )?;
        writeln!(
            out,
            "{what}: {} ready",
            clients(tally.clients_with(Verdict::Ready)),
        )?;
        if !head.is_empty() {
            writeln!(
                out,
                "(a client is counted once, under its worst verdict, in the totals, and \
                 once per service it uses: the services can add up to more)"
            )?;
        }
        if self.below_elsewhere > 0 {
            writeln!(
                out,
                "{} below TLS 1.2 went to servers outside Microsoft 365: `--scope all` lists them",
                count(self.below_elsewhere, "connection")
            )?;
        }
        let mut rows: Vec<_> = tally
            .rows()
            .into_iter()
            .filter(|r| r.verdict != Verdict::Ready)
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        // What needs action first: the worst verdict, then connections
        // that work today below TLS 1.2, then the busiest.
        rows.sort_by(|a, b| {
            (
                a.verdict,
                Finding::of(a.entry),
                std::cmp::Reverse(a.entry.connections),
            )
                .cmp(&(
                    b.verdict,
                    Finding::of(b.entry),
                    std::cmp::Reverse(b.entry.connections),
                ))
                .then_with(|| a.key.cmp(&b.key))
        });
        let listed = &rows[..rows.len().min(MAX_LISTED)];
        let cells: Vec<[String; 5]> = listed
            .iter()
            .map(|r| {
                [
                    address_cell(tally, r.key.client_ip),
                    // Its best name (learned, `--hosts`, else its EHLO).
                    tally
                        .client_name(r.key.client_ip, &r.key.client_helo)
                        .map(|n| n.name)
                        .unwrap_or_default(),
                    if r.key.service.is_empty() {
                        "-".to_string()
                    } else {
                        r.key.service.clone()
                    },
                    r.key.server_name.clone(),
                    port_cell(r.entry),
                ]
            })
            .collect();
        let w = |i: usize, min: usize| {
            cells
                .iter()
                .map(|c| c[i].chars().count())
                .max()
                .unwrap_or(0)
                .max(min)
        };
        let (ip_w, helo_w, svc_w, server_w, port_w) = (w(0, 6), w(1, 0), w(2, 7), w(3, 6), w(4, 4));
        let mixes: Vec<String> = listed.iter().map(|r| version_mix(r.entry)).collect();
        let mix_w = mixes.iter().map(|m| m.chars().count()).max().unwrap_or(0);
        // VERDICT, address, service, port, versions and the spaces between.
        // A named client reads `name (address)`: two more for the brackets.
        let brackets = if helo_w > 0 { 2 } else { 0 };
        let fixed = 10 + 1 + ip_w + brackets + 1 + svc_w + 1 + port_w + 1 + mix_w + 2;
        let (helo_w, server_w) = name_widths(fixed, helo_w, server_w, style.width);
        // The name first (what an administrator fixes), then the address,
        // never cut; a client without a name is its address.
        let clients: Vec<String> = cells
            .iter()
            .map(|c| {
                if helo_w > 0 && !c[1].is_empty() {
                    format!("{} ({})", fit(&c[1], helo_w), c[0])
                } else {
                    c[0].clone()
                }
            })
            .collect();
        let client_w = clients
            .iter()
            .map(|c| c.chars().count())
            .max()
            .unwrap_or(0)
            .max(6);
        writeln!(out)?;
        writeln!(
            out,
            "{:<10} {:<client_w$} {:<svc_w$} {:<server_w$} {:<port_w$} VERSIONS",
            "VERDICT", "CLIENT", "SERVICE", "SERVER", "PORT"
        )?;
        for (((r, c), mix), client) in listed.iter().zip(&cells).zip(&mixes).zip(&clients) {
            writeln!(
                out,
                "{} {:<client_w$} {:<svc_w$} {:<server_w$} {:<port_w$} {}",
                style.verdict(r.verdict),
                client,
                c[2],
                fit(&c[3], server_w),
                c[4],
                mix
            )?;
        }
        if rows.len() > MAX_LISTED {
            writeln!(
                out,
                "... and {} more rows (see --clients)",
                rows.len() - MAX_LISTED
            )?;
        }
        writeln!(out, "{VERSIONS_LEGEND}")?;
        // One line of advice per kind of finding.
        let mut kinds: BTreeMap<Finding, BTreeSet<(std::net::IpAddr, &str)>> = BTreeMap::new();
        for r in &rows {
            kinds
                .entry(Finding::of(r.entry))
                .or_default()
                .insert((r.key.client_ip, r.key.client_helo.as_str()));
        }
        writeln!(out)?;
        for (k, who) in kinds {
            if let Some((found, todo)) = k.advice() {
                writeln!(
                    out,
                    "{found} ({}): {todo}",
                    count(who.len() as u64, "client")
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::m365::Endpoints;
    use crate::flow::table::Limits;
    use crate::input::source::Input;
    use crate::run::pipelined;
    use crate::run::progress::NoProgress;
    use std::sync::Arc;

    fn report(name: &str, width: Option<usize>) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("samples")
            .join(name);
        let mut s = Summary::new(Scope::All);
        let (stats, err) = pipelined::run(
            vec![Input::File(path)],
            &crate::run::driver::ReadControl::default(),
            Arc::new(Endpoints::embedded()),
            Limits::default(),
            false,
            &mut s,
            &NoProgress,
            &mut |e| panic!("{e}"),
            &mut |_| {},
        );
        assert!(err.is_none());
        let mut out = Vec::new();
        let style = Style {
            color: false,
            width,
        };
        s.write_report(&mut out, &stats, style).expect("write");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn names_are_cut_only_when_the_terminal_is_too_narrow() {
        let f = "smtp-starttls-tls10-587.pcap";
        let line = |r: &str| {
            r.lines()
                .find(|l| l.starts_with("will-break"))
                .unwrap_or_default()
                .to_string()
        };
        // Not a terminal, or a wide one: whole.
        for w in [None, Some(200)] {
            let l = line(&report(f, w));
            assert!(l.contains(" printer01.corp.example (127.0.0.1) "), "{l}");
            assert!(!l.contains('~'), "{l}");
        }
        // Narrow: the EHLO name is cut, the address never.
        let l = line(&report(f, Some(70)));
        assert!(l.contains(" printer01.c~ (127.0.0.1) "), "{l}");
        assert!(l.contains("587/smtp-starttls TLS1.0×1"), "{l}");
    }

    /// A device at five addresses: its most recent first, two more, `+2`.
    #[test]
    fn a_device_lists_its_most_recent_address_first() {
        use crate::model::row::ClientName;
        let mut s = Summary::new(Scope::All);
        for i in 1..=5u8 {
            let r = crate::model::row::ConnRecord {
                ts: i64::from(i),
                last_ts: i64::from(i),
                client_ip: std::net::IpAddr::from([10, 0, 0, i]),
                ..test_record()
            };
            s.record(&r).expect("record");
        }
        s.tally.name_clients(&|_, _| {
            Some(ClientName {
                name: "pc".into(),
                source: "dhcp",
                mac: "90:b1:1c:20:05:01".into(),
                ..Default::default()
            })
        });
        let t = s.report_tally();
        let rows = t.rows();
        assert_eq!(rows.len(), 1);
        assert_eq!(
            address_cell(&t, rows[0].key.client_ip),
            "10.0.0.5, 10.0.0.1, 10.0.0.2 +2"
        );
        s.group_by = GroupBy::Address;
        let t = s.report_tally();
        assert_eq!(address_cell(&t, "10.0.0.3".parse().unwrap()), "10.0.0.3");
    }

    fn test_record() -> crate::model::row::ConnRecord {
        crate::model::row::ConnRecord {
            client_ip: std::net::IpAddr::from([10, 0, 0, 1]),
            client_port: 1,
            server_ip: std::net::IpAddr::from([52, 96, 0, 1]),
            server_port: 443,
            sni: "outlook.office365.com".into(),
            client_max_version: Some(0x0301),
            client_best_version: Some(0x0301),
            client_version: Some(0x0301),
            negotiated_version: Some(0x0301),
            m365_data: Arc::from("built-in:2026073100"),
            packets: 3,
            ..crate::model::row::ConnRecord::default()
        }
    }

    #[test]
    fn counts_are_spelled_for_one_and_many() {
        let r = report("openssl-tls10.pcap", None);
        assert!(r.contains(", 1 TLS connection\n"), "{r}");
        assert!(r.contains("below TLS 1.2: 1 connection\n"), "{r}");
        assert!(r.contains("all servers: 1 client will break"), "{r}");
        assert_eq!(count(2u64, "connection"), "2 connections");
    }
}
