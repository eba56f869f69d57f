//! The HTML report (`--html`) on the bundled samples: its numbers against
//! the clients CSV and the terminal report, hostile names from real
//! captures rendered as text, and the page in a real browser (headless
//! Chromium: no console error, the rendered table, a screenshot that is
//! not blank, print on A4).
//!
//! The browser tests need Debian's `chromium` (scripts/test.sh installs
//! it); without it they skip with a printed reason. The print check also
//! needs `pdftotext` (poppler-utils), installed by the same script.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::util::{sample, tlsready};

/// The bundled samples directory.
fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")
}

/// A run of `analyze` with `--html` and `--clients`.
struct Run {
    dir: tempfile::TempDir,
    page: String,
    header: Vec<String>,
    csv: Vec<Vec<String>>,
    stdout: String,
}

impl Run {
    fn page_path(&self) -> PathBuf {
        self.dir.path().join("report.html")
    }

    fn col(&self, name: &str) -> usize {
        self.header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    }
}

fn analyze(inputs: &[&Path], extra: &[&str]) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let (html, clients) = (dir.path().join("report.html"), dir.path().join("c.csv"));
    let out = tlsready()
        .arg("analyze")
        .args(inputs)
        .arg("--html")
        .arg(&html)
        .arg("--clients")
        .arg(&clients)
        .args(extra)
        .output()
        .expect("run tlsready");
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = std::fs::read_to_string(&html).expect("page");
    let mut r = csv::Reader::from_path(&clients).expect("clients CSV");
    let header = r
        .headers()
        .expect("header")
        .iter()
        .map(str::to_string)
        .collect();
    let csv = r
        .records()
        .map(|x| x.expect("row").iter().map(str::to_string).collect())
        .collect();
    Run {
        dir,
        page,
        header,
        csv,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
    }
}

/// Text of an HTML fragment: tags removed, entities decoded.
fn text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// The part of `s` from `start` (included) to the next `end` (excluded).
fn section<'a>(s: &'a str, start: &str, end: &str) -> &'a str {
    let a = s.find(start).unwrap_or_else(|| panic!("no {start}"));
    let b = s[a..].find(end).map_or(s.len(), |b| a + b);
    &s[a..b]
}

/// Cells of the elements `<tag ...>` in `html`, each with its opening
/// tag's attributes.
fn elements<'a>(html: &'a str, tag: &str) -> Vec<(&'a str, &'a str)> {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    html.match_indices(&open)
        .filter(|(i, _)| {
            html[i + open.len()..]
                .chars()
                .next()
                .is_some_and(|c| c == ' ' || c == '>')
        })
        .map(|(i, _)| {
            let rest = &html[i + open.len()..];
            let gt = rest.find('>').expect("tag end");
            let body = &rest[gt + 1..];
            let end = body.find(&close).unwrap_or(body.len());
            (&rest[..gt], &body[..end])
        })
        .collect()
}

/// The clients table: header and (row attributes, cells).
fn clients_table(page: &str) -> (Vec<String>, Vec<(String, Vec<String>)>) {
    let table = section(page, "id=\"clients-table\"", "</table>");
    let head = section(table, "<thead>", "</thead>");
    let header = elements(head, "th").iter().map(|(_, b)| text(b)).collect();
    let body = section(table, "<tbody>", "</tbody>");
    let rows = elements(body, "tr")
        .iter()
        .map(|(attrs, b)| {
            (
                attrs.to_string(),
                elements(b, "td").iter().map(|(_, c)| text(c)).collect(),
            )
        })
        .collect();
    (header, rows)
}

/// The number in `<... attr="value">N<`.
fn number_after(page: &str, attr: &str) -> u64 {
    let at = page.find(attr).unwrap_or_else(|| panic!("no {attr}"));
    let rest = &page[at..];
    let v = &rest[rest.find('>').expect(">") + 1..];
    text(&v[..v.find('<').expect("<")])
        .replace(',', "")
        .parse()
        .unwrap_or_else(|e| panic!("{attr}: {e}"))
}

