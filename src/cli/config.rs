//! From the command line's options to what a run uses: endpoint data
//! loaded, output paths checked, flow-table limits, the HTML report's
//! run facts.

use std::path::PathBuf;
use std::sync::Arc;

use clap::CommandFactory;

use super::args::{Cli, OutputArgs};
use tlsready::enrich::m365::Endpoints;
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
    /// Flow-table limits.
    pub limits: Limits,
}

/// The built-in endpoint data, or `path`'s.
pub fn load_endpoints(path: Option<&PathBuf>) -> Result<Endpoints, String> {
    match path {
        None => Ok(Endpoints::embedded()),
        Some(p) => Endpoints::from_path(p).map_err(|e| e.to_string()),
    }
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
        if path.as_os_str() == "-" {
            return Err("--html needs a file name (the page is replaced atomically)".into());
        }
        HtmlReport::check(path)?;
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

    /// Loads the endpoint data.
    pub fn resolve(&self) -> Result<OutputConfig, String> {
        let endpoints = Arc::new(load_endpoints(self.endpoints.as_ref())?);
        Ok(OutputConfig {
            scope: self.scope,
            fail_on_legacy: self.fail_on_legacy,
            quiet: self.quiet,
            endpoints,
            limits: self.limits(),
        })
    }
}
