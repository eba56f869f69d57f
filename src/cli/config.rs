//! From the command line's options to what a run uses: endpoint data
//! loaded, output paths checked, flow-table limits, the HTML report's
//! run facts.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::CommandFactory;

use super::args::{Cli, OutputArgs};
use tlsready::enrich::devices::GroupBy;
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
    /// What the reports' rows are per (`--group-by`).
    pub group_by: GroupBy,
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
        tlsready::say!("tlsready: {n}");
    }
    if let Some(w) = sel.info.age_warning(today()) {
        tlsready::say!("tlsready: {w}");
    }
    Ok((sel.endpoints, sel.info, dir))
}

/// How an input is named among the paths [`OutputArgs::paths`] checks.
pub const INPUT: &str = "an input";

impl OutputArgs {
    /// The output paths; at most one may be standard output, and no two
    /// (nor `others`, e.g. `capture -w`) may name the same file, also
    /// through hard or symbolic links (else clap's usage error, exit
    /// status 2, before anything is written).
    pub fn paths(&self, others: &[(&str, Option<&PathBuf>)]) -> OutputPaths {
        let stdout = [&self.connections, &self.json, &self.report.clients]
            .iter()
            .filter(|p| p.as_ref().is_some_and(|p| p.as_os_str() == "-"))
            .count();
        if stdout > 1 {
            usage_error(
                clap::error::ErrorKind::ArgumentConflict,
                "only one of --connections, --json, --clients can be `-` (standard output)",
            );
        }
        if others
            .iter()
            .filter(|(o, p)| *o == INPUT && p.is_some_and(|p| p.as_os_str() == "-"))
            .count()
            > 1
        {
            usage_error(
                clap::error::ErrorKind::ArgumentConflict,
                "- (standard input) is named twice as an input: it can be read once",
            );
        }
        if self
            .report
            .html
            .as_ref()
            .is_some_and(|p| p.as_os_str() == "-")
        {
            usage_error(
                clap::error::ErrorKind::InvalidValue,
                "--html needs a file name, not - (the page is replaced atomically)",
            );
        }
        let mut named: Vec<(&str, &Path)> = [
            ("--connections", &self.connections),
            ("--json", &self.json),
            ("--clients", &self.report.clients),
            ("--html", &self.report.html),
        ]
        .into_iter()
        .filter_map(|(o, p)| p.as_deref().map(|p| (o, p)))
        .chain(
            others
                .iter()
                .filter_map(|(o, p)| p.map(|p| (*o, p.as_path()))),
        )
        .filter(|(_, p)| p.as_os_str() != "-")
        .collect();
        // A missing input is reported as missing later (named twice, as
        // tcpdump's filter words after the file may be, it is no duplicate).
        named.retain(|(o, p)| *o != INPUT || p.exists());
        while let Some((o, p)) = named.pop() {
            if let Some((o2, _)) = named.iter().find(|(_, q)| same_file(p, q)) {
                let msg = if *o2 == INPUT && o == INPUT {
                    format!(
                        "{} is named twice as an input (its packets would count twice)",
                        p.display()
                    )
                } else {
                    format!(
                        "{o2} and {o} name the same file ({}); each output needs its own",
                        p.display()
                    )
                };
                usage_error(clap::error::ErrorKind::ArgumentConflict, msg);
            }
        }
        OutputPaths {
            connections: self.connections.clone(),
            json: self.json.clone(),
            clients: self.report.clients.clone(),
            name_rows: false,
        }
    }

    /// Checks that the HTML report, if asked for, can be written (before
    /// anything else is done, so that this error comes alone).
    pub fn check_html(&self) -> Result<(), String> {
        let Some(path) = &self.report.html else {
            return Ok(());
        };
        // (`-` was refused with the command line, see [`Self::paths`].)
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
        let Some(path) = &self.report.html else {
            return Ok(None);
        };
        self.check_html()?;
        Ok(Some(HtmlReport {
            path: path.clone(),
            context: ReportContext {
                source_kind: source_kind.into(),
                sources,
                endpoints: endpoints.version().to_string(),
                clients_csv: self
                    .report
                    .clients
                    .as_ref()
                    .map(|p| p.display().to_string()),
                refresh_secs: refresh.map(|d| d.as_secs().max(1)),
            },
        }))
    }

    fn limits(&self) -> Limits {
        Limits {
            max_flows: self.max_flows.max(1),
            memcap: self.memcap,
            idle_timeout_us: i64::try_from(self.idle_timeout.as_micros()).unwrap_or(i64::MAX),
            names: !self.no_names,
        }
    }

    /// Loads the endpoint data (its warnings on standard error).
    pub fn resolve(&self) -> Result<OutputConfig, String> {
        let (endpoints, data, data_dir) =
            load_endpoints(self.report.endpoints.as_ref(), self.report.instance)?;
        Ok(OutputConfig {
            scope: self.report.scope,
            group_by: self.report.group_by,
            fail_on_legacy: self.report.fail_on_legacy,
            quiet: self.quiet,
            endpoints: Arc::new(endpoints),
            data,
            data_dir,
            limits: self.limits(),
        })
    }
}
/// A command-line error (status 2), worded and laid out as clap's own.
pub fn usage_error(kind: clap::error::ErrorKind, msg: impl std::fmt::Display) -> ! {
    Cli::command().error(kind, msg).exit()
}

/// Exits with a command-line error (status 2) when `output` (given as
/// `flag`; standard output aside) is one of `inputs`: it would be emptied
/// before it is read.
pub fn check_not_an_input(flag: &str, output: Option<&Path>, inputs: &[PathBuf]) {
    let Some(out) = output.filter(|p| p.as_os_str() != "-") else {
        return;
    };
    if inputs.iter().any(|i| same_file(i, out)) {
        usage_error(
            clap::error::ErrorKind::ArgumentConflict,
            format!(
                "{flag} and an input name the same file ({}); each output needs its own",
                out.display()
            ),
        );
    }
}

/// What identifies an existing file: its device and inode on Unix, its
/// canonical path elsewhere; `None` when it cannot be read.
pub fn file_id(p: &Path) -> Option<(u64, u64, Option<PathBuf>)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(p).ok()?;
        Some((m.dev(), m.ino(), None))
    }
    #[cfg(not(unix))]
    {
        Some((0, 0, Some(std::fs::canonicalize(p).ok()?)))
    }
}

/// Whether `a` and `b` are the same file: the same device and inode when
/// both exist (hard and symbolic links; elsewhere than Unix, the same
/// canonical path), else the same canonical folder and name.
pub fn same_file(a: &Path, b: &Path) -> bool {
    if let (Some(x), Some(y)) = (file_id(a), file_id(b)) {
        return x == y;
    }
    let canon = |p: &Path| -> Option<PathBuf> {
        let name = p.file_name()?;
        let dir = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        Some(std::fs::canonicalize(dir).ok()?.join(name))
    };
    match (canon(a), canon(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}
