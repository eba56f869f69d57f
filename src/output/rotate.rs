//! Rotated connection files for sensors that run for weeks
//! (`capture --rotate`): one connections CSV and one JSON-lines file per
//! period, each written under a temporary name (a leading dot, so that
//! `tally` over the directory passes it over) and renamed to its final
//! name once complete. Final names carry the sensor and the period's start
//! in UTC: `tlsready-SENSOR-20261202T050000Z.csv`.
//!
//! A row goes in the file of the period in which it is written (when its
//! handshake facts are complete, or its connection closes or idles out),
//! so no row is ever late for a file already closed.
//!
//! An existing file is never truncated or rewritten: a final name that
//! exists gets a suffix (`-1`, `-2`...; the rename is a hard link, which
//! fails rather than replacing). A file left under its temporary name by a
//! sensor that was killed is completed at the next start: its whole lines
//! are copied to a new final name and the temporary file is removed.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::csv::CsvSink;
use super::json::JsonSink;
use super::spool::RowOutput;
use crate::model::row::ConnRecord;
use crate::model::sink::Sink;

/// What to rotate, and how often.
#[derive(Debug, Clone)]
pub struct RotateSpec {
    /// Directory of the connections CSV files.
    pub csv_dir: Option<PathBuf>,
    /// Directory of the JSON-lines files.
    pub json_dir: Option<PathBuf>,
    /// The sensor's name (in every file name).
    pub sensor: String,
    /// The period (whole seconds, at least one).
    pub period: Duration,
}

/// The name a sensor gets by default: the host name.
pub fn host_name() -> String {
    let name = system_host_name();
    if name.is_empty() {
        "sensor".into()
    } else {
        name
    }
}

#[cfg(unix)]
fn system_host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at
    // most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    if rc == 0 {
        String::from_utf8_lossy(buf.get(..end).unwrap_or_default()).into_owned()
    } else {
        String::new()
    }
}

/// Windows names the computer in `COMPUTERNAME`.
#[cfg(not(unix))]
fn system_host_name() -> String {
    std::env::var("COMPUTERNAME").unwrap_or_default()
}

/// A sensor name usable in a file name: letters, digits, `.`, `_` and
/// `-` kept, anything else `_`; `None` when empty or only dots.
pub fn file_safe(sensor: &str) -> Option<String> {
    let s: String = sensor
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    (!s.is_empty() && !s.chars().all(|c| c == '.')).then_some(s)
}

/// The start of the period holding `secs` (seconds since the Unix epoch):
/// periods are aligned on the epoch, so `1h` starts on the hour and `1d`
/// at midnight UTC.
pub fn period_start(secs: i64, period: u64) -> i64 {
    let p = i64::try_from(period.max(1)).unwrap_or(i64::MAX);
    secs.div_euclid(p) * p
}

/// `20261202T050000Z`: a period's start in a file name.
pub fn stamp(secs: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(secs) else {
        return secs.to_string();
    };
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Both kinds of file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Csv,
    Json,
}

impl Kind {
    fn ext(self) -> &'static str {
        match self {
            Kind::Csv => "csv",
            Kind::Json => "jsonl",
        }
    }
}

/// One file being written.
struct Open {
    /// Its temporary name.
    temp: PathBuf,
    /// Its final name, without a suffix for an existing one.
    name: PathBuf,
    /// A second handle, to sync the data before the rename.
    file: File,
    csv: Option<CsvSink>,
    json: Option<JsonSink>,
}

impl Open {
    fn create(dir: &Path, stem: &str, kind: Kind) -> io::Result<Open> {
        let name = dir.join(format!("{stem}.{}", kind.ext()));
        let mut n = 0u32;
        let (temp, f) = loop {
            let t = dir.join(if n == 0 {
                format!(".{stem}.{}.part", kind.ext())
            } else {
                format!(".{stem}.{}.{n}.part", kind.ext())
            });
            match File::options().write(true).create_new(true).open(&t) {
                Ok(f) => break (t, f),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
                Err(e) => return Err(e),
            }
        };
        let file = f.try_clone()?;
        let out = Box::new(BufWriter::new(f));
        let (csv, json) = match kind {
            Kind::Csv => (Some(CsvSink::new(out, true)?), None),
            Kind::Json => (None, Some(JsonSink::new(out, true))),
        };
        Ok(Open {
            temp,
            name,
            file,
            csv,
            json,
        })
    }

