//! `tlsready endpoints update`: asks Microsoft's endpoints web service for
//! the latest version of an instance's data, downloads it only when it is
//! newer than the data tlsready uses, validates it as `--endpoints` files are
//! validated, and stores it atomically in the data directory.
//!
//! Requests: `GET {base}/version/{Instance}?ClientRequestId={uuid}`, then
//! (only when newer) `GET {base}/endpoints/{Instance}?ClientRequestId={uuid}`,
//! with the installation's ClientRequestId (see [`super::store`]). HTTP by
//! `ureq` over rustls, a global timeout per request, the proxy from the
//! environment ([`super::proxy`]). Any failure leaves the stored data as it
//! was.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Endpoints;
use super::instance::{DataVersion, Instance};
use super::proxy::{ProxySetting, proxy_from_env};
use super::select::{DataInfo, Origin};
use super::store::{DataDir, StoredMeta};

/// Microsoft's endpoints web service.
pub const DEFAULT_BASE: &str = "https://endpoints.office.com";

/// Default time allowed for each request, answer included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest answer read (the Worldwide list is about 100 KB).
const MAX_BODY: u64 = 32 << 20;

/// What `endpoints update` is asked to do.
#[derive(Debug, Clone)]
pub struct UpdateOptions {
    /// The instance.
    pub instance: Instance,
    /// Base URL of the web service (`https://`; `http://` only to a loopback
    /// address, for tests and local mirrors).
    pub base: String,
    /// PEM file of the certificate authorities to trust instead of the
    /// built-in (Mozilla) roots.
    pub ca_file: Option<PathBuf>,
    /// Time allowed for each request.
    pub timeout: Duration,
}

impl Default for UpdateOptions {
    fn default() -> Self {
        UpdateOptions {
            instance: Instance::Worldwide,
            base: DEFAULT_BASE.to_string(),
            ca_file: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// Why an update failed (the stored data is unchanged in every case).
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// Bad options: URL, CA file, proxy setting.
    #[error("{0}")]
    Setup(String),
    /// The data directory.
    #[error("{0}")]
    Store(#[from] super::store::StoreError),
    /// The request failed (network, timeout, TLS, HTTP status).
    #[error("{url}: {message}")]
    Request {
        /// The URL asked (without the query).
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The downloaded list fails the checks of `--endpoints` files (the
    /// message names the URL, line, column, endpoint set and field).
    #[error("{0}")]
    Invalid(String),
    /// The answer is not what the web service returns.
    #[error("{url}: {message}")]
    Answer {
        /// The URL asked (without the query).
        url: String,
        /// What is wrong.
        message: String,
    },
}

/// What an update did.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The data in use is as new as the service's (or newer).
    Current {
        /// The data tlsready uses for the instance.
        in_use: DataInfo,
        /// The service's latest version.
        latest: DataVersion,
    },
    /// A newer version was downloaded and stored.
    Updated {
        /// The data used before, if any.
        previous: Option<DataInfo>,
        /// The new data.
        now: DataInfo,
        /// Endpoint sets in it.
        sets: usize,
    },
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Current { in_use, latest } => write!(
                f,
                "already current: the {} endpoint data in use is {}; the service's latest is {latest}",
                in_use.instance.unwrap_or_default(),
                in_use.describe()
            ),
            Outcome::Updated {
                previous,
                now,
                sets,
            } => {
                let path = match &now.origin {
                    Origin::Stored(p) => p.display().to_string(),
                    _ => String::new(),
                };
                write!(
                    f,
                    "updated: the {} endpoint data is now version {} ({sets} endpoint sets, stored in {path}), was {}",
                    now.instance.unwrap_or_default(),
                    now.version.map(|v| v.to_string()).unwrap_or_default(),
                    previous
                        .as_ref()
                        .map_or_else(|| "none".to_string(), DataInfo::describe)
                )
            }
        }
    }
}

/// A checked base URL.
struct Base {
    /// Without a trailing `/`.
    url: String,
    https: bool,
    host: String,
}

fn check_base(base: &str) -> Result<Base, UpdateError> {
    let bad = |why: &str| UpdateError::Setup(format!("--url {base}: {why}"));
    let url = base.trim().trim_end_matches('/').to_string();
    let uri: ureq::http::Uri = url.parse().map_err(|_| bad("not a URL"))?;
    let https = match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("https") => true,
        Some(s) if s.eq_ignore_ascii_case("http") => false,
        _ => return Err(bad("the URL must start with https://")),
    };
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad("no host"))?
        .to_string();
    if uri.query().is_some() {
        return Err(bad("no query expected"));
    }
    if !https {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let loopback = bare.eq_ignore_ascii_case("localhost")
            || bare
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if !loopback {
            return Err(bad(
                "plain http is only for a loopback address (tests, local mirrors); use https://",
            ));
        }
    }
    Ok(Base { url, https, host })
}

