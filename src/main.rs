//! The `tlsready` command line: a thin layer over the library.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use tlsready::analyzer::{Analyzer, Limits};
use tlsready::m365::Endpoints;
use tlsready::outputs::{OutputPaths, Outputs};
use tlsready::pipeline::{self, DoneFilter, Msg};
use tlsready::source;

/// mimalloc: connections, hellos and rows are many small, short-lived
/// allocations made on several threads at once, where glibc's allocator
/// spent about a tenth of the run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use tlsready::tally::Scope;

/// Exit status: success.
const EXIT_OK: u8 = 0;
/// Exit status: a fatal error (cannot write output, bad endpoints file...).
const EXIT_FATAL: u8 = 1;
/// Exit status: an input capture is missing, unreadable, not a capture or
/// truncated; results from everything readable were still written.
const EXIT_INPUT: u8 = 3;
/// Exit status: `--fail-on-legacy` and some client will break.
const EXIT_LEGACY: u8 = 4;

#[derive(Parser)]
#[command(
    name = "tlsready",
    version,
    about = "Find clients that still use TLS below 1.2 with Microsoft 365, from packet captures",
    long_about = "tlsready reads packet captures (or sniffs an interface), reassembles TCP, parses TLS \
ClientHello and ServerHello messages (also after SMTP/IMAP/POP3 STARTTLS), recognises Microsoft 365 \
endpoints, and reports which clients negotiate or can only offer TLS below 1.2.\n\n\
Exit status: 0 success; 1 fatal error (output not writable, bad endpoints file); \
2 command-line error; 3 an input was missing, not a capture, or truncated (results from \
everything readable are still written); 4 with --fail-on-legacy, some client will break \
(takes precedence over 3)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Analyse pcap/pcapng captures (also .gz, `-` for standard input, directories).
    Analyze(AnalyzeArgs),
    /// Sniff an interface (libpcap) and report while running; stop with Ctrl-C or SIGTERM.
    Capture(CaptureArgs),
    /// List the interfaces libpcap can capture on.
    Interfaces,
    /// Show the Microsoft 365 endpoint data, or look up a name or address.
    Endpoints(EndpointsArgs),
}

#[derive(Args)]
struct CaptureArgs {
    /// Interface to capture on (`any` for all interfaces).
    #[arg(short, long, value_name = "IFACE")]
    interface: String,
    /// BPF capture filter, as tcpdump takes it (e.g. `tcp port 587 or tcp port 443`).
    #[arg(value_name = "FILTER", trailing_var_arg = true)]
    filter: Vec<String>,
    /// Do not put the interface into promiscuous mode.
    #[arg(long)]
    no_promisc: bool,
    /// Bytes captured per packet (hellos need whole packets).
    #[arg(long, value_name = "BYTES", default_value_t = tlsready::capture::DEFAULT_SNAPLEN)]
    snaplen: i32,
    /// Stop after this long (e.g. `90s`, `10m`, `1h`).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    duration: Option<std::time::Duration>,
    /// Stop after this many packets.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Print the tally every DURATION (e.g. `10m`) while running.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    report_every: Option<std::time::Duration>,
    /// Save the packets of the handshakes seen (not bulk traffic) to FILE.pcap.
    #[arg(short = 'w', long = "write", value_name = "FILE")]
    write: Option<PathBuf>,
    #[command(flatten)]
    out: OutputArgs,
}

