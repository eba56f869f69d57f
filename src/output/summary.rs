//! The run's counts and the terminal report.
//!
//! [`Summary`] is a [`Sink`] that counts connections by negotiated version and
//! feeds the [`Tally`]; it keeps no per-connection state, so it stays small
//! on captures of any size. The clients CSV is [`super::clients`].

use std::collections::BTreeMap;
use std::io::{self, Write};

use crate::enrich::tally::{Entry, Scope, Tally, VERSION_COLUMNS, Verdict};
use crate::model::row::ConnRecord;
use crate::model::sink::Sink;
use crate::model::stats::Stats;
use crate::model::version::TlsVersion;

/// Rows listed in the terminal report before "and N more".
pub const MAX_LISTED: usize = 40;

/// Counts and tally for the end-of-run (or periodic) report.
#[derive(Debug)]
pub struct Summary {
    /// Connections reported, by negotiated version spelling ("" = none).
    pub by_version: BTreeMap<String, u64>,
    /// Connections reported.
    pub connections: u64,
    /// Connections below TLS 1.2 (negotiated, or offered at most).
    pub below: u64,
    /// The per-client tally.
    pub tally: Tally,
    /// A signal stopped the run before its inputs ended (said first in
    /// the report).
    pub interrupted: bool,
    /// Every input failed: nothing was read, so there is no verdict to give.
    pub nothing_read: bool,
    scope: Scope,
}

impl Summary {
    /// An empty summary for `scope`.
    pub fn new(scope: Scope) -> Self {
        Summary {
            by_version: BTreeMap::new(),
            connections: 0,
            below: 0,
            tally: Tally::new(scope),
            interrupted: false,
            nothing_read: false,
            scope,
        }
    }

    /// The scope counted.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// Adds the counts of another part of the same capture.
    pub fn merge(&mut self, o: &Summary) {
        self.connections += o.connections;
        self.below += o.below;
        for (k, v) in &o.by_version {
            *self.by_version.entry(k.clone()).or_default() += v;
        }
        self.tally.merge(&o.tally);
    }
}

impl Sink for Summary {
    fn record(&mut self, rec: &ConnRecord) -> io::Result<()> {
        self.connections += 1;
        let v = rec.negotiated_version.map(|v| TlsVersion(v).name());
        let v = v.as_deref().unwrap_or_default();
        match self.by_version.get_mut(v) {
            Some(n) => *n += 1,
            None => {
                self.by_version.insert(v.to_string(), 1);
            }
        }
        if rec.below_tls12() {
            self.below += 1;
        }
        self.tally.add(rec);
        Ok(())
    }
}

/// Terminal colours, when wanted.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// Use ANSI colours.
    pub color: bool,
}

impl Style {
    /// Colours only on a terminal and when `NO_COLOR` is unset or empty.
    pub fn detect(is_terminal: bool) -> Style {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            color: is_terminal && !no_color,
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

fn version_mix(e: &Entry) -> String {
    let mut parts = Vec::new();
    for ((name, _), n) in VERSION_COLUMNS.iter().zip(e.by_version) {
        if n > 0 {
            parts.push(format!(
                "{}:{n}",
                name.trim_start_matches("tls").replace("ssl", "s")
            ));
        }
    }
    if e.other_version > 0 {
        parts.push(format!("?:{}", e.other_version));
    }
    if e.no_server_hello > 0 {
        parts.push(format!("fail:{}", e.no_server_hello));
    }
    parts.join(" ")
}

impl Summary {
    /// Writes the report: counts, the headline, then the clients that will
    /// break or are at risk, worst first. Fits 80 columns.
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
        writeln!(
            out,
            "{} packets ({} passed over), {} TLS connections",
            stats.packets,
            stats.passed_over(),
            self.connections
        )?;
        let mix: Vec<String> = self
            .by_version
            .iter()
            .map(|(v, n)| format!("{} {n}", if v.is_empty() { "none" } else { v }))
            .collect();
        if !mix.is_empty() {
            writeln!(out, "negotiated: {}", mix.join(", "))?;
        }
        writeln!(out, "below TLS 1.2: {} connections", self.below)?;
        if stats.evicted_full > 0 || stats.evicted_idle > 0 {
            writeln!(
                out,
                "evicted: {} idle, {} when the flow table was full",
                stats.evicted_idle, stats.evicted_full
            )?;
        }
        let what = match self.scope {
            Scope::M365 => "Microsoft 365",
            Scope::All => "all servers",
        };
        let head = self.tally.headline();
        let per = |v: Verdict| -> String {
            let parts: Vec<String> = head
                .iter()
                .filter(|((x, _), _)| *x == v)
                .map(|((_, s), n)| format!("{} {n}", if s.is_empty() { "other" } else { s }))
                .collect();
            if parts.is_empty() {
                String::new()
            } else {
                format!(" ({})", parts.join(", "))
            }
        };
        writeln!(out)?;
        writeln!(
            out,
            "{what}: {} clients will break{}",
            self.tally.clients_with(Verdict::WillBreak),
            per(Verdict::WillBreak)
        )?;
        writeln!(
            out,
            "{what}: {} clients at risk{}, {} ready",
            self.tally.clients_with(Verdict::AtRisk),
            per(Verdict::AtRisk),
            self.tally.clients_with(Verdict::Ready)
        )?;
        let rows: Vec<_> = self
            .tally
            .rows()
            .into_iter()
            .filter(|r| r.verdict != Verdict::Ready)
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        writeln!(out)?;
        writeln!(
            out,
            "VERDICT    CLIENT                 SERVICE    SERVER                 VERSIONS"
        )?;
        for r in rows.iter().take(MAX_LISTED) {
            let client = if r.key.client_helo.is_empty() {
                r.key.client_ip.to_string()
            } else {
                format!("{} {}", r.key.client_ip, r.key.client_helo)
            };
            let service = if r.key.service.is_empty() {
                "-"
            } else {
                &r.key.service
            };
            writeln!(
                out,
                "{} {:<22} {:<10} {:<22} {}",
                style.verdict(r.verdict),
                fit(&client, 22),
                fit(service, 10),
                fit(&r.key.server_name, 22),
                fit(&version_mix(r.entry), 11)
            )?;
        }
        if rows.len() > MAX_LISTED {
            writeln!(
                out,
                "... and {} more rows (see --clients)",
                rows.len() - MAX_LISTED
            )?;
        }
        Ok(())
    }
}
