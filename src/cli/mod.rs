//! The `tlsready` command line: a thin layer over the library.
//!
//! - [`args`]: the commands and options as clap reads them;
//! - [`config`]: options resolved into what a run uses;
//! - [`progress`]: the progress bar;
//! - here: each command, and the exit status, decided in one place
//!   ([`exit_status`]).

mod args;
mod config;
mod progress;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tlsready::text::rfc3339;

use clap::{CommandFactory, FromArgMatches};

use self::args::{
    AnalyzeArgs, CaptureArgs, Cli, Command, EndpointsAction, EndpointsArgs, HostsArgs, NameArgs,
    TallyArgs,
};
use self::config::{load_endpoints, usage_error};
use self::progress::Bar;
use tlsready::enrich::m365::instance::today;
use tlsready::enrich::m365::select::{Origin, Watch};
use tlsready::input::filter::FrameFilter;
use tlsready::input::live::{self, CaptureOptions, Live};
use tlsready::input::source;
use tlsready::output::Outputs;
use tlsready::output::rotate::{RotateSpec, Rotating, host_name};
use tlsready::output::summary::count;
use tlsready::run::rows::Replacement;
use tlsready::run::{self, LiveSettings, Outcome};

/// Exit status: success.
const EXIT_OK: u8 = 0;
/// Exit status: a fatal error (cannot write output, bad endpoints file,
/// `endpoints update` failed...).
const EXIT_FATAL: u8 = 1;
/// Exit status: an input capture is missing, unreadable, not a capture or
/// truncated; results from everything readable were still written.
const EXIT_INPUT: u8 = 3;
/// Exit status: `--fail-on-legacy` and some client will break.
const EXIT_LEGACY: u8 = 4;
/// Exit status: `analyze` was stopped by SIGINT or SIGTERM (128 + 2, as
/// shells report Ctrl-C); the outputs hold the part read.
const EXIT_INTERRUPTED: u8 = 130;

/// The exit status of a run whose outputs were written: some client will
/// break with `--fail-on-legacy` (4) takes precedence over an input that
/// failed (3).
/// `will_break` is asked only with `--fail-on-legacy` (grouping the tally
/// by device takes a while on a large run).
fn exit_status(input_failed: bool, will_break: impl FnOnce() -> bool, fail_on_legacy: bool) -> u8 {
    if fail_on_legacy && will_break() {
        EXIT_LEGACY
    } else if input_failed {
        EXIT_INPUT
    } else {
        EXIT_OK
    }
}

/// Completes the output files (even after a write error elsewhere, so that
/// everything gathered is written), then prints the summary.
/// `nothing_read`: every input failed (with no packet read, the report
/// says so rather than giving counts of zero).
fn write_outputs(
    outputs: &mut Outputs,
    outcome: Outcome,
    quiet: bool,
    nothing_read: bool,
) -> Result<(), String> {
    let finish = outputs.finish();
    outputs.summary.interrupted = outcome.interrupted;
    outputs.summary.nothing_read = nothing_read && outcome.stats.packets == 0;
    // The HTML report and the summary of what was gathered, whatever
    // output failed; then the first failure.
    let html = outputs.write_html(&outcome.stats, false);
    if !quiet {
        outputs.print_summary(&outcome.stats);
    }
    if let Some(e) = outcome.write_error {
        return Err(outputs.rows_error(&e));
    }
    finish?;
    html
}

