//! From the command line's options to what a run uses: endpoint data
//! loaded, output paths checked, flow-table limits, the HTML report's
//! run facts.

use std::path::PathBuf;
use std::sync::Arc;

use clap::CommandFactory;

use super::args::{Cli, OutputArgs};
use tlsready::enrich::m365::Endpoints;
use tlsready::enrich::m365::instance::{Instance, today};
use tlsready::enrich::m365::select::{self, DataInfo};
use tlsready::enrich::m365::store::DataDir;
use tlsready::enrich::tally::Scope;
use tlsready::flow::table::Limits;
use tlsready::output::report_data::ReportContext;
use tlsready::output::{HtmlReport, OutputPaths};

/// The output side of a run, resolved (the paths are checked apart, see
/// [`OutputArgs::paths`], as `capture` opens the interface first).
pub struct OutputConfig {
    /// What the tally covers.
    pub scope: Scope,
    /// Exit with status 4 when some client will break.
    pub fail_on_legacy: bool,
    /// No summary.
    pub quiet: bool,
    /// Microsoft 365 endpoint data.
    pub endpoints: Arc<Endpoints>,
    /// Which data it is.
    pub data: DataInfo,
    /// The data directory, when there is one (a capture watches it).
    pub data_dir: Option<DataDir>,
    /// Flow-table limits.
    pub limits: Limits,
}

/// The endpoint data for a run (see `enrich::m365::select`), its
/// description, and the data directory; warnings (a stored update passed
/// over, data more than 60 days old) go to standard error.
pub fn load_endpoints(
    path: Option<&PathBuf>,
    instance: Instance,
) -> Result<(Endpoints, DataInfo, Option<DataDir>), String> {
    let (sel, dir) = select::select_for_run(path.map(PathBuf::as_path), instance)?;
    for n in &sel.notes {
        eprintln!("tlsready: {n}");
    }
    if let Some(w) = sel.info.age_warning(today()) {
        eprintln!("tlsready: {w}");
    }
    Ok((sel.endpoints, sel.info, dir))
}

impl OutputArgs {
    /// The output paths; at most one may be standard output (else clap's
    /// usage error, exit status 2).
    pub fn paths(&self) -> OutputPaths {
        let stdout = [&self.connections, &self.json, &self.clients]
            .iter()
            .filter(|p| p.as_ref().is_some_and(|p| p.as_os_str() == "-"))
            .count();
        if stdout > 1 {
            Cli::command()
                .error(
                    clap::error::ErrorKind::ArgumentConflict,
                    "only one of --connections, --json, --clients can be `-` (standard output)",
                )
                .exit();
        }
        OutputPaths {
            connections: self.connections.clone(),
            json: self.json.clone(),
            clients: self.clients.clone(),
        }
    }

    /// Checks that the HTML report, if asked for, can be written (before
    /// anything else is done, so that this error comes alone).
    pub fn check_html(&self) -> Result<(), String> {
        let Some(path) = &self.html else {
            return Ok(());
        };
        if path.as_os_str() == "-" {
            return Err("--html needs a file name (the page is replaced atomically)".into());
        }
        HtmlReport::check(path)
    }

    /// The HTML report of the run, if asked for; checks now that it can
    /// be written.
    pub fn html(
        &self,
        source_kind: &str,
        sources: Vec<String>,
        endpoints: &Endpoints,
        refresh: Option<std::time::Duration>,
    ) -> Result<Option<HtmlReport>, String> {
        let Some(path) = &self.html else {
            return Ok(None);
        };
        self.check_html()?;
        Ok(Some(HtmlReport {
            path: path.clone(),
            context: ReportContext {
                source_kind: source_kind.into(),
                sources,
                endpoints: endpoints.version().to_string(),
                clients_csv: self.clients.as_ref().map(|p| p.display().to_string()),
                refresh_secs: refresh.map(|d| d.as_secs().max(1)),
            },
        }))
    }

    fn limits(&self) -> Limits {
        Limits {
            max_flows: self.max_flows.max(1),
            memcap: self.memcap,
            idle_timeout_us: i64::try_from(self.idle_timeout.saturating_mul(1_000_000))
                .unwrap_or(i64::MAX),
        }
    }

    /// Loads the endpoint data (its warnings on standard error).
    pub fn resolve(&self) -> Result<OutputConfig, String> {
        let (endpoints, data, data_dir) = load_endpoints(self.endpoints.as_ref(), self.instance)?;
        Ok(OutputConfig {
            scope: self.scope,
            fail_on_legacy: self.fail_on_legacy,
            quiet: self.quiet,
            endpoints: Arc::new(endpoints),
            data,
            data_dir,
            limits: self.limits(),
        })
    }
}