    fn record(&mut self, rec: &ConnRecord) -> io::Result<()> {
        match (self.csv.as_mut(), self.json.as_mut()) {
            (Some(c), _) => c.record(rec),
            (_, Some(j)) => j.record(rec),
            _ => Ok(()),
        }
    }

    /// Flushes, syncs and gives the file its final name.
    fn close(mut self) -> io::Result<PathBuf> {
        if let Some(c) = self.csv.as_mut() {
            c.flush()?;
        }
        if let Some(j) = self.json.as_mut() {
            j.flush()?;
        }
        self.file.sync_all()?;
        publish(&self.temp, &self.name)
    }
}

/// Gives `temp` the name `name`, or `name` with a suffix (`-1`, `-2`...)
/// when it exists: never replaces a file. Returns the name given.
fn publish(temp: &Path, name: &Path) -> io::Result<PathBuf> {
    let stem = name
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = name
        .extension()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = name.parent().unwrap_or(Path::new("."));
    let mut n = 0u32;
    loop {
        let to = if n == 0 {
            name.to_path_buf()
        } else {
            dir.join(format!("{stem}-{n}.{ext}"))
        };
        match std::fs::hard_link(temp, &to) {
            Ok(()) => {
                std::fs::remove_file(temp)?;
                if let Ok(d) = File::open(dir) {
                    let _ = d.sync_all();
                }
                return Ok(to);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 10_000 => n += 1,
            Err(e) => return Err(e),
        }
    }
}

/// Completes the files a killed sensor named `sensor` left under their
/// temporary names in `dir`: their whole lines (a CSV file's header and at
/// least one row) go to a new final name; the temporary files are removed.
/// Returns the files made.
pub fn recover(dir: &Path, sensor: &str) -> io::Result<Vec<PathBuf>> {
    let prefix = format!(".tlsready-{sensor}-");
    let mut made = Vec::new();
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".part"))
        })
        .collect();
    names.sort();
    for part in names {
        let Some(file_name) = part.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        // `.STEM.EXT[.N].part` -> `STEM.EXT`
        let inner = file_name
            .trim_start_matches('.')
            .trim_end_matches(".part")
            .to_string();
        let (kind, stem) = if let Some(i) = inner.find(".csv") {
            (Kind::Csv, inner.get(..i).unwrap_or_default().to_string())
        } else if let Some(i) = inner.find(".jsonl") {
            (Kind::Json, inner.get(..i).unwrap_or_default().to_string())
        } else {
            continue;
        };
        let mut data = Vec::new();
        File::open(&part)?.read_to_end(&mut data)?;
        let whole = memchr::memrchr(b'\n', &data).map_or(0, |i| i + 1);
        data.truncate(whole);
        let lines = memchr::memchr_iter(b'\n', &data).count();
        let rows = if kind == Kind::Csv {
            lines.saturating_sub(1)
        } else {
            lines
        };
        if rows > 0 {
            let temp = dir.join(format!(".{stem}.{}.recovering", kind.ext()));
            let mut f = File::create(&temp)?;
            f.write_all(&data)?;
            f.sync_all()?;
            drop(f);
            made.push(publish(&temp, &dir.join(format!("{stem}.{}", kind.ext())))?);
        }
        std::fs::remove_file(&part)?;
    }
    Ok(made)
}

/// The rotated row outputs of a capture.
pub struct Rotating {
    spec: RotateSpec,
    sensor: String,
    period_secs: u64,
    /// The period being written (its start) and its open files.
    current: Option<(i64, Option<Open>, Option<Open>)>,
    /// Files closed so far (final names).
    pub closed: Vec<PathBuf>,
    /// Files completed from a killed run's temporary files at the start.
    pub recovered: Vec<PathBuf>,
    now: fn() -> i64,
}