/// The number before `what` on the summary line starting with `prefix`.
fn summary_number(stdout: &str, prefix: &str, what: &str) -> u64 {
    let line = stdout
        .lines()
        .find(|l| l.starts_with(prefix) && l.contains(what))
        .unwrap_or_else(|| panic!("no summary line {prefix}…{what}: {stdout}"));
    let before = &line[..line.find(what).expect("what")];
    before
        .split_whitespace()
        .last()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("line {line}"))
}

#[test]
fn samples_page_numbers_equal_the_clients_csv_and_the_summary() {
    let run = analyze(&[&samples_dir()], &[]);
    let page = &run.page;
    assert!(run.csv.len() > 5, "samples give several client rows");

    // The table is the clients CSV, cell for cell, in the same order.
    let (header, rows) = clients_table(page);
    assert_eq!(header, run.header);
    let cells: Vec<Vec<String>> = rows.iter().map(|r| r.1.clone()).collect();
    assert_eq!(cells, run.csv);
    assert!(
        !page.contains("class=\"note\" role=\"note\""),
        "no truncation"
    );

    // Headline: distinct clients (address and EHLO name) per verdict, in
    // total and per service, as the CSV has them and the summary says.
    let (ip, helo, svc, verdict) = (
        run.col("client_ip"),
        run.col("client_helo"),
        run.col("service"),
        run.col("verdict"),
    );
    let mut per_service: BTreeMap<(String, String), BTreeSet<(String, String)>> = BTreeMap::new();
    let mut total: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    let mut rows_per_verdict: BTreeMap<String, u64> = BTreeMap::new();
    for r in &run.csv {
        let client = (r[ip].clone(), r[helo].clone());
        per_service
            .entry((r[svc].clone(), r[verdict].clone()))
            .or_default()
            .insert(client.clone());
        total.entry(r[verdict].clone()).or_default().insert(client);
        *rows_per_verdict.entry(r[verdict].clone()).or_default() += 1;
    }
    for v in ["will-break", "at-risk", "ready"] {
        let want = total.get(v).map_or(0, |s| s.len() as u64);
        assert_eq!(
            number_after(page, &format!("data-count=\"{v}\"")),
            want,
            "{v}"
        );
        assert_eq!(
            number_after(page, &format!("data-rows-verdict=\"{v}\"")),
            rows_per_verdict.get(v).copied().unwrap_or(0),
            "{v} rows"
        );
    }
    let services = section(page, "<table class=\"services\">", "</table>");
    for (attrs, body) in elements(services, "tr").iter().skip(1) {
        let name = attrs
            .split("data-service=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("service row");
        let cells: Vec<u64> = elements(body, "td")
            .iter()
            .map(|(_, c)| text(c).replace(',', "").parse().expect("number"))
            .collect();
        for (i, v) in ["will-break", "at-risk", "ready"].iter().enumerate() {
            let want = per_service
                .get(&(name.to_string(), v.to_string()))
                .map_or(0, |s| s.len() as u64);
            assert_eq!(cells[i], want, "{name} {v}");
        }
        let conns: u64 = run
            .csv
            .iter()
            .filter(|r| r[svc] == name)
            .map(|r| r[run.col("connections")].parse::<u64>().expect("n"))
            .sum();
        assert_eq!(cells[3], conns, "{name} connections");
        // Below TLS 1.2: on the samples, every such connection in scope
        // negotiated (no hello-only fallback), so the CSV's columns give it.
        let below: u64 = run
            .csv
            .iter()
            .filter(|r| r[svc] == name)
            .flat_map(|r| ["ssl2", "ssl3", "tls10", "tls11"].map(|c| r[run.col(c)].clone()))
            .map(|n| n.parse::<u64>().expect("n"))
            .sum();
        assert_eq!(cells[4], below, "{name} below TLS 1.2");
    }
    // The terminal report's numbers.
    let scope = "Microsoft 365:";
    assert_eq!(
        number_after(page, "data-count=\"will-break\""),
        summary_number(&run.stdout, scope, "distinct clients will break")
    );
    assert_eq!(
        number_after(page, "data-count=\"at-risk\""),
        summary_number(&run.stdout, scope, "distinct clients at risk")
    );
    assert_eq!(
        number_after(page, "data-count=\"ready\""),
        summary_number(&run.stdout, scope, "distinct clients ready")
    );
    assert_eq!(
        number_after(page, "id=\"f-connections\""),
        summary_number(&run.stdout, "", "TLS connections")
    );
    assert_eq!(
        number_after(page, "id=\"f-below\""),
        summary_number(&run.stdout, "below TLS 1.2:", "connections")
    );

    // Charts: each service's bar segments are the CSV's version columns.
    for r in &run.csv {
        assert!(!r[svc].is_empty());
    }
    for (class, col) in [
        ("TLS1.0", "tls10"),
        ("TLS1.1", "tls11"),
        ("TLS1.2", "tls12"),
        ("TLS1.3", "tls13"),
    ] {
        for service in ["Exchange", "SharePoint", "Teams", "Common"] {
            let n: u64 = run
                .csv
                .iter()
                .filter(|r| r[svc] == service)
                .map(|r| r[run.col(col)].parse::<u64>().expect("n"))
                .sum();
            let title = format!("{service}, {class}: {n} connections");
            assert_eq!(page.contains(&title), n > 0, "{title}");
        }
    }
    // Server names below TLS 1.2: on the samples every such connection
    // negotiated (no hello-only fallback), so the CSV's columns give them.
    let mut below: BTreeMap<String, u64> = BTreeMap::new();
    for r in &run.csv {
        let n: u64 = ["ssl2", "ssl3", "tls10", "tls11"]
            .iter()
            .map(|c| r[run.col(c)].parse::<u64>().expect("n"))
            .sum();
        if n > 0 {
            *below.entry(r[run.col("server_name")].clone()).or_default() += n;
        }
    }
    assert!(!below.is_empty());
    for (name, n) in &below {
        let s = if *n == 1 { "" } else { "s" };
        let title = format!("{name}: {n} connection{s} below TLS 1.2");
        assert!(page.contains(&title), "{title}");
    }
    // Over time: the buckets add up to the CSV's connections.
    let time = section(page, "Connections per time bucket", "</table>");
    let (mut conns, mut low) = (0u64, 0u64);
    for (_, body) in elements(time, "tr").iter().skip(1) {
        let c: Vec<u64> = elements(body, "td")
            .iter()
            .skip(1)
            .map(|(_, x)| text(x).parse().expect("n"))
            .collect();
        conns += c[0];
        low += c[1];
    }
    let csv_conns: u64 = run
        .csv
        .iter()
        .map(|r| r[run.col("connections")].parse::<u64>().expect("n"))
        .sum();
    assert_eq!(conns, csv_conns);
    assert_eq!(low, below.values().sum::<u64>());

    // The header names the inputs and the endpoint data.
    assert!(page.contains(&format!("<code>{}</code>", samples_dir().display())));
    assert!(page.contains("Microsoft 365 endpoints, version 2026073100"));
    assert!(page.contains("2026-11-28"), "capture date");
}

/// A copy of a sample with every `from` replaced by `to` (same length, so
/// the records and the hello stay well formed).
fn edited_sample(dir: &Path, name: &str, from: &str, to: &str) -> PathBuf {
    assert_eq!(from.len(), to.len());
    let bytes = std::fs::read(sample(name)).expect("sample");
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let mut hits = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(from.as_bytes()) {
            out.extend_from_slice(to.as_bytes());
            i += from.len();
            hits += 1;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    assert!(hits > 0, "{from} not in {name}");
    let p = dir.join(name);
    std::fs::write(&p, out).expect("write");
    p
}

const EVIL_SNI: &str = "\"><svg onload=a()>";
const EVIL_EHLO: &str = "<script>alert(1)</scr>";

fn hostile_run() -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    // Real captures (openssl; Python's smtplib, see samples/README.md)
    // whose SNI and EHLO name are replaced by markup.
    let sni = edited_sample(
        dir.path(),
        "openssl-tls10.pcap",
        "tls10.example.test",
        EVIL_SNI,
    );
    let ehlo = edited_sample(
        dir.path(),
        "m365-legacy-smtp.pcap",
        "printer01.corp.example",
        EVIL_EHLO,
    );
    let run = analyze(&[&sni, &ehlo], &["--scope", "all"]);
    drop(dir);
    run
}

#[test]
fn hostile_names_from_the_network_are_text() {
    let run = hostile_run();
    let page = &run.page;
    // The names reached the outputs...
    let (sn, he) = (run.col("server_name"), run.col("client_helo"));
    assert!(run.csv.iter().any(|r| r[sn] == EVIL_SNI), "{:?}", run.csv);
    assert!(run.csv.iter().any(|r| r[he] == EVIL_EHLO), "{:?}", run.csv);
    // ...and are escaped in the page: no markup of theirs, only text.
    assert!(!page.contains("<svg onload"));
    assert!(!page.contains("<script>alert"));
    assert_eq!(
        page.matches("<script").count(),
        1,
        "the page's own script only"
    );
    assert!(page.contains("&quot;&gt;&lt;svg onload=a()&gt;"));
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/scr&gt;"));
    let (_, rows) = clients_table(page);
    let cells: Vec<Vec<String>> = rows.into_iter().map(|r| r.1).collect();
    assert_eq!(cells, run.csv);
}

// ---------------------------------------------------------------- browser

/// The Chromium binary, or `None` with the reason printed.
fn chromium() -> Option<PathBuf> {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        let found = Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {name}"))
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
        if let Some(p) = found.filter(|p| !p.is_empty()) {
            return Some(PathBuf::from(p));
        }
    }
    eprintln!(
        "SKIPPED: no chromium in PATH (scripts/test.sh installs Debian's chromium package); \
         the browser checks of the HTML report did not run"
    );
    None
}

