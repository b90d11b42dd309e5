//! Phase timings on standard error, for profiling a whole-tree run: `--timings` or
//! `MODRACE_TIMINGS=1`.
//! BENCHMARKS.md quotes them to say where the time of a command goes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

/// Set by `--timings`.
static FORCED: AtomicBool = AtomicBool::new(false);

/// Whether timings are on (`--timings` or `MODRACE_TIMINGS=1`).
pub fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    FORCED.load(Ordering::Relaxed)
        || *ON.get_or_init(|| std::env::var_os("MODRACE_TIMINGS").is_some_and(|v| v != "0"))
}

/// Turns the timings on, as `MODRACE_TIMINGS=1` does.
pub fn enable() {
    FORCED.store(true, Ordering::Relaxed);
}

/// Prints the phase's wall time when dropped, if timings are on.
pub struct Phase {
    name: &'static str,
    started: Instant,
}

impl Phase {
    pub fn start(name: &'static str) -> Phase {
        crate::progress::phase(name);
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
                "timing: {:<12} {:>8.3} s   rss {:>5} MB, peak {:>5} MB",
                self.name,
                self.started.elapsed().as_secs_f64(),
                memory_kb("VmRSS:") / 1024,
                memory_kb("VmHWM:") / 1024,
            );
        }
    }
}

/// A line of `/proc/self/status` in kB (0 where there is no such file).
fn memory_kb(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with(key))?;
            line[key.len()..]
                .trim()
                .trim_end_matches(" kB")
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// CPU time summed over the threads of a parallel phase, printed by [`Tally::report`].
pub struct Tally {
    name: &'static str,
    nanos: std::sync::atomic::AtomicU64,
}

impl Tally {
    pub const fn new(name: &'static str) -> Tally {
        Tally {
            name,
            nanos: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Runs `f`, adding its time to the tally when timings are on.
    pub fn time<T>(&self, f: impl FnOnce() -> T) -> T {
        if !enabled() {
            return f();
        }
        let started = Instant::now();
        let out = f();
        let nanos = started.elapsed().as_nanos() as u64;
        self.nanos
            .fetch_add(nanos, std::sync::atomic::Ordering::Relaxed);
        out
    }

    pub fn report(tallies: &[&Tally]) {
        if enabled() {
            for t in tallies {
                let nanos = t.nanos.swap(0, std::sync::atomic::Ordering::Relaxed);
                eprintln!("timing:   {:<10} {:>8.3} s cpu", t.name, nanos as f64 / 1e9);
            }
        }
    }
}