fn run_analyze(mut a: AnalyzeArgs) -> Result<u8, String> {
    // `-r FILE` (tcpdump's habit) is one more input.
    a.paths.append(&mut a.read);
    // Command-line errors first, then the data (and its warnings).
    let named: Vec<_> = a.paths.iter().map(|p| (config::INPUT, Some(p))).collect();
    let mut paths = a.out.paths(&named);
    paths.name_rows = true;
    a.out.check_html()?;
    if let Some(e) = &a.filter {
        // A clear error now, before any output is created.
        FrameFilter::new(e)?;
    }
    let cfg = a.out.resolve()?;
    let mut identity = identity(&a.names)?;
    let sources = a.paths.iter().map(|p| p.display().to_string()).collect();
    let html = a.out.html("files", sources, &cfg.endpoints, None)?;
    let mut outputs = Outputs::open(&paths, cfg.scope, false)?;
    outputs.summary.m365_data = cfg.data.describe();
    outputs.summary.group_by = cfg.group_by;
    outputs.html = html;
    let mut input_failed = false;
    let inputs = match source::expand(&a.paths) {
        Ok(i) => i,
        Err(_) => {
            // Report each bad path, keep going with the others.
            input_failed = true;
            let mut ok = Vec::new();
            for p in &a.paths {
                match source::expand(std::slice::from_ref(p)) {
                    Ok(i) => ok.extend(i),
                    Err(e) => tlsready::say!("tlsready: {e}"),
                }
            }
            if a.paths.iter().any(|p| filter_word(p)) {
                tlsready::say!(
                    "tlsready: hint: a read filter is given with -f, e.g. -f 'tcp port 443' (tcpdump takes it after the file)"
                );
            }
            ok
        }
    };
    let inputs = read_once(inputs);
    // Ctrl-C or SIGTERM: stop reading, write what was read (a second
    // signal ends the process at once).
    let stop = live::stop_flag().map_err(|e| format!("cannot handle signals: {e}"))?;
    let bar = Bar::bytes(inputs.iter().filter_map(|i| i.size()).sum());
    let settings = run::Settings {
        control: run::ReadControl {
            stop: Some(stop),
            filter: a.filter.clone(),
        },
        endpoints: Arc::clone(&cfg.endpoints),
        limits: cfg.limits,
        threads: a.threads.into(),
        min_chunk: a.min_chunk,
    };
    // Names are learned as each part of the input is done.
    let mut follower = tlsready::run::names::Follower::default();
    let mut names_dropped = 0;
    let mut learn = |log: tlsready::flow::names::NameLog| {
        names_dropped += log.dropped;
        follower.replay(&log, &mut identity);
    };
    let outcome = run::analyze(
        inputs,
        &settings,
        &mut outputs,
        &bar,
        &mut |p| {
            bar.eprint(&p.to_string());
            input_failed |= p.is_error();
        },
        &mut learn,
    );
    bar.clear();
    outputs.summary.host_names = identity.stats().summary_line(names_dropped);
    // Names apply once the whole capture is known: to the connection rows,
    // the clients CSV, the terminal report.
    let namer = |ip, ts| identity.client_name(ip, ts);
    // A failure here (a full disk) still lets the other outputs, the HTML
    // report and the summary be written; it is returned after them.
    let named = outputs.name_rows(&namer, identity.names_anyone());
    // The tally grouped by device (hence named) is shown, or decides the
    // exit status.
    if outputs.shows_tally(cfg.quiet) || cfg.fail_on_legacy {
        outputs.summary.tally.name_clients(&namer);
    }
    let interrupted = outcome.interrupted;
    write_outputs(&mut outputs, outcome, cfg.quiet, input_failed)?;
    named?;
    if interrupted {
        tlsready::say!("tlsready: interrupted; the outputs hold every connection of the part read");
        return Ok(EXIT_INTERRUPTED);
    }
    let code = exit_status(
        input_failed,
        || outputs.will_break() > 0,
        cfg.fail_on_legacy,
    );
    // Everything is written and the process ends next: freeing the name
    // tables and the tally entry by entry took about 5 ms of a 0.5 s run
    // (the benchmark); the system takes the memory back at once.
    std::mem::forget(identity);
    std::mem::forget(outputs);
    Ok(code)
}

