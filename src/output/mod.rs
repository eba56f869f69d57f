//! The outputs of a run, shared by `analyze` and `capture`:
//!
//! - [`csv`]: the connections CSV;
//! - [`json`]: JSON lines, through serde;
//! - [`summary`]: counts and the terminal report;
//! - [`clients`]: the clients CSV (the tally and verdicts);
//! - [`hosts`]: `tlsready hosts` (what was learned about the hosts);
//! - [`spool`]: parts of a run written by other threads, appended in order;
//! - the HTML report: [`report_data`] (what the page shows, as plain
//!   data), [`html`] (the page, with maud), [`html_table`] (the clients
//!   table), [`svg`] (the charts), [`html_report`] (from the summary to
//!   the file, replaced atomically);
//! - [`rotate`]: connection files closed and started on period boundaries
//!   (`capture --rotate`);
//! - [`Outputs`] (here): every output of a run, as one [`Sink`].

pub mod clients;
pub mod csv;
pub mod hosts;
pub mod html;
pub mod html_report;
pub mod html_table;
pub mod json;
pub mod named;
pub mod report_data;
pub mod rotate;
pub mod spool;
pub mod stdio;
pub mod summary;
pub mod svg;

use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};

use self::csv::CsvSink;
use self::json::JsonSink;
use self::spool::{Out, RowOutput, Tap, append_part, temp_part};
use self::summary::{Style, Summary};
use crate::enrich::tally::{Scope, Verdict};
use crate::model::row::ConnRecord;
use crate::model::sink::Sink;
use crate::model::stats::Stats;

/// Where each output goes.
#[derive(Debug, Clone, Default)]
pub struct OutputPaths {
    /// Connections CSV (`-` = standard output).
    pub connections: Option<PathBuf>,
    /// JSON lines (`-` = standard output).
    pub json: Option<PathBuf>,
    /// Clients CSV (`-` = standard output), written at the end.
    pub clients: Option<PathBuf>,
    /// Connection rows get their clients' names once the input is read
    /// ([`Outputs::name_rows`]; offline runs): rows for standard output
    /// wait in a temporary file until then.
    pub name_rows: bool,
}

/// The HTML report of a run (`--html`), written at the end and at each
/// interim report.
pub type HtmlReport = html_report::HtmlReport;

/// Every output of a run.
pub struct Outputs {
    csv: Option<CsvSink>,
    json: Option<JsonSink>,
    clients: Option<PathBuf>,
    /// Counts and tally.
    pub summary: Summary,
    /// The summary goes to standard error (standard output carries data).
    summary_to_stderr: bool,
    /// A spool ([`SpoolSpec::open`]): the temporary files behind the
    /// connections CSV and the JSON lines, to read back.
    spooled: [Option<std::fs::File>; 2],
    /// Second handles on the connections CSV and JSON files (not standard
    /// output), for appending spooled parts.
    files: [Option<std::fs::File>; 2],
    /// A spool's rows as written so far (see [`Outputs::absorb_ahead`]).
    taps: [Option<Tap>; 2],
    /// The HTML report, when asked for.
    pub html: Option<HtmlReport>,
    /// Rotated connection files (`capture --rotate`), instead of one
    /// connections CSV and one JSON-lines file.
    pub rotate: Option<rotate::Rotating>,
    /// Where the connections CSV and the JSON lines go once their rows
    /// are named ([`OutputPaths::name_rows`]); `None`: not named.
    named: [Option<Named>; 2],
    /// The row outputs' options and paths (connections CSV, JSON lines;
    /// empty when not asked for), to name them in errors.
    labels: [String; 2],
}

/// A row output whose rows get names at the end.
enum Named {
    /// A regular file, named in place (rewritten through a temporary file
    /// beside it).
    File(PathBuf),
    /// Standard output: the rows wait in this temporary file.
    Stdout(std::fs::File),
}

/// The terminal's width in columns, if it says.
fn term_width(t: &console::Term) -> Option<usize> {
    t.size_checked().map(|(_, cols)| usize::from(cols))
}

fn is_stdout(p: &Option<PathBuf>) -> bool {
    p.as_ref().is_some_and(|p| p.as_os_str() == "-")
}

fn open(p: &Path) -> Result<Out, String> {
    csv::open_output(p).map_err(|e| format!("{}: cannot write: {e}", p.display()))
}

