//! What the HTML report shows, as plain data.
//!
//! The page ([`super::html`]) and its charts ([`super::svg`]) depend on
//! this data only; [`super::html_report::from_summary`] builds it from a
//! run's summary.

/// Table rows shown in the page at most; the clients CSV has them all.
pub const ROW_LIMIT: usize = 5000;

/// Bars of the chart over time at most.
pub const MAX_BARS: usize = 120;

/// Server names in the chart of names reached below TLS 1.2.
pub const TOP_SERVERS: usize = 10;

/// Verdicts, worst first, as spelled in the clients CSV.
pub const VERDICTS: [&str; 3] = ["will-break", "at-risk", "ready"];

/// Negotiated-version classes of the stacked bars, lowest first; the
/// counts in [`ServiceRow::versions`] follow this order.
pub const VERSION_CLASSES: [&str; 8] = [
    "SSL2", "SSL3", "TLS1.0", "TLS1.1", "TLS1.2", "TLS1.3", "other", "none",
];

/// Services shown in the headline even when no client used them.
pub const SERVICES: [&str; 4] = ["Exchange", "SharePoint", "Teams", "Common"];

/// Facts about the run that the summary does not hold.
#[derive(Debug, Clone, Default)]
pub struct ReportContext {
    /// `files` or `interface`.
    pub source_kind: String,
    /// Input paths as given, or the interface (and filter).
    pub sources: Vec<String>,
    /// Microsoft 365 endpoint data used (version, or where it came from).
    pub endpoints: String,
    /// Path of the clients CSV when one is written (named in the page).
    pub clients_csv: Option<String>,
    /// A live capture still running: the page says so and reloads itself
    /// every this many seconds.
    pub refresh_secs: Option<u64>,
}

/// One service's line in the headline and in the chart of versions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceRow {
    /// `Exchange`, `SharePoint`, `Teams`, `Common`, or `other` (scope all).
    pub name: String,
    /// Distinct clients per verdict, in [`VERDICTS`] order.
    pub clients: [u64; 3],
    /// Connections per negotiated version, in [`VERSION_CLASSES`] order.
    pub versions: [u64; 8],
    /// Connections below TLS 1.2 (negotiated, or offered at most).
    pub below: u64,
}

/// The clients table: the clients CSV's header and rows, cell for cell.
#[derive(Debug, Clone, Default)]
pub struct ClientTable {
    /// Column names.
    pub header: Vec<String>,
    /// The first rows (at most [`ROW_LIMIT`]), worst verdict first.
    pub rows: Vec<Vec<String>>,
    /// Rows in the clients CSV (more than `rows.len()` when truncated).
    pub total_rows: u64,
    /// Rows per verdict over the whole CSV, in [`VERDICTS`] order.
    pub rows_per_verdict: [u64; 3],
}

/// Everything the page shows.
#[derive(Debug, Clone, Default)]
pub struct ReportData {
    /// `Microsoft 365` or `all TLS servers`.
    pub scope: String,
    /// When the page was made (RFC 3339).
    pub generated: String,
    /// `tlsready X.Y.Z`.
    pub tool: String,
    /// Run facts.
    pub context: ReportContext,
    /// First and last packet of the connections (µs), if any.
    pub span: Option<(i64, i64)>,
    /// Packets read (absent when the report comes from rows).
    pub packets: Option<u64>,
    /// Connections reported (every connection, as in the terminal report).
    pub connections: u64,
    /// Connections below TLS 1.2 (every connection).
    pub below: u64,
    /// Connections per negotiated version, as in the terminal report
    /// (`none` when no ServerHello).
    pub negotiated: Vec<(String, u64)>,
    /// Distinct clients per verdict (a client counts under each verdict it
    /// has for some service), in [`VERDICTS`] order.
    pub clients: [u64; 3],
    /// Per service, in [`SERVICES`] order, then `other`.
    pub services: Vec<ServiceRow>,
    /// Width of the buckets of `timeline` (µs).
    pub bucket_us: i64,
    /// Connections in scope per time bucket: (bucket start µs, connections,
    /// below TLS 1.2).
    pub timeline: Vec<(i64, u64, u64)>,
    /// Server names reached below TLS 1.2 the most, with their connections.
    pub top_below: Vec<(String, u64)>,
    /// The clients table.
    pub table: ClientTable,
}