fn run_capture(a: CaptureArgs) -> Result<u8, String> {
    let opts = CaptureOptions {
        interface: a.interface.clone(),
        filter: a.filter.join(" "),
        promisc: !a.no_promisc,
        snaplen: a.snaplen,
        duration: a.duration,
        count: a.count,
        write: a.write.clone(),
    };
    let mut paths = a.out.paths(&[("--write", a.write.as_ref())]);
    a.out.check_html()?;
    let rotate = match a.rotate {
        Some(period) => {
            let dirs = [paths.connections.take(), paths.json.take()];
            if dirs.iter().flatten().any(|p| p.as_os_str() == "-") {
                usage_error(
                    clap::error::ErrorKind::ArgumentConflict,
                    "--rotate writes files in directories: --connections and --json cannot be `-`",
                );
            }
            if dirs.iter().all(Option::is_none) {
                usage_error(
                    clap::error::ErrorKind::ArgumentConflict,
                    "--rotate needs --connections DIR or --json DIR (the directories of the files)",
                );
            }
            let [csv_dir, json_dir] = dirs;
            let spec = RotateSpec {
                csv_dir,
                json_dir,
                sensor: a.sensor.clone().unwrap_or_else(host_name),
                period,
            };
            let r = Rotating::new(spec)?;
            for f in &r.recovered {
                tlsready::say!(
                    "tlsready: completed {} from the rows a stopped capture left",
                    f.display()
                );
            }
            Some(r)
        }
        None => None,
    };
    // What the capture learns of its hosts, from `--hosts` and `--oui` on.
    let names = tlsready::run::names::Learner::new(identity(&a.names)?);
    let stop = live::stop_flag().map_err(|e| format!("cannot handle signals: {e}"))?;
    let mut capture = Live::open(&opts).map_err(|e| e.to_string())?;
    // The data (and its warnings) once the capture could start.
    let cfg = a.out.resolve()?;
    // A newer stored update (`endpoints update` run meanwhile) is taken up.
    let mut watch = Watch::new(&cfg.data, a.out.report.instance, cfg.data_dir.clone()).map(|w| {
        match a.data_check_every {
            Some(d) => w.every(d),
            None => w,
        }
    });
    let mut info = cfg.data.clone();
    let mut age_warned = info.age_warning(today()).is_some();
    let source = if opts.filter.is_empty() {
        opts.interface.clone()
    } else {
        format!("{} (filter \"{}\")", opts.interface, opts.filter)
    };
    let html = a
        .out
        .html("interface", vec![source], &cfg.endpoints, a.report_every)?;
    let mut outputs = Outputs::open(&paths, cfg.scope, true)?;
    outputs.summary.m365_data = info.describe();
    outputs.summary.group_by = cfg.group_by;
    outputs.html = html;
    outputs.rotate = rotate;
    tlsready::say!(
        "tlsready: capturing on {}{} (stop with Ctrl-C)",
        opts.interface,
        if opts.filter.is_empty() {
            String::new()
        } else {
            format!(", filter \"{}\"", opts.filter)
        }
    );
    let bar = Bar::spinner();
    let report_every = a.report_every;
    let mut last_report = Instant::now();
    let (began, began_us) = (Instant::now(), now_us());
    let summary_to_stderr = [&paths.connections, &paths.json, &paths.clients]
        .iter()
        .any(|p| p.as_ref().is_some_and(|p| p.as_os_str() == "-"));
    let ended = run::capture(
        &mut capture,
        Arc::clone(&cfg.endpoints),
        cfg.limits,
        &mut outputs,
        LiveSettings {
            stop: &stop,
            names: &names,
            tick: &mut |table, cs| {
                bar.status(format!(
                    "{} packets, {} connections tracked, {} rows, {} dropped by the kernel",
                    table.stats.packets,
                    table.tracked(),
                    table.stats.rows,
                    cs.dropped
                ));
                let mut replacement = None;
                if let Some(w) = watch.as_mut()
                    && let Some(res) = w.poll(&info)
                {
                    match res {
                        Ok(sel) => {
                            bar.0.suspend(|| {
                                tlsready::say!(
                                    "tlsready: Microsoft 365 endpoint data replaced: now {}, was {}",
                                    sel.info.describe(),
                                    info.describe()
                                )
                            });
                            info = sel.info;
                            age_warned = false;
                            replacement = Some(Replacement {
                                endpoints: Arc::new(sel.endpoints),
                                description: info.describe(),
                            });
                        }
                        Err(e) => bar.0.suspend(|| tlsready::say!("tlsready: {e}")),
                    }
                }
                // Data that grows old during a long capture is warned about once.
                if !age_warned && let Some(w) = info.age_warning(today()) {
                    age_warned = true;
                    bar.0.suspend(|| tlsready::say!("tlsready: {w}"));
                }
                if let Some(every) = report_every.filter(|d| last_report.elapsed() >= *d) {
                    last_report = Instant::now();
                    let heading = format!(
                        "--- report at {}, every {}: the {} since the capture began at {} ---",
                        rfc3339(now_us()),
                        humantime::format_duration(every),
                        humantime::format_duration(Duration::from_secs(began.elapsed().as_secs())),
                        rfc3339(began_us),
                    );
                    bar.0.suspend(|| {
                        if summary_to_stderr {
                            tlsready::say!("{heading}");
                        } else {
                            let _ = writeln!(tlsready::output::stdio::stdout(), "{heading}");
                        }
                        table.interim_report();
                    });
                }
                replacement
            },
        },
    );
    bar.clear();
    // The report names the clients with everything learned (the rows
    // carry the names known when each was written).
    tlsready::model::sink::Sink::name_clients(
        &mut outputs,
        &|ip, ts| names.client_name(ip, ts),
        names.summary_line(),
    );
    let analysed = ended.outcome.stats.packets;
    write_outputs(&mut outputs, ended.outcome, cfg.quiet, false)?;
    let cs = ended.capture;
    tlsready::say!(
        "tlsready: {} packets received by filter, {} dropped by kernel, {} dropped by interface{}{}",
        cs.received,
        cs.dropped,
        cs.if_dropped,
        if opts.write.is_some() {
            format!(", {} saved", cs.saved)
        } else {
            String::new()
        },
        if is_loopback(&opts.interface) {
            format!(
                " (on loopback the kernel hands each packet over twice, as sent and as \
                 received, and libpcap counts both; {analysed} packets analysed, each once)"
            )
        } else {
            String::new()
        }
    );
    if let Some(e) = &ended.error {
        tlsready::say!("tlsready: {e}");
    }
    Ok(exit_status(
        ended.error.is_some(),
        || outputs.will_break() > 0,
        cfg.fail_on_legacy,
    ))
}

