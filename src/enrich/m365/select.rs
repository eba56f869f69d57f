//! Which Microsoft 365 endpoint data a run uses.
//!
//! * An explicit `--endpoints FILE` always wins, whatever its age: the user
//!   asked for it. The file is the web service's JSON, or a stored update
//!   (the file `tlsready endpoints update` writes, whose version is then known).
//! * Otherwise the newest of the stored update for the chosen instance and
//!   the built-in copy (Worldwide only), by version; on a tie the built-in.
//!   A stored update that cannot be read is passed over with a warning.
//! * An instance with neither (USGovDoD, USGovGCCHigh, China before their
//!   first update) is an error: the Worldwide data would misname them.
//!
//! [`DataInfo`] says which data was chosen: its label goes into every JSON
//! row (`m365_data`), its description into the summary and `tlsready
//! endpoints`; [`DataInfo::age_warning`] warns when the version is more than
//! [`MAX_AGE_DAYS`] old. [`Watch`] lets a long capture take up a newer
//! stored update without a restart.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use super::instance::{DataVersion, Instance};
use super::store::{DataDir, parse_stored};
use super::{EMBEDDED_VERSION, Endpoints, EndpointsError};

/// Data older than this many days (by its version's date) is warned about.
pub const MAX_AGE_DAYS: i64 = 60;

/// How often a capture looks whether the stored update was replaced.
pub const WATCH_EVERY: Duration = Duration::from_secs(10);

/// Where the data comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `--endpoints FILE`.
    File(PathBuf),
    /// The stored update, at this path.
    Stored(PathBuf),
    /// The copy built into the binary.
    BuiltIn,
}

/// Which data a run uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataInfo {
    /// Where it comes from.
    pub origin: Origin,
    /// Its instance, when known (not for a plain file).
    pub instance: Option<Instance>,
    /// Its web-service version, when known (not for a plain file).
    pub version: Option<DataVersion>,
    /// When it was fetched (stored updates), RFC 3339 UTC.
    pub fetched: Option<String>,
}

impl DataInfo {
    /// The built-in copy's description.
    pub fn built_in() -> DataInfo {
        DataInfo {
            origin: Origin::BuiltIn,
            instance: Some(Instance::Worldwide),
            version: DataVersion::parse(EMBEDDED_VERSION),
            fetched: None,
        }
    }

    /// The short name of the data, in the JSON rows (`m365_data`):
    /// `built-in:2026073100`, `stored:2026112800` or `file:PATH`.
    pub fn label(&self) -> String {
        let v = self.version.map(|v| v.to_string()).unwrap_or_default();
        match &self.origin {
            Origin::File(p) => format!("file:{}", p.display()),
            Origin::Stored(_) => format!("stored:{v}"),
            Origin::BuiltIn => format!("built-in:{v}"),
        }
    }

    /// A description for people: `built-in 2026073100 (Worldwide)`,
    /// `stored 2026112800 (USGovDoD, fetched 2026-12-01T10:00:00Z)`,
    /// `file /path/x.json`.
    pub fn describe(&self) -> String {
        let mut s = match &self.origin {
            Origin::File(p) => format!("file {}", p.display()),
            Origin::Stored(_) => "stored".to_string(),
            Origin::BuiltIn => "built-in".to_string(),
        };
        if let Some(v) = self.version {
            s.push_str(&format!(
                "{}{v}",
                if matches!(self.origin, Origin::File(_)) {
                    ", version "
                } else {
                    " "
                }
            ));
        }
        let mut extra = Vec::new();
        if let Some(i) = self.instance {
            extra.push(i.to_string());
        }
        if let Some(f) = &self.fetched {
            extra.push(format!("fetched {f}"));
        }
        if !extra.is_empty() {
            s.push_str(&format!(" ({})", extra.join(", ")));
        }
        s
    }

    /// Age in days of the version on `today`; `None` when unknown.
    pub fn age_days(&self, today: time::Date) -> Option<i64> {
        self.version.map(|v| v.age_days(today))
    }

