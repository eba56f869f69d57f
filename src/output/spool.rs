//! Spooling: a part of a run (a chunk analysed by another thread) writes
//! its rows to temporary files, appended to the run's outputs in order
//! (see `SpoolSpec` in [`crate::output`]).

use std::io::{self, Write};

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

/// Appends the spooled rows `part` to `sink`. Into a file the sink is
/// flushed and the kernel copies (copy_file_range): the second handle
/// `file` shares the sink's offset, so rows written next follow.
pub(crate) fn append_part<S: RowOutput>(
    sink: &mut S,
    file: Option<&mut std::fs::File>,
    part: &mut std::fs::File,
) -> io::Result<()> {
    use std::io::Seek;
    part.rewind()?;
    match file {
        Some(out) => {
            sink.flush()?;
            io::copy(part, out)?;
            Ok(())
        }
        None => sink.append(part),
    }
}

/// A temporary file for a part's rows: a buffered writer on it, and a
/// second handle to read the rows back.
pub fn temp_part() -> io::Result<(Out, std::fs::File)> {
    let f = tempfile::tempfile()?;
    let back = f.try_clone()?;
    Ok((Box::new(io::BufWriter::with_capacity(1 << 16, f)), back))
}