fn run_tally(a: TallyArgs) -> Result<u8, String> {
    let out = a.output_args();
    // Command-line errors first, then the data (and its warnings).
    let named: Vec<_> = a
        .paths
        .iter()
        .filter(|p| p.as_os_str() != "-")
        .map(|p| (config::INPUT, Some(p)))
        .collect();
    let paths = out.paths(&named);
    out.check_html()?;
    let cfg = out.resolve()?;
    let sources = a.paths.iter().map(|p| p.display().to_string()).collect();
    let html = out.html("connection rows", sources, &cfg.endpoints, None)?;
    let mut outputs = Outputs::open(&paths, cfg.scope, false)?;
    outputs.summary.m365_data = cfg.data.describe();
    outputs.summary.group_by = cfg.group_by;
    outputs.html = html;
    let mut input_failed = false;
    let inputs = tlsready::input::rows::expand(&a.paths, &mut |e| {
        tlsready::say!("tlsready: {e}");
        input_failed = true;
    });
    let (run, write_err) = tlsready::run::tally_rows::tally_rows(
        &inputs,
        &cfg.endpoints,
        &mut outputs,
        a.threads.into(),
        a.block_bytes,
        &mut |e| tlsready::say!("tlsready: {e}"),
    );
    input_failed |= run.input_problem;
    // Rows that carry their client's name (written by `analyze`) name it.
    outputs.summary.tally.name_clients_from_rows();
    let finish = outputs.finish();
    if run.files == 0 && run.not_rows > 0 {
        // Directories with files, none of them rows (a Zeek log directory
        // without ssl.log, the wrong folder): not a clean run of none.
        tlsready::say!(
            "tlsready: no connection rows: {} in the directories given, none of them connection rows",
            count(run.not_rows, "file")
        );
        input_failed = true;
    }
    let mut line = format!(
        "{} from {}",
        count(run.stats.rows, "connection row"),
        count(run.files, "file")
    );
    if run.stats.passed_over > 0 {
        line.push_str(&format!(
            ", {} passed over",
            count(run.stats.passed_over, "other line")
        ));
    }
    if run.stats.bad > 0 {
        line.push_str(&format!(
            ", {} skipped",
            count(run.stats.bad, "malformed row")
        ));
    }
    if run.not_rows > 0 {
        line.push_str(&format!(
            ", {} in directories not connection rows",
            count(run.not_rows, "file")
        ));
    }
    outputs.summary.rows_line = Some(line);
    outputs.summary.nothing_read = run.files == 0 && input_failed;
    // The HTML report and the summary of what was gathered, whatever
    // output failed; then the first failure.
    let html = outputs.write_html_rows();
    if !cfg.quiet {
        outputs.print_summary(&Default::default());
    }
    if let Some(e) = write_err {
        return Err(outputs.rows_error(&e));
    }
    finish?;
    html?;
    Ok(exit_status(
        input_failed,
        || outputs.will_break() > 0,
        cfg.fail_on_legacy,
    ))
}