    /// The warning when the data is more than [`MAX_AGE_DAYS`] old on
    /// `today` (one line, without the `tlsready:` prefix).
    pub fn age_warning(&self, today: time::Date) -> Option<String> {
        let age = self.age_days(today)?;
        if age <= MAX_AGE_DAYS {
            return None;
        }
        let instance = self.instance.unwrap_or_default();
        let how = match self.origin {
            Origin::File(_) => {
                "refresh the file, or run `tlsready endpoints update` and drop --endpoints"
                    .to_string()
            }
            _ if instance == Instance::Worldwide => "run `tlsready endpoints update`".to_string(),
            _ => format!(
                "run `tlsready endpoints update --instance {}`",
                instance.key()
            ),
        };
        Some(format!(
            "warning: the Microsoft 365 endpoint data in use, {}, is {age} days old (more than {MAX_AGE_DAYS}): {how}",
            self.describe()
        ))
    }
}

/// The data chosen for a run.
#[derive(Debug)]
pub struct Selected {
    /// The matchers, labelled with [`DataInfo::label`].
    pub endpoints: Endpoints,
    /// Which data it is.
    pub info: DataInfo,
    /// Warnings met on the way (a stored update that could not be read),
    /// one line each, without the `tlsready:` prefix.
    pub notes: Vec<String>,
}

/// The built-in data, labelled.
fn built_in() -> Selected {
    let info = DataInfo::built_in();
    Selected {
        endpoints: Endpoints::embedded().with_data_label(&info.label()),
        info,
        notes: Vec::new(),
    }
}

/// Reads `--endpoints FILE`: the web service's JSON, or a stored update.
fn from_file(path: &Path) -> Result<Selected, String> {
    let text = std::fs::read_to_string(path).map_err(|source| {
        EndpointsError::Io {
            path: path.display().to_string(),
            source,
        }
        .to_string()
    })?;
    let mut info = DataInfo {
        origin: Origin::File(path.to_path_buf()),
        instance: None,
        version: None,
        fetched: None,
    };
    let label = info.label();
    let data = if text.trim_start().starts_with('{') {
        let (meta, data) =
            parse_stored(&text).map_err(|e| format!("{label}: not endpoint data: {e}"))?;
        info.instance = Some(meta.instance);
        info.version = Some(meta.version);
        info.fetched = Some(meta.fetched);
        data
    } else {
        &text
    };
    let endpoints = Endpoints::from_json(data, &label).map_err(|e| e.to_string())?;
    Ok(Selected {
        endpoints,
        info,
        notes: Vec::new(),
    })
}

/// The stored update of `instance` in `dir`, if it reads and parses.
fn from_store(dir: &DataDir, instance: Instance) -> Result<Option<Selected>, String> {
    let Some(stored) = dir.read(instance).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let info = DataInfo {
        origin: Origin::Stored(stored.path.clone()),
        instance: Some(instance),
        version: Some(stored.meta.version),
        fetched: Some(stored.meta.fetched.clone()),
    };
    let endpoints = Endpoints::from_json(&stored.endpoints_json, &info.label())
        .map_err(|e| format!("{}: {e}", stored.path.display()))?;
    Ok(Some(Selected {
        endpoints,
        info,
        notes: Vec::new(),
    }))
}

/// The version of the stored update of `instance`, without parsing its data
/// (`None` when there is none or it cannot be read).
fn stored_version(dir: &DataDir, instance: Instance) -> Option<DataVersion> {
    dir.read(instance).ok().flatten().map(|s| s.meta.version)
}

