//! The command line as clap reads it: commands and their options.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use tlsready::enrich::devices::GroupBy;
use tlsready::enrich::m365::instance::Instance;
use tlsready::enrich::tally::Scope;
use tlsready::flow::table::Limits;

#[derive(Parser)]
#[command(
    name = "tlsready",
    version,
    about = "Find clients that still use TLS below 1.2 with Microsoft 365, from packet captures",
    long_about = "tlsready reads packet captures (or sniffs an interface), reassembles TCP, parses TLS \
ClientHello and ServerHello messages (also after SMTP/IMAP/POP3 STARTTLS), recognises Microsoft 365 \
endpoints, and reports which clients negotiate or can only offer TLS below 1.2.\n\n\
Exit status: 0 success; 1 fatal error (output not writable, bad endpoints file, \
`endpoints update` failed); \
2 command-line error; 3 an input was missing, not a capture, or truncated (results from \
everything readable are still written); 4 with --fail-on-legacy, some client will break \
(takes precedence over 3)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Analyse pcap/pcapng captures (also .gz, `-` for standard input, directories).
    Analyze(AnalyzeArgs),
    /// Sniff an interface (libpcap) and report while running; stop with Ctrl-C or SIGTERM.
    Capture(CaptureArgs),
    /// Tally connection rows instead of packets: tlsready's CSV or JSON lines from any
    /// number of sensors and days, Zeek ssl.log, Suricata eve.json (files or directories,
    /// gzip or not, `-` for standard input); Microsoft 365 recognised again with the data
    /// in use.
    Tally(TallyArgs),
    /// List the interfaces libpcap can capture on (with a header; devices
    /// that carry no TCP/IP, such as D-Bus or Bluetooth, only with --all).
    Interfaces(InterfacesArgs),
    /// Show the Microsoft 365 endpoint data, look up a name or address, or
    /// update the data from Microsoft's endpoints web service.
    Endpoints(EndpointsArgs),
    /// What the captures say about their hosts (DHCP, DNS, mDNS, LLMNR, NetBIOS,
    /// Kerberos, HTTP User-Agent, MACs): one row per address x name x source.
    Hosts(HostsArgs),
}

#[derive(Args)]
pub struct HostsArgs {
    /// Capture files or directories (as `analyze` takes them).
    #[arg(value_name = "PATH", required_unless_present = "read")]
    pub paths: Vec<PathBuf>,
    /// A capture to read, as tcpdump's `-r`.
    #[arg(short = 'r', long = "read", value_name = "FILE")]
    pub read: Vec<PathBuf>,
    /// Read only the packets matching this BPF filter.
    #[arg(short = 'f', long = "filter", value_name = "EXPR")]
    pub filter: Option<String>,
    /// JSON lines instead of CSV.
    #[arg(long)]
    pub json: bool,
    /// Write to FILE instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub oui: OuiArgs,
}

/// MAC vendors (`analyze`, `capture`, `hosts`).
#[derive(Args)]
pub struct OuiArgs {
    /// IEEE OUI registry files (oui.csv, mam.csv, oui36.csv or oui.txt) for MAC vendors,
    /// instead of the embedded snapshot.
    #[arg(long = "oui", value_name = "FILE")]
    pub oui: Vec<PathBuf>,
}

/// How clients are named besides what the capture teaches (`analyze`, `capture`).
#[derive(Args)]
pub struct NameArgs {
    /// Names you already have: CSV `ip,name[,mac]` or hosts-file lines (`ip name...`);
    /// they win over the names the capture teaches, and the clients CSV says `hosts`.
    #[arg(long = "hosts", value_name = "FILE")]
    pub hosts: Option<PathBuf>,
    #[command(flatten)]
    pub oui: OuiArgs,
}

