//! The per-user data directory: stored endpoint updates and the
//! installation's ClientRequestId.
//!
//! The directory is `$TLSREADY_DATA_DIR` when set, otherwise the platform's
//! per-user data directory (`$XDG_DATA_HOME/tlsready`, else
//! `~/.local/share/tlsready` on Linux; `~/Library/Application Support/tlsready`
//! on macOS; `%APPDATA%\tlsready\data` on Windows). It holds:
//!
//! * `endpoints-<instance>.json`: the last update of an instance, a JSON
//!   object with `format` (1), `instance`, `version`, `fetched` (RFC 3339 UTC),
//!   `url` and `endpoints` (the web service's answer, byte for byte);
//! * `client-request-id`: a UUID made at the first update and sent with every
//!   request, as Microsoft asks of its callers.
//!
//! Files are written to a temporary file in the same directory and renamed
//! over the old one, so a reader sees the old file or the new one, whole.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::instance::{DataVersion, Instance};

/// The environment variable that overrides the data directory.
pub const DATA_DIR_ENV: &str = "TLSREADY_DATA_DIR";

/// Format number of the stored files.
const FORMAT: u32 = 1;

/// Name of the ClientRequestId file.
#[cfg(feature = "update")]
const CLIENT_ID_FILE: &str = "client-request-id";

/// Errors of the data directory.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No directory could be determined.
    #[error("no per-user data directory (no home directory); set {DATA_DIR_ENV}")]
    NoDirectory,
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A stored file is not what tlsready writes.
    #[error("{path}: not a stored endpoint update: {message}")]
    Corrupt {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// What is known of a stored update besides its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMeta {
    /// The instance the data is for.
    pub instance: Instance,
    /// Its web-service version.
    pub version: DataVersion,
    /// When it was fetched, RFC 3339 UTC.
    pub fetched: String,
    /// Where it was fetched from (without the query).
    pub url: String,
}

/// A stored update, read back.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Version, instance, fetch time, origin.
    pub meta: StoredMeta,
    /// The web service's JSON, as fetched.
    pub endpoints_json: String,
    /// The file it was read from.
    pub path: PathBuf,
}

/// The stored file, as written.
#[derive(Serialize)]
struct EnvelopeOut<'a> {
    format: u32,
    instance: &'a str,
    version: String,
    fetched: &'a str,
    url: &'a str,
    endpoints: &'a RawValue,
}

/// The stored file, as read (the data borrowed from the text).
#[derive(Deserialize)]
struct EnvelopeIn<'a> {
    format: u32,
    instance: String,
    version: String,
    fetched: String,
    #[serde(default)]
    url: String,
    #[serde(borrow)]
    endpoints: &'a RawValue,
}

/// Parses the text of a stored update (as written by [`DataDir::store`]);
/// `Err` says what is wrong. A text that does not start with `{` is not one.
pub fn parse_stored(text: &str) -> Result<(StoredMeta, &str), String> {
    if !text.trim_start().starts_with('{') {
        return Err("not a JSON object".into());
    }
    let env: EnvelopeIn<'_> = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if env.format != FORMAT {
        return Err(format!(
            "format {} (this tlsready reads {FORMAT})",
            env.format
        ));
    }
    let instance = Instance::from_service_name(&env.instance)
        .ok_or_else(|| format!("unknown instance {:?}", env.instance))?;
    let version = DataVersion::parse(&env.version)
        .ok_or_else(|| format!("version {:?} is not YYYYMMDDNN", env.version))?;
    Ok((
        StoredMeta {
            instance,
            version,
            fetched: env.fetched,
            url: env.url,
        },
        env.endpoints.get(),
    ))
}

/// The per-user data directory (it may not exist yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    path: PathBuf,
}

impl DataDir {
    /// `$TLSREADY_DATA_DIR` when set and not empty, else the platform's
    /// per-user data directory for tlsready.
    pub fn locate() -> Result<DataDir, StoreError> {
        if let Some(p) = std::env::var_os(DATA_DIR_ENV).filter(|p| !p.is_empty()) {
            return Ok(DataDir::at(PathBuf::from(p)));
        }
        directories::ProjectDirs::from("", "", "tlsready")
            .map(|d| DataDir::at(d.data_dir().to_path_buf()))
            .ok_or(StoreError::NoDirectory)
    }