/// Runs headless Chromium on `url` with `args`, console messages logged to
/// standard error; kills it after two minutes.
fn headless(chrome: &Path, profile: &Path, args: &[String], url: &str) -> Output {
    let mut child = Command::new(chrome)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    // Its output is read as it comes: a page's DOM larger than a pipe's
    // buffer would otherwise hold Chromium until it is killed.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut v);
            }
            v
        })
    };
    let out = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let err = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Output {
        status: child.wait().expect("chromium status"),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// Console messages (`console.*`, script errors, CSP violations) in
/// Chromium's log.
fn console_messages(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect()
}

fn file_url(p: &Path) -> String {
    format!("file://{}", p.canonicalize().expect("path").display())
}

/// The DOM after the page's script ran.
fn dump_dom(chrome: &Path, profile: &Path, url: &str) -> (String, Vec<String>) {
    let out = headless(chrome, profile, &["--dump-dom".into()], url);
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        console_messages(&out.stderr),
    )
}

#[test]
fn browser_logs_console_messages_we_can_see() {
    // The console check below is only worth something if a console
    // message does show in the log: a page that logs one must be caught.
    let Some(chrome) = chromium() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("bad.html");
    std::fs::write(
        &p,
        "<!DOCTYPE html><meta http-equiv=\"Content-Security-Policy\" content=\"script-src 'none'\">\
         <p>x</p><script>console.error('boom')</script><img src=x onerror=\"alert(1)\">",
    )
    .expect("write");
    let (_, console) = dump_dom(&chrome, &dir.path().join("profile"), &file_url(&p));
    assert!(
        console
            .iter()
            .any(|l| l.contains("Content Security Policy")),
        "a blocked script must show in the log: {console:?}"
    );
}