/// [`open`], with a second handle on the file when it is one (parts of
/// the run are then appended by the kernel, see [`Outputs::absorb`]). With
/// `name`, also where the named rows go at the end: standard output
/// becomes a temporary file; a regular file is named in place; anything
/// else (a pipe, `/dev/null`) gets its rows as they come, unnamed.
fn open_rows(p: &Path, name: bool) -> Result<(Out, Option<std::fs::File>, Option<Named>), String> {
    let err = |e: io::Error| format!("{}: cannot write: {e}", p.display());
    if p.as_os_str() == "-" {
        if !name {
            return Ok((open(p)?, None, None));
        }
        let f = tempfile::tempfile().map_err(err)?;
        let (second, third) = (f.try_clone().map_err(err)?, f.try_clone().map_err(err)?);
        return Ok((
            Box::new(io::BufWriter::new(f)),
            Some(second),
            Some(Named::Stdout(third)),
        ));
    }
    let f = std::fs::File::create(p).map_err(err)?;
    let second = f.try_clone().map_err(err)?;
    let regular = f.metadata().is_ok_and(|m| m.is_file());
    let named = (name && regular).then(|| Named::File(p.to_path_buf()));
    Ok((Box::new(io::BufWriter::new(f)), Some(second), named))
}

impl Outputs {
    /// Opens (creates) the output files; with `flush_each` every connection
    /// row is flushed as written (live capture).
    pub fn open(paths: &OutputPaths, scope: Scope, flush_each: bool) -> Result<Outputs, String> {
        let mut files = [None, None];
        let mut named = [None, None];
        let csv = match &paths.connections {
            Some(p) => {
                let (w, f, n) = open_rows(p, paths.name_rows)?;
                files[0] = f;
                named[0] = n;
                Some(CsvSink::new(w, flush_each).map_err(|e| format!("{}: {e}", p.display()))?)
            }
            None => None,
        };
        let json = match &paths.json {
            Some(p) => {
                let (w, f, n) = open_rows(p, paths.name_rows)?;
                files[1] = f;
                named[1] = n;
                Some(JsonSink::new(w, flush_each))
            }
            None => None,
        };
        if let Some(p) = &paths.clients {
            // Fail early on an unwritable path rather than after the run.
            drop(open(p)?);
        }
        Ok(Outputs {
            csv,
            json,
            clients: paths.clients.clone(),
            summary: Summary::new(scope),
            summary_to_stderr: is_stdout(&paths.connections)
                || is_stdout(&paths.json)
                || is_stdout(&paths.clients),
            spooled: [None, None],
            files,
            taps: [None, None],
            html: None,
            rotate: None,
            named,
            labels: [
                ("--connections", &paths.connections),
                ("--json", &paths.json),
            ]
            .map(|(o, p)| {
                p.as_ref()
                    .map_or(String::new(), |p| format!("{o} {}", p.display()))
            }),
        })
    }

    /// The error writing rows during the run, naming the row outputs
    /// (e.g. `--connections out.csv`; the error may also come from a
    /// worker's temporary part of them).
    pub fn rows_error(&self, e: &io::Error) -> String {
        let named: Vec<&str> = self
            .labels
            .iter()
            .map(String::as_str)
            .filter(|l| !l.is_empty())
            .collect();
        let what = if named.is_empty() {
            "the rows".to_string()
        } else {
            named.join(" or ")
        };
        format!("cannot write the rows of {what} (the file or a temporary part of it): {e}")
    }

