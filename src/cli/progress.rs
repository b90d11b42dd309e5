//! The progress line on standard error: drawn only on a terminal, without `-q`, and only once
//! a run has taken more than a second (a quick run prints nothing).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use modrace::progress::Observer;

const DELAY: Duration = Duration::from_secs(1);

struct Bar {
    bar: ProgressBar,
    started: Instant,
    shown: Mutex<bool>,
}

impl Bar {
    /// Starts drawing once the run is past the delay.
    fn wake(&self) {
        let mut shown = self.shown.lock().unwrap_or_else(|e| e.into_inner());
        if !*shown && self.started.elapsed() >= DELAY {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            *shown = true;
        }
    }
}

impl Observer for Bar {
    fn phase(&self, name: &'static str) {
        self.bar.set_message(name);
        self.wake();
    }

    fn files(&self, total: usize) {
        self.bar.set_message("scan");
        self.bar.set_length(total as u64);
        self.bar.set_position(0);
    }

    fn file_done(&self) {
        self.bar.inc(1);
        self.wake();
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// Installs the progress line when standard error is a terminal and `-q` is not given.
pub fn install(quiet: bool) {
    use std::io::IsTerminal;
    if quiet || !std::io::stderr().is_terminal() {
        return;
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
    let style = ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} files {elapsed}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    modrace::progress::install(Box::new(Bar {
        bar,
        started: Instant::now(),
        shown: Mutex::new(false),
    }));
}