/// The certificate authorities of a PEM file.
fn read_ca_file(path: &Path) -> Result<ureq::tls::RootCerts, UpdateError> {
    let err = |why: String| UpdateError::Setup(format!("--ca-file {}: {why}", path.display()));
    let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => return Err(err(e.to_string())),
        }
    }
    if certs.is_empty() {
        return Err(err("no PEM certificate in it".into()));
    }
    Ok(ureq::tls::RootCerts::new_with_certs(&certs))
}

/// An HTTP agent for `base`, with the proxy of the environment.
fn agent(
    base: &Base,
    opts: &UpdateOptions,
) -> Result<(ureq::Agent, Option<ProxySetting>), UpdateError> {
    let proxy_setting = proxy_from_env(if base.https { "https" } else { "http" }, &base.host);
    let proxy = match &proxy_setting {
        Some(p) => Some(ureq::Proxy::new(&p.url).map_err(|e| {
            UpdateError::Setup(format!(
                "{}={}: not a usable proxy URL: {e}",
                p.variable,
                p.shown()
            ))
        })?),
        None => None,
    };
    let roots = match &opts.ca_file {
        Some(p) => read_ca_file(p)?,
        None => ureq::tls::RootCerts::WebPki,
    };
    let tls = ureq::tls::TlsConfig::builder().root_certs(roots).build();
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(opts.timeout))
        .https_only(base.https)
        .http_status_as_error(true)
        .user_agent(format!("tlsready/{}", env!("CARGO_PKG_VERSION")))
        .proxy(proxy)
        .tls_config(tls)
        .build();
    Ok((ureq::Agent::new_with_config(config), proxy_setting))
}

/// One line saying why a request failed.
fn request_error(e: &ureq::Error, timeout: Duration) -> String {
    match e {
        ureq::Error::StatusCode(429) => {
            "HTTP status 429 (too many requests: the service limits downloads; try again later)"
                .to_string()
        }
        ureq::Error::StatusCode(code) => format!("HTTP status {code}"),
        ureq::Error::Timeout(_) => format!(
            "no complete answer within {} (timed out)",
            humantime::format_duration(timeout)
        ),
        ureq::Error::HostNotFound => "host not found (name resolution failed)".to_string(),
        ureq::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => "cannot connect: connection refused".into(),
            _ if io.to_string().contains("lookup address") => {
                format!("cannot resolve the host name (no network or DNS?): {io}")
            }
            // What rustls reports through the stream (certificate, handshake).
            std::io::ErrorKind::InvalidData => {
                let hint = if io.to_string().contains("UnknownIssuer") {
                    " (a private CA, such as a TLS-inspecting proxy's, is trusted with --ca-file)"
                } else {
                    ""
                };
                format!("TLS: {io}{hint}")
            }
            std::io::ErrorKind::TimedOut => format!(
                "no complete answer within {} (timed out)",
                humantime::format_duration(timeout)
            ),
            _ => format!("cannot connect: {io}"),
        },
        ureq::Error::Rustls(t) => format!("TLS: {t}"),
        ureq::Error::ConnectProxyFailed(m) => format!("the proxy refused: {m}"),
        ureq::Error::RequireHttpsOnly(m) => format!("refused to leave https: {m}"),
        ureq::Error::BodyExceedsLimit(_) => {
            format!("the answer is larger than {} MiB", MAX_BODY >> 20)
        }
        other => other.to_string(),
    }
}

