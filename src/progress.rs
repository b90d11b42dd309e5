//! Progress of a long run. The library only reports what it is doing (a phase begins, the scan
//! has N files, one more is done); the command line decides whether anyone sees it, and how.
//! With no observer installed (tests, the library used alone) every report costs one load.

use std::sync::OnceLock;

/// What the command line shows of a run.
pub trait Observer: Send + Sync {
    /// A phase of the run begins (`scan`, `index`, `may-sleep`, ...).
    fn phase(&self, name: &'static str);
    /// The scan will read `total` files.
    fn files(&self, total: usize);
    /// One more file is read and lowered.
    fn file_done(&self);
    /// The run's work is done: clear what was drawn.
    fn finish(&self);
}

static OBSERVER: OnceLock<Box<dyn Observer>> = OnceLock::new();

/// Installs the observer for the rest of the process; a second one is ignored.
pub fn install(observer: Box<dyn Observer>) {
    let _ = OBSERVER.set(observer);
}

pub fn phase(name: &'static str) {
    if let Some(o) = OBSERVER.get() {
        o.phase(name);
    }
}

pub fn files(total: usize) {
    if let Some(o) = OBSERVER.get() {
        o.files(total);
    }
}

pub fn file_done() {
    if let Some(o) = OBSERVER.get() {
        o.file_done();
    }
}

pub fn finish() {
    if let Some(o) = OBSERVER.get() {
        o.finish();
    }
}