/// The time now, µs since the Unix epoch.
fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Whether libpcap lists `name` as a loopback device.
fn is_loopback(name: &str) -> bool {
    pcap::Device::list().is_ok_and(|l| l.iter().any(|d| d.name == name && d.flags.is_loopback()))
}

fn run_interfaces(all: bool) -> Result<u8, String> {
    let list = live::list_interfaces().map_err(|e| e.to_string())?;
    let (shown, hidden): (Vec<_>, Vec<_>) = list.into_iter().partition(|i| all || i.carries_ip);
    let mut out = tlsready::output::stdio::stdout();
    let w = |e: std::io::Error| e.to_string();
    let width = |f: &dyn Fn(&live::Interface) -> usize, min: usize| {
        shown.iter().map(f).max().unwrap_or(0).max(min)
    };
    let nw = width(&|i| i.name.chars().count(), 9);
    let sw = width(&|i| i.state.chars().count(), 5);
    let aw = width(&|i| i.addresses.chars().count(), 9);
    let line = |n: &str, s: &str, a: &str, d: &str| {
        format!("{n:<nw$}  {s:<sw$}  {a:<aw$}  {d}")
            .trim_end()
            .to_string()
    };
    writeln!(
        out,
        "{}",
        line("INTERFACE", "STATE", "ADDRESSES", "DESCRIPTION")
    )
    .map_err(w)?;
    for i in &shown {
        let mut desc = i.description.clone();
        if !i.carries_ip {
            desc = format!("{desc} (carries no TCP/IP: nothing to analyse)")
                .trim()
                .to_string();
        }
        writeln!(out, "{}", line(&i.name, &i.state, &i.addresses, &desc)).map_err(w)?;
    }
    if !hidden.is_empty() {
        let names: Vec<&str> = hidden.iter().map(|i| i.name.as_str()).collect();
        writeln!(
            out,
            "({} not listed, as they carry no TCP/IP traffic: {}; --all lists them)",
            count(names.len() as u64, "device"),
            names.join(", ")
        )
        .map_err(w)?;
    }
    Ok(EXIT_OK)
}

#[cfg(feature = "update")]
fn run_update(
    instance: tlsready::enrich::m365::instance::Instance,
    u: args::UpdateArgs,
) -> Result<u8, String> {
    use tlsready::enrich::m365::{store::DataDir, update};
    let fail = |e: String| format!("endpoints update failed: {e}; the data in use is unchanged");
    let dir = DataDir::locate().map_err(|e| fail(e.to_string()))?;
    let opts = update::UpdateOptions {
        instance,
        base: u.base,
        ca_file: u.ca_file,
        timeout: u.timeout,
    };
    let outcome = update::update(&opts, &dir).map_err(|e| fail(e.to_string()))?;
    let mut out = tlsready::output::stdio::stdout();
    writeln!(out, "{outcome}").map_err(|e| e.to_string())?;
    Ok(EXIT_OK)
}