    /// Gives each connection row its client's name (see [`named`]): once
    /// the input is read, with `namer` (who a client was at a time).
    /// `anyone`: false when nothing names any client (files stay as they
    /// are). Rows held for standard output are written now.
    pub fn name_rows(&mut self, namer: named::Namer<'_>, anyone: bool) -> Result<(), String> {
        for (i, what) in ["connections CSV", "JSON lines"].into_iter().enumerate() {
            let Some(n) = self.named[i].take() else {
                continue;
            };
            let flushed = match i {
                0 => self.csv.as_mut().map(|c| c.flush()),
                _ => self.json.as_mut().map(|j| j.flush()),
            };
            let err = |e: io::Error| format!("cannot name the rows of the {what}: {e}");
            flushed.transpose().map_err(err)?;
            let name = |input: &mut dyn io::BufRead, out: &mut dyn io::Write| match i {
                0 => named::name_csv(input, out, namer),
                _ => named::name_json(input, out, namer),
            };
            match n {
                Named::File(path) if anyone => {
                    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
                    let mut tmp = tempfile::NamedTempFile::new_in(dir.unwrap_or(Path::new(".")))
                        .map_err(err)?;
                    let src = std::fs::File::open(&path).map_err(err)?;
                    let mut out = io::BufWriter::with_capacity(1 << 16, tmp.as_file_mut());
                    name(&mut io::BufReader::with_capacity(1 << 16, src), &mut out)
                        .and_then(|()| io::Write::flush(&mut out))
                        .map_err(err)?;
                    drop(out);
                    tmp.persist(&path).map_err(|e| err(e.error))?;
                }
                Named::File(_) => {}
                Named::Stdout(mut f) => {
                    use std::io::Seek;
                    f.rewind().map_err(err)?;
                    let mut out = io::BufWriter::with_capacity(1 << 16, stdio::stdout());
                    let mut input = io::BufReader::with_capacity(1 << 16, f);
                    let done = if anyone {
                        name(&mut input, &mut out)
                    } else {
                        io::copy(&mut input, &mut out).map(|_| ())
                    };
                    done.and_then(|()| io::Write::flush(&mut out))
                        .map_err(err)?;
                }
            }
        }
        Ok(())
    }

    /// What a part of this run writes (see [`SpoolSpec::open`]).
    pub fn spool_spec(&self) -> SpoolSpec {
        SpoolSpec {
            csv: self.csv.is_some(),
            json: self.json.is_some(),
            scope: self.summary.scope(),
        }
    }

    /// Appends the rows of a spooled part (see [`SpoolSpec::open`]) past
    /// `ahead` (what [`Outputs::absorb_ahead`] appended already); its
    /// counts went to a summary shared by the parts.
    pub fn absorb(&mut self, part: &mut Outputs, ahead: &Ahead) -> io::Result<()> {
        if let Some(c) = part.csv.as_mut() {
            c.flush()?;
        }
        if let Some(j) = part.json.as_mut() {
            j.flush()?;
        }
        if let (Some(c), Some(f)) = (self.csv.as_mut(), part.spooled[0].as_mut()) {
            append_part(c, self.files[0].as_mut(), f, ahead.copied[0])?;
        }
        if let (Some(j), Some(f)) = (self.json.as_mut(), part.spooled[1].as_mut()) {
            append_part(j, self.files[1].as_mut(), f, ahead.copied[1])?;
        }
        Ok(())
    }

    /// A spooled part's rows as written so far, to append while it is
    /// still written ([`Outputs::absorb_ahead`]); taken once.
    pub fn take_taps(&mut self) -> Ahead {
        Ahead {
            taps: [self.taps[0].take(), self.taps[1].take()],
            copied: [0, 0],
        }
    }

    /// Appends the rows a spooled part has written since the last call:
    /// the part that is joined next, while it is still being analysed, so
    /// that joining it copies little. Nothing else may be written to these
    /// outputs before the part is joined ([`Outputs::absorb`] with the same
    /// `ahead`).
    pub fn absorb_ahead(&mut self, ahead: &mut Ahead, buf: &mut Vec<u8>) -> io::Result<()> {
        let Ahead { taps, copied } = ahead;
        if let (Some(c), Some(t)) = (self.csv.as_mut(), taps[0].as_ref()) {
            copied[0] = copy_ahead(c, self.files[0].as_mut(), t, copied[0], buf)?;
        }
        if let (Some(j), Some(t)) = (self.json.as_mut(), taps[1].as_ref()) {
            copied[1] = copy_ahead(j, self.files[1].as_mut(), t, copied[1], buf)?;
        }
        Ok(())
    }

