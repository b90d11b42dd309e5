//! Phase timings on standard error, for profiling a whole-tree run: set `MODRACE_TIMINGS=1`.
//! BENCHMARKS.md quotes them to say where the time of a command goes.

use std::sync::OnceLock;
use std::time::Instant;

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("MODRACE_TIMINGS").is_some_and(|v| v != "0"))
}

/// Prints the phase's wall time when dropped, if timings are on.
pub struct Phase {
    name: &'static str,
    started: Instant,
}

impl Phase {
    pub fn start(name: &'static str) -> Phase {
        Phase {
            name,
            started: Instant::now(),
        }
    }
}

impl Drop for Phase {
    fn drop(&mut self) {
        if enabled() {
            eprintln!(
                "timing: {:<12} {:>8.3} s",
                self.name,
                self.started.elapsed().as_secs_f64()
            );
        }
    }
}
