//! Standard output and standard error when their reader goes away.
//!
//! `tlsready ... | head` closes the pipe early: what `head` did not want
//! is dropped, quietly, and the run goes on to its other outputs and its
//! exit status, as `grep` and `rg` end without a message. Rust ignores
//! SIGPIPE, so a write to a closed pipe fails with `BrokenPipe`; `eprintln!`
//! would panic on it (`... 2>&1 | head`).

use std::io::{self, Write};

/// A writer whose reader may go away: after a `BrokenPipe`, writes are
/// dropped and reported done.
pub struct Quiet<W> {
    inner: W,
    closed: bool,
}

/// Standard output for data (rows, tables, answers).
pub type Stdout = Quiet<io::Stdout>;

/// Standard output for data, quiet once its reader is gone.
pub fn stdout() -> Stdout {
    Quiet::new(io::stdout())
}

impl<W: Write> Quiet<W> {
    /// `inner`, quiet once its reader is gone.
    pub fn new(inner: W) -> Self {
        Quiet {
            inner,
            closed: false,
        }
    }

    /// `r`, or done when the reader went away (and from then on).
    fn quiet<T>(&mut self, r: io::Result<T>, done: T) -> io::Result<T> {
        match r {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(done)
            }
            r => r,
        }
    }
}

impl<W: Write> Write for Quiet<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        let r = self.inner.write(buf);
        self.quiet(r, buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        let r = self.inner.write_all(buf);
        self.quiet(r, ())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        let r = self.inner.flush();
        self.quiet(r, ())
    }
}

/// `eprintln!` that cannot panic: a closed or failing standard error is
/// ignored (there is nowhere left to say so).
#[macro_export]
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($t)*);
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pipe whose reading end is closed: each way of writing succeeds,
    /// and nothing more is tried once it failed.
    #[cfg(unix)]
    #[test]
    fn a_closed_pipe_is_quiet() {
        let closed = || {
            let (r, w) = io::pipe().unwrap();
            drop(r);
            w
        };
        let mut w = Quiet::new(closed());
        assert_eq!(w.write(b"dropped").unwrap(), 7);
        assert!(w.closed);
        let mut w = Quiet::new(closed());
        w.write_all(b"dropped").unwrap();
        assert!(w.closed);
        w.flush().unwrap();
        // Another error still is one.
        let mut room = [0u8; 2];
        let mut full = Quiet::new(&mut room[..]);
        assert!(full.write_all(b"too long").is_err());
        assert!(!full.closed);
    }
}