#[test]
fn browser_renders_the_samples_report() {
    let Some(chrome) = chromium() else { return };
    let run = analyze(&[&samples_dir()], &[]);
    let profile = run.dir.path().join("profile");
    let url = file_url(&run.page_path());

    // The page's script runs (its hash is allowed), logs nothing, and the
    // rendered table has the CSV's rows.
    let (dom, console) = dump_dom(&chrome, &profile, &url);
    assert!(console.is_empty(), "console: {console:?}");
    assert!(
        dom.contains("class=\" js\""),
        "the script ran: {}",
        &dom[..200]
    );
    let (header, rows) = clients_table(&dom);
    assert_eq!(header, run.header);
    assert_eq!(rows.len(), run.csv.len());
    let cells: Vec<Vec<String>> = rows.iter().map(|r| r.1.clone()).collect();
    assert_eq!(cells, run.csv);
    let n = run.csv.len();
    assert!(dom.contains(&format!("{n} of {n} rows shown")));
    assert!(!dom.contains("id=\"controls\" hidden"), "controls shown");

    // JavaScript off (the page without its one script: Chromium's
    // --dump-dom needs scripts on): the same table, static, no controls.
    let a = run.page.find("<script>").expect("script");
    let b = run.page.find("</script>").expect("script end") + "</script>".len();
    let static_page = run.dir.path().join("static.html");
    std::fs::write(
        &static_page,
        format!("{}{}", &run.page[..a], &run.page[b..]),
    )
    .expect("write");
    let (dom, console) = dump_dom(&chrome, &profile, &file_url(&static_page));
    assert!(console.is_empty(), "console: {console:?}");
    assert!(!dom.contains("class=\" js\""), "no script ran");
    assert!(dom.contains("id=\"controls\" hidden"));
    let (_, rows) = clients_table(&dom);
    assert_eq!(
        rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>(),
        run.csv
    );

    // A link's view: the clients that will break, most connections first.
    let (dom, console) = dump_dom(
        &chrome,
        &profile,
        &format!("{url}#verdict=will-break&sort=connections&order=desc"),
    );
    assert!(console.is_empty(), "console: {console:?}");
    let (_, rows) = clients_table(&dom);
    let shown: Vec<&Vec<String>> = rows
        .iter()
        .filter(|(attrs, _)| !attrs.contains("hidden"))
        .map(|r| &r.1)
        .collect();
    let (v, c) = (run.col("verdict"), run.col("connections"));
    let want = run.csv.iter().filter(|r| r[v] == "will-break").count();
    assert!(want > 0);
    assert_eq!(shown.len(), want);
    assert!(shown.iter().all(|r| r[v] == "will-break"));
    let conns: Vec<u64> = shown.iter().map(|r| r[c].parse().expect("n")).collect();
    assert!(conns.windows(2).all(|w| w[0] >= w[1]), "{conns:?}");
    assert!(dom.contains(&format!("{want} of {n} rows shown")));

    // The rows without a Microsoft 365 service: `(none)` in the menu, `-`
    // in a link (the empty value is "all").
    let all = analyze(&[&samples_dir()], &["--scope", "all"]);
    let all_url = file_url(&all.page_path());
    let (dom, console) = dump_dom(
        &chrome,
        &all.dir.path().join("profile"),
        &format!("{all_url}#service=-"),
    );
    assert!(console.is_empty(), "console: {console:?}");
    let (_, rows) = clients_table(&dom);
    let shown = rows.iter().filter(|(attrs, _)| !attrs.contains("hidden"));
    let s = all.col("service");
    let want = all.csv.iter().filter(|r| r[s].is_empty()).count();
    let n = all.csv.len();
    assert!(want > 0 && want < n, "{want} of {n} rows without a service");
    assert!(shown.clone().all(|r| r.1[s].is_empty()));
    assert_eq!(shown.count(), want);

    // A screenshot that shows something: many colours, much ink.
    let shot = run.dir.path().join("shot.png");
    let out = headless(
        &chrome,
        &profile,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,2400".into(),
        ],
        &url,
    );
    assert!(console_messages(&out.stderr).is_empty());
    let (colours, ink) = png_stats(&shot);
    assert!(colours > 100, "{colours} colours");
    assert!(ink > 0.05, "{ink} of the pixels are not background");
}

