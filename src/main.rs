//! The command line: parse, then hand over to one module per command ([`cli`]).

use std::process::ExitCode;

use clap::Parser;

mod cli;

/// modrace's own data (facts, tables, paths) is millions of small allocations made and
/// dropped per phase, where mimalloc is faster than glibc's allocator (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The C parser allocates through glibc. glibc grows each thread's heap by 128 kB at a time,
/// with an `mprotect` call each time: a `check` of a whole tree made 108,000 of them (the
/// parser allocates and frees a tree per file). Growing by 64 MB makes it a few dozen, for a
/// few MB more of peak memory.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn grow_heaps_in_large_steps() {
    // SAFETY: mallopt only sets a tunable of the allocator; it is called before any thread
    // exists, and a refused value leaves the default in place.
    unsafe {
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn grow_heaps_in_large_steps() {}

fn main() -> ExitCode {
    grow_heaps_in_large_steps();
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            modrace::progress::finish();
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