    /// Flushes the connection outputs and writes the clients CSV: each
    /// of them, even after another failed (everything gathered is
    /// written where it can be); the first error is returned.
    pub fn finish(&mut self) -> Result<(), String> {
        let mut first = Ok(());
        let mut keep = |r: Result<(), String>| {
            if first.is_ok() {
                first = r;
            }
        };
        if let Some(c) = self.csv.as_mut() {
            let l = &self.labels[0];
            keep(c.flush().map_err(|e| format!("cannot write {l}: {e}")));
        }
        if let Some(j) = self.json.as_mut() {
            let l = &self.labels[1];
            keep(j.flush().map_err(|e| format!("cannot write {l}: {e}")));
        }
        if let Some(r) = self.rotate.as_mut() {
            keep(
                r.close()
                    .map_err(|e| format!("cannot complete a rotated file: {e}")),
            );
        }
        if let Some(p) = &self.clients {
            keep(open(p).and_then(|w| {
                clients::write_clients_csv(
                    &self.summary.report_tally(),
                    self.summary.by_device(),
                    w,
                )
                .map_err(|e| format!("{}: cannot write: {e}", p.display()))
            }));
        }
        first
    }

    /// Prints the summary to standard output, or standard error when
    /// standard output carries data.
    pub fn print_summary(&self, stats: &Stats) {
        let res = if self.summary_to_stderr {
            let e = io::stderr();
            let style = Style::detect(e.is_terminal(), term_width(&console::Term::stderr()));
            self.summary.write_report(&mut e.lock(), stats, style)
        } else {
            let o = io::stdout();
            let style = Style::detect(o.is_terminal(), term_width(&console::Term::stdout()));
            self.summary.write_report(&mut o.lock(), stats, style)
        };
        // A closed pipe (`| head`) is not an error worth reporting.
        let _ = res;
    }

    /// Writes the HTML report, if asked for; `live` while a capture runs
    /// (the page then reloads itself).
    pub fn write_html(&self, stats: &Stats, live: bool) -> Result<(), String> {
        match &self.html {
            Some(h) if live => h.write(&self.summary, Some(stats)),
            Some(h) => {
                let mut done = h.clone();
                done.context.refresh_secs = None;
                done.write(&self.summary, Some(stats))
            }
            None => Ok(()),
        }
    }

    /// Writes the HTML report of a tally of rows read from files (no
    /// packet counts), if asked for.
    pub fn write_html_rows(&self) -> Result<(), String> {
        match &self.html {
            Some(h) => {
                let mut done = h.clone();
                done.context.refresh_secs = None;
                done.write(&self.summary, None)
            }
            None => Ok(()),
        }
    }

    /// Rows are written (connections CSV or JSON lines), not only counted.
    pub fn writes_rows(&self) -> bool {
        self.csv.is_some() || self.json.is_some() || self.rotate.is_some()
    }

    /// The tally is shown: in the terminal report (unless `quiet`), the
    /// clients CSV or the HTML report.
    pub fn shows_tally(&self, quiet: bool) -> bool {
        !quiet || self.clients.is_some() || self.html.is_some()
    }

    /// Clients that will break, in scope.
    pub fn will_break(&self) -> usize {
        self.summary.report_tally().clients_with(Verdict::WillBreak)
    }
}

/// The row outputs of a run, for its parts (chunks read by other threads).
#[derive(Debug, Clone, Copy)]
pub struct SpoolSpec {
    csv: bool,
    json: bool,
    scope: Scope,
}

/// A spooled part's rows, and how far they were appended ahead of its
/// join ([`Outputs::absorb_ahead`]).
#[derive(Debug, Default)]
pub struct Ahead {
    taps: [Option<Tap>; 2],
    copied: [u64; 2],
}

/// Appends a part's rows written since `from` to `sink` (flushed first;
/// through the second handle `file` when there is one); the new offset.
fn copy_ahead<S: RowOutput>(
    sink: &mut S,
    file: Option<&mut std::fs::File>,
    tap: &Tap,
    from: u64,
    buf: &mut Vec<u8>,
) -> io::Result<u64> {
    match file {
        Some(out) => {
            sink.flush()?;
            tap.copy_since(from, out, buf)
        }
        None => {
            let mut rows = Vec::new();
            let to = tap.copy_since(from, &mut rows, buf)?;
            sink.append(&mut rows.as_slice())?;
            Ok(to)
        }
    }
}

