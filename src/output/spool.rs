//! Spooling: a part of a run (a chunk analysed by another thread) writes
//! its rows to temporary files, appended to the run's outputs in order
//! (see `SpoolSpec` in [`crate::output`]).

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// An output stream (file or standard output).
pub type Out = Box<dyn Write + Send>;

/// A row output (connections CSV, JSON lines).
pub trait RowOutput {
    /// Flushes buffered rows.
    fn flush(&mut self) -> io::Result<()>;

    /// Appends rows already written elsewhere (a part without header).
    fn append(&mut self, rows: &mut dyn io::Read) -> io::Result<()>;
}

/// Copies in 1 MiB blocks (a part of an output can be tens of megabytes).
pub fn copy_big(from: &mut dyn io::Read, to: &mut dyn Write) -> io::Result<()> {
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => to.write_all(buf.get(..n).unwrap_or_default())?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Appends the spooled rows `part` from offset `from` on (the rows
/// before were appended while the part was written, see [`Tap`]) to
/// `sink`. Into a file the sink is flushed and the kernel copies
/// (copy_file_range): the second handle `file` shares the sink's offset,
/// so rows written next follow.
pub(crate) fn append_part<S: RowOutput>(
    sink: &mut S,
    file: Option<&mut std::fs::File>,
    part: &mut std::fs::File,
    from: u64,
) -> io::Result<()> {
    use std::io::Seek;
    part.seek(io::SeekFrom::Start(from))?;
    match file {
        Some(out) => {
            sink.flush()?;
            io::copy(part, out)?;
            Ok(())
        }
        None => sink.append(part),
    }
}

/// Bytes of a part's buffer written to its file at once.
const PART_BUFFER: usize = 1 << 16;

/// A part's rows to its temporary file, buffered, whole rows at a time:
/// each `write` call of a row output holds whole rows (the CSV and JSON
/// sinks write each row in one call), and the file only ever ends after a
/// whole row. How far it has reached is published for [`Tap`].
pub struct PartWriter {
    file: std::fs::File,
    buf: Vec<u8>,
    /// Bytes in the file: whole rows.
    rows_end: Arc<AtomicU64>,
    at: u64,
}

impl PartWriter {
    fn drain(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.file.write_all(&self.buf)?;
        self.at += self.buf.len() as u64;
        self.buf.clear();
        self.rows_end.store(self.at, Ordering::Release);
        Ok(())
    }
}

impl Write for PartWriter {
    /// Takes all of `data` (so `write_all` calls it once per row).
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len() + data.len() > PART_BUFFER {
            self.drain()?;
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.drain()?;
        self.file.flush()
    }
}

impl Drop for PartWriter {
    fn drop(&mut self) {
        // As a BufWriter: rows not flushed yet are written; an error here
        // has nowhere to go (the join flushes before it reads a part).
        let _ = self.drain();
    }
}

/// The rows a part has written so far, for the join to append while the
/// part is still being analysed (the copy then costs the run's end
/// nothing). Unix only (reads at an offset, leaving the writer's own);
/// elsewhere a part is appended whole when joined.
#[derive(Debug)]
pub struct Tap {
    #[cfg(unix)]
    file: std::fs::File,
    rows_end: Arc<AtomicU64>,
}

impl Tap {
    /// Appends the whole rows written since `from` (an offset in the
    /// part's file) to `out`; returns the new offset.
    pub fn copy_since(&self, from: u64, out: &mut dyn Write, buf: &mut Vec<u8>) -> io::Result<u64> {
        let end = self.rows_end.load(Ordering::Acquire);
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileExt;
            if buf.len() < PART_BUFFER * 4 {
                buf.resize(PART_BUFFER * 4, 0);
            }
            let mut at = from;
            while at < end {
                let want = usize::try_from(end - at)
                    .unwrap_or(usize::MAX)
                    .min(buf.len());
                let Some(b) = buf.get_mut(..want) else { break };
                let n = match self.file.read_at(b, at) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                out.write_all(buf.get(..n).unwrap_or_default())?;
                at += n as u64;
            }
            Ok(at)
        }
        #[cfg(not(unix))]
        {
            let _ = (end, out, buf);
            Ok(from)
        }
    }
}

/// A temporary file for a part's rows: a writer on it, a second handle to
/// read the rows back, and its [`Tap`].
pub fn temp_part() -> io::Result<(Out, std::fs::File, Tap)> {
    let f = tempfile::tempfile()?;
    let back = f.try_clone()?;
    let rows_end = Arc::new(AtomicU64::new(0));
    let tap = Tap {
        #[cfg(unix)]
        file: f.try_clone()?,
        rows_end: Arc::clone(&rows_end),
    };
    let w = PartWriter {
        file: f,
        buf: Vec::with_capacity(PART_BUFFER),
        rows_end,
        at: 0,
    };
    Ok((Box::new(w), back, tap))
}
