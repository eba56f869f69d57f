//! Standard output and standard error when their reader goes away.
//!
//! `tlsready ... | head` closes the pipe early: what `head` did not want
//! is dropped, quietly, and the run goes on to its other outputs and its
//! exit status, as `grep` and `rg` end without a message. Rust ignores
//! SIGPIPE, so a write to a closed pipe fails with `BrokenPipe`; `eprintln!`
//! would panic on it (`... 2>&1 | head`).

use std::io::{self, Write};

/// Standard output; once its reader is gone, writes are dropped.
pub struct Stdout {
    inner: io::Stdout,
    closed: bool,
}

/// Standard output for data (rows, tables, answers).
pub fn stdout() -> Stdout {
    Stdout {
        inner: io::stdout(),
        closed: false,
    }
}

impl Stdout {
    fn quiet(&mut self, r: io::Result<()>) -> io::Result<()> {
        match r {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            r => r,
        }
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        match self.inner.write(buf) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(buf.len())
            }
            r => r,
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        let r = self.inner.write_all(buf);
        self.quiet(r)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        let r = self.inner.flush();
        self.quiet(r)
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

    /// A closed pipe: the write "succeeds", later writes are dropped.
    #[cfg(unix)]
    #[test]
    fn a_closed_pipe_is_quiet() {
        // The real thing: a pipe whose reading end is closed.
        let (r, w) = std::io::pipe().unwrap();
        drop(r);
        let mut w = w;
        let e = w.write_all(b"x").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
        let mut s = Stdout {
            inner: io::stdout(),
            closed: false,
        };
        assert!(s.quiet(Err(e)).is_ok());
        assert!(s.closed);
        assert_eq!(s.write(b"dropped").unwrap(), 7);
        assert!(s.flush().is_ok());
    }
}
