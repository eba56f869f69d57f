//! `tlsready capture` on a live interface, with real openssl handshakes.
//!
//! Needs root (packet capture, network namespaces), `ip` (iproute2) and
//! `openssl`; scripts/test.sh installs them. These tests fail, rather than
//! skip, when something is missing: a skipped live test would hide a broken
//! capture. The naming test also needs dnsmasq and BusyBox udhcpc (a real
//! DHCP server and client); without them it skips, saying why.
//!
//! The handshake tests build their own network: two namespaces joined by a
//! veth pair, the openssl server (and dnsmasq) in one, the client and
//! tlsready in the other, so nothing else on the machine is seen or
//! disturbed; everything they started (processes, namespaces, the client's
//! resolv.conf) is removed by [`Guard`] even when an assertion fails. The
//! other tests use loopback with a filter on a port of their own.

use crate::util::{bin, empty_data_dir, tlsready};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Longest wait for anything (process start, a row to appear, an exit).
const TIMEOUT: Duration = Duration::from_secs(30);
/// Server address and port inside the test network.
const CLIENT_IP: &str = "10.199.0.1";
const SERVER_IP: &str = "10.199.0.2";
const PORT: u16 = 4433;

/// Fails loudly without root, `ip` or `openssl`.
fn require_prerequisites() {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next())
        .expect("Uid line");
    assert_eq!(
        uid, "0",
        "live capture tests need root (CI runs them as root via scripts/test.sh)"
    );
    for (tool, arg) in [("openssl", "version"), ("ip", "-V")] {
        let ok = Command::new(tool)
            .arg(arg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "live capture tests need `{tool}` (scripts/test.sh installs it)"
        );
    }
}

/// Output of a child, collected by a thread as it comes.
#[derive(Clone, Default)]
struct Collected(Arc<Mutex<String>>);

impl Collected {
    fn drain(mut r: impl Read + Send + 'static) -> Collected {
        let c = Collected::default();
        let buf = Arc::clone(&c.0);
        thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = r.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                let s = String::from_utf8_lossy(chunk.get(..n).unwrap_or_default()).into_owned();
                buf.lock().expect("lock").push_str(&s);
            }
        });
        c
    }

    fn text(&self) -> String {
        self.0.lock().expect("lock").clone()
    }
}

/// A started process with its output collected.
struct Proc {
    child: Child,
    stdout: Collected,
    stderr: Collected,
}

/// Everything a test started: killed and removed on drop, pass or fail.
#[derive(Default)]
struct Guard {
    procs: Vec<Proc>,
    netns: Vec<String>,
    /// Directories made outside the test's own (`/etc/netns/NS`).
    dirs: Vec<PathBuf>,
}

impl Guard {
    /// Starts `cmd` with piped standard streams (standard input stays open
    /// until the process is killed). Returns its index.
    fn spawn(&mut self, cmd: &mut Command) -> usize {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let stdout = Collected::drain(child.stdout.take().expect("stdout"));
        let stderr = Collected::drain(child.stderr.take().expect("stderr"));
        self.procs.push(Proc {
            child,
            stdout,
            stderr,
        });
        self.procs.len() - 1
    }

    fn proc(&mut self, i: usize) -> &mut Proc {
        self.procs.get_mut(i).expect("process index")
    }

    /// Starts a `tlsready capture` command and waits for its "capturing
    /// on" line (failing if it reports an error first). Returns its index.
    fn start_capture(&mut self, cmd: &mut Command) -> usize {
        let i = self.spawn(cmd);
        wait_until("the \"capturing on\" line", || {
            let e = self.proc(i).stderr.text();
            assert!(!e.contains("error"), "capture failed to start: {e}");
            e.contains("capturing on")
        });
        i
    }

