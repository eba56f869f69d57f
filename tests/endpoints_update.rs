//! `tlsready endpoints update` against web servers run by the test itself on
//! 127.0.0.1 (plain HTTP, HTTPS with a CA made by openssl, a CONNECT proxy),
//! serving Microsoft's real Worldwide list (`../shared/m365`) under edited
//! versions. Each test has its own data directory (`TLSREADY_DATA_DIR`), so
//! the real home is never touched.

use crate::util::{sample, shared, tlsready};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BUILT_IN: &str = "2026073100";
const NEWER: &str = "2026112800";
const SAMPLE_SNI: &str = "tls10.example.test";

/// A sample whose server (SNI `tls10.example.test`) is not Microsoft 365 in
/// the built-in data; the served data lists that name in endpoint set 1.
fn sample_path() -> String {
    sample("openssl-tls10.pcap").display().to_string()
}

/// Microsoft's snapshot with `SAMPLE_SNI` added to set 1 (Exchange), bytes
/// otherwise as published (CRLF line ends); `None` (and a printed reason)
/// when ../shared is absent.
fn served_list() -> Option<Vec<u8>> {
    let text = std::fs::read_to_string(shared("m365/endpoints-worldwide.json")?)
        .expect("read the Worldwide snapshot");
    let anchor = "\"outlook.cloud.microsoft\",";
    assert!(text.contains(anchor), "the snapshot changed");
    Some(
        text.replacen(anchor, &format!("\"{SAMPLE_SNI}\",\r\n      {anchor}"), 1)
            .into_bytes(),
    )
}

fn version_json(v: &str) -> Vec<u8> {
    format!("{{\"instance\":\"Worldwide\",\"latest\":\"{v}\"}}").into_bytes()
}

/// What the test server answers on a path.
#[derive(Clone)]
enum Reply {
    Json(Vec<u8>),
    Status(u16),
    /// Accepts and never answers.
    Stall,
}

type Routes = Arc<Mutex<Vec<(String, Reply)>>>;

/// A one-request-per-connection HTTP/1.1 server on 127.0.0.1, optionally
/// with TLS; records every request target.
struct Server {
    addr: SocketAddr,
    routes: Routes,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Server {
    fn start(routes: Vec<(&str, Reply)>, tls: Option<Arc<rustls::ServerConfig>>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let routes: Routes = Arc::new(Mutex::new(
            routes
                .into_iter()
                .map(|(p, r)| (p.to_string(), r))
                .collect(),
        ));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, q, s) = (routes.clone(), requests.clone(), stop.clone());
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(120);
            while !s.load(Ordering::Relaxed) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (r, q, s, tls) = (r.clone(), q.clone(), s.clone(), tls.clone());
                        std::thread::spawn(move || serve(stream, &r, &q, &s, tls));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Server {
            addr,
            routes,
            requests,
            stop,
        }
    }

    fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.addr)
    }

    fn set(&self, path: &str, reply: Reply) {
        let mut r = self.routes.lock().unwrap();
        r.retain(|(p, _)| p != path);
        r.push((path.to_string(), reply));
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(
    stream: TcpStream,
    routes: &Routes,
    requests: &Mutex<Vec<String>>,
    stop: &AtomicBool,
    tls: Option<Arc<rustls::ServerConfig>>,
) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    match tls {
        Some(cfg) => {
            let Ok(conn) = rustls::ServerConnection::new(cfg) else {
                return;
            };
            answer(
                rustls::StreamOwned::new(conn, stream),
                routes,
                requests,
                stop,
            );
        }
        None => answer(stream, routes, requests, stop),
    }
}