/// Chooses the data for a run (see the module docs). `dir` is the data
/// directory, `None` when there is none.
pub fn select(
    explicit: Option<&Path>,
    instance: Instance,
    dir: Option<&DataDir>,
) -> Result<Selected, String> {
    if let Some(p) = explicit {
        return from_file(p);
    }
    let built_in_version = (instance == Instance::Worldwide)
        .then(|| DataVersion::parse(EMBEDDED_VERSION))
        .flatten();
    let mut notes = Vec::new();
    if let Some(dir) = dir {
        match from_store(dir, instance) {
            Ok(Some(s)) if built_in_version.is_none_or(|b| s.info.version > Some(b)) => {
                return Ok(s);
            }
            Ok(_) => {}
            Err(e) => notes.push(format!(
                "warning: stored Microsoft 365 endpoint data passed over: {e}"
            )),
        }
    }
    if built_in_version.is_none() {
        let mut msg = format!(
            "no Microsoft 365 endpoint data for the {instance} instance (the built-in copy is Worldwide): \
             run `tlsready endpoints update --instance {}`, or pass --endpoints FILE",
            instance.key()
        );
        if let Some(n) = notes.first() {
            msg.push_str(&format!(" ({n})"));
        }
        return Err(msg);
    }
    let mut s = built_in();
    s.notes = notes;
    Ok(s)
}

/// [`select`] with the data directory of the environment
/// ([`DataDir::locate`]; none when it cannot be determined), which is
/// returned too, for a [`Watch`].
pub fn select_for_run(
    explicit: Option<&Path>,
    instance: Instance,
) -> Result<(Selected, Option<DataDir>), String> {
    let dir = DataDir::locate().ok();
    let s = select(explicit, instance, dir.as_ref())?;
    Ok((s, dir))
}

/// Watches the stored update of an instance during a capture, so that an
/// update made meanwhile is taken up without a restart.
#[derive(Debug)]
pub struct Watch {
    dir: DataDir,
    instance: Instance,
    every: Duration,
    last_look: Instant,
    stamp: Option<(SystemTime, u64)>,
}

impl Watch {
    /// A watch for a run that uses `info`; `None` when the data came from
    /// `--endpoints FILE` (an explicit choice) or there is no data directory.
    pub fn new(info: &DataInfo, instance: Instance, dir: Option<DataDir>) -> Option<Watch> {
        if matches!(info.origin, Origin::File(_)) {
            return None;
        }
        let dir = dir?;
        Some(Watch {
            stamp: dir.stamp(instance),
            dir,
            instance,
            every: WATCH_EVERY,
            last_look: Instant::now(),
        })
    }

    /// Looks every `every` instead of [`WATCH_EVERY`].
    pub fn every(mut self, every: Duration) -> Watch {
        self.every = every;
        self
    }

