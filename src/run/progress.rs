//! Progress, behind a small trait: the command line shows a bar (its
//! implementation lives in the binary), library users and tests pass
//! [`NoProgress`].

/// Where a run reports its progress. Shared by the threads of a run.
pub trait Progress: Sync {
    /// `bytes` more of the input read.
    fn advance(&self, _bytes: u64) {}

    /// The input now being read, or a status line.
    fn message(&self, _msg: &str) {}

    /// Runs `f` (which prints to the terminal) with the bar out of the way.
    fn suspend(&self, f: &mut dyn FnMut()) {
        f()
    }
}

/// No progress shown.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {}
