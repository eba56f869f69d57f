//! The progress bar on standard error (indicatif), when it is a terminal.

use std::io::IsTerminal;

use tlsready::run::progress::Progress;

/// A bar, or a spinner for live captures; hidden when standard error is
/// not a terminal.
pub struct Bar(pub indicatif::ProgressBar);

impl Bar {
    /// A bar for `total` bytes of input.
    pub fn bytes(total: u64) -> Bar {
        if !std::io::stderr().is_terminal() {
            return Bar(indicatif::ProgressBar::hidden());
        }
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {bytes}/{total_bytes} {bar:30} {bytes_per_sec} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Bar(b)
    }

    /// A spinner with a status line.
    pub fn spinner() -> Bar {
        if std::io::stderr().is_terminal() {
            Bar(indicatif::ProgressBar::new_spinner())
        } else {
            Bar(indicatif::ProgressBar::hidden())
        }
    }

    /// Removes the bar.
    pub fn clear(&self) {
        self.0.finish_and_clear();
    }

    /// A new status line (spinner).
    pub fn status(&self, msg: String) {
        self.0.set_message(msg);
        self.0.tick();
    }

    /// Prints a line to standard error above the bar.
    pub fn eprint(&self, line: &str) {
        self.0.suspend(|| tlsready::say!("tlsready: {line}"));
    }
}

impl Progress for Bar {
    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }

    fn message(&self, msg: &str) {
        self.0.set_message(msg.to_string());
    }

    fn suspend(&self, f: &mut dyn FnMut()) {
        self.0.suspend(f);
    }
}