fn wall_clock() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Rotating {
    /// Checks the directories and completes a killed run's files.
    pub fn new(spec: RotateSpec) -> Result<Rotating, String> {
        let sensor = file_safe(&spec.sensor)
            .ok_or_else(|| format!("--sensor {:?}: not usable in a file name", spec.sensor))?;
        let period_secs = spec.period.as_secs();
        if period_secs == 0 {
            return Err("--rotate: the period must be at least one second".into());
        }
        let mut recovered = Vec::new();
        for dir in [&spec.csv_dir, &spec.json_dir].into_iter().flatten() {
            let md = std::fs::metadata(dir).map_err(|e| {
                format!(
                    "{}: {e} (with --rotate, --connections and --json name directories)",
                    dir.display()
                )
            })?;
            if !md.is_dir() {
                return Err(format!(
                    "{}: not a directory (with --rotate, --connections and --json name directories)",
                    dir.display()
                ));
            }
            recovered.extend(
                recover(dir, &sensor)
                    .map_err(|e| format!("{}: cannot write: {e}", dir.display()))?,
            );
        }
        Ok(Rotating {
            spec,
            sensor,
            period_secs,
            current: None,
            closed: Vec::new(),
            recovered,
            now: wall_clock,
        })
    }

    /// Closes the files of the period being written.
    pub fn close(&mut self) -> io::Result<()> {
        if let Some((_, csv, json)) = self.current.take() {
            for f in [csv, json].into_iter().flatten() {
                self.closed.push(f.close()?);
            }
        }
        Ok(())
    }

    /// The period of now: closes the files of an earlier one.
    fn roll(&mut self) -> io::Result<i64> {
        let start = period_start((self.now)(), self.period_secs);
        if self.current.as_ref().is_some_and(|(s, _, _)| *s != start) {
            self.close()?;
        }
        Ok(start)
    }
}

impl Sink for Rotating {
    fn record(&mut self, rec: &ConnRecord) -> io::Result<()> {
        let start = self.roll()?;
        if self.current.is_none() {
            let stem = format!("tlsready-{}-{}", self.sensor, stamp(start));
            let csv = match &self.spec.csv_dir {
                Some(d) => Some(Open::create(d, &stem, Kind::Csv)?),
                None => None,
            };
            let json = match &self.spec.json_dir {
                Some(d) => Some(Open::create(d, &stem, Kind::Json)?),
                None => None,
            };
            self.current = Some((start, csv, json));
        }
        if let Some((_, csv, json)) = self.current.as_mut() {
            for f in [csv, json].into_iter().flatten() {
                f.record(rec)?;
            }
        }
        Ok(())
    }

    fn tick(&mut self) -> io::Result<()> {
        self.roll().map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_and_names() {
        // 2026-12-02T05:17:09Z
        let t = 1_796_188_629;
        assert_eq!(stamp(period_start(t, 3600)), "20261202T050000Z");
        assert_eq!(stamp(period_start(t, 86_400)), "20261202T000000Z");
        assert_eq!(stamp(period_start(t, 2)), "20261202T051708Z");
        assert_eq!(file_safe("site a/b"), Some("site_a_b".into()));
        assert_eq!(file_safe(".."), None);
        assert_eq!(file_safe(""), None);
    }

    #[test]
    fn publish_never_replaces_and_recover_keeps_whole_lines() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let name = d.join("tlsready-s-20261202T050000Z.csv");
        std::fs::write(&name, "earlier\n").unwrap();
        let temp = d.join(".x.part");
        std::fs::write(&temp, "new\n").unwrap();
        let got = publish(&temp, &name).unwrap();
        assert_eq!(got, d.join("tlsready-s-20261202T050000Z-1.csv"));
        assert_eq!(std::fs::read_to_string(&name).unwrap(), "earlier\n");
        assert!(!temp.exists());
        // A killed run's files: a CSV with a row and a cut one, a CSV with
        // its header only, a JSON file with a cut line only.
        std::fs::write(
            d.join(".tlsready-s-20261202T060000Z.csv.part"),
            "ts,client_ip\r\na,b\r\nc,",
        )
        .unwrap();
        std::fs::write(
            d.join(".tlsready-s-20261202T070000Z.csv.part"),
            "ts,client_ip\r\n",
        )
        .unwrap();
        std::fs::write(d.join(".tlsready-s-20261202T060000Z.jsonl.part"), "{\"a\":").unwrap();
        std::fs::write(
            d.join(".tlsready-other-20261202T060000Z.jsonl.part"),
            "{}\n",
        )
        .unwrap();
        let made = recover(d, "s").unwrap();
        assert_eq!(made, vec![d.join("tlsready-s-20261202T060000Z.csv")]);
        assert_eq!(
            std::fs::read_to_string(&made[0]).unwrap(),
            "ts,client_ip\r\na,b\r\n"
        );
        let left: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".part"))
            .collect();
        assert_eq!(left, vec![".tlsready-other-20261202T060000Z.jsonl.part"]);
    }
}