fn answer<S: Read + Write>(
    stream: S,
    routes: &Routes,
    requests: &Mutex<Vec<String>>,
    stop: &AtomicBool,
) {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let target = line.split_whitespace().nth(1).unwrap_or("").to_string();
    loop {
        let mut h = String::new();
        match reader.read_line(&mut h) {
            Ok(0) | Err(_) => return,
            Ok(_) if h == "\r\n" => break,
            Ok(_) => {}
        }
    }
    requests.lock().unwrap().push(target.clone());
    let path = target.split('?').next().unwrap_or("");
    let reply = routes
        .lock()
        .unwrap()
        .iter()
        .find(|(p, _)| p == path)
        .map(|(_, r)| r.clone())
        .unwrap_or(Reply::Status(404));
    let mut stream = reader.into_inner();
    let head = |status: &str, len: usize| {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
        )
    };
    match reply {
        Reply::Json(body) => {
            let _ = stream.write_all(head("200 OK", body.len()).as_bytes());
            let _ = stream.write_all(&body);
        }
        Reply::Status(code) => {
            let _ = stream.write_all(head(&format!("{code} Test"), 0).as_bytes());
        }
        Reply::Stall => {
            let until = Instant::now() + Duration::from_secs(30);
            while !stop.load(Ordering::Relaxed) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    let _ = stream.flush();
}

/// An HTTP CONNECT proxy on 127.0.0.1 that records the CONNECT targets and
/// relays the bytes.
struct Proxy {
    addr: SocketAddr,
    connects: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let connects = Arc::new(Mutex::new(Vec::new()));
        let seen = connects.clone();
        std::thread::spawn(move || {
            // Serves a bounded number of tunnels, then ends with the test.
            for stream in listener.incoming().take(8) {
                let Ok(client) = stream else { return };
                let seen = seen.clone();
                std::thread::spawn(move || tunnel(client, &seen));
            }
        });
        Proxy { addr, connects }
    }
}