#[derive(Args)]
pub struct CaptureArgs {
    /// Interface to capture on (`any` for all interfaces).
    #[arg(short, long, value_name = "IFACE")]
    pub interface: String,
    /// BPF capture filter, as tcpdump takes it (e.g. `tcp port 587 or tcp port 443`).
    #[arg(value_name = "FILTER", trailing_var_arg = true)]
    pub filter: Vec<String>,
    /// Do not put the interface into promiscuous mode.
    #[arg(long)]
    pub no_promisc: bool,
    /// Bytes captured per packet (hellos need whole packets).
    #[arg(long, value_name = "BYTES", default_value_t = tlsready::input::live::DEFAULT_SNAPLEN)]
    pub snaplen: i32,
    /// Stop after this long (e.g. `90s`, `10m`, `1h`).
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub duration: Option<std::time::Duration>,
    /// Stop after this many packets.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Print the tally every DURATION (e.g. `10m`) while running; at least
    /// a second (the capture's clock ticks once a second).
    #[arg(long, value_name = "DURATION", value_parser = whole_seconds)]
    pub report_every: Option<std::time::Duration>,
    /// Save the packets of the handshakes seen (not bulk traffic) to FILE.pcap.
    #[arg(short = 'w', long = "write", value_name = "FILE")]
    pub write: Option<PathBuf>,
    /// Close and start the connection files (--connections, --json: then directories)
    /// every DURATION (e.g. `1h`, `1d`; periods aligned on UTC), each written under a
    /// temporary name and renamed when complete.
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub rotate: Option<std::time::Duration>,
    /// The sensor's name in rotated file names (default: the host name).
    #[arg(long, value_name = "NAME", requires = "rotate")]
    pub sensor: Option<String>,
    /// How often the stored endpoint update is looked at (default 10 s; for tests).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, hide = true)]
    pub data_check_every: Option<std::time::Duration>,
    #[command(flatten)]
    pub names: NameArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// What `analyze`, `capture` and `tally` report and with which endpoint data.
#[derive(Args, Clone)]
pub struct ReportArgs {
    /// Write the per-client tally and verdicts as CSV to FILE (`-` for standard output).
    #[arg(long, value_name = "FILE")]
    pub clients: Option<PathBuf>,
    /// Write the report as one self-contained HTML page to FILE (replaced atomically).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Tally and verdicts about Microsoft 365 endpoints only, or about every TLS server.
    #[arg(long, value_enum, default_value_t = Scope::M365)]
    pub scope: Scope,
    /// One client per device (the addresses of one MAC or one name together, listed in
    /// `client_addresses`), or per address.
    #[arg(long, value_enum, value_name = "BY", default_value_t = GroupBy::Device)]
    pub group_by: GroupBy,
    /// Exit with status 4 when some client will break (for scheduled checks).
    #[arg(long)]
    pub fail_on_legacy: bool,
    /// Use FILE as the Microsoft 365 endpoint list (endpoints web-service JSON, or a
    /// file stored by `endpoints update`), instead of the stored update or the built-in copy.
    #[arg(long, value_name = "FILE")]
    pub endpoints: Option<PathBuf>,
    /// Microsoft 365 instance whose endpoint data is used (its stored update; the
    /// built-in copy is Worldwide).
    #[arg(long, value_enum, default_value_t = Instance::Worldwide)]
    pub instance: Instance,
}

#[derive(Args)]
pub struct OutputArgs {
    /// Write one CSV row per TLS connection to FILE (`-` for standard output).
    #[arg(long, value_name = "FILE")]
    pub connections: Option<PathBuf>,
    /// Write one JSON object per connection (JSON lines) to FILE (`-` for standard output).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub report: ReportArgs,
    /// Most connections tracked at once; the longest-idle are evicted beyond it.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_flows)]
    pub max_flows: usize,
    /// Memory budget for everything buffered (out-of-order segments, partial hellos,
    /// plaintext, mail dialogues) and the flow table, shared by all threads (e.g. 512M, 2G,
    /// 256MiB, or bytes); when reached, the connections holding the most for the longest are
    /// reported as truncated and no longer followed.
    #[arg(long, value_name = "SIZE", default_value = "256MiB", value_parser = tlsready::flow::budget::parse_size)]
    pub memcap: usize,
    /// Close connections idle this long, in capture time (e.g. `300`,
    /// `90s`, `5m`; a bare number is seconds).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = duration)]
    pub idle_timeout: std::time::Duration,
    /// Learn no names from the traffic (client names from DHCP, DNS, NetBIOS, LLMNR, mDNS,
    /// Kerberos, HTTP and MACs; server names from DNS answers): the name columns stay empty
    /// (`--hosts` names still apply), and the analysis is a little faster.
    #[arg(long)]
    pub no_names: bool,
    /// No summary on standard output.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Args)]
pub struct AnalyzeArgs {
    /// Capture files or directories; several are one stream of traffic (rotated captures).
    #[arg(value_name = "PATH", required_unless_present = "read")]
    pub paths: Vec<PathBuf>,
    /// A capture to read, as tcpdump's `-r` (the same as giving it as a PATH).
    #[arg(short = 'r', long = "read", value_name = "FILE")]
    pub read: Vec<PathBuf>,
    /// Analyse only the packets matching this BPF filter, as tcpdump and
    /// `capture` take it (e.g. `-f 'tcp port 587'`).
    #[arg(short = 'f', long = "filter", value_name = "EXPR")]
    pub filter: Option<String>,
    /// Threads (default: the CPU count, 2 to 8). With 2 or more, pcap and pcapng files are cut
    /// into chunks analysed at once, with the same rows as one thread unless the flow table
    /// fills (--max-flows is shared out among the threads) and in rare cases of copies of
    /// packets across a cut (see README, "Copies of packets"); gzip files and streams are read on
    /// one thread and analysed on another. 1: all on one thread.
    #[arg(long, value_name = "N", default_value_t = default_threads(), value_parser = clap::value_parser!(u16).range(1..=64))]
    pub threads: u16,
    #[command(flatten)]
    pub names: NameArgs,
    /// Smallest chunk a capture file is cut into, in bytes (for tests).
    #[arg(long, value_name = "BYTES", default_value_t = tlsready::run::chunked::MIN_CHUNK, hide = true)]
    pub min_chunk: u64,
    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Args)]
pub struct TallyArgs {
    /// Files of connection rows, or directories of them (walked recursively, in name
    /// order; names starting with a dot, such as a rotating capture's open file, skipped).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Write the rows read, Microsoft 365 columns recomputed, as the connections CSV to FILE.
    #[arg(long, value_name = "FILE")]
    pub connections: Option<PathBuf>,
    /// Write the rows read, Microsoft 365 columns recomputed, as JSON lines to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub report: ReportArgs,
    /// Threads (default: the CPU count, 2 to 8). With 2 or more, and no rows written back
    /// (--connections, --json), each input in a line format is cut into blocks read at once.
    #[arg(long, value_name = "N", default_value_t = default_threads(), value_parser = clap::value_parser!(u16).range(1..=64))]
    pub threads: u16,
    /// Bytes of input in a block read by one thread (for tests).
    #[arg(long, value_name = "BYTES", default_value_t = tlsready::run::tally_rows::BLOCK, hide = true)]
    pub block_bytes: usize,
    /// No summary on standard output.
    #[arg(long, short)]
    pub quiet: bool,
}

impl TallyArgs {
    /// The output options as `analyze` has them (flow-table limits unused).
    pub fn output_args(&self) -> OutputArgs {
        let limits = Limits::default();
        OutputArgs {
            connections: self.connections.clone(),
            json: self.json.clone(),
            report: self.report.clone(),
            max_flows: limits.max_flows,
            memcap: limits.memcap,
            idle_timeout: std::time::Duration::from_micros(
                u64::try_from(limits.idle_timeout_us).unwrap_or(0),
            ),
            no_names: false,
            quiet: self.quiet,
        }
    }
}

#[derive(Args)]
pub struct InterfacesArgs {
    /// Also list devices that carry no TCP/IP traffic (D-Bus, Bluetooth, USB...).
    #[arg(long)]
    pub all: bool,
}

#[derive(Args)]
pub struct EndpointsArgs {
    /// Use FILE instead of the stored update or the built-in endpoint list.
    #[arg(long, value_name = "FILE", global = true)]
    pub endpoints: Option<PathBuf>,
    /// Microsoft 365 instance.
    #[arg(long, value_enum, default_value_t = Instance::Worldwide, global = true)]
    pub instance: Instance,
    #[command(subcommand)]
    pub action: Option<EndpointsAction>,
}

#[derive(Subcommand)]
pub enum EndpointsAction {
    /// Say which endpoint set matches a host name, an IP address, a URL or
    /// a CIDR block, and why; exit status 0 on a match, 1 on none, 2 on a
    /// query that is none of these.
    Lookup {
        /// Host name, IPv4/IPv6 address, URL (`https://host/path`) or CIDR
        /// block (`52.96.0.0/14`).
        query: String,
    },
    /// Download the instance's endpoint list from Microsoft's web service when it is
    /// newer than the data in use, and store it for every later run.
    #[cfg(feature = "update")]
    Update(UpdateArgs),
}

#[cfg(feature = "update")]
#[derive(Args)]
pub struct UpdateArgs {
    /// Base URL of the endpoints web service (plain http only to a loopback address).
    #[arg(long = "url", value_name = "BASE", default_value = tlsready::enrich::m365::update::DEFAULT_BASE)]
    pub base: String,
    /// Trust the certificate authorities in this PEM file instead of the built-in
    /// (Mozilla) roots, e.g. a TLS-inspecting proxy's.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Time allowed for each request (e.g. `30s`, `2m`).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "30s")]
    pub timeout: std::time::Duration,
}

/// Threads by default: the CPU count, 2 to 8.
pub fn default_threads() -> u16 {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8) as u16)
}

/// A duration, the same syntax for every option: a number of seconds
/// (`300`) or a number with units (`90s`, `5m`, `1h 30m`, `2days`).
/// A [`duration`] of whole seconds, one at least (`--report-every`).
pub fn whole_seconds(s: &str) -> Result<std::time::Duration, String> {
    let d = duration(s)?;
    if d.as_secs() == 0 || d.subsec_nanos() != 0 {
        return Err("a whole number of seconds, one at least (reports come on the second)".into());
    }
    Ok(d)
}

pub fn duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    if let Ok(secs) = t.parse::<u64>() {
        return Ok(std::time::Duration::from_secs(secs));
    }
    humantime::parse_duration(t).map_err(|e| format!("{e} (use e.g. `300`, `90s`, `5m` or `1h`)"))
}