#[derive(Args)]
struct OutputArgs {
    /// Write one CSV row per TLS connection to FILE (`-` for standard output).
    #[arg(long, value_name = "FILE")]
    connections: Option<PathBuf>,
    /// Write one JSON object per connection (JSON lines) to FILE (`-` for standard output).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write the per-client tally and verdicts as CSV to FILE (`-` for standard output).
    #[arg(long, value_name = "FILE")]
    clients: Option<PathBuf>,
    /// Tally and verdicts about Microsoft 365 endpoints only, or about every TLS server.
    #[arg(long, value_enum, default_value_t = Scope::M365)]
    scope: Scope,
    /// Exit with status 4 when some client will break (for scheduled checks).
    #[arg(long)]
    fail_on_legacy: bool,
    /// Replace the built-in Microsoft 365 endpoint list with FILE (endpoints web-service JSON).
    #[arg(long, value_name = "FILE")]
    endpoints: Option<PathBuf>,
    /// Most connections tracked at once; the longest-idle are evicted beyond it.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_flows)]
    max_flows: usize,
    /// Close connections idle this many seconds (capture time).
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    idle_timeout: u64,
    /// No summary on standard output.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Args)]
struct AnalyzeArgs {
    /// Capture files or directories; several are one stream of traffic (rotated captures).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Threads (default: the CPU count, 2 to 8). With 2 or more, pcap and pcapng files are cut
    /// into chunks analysed at once, with the same rows as one thread (--max-flows is shared
    /// out among the threads); gzip files and streams are read on one thread and analysed on
    /// another. 1: all on one thread.
    #[arg(long, value_name = "N", default_value_t = default_threads(), value_parser = clap::value_parser!(u16).range(1..=64))]
    threads: u16,
    /// Smallest chunk a capture file is cut into, in bytes (for tests).
    #[arg(long, value_name = "BYTES", default_value_t = tlsready::parallel::MIN_CHUNK, hide = true)]
    min_chunk: u64,
    #[command(flatten)]
    out: OutputArgs,
}

#[derive(Args)]
struct EndpointsArgs {
    /// Use FILE instead of the built-in endpoint list.
    #[arg(long, value_name = "FILE")]
    endpoints: Option<PathBuf>,
    #[command(subcommand)]
    action: Option<EndpointsAction>,
}

#[derive(Subcommand)]
enum EndpointsAction {
    /// Say which endpoint set matches a host name or an IP address, and why.
    Lookup {
        /// Host name or IPv4/IPv6 address.
        query: String,
    },
}

fn load_endpoints(path: Option<&PathBuf>) -> Result<Endpoints, String> {
    match path {
        None => Ok(Endpoints::embedded()),
        Some(p) => Endpoints::from_path(p).map_err(|e| e.to_string()),
    }
}

impl OutputArgs {
    fn paths(&self) -> OutputPaths {
        let stdout = [&self.connections, &self.json, &self.clients]
            .iter()
            .filter(|p| p.as_ref().is_some_and(|p| p.as_os_str() == "-"))
            .count();
        if stdout > 1 {
            use clap::CommandFactory;
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

    fn limits(&self) -> Limits {
        Limits {
            max_flows: self.max_flows.max(1),
            idle_timeout_us: i64::try_from(self.idle_timeout.saturating_mul(1_000_000))
                .unwrap_or(i64::MAX),
        }
    }
}

/// Reports every connection still open; returns the counts and the first
/// error writing rows.
fn end_analysis(
    mut analyzer: Analyzer<'_>,
    earlier: Option<std::io::Error>,
) -> (tlsready::analyzer::Stats, Option<std::io::Error>) {
    analyzer.finish();
    let err = analyzer.take_error().or(earlier);
    (analyzer.stats, err)
}

/// Completes the output files (even after a write error elsewhere, so that
/// everything gathered is written), then prints the summary.
fn write_outputs(
    outputs: &mut Outputs,
    stats: &tlsready::analyzer::Stats,
    write_err: Option<std::io::Error>,
    quiet: bool,
) -> Result<(), String> {
    let finish = outputs.finish();
    if let Some(e) = write_err {
        return Err(format!("cannot write output: {e}"));
    }
    finish?;
    if !quiet {
        outputs.print_summary(stats);
    }
    Ok(())
}

fn default_threads() -> u16 {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8) as u16)
}

fn run_analyze(a: AnalyzeArgs) -> Result<u8, String> {
    let endpoints = Arc::new(load_endpoints(a.out.endpoints.as_ref())?);
    let paths = a.out.paths();
    let mut outputs = Outputs::open(&paths, a.out.scope, false)?;
    let mut status = EXIT_OK;
    let inputs = match source::expand(&a.paths) {
        Ok(i) => i,
        Err(_) => {
            // Report each bad path, keep going with the others.
            status = EXIT_INPUT;
            let mut ok = Vec::new();
            for p in &a.paths {
                match source::expand(std::slice::from_ref(p)) {
                    Ok(i) => ok.extend(i),
                    Err(e) => eprintln!("tlsready: {e}"),
                }
            }
            ok
        }
    };
    let total: u64 = inputs.iter().filter_map(|i| i.size()).sum();
    let bar = if std::io::stderr().is_terminal() {
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {bytes}/{total_bytes} {bar:30} {bytes_per_sec} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let chunks = if a.threads >= 2 {
        tlsready::parallel::plan(&inputs, a.threads.into(), a.min_chunk)
    } else {
        None
    };
    if let Some(chunks) = chunks {
        // pcap and pcapng files: chunks analysed at once, joined in order.
        let settings = tlsready::parallel::Settings {
            endpoints,
            limits: a.out.limits(),
            threads: a.threads.into(),
        };
        let (stats, write_err) =
            tlsready::parallel::run(&chunks, &settings, &mut outputs, &bar, &mut |e| {
                bar.suspend(|| eprintln!("tlsready: {e}"));
                status = EXIT_INPUT;
            });
        bar.finish_and_clear();
        write_outputs(&mut outputs, &stats, write_err, a.out.quiet)?;
        if a.out.fail_on_legacy && outputs.will_break() > 0 {
            status = EXIT_LEGACY;
        }
        // Everything is written and flushed: freeing the tally's many
        // small allocations would only delay the exit.
        std::mem::forget(outputs);
        return Ok(status);
    }
    // Reading (libpcap, header decode, early drops) on a thread of its
    // own, analysis here; with --threads 1 both on this thread.
    let filter = Arc::new(DoneFilter::default());
    let mut analyzer =
        Analyzer::new(endpoints, a.out.limits(), &mut outputs).with_filter(Arc::clone(&filter));
    let mut fatal = None;
    let mut link = tlsready::decode::LinkType::Ethernet;
    let mut spare: Vec<pipeline::Batch> = Vec::new();
    let mut handle = |msg: Msg, spare: &mut Vec<pipeline::Batch>| -> bool {
        match msg {
            Msg::Opened(label, l) => {
                link = l;
                bar.set_message(label);
            }
            Msg::Error(e) => {
                bar.suspend(|| eprintln!("tlsready: {e}"));
                status = EXIT_INPUT;
            }
            Msg::Batch(batch) => {
                let mut bytes = batch.skipped_bytes;
                for (index, ts, data, len) in batch.iter() {
                    let _ = analyzer.frame_from_reader(index, link, ts, data, len);
                    bytes += u64::from(len);
                }
                analyzer.skipped(
                    batch.skipped,
                    batch.skipped_bytes,
                    batch.not_tcp,
                    batch.last_ts,
                );
                bar.inc(bytes);
                spare.push(batch);
            }
        }
        match analyzer.take_error() {
            Some(e) => {
                fatal = Some(e);
                false
            }
            None => true,
        }
    };
    if a.threads <= 1 {
        let spare: std::cell::RefCell<Vec<pipeline::Batch>> = std::cell::RefCell::new(Vec::new());
        pipeline::read_inputs(
            inputs,
            &filter,
            &mut || {
                let mut b = spare.borrow_mut().pop().unwrap_or_default();
                b.clear();
                b
            },
            &mut |m| handle(m, &mut spare.borrow_mut()),
        );
    } else {
        let (tx, rx) = std::sync::mpsc::sync_channel(4);
        let (recycle_tx, recycle_rx) = std::sync::mpsc::channel();
        let reader = pipeline::spawn_reader(inputs, Arc::clone(&filter), tx, recycle_rx);
        for msg in rx.iter() {
            let go = handle(msg, &mut spare);
            for b in spare.drain(..) {
                let _ = recycle_tx.send(b);
            }
            if !go {
                break;
            }
        }
        drop(rx);
        if reader.join().is_err() {
            bar.suspend(|| {
                eprintln!("tlsready: the reading thread failed; results are incomplete")
            });
            status = EXIT_INPUT;
        }
    }
    bar.finish_and_clear();
    let (stats, write_err) = end_analysis(analyzer, fatal);
    write_outputs(&mut outputs, &stats, write_err, a.out.quiet)?;
    if a.out.fail_on_legacy && outputs.will_break() > 0 {
        status = EXIT_LEGACY;
    }
    Ok(status)
}

fn run_capture(a: CaptureArgs) -> Result<u8, String> {
    use tlsready::capture::{self, CaptureOptions, Live};
    let endpoints = Arc::new(load_endpoints(a.out.endpoints.as_ref())?);
    let opts = CaptureOptions {
        interface: a.interface.clone(),
        filter: a.filter.join(" "),
        promisc: !a.no_promisc,
        snaplen: a.snaplen,
        duration: a.duration,
        count: a.count,
        write: a.write.clone(),
    };
    let stop = capture::stop_flag().map_err(|e| format!("cannot handle signals: {e}"))?;
    let mut live = Live::open(&opts).map_err(|e| e.to_string())?;
    let paths = a.out.paths();
    let mut outputs = Outputs::open(&paths, a.out.scope, true)?;
    eprintln!(
        "tlsready: capturing on {}{} (stop with Ctrl-C)",
        opts.interface,
        if opts.filter.is_empty() {
            String::new()
        } else {
            format!(", filter \"{}\"", opts.filter)
        }
    );
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new_spinner()
    } else {
        indicatif::ProgressBar::hidden()
    };
    let report_every = a.report_every;
    let mut last_report = std::time::Instant::now();
    let mut analyzer = Analyzer::new(endpoints, a.out.limits(), &mut outputs);
    let (cstats, err) = live.run(&mut analyzer, &stop, &mut |an, cs| {
        bar.set_message(format!(
            "{} packets, {} connections tracked, {} rows, {} dropped by the kernel",
            an.stats.packets,
            an.tracked(),
            an.stats.rows,
            cs.dropped
        ));
        bar.tick();
        if report_every.is_some_and(|d| last_report.elapsed() >= d) {
            last_report = std::time::Instant::now();
            bar.suspend(|| an.interim_report());
        }
    });
    bar.finish_and_clear();
    let (stats, write_err) = end_analysis(analyzer, None);
    write_outputs(&mut outputs, &stats, write_err, a.out.quiet)?;
    eprintln!(
        "tlsready: {} packets received by filter, {} dropped by kernel, {} dropped by interface{}",
        cstats.received,
        cstats.dropped,
        cstats.if_dropped,
        if opts.write.is_some() {
            format!(", {} saved", cstats.saved)
        } else {
            String::new()
        }
    );
    if a.out.fail_on_legacy && outputs.will_break() > 0 {
        if let Some(e) = err {
            eprintln!("tlsready: {e}");
        }
        return Ok(EXIT_LEGACY);
    }
    if let Some(e) = err {
        eprintln!("tlsready: {e}");
        return Ok(EXIT_INPUT);
    }
    Ok(EXIT_OK)
}

fn run_interfaces() -> Result<u8, String> {
    let lines = tlsready::capture::list_interfaces().map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    for l in lines {
        writeln!(out, "{l}").map_err(|e| e.to_string())?;
    }
    Ok(EXIT_OK)
}

fn run_endpoints(a: EndpointsArgs) -> Result<u8, String> {
    let ep = load_endpoints(a.endpoints.as_ref())?;
    let mut out = std::io::stdout().lock();
    let w = |e: std::io::Error| e.to_string();
    match a.action {
        Some(EndpointsAction::Lookup { query }) => {
            writeln!(out, "{}", ep.describe_lookup(&query)).map_err(w)?;
        }
        None => {
            let s = ep.stats();
            writeln!(out, "Microsoft 365 endpoint data version {}", ep.version()).map_err(w)?;
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

fn main() -> ExitCode {
    // Freed memory goes back to the system at once rather than after a
    // delay, so that peak memory is that of the data (about 30 instead of
    // 47 MiB on the 2 GiB benchmark, at the same speed). 15 is
    // `mi_option_purge_delay` in the mimalloc v3 headers of the pinned
    // libmimalloc-sys; the MIMALLOC_PURGE_DELAY variable still wins.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets a plain option value; no pointer involved.
        unsafe { libmimalloc_sys::mi_option_set(15, 0) };
    }
    let cli = Cli::parse();
    let res = match cli.command {
        Command::Analyze(a) => run_analyze(a),
        Command::Capture(a) => run_capture(a),
        Command::Interfaces => run_interfaces(),
        Command::Endpoints(a) => run_endpoints(a),
    };
    match res {
        Ok(code) => ExitCode::from(code),
        Err(msg) => {
            eprintln!("tlsready: {msg}");
            ExitCode::from(EXIT_FATAL)
        }
    }
}