fn tunnel(client: TcpStream, seen: &Mutex<Vec<String>>) {
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
    }
    seen.lock().unwrap().push(line.trim_end().to_string());
    let mut client = client;
    let target = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let Ok(upstream) = TcpStream::connect(&target) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
        return;
    };
    client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .unwrap();
    upstream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (mut up_r, mut up_w) = (upstream.try_clone().unwrap(), upstream);
    let mut client_w = client.try_clone().unwrap();
    let t = std::thread::spawn(move || {
        let _ = std::io::copy(&mut up_r, &mut client_w);
        let _ = client_w.shutdown(std::net::Shutdown::Write);
    });
    // Bytes the reader buffered past the head, then the rest.
    let buffered = reader.buffer().to_vec();
    let _ = up_w.write_all(&buffered);
    let _ = std::io::copy(&mut reader.into_inner(), &mut up_w);
    let _ = up_w.shutdown(std::net::Shutdown::Write);
    let _ = t.join();
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs tlsready with its data directory in `data`, without any proxy
/// setting of the test's environment, plus `env`.
fn run(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Out {
    let mut c = tlsready();
    c.args(args).env("TLSREADY_DATA_DIR", data);
    for v in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
        "no_proxy",
        "NO_PROXY",
    ] {
        c.env_remove(v);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    let out = Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    out
}

fn update(data: &Path, url: &str, extra: &[&str]) -> Out {
    let mut args = vec!["endpoints", "update", "--url", url];
    args.extend_from_slice(extra);
    run(data, &args, &[])
}

fn stored_path(data: &Path) -> PathBuf {
    data.join("endpoints-worldwide.json")
}

/// The one stderr line of a failed update, checked for its shape.
fn failure_line(o: &Out) -> &str {
    assert_eq!(o.code, 1, "stdout: {} stderr: {}", o.stdout, o.stderr);
    assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
    assert!(
        o.stderr.starts_with("tlsready: endpoints update failed: ")
            && o.stderr
                .trim_end()
                .ends_with("; the data in use is unchanged"),
        "{}",
        o.stderr
    );
    o.stderr.trim_end()
}

/// Connection rows of `analyze SAMPLE` as JSON objects, and the summary.
fn analyze_sample(data: &Path) -> (Vec<serde_json::Value>, String, String) {
    let d = tempfile::tempdir().unwrap();
    let json = d.path().join("rows.json");
    let o = run(
        data,
        &["analyze", &sample_path(), "--json", json.to_str().unwrap()],
        &[],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let rows = std::fs::read_to_string(&json)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (rows, o.stdout, o.stderr)
}

/// A data directory holding the update `NEWER` of the served list, made
/// through the command itself.
fn updated_dir(list: &[u8]) -> tempfile::TempDir {
    let data = tempfile::tempdir().unwrap();
    let srv = Server::start(
        vec![
            ("/version/Worldwide", Reply::Json(version_json(NEWER))),
            ("/endpoints/Worldwide", Reply::Json(list.to_vec())),
        ],
        None,
    );
    let o = update(data.path(), &srv.url("http"), &[]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    data
}

#[test]
fn unchanged_version_downloads_nothing() {
    let Some(list) = served_list() else { return };
    let data = tempfile::tempdir().unwrap();
    let srv = Server::start(
        vec![
            ("/version/Worldwide", Reply::Json(version_json(BUILT_IN))),
            ("/endpoints/Worldwide", Reply::Json(list)),
        ],
        None,
    );
    let o = update(data.path(), &srv.url("http"), &[]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(
        o.stdout,
        format!(
            "already current: the Worldwide endpoint data in use is built-in {BUILT_IN} (Worldwide); \
             the service's latest is {BUILT_IN}\n"
        )
    );
    // One request, to the version method, with the installation's id.
    let id = std::fs::read_to_string(data.path().join("client-request-id")).unwrap();
    let id = id.trim();
    assert_eq!(id.len(), 36, "{id}");
    assert_eq!(
        srv.requests(),
        [format!("/version/Worldwide?ClientRequestId={id}")]
    );
    assert!(!stored_path(data.path()).exists());
    // An older version on the service changes nothing either.
    srv.set(
        "/version/Worldwide",
        Reply::Json(version_json("2026010100")),
    );
    let o = update(data.path(), &srv.url("http"), &[]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.starts_with("already current"), "{}", o.stdout);
    assert!(
        srv.requests().iter().all(|r| r.starts_with("/version/")),
        "{:?}",
        srv.requests()
    );
    // The same id on every request.
    assert!(srv.requests().iter().all(|r| r.ends_with(id)));
}

#[test]
fn newer_version_is_downloaded_and_used_by_the_next_run() {
    let Some(list) = served_list() else { return };
    let data = tempfile::tempdir().unwrap();
    // Before: the built-in data, which does not know the sample's server.
    let (rows, summary, stderr) = analyze_sample(data.path());
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["m365"], "no");
    assert_eq!(rows[0]["m365_data"], format!("built-in:{BUILT_IN}"));
    assert!(
        summary.contains(&format!(
            "Microsoft 365 data: built-in {BUILT_IN} (Worldwide)\n"
        )),
        "{summary}"
    );
    // The built-in copy is months old by now: one warning line.
    assert!(
        stderr.starts_with("tlsready: warning: the Microsoft 365 endpoint data in use, built-in"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    let srv = Server::start(
        vec![
            ("/version/Worldwide", Reply::Json(version_json(NEWER))),
            ("/endpoints/Worldwide", Reply::Json(list.clone())),
        ],
        None,
    );
    let o = update(data.path(), &srv.url("http"), &[]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.starts_with(&format!(
            "updated: the Worldwide endpoint data is now version {NEWER} (63 endpoint sets, stored in {}), \
             was built-in {BUILT_IN} (Worldwide)",
            stored_path(data.path()).display()
        )),
        "{}",
        o.stdout
    );
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert!(reqs[0].starts_with("/version/Worldwide?ClientRequestId="));
    assert!(reqs[1].starts_with("/endpoints/Worldwide?ClientRequestId="));
    // Stored: version, instance, fetch time, and the answer byte for byte.
    let stored = std::fs::read_to_string(stored_path(data.path())).unwrap();
    let v: serde_json::Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(v["version"], NEWER);
    assert_eq!(v["instance"], "Worldwide");
    assert!(v["fetched"].as_str().unwrap().ends_with('Z'), "{v}");
    assert!(
        stored.contains(std::str::from_utf8(&list).unwrap()),
        "the data is kept as served"
    );
    // No temporary file left beside it.
    let mut names: Vec<String> = std::fs::read_dir(data.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["client-request-id", "endpoints-worldwide.json"]);

    // The next run uses it: the row, the summary, `endpoints`.
    let (rows, summary, stderr) = analyze_sample(data.path());
    assert_eq!(rows[0]["sni"], SAMPLE_SNI);
    assert_eq!(rows[0]["m365"], "yes");
    assert_eq!(rows[0]["m365_service"], "Exchange");
    assert_eq!(rows[0]["m365_endpoint_id"], 1);
    assert_eq!(rows[0]["m365_data"], format!("stored:{NEWER}"));
    assert!(
        summary.contains(&format!(
            "Microsoft 365 data: stored {NEWER} (Worldwide, fetched {})\n",
            v["fetched"].as_str().unwrap()
        )),
        "{summary}"
    );
    assert!(
        summary.contains("Microsoft 365: 1 client will break; per service: Exchange 1\n"),
        "{summary}"
    );
    assert_eq!(stderr, "", "a recent version is not warned about");
    let o = run(data.path(), &["endpoints"], &[]);
    assert!(
        o.stdout.starts_with(&format!(
            "Microsoft 365 endpoint data: stored {NEWER} (Worldwide"
        )),
        "{}",
        o.stdout
    );
    let o = run(data.path(), &["endpoints", "lookup", SAMPLE_SNI], &[]);
    assert!(
        o.stdout.contains(&format!("(data stored:{NEWER})"))
            && o.stdout.contains("endpoint set 1, service Exchange"),
        "{}",
        o.stdout
    );
    // An explicit --endpoints file still wins over the stored update.
    let (rows, ..) = {
        let d = tempfile::tempdir().unwrap();
        let json = d.path().join("rows.json");
        let o = run(
            data.path(),
            &[
                "analyze",
                &sample_path(),
                "-q",
                "--endpoints",
                "data/m365/endpoints-worldwide-merged.json",
                "--json",
                json.to_str().unwrap(),
            ],
            &[],
        );
        assert_eq!(o.code, 0, "{}", o.stderr);
        let rows: Vec<serde_json::Value> = std::fs::read_to_string(&json)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (rows, ())
    };
    assert_eq!(rows[0]["m365"], "no");
    assert_eq!(
        rows[0]["m365_data"],
        "file:data/m365/endpoints-worldwide-merged.json"
    );

    // Asking again: current, no second download.
    let o = update(data.path(), &srv.url("http"), &[]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.starts_with(&format!(
            "already current: the Worldwide endpoint data in use is stored {NEWER}"
        )),
        "{}",
        o.stdout
    );
    assert_eq!(srv.requests().len(), 3);
}

#[test]
fn malformed_answers_keep_the_old_data() {
    let Some(list) = served_list() else { return };
    let data = updated_dir(&list);
    let before = std::fs::read(stored_path(data.path())).unwrap();
    let srv = Server::start(
        vec![(
            "/version/Worldwide",
            Reply::Json(version_json("2026120100")),
        )],
        None,
    );
    let truncated = list[..list.len() / 2].to_vec();
    let cases: Vec<(&str, Reply, &str, &str)> = vec![
        (
            "/endpoints/Worldwide",
            Reply::Json(truncated),
            "/endpoints/Worldwide: invalid Microsoft 365 endpoint data at line",
            "truncated list",
        ),
        (
            "/endpoints/Worldwide",
            Reply::Json(br#"[{"id": "one", "serviceArea": "Exchange"}]"#.to_vec()),
            "invalid Microsoft 365 endpoint data at line 1, column",
            "a wrong field type",
        ),
        (
            "/endpoints/Worldwide",
            Reply::Json(b"[]".to_vec()),
            "/endpoints/Worldwide: invalid Microsoft 365 endpoint data at line 1, column 2: the array holds no endpoint sets",
            "an empty list",
        ),
        (
            "/endpoints/Worldwide",
            Reply::Json(b"<html>maintenance</html>".to_vec()),
            "invalid Microsoft 365 endpoint data at line 1, column 1",
            "not JSON",
        ),
        (
            "/endpoints/Worldwide",
            Reply::Status(500),
            "/endpoints/Worldwide: HTTP status 500",
            "a server error",
        ),
        (
            "/version/Worldwide",
            Reply::Json(b"{\"instance\":\"Worldwide\",".to_vec()),
            "/version/Worldwide: not JSON",
            "a truncated version answer",
        ),
        (
            "/version/Worldwide",
            Reply::Json(br#"{"instance":"Worldwide","latest":"tomorrow"}"#.to_vec()),
            "the latest version \"tomorrow\" is not YYYYMMDDNN",
            "a bad version",
        ),
        (
            "/version/Worldwide",
            Reply::Status(429),
            "HTTP status 429 (too many requests",
            "throttled",
        ),
    ];
    for (path, reply, want, what) in cases {
        if path == "/endpoints/Worldwide" {
            srv.set(
                "/version/Worldwide",
                Reply::Json(version_json("2026120100")),
            );
        }
        srv.set(path, reply);
        let o = update(data.path(), &srv.url("http"), &[]);
        let line = failure_line(&o);
        assert!(line.contains(want), "{what}: {line}");
        assert_eq!(
            std::fs::read(stored_path(data.path())).unwrap(),
            before,
            "{what}: the stored data is untouched"
        );
    }
    // The next run still uses the previous update.
    let (rows, summary, _) = analyze_sample(data.path());
    assert_eq!(rows[0]["m365_data"], format!("stored:{NEWER}"));
    assert!(summary.contains(&format!("Microsoft 365 data: stored {NEWER}")));
}

#[test]
fn server_down_keeps_the_old_data() {
    let Some(list) = served_list() else { return };
    let data = updated_dir(&list);
    let before = std::fs::read(stored_path(data.path())).unwrap();
    // A port nothing listens on.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let o = update(data.path(), &format!("http://127.0.0.1:{port}"), &[]);
    let line = failure_line(&o);
    assert!(
        line.contains(&format!(
            "http://127.0.0.1:{port}/version/Worldwide: cannot connect: connection refused"
        )),
        "{line}"
    );
    assert_eq!(std::fs::read(stored_path(data.path())).unwrap(), before);
    let (rows, ..) = analyze_sample(data.path());
    assert_eq!(rows[0]["m365_data"], format!("stored:{NEWER}"));
}

#[test]
fn slow_server_times_out() {
    let Some(list) = served_list() else { return };
    let data = updated_dir(&list);
    let before = std::fs::read(stored_path(data.path())).unwrap();
    // The version method never answers.
    let srv = Server::start(vec![("/version/Worldwide", Reply::Stall)], None);
    let t = Instant::now();
    let o = update(data.path(), &srv.url("http"), &["--timeout", "1s"]);
    let took = t.elapsed();
    let line = failure_line(&o);
    assert!(
        line.contains("/version/Worldwide: no complete answer within 1s (timed out)"),
        "{line}"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
    // A newer version is announced, then the download stalls.
    srv.set(
        "/version/Worldwide",
        Reply::Json(version_json("2026120100")),
    );
    srv.set("/endpoints/Worldwide", Reply::Stall);
    let o = update(data.path(), &srv.url("http"), &["--timeout", "1s"]);
    let line = failure_line(&o);
    assert!(
        line.contains("/endpoints/Worldwide: no complete answer within 1s (timed out)"),
        "{line}"
    );
    assert_eq!(std::fs::read(stored_path(data.path())).unwrap(), before);
}

#[test]
fn proxy_from_the_environment() {
    let Some(list) = served_list() else { return };
    let srv = Server::start(
        vec![
            ("/version/Worldwide", Reply::Json(version_json(NEWER))),
            ("/endpoints/Worldwide", Reply::Json(list)),
        ],
        None,
    );
    let proxy = Proxy::start();
    let proxy_url = format!("http://{}", proxy.addr);
    let args = ["endpoints", "update", "--url", &srv.url("http")];
    // http URLs go through http_proxy (as with curl).
    let data = tempfile::tempdir().unwrap();
    let o = run(data.path(), &args, &[("http_proxy", &proxy_url)]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.starts_with("updated:"), "{}", o.stdout);
    let connects = proxy.connects.lock().unwrap().clone();
    assert!(
        !connects.is_empty()
            && connects
                .iter()
                .all(|c| c == &format!("CONNECT {} HTTP/1.1", srv.addr)),
        "{connects:?}"
    );
    // NO_PROXY sends it direct: the proxy named here does not exist.
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://127.0.0.1:{}", l.local_addr().unwrap().port())
    };
    let data = tempfile::tempdir().unwrap();
    let o = run(
        data.path(),
        &args,
        &[
            ("http_proxy", &dead),
            ("NO_PROXY", "localhost, 127.0.0.0/8"),
        ],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    // Without it the dead proxy is used, and named in the error.
    let o = run(data.path(), &args, &[("http_proxy", &dead)]);
    let line = failure_line(&o);
    assert!(
        line.contains(&format!("(through the proxy {dead} of http_proxy)")),
        "{line}"
    );
}

/// A CA and a server certificate for 127.0.0.1, made with openssl in `dir`;
/// `None` (and a printed reason) without openssl.
fn make_certs(dir: &Path) -> Option<(PathBuf, PathBuf, PathBuf)> {
    let run = |args: &[&str]| {
        Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if !has_openssl() {
        return None;
    }
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend_from_slice(&ec);
    ca.extend_from_slice(&[
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=tlsready test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ]);
    let mut csr = vec!["req"];
    csr.extend_from_slice(&ec);
    csr.extend_from_slice(&[
        "-keyout",
        "srv.key",
        "-out",
        "srv.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    let sign = [
        "x509",
        "-req",
        "-in",
        "srv.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "srv.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ];
    assert!(run(&ca) && run(&csr) && run(&sign), "openssl failed");
    Some((dir.join("ca.pem"), dir.join("srv.pem"), dir.join("srv.key")))
}

fn tls_config(cert: &Path, key: &Path) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(&std::fs::read(cert).unwrap())
            .map(|c| c.unwrap())
            .collect();
    let key = PrivateKeyDer::from_pem_slice(&std::fs::read(key).unwrap()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
    )
}

#[test]
fn https_with_a_private_ca() {
    let Some(list) = served_list() else { return };
    let certs = tempfile::tempdir().unwrap();
    let Some((ca, cert, key)) = make_certs(certs.path()) else {
        return;
    };
    let srv = Server::start(
        vec![
            ("/version/Worldwide", Reply::Json(version_json(NEWER))),
            ("/endpoints/Worldwide", Reply::Json(list)),
        ],
        Some(tls_config(&cert, &key)),
    );
    let data = tempfile::tempdir().unwrap();
    // Not trusted by the built-in roots.
    let o = update(data.path(), &srv.url("https"), &[]);
    let line = failure_line(&o);
    assert!(
        line.contains("TLS: invalid peer certificate: UnknownIssuer (a private CA"),
        "{line}"
    );
    assert!(!stored_path(data.path()).exists());
    // Trusted with --ca-file, also through an HTTPS_PROXY tunnel.
    let proxy = Proxy::start();
    let o = run(
        data.path(),
        &[
            "endpoints",
            "update",
            "--url",
            &srv.url("https"),
            "--ca-file",
            ca.to_str().unwrap(),
        ],
        &[("HTTPS_PROXY", &format!("http://{}", proxy.addr))],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.starts_with("updated:"), "{}", o.stdout);
    assert_eq!(
        proxy.connects.lock().unwrap().first().cloned(),
        Some(format!("CONNECT {} HTTP/1.1", srv.addr))
    );
    let (rows, ..) = analyze_sample(data.path());
    assert_eq!(rows[0]["m365_data"], format!("stored:{NEWER}"));
}

#[test]
fn other_instances_need_their_own_data() {
    let data = tempfile::tempdir().unwrap();
    let o = run(
        data.path(),
        &["analyze", &sample_path(), "--instance", "usgovdod"],
        &[],
    );
    assert_eq!(o.code, 1);
    assert_eq!(
        o.stderr,
        "tlsready: no Microsoft 365 endpoint data for the USGovDoD instance (the built-in copy is \
         Worldwide): run `tlsready endpoints update --instance usgovdod`, or pass --endpoints FILE\n"
    );
    let Some(list) = served_list() else { return };
    let srv = Server::start(
        vec![
            (
                "/version/USGovDoD",
                Reply::Json(br#"[{"instance":"USGovDoD","latest":"2026112900"}]"#.to_vec()),
            ),
            ("/endpoints/USGovDoD", Reply::Json(list)),
        ],
        None,
    );
    let o = run(
        data.path(),
        &[
            "endpoints",
            "update",
            "--instance",
            "usgovdod",
            "--url",
            &srv.url("http"),
        ],
        &[],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.starts_with(
            "updated: the USGovDoD endpoint data is now version 2026112900 (63 endpoint sets"
        ) && o.stdout.trim_end().ends_with(", was none"),
        "{}",
        o.stdout
    );
    assert!(data.path().join("endpoints-usgovdod.json").exists());
    let o = run(
        data.path(),
        &["analyze", &sample_path(), "--instance", "usgovdod"],
        &[],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout
            .contains("Microsoft 365 data: stored 2026112900 (USGovDoD, fetched "),
        "{}",
        o.stdout
    );
    // Worldwide is unaffected.
    let (rows, ..) = analyze_sample(data.path());
    assert_eq!(rows[0]["m365_data"], format!("built-in:{BUILT_IN}"));
}

/// openssl is installed; `false` (and a printed reason) otherwise.
fn has_openssl() -> bool {
    let ok = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipping: openssl is not installed");
    }
    ok
}

/// Root, for packet capture; `false` (and a printed reason) otherwise.
fn can_capture() -> bool {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().next().map(str::to_string))
        });
    if uid.as_deref() != Some("0") {
        eprintln!("skipping: capturing on loopback needs root");
        return false;
    }
    true
}

/// A real ClientHello (openssl s_client, SNI `SAMPLE_SNI`) to a listener
/// on `port` that reads it and closes.
fn hello_to(listener: &TcpListener) {
    let port = listener.local_addr().unwrap().port();
    let client = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-servername", SAMPLE_SNI, "-tls1"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (mut s, _) = listener.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 512];
    let _ = s.read(&mut buf);
    drop(s);
    let mut client = client;
    let _ = client.wait();
}

/// Lines of a JSON-lines file once it has `n` of them.
fn wait_rows(path: &Path, n: usize) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let rows: Vec<serde_json::Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        if rows.len() >= n {
            return rows;
        }
        assert!(Instant::now() < deadline, "{n} rows expected in: {text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn capture_takes_up_an_update_without_restart() {
    let Some(list) = served_list() else { return };
    if !can_capture() {
        return;
    }
    if !has_openssl() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let json = out.path().join("live.json");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut cap = tlsready()
        .args(["capture", "-i", "lo", "--data-check-every", "1s", "--json"])
        .arg(&json)
        .arg(format!("tcp port {port}"))
        .env("TLSREADY_DATA_DIR", data.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = cap.id();
    // Stop it whatever happens below.
    struct Kill(u32);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = Command::new("kill")
                .args(["-KILL", &self.0.to_string()])
                .status();
        }
    }
    let _kill = Kill(pid);
    let err_lines = Arc::new(Mutex::new(String::new()));
    {
        let mut stderr = BufReader::new(cap.stderr.take().unwrap());
        let lines = err_lines.clone();
        std::thread::spawn(move || {
            let mut l = String::new();
            while stderr.read_line(&mut l).unwrap_or(0) > 0 {
                lines.lock().unwrap().push_str(&l);
                l.clear();
            }
        });
    }
    let wait_err = |what: &str| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !err_lines.lock().unwrap().contains(what) {
            assert!(
                Instant::now() < deadline,
                "{what:?} not in: {}",
                err_lines.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_err("capturing on lo");

    // Before the update: the built-in data.
    hello_to(&listener);
    let rows = wait_rows(&json, 1);
    assert_eq!(rows[0]["sni"], SAMPLE_SNI);
    assert_eq!(rows[0]["m365"], "no");
    assert_eq!(rows[0]["m365_data"], format!("built-in:{BUILT_IN}"));

    // `endpoints update` while the capture runs.
    let srv = Server::start(
        vec![
            ("/version/Worldwide", Reply::Json(version_json(NEWER))),
            ("/endpoints/Worldwide", Reply::Json(list)),
        ],
        None,
    );
    let o = update(data.path(), &srv.url("http"), &[]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    wait_err(&format!(
        "tlsready: Microsoft 365 endpoint data replaced: now stored {NEWER} (Worldwide, fetched "
    ));

    // After: the next connection is classified with the update.
    hello_to(&listener);
    let rows = wait_rows(&json, 2);
    assert_eq!(rows[1]["m365"], "yes");
    assert_eq!(rows[1]["m365_service"], "Exchange");
    assert_eq!(rows[1]["m365_data"], format!("stored:{NEWER}"));

    let st = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let o = cap.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", err_lines.lock().unwrap());
    let summary = String::from_utf8_lossy(&o.stdout);
    assert!(
        summary.contains(&format!(
            "Microsoft 365 data: stored {NEWER} (Worldwide, fetched "
        )),
        "{summary}"
    );
}