/// Distinct colours, and the share of pixels unlike the top-left one.
fn png_stats(p: &Path) -> (usize, f64) {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(p).expect("screenshot"),
    ));
    let mut reader = decoder.read_info().expect("PNG header");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("PNG frame");
    let px = info.color_type.samples();
    let data = &buf[..info.buffer_size()];
    let bg = &data[..px];
    let mut colours = BTreeSet::new();
    let mut ink = 0usize;
    for p in data.chunks(px) {
        colours.insert(p.to_vec());
        ink += usize::from(p != bg);
    }
    (colours.len(), ink as f64 / (data.len() / px) as f64)
}

#[test]
fn browser_shows_hostile_names_as_text() {
    let Some(chrome) = chromium() else { return };
    let run = hostile_run();
    let (dom, console) = dump_dom(
        &chrome,
        &run.dir.path().join("profile"),
        &file_url(&run.page_path()),
    );
    // Injected markup would run (and be blocked, logged) or appear as
    // elements; it does neither.
    assert!(console.is_empty(), "console: {console:?}");
    assert!(!dom.contains("<svg onload"));
    assert!(!dom.contains("<script>alert"));
    assert!(dom.contains("&lt;script&gt;alert(1)&lt;/scr&gt;"));
    let (_, rows) = clients_table(&dom);
    let cells: Vec<Vec<String>> = rows.into_iter().map(|r| r.1).collect();
    assert_eq!(cells, run.csv);
}