    /// At most every [`WATCH_EVERY`]: when the stored update changed since
    /// the last look and is newer than `current`, the new data (`Ok`), or
    /// why it cannot be used (`Err`, one line, reported once per change).
    pub fn poll(&mut self, current: &DataInfo) -> Option<Result<Selected, String>> {
        if self.last_look.elapsed() < self.every {
            return None;
        }
        self.last_look = Instant::now();
        let stamp = self.dir.stamp(self.instance);
        if stamp == self.stamp {
            return None;
        }
        self.stamp = stamp;
        stamp?;
        let newer = stored_version(&self.dir, self.instance)
            .is_some_and(|v| current.version.is_none_or(|c| v > c));
        if !newer {
            // Unreadable files are reported by from_store below; an older
            // or equal version is not taken.
            if let Err(e) = self.dir.read(self.instance) {
                return Some(Err(format!(
                    "warning: the stored Microsoft 365 endpoint data changed but is not used: {e}"
                )));
            }
            return None;
        }
        match from_store(&self.dir, self.instance) {
            Ok(Some(s)) => Some(Ok(s)),
            Ok(None) => None,
            Err(e) => Some(Err(format!(
                "warning: the stored Microsoft 365 endpoint data changed but is not used: {e}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::m365::store::StoredMeta;

    const SMALL: &str = r#"[{"id": 1, "serviceArea": "Exchange", "urls": ["outlook.example.test"], "required": true}]"#;

    fn meta(instance: Instance, v: &str) -> StoredMeta {
        StoredMeta {
            instance,
            version: DataVersion::parse(v).unwrap(),
            fetched: "2026-12-01T10:00:00Z".into(),
            url: "http://127.0.0.1/endpoints".into(),
        }
    }

    #[test]
    fn built_in_without_stored_data() {
        let t = tempfile::tempdir().unwrap();
        let dir = DataDir::at(t.path().to_path_buf());
        let s = select(None, Instance::Worldwide, Some(&dir)).unwrap();
        assert_eq!(s.info, DataInfo::built_in());
        assert_eq!(s.info.label(), "built-in:2026073100");
        assert_eq!(s.info.describe(), "built-in 2026073100 (Worldwide)");
        assert_eq!(&**s.endpoints.data_label(), "built-in:2026073100");
        assert!(s.notes.is_empty());
        let s = select(None, Instance::Worldwide, None).unwrap();
        assert_eq!(s.info.origin, Origin::BuiltIn);
        let e = select(None, Instance::China, Some(&dir)).unwrap_err();
        assert!(
            e.contains("no Microsoft 365 endpoint data for the China instance"),
            "{e}"
        );
        assert!(e.contains("--instance china"), "{e}");
    }

    #[test]
    fn newest_wins_explicit_file_always() {
        let t = tempfile::tempdir().unwrap();
        let dir = DataDir::at(t.path().join("data"));
        // Older than the built-in copy: not used.
        dir.store(&meta(Instance::Worldwide, "2026060100"), SMALL)
            .unwrap();
        let s = select(None, Instance::Worldwide, Some(&dir)).unwrap();
        assert_eq!(s.info.origin, Origin::BuiltIn);
        // Same version: the built-in.
        dir.store(&meta(Instance::Worldwide, "2026073100"), SMALL)
            .unwrap();
        let s = select(None, Instance::Worldwide, Some(&dir)).unwrap();
        assert_eq!(s.info.origin, Origin::BuiltIn);
        // Newer: the stored update.
        let p = dir
            .store(&meta(Instance::Worldwide, "2026112800"), SMALL)
            .unwrap();
        let s = select(None, Instance::Worldwide, Some(&dir)).unwrap();
        assert_eq!(s.info.origin, Origin::Stored(p.clone()));
        assert_eq!(s.info.label(), "stored:2026112800");
        assert_eq!(
            s.info.describe(),
            "stored 2026112800 (Worldwide, fetched 2026-12-01T10:00:00Z)"
        );
        assert_eq!(s.endpoints.stats().sets, 1);
        assert!(s.endpoints.match_name("outlook.example.test").is_some());
        // Other instances have only their stored update.
        dir.store(&meta(Instance::UsGovDod, "2026010100"), SMALL)
            .unwrap();
        let s = select(None, Instance::UsGovDod, Some(&dir)).unwrap();
        assert_eq!(s.info.label(), "stored:2026010100");
        // An explicit file wins, even older; a stored file given explicitly
        // keeps its version.
        let raw = t.path().join("raw.json");
        std::fs::write(&raw, SMALL).unwrap();
        let s = select(Some(&raw), Instance::Worldwide, Some(&dir)).unwrap();
        assert_eq!(s.info.label(), format!("file:{}", raw.display()));
        assert_eq!(s.info.version, None);
        assert_eq!(
            s.info.age_warning(time::macros::date!(2030 - 01 - 01)),
            None
        );
        let old = dir.endpoints_path(Instance::UsGovDod);
        let s = select(Some(&old), Instance::Worldwide, Some(&dir)).unwrap();
        assert_eq!(s.info.version, DataVersion::parse("2026010100"));
        assert_eq!(s.info.instance, Some(Instance::UsGovDod));
        assert_eq!(
            s.info.describe(),
            format!(
                "file {}, version 2026010100 (USGovDoD, fetched 2026-12-01T10:00:00Z)",
                old.display()
            )
        );
    }

    #[test]
    fn unreadable_stored_data_is_passed_over() {
        let t = tempfile::tempdir().unwrap();
        let dir = DataDir::at(t.path().to_path_buf());
        std::fs::write(dir.endpoints_path(Instance::Worldwide), "{not json").unwrap();
        let s = select(None, Instance::Worldwide, Some(&dir)).unwrap();
        assert_eq!(s.info.origin, Origin::BuiltIn);
        assert_eq!(s.notes.len(), 1);
        assert!(s.notes[0].contains("passed over"), "{:?}", s.notes);
        std::fs::write(dir.endpoints_path(Instance::China), "{not json").unwrap();
        let e = select(None, Instance::China, Some(&dir)).unwrap_err();
        assert!(e.contains("passed over"), "{e}");
    }

    #[test]
    fn bad_explicit_files() {
        let t = tempfile::tempdir().unwrap();
        let missing = t.path().join("missing.json");
        let e = select(Some(&missing), Instance::Worldwide, None).unwrap_err();
        assert!(
            e.starts_with("cannot read Microsoft 365 endpoint file"),
            "{e}"
        );
        let bad = t.path().join("bad.json");
        std::fs::write(&bad, r#"[{"id": "x"}]"#).unwrap();
        let e = select(Some(&bad), Instance::Worldwide, None).unwrap_err();
        assert!(
            e.contains("invalid Microsoft 365 endpoint data at line 1"),
            "{e}"
        );
        std::fs::write(&bad, r#"{"a": 1}"#).unwrap();
        let e = select(Some(&bad), Instance::Worldwide, None).unwrap_err();
        assert!(e.contains("not endpoint data"), "{e}");
    }

    #[test]
    fn age_warning_after_sixty_days() {
        let info = DataInfo::built_in();
        assert_eq!(info.age_warning(time::macros::date!(2026 - 09 - 29)), None);
        let w = info
            .age_warning(time::macros::date!(2026 - 09 - 30))
            .unwrap();
        assert_eq!(
            w,
            "warning: the Microsoft 365 endpoint data in use, built-in 2026073100 (Worldwide), is 61 days old \
             (more than 60): run `tlsready endpoints update`"
        );
        let gov = DataInfo {
            origin: Origin::Stored(PathBuf::from("x")),
            instance: Some(Instance::UsGovGccHigh),
            version: DataVersion::parse("2026010100"),
            fetched: None,
        };
        let w = gov
            .age_warning(time::macros::date!(2026 - 12 - 02))
            .unwrap();
        assert!(w.ends_with("--instance usgovgcchigh`"), "{w}");
    }

    #[test]
    fn watch_takes_up_newer_updates_only() {
        let t = tempfile::tempdir().unwrap();
        let dir = DataDir::at(t.path().to_path_buf());
        let current = DataInfo::built_in();
        let mut w = Watch::new(&current, Instance::Worldwide, Some(dir.clone()))
            .unwrap()
            .every(Duration::ZERO);
        assert!(w.poll(&current).is_none(), "nothing stored");
        dir.store(&meta(Instance::Worldwide, "2026060100"), SMALL)
            .unwrap();
        assert!(w.poll(&current).is_none(), "older than in use");
        // A different length makes the change visible even within one
        // second of modification time.
        let newer = format!("{SMALL} ");
        dir.store(&meta(Instance::Worldwide, "2026112800"), &newer)
            .unwrap();
        let s = w.poll(&current).unwrap().unwrap();
        assert_eq!(s.info.label(), "stored:2026112800");
        assert!(w.poll(&s.info).is_none(), "no change since");
        std::fs::write(dir.endpoints_path(Instance::Worldwide), "{broken").unwrap();
        let e = w.poll(&s.info).unwrap().unwrap_err();
        assert!(e.contains("not used"), "{e}");
        assert!(w.poll(&s.info).is_none(), "reported once");
        // Never for an explicit file.
        let file = DataInfo {
            origin: Origin::File(PathBuf::from("x.json")),
            instance: None,
            version: None,
            fetched: None,
        };
        assert!(Watch::new(&file, Instance::Worldwide, Some(dir)).is_none());
    }
}
