//! The HTML report: one self-contained page (inline CSS, a small script,
//! inline SVG charts; nothing loaded from elsewhere) built from
//! [`ReportData`] alone.
//!
//! Every value is written through maud, which escapes it for HTML: a
//! hostile server name or EHLO name is text, never markup. A Content
//! Security Policy allows only the page's own script (by its hash), so
//! even a fault here could not run injected script.

use base64::Engine;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use sha2::{Digest, Sha256};

use super::html_table::{clients_table, thousands};
use super::report_data::{ReportData, ServiceRow, VERDICTS, VERSION_CLASSES};
use super::svg;

const CSS: &str = include_str!("report.css");
const JS: &str = include_str!("report.js");

/// Sources listed in the header at most.
const MAX_SOURCES: usize = 12;

/// The policy: nothing but the page's own styles, its script and data
/// images.
fn csp() -> String {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(JS.as_bytes()));
    format!(
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; \
         script-src 'sha256-{hash}'; base-uri 'none'; form-action 'none'"
    )
}

/// `2026-11-28 10:56:48 UTC`.
fn when(us: i64) -> String {
    let s = crate::text::rfc3339(us);
    format!(
        "{} {} UTC",
        s.get(0..10).unwrap_or(&s),
        s.get(11..19).unwrap_or("")
    )
}

/// A duration in words, to the second (to the minute beyond a day).
fn duration(us: i64) -> String {
    let secs = u64::try_from(us.max(0) / 1_000_000).unwrap_or(0);
    let secs = if secs > 86_400 { secs / 60 * 60 } else { secs };
    humantime::format_duration(std::time::Duration::from_secs(secs)).to_string()
}

fn icon(verdict: &str) -> Markup {
    // Shapes differ as well as colours: a cross, a triangle, a tick.
    let body = match verdict {
        "will-break" => {
            "<circle cx=\"12\" cy=\"12\" r=\"11\" fill=\"currentColor\"/>\
             <path d=\"M7.5 7.5l9 9M16.5 7.5l-9 9\" stroke=\"#fff\" stroke-width=\"2.6\" stroke-linecap=\"round\"/>"
        }
        "at-risk" => {
            "<path d=\"M12 1.5L23 21.5H1z\" fill=\"currentColor\"/>\
             <path d=\"M12 8.5v6.5\" stroke=\"#fff\" stroke-width=\"2.6\" stroke-linecap=\"round\"/>\
             <circle cx=\"12\" cy=\"18.3\" r=\"1.5\" fill=\"#fff\"/>"
        }
        _ => {
            "<circle cx=\"12\" cy=\"12\" r=\"11\" fill=\"currentColor\"/>\
             <path d=\"M6.5 12.5l3.7 3.7 7.3-7.7\" stroke=\"#fff\" stroke-width=\"2.6\" fill=\"none\" stroke-linecap=\"round\" stroke-linejoin=\"round\"/>"
        }
    };
    html! {
        svg viewBox="0 0 24 24" aria-hidden="true" focusable="false" { (PreEscaped(body)) }
    }
}

fn card(verdict: &str, n: u64, what: &str, more: &str) -> Markup {
    html! {
        a class={"card " (verdict)} href="#clients" data-verdict=(verdict) {
            (icon(verdict))
            span {
                span.num data-count=(verdict) { (thousands(n)) }
                span.what { (what) }
                span.more { (more) }
            }
        }
    }
}

fn header(d: &ReportData) -> Markup {
    let ctx = &d.context;
    let shown = ctx.sources.iter().take(MAX_SOURCES);
    let more = ctx.sources.len().saturating_sub(MAX_SOURCES);
    html! {
        header.top {
            div.wrap {
                h1 {
                    @if d.scope == "Microsoft 365" {
                        "Which clients will break when Microsoft 365 requires TLS 1.2"
                    } @else {
                        "Which clients will break when their servers require TLS 1.2"
                    }
                }
                p.sub { "Passive analysis of TLS handshakes by " (d.tool) }
                dl.meta {
                    dt { "Capture" }
                    dd {
                        @match d.span {
                            Some((a, b)) => { (when(a)) " – " (when(b)) " (" (duration(b - a)) ")" },
                            None => "no connection seen",
                        }
                    }
                    dt { "Sources" }
                    dd {
                        (ctx.source_kind) ": "
                        @for (i, s) in shown.enumerate() {
                            @if i > 0 { ", " }
                            code { (s) }
                        }
                        @if more > 0 { " and " (more) " more" }
                    }
                    dt { "Endpoint data" }
                    dd { "Microsoft 365 endpoints, version " (ctx.endpoints) }
                    dt { "Verdicts about" }
                    dd { (d.scope) }
                    dt { "Report made" }
                    dd { (d.generated.get(0..19).unwrap_or(&d.generated).replace('T', " ")) " UTC" }
                }
                @if let Some(secs) = ctx.refresh_secs {
                    p.live role="status" {
                        "Capture in progress: this page is rewritten every "
                        (humantime::format_duration(std::time::Duration::from_secs(secs)))
                        " and reloads itself."
                    }
                }
            }
        }
    }
}