fn run_endpoints(a: EndpointsArgs) -> Result<u8, String> {
    #[cfg(feature = "update")]
    if let Some(EndpointsAction::Update(u)) = a.action {
        if a.endpoints.is_some() {
            return Err(
                "endpoints update: --endpoints FILE is for using data, not updating it".into(),
            );
        }
        return run_update(a.instance, u);
    }
    let (ep, info, _) = load_endpoints(a.endpoints.as_ref(), a.instance)?;
    let mut out = tlsready::output::stdio::stdout();
    let w = |e: std::io::Error| e.to_string();
    match a.action {
        Some(EndpointsAction::Lookup { query }) => {
            // Exit 0 on a match, 1 on none, 2 on no query at all (for scripts).
            let (text, matched) = ep.lookup(&query).unwrap_or_else(|e| {
                usage_error(
                    clap::error::ErrorKind::InvalidValue,
                    format!("endpoints lookup: {e}"),
                )
            });
            write!(out, "{text}").map_err(w)?;
            return Ok(if matched { EXIT_OK } else { EXIT_FATAL });
        }
        #[cfg(feature = "update")]
        Some(EndpointsAction::Update(_)) => {}
        None => {
            let s = ep.stats();
            let age = info
                .age_days(today())
                .map(|d| format!(", {d} days old"))
                .unwrap_or_default();
            writeln!(out, "Microsoft 365 endpoint data: {}{age}", info.describe()).map_err(w)?;
            if let Origin::Stored(p) = &info.origin {
                writeln!(out, "stored in {}", p.display()).map_err(w)?;
            }
            writeln!(
                out,
                "{} endpoint sets ({} optional Common or shared-infrastructure sets not matched), \
                 {} URL patterns, {} IPv4 and {} IPv6 prefixes matched",
                s.sets, s.shared_sets, s.url_patterns, s.ipv4_prefixes, s.ipv6_prefixes
            )
            .map_err(w)?;
            for (svc, n) in s.sets_per_service {
                writeln!(out, "  {svc:<12} {n} sets").map_err(w)?;
            }
        }
    }
    Ok(EXIT_OK)
}

/// The host identity a run starts from: `--hosts` names, `--oui` vendors.
fn identity(a: &NameArgs) -> Result<tlsready::enrich::identity::Identity, String> {
    use tlsready::enrich::identity::{Identity, hosts_file, oui::Oui};
    let mut id = Identity::default();
    if let Some(p) = &a.hosts {
        id = id.with_known(hosts_file::load(p)?);
    }
    if !a.oui.oui.is_empty() {
        id = id.with_oui(Oui::from_files(&a.oui.oui)?);
    }
    Ok(id)
}

/// `tlsready hosts`: the names pass over the inputs, then one row per
/// address x name x source. Exit 3 when an input failed (the rows of the
/// others are still written).
fn run_hosts(mut a: HostsArgs) -> Result<u8, String> {
    use tlsready::run::driver::{Driver, ReadControl};
    use tlsready::run::names::Names;
    a.paths.append(&mut a.read);
    config::check_not_an_input("--output", a.output.as_deref(), &a.paths);
    if let Some(e) = &a.filter {
        FrameFilter::new(e)?;
    }
    let mut identity = identity(&NameArgs {
        hosts: None,
        oui: a.oui,
    })?;
    let mut out: Box<dyn Write> = match &a.output {
        Some(p) if p.as_os_str() != "-" => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).map_err(|e| format!("{}: cannot write: {e}", p.display()))?,
        )),
        _ => Box::new(std::io::BufWriter::new(tlsready::output::stdio::stdout())),
    };
    let mut input_failed = false;
    let mut inputs = Vec::new();
    for p in &a.paths {
        match source::expand(std::slice::from_ref(p)) {
            Ok(i) => inputs.extend(i),
            Err(e) => {
                tlsready::say!("tlsready: {e}");
                input_failed = true;
            }
        }
    }
    let stop = live::stop_flag().map_err(|e| format!("cannot handle signals: {e}"))?;
    let control = ReadControl {
        stop: Some(stop),
        filter: a.filter.clone(),
    };
    let filter = control.compile();
    let mut report = |e: String| {
        tlsready::say!("tlsready: {e}");
        input_failed = true;
    };
    let mut names = Names::new(&mut identity, &mut report);
    let mut src = tlsready::input::offline::Files::new(inputs);
    Driver::new(&tlsready::run::progress::NoProgress)
        .controlled(&control, filter.as_ref())
        .run(&mut src, &mut names);
    drop(names);
    let written = if a.json {
        tlsready::output::hosts::write_json(&identity, &mut out)
    } else {
        tlsready::output::hosts::write_csv(&identity, &mut out)
    };
    written.map_err(|e| {
        let to = a.output.as_ref().filter(|p| p.as_os_str() != "-");
        format!(
            "cannot write {}: {e}",
            to.map_or("standard output".into(), |p| p.display().to_string())
        )
    })?;
    Ok(if input_failed { EXIT_INPUT } else { EXIT_OK })
}

