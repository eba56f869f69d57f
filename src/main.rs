//! The `tlsready` binary: the allocator, then the command line ([`cli`]).

mod cli;

use std::process::ExitCode;

/// mimalloc: connections, hellos and rows are many small, short-lived
/// allocations made on several threads at once, where glibc's allocator
/// spent about a tenth of the run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Freed memory goes back to the system at once rather than after a
    // delay, so that peak memory is that of the data (about 30 instead of
    // 47 MiB on the 2 GiB benchmark, at the same speed). 15 is
    // `mi_option_purge_delay` in the mimalloc v3 headers of the pinned
    // libmimalloc-sys; the MIMALLOC_PURGE_DELAY variable still wins.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets a plain option value; no pointer involved.
        unsafe { libmimalloc_sys::mi_option_set(15, 0) };
    }
    cli::main()
}