/// GET `url`: the answer's text.
fn get(
    agent: &ureq::Agent,
    url: &str,
    query_id: &uuid::Uuid,
    proxy: Option<&ProxySetting>,
    timeout: Duration,
) -> Result<String, UpdateError> {
    let wrap = |e: ureq::Error| {
        let mut message = request_error(&e, timeout);
        if let Some(p) = proxy {
            message.push_str(&format!(
                " (through the proxy {} of {})",
                p.shown(),
                p.variable
            ));
        }
        UpdateError::Request {
            url: url.to_string(),
            message,
        }
    };
    let mut resp = agent
        .get(url)
        .query("ClientRequestId", query_id.to_string())
        .header("Accept", "application/json")
        .call()
        .map_err(wrap)?;
    let text = resp
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_string()
        .map_err(wrap)?;
    Ok(text
        .strip_prefix('\u{feff}')
        .map(str::to_string)
        .unwrap_or(text))
}

/// The latest version of `instance` in an answer of the version method:
/// `{"instance": "Worldwide", "latest": "2026073100"}` for one instance, or
/// an array of such objects.
pub fn latest_version(text: &str, instance: Instance) -> Result<DataVersion, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let entries: Vec<&serde_json::Value> = match &v {
        serde_json::Value::Array(a) => a.iter().collect(),
        o @ serde_json::Value::Object(_) => vec![o],
        _ => return Err("not a version answer (expected an object or an array)".into()),
    };
    let field = |e: &serde_json::Value, name: &str| -> Option<String> {
        e.as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str().map(str::to_string))
    };
    let entry = entries
        .iter()
        .find(|e| {
            field(e, "instance").is_some_and(|i| Instance::from_service_name(&i) == Some(instance))
        })
        .ok_or_else(|| format!("no version for the {instance} instance in the answer"))?;
    let latest = field(entry, "latest").ok_or("no \"latest\" version in the answer")?;
    DataVersion::parse(&latest)
        .ok_or_else(|| format!("the latest version {latest:?} is not YYYYMMDDNN"))
}

/// The data tlsready uses for `instance` without `--endpoints`: the stored
/// update or the built-in copy (Worldwide), whichever is newer. The stored
/// file is not parsed, only its version read; an unreadable one counts as
/// none (an update replaces it).
fn in_use(dir: &DataDir, instance: Instance) -> Option<DataInfo> {
    let built_in = (instance == Instance::Worldwide).then(DataInfo::built_in);
    let stored = dir.read(instance).ok().flatten().map(|s| DataInfo {
        origin: Origin::Stored(s.path),
        instance: Some(instance),
        version: Some(s.meta.version),
        fetched: Some(s.meta.fetched),
    });
    match (stored, built_in) {
        (Some(s), Some(b)) if s.version > b.version => Some(s),
        (_, Some(b)) => Some(b),
        (s, None) => s,
    }
}