/// tcpdump's habits: `tlsready -r FILE ...` and `tlsready FILE ...` (an
/// existing path where the command should be) mean `tlsready analyze`.
fn with_command(mut args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let Some(first) = args.get(1) else {
        return args;
    };
    let s = first.to_string_lossy().into_owned();
    let command = [
        "analyze",
        "capture",
        "tally",
        "interfaces",
        "endpoints",
        "hosts",
        "help",
    ]
    .contains(&s.as_str());
    // A path: `-` (standard input), one that exists, or a file name (with
    // a dot or a slash; a missing one then gets the input error naming
    // it). A bare word stays a (mistyped) command for clap to refuse.
    let path = s == "-"
        || !s.starts_with('-')
            && (s.contains(['.', '/', '\\']) || std::path::Path::new(first).exists());
    if s == "-r" || s == "--read" {
        args.insert(1, "analyze".into());
    } else if !command && path {
        tlsready::say!("tlsready: reading {s} as `tlsready analyze {s}`");
        args.insert(1, "analyze".into());
    }
    args
}

/// A missing input named like a word of a capture filter (`tcp`, `port`,
/// `443`...): tcpdump's habit of a filter after the file.
fn filter_word(p: &std::path::Path) -> bool {
    const WORDS: [&str; 20] = [
        "tcp",
        "udp",
        "ip",
        "ip6",
        "port",
        "portrange",
        "host",
        "net",
        "src",
        "dst",
        "and",
        "or",
        "not",
        "ether",
        "vlan",
        "proto",
        "less",
        "greater",
        "icmp",
        "arp",
    ];
    let s = p.to_string_lossy();
    !p.exists() && (WORDS.contains(&s.as_ref()) || s.bytes().all(|b| b.is_ascii_digit()))
}

/// The inputs with a file reached twice (named alone and in a directory
/// named too) kept at its first place only, with a warning: its packets
/// would count twice.
fn read_once(inputs: Vec<source::Input>) -> Vec<source::Input> {
    let mut seen = std::collections::HashSet::new();
    let mut kept: Vec<source::Input> = Vec::with_capacity(inputs.len());
    for i in inputs {
        if let source::Input::File(p) | source::Input::Gzip(p) = &i
            && let Some(id) = config::file_id(p)
            && !seen.insert(id)
        {
            tlsready::say!(
                "tlsready: warning: {} is named twice (alone and in a directory named): read once",
                p.display()
            );
            continue;
        }
        kept.push(i);
    }
    kept
}

/// `-r FILE` inputs among the PATHs in the order the command line gives
/// them (as one stream, order matters: a connection split over two files
/// read in the wrong order reads as two half connections).
fn in_command_line_order(m: &clap::ArgMatches, paths: &mut Vec<PathBuf>, read: &mut Vec<PathBuf>) {
    let at = |id| {
        m.indices_of(id)
            .map(Iterator::collect::<Vec<usize>>)
            .unwrap_or_default()
    };
    let (pi, ri) = (at("paths"), at("read"));
    if ri.is_empty() || pi.len() != paths.len() || ri.len() != read.len() {
        return;
    }
    let mut all: Vec<(usize, PathBuf)> = pi.into_iter().zip(paths.drain(..)).collect();
    all.extend(ri.into_iter().zip(read.drain(..)));
    all.sort_by_key(|(i, _)| *i);
    paths.extend(all.into_iter().map(|(_, p)| p));
}

/// Parses the command line, runs the command, and says how it ended.
pub fn main() -> ExitCode {
    let matches = Cli::command().get_matches_from(with_command(std::env::args_os().collect()));
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let Some((_, m)) = matches.subcommand() {
        match &mut cli.command {
            Command::Analyze(a) => in_command_line_order(m, &mut a.paths, &mut a.read),
            Command::Hosts(a) => in_command_line_order(m, &mut a.paths, &mut a.read),
            _ => {}
        }
    }
    let res = match cli.command {
        Command::Analyze(a) => run_analyze(a),
        Command::Capture(a) => run_capture(a),
        Command::Tally(a) => run_tally(a),
        Command::Interfaces(a) => run_interfaces(a.all),
        Command::Endpoints(a) => run_endpoints(a),
        Command::Hosts(a) => run_hosts(a),
    };
    match res {
        Ok(code) => ExitCode::from(code),
        Err(msg) => {
            tlsready::say!("tlsready: {msg}");
            ExitCode::from(EXIT_FATAL)
        }
    }
}