    /// Waits for the process to exit, killing it after `timeout`.
    fn wait(&mut self, i: usize, timeout: Duration) -> ExitStatus {
        let p = self.proc(i);
        let start = Instant::now();
        loop {
            if let Some(st) = p.child.try_wait().expect("try_wait") {
                // Let the drain threads take the last output.
                thread::sleep(Duration::from_millis(50));
                return st;
            }
            if start.elapsed() > timeout {
                let _ = p.child.kill();
                let _ = p.child.wait();
                panic!(
                    "process did not exit within {timeout:?}; stderr: {}",
                    p.stderr.text()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn running(&mut self, i: usize) -> bool {
        self.proc(i).child.try_wait().expect("try_wait").is_none()
    }

    fn signal(&mut self, i: usize, sig: &str) {
        let pid = self.proc(i).child.id();
        let st = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string())
            .status()
            .expect("run kill");
        assert!(st.success(), "kill -{sig} {pid} failed");
    }

    /// Runs `ip ARGS`, panicking on failure.
    fn ip(&mut self, args: &[&str]) {
        let out = Command::new("ip").args(args).output().expect("run ip");
        assert!(
            out.status.success(),
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn add_netns(&mut self, name: &str) {
        self.ip(&["netns", "add", name]);
        self.netns.push(name.to_string());
    }

    /// glibc's resolver in namespace `ns` asks `server` (`ip netns exec`
    /// bind-mounts /etc/netns/NS/resolv.conf over /etc/resolv.conf).
    fn resolver(&mut self, ns: &str, server: &str) {
        let dir = Path::new("/etc/netns").join(ns);
        std::fs::create_dir_all(&dir).expect("mkdir /etc/netns/NS");
        self.dirs.push(dir.clone());
        std::fs::write(dir.join("resolv.conf"), format!("nameserver {server}\n"))
            .expect("write resolv.conf");
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        for p in &mut self.procs {
            if matches!(p.child.try_wait(), Ok(None)) {
                let _ = p.child.kill();
            }
            let _ = p.child.wait();
        }
        // Deleting a namespace deletes the veth end inside it, and its peer.
        for ns in &self.netns {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
        for d in &self.dirs {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// Polls `f` until it holds, panicking with `what` after [`TIMEOUT`].
fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < TIMEOUT, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(50));
    }
}

/// Names unique to this process and test, short enough for interfaces.
fn unique(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "tr{}{}{tag}",
        std::process::id() % 100_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The test network: namespace `client` (veth `cv`, CLIENT_IP) and
/// namespace `server` (veth `sv`, SERVER_IP).
struct Net {
    client: String,
    server: String,
    client_if: String,
    server_if: String,
}

fn make_net(g: &mut Guard) -> Net {
    let base = unique("");
    let client = format!("{base}c");
    let server = format!("{base}s");
    let client_if = format!("{base}cv");
    let server_if = format!("{base}sv");
    g.add_netns(&client);
    g.add_netns(&server);
    g.ip(&[
        "link", "add", &client_if, "netns", &client, "type", "veth", "peer", "name", &server_if,
        "netns", &server,
    ]);
    for (ns, ifname, addr) in [
        (&client, &client_if, CLIENT_IP),
        (&server, &server_if, SERVER_IP),
    ] {
        g.ip(&[
            "-n",
            ns,
            "addr",
            "add",
            &format!("{addr}/30"),
            "dev",
            ifname,
        ]);
        g.ip(&["-n", ns, "link", "set", ifname, "up"]);
        g.ip(&["-n", ns, "link", "set", "lo", "up"]);
    }
    Net {
        client,
        server,
        client_if,
        server_if,
    }
}

fn in_netns(ns: &str, program: &str) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, program])
        .env("TLSREADY_DATA_DIR", empty_data_dir());
    c
}

/// `openssl s_server` in the server's namespace, listening, with a
/// certificate made in `dir`; it accepts TLS 1.0 too (SECLEVEL=0 re-enables
/// SHA-1 suites). It stops with `g`.
fn tls_server(g: &mut Guard, net: &Net, dir: &Path) {
    let (cert, key_pem) = make_cert(dir);
    let server = g.spawn(
        in_netns(&net.server, "openssl")
            .arg("s_server")
            .arg("-accept")
            .arg(format!("{SERVER_IP}:{PORT}"))
            .arg("-cert")
            .arg(&cert)
            .arg("-key")
            .arg(&key_pem)
            .args(["-cipher", "DEFAULT:@SECLEVEL=0", "-www"]),
    );
    wait_until("openssl s_server to listen", || {
        g.proc(server).stdout.text().contains("ACCEPT")
    });
}

fn make_cert(dir: &Path) -> (PathBuf, PathBuf) {
    let key = dir.join("key.pem");
    let cert = dir.join("cert.pem");
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .arg("ec_paramgen_curve:P-256")
        .arg("-nodes")
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args(["-subj", "/CN=live.test", "-days", "2"])
        .output()
        .expect("run openssl req");
    assert!(
        out.status.success(),
        "openssl req: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// One handshake with `openssl s_client` in the client namespace (an HTTP
/// GET to the `-www` server, then the server closes).
fn handshake(g: &mut Guard, net: &Net, version: &str, sni: &str) {
    s_client(g, net, version, &["-servername", sni]);
}

/// [`handshake`] with `sni` the s_client options on the server name
/// (`-servername NAME`, or `-noservername`).
fn s_client(g: &mut Guard, net: &Net, version: &str, sni: &[&str]) {
    let i = g.spawn(
        in_netns(&net.client, "openssl")
            .args(["s_client", "-connect", &format!("{SERVER_IP}:{PORT}")])
            .args(sni)
            .args([
                version,
                "-cipher",
                "DEFAULT:@SECLEVEL=0",
                "-nocommands",
                "-ign_eof",
            ]),
    );
    {
        let stdin = g.proc(i).child.stdin.as_mut().expect("stdin");
        stdin
            .write_all(b"GET / HTTP/1.0\r\n\r\n")
            .expect("write to s_client");
    }
    drop(g.proc(i).child.stdin.take());
    let st = g.wait(i, TIMEOUT);
    let p = g.proc(i);
    assert!(
        st.success(),
        "s_client {version} failed: {}\n{}",
        p.stderr.text(),
        p.stdout.text()
    );
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// CSV rows as maps from column name to cell; the file must be complete.
/// The rows `tlsready analyze` writes to `out` from a `-w` file.
fn analyze_rows(pcap: &Path, out: &Path) -> Vec<crate::util::Row> {
    let an = tlsready()
        .arg("analyze")
        .arg(pcap)
        .arg("--connections")
        .arg(out)
        .arg("--quiet")
        .output()
        .expect("run tlsready analyze");
    assert!(
        an.status.success(),
        "analyze -w file: {}",
        String::from_utf8_lossy(&an.stderr)
    );
    csv_rows(out)
}

fn csv_rows(path: &Path) -> Vec<crate::util::Row> {
    let text = read(path);
    assert!(
        text.ends_with('\n'),
        "{} does not end with a newline: {text:?}",
        path.display()
    );
    crate::util::rows_from(text.as_bytes(), b',')
}

/// The identity of a connection row, comparable between the live run and
/// `analyze` of the `-w` file.
fn key(r: &crate::util::Row) -> Vec<String> {
    [
        "ts",
        "client_ip",
        "client_port",
        "server_ip",
        "server_port",
        "sni",
        "client_max_version",
        "negotiated_version",
        "cipher",
        "status",
        "ja4",
        "ja3",
        "cert_names",
    ]
    .iter()
    .map(|c| {
        r.get(*c)
            .cloned()
            .unwrap_or_else(|| panic!("no column {c}"))
    })
    .collect()
}

/// The outputs a long capture writes at once: connections CSV, clients
/// CSV, JSON lines and the frames kept (`-w`), in one directory.
struct Outs {
    conns: PathBuf,
    clients: PathBuf,
    json: PathBuf,
    pcap: PathBuf,
}

impl Outs {
    fn in_dir(d: &Path) -> Self {
        Outs {
            conns: d.join("A.csv"),
            clients: d.join("B.csv"),
            json: d.join("C.jsonl"),
            pcap: d.join("D.pcap"),
        }
    }

    /// `cmd` writing them all.
    fn onto<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        cmd.arg("--connections")
            .arg(&self.conns)
            .arg("--clients")
            .arg(&self.clients)
            .arg("--json")
            .arg(&self.json)
            .arg("-w")
            .arg(&self.pcap)
    }
}

#[test]
fn live_handshakes_are_reported_while_running_and_saved() {
    require_prerequisites();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let mut g = Guard::default();
    let net = make_net(&mut g);
    tls_server(&mut g, &net, d);

    let out = Outs::in_dir(d);
    let (conns, clients, json, pcap) = (&out.conns, &out.clients, &out.json, &out.pcap);
    let cap = g.start_capture(
        out.onto(in_netns(&net.client, bin()).args([
            "capture",
            "-i",
            &net.client_if,
            "--scope",
            "all",
        ]))
        .arg(format!("tcp port {PORT}")),
    );

    // (a) Each row is on disk as soon as its handshake is over.
    handshake(&mut g, &net, "-tls1", "legacy.example");
    wait_until("the TLS 1.0 row in the connections CSV", || {
        read(conns).contains("legacy.example")
    });
    handshake(&mut g, &net, "-tls1_2", "modern.example");
    wait_until("the TLS 1.2 row in the connections CSV", || {
        read(conns).contains("modern.example")
    });
    assert!(
        g.running(cap),
        "capture stopped early: {}",
        g.proc(cap).stderr.text()
    );
    let json_live = read(json);
    assert_eq!(
        json_live.lines().count(),
        2,
        "JSON lines flushed: {json_live}"
    );

    // (b) SIGTERM: a clean stop.
    g.signal(cap, "TERM");
    let st = g.wait(cap, TIMEOUT);
    let (out, err) = (g.proc(cap).stdout.text(), g.proc(cap).stderr.text());
    assert_eq!(st.code(), Some(0), "exit status; stderr: {err}");

    // (c) Complete outputs.
    let rows = csv_rows(conns);
    assert_eq!(rows.len(), 2, "rows: {}", read(conns));
    let cell = |i: usize, c: &str| {
        rows.get(i)
            .and_then(|r| r.get(c))
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(
        (cell(0, "sni"), cell(0, "negotiated_version")),
        ("legacy.example".into(), "TLS1.0".into())
    );
    assert_eq!(
        (cell(1, "sni"), cell(1, "negotiated_version")),
        ("modern.example".into(), "TLS1.2".into())
    );
    for i in 0..2 {
        assert_eq!(cell(i, "status"), "established");
        assert_eq!(cell(i, "client_ip"), CLIENT_IP);
        assert_eq!(cell(i, "server_ip"), SERVER_IP);
        assert_eq!(cell(i, "server_port"), PORT.to_string());
        assert_eq!(cell(i, "cert_names"), "live.test");
    }
    let client_rows = csv_rows(clients);
    assert!(!client_rows.is_empty(), "clients CSV: {}", read(clients));
    let total = |col: &str| -> u64 {
        client_rows
            .iter()
            .filter_map(|r| r.get(col)?.parse::<u64>().ok())
            .sum()
    };
    assert_eq!(
        (total("tls10"), total("tls12")),
        (1, 1),
        "{}",
        read(clients)
    );
    for r in &client_rows {
        assert_eq!(r.get("client_ip").map(String::as_str), Some(CLIENT_IP));
        assert!(r.get("verdict").is_some_and(|v| !v.is_empty()), "{r:?}");
    }
    let json_text = read(json);
    assert!(json_text.ends_with('\n'), "JSON lines: {json_text:?}");
    let snis: Vec<String> = json_text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON line");
            v.get("sni")
                .and_then(|s| s.as_str())
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(snis, ["legacy.example", "modern.example"]);
    assert!(
        out.contains("2 TLS connections") && out.contains("negotiated:"),
        "summary on stdout: {out}"
    );
    let last = err.lines().last().unwrap_or_default();
    let received: u64 = last
        .strip_prefix("tlsready: ")
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("last stderr line: {last}"));
    assert!(
        last.contains("packets received by filter, 0 dropped by kernel") && last.contains("saved"),
        "last stderr line: {last}"
    );
    assert!(received >= 16, "packets received: {last}");

    // (d) The -w file holds the handshakes: analysing it gives the same rows.
    let again = d.join("E.csv");
    let replay = analyze_rows(pcap, &again);
    assert_eq!(
        replay.iter().map(key).collect::<Vec<_>>(),
        rows.iter().map(key).collect::<Vec<_>>()
    );
}

/// A loopback capture of the test's own port.
fn capture_lo(g: &mut Guard, port: u16, extra: &[&str]) -> usize {
    g.start_capture(
        tlsready()
            .args(["capture", "-i", "lo", "--quiet"])
            .args(extra)
            .arg(format!("tcp port {port}")),
    )
}

#[test]
fn duration_and_count_stop_the_capture() {
    require_prerequisites();
    let mut g = Guard::default();

    // --duration: stops by itself, status 0.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let start = Instant::now();
    let cap = capture_lo(&mut g, port, &["--duration", "2s"]);
    let st = g.wait(cap, TIMEOUT);
    let took = start.elapsed();
    let err = g.proc(cap).stderr.text();
    assert_eq!(st.code(), Some(0), "stderr: {err}");
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(15),
        "--duration 2s took {took:?}"
    );
    assert!(err.contains("packets received by filter"), "stderr: {err}");

    // --count 5: stops after 5 packets of a connection of our own (its
    // handshake alone is 3, the data and acknowledgements more).
    let cap = capture_lo(&mut g, port, &["--count", "5"]);
    let server = thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let mut buf = [0u8; 1024];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            if s.write_all(buf.get(..n).unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let mut buf = [0u8; 16];
    let deadline = Instant::now() + TIMEOUT;
    // Keep exchanging small messages until the capture has had its 5.
    while g.running(cap) {
        assert!(Instant::now() < deadline, "--count 5 did not stop");
        c.write_all(b"ping").expect("write");
        c.read_exact(&mut buf[..4]).expect("read");
        thread::sleep(Duration::from_millis(50));
    }
    drop(c);
    server.join().expect("server thread");
    let st = g.wait(cap, TIMEOUT);
    let err = g.proc(cap).stderr.text();
    assert_eq!(st.code(), Some(0), "stderr: {err}");
    let last = err.lines().last().unwrap_or_default();
    let received: u64 = last
        .strip_prefix("tlsready: ")
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("last stderr line: {last}"));
    // libpcap counts what reached the filter, possibly a few more than read.
    assert!(received >= 5, "last stderr line: {last}");
    // Loopback: libpcap's count is explained (each packet seen twice).
    assert!(
        last.contains("on loopback the kernel hands each packet over twice"),
        "last stderr line: {last}"
    );
}

#[test]
fn capture_errors_are_one_clear_line() {
    require_prerequisites();
    let run = |args: &[&str]| {
        let out = tlsready()
            .arg("capture")
            .args(args)
            .output()
            .expect("run tlsready");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let (code, err) = run(&["-i", "no-such-iface0"]);
    assert!(code.is_some_and(|c| c != 0), "exit {code:?}");
    assert_eq!(err.lines().count(), 1, "stderr: {err}");
    assert!(
        err.contains("no such interface: no-such-iface0"),
        "stderr: {err}"
    );

    let (code, err) = run(&["-i", "lo", "tcp", "port"]);
    assert!(code.is_some_and(|c| c != 0), "exit {code:?}");
    assert_eq!(err.lines().count(), 1, "stderr: {err}");
    assert!(
        err.contains("bad capture filter \"tcp port\""),
        "stderr: {err}"
    );
    assert!(!err.contains("panicked"), "stderr: {err}");
}

#[test]
fn live_html_report_is_rewritten_atomically_at_each_report() {
    use std::os::unix::fs::MetadataExt;
    require_prerequisites();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let mut g = Guard::default();
    let net = make_net(&mut g);
    tls_server(&mut g, &net, d);
    let pages = d.join("www");
    std::fs::create_dir(&pages).expect("mkdir");
    let page = pages.join("report.html");
    let cap = g.start_capture(
        in_netns(&net.client, bin())
            .args(["capture", "-i", &net.client_if, "--scope", "all", "--quiet"])
            .args(["--report-every", "1s", "--html"])
            .arg(&page)
            .arg(format!("tcp port {PORT}")),
    );

    // A reader (a browser, a web server) reads the page all the time: it
    // always finds a whole page, never a half-written one.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (stop, page) = (Arc::clone(&stop), page.clone());
        thread::spawn(move || {
            // Inodes are reused once freed: count changes, not distinct ones.
            let (mut reads, mut changes, mut inode) = (0u32, 0u32, None);
            while !stop.load(Ordering::Relaxed) {
                if let Ok(text) = std::fs::read_to_string(&page) {
                    assert!(
                        text.starts_with("<!DOCTYPE html>") && text.ends_with("</html>"),
                        "a partial page: {} bytes",
                        text.len()
                    );
                    reads += 1;
                }
                if let Ok(m) = std::fs::metadata(&page) {
                    if inode.is_some_and(|i| i != m.ino()) {
                        changes += 1;
                    }
                    inode = Some(m.ino());
                }
                thread::sleep(Duration::from_millis(2));
            }
            (reads, changes)
        })
    };

    handshake(&mut g, &net, "-tls1", "legacy.example");
    wait_until("the TLS 1.0 client in the live page", || {
        read(&page).contains("legacy.example")
    });
    let live = read(&page);
    // Reloads at the report interval, at most every 5 s.
    assert!(live.contains("<meta http-equiv=\"refresh\" content=\"5\">"));
    assert!(live.contains("Capture in progress"));
    assert!(live.contains("data-count=\"will-break\">1<"), "{live}");
    handshake(&mut g, &net, "-tls1_2", "modern.example");
    wait_until("the TLS 1.2 client in the live page", || {
        read(&page).contains("modern.example")
    });
    assert!(g.running(cap), "{}", g.proc(cap).stderr.text());
    g.signal(cap, "TERM");
    let st = g.wait(cap, TIMEOUT);
    assert_eq!(st.code(), Some(0), "{}", g.proc(cap).stderr.text());
    stop.store(true, Ordering::Relaxed);
    let (reads, changes) = reader.join().expect("reader");
    assert!(reads > 10, "{reads} reads");
    assert!(
        changes >= 2,
        "the page was replaced (renamed over) {changes} times"
    );

    // The final page: no reload, both clients, and no temporary file left.
    let last = read(&page);
    assert!(!last.contains("http-equiv=\"refresh\""));
    assert!(!last.contains("Capture in progress"));
    assert!(last.contains("legacy.example") && last.contains("modern.example"));
    assert!(last.contains(&format!("<code>{} (filter", net.client_if)));
    let names: Vec<String> = std::fs::read_dir(&pages)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["report.html"]);
    let mode = std::fs::metadata(&page).expect("page").mode() & 0o777;
    assert_eq!(mode, 0o644, "readable by a web server");
}

/// Every file of a directory, hidden ones included: (name, text).
fn dir_files(dir: &Path) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        read(&e.path()),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// `capture --rotate 2` (seconds: the same duration syntax as `1h`)
/// across several period boundaries, SIGKILLed once and restarted: every
/// file left parses, each handshake the test made is in exactly one closed
/// CSV file and one closed JSON-lines file (the killed run's open files
/// are completed at the restart), names carry the sensor and the period,
/// and `tally` over either directory gives the tally of the handshakes.
#[test]
fn rotated_files_survive_sigkill_and_restart() {
    require_prerequisites();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let mut g = Guard::default();
    let net = make_net(&mut g);
    tls_server(&mut g, &net, d);
    let (cdir, jdir) = (d.join("csv"), d.join("json"));
    std::fs::create_dir(&cdir).expect("mkdir");
    std::fs::create_dir(&jdir).expect("mkdir");
    let start = |g: &mut Guard| -> usize {
        g.start_capture(
            in_netns(&net.client, bin())
                .args(["capture", "-i", &net.client_if, "--scope", "all"])
                .args(["--rotate", "2", "--sensor", "edge-1"])
                .arg("--connections")
                .arg(&cdir)
                .arg("--json")
                .arg(&jdir)
                .arg(format!("tcp port {PORT}")),
        )
    };
    let mut made: Vec<(String, &str)> = Vec::new();
    let mut phase = |g: &mut Guard, range: std::ops::Range<usize>| {
        for i in range {
            let (flag, version) = if i % 3 == 0 {
                ("-tls1", "TLS1.0")
            } else {
                ("-tls1_2", "TLS1.2")
            };
            let sni = format!("c{i}.rot.test");
            handshake(g, &net, flag, &sni);
            wait_until("the row in both directories", || {
                [&cdir, &jdir]
                    .iter()
                    .all(|dir| dir_files(dir).iter().any(|(_, t)| t.contains(&sni)))
            });
            made.push((sni, version));
            thread::sleep(Duration::from_millis(450));
        }
    };
    let cap = start(&mut g);
    phase(&mut g, 0..6);
    g.signal(cap, "KILL");
    g.wait(cap, TIMEOUT);
    let left_open = dir_files(&cdir).iter().any(|(n, _)| n.starts_with('.'));
    eprintln!(
        "killed with a file open: {left_open}; files: {:?}",
        dir_files(&cdir).iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    let cap = start(&mut g);
    if left_open {
        let e = g.proc(cap).stderr.text();
        assert!(
            e.contains("from the rows a stopped capture left"),
            "the killed run's open file was not completed: {e}"
        );
    }
    phase(&mut g, 6..12);
    g.signal(cap, "TERM");
    let st = g.wait(cap, TIMEOUT);
    assert_eq!(st.code(), Some(0), "stderr: {}", g.proc(cap).stderr.text());

    let mut want: Vec<(String, String)> = made
        .iter()
        .map(|(s, v)| (s.clone(), v.to_string()))
        .collect();
    want.sort();
    let mut periods = std::collections::BTreeSet::new();
    for (dir, ext) in [(&cdir, "csv"), (&jdir, "jsonl")] {
        let files = dir_files(dir);
        let mut got = Vec::new();
        for (name, text) in &files {
            // Closed files only, named tlsready-SENSOR-PERIOD[-N].EXT.
            assert!(!name.starts_with('.'), "{name} was left open");
            let stem = name
                .strip_prefix("tlsready-edge-1-")
                .and_then(|n| n.strip_suffix(&format!(".{ext}")))
                .unwrap_or_else(|| panic!("unexpected file {name}"));
            let period = stem.split('-').next().unwrap_or_default();
            assert!(
                period.len() == 16 && period.ends_with('Z') && period.as_bytes()[8] == b'T',
                "{name}: no period in the name"
            );
            periods.insert(period.to_string());
            assert!(text.ends_with('\n'), "{name} is cut: {text:?}");
            if ext == "csv" {
                for r in crate::util::rows_from(text.as_bytes(), b',') {
                    got.push((r["sni"].clone(), r["negotiated_version"].clone()));
                }
            } else {
                for l in text.lines() {
                    let v: serde_json::Value =
                        serde_json::from_str(l).unwrap_or_else(|e| panic!("{name}: {e}: {l}"));
                    got.push((
                        v["sni"].as_str().unwrap_or_default().to_string(),
                        v["negotiated_version"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                    ));
                }
            }
        }
        got.sort();
        assert_eq!(got, want, "{ext}: rows lost or duplicated");
    }
    assert!(
        periods.len() >= 3,
        "only {} periods: {periods:?}",
        periods.len()
    );
    // `tally` over each directory: one row per server name, each with its
    // one connection; the client offered TLS 1.2 but ended below it in 4
    // of 12 handshakes (more than occasionally): at-risk.
    let mut tallies = Vec::new();
    for dir in [&cdir, &jdir] {
        let o = tlsready()
            .args(["tally", "--scope", "all", "--clients", "-", "-q"])
            .arg(dir)
            .output()
            .expect("run tally");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        tallies.push(o.stdout);
    }
    assert_eq!(tallies[0], tallies[1], "the CSV and JSON files differ");
    let rows = crate::util::rows_from(&tallies[0], b',');
    let mut got: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            assert_eq!(r["client_ip"], CLIENT_IP);
            assert_eq!(r["verdict"], "at-risk", "{r:?}");
            assert_eq!(r["connections"], "1");
            let v = if r["tls10"] == "1" {
                "TLS1.0"
            } else {
                assert_eq!(r["tls12"], "1", "{r:?}");
                "TLS1.2"
            };
            (r["server_name"].clone(), v.to_string())
        })
        .collect();
    got.sort();
    assert_eq!(got, want);
}

/// Whether `tool` is installed; if not, prints why the calling test skips.
fn installed(tool: &str, package: &str) -> bool {
    let found = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .any(|d| Path::new(d).join(tool).exists());
    if !found {
        eprintln!("skipped: `{tool}` is not installed (apt-get install {package})");
    }
    found
}

/// `capture` names its clients as it learns, from a real DHCP exchange
/// (dnsmasq and BusyBox udhcpc sending a host name and a Windows vendor
/// class) and a real DNS answer (glibc asking dnsmasq): a row written
/// before the exchange has only the MAC of the client's SYN and stays so
/// (rows are never rewritten), rows
/// after it carry the DHCP name and the client's MAC, a row without SNI
/// takes its server name from the DNS answer, and the reports (an interim
/// one, the clients CSV, the summary) name the client with everything
/// learned. The `-w` file keeps the name traffic: `analyze` of it names
/// every row.
#[test]
fn live_rows_and_reports_carry_names_learned_while_capturing() {
    require_prerequisites();
    if !installed("dnsmasq", "dnsmasq-base") || !installed("udhcpc", "udhcpc") {
        return;
    }
    const MAC: &str = "90:b1:1c:20:03:41"; // a Dell OUI
    const NAME: &str = "LIVE-PC-7";
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let mut g = Guard::default();
    let net = make_net(&mut g);
    g.ip(&[
        "-n",
        &net.client,
        "link",
        "set",
        &net.client_if,
        "address",
        MAC,
    ]);
    tls_server(&mut g, &net, d);
    // DHCP gives the client the address it has (the one address of the
    // range, without dnsmasq's ping check); DNS answers one name.
    let dns = g.spawn(
        in_netns(&net.server, "dnsmasq")
            .args([
                "--keep-in-foreground",
                "--log-facility=-",
                "--conf-file=/dev/null",
            ])
            .args([
                "--no-resolv",
                "--no-hosts",
                "--user=root",
                "--bind-interfaces",
            ])
            .arg(format!("--interface={}", net.server_if))
            .arg(format!("--pid-file={}", d.join("dnsmasq.pid").display()))
            .arg(format!(
                "--dhcp-leasefile={}",
                d.join("dnsmasq.leases").display()
            ))
            .arg(format!(
                "--dhcp-range={CLIENT_IP},{CLIENT_IP},255.255.255.252,1h"
            ))
            .args(["--no-ping", "--dhcp-authoritative", "--log-dhcp"])
            .arg(format!("--address=/nosni.live.test/{SERVER_IP}")),
    );
    wait_until("dnsmasq to serve DHCP", || {
        let e = g.proc(dns).stderr.text();
        assert!(g.running(dns), "dnsmasq stopped: {e}");
        e.contains("DHCP, IP range")
    });
    g.resolver(&net.client, SERVER_IP);

    let out = Outs::in_dir(d);
    let (conns, clients, json, pcap) = (&out.conns, &out.clients, &out.json, &out.pcap);
    let page = d.join("F.html");
    let cap = g.start_capture(
        out.onto(
            in_netns(&net.client, bin())
                .args(["capture", "-i", &net.client_if, "--scope", "all"])
                .args(["--report-every", "1s", "--html"])
                .arg(&page),
        )
        .arg(format!(
            "tcp port {PORT} or udp port 67 or udp port 68 or udp port 53"
        )),
    );

    // (a) Before anything names the client: its row has no name.
    handshake(&mut g, &net, "-tls1_2", "before.live.test");
    wait_until("the first row", || read(conns).contains("before.live.test"));

    // (b) A real DHCP exchange names it, a real DNS answer names the server.
    let dhcp = g.spawn(in_netns(&net.client, "udhcpc").args([
        "-i",
        &net.client_if,
        "-f",
        "-q",
        "-n",
        "-t",
        "5",
        "-T",
        "1",
        "-s",
        "/bin/true",
        "-x",
        &format!("hostname:{NAME}"),
        "-V",
        "MSFT 5.0",
    ]));
    let st = g.wait(dhcp, TIMEOUT);
    assert!(
        st.success(),
        "udhcpc: {}\ndnsmasq: {}",
        g.proc(dhcp).stderr.text(),
        g.proc(dns).stderr.text()
    );
    let lookup = g.spawn(in_netns(&net.client, "getent").args(["ahostsv4", "nosni.live.test"]));
    let st = g.wait(lookup, TIMEOUT);
    assert!(
        st.success() && g.proc(lookup).stdout.text().contains(SERVER_IP),
        "getent: {} {}",
        g.proc(lookup).stdout.text(),
        g.proc(lookup).stderr.text()
    );

    // (c) Rows written from now on carry the name; a TLS 1.0 client
    // without SNI gets its server name from the DNS answer.
    handshake(&mut g, &net, "-tls1_2", "after.live.test");
    s_client(&mut g, &net, "-tls1", &["-noservername"]);
    wait_until("three rows", || csv_rows_so_far(conns).len() == 3);
    // An interim report names the client that will break.
    // The interim reports name the client: the live page lists it by its
    // name, the terminal's counts what was learned.
    wait_until("the live page naming the client", || {
        read(&page).contains(NAME)
    });
    wait_until("an interim report's host names", || {
        g.proc(cap)
            .stdout
            .text()
            .contains("Host names: 1 learned (dhcp 1)")
    });
    assert!(g.running(cap), "{}", g.proc(cap).stderr.text());
    g.signal(cap, "TERM");
    let st = g.wait(cap, TIMEOUT);
    let (out, err) = (g.proc(cap).stdout.text(), g.proc(cap).stderr.text());
    assert_eq!(st.code(), Some(0), "stderr: {err}");

    let rows = csv_rows(conns);
    let who = |r: &crate::util::Row| {
        ["client_name", "client_name_source", "client_mac"].map(|c| r[c].clone())
    };
    let named = [NAME.to_string(), "dhcp".into(), MAC.into()];
    assert_eq!(rows.len(), 3, "{}", read(conns));
    assert_eq!(rows[0]["sni"], "before.live.test");
    // Before the exchange only its MAC is known (from its own SYN).
    assert_eq!(who(&rows[0]), ["", "", MAC], "named before the exchange");
    assert_eq!(rows[1]["sni"], "after.live.test");
    assert_eq!(who(&rows[1]), named);
    assert_eq!(
        (rows[2]["sni"].as_str(), rows[2]["dns_name"].as_str()),
        ("", "nosni.live.test")
    );
    assert_eq!(rows[2]["negotiated_version"], "TLS1.0");
    assert_eq!(who(&rows[2]), named);
    // The JSON lines say the same.
    let lines: Vec<serde_json::Value> = read(json)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].get("client_name").is_none(), "{}", lines[0]);
    assert_eq!(lines[0]["client_mac"], MAC);
    for v in &lines[1..] {
        assert_eq!(v["client_name"], NAME, "{v}");
        assert_eq!(v["client_name_source"], "dhcp");
        assert_eq!(v["client_mac"], MAC);
    }

    // The clients CSV names the client with all that was learned, its
    // earlier connection included.
    let client_rows = csv_rows(clients);
    assert_eq!(client_rows.len(), 3, "{}", read(clients));
    for r in &client_rows {
        assert_eq!(r["client_ip"], CLIENT_IP);
        assert_eq!(who(r), named, "{r:?}");
        assert!(r["client_vendor"].contains("Dell"), "{r:?}");
        assert!(r["client_os_hint"].contains("Windows"), "{r:?}");
        // Grouped by device (the default): its one address.
        assert_eq!(r["client_addresses"], CLIENT_IP);
    }
    assert!(
        out.lines()
            .any(|l| l.starts_with("Host names: ") && l.contains("dhcp 1")),
        "summary: {out}"
    );

    // (d) The -w file holds the name traffic too: `analyze` names every
    // row, the first one included (it names once the input is read).
    let again = d.join("E.csv");
    let replay = analyze_rows(pcap, &again);
    assert_eq!(replay.len(), 3, "{}", read(&again));
    for r in &replay {
        assert_eq!(who(r), named, "{r:?}");
    }
    assert_eq!(replay[2]["dns_name"], "nosni.live.test");
}

/// `capture --hosts --rotate`: the user's names, on loopback with a real
/// openssl handshake, name the row as it is written to the open rotated
/// file (and so in the closed one) and the clients CSV.
#[test]
fn live_rotated_rows_take_names_from_hosts_file() {
    require_prerequisites();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let mut g = Guard::default();
    let (cert, key_pem) = make_cert(d);
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let server = g.spawn(
        Command::new("openssl")
            .args(["s_server", "-accept", &format!("127.0.0.1:{port}")])
            .arg("-cert")
            .arg(&cert)
            .arg("-key")
            .arg(&key_pem)
            .arg("-www"),
    );
    wait_until("openssl s_server to listen", || {
        g.proc(server).stdout.text().contains("ACCEPT")
    });
    let hosts = d.join("hosts.csv");
    std::fs::write(&hosts, "ip,name\n127.0.0.1,=loop desk\n").expect("write hosts");
    let (cdir, clients) = (d.join("rows"), d.join("B.csv"));
    std::fs::create_dir(&cdir).expect("mkdir");
    let cap = capture_lo(
        &mut g,
        port,
        &[
            "--scope",
            "all",
            "--hosts",
            hosts.to_str().expect("path"),
            "--rotate",
            "1d",
            "--connections",
            cdir.to_str().expect("path"),
            "--clients",
            clients.to_str().expect("path"),
        ],
    );
    let c = g.spawn(Command::new("openssl").args([
        "s_client",
        "-connect",
        &format!("127.0.0.1:{port}"),
        "-servername",
        "hosts.live.test",
        "-ign_eof",
    ]));
    g.proc(c)
        .child
        .stdin
        .as_mut()
        .expect("stdin")
        .write_all(b"GET / HTTP/1.0\r\n\r\n")
        .expect("write to s_client");
    drop(g.proc(c).child.stdin.take());
    assert!(g.wait(c, TIMEOUT).success(), "{}", g.proc(c).stderr.text());
    let file = || -> (String, String) {
        dir_files(&cdir)
            .into_iter()
            .find(|(_, t)| t.contains("hosts.live.test"))
            .unwrap_or_default()
    };
    wait_until("the row", || !file().0.is_empty());
    // Named as written, in the open file, while the capture still runs.
    let (open_name, text) = file();
    assert!(open_name.starts_with('.'), "{open_name}");
    let whole = text.rfind('\n').map_or("", |i| &text[..=i]);
    let live = crate::util::rows_from(whole.as_bytes(), b',');
    assert_eq!(live.len(), 1);
    // Escaped like every name from outside (a leading `=`).
    assert_eq!(live[0]["client_name"], "'=loop desk");
    assert_eq!(live[0]["client_name_source"], "hosts");
    g.signal(cap, "TERM");
    let st = g.wait(cap, TIMEOUT);
    assert_eq!(st.code(), Some(0), "{}", g.proc(cap).stderr.text());
    // The closed file holds the row as it was written.
    let (closed, text) = file();
    assert!(!closed.starts_with('.'), "{closed}");
    assert_eq!(crate::util::rows_from(text.as_bytes(), b','), live);
    let client_rows = csv_rows(&clients);
    assert_eq!(client_rows.len(), 1, "{}", read(&clients));
    assert_eq!(client_rows[0]["client_name"], "'=loop desk");
    assert_eq!(client_rows[0]["client_name_source"], "hosts");
}

/// The complete rows of a CSV being written (a last line without its
/// newline is not read).
fn csv_rows_so_far(path: &Path) -> Vec<crate::util::Row> {
    let text = read(path);
    let whole = text.rfind('\n').map_or("", |i| &text[..=i]);
    crate::util::rows_from(whole.as_bytes(), b',')
}
