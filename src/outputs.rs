//! The outputs of a run, shared by `analyze` and `capture`: connections CSV,
//! JSON lines, the clients CSV and the terminal summary.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};

use crate::analyzer::{Sink, Stats};
use crate::record::ConnRecord;
use crate::report::{self, CsvSink, JsonSink};
use crate::summary::{Style, Summary};
use crate::tally::{Scope, Verdict};

/// Where each output goes.
#[derive(Debug, Clone, Default)]
pub struct OutputPaths {
    /// Connections CSV (`-` = standard output).
    pub connections: Option<PathBuf>,
    /// JSON lines (`-` = standard output).
    pub json: Option<PathBuf>,
    /// Clients CSV (`-` = standard output), written at the end.
    pub clients: Option<PathBuf>,
}

/// Every output of a run.
pub struct Outputs {
    csv: Option<CsvSink>,
    json: Option<JsonSink>,
    clients: Option<PathBuf>,
    /// Counts and tally.
    pub summary: Summary,
    /// The summary goes to standard error (standard output carries data).
    summary_to_stderr: bool,
}

fn is_stdout(p: &Option<PathBuf>) -> bool {
    p.as_ref().is_some_and(|p| p.as_os_str() == "-")
}

fn open(p: &Path) -> Result<Box<dyn Write>, String> {
    report::open_output(p).map_err(|e| format!("{}: cannot write: {e}", p.display()))
}

impl Outputs {
    /// Opens (creates) the output files; with `flush_each` every connection
    /// row is flushed as written (live capture).
    pub fn open(paths: &OutputPaths, scope: Scope, flush_each: bool) -> Result<Outputs, String> {
        let csv = match &paths.connections {
            Some(p) => Some(
                CsvSink::new(open(p)?, flush_each).map_err(|e| format!("{}: {e}", p.display()))?,
            ),
            None => None,
        };
        let json = match &paths.json {
            Some(p) => Some(JsonSink::new(open(p)?, flush_each)),
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
        })
    }

    /// Flushes the connection outputs and writes the clients CSV.
    pub fn finish(&mut self) -> Result<(), String> {
        if let Some(c) = self.csv.as_mut() {
            c.flush()
                .map_err(|e| format!("cannot write connections CSV: {e}"))?;
        }
        if let Some(j) = self.json.as_mut() {
            j.flush().map_err(|e| format!("cannot write JSON: {e}"))?;
        }
        if let Some(p) = &self.clients {
            let w = open(p)?;
            self.summary
                .write_clients_csv(w)
                .map_err(|e| format!("{}: cannot write: {e}", p.display()))?;
        }
        Ok(())
    }

    /// Prints the summary to standard output, or standard error when
    /// standard output carries data.
    pub fn print_summary(&self, stats: &Stats) {
        let res = if self.summary_to_stderr {
            let e = io::stderr();
            let style = Style::detect(e.is_terminal());
            self.summary.write_report(&mut e.lock(), stats, style)
        } else {
            let o = io::stdout();
            let style = Style::detect(o.is_terminal());
            self.summary.write_report(&mut o.lock(), stats, style)
        };
        // A closed pipe (`| head`) is not an error worth reporting.
        let _ = res;
    }

    /// Clients that will break, in scope.
    pub fn will_break(&self) -> usize {
        self.summary.tally.clients_with(Verdict::WillBreak)
    }
}

impl Sink for Outputs {
    fn record(&mut self, rec: &ConnRecord) -> io::Result<()> {
        if let Some(c) = self.csv.as_mut() {
            c.record(rec)?;
        }
        if let Some(j) = self.json.as_mut() {
            j.record(rec)?;
        }
        self.summary.record(rec)
    }

    fn interim_report(&self, stats: &Stats) {
        self.print_summary(stats);
    }
}