    /// The directory at `path`.
    pub fn at(path: PathBuf) -> DataDir {
        DataDir { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored update of an instance (whether it exists or not).
    pub fn endpoints_path(&self, instance: Instance) -> PathBuf {
        self.path.join(format!("endpoints-{}.json", instance.key()))
    }

    /// The stored update of `instance`; `Ok(None)` when there is none.
    /// The data itself is not checked here (see [`super::select`]).
    pub fn read(&self, instance: Instance) -> Result<Option<Stored>, StoreError> {
        let path = self.endpoints_path(instance);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(&path)(e)),
        };
        let corrupt = |message: String| StoreError::Corrupt {
            path: path.display().to_string(),
            message,
        };
        let (meta, data) = parse_stored(&text).map_err(corrupt)?;
        if meta.instance != instance {
            return Err(corrupt(format!(
                "holds the data of {}, not {instance}",
                meta.instance
            )));
        }
        let endpoints_json = data.to_string();
        Ok(Some(Stored {
            meta,
            endpoints_json,
            path,
        }))
    }

    /// Modification time and length of an instance's stored update, to
    /// notice when it is replaced; `None` when there is none.
    pub fn stamp(&self, instance: Instance) -> Option<(SystemTime, u64)> {
        let m = std::fs::metadata(self.endpoints_path(instance)).ok()?;
        Some((m.modified().ok()?, m.len()))
    }

    /// Creates the directory if needed.
    fn create(&self) -> Result<(), StoreError> {
        std::fs::create_dir_all(&self.path).map_err(io_err(&self.path))
    }

    /// Writes `bytes` to `name` in the directory: a temporary file in the
    /// directory, synced, then renamed over the old file. With `replace`
    /// false an existing file is kept (and `Ok(false)` returned).
    fn write_atomic(&self, name: &str, bytes: &[u8], replace: bool) -> Result<bool, StoreError> {
        self.create()?;
        let path = self.path.join(name);
        let mut builder = tempfile::Builder::new();
        builder.prefix(".tlsready-").suffix(".tmp");
        // Readable by others (as the umask allows): a capture may run as
        // another user than the update.
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
        let mut tmp = builder
            .tempfile_in(&self.path)
            .map_err(io_err(&self.path))?;
        tmp.write_all(bytes).map_err(io_err(tmp.path()))?;
        tmp.as_file().sync_all().map_err(io_err(tmp.path()))?;
        if replace {
            tmp.persist(&path).map_err(|e| io_err(&path)(e.error))?;
        } else {
            match tmp.persist_noclobber(&path) {
                Ok(_) => {}
                Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
                Err(e) => return Err(io_err(&path)(e.error)),
            }
        }
        // The rename itself reaches the disk with the directory.
        if let Ok(d) = std::fs::File::open(&self.path) {
            let _ = d.sync_all();
        }
        Ok(true)
    }

    /// Stores an update: `endpoints_json` must be the validated answer of
    /// the web service. Returns the file written.
    pub fn store(&self, meta: &StoredMeta, endpoints_json: &str) -> Result<PathBuf, StoreError> {
        let path = self.endpoints_path(meta.instance);
        let corrupt = |message: String| StoreError::Corrupt {
            path: path.display().to_string(),
            message,
        };
        let raw: &RawValue = serde_json::from_str(endpoints_json)
            .map_err(|e| corrupt(format!("the data is not JSON: {e}")))?;
        let env = EnvelopeOut {
            format: FORMAT,
            instance: meta.instance.service_name(),
            version: meta.version.to_string(),
            fetched: &meta.fetched,
            url: &meta.url,
            endpoints: raw,
        };
        let mut text =
            serde_json::to_vec(&env).map_err(|e| corrupt(format!("cannot encode: {e}")))?;
        text.push(b'\n');
        let name = format!("endpoints-{}.json", meta.instance.key());
        self.write_atomic(&name, &text, true)?;
        Ok(path)
    }

