//! The hook between a run and its HTML report: [`from_summary`] turns the
//! summary into [`ReportData`], [`HtmlReport::write`] renders the page and
//! replaces the file atomically (a temporary file in the same directory,
//! then a rename), so a browser or a web server never sees half a page.

use std::collections::BTreeMap;
use std::io::{self, BufReader, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};

use super::report_data::{
    ClientTable, MAX_BARS, ROW_LIMIT, ReportContext, ReportData, SERVICES, ServiceRow, TOP_SERVERS,
    VERDICTS,
};
use super::summary::Summary;
use crate::enrich::tally::{Scope, Tally, Verdict};
use crate::model::stats::Stats;

/// Where the page goes, and the run facts it shows.
#[derive(Debug, Clone)]
pub struct HtmlReport {
    /// The HTML file.
    pub path: PathBuf,
    /// Run facts.
    pub context: ReportContext,
}

impl HtmlReport {
    /// Checks now, before a long run, that a page can be written beside
    /// `path` (the directory exists and is writable).
    pub fn check(path: &Path) -> Result<(), String> {
        tempfile::NamedTempFile::new_in(dir_of(path))
            .map(drop)
            .map_err(|e| format!("{}: cannot write: {e}", path.display()))
    }

    /// Renders the page for `summary` and replaces the file with it.
    pub fn write(&self, summary: &Summary, stats: Option<&Stats>) -> Result<(), String> {
        let err = |e: io::Error| format!("{}: cannot write: {e}", self.path.display());
        let data = from_summary(summary, stats, self.context.clone()).map_err(err)?;
        let page = super::html::page(&data);
        write_atomic(&self.path, page.as_bytes()).map_err(err)
    }
}

fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over
/// `path`. The page keeps the permissions of the file it replaces, else
/// gets 0644 (a web server may serve it).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = tempfile::Builder::new()
        .prefix(".tlsready-")
        .suffix(".html.tmp")
        .tempfile_in(dir_of(path))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_data()?;
    let perms = match std::fs::metadata(path) {
        Ok(m) => m.permissions(),
        Err(_) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::Permissions::from_mode(0o644)
            }
            #[cfg(not(unix))]
            {
                tmp.as_file().metadata()?.permissions()
            }
        }
    };
    tmp.as_file().set_permissions(perms)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Builds the page's data from a run's summary: the headline and charts
/// from the tally, the table from the clients CSV as
/// [`super::clients::write_clients_csv`] writes it (so the page shows the same
/// cells), read back through a temporary file.
pub fn from_summary(
    summary: &Summary,
    stats: Option<&Stats>,
    context: ReportContext,
) -> io::Result<ReportData> {
    let tally = summary.report_tally();
    let tally = tally.as_ref();
    let head = tally.headline();
    let mut services: Vec<ServiceRow> = SERVICES
        .iter()
        .map(|s| ServiceRow {
            name: (*s).to_string(),
            ..Default::default()
        })
        .collect();
    let row_of = |services: &mut Vec<ServiceRow>, name: &str| -> usize {
        let name = if name.is_empty() { "other" } else { name };
        match services.iter().position(|r| r.name == name) {
            Some(i) => i,
            None => {
                services.push(ServiceRow {
                    name: name.to_string(),
                    ..Default::default()
                });
                services.len() - 1
            }
        }
    };
    for ((verdict, service), n) in &head {
        let i = row_of(&mut services, service);
        if let Some(r) = services.get_mut(i) {
            r.clients[verdict_index(*verdict)] += n;
        }
    }
    let mut below_by_server: BTreeMap<&str, u64> = BTreeMap::new();
    let rows = tally.rows();
    for r in &rows {
        let e = r.entry;
        let i = row_of(&mut services, &r.key.service);
        if let Some(s) = services.get_mut(i) {
            for (slot, n) in s.versions.iter_mut().zip(e.by_version) {
                *slot += n;
            }
            s.versions[6] += e.other_version;
            s.versions[7] += e.no_server_hello;
            s.below += e.legacy_handshakes;
        }
        if e.legacy_handshakes > 0 {
            *below_by_server.entry(&r.key.server_name).or_default() += e.legacy_handshakes;
        }
    }
    let mut top_below: Vec<(String, u64)> = below_by_server
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    top_below.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    top_below.truncate(TOP_SERVERS);
    drop(rows);
    let (bucket_us, series) = summary.timeline.series(MAX_BARS);
    let negotiated = summary
        .by_version()
        .iter()
        .map(|(v, n)| (if v.is_empty() { "none" } else { v }.to_string(), *n))
        .collect();
    Ok(ReportData {
        scope: match summary.scope() {
            Scope::M365 => "Microsoft 365",
            Scope::All => "all TLS servers",
        }
        .to_string(),
        generated: crate::text::rfc3339(now_us()),
        tool: format!("tlsready {}", env!("CARGO_PKG_VERSION")),
        context,
        span: summary.timeline.span(),
        packets: stats.map(|s| s.packets),
        connections: summary.connections,
        below: summary.below,
        negotiated,
        clients: [Verdict::WillBreak, Verdict::AtRisk, Verdict::Ready]
            .map(|v| tally.clients_with(v) as u64),
        services,
        bucket_us,
        timeline: series
            .into_iter()
            .map(|(t, c)| (t, c.connections, c.below))
            .collect(),
        top_below,
        table: client_table(tally, summary.by_device())?,
    })
}

