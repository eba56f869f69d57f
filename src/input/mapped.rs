//! Input files mapped into memory, read in place: connection-row files
//! ([`super::rows`]). (Capture files are read with `read`, see
//! [`super::window`]: mapping them was measured no faster.)
//!
//! A mapped file that another program truncates while it is read ends the
//! run with SIGBUS, as for any program that maps files (ripgrep, for one);
//! `TLSREADY_MMAP=0` turns mapping off (files are then read with `read`).

use std::fs::File;

/// `file` mapped whole, for reading from start to end, when it is a
/// non-empty regular file, mapping is not turned off (`TLSREADY_MMAP=0`)
/// and the system maps it.
#[cfg(unix)]
pub fn map(file: &File) -> Option<memmap2::Mmap> {
    if std::env::var_os("TLSREADY_MMAP").is_some_and(|v| v == "0") {
        return None;
    }
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() == 0 {
        return None;
    }
    // SAFETY: the mapping is only read. Another program truncating the
    // file while it is read makes later reads fault (SIGBUS), which the
    // module documentation states; changed bytes are read as found.
    let map = unsafe { memmap2::Mmap::map(file) }.ok()?;
    let _ = map.advise(memmap2::Advice::Sequential);
    Some(map)
}