    /// The installation's ClientRequestId: read from the directory, or made
    /// (a random UUID) and stored the first time. An unreadable id is
    /// replaced.
    #[cfg(feature = "update")]
    pub fn client_request_id(&self) -> Result<uuid::Uuid, StoreError> {
        let path = self.path.join(CLIENT_ID_FILE);
        for _ in 0..2 {
            match std::fs::read_to_string(&path) {
                Ok(t) => {
                    if let Ok(id) = uuid::Uuid::parse_str(t.trim()) {
                        return Ok(id);
                    }
                    let id = uuid::Uuid::new_v4();
                    self.write_atomic(CLIENT_ID_FILE, format!("{id}\n").as_bytes(), true)?;
                    return Ok(id);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let id = uuid::Uuid::new_v4();
                    // Another process may have made one meanwhile: then use
                    // that one (read on the next turn).
                    if self.write_atomic(CLIENT_ID_FILE, format!("{id}\n").as_bytes(), false)? {
                        return Ok(id);
                    }
                }
                Err(e) => return Err(io_err(&path)(e)),
            }
        }
        Err(StoreError::Corrupt {
            path: path.display().to_string(),
            message: "cannot be read back".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(v: &str) -> StoredMeta {
        StoredMeta {
            instance: Instance::UsGovDod,
            version: DataVersion::parse(v).unwrap(),
            fetched: "2026-12-01T10:00:00Z".into(),
            url: "https://endpoints.office.com/endpoints/USGovDoD".into(),
        }
    }

    #[test]
    fn store_and_read_back() {
        let t = tempfile::tempdir().unwrap();
        let dir = DataDir::at(t.path().join("sub/tlsready"));
        assert!(dir.read(Instance::UsGovDod).unwrap().is_none());
        assert!(dir.stamp(Instance::UsGovDod).is_none());
        let data = "[\r\n {\"id\": 1, \"serviceArea\": \"Exchange\"}\r\n]";
        let p = dir.store(&meta("2026112800"), data).unwrap();
        assert_eq!(p, dir.endpoints_path(Instance::UsGovDod));
        let s = dir.read(Instance::UsGovDod).unwrap().unwrap();
        assert_eq!(s.meta, meta("2026112800"));
        assert_eq!(s.endpoints_json, data, "kept byte for byte");
        assert!(dir.stamp(Instance::UsGovDod).is_some());
        // Only the stored file is left (no temporary files).
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["endpoints-usgovdod.json"]);
        // Another instance's file is not taken for this one.
        std::fs::copy(&p, dir.endpoints_path(Instance::China)).unwrap();
        let e = dir.read(Instance::China).unwrap_err().to_string();
        assert!(e.contains("holds the data of USGovDoD"), "{e}");
    }

    #[test]
    fn corrupt_files_are_reported() {
        let t = tempfile::tempdir().unwrap();
        let dir = DataDir::at(t.path().to_path_buf());
        let p = dir.endpoints_path(Instance::Worldwide);
        for (text, want) in [
            ("[]", "not a JSON object"),
            ("{\"format\":2}", "missing field"),
            (
                r#"{"format":2,"instance":"Worldwide","version":"2026112800","fetched":"","endpoints":[]}"#,
                "format 2",
            ),
            (
                r#"{"format":1,"instance":"Worldwide","version":"20261128","fetched":"","endpoints":[]}"#,
                "not YYYYMMDDNN",
            ),
        ] {
            std::fs::write(&p, text).unwrap();
            let e = dir.read(Instance::Worldwide).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    #[cfg(feature = "update")]
    fn client_request_id_is_stable() {
        let t = tempfile::tempdir().unwrap();
        let dir = DataDir::at(t.path().join("d"));
        let a = dir.client_request_id().unwrap();
        assert_eq!(a.get_version_num(), 4);
        assert_eq!(dir.client_request_id().unwrap(), a);
        let text = std::fs::read_to_string(t.path().join("d/client-request-id")).unwrap();
        assert_eq!(text, format!("{a}\n"));
        // A damaged file is replaced by a new id.
        std::fs::write(t.path().join("d/client-request-id"), "garbage").unwrap();
        let b = dir.client_request_id().unwrap();
        assert_ne!(a, b);
        assert_eq!(dir.client_request_id().unwrap(), b);
    }
}