#[test]
fn browser_prints_on_a4_without_cutting_the_table() {
    let Some(chrome) = chromium() else { return };
    let has_pdftotext = Command::new("pdftotext")
        .arg("-v")
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !has_pdftotext {
        eprintln!("SKIPPED: no pdftotext (poppler-utils; scripts/test.sh installs it)");
        return;
    }
    let run = analyze(&[&samples_dir()], &[]);
    let pdf = run.dir.path().join("report.pdf");
    let out = headless(
        &chrome,
        &run.dir.path().join("profile"),
        &[
            format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer".into(),
        ],
        &file_url(&run.page_path()),
    );
    assert!(pdf.exists(), "{}", String::from_utf8_lossy(&out.stderr));
    // Word boxes of every page.
    let bbox = run.dir.path().join("bbox.html");
    let st = Command::new("pdftotext")
        .arg("-bbox")
        .arg(&pdf)
        .arg(&bbox)
        .status()
        .expect("pdftotext");
    assert!(st.success());
    let boxes = std::fs::read_to_string(&bbox).expect("bbox");
    let attr = |tag: &str, name: &str| -> f64 {
        let v = tag.split(&format!("{name}=\"")).nth(1).expect(name);
        v[..v.find('"').expect("quote")].parse().expect("number")
    };
    let pages = elements(&boxes, "page");
    assert!(!pages.is_empty());
    let mut words = Vec::new();
    let ips: BTreeSet<String> = run
        .csv
        .iter()
        .map(|r| r[run.col("client_ip")].clone())
        .collect();
    for (attrs, body) in &pages {
        // A4 landscape, in points.
        let (w, h) = (attr(attrs, "width"), attr(attrs, "height"));
        assert!(
            (w - 841.9).abs() < 1.0 && (h - 595.0).abs() < 1.0,
            "{w}x{h}"
        );
        for (wa, word) in elements(body, "word") {
            assert!(
                attr(wa, "xMax") <= w + 0.5 && attr(wa, "xMin") >= -0.5,
                "word {word} beyond the page edge ({wa})"
            );
            words.push(text(word));
        }
        // A page of the table repeats its header (with the last column).
        let page_words: Vec<String> = elements(body, "word")
            .iter()
            .map(|(_, w)| text(w))
            .collect();
        if page_words.iter().any(|w| ips.contains(w)) {
            assert!(
                page_words.iter().any(|w| w.contains("match")),
                "a page of the table without its header: {page_words:?}"
            );
        }
    }
    let all = words.join(" ");
    // The table's last column is printed: its header, and a value only it
    // holds (`banner`, how Microsoft 365 was recognised).
    assert!(all.contains("match"), "last header printed");
    assert!(all.contains("banner"), "last column printed: {all}");
    // Every client address is printed.
    for r in &run.csv {
        let ip = &r[run.col("client_ip")];
        assert!(all.replace(' ', "").contains(ip.as_str()), "{ip}");
    }
}

#[test]
fn unwritable_page_is_one_clear_line_before_the_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clients = dir.path().join("c.csv");
    // `-` is a command-line error (status 2, clap's usage lines follow).
    for (page, want, code) in [
        ("-".to_string(), "--html needs a file name".to_string(), 2),
        (
            dir.path().join("no/such/r.html").display().to_string(),
            format!(
                "{}: cannot write:",
                dir.path().join("no/such/r.html").display()
            ),
            1,
        ),
    ] {
        let out = tlsready()
            .arg("analyze")
            .arg(sample("openssl-tls10.pcap"))
            .args(["--html", &page])
            .arg("--clients")
            .arg(&clients)
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{err}");
        assert_eq!(
            err.lines().next(),
            err.lines().find(|l| l.contains(&want)),
            "{err}"
        );
        if code == 1 {
            assert_eq!(err.lines().count(), 1, "{err}");
        }
        assert!(out.stdout.is_empty(), "stopped before the run");
        assert!(!clients.exists(), "no output file made");
    }
}