/// Runs the update (see the module docs).
pub fn update(opts: &UpdateOptions, dir: &DataDir) -> Result<Outcome, UpdateError> {
    let base = check_base(&opts.base)?;
    let (agent, proxy) = agent(&base, opts)?;
    let id = dir.client_request_id()?;
    let previous = in_use(dir, opts.instance);
    let name = opts.instance.service_name();
    let version_url = format!("{}/version/{name}", base.url);
    let text = get(&agent, &version_url, &id, proxy.as_ref(), opts.timeout)?;
    let latest = latest_version(&text, opts.instance).map_err(|message| UpdateError::Answer {
        url: version_url.clone(),
        message,
    })?;
    if let Some(cur) = previous.as_ref().filter(|p| p.version >= Some(latest)) {
        return Ok(Outcome::Current {
            in_use: cur.clone(),
            latest,
        });
    }
    let data_url = format!("{}/endpoints/{name}", base.url);
    let data = get(&agent, &data_url, &id, proxy.as_ref(), opts.timeout)?;
    let endpoints =
        Endpoints::from_json(&data, &data_url).map_err(|e| UpdateError::Invalid(e.to_string()))?;
    // (An empty list is rejected there too.)
    let sets = endpoints.stats().sets;
    let fetched = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    let meta = StoredMeta {
        instance: opts.instance,
        version: latest,
        fetched: fetched.clone(),
        url: data_url.clone(),
    };
    let path = dir.store(&meta, &data)?;
    Ok(Outcome::Updated {
        previous,
        now: DataInfo {
            origin: Origin::Stored(path),
            instance: Some(opts.instance),
            version: Some(latest),
            fetched: Some(fetched),
        },
        sets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_answers() {
        let w = Instance::Worldwide;
        let v = |t: &str, i| latest_version(t, i);
        assert_eq!(
            v(r#"{"instance":"Worldwide","latest":"2026112800"}"#, w)
                .unwrap()
                .to_string(),
            "2026112800"
        );
        let all = r#"[{"instance":"Worldwide","latest":"2026112800"},
                      {"instance":"USGovDoD","latest":"2026103000"},
                      {"instance":"USGovGCCHigh","latest":"2026103001"},
                      {"instance":"China","latest":"2026093000"}]"#;
        assert_eq!(v(all, Instance::China).unwrap().to_string(), "2026093000");
        assert_eq!(
            v(all, Instance::UsGovGccHigh).unwrap().to_string(),
            "2026103001"
        );
        assert!(v("", w).unwrap_err().starts_with("not JSON"));
        assert!(v("\"x\"", w).unwrap_err().contains("not a version answer"));
        assert!(
            v(r#"{"instance":"China","latest":"2026093000"}"#, w)
                .unwrap_err()
                .contains("no version for the Worldwide instance")
        );
        assert!(
            v(r#"{"instance":"Worldwide"}"#, w)
                .unwrap_err()
                .contains("no \"latest\"")
        );
        assert!(
            v(r#"{"instance":"Worldwide","latest":"soon"}"#, w)
                .unwrap_err()
                .contains("not YYYYMMDDNN")
        );
    }

    #[test]
    fn base_urls() {
        let ok = |u: &str| check_base(u).map(|b| (b.url, b.https, b.host));
        assert_eq!(
            ok("https://endpoints.office.com/").unwrap(),
            (
                "https://endpoints.office.com".into(),
                true,
                "endpoints.office.com".into()
            )
        );
        assert!(ok("http://127.0.0.1:8080").is_ok());
        assert!(ok("http://[::1]:8080/mirror").is_ok());
        assert!(ok("http://localhost:8080").is_ok());
        for (bad, why) in [
            ("http://endpoints.office.com", "only for a loopback"),
            ("http://10.0.0.1", "only for a loopback"),
            ("ftp://x", "must start with https://"),
            ("endpoints.office.com", "must start with https://"),
            ("https://x/?a=b", "no query"),
        ] {
            let e = check_base(bad)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn ca_files() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("ca.pem");
        std::fs::write(&p, "not a certificate\n").unwrap();
        let e = read_ca_file(&p).err().unwrap().to_string();
        assert!(e.contains("no PEM certificate"), "{e}");
        let e = read_ca_file(&t.path().join("none.pem"))
            .err()
            .unwrap()
            .to_string();
        assert!(e.starts_with("--ca-file "), "{e}");
    }
}