fn headline(d: &ReportData) -> Markup {
    let [wb, ar, rd] = d.clients;
    html! {
        section #headline aria-labelledby="h-headline" {
            h2 #h-headline { "Clients at a glance" }
            div.cards {
                (card("will-break", wb, "clients will break", "never offered TLS 1.2 or higher"))
                (card("at-risk", ar, "clients at risk", "offer TLS 1.2 yet end up below it, or not shown to offer it"))
                (card("ready", rd, "clients ready", "use TLS 1.2 or higher"))
            }
            table.services {
                caption { "Per service: clients by verdict (a client counts once per service), connections, and those below TLS 1.2" }
                thead {
                    tr {
                        th scope="col" { "Service" }
                        th.num scope="col" { "Will break" }
                        th.num scope="col" { "At risk" }
                        th.num scope="col" { "Ready" }
                        th.num scope="col" { "Connections" }
                        th.num scope="col" { "Below TLS 1.2" }
                    }
                }
                tbody {
                    @for s in &d.services {
                        tr data-service=(s.name) {
                            th scope="row" { (s.name) }
                            @for (i, v) in VERDICTS.iter().enumerate() {
                                @let n = s.clients.get(i).copied().unwrap_or(0);
                                td class={"num" @if n == 0 { " zero" }} data-verdict=(v) { (thousands(n)) }
                            }
                            td.num { (thousands(s.versions.iter().sum())) }
                            td.num { (thousands(s.below)) }
                        }
                    }
                }
            }
            p.facts {
                "All servers: " span #f-connections { (thousands(d.connections)) } " TLS connections"
                @if let Some(p) = d.packets { " in " (thousands(p)) " packets" }
                ", " span #f-below { (thousands(d.below)) } " below TLS 1.2. Negotiated: "
                @for (i, (v, n)) in d.negotiated.iter().enumerate() {
                    @if i > 0 { ", " }
                    (v) " " (thousands(*n))
                }
                @if d.negotiated.is_empty() { "nothing" }
                "."
            }
        }
    }
}

fn versions_table(services: &[ServiceRow]) -> Markup {
    html! {
        details {
            summary { "Numbers" }
            table {
                caption.visually-hidden { "Connections by negotiated version, per service" }
                thead { tr { th scope="col" { "Service" } @for c in VERSION_CLASSES { th.num scope="col" { (c) } } } }
                tbody {
                    @for s in services {
                        tr { th scope="row" { (s.name) } @for n in s.versions { td.num { (n) } } }
                    }
                }
            }
        }
    }
}