fn verdict_index(v: Verdict) -> usize {
    match v {
        Verdict::WillBreak => 0,
        Verdict::AtRisk => 1,
        Verdict::Ready => 2,
    }
}

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// The clients CSV, written to a temporary file and read back: the first
/// [`ROW_LIMIT`] rows, and counts over all of them.
fn client_table(tally: &Tally, by_device: bool) -> io::Result<ClientTable> {
    let file = tempfile::tempfile()?;
    let mut back = file.try_clone()?;
    super::clients::write_clients_csv(tally, by_device, Box::new(BufWriter::new(file)))?;
    back.rewind()?;
    let mut reader = csv::Reader::from_reader(BufReader::new(back));
    let header: Vec<String> = reader
        .headers()
        .map_err(io::Error::other)?
        .iter()
        .map(str::to_string)
        .collect();
    let verdict_col = header.iter().position(|h| h == "verdict");
    let mut table = ClientTable {
        header,
        ..Default::default()
    };
    for rec in reader.records() {
        let rec = rec.map_err(io::Error::other)?;
        table.total_rows += 1;
        if let Some(v) = verdict_col.and_then(|i| rec.get(i))
            && let Some(i) = VERDICTS.iter().position(|x| *x == v)
        {
            table.rows_per_verdict[i] += 1;
        }
        if table.rows.len() < ROW_LIMIT {
            table.rows.push(rec.iter().map(str::to_string).collect());
        }
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::m365::{Classification, Service};
    use crate::model::row::ConnRecord;
    use crate::model::sink::Sink;

    /// A connection of `client` to Exchange, offering and negotiating `v`.
    fn rec(client: u32, v: u16, ts: i64) -> ConnRecord {
        ConnRecord {
            ts,
            last_ts: ts + 1000,
            client_ip: std::net::IpAddr::V4(client.into()),
            client_port: 50000,
            server_ip: "52.96.0.1".parse().unwrap(),
            server_port: 443,
            sni: "outlook.office365.com".into(),
            client_max_version: Some(v),
            client_best_version: Some(v),
            client_version: Some(v),
            negotiated_version: Some(v),
            m365: Classification {
                m365: true,
                service: Some(Service::Exchange),
                ..Default::default()
            },
            packets: 4,
            ..ConnRecord::default()
        }
    }

    #[test]
    fn many_clients_from_a_summary() {
        let mut s = Summary::new(Scope::M365);
        let hour = crate::model::timeline::HOUR;
        for i in 0..6000u32 {
            let v = if i % 2 == 0 { 0x0301 } else { 0x0303 };
            // Two days of connections, one every 28.8 s.
            s.record(&rec(0x0a00_0000 + i, v, i64::from(i) * 28_800_000))
                .unwrap();
        }
        let mut other = rec(0x0b00_0001, 0x0301, 0);
        other.m365 = Classification::default();
        s.record(&other).unwrap();
        let d = from_summary(&s, None, ReportContext::default()).unwrap();
        assert_eq!(d.connections, 6001);
        assert_eq!(d.below, 3001);
        assert_eq!(d.clients, [3000, 0, 3000]);
        assert_eq!(d.services[0].name, "Exchange");
        assert_eq!(d.services[0].clients, [3000, 0, 3000]);
        assert_eq!(d.services[0].versions, [0, 0, 3000, 0, 3000, 0, 0, 0]);
        assert_eq!(d.services[0].below, 3000);
        assert_eq!(d.top_below, vec![("outlook.office365.com".into(), 3000)]);
        // The table: the CSV's first rows, worst first, and counts of all.
        assert_eq!(d.table.total_rows, 6000);
        assert_eq!(d.table.rows.len(), ROW_LIMIT);
        assert_eq!(d.table.rows_per_verdict, [3000, 0, 3000]);
        let v = d.table.header.iter().position(|h| h == "verdict").unwrap();
        assert_eq!(d.table.rows[2999][v], "will-break");
        assert_eq!(d.table.rows[3000][v], "ready");
        // Over time: 48 hours, per hour; every in-scope connection counted.
        assert_eq!(d.bucket_us, hour);
        assert_eq!(d.timeline.len(), 48);
        assert_eq!(d.timeline.iter().map(|b| b.1).sum::<u64>(), 6000);
        assert_eq!(d.timeline.iter().map(|b| b.2).sum::<u64>(), 3000);
        assert_eq!(d.span, Some((0, 5999 * 28_800_000 + 1000)));
        let page = crate::output::html::page(&d);
        assert!(page.contains("first 5,000 of 6,000 rows"));
    }

    #[test]
    fn written_atomically_keeping_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let page = dir.path().join("r.html");
        let report = HtmlReport {
            path: page.clone(),
            context: ReportContext::default(),
        };
        HtmlReport::check(&page).unwrap();
        let s = Summary::new(Scope::M365);
        report.write(&s, None).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&page), 0o644);
        std::fs::set_permissions(&page, std::fs::Permissions::from_mode(0o600)).unwrap();
        report.write(&s, None).unwrap();
        assert_eq!(mode(&page), 0o600);
        let text = std::fs::read_to_string(&page).unwrap();
        assert!(text.starts_with("<!DOCTYPE html>") && text.ends_with("</html>"));
        // Only the page is left in the directory.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        // A directory that does not exist: a clear error.
        let bad = dir.path().join("no/such/dir/r.html");
        let e = HtmlReport::check(&bad).unwrap_err();
        assert!(
            e.starts_with(&format!("{}: cannot write:", bad.display())),
            "{e}"
        );
    }
}