impl SpoolSpec {
    /// The scope of the run's summary.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// Outputs for one part of the run: the same row outputs, written to
    /// temporary files, and a summary of its own; [`Outputs::absorb`]
    /// appends them to the run's, in order.
    pub fn open(self) -> io::Result<Outputs> {
        let (mut spooled, mut taps) = ([None, None], [None, None]);
        let csv = if self.csv {
            let (w, back, tap) = temp_part()?;
            spooled[0] = Some(back);
            taps[0] = Some(tap);
            Some(CsvSink::headless(w))
        } else {
            None
        };
        let json = if self.json {
            let (w, back, tap) = temp_part()?;
            spooled[1] = Some(back);
            taps[1] = Some(tap);
            Some(JsonSink::new(w, false))
        } else {
            None
        };
        Ok(Outputs {
            csv,
            json,
            clients: None,
            summary: Summary::new(self.scope),
            summary_to_stderr: false,
            spooled,
            files: [None, None],
            taps,
            html: None,
            rotate: None,
            named: [None, None],
            labels: ["a spool of rows".into(), "a spool of rows".into()],
        })
    }
}

impl Outputs {
    /// Writes a row to the connections CSV and JSON lines only (not to the
    /// summary).
    pub fn record_rows(&mut self, rec: &ConnRecord) -> io::Result<()> {
        if let Some(r) = self.rotate.as_mut() {
            r.record(rec)?;
        }
        if let Some(c) = self.csv.as_mut() {
            c.record(rec)?;
        }
        if let Some(j) = self.json.as_mut() {
            j.record(rec)
        } else {
            Ok(())
        }
    }
}

impl Sink for Outputs {
    fn record(&mut self, rec: &ConnRecord) -> io::Result<()> {
        self.record_rows(rec)?;
        self.summary.record(rec)
    }

    fn interim_report(&self, stats: &Stats) {
        self.print_summary(stats);
        if let Err(e) = self.write_html(stats, true) {
            crate::say!("tlsready: {e}");
        }
    }

    fn name_clients(
        &mut self,
        who: &dyn Fn(std::net::IpAddr, i64) -> Option<crate::model::row::ClientName>,
        host_names: String,
    ) {
        self.summary.tally.name_clients(who);
        self.summary.host_names = host_names;
    }

    fn endpoints_replaced(&mut self, description: &str) {
        self.summary.m365_data = description.to_string();
    }

    fn tick(&mut self) -> io::Result<()> {
        match self.rotate.as_mut() {
            Some(r) => r.tick(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The files a run writes: a row, a spooled part of 2000 rows, a row
    /// of the join's own; the part's rows appended in pieces while it is
    /// written (every `every` rows, as the join does while the chunk is
    /// analysed) or not at all (0).
    fn spooled_run(dir: &Path, every: u16) -> (String, String, [u64; 2]) {
        let paths = OutputPaths {
            connections: Some(dir.join(format!("c{every}.csv"))),
            json: Some(dir.join(format!("c{every}.json"))),
            ..OutputPaths::default()
        };
        let mut run = Outputs::open(&paths, Scope::All, false).expect("outputs");
        let row = |port: u16| {
            let mut r = json::tests::row();
            r.client_port = port;
            r
        };
        run.record(&row(1)).expect("first part's row");
        let mut part = run.spool_spec().open().expect("spool");
        let mut ahead = part.take_taps();
        let mut buf = Vec::new();
        for port in 1000..3000 {
            part.record(&row(port)).expect("part's row");
            if every > 0 && port % every == 0 {
                run.absorb_ahead(&mut ahead, &mut buf).expect("ahead");
            }
        }
        run.absorb(&mut part, &ahead).expect("absorb");
        run.record(&row(2)).expect("join's row");
        run.finish().expect("finish");
        let read =
            |p: &Option<PathBuf>| std::fs::read_to_string(p.as_ref().expect("path")).expect("read");
        (read(&paths.connections), read(&paths.json), ahead.copied)
    }

    /// Appending a part's rows ahead changes nothing in the files: every
    /// row once, whole, in the order written, the same bytes as appending
    /// the part whole when joined (so runs do not differ with timing).
    #[test]
    fn rows_appended_ahead_leave_the_same_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (csv, json, none) = spooled_run(dir.path(), 0);
        assert_eq!(none, [0, 0]);
        assert_eq!(csv.lines().count(), 2003);
        assert_eq!(json.lines().count(), 2002);
        for every in [1, 97, 1000] {
            let (c, j, copied) = spooled_run(dir.path(), every);
            assert!(copied[0] > 0 && copied[1] > 0, "{copied:?}");
            assert!(c == csv, "CSV with rows appended every {every}");
            assert!(j == json, "JSON lines with rows appended every {every}");
        }
    }
}