fn charts(d: &ReportData) -> Markup {
    let in_scope: u64 = d
        .services
        .iter()
        .map(|s| s.versions.iter().sum::<u64>())
        .sum();
    html! {
        section #charts aria-labelledby="h-charts" {
            h2 #h-charts { "Connections" }
            div.grid2 {
                figure.wide {
                    figcaption {
                        "Connections by negotiated TLS version, per service"
                        span.note { "Bars read from the left: SSL and TLS 1.0/1.1 (hatched, dotted) will stop working; “none” had no ServerHello (failed, refused, or plaintext mail)." }
                    }
                    (svg::versions_chart(&d.services))
                    (versions_table(&d.services))
                }
                figure.wide {
                    figcaption {
                        "Connections below TLS 1.2 over time, " (svg::bucket_name(d.bucket_us)) " (UTC)"
                        span.note { "Grey: every connection in scope; hatched: those below TLS 1.2." }
                    }
                    @if in_scope == 0 || d.timeline.is_empty() {
                        p.empty { "No connection in scope." }
                    } @else {
                        (svg::timeline_chart(d.bucket_us, &d.timeline))
                        details {
                            summary { "Numbers" }
                            table {
                                caption.visually-hidden { "Connections per time bucket" }
                                thead { tr { th scope="col" { "From (UTC)" } th.num scope="col" { "Connections" } th.num scope="col" { "Below TLS 1.2" } } }
                                tbody {
                                    @for (t, all, low) in &d.timeline {
                                        @if *all > 0 {
                                            tr { td { (svg::bucket_label(*t, d.bucket_us)) } td.num { (all) } td.num { (low) } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                figure.wide {
                    figcaption {
                        "Server names reached below TLS 1.2"
                        span.note { "Connections that negotiated, or could only offer, less than TLS 1.2; the " (d.top_below.len()) " names with the most." }
                    }
                    @if d.top_below.is_empty() {
                        p.empty { "No server was reached below TLS 1.2." }
                    } @else {
                        (svg::top_servers_chart(&d.top_below))
                        details {
                            summary { "Numbers" }
                            table {
                                caption.visually-hidden { "Server names reached below TLS 1.2" }
                                thead { tr { th scope="col" { "Server name" } th.num scope="col" { "Connections below TLS 1.2" } } }
                                tbody { @for (name, n) in &d.top_below { tr { td { (name) } td.num { (n) } } } }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn verdict_rules() -> Markup {
    html! {
        section #verdicts aria-labelledby="h-verdicts" {
            h2 #h-verdicts { "What the verdicts mean, and what to do" }
            div.verdicts {
                div.will-break {
                    h3 { "will-break" }
                    p { "The client never offered TLS 1.2 or higher to this service (a mail client that only sent in plaintext, or whose STARTTLS was refused, counts here too). It will fail when Microsoft 365 stops accepting TLS 1.0 and 1.1." }
                    p { strong { "To do: " } "update or reconfigure it to offer TLS 1.2: operating system updates (on Windows 7 and Server 2008 R2, update KB3140245 and the DefaultSecureProtocols registry value), SchUseStrongCrypto for .NET applications, new firmware for printers and scanners; else replace it, or let it send mail through a relay of your own that speaks TLS 1.2 to Microsoft 365." }
                }
                div.at-risk {
                    h3 { "at-risk" }
                    p { "The client offers TLS 1.2 or higher, but used an opt-in legacy endpoint (such as smtp-legacy.office365.com), sent mail in plaintext, or more than occasionally ended below TLS 1.2 (more than one handshake and more than 5 % of them); or what it offers is unknown and it was only seen ending below TLS 1.2, or all its handshakes failed." }
                    p { strong { "To do: " } "find out why it falls back: an application or library pinned to an old version, a proxy or inspecting firewall in the path; move it off legacy endpoints, which Microsoft will retire; make mail clients use STARTTLS." }
                }
                div.ready {
                    h3 { "ready" }
                    p { "The client offers TLS 1.2 or higher and gets it. One fallback handshake, or at most 5 % of them, is tolerated: Windows briefly retries with TLS 1.0 or 1.1 after a timeout." }
                    p { strong { "To do: " } "nothing. A client not seen in this capture has no verdict: capture long enough to see every device, or capture again after changes." }
                }
            }
        }
    }
}

/// The whole page.
pub fn page(d: &ReportData) -> String {
    let t = &d.table;
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta http-equiv="Content-Security-Policy" content=(csp());
                @if let Some(secs) = d.context.refresh_secs {
                    meta http-equiv="refresh" content=(secs.max(5));
                }
                meta name="generator" content=(d.tool);
                title { "TLS readiness, " (d.scope) " (tlsready report)" }
                style { (PreEscaped(CSS)) }
            }
            body {
                (header(d))
                main.wrap {
                    (headline(d))
                    (charts(d))
                    (verdict_rules())
                    section #clients aria-labelledby="h-clients" {
                        h2 #h-clients { "Clients" }
                        p {
                            "One row per client, service and server name, worst verdict first: the rows and columns of the clients CSV ("
                            (thousands(t.total_rows)) " rows: "
                            @for (i, v) in VERDICTS.iter().enumerate() {
                                @if i > 0 { ", " }
                                span data-rows-verdict=(v) { (thousands(t.rows_per_verdict.get(i).copied().unwrap_or(0))) } " " (v)
                            }
                            "). Versions are counted per negotiated version; "
                            code { "client_max_offered" } " is the best version the client offered."
                        }
                        @if t.header.is_empty() || t.total_rows == 0 {
                            p.empty { "No client in scope." }
                        }
                        (clients_table(t, d.context.clients_csv.as_deref()))
                    }
                }
                footer {
                    div.wrap {
                        "Made by " (d.tool) " at " (d.generated) ". Connections and clients are counted as the terminal report and the CSV outputs count them."
                    }
                }
                script { (PreEscaped(JS)) }
            }
        }
    };
    markup.into_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::report_data::{ClientTable, ReportContext};

    fn data() -> ReportData {
        ReportData {
            scope: "Microsoft 365".into(),
            generated: "2026-12-01T10:00:00.000000Z".into(),
            tool: "tlsready 0.1.0".into(),
            context: ReportContext {
                source_kind: "files".into(),
                sources: vec!["samples/".into()],
                endpoints: "2026073100".into(),
                clients_csv: None,
                refresh_secs: None,
            },
            services: crate::output::report_data::SERVICES
                .iter()
                .map(|s| ServiceRow {
                    name: (*s).into(),
                    ..Default::default()
                })
                .collect(),
            bucket_us: crate::model::timeline::MINUTE,
            ..Default::default()
        }
    }

    fn one_client() -> ReportData {
        let mut d = data();
        d.span = Some((1_000_000, 61_000_000));
        d.connections = 3;
        d.below = 3;
        d.negotiated = vec![("TLS1.0".into(), 3)];
        d.clients = [1, 0, 0];
        d.services[0].clients = [1, 0, 0];
        d.services[0].versions = [0, 0, 3, 0, 0, 0, 0, 0];
        d.timeline = vec![(0, 3, 3)];
        d.top_below = vec![("outlook.office365.com".into(), 3)];
        d.table = ClientTable {
            header: vec!["client_ip".into(), "service".into(), "verdict".into()],
            rows: vec![vec![
                "10.0.0.1".into(),
                "Exchange".into(),
                "will-break".into(),
            ]],
            total_rows: 1,
            rows_per_verdict: [1, 0, 0],
        };
        d
    }

    /// `<script` tags in the page: the page's own only.
    fn scripts(page: &str) -> usize {
        page.to_ascii_lowercase().matches("<script").count()
    }

    #[test]
    fn empty_capture() {
        let p = page(&data());
        assert!(p.starts_with("<!DOCTYPE html>"));
        assert!(p.contains("no connection seen"));
        assert!(p.contains("No connection in scope."));
        assert!(p.contains("No server was reached below TLS 1.2."));
        assert!(p.contains("No client in scope."));
        assert!(p.contains("data-count=\"will-break\">0<"));
        assert_eq!(scripts(&p), 1);
        // Every service is listed, with zeros.
        for s in ["Exchange", "SharePoint", "Teams", "Common"] {
            assert!(p.contains(&format!("<th scope=\"row\">{s}</th>")), "{s}");
        }
    }

    #[test]
    fn one_client_page() {
        let p = page(&one_client());
        assert!(p.contains("data-count=\"will-break\">1<"));
        assert!(p.contains("1970-01-01 00:00:01 UTC – 1970-01-01 00:01:01 UTC (1m)"));
        assert!(p.contains("<span class=\"badge will-break\">will-break</span>"));
        assert!(p.contains("data-rows=\"1\""));
        assert!(p.contains("Exchange, TLS1.0: 3 connections"));
        assert!(p.contains("outlook.office365.com: 3 connections below TLS 1.2"));
        assert!(!p.contains("refresh"), "no reload unless live");
    }

    #[test]
    fn many_clients_truncated() {
        let mut d = one_client();
        let limit = crate::output::report_data::ROW_LIMIT;
        d.table.rows = (0..limit)
            .map(|i| {
                vec![
                    format!("10.1.{}.{}", i / 256, i % 256),
                    "Exchange".into(),
                    "ready".into(),
                ]
            })
            .collect();
        d.table.total_rows = 7000;
        d.table.rows_per_verdict = [0, 0, 7000];
        d.context.clients_csv = Some("clients.csv".into());
        let p = page(&d);
        assert_eq!(p.matches("<tr class=\"ready\"").count(), limit);
        assert!(p.contains("first 5,000 of 7,000 rows"));
        assert!(p.contains("<code>clients.csv</code>, has every row"));
        assert!(p.contains("data-rows-verdict=\"ready\">7,000<"));
    }

    #[test]
    fn hostile_text_is_escaped_everywhere() {
        let evil = "\"><script>alert(1)</script><img src=x onerror=alert(2)>";
        let mut d = one_client();
        d.context.sources = vec![evil.into()];
        d.context.endpoints = evil.into();
        d.top_below = vec![(evil.into(), 2)];
        d.table.rows[0][0] = evil.into();
        d.table
            .rows
            .push(vec![evil.into(), evil.into(), evil.into()]);
        d.services.push(ServiceRow {
            name: evil.into(),
            ..Default::default()
        });
        let p = page(&d);
        assert_eq!(scripts(&p), 1, "only the page's own script");
        assert!(!p.contains("<img"));
        assert!(p.contains(
            "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"
        ));
    }

    #[test]
    fn policy_allows_exactly_the_script() {
        let p = page(&data());
        let start = p.find("<script>").unwrap() + "<script>".len();
        let end = p[start..].find("</script>").unwrap() + start;
        let hash = base64::engine::general_purpose::STANDARD
            .encode(Sha256::digest(&p.as_bytes()[start..end]));
        assert!(p.contains(&format!("script-src 'sha256-{hash}'")));
        assert!(p.contains("default-src 'none'"));
        // Nothing is loaded from elsewhere.
        for bad in ["src=\"http", "href=\"http", "url(http", "@import"] {
            assert!(!p.contains(bad), "{bad}");
        }
    }

    #[test]
    fn live_page_reloads() {
        let mut d = data();
        d.context.refresh_secs = Some(600);
        let p = page(&d);
        assert!(p.contains("<meta http-equiv=\"refresh\" content=\"600\">"));
        assert!(p.contains("rewritten every 10m"));
    }
}
