//! The cache on the command line: which directory, and whole results of `check` kept under
//! the key of everything they were made from (the second level of the cache, above the facts:
//! a warm run reads and hashes the files, and parses and analyses nothing).

use std::path::PathBuf;
use std::process::ExitCode;

use modrace::cache::{Cache, Key, DEFAULT_MAX_BYTES};
use modrace::diag::Warning;
use modrace::session::Session;

use super::{print_warnings, write_stdout};

/// The cache a command uses: `Some(Ok(dir))` for `--cache-dir`, `Some(Err(()))` for the
/// default directory, `None` for `--no-cache`. A default directory that cannot be made is a
/// warning (the run goes on without a cache); a named one is an error.
pub fn open_cache(
    choice: Option<Result<PathBuf, ()>>,
    quiet: bool,
) -> anyhow::Result<Option<Cache>> {
    match choice {
        None => Ok(None),
        Some(Ok(dir)) => Cache::open(&dir, DEFAULT_MAX_BYTES).map(Some),
        Some(Err(())) => {
            let Some(dir) = Cache::default_dir() else {
                return Ok(None);
            };
            match Cache::open(&dir, DEFAULT_MAX_BYTES) {
                Ok(cache) => Ok(Some(cache)),
                Err(e) => {
                    if !quiet {
                        eprintln!("warning: {e}; going on without a cache (--no-cache)");
                    }
                    Ok(None)
                }
            }
        }
    }
}

/// What a memoized command printed: its warnings, its output and its exit status.
#[derive(bincode::Encode, bincode::Decode)]
pub struct Stored {
    pub warnings: Vec<Warning>,
    /// Lines for standard error besides the warnings (not with `-q`).
    pub notes: Vec<String>,
    pub output: Vec<u8>,
    pub exit: u8,
}

impl Stored {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.exit)
    }
}

/// A result's place in the cache: the key it is looked up with.
pub struct Memo<'s> {
    session: &'s Session,
    salt: String,
    key: Key,
}

impl<'s> Memo<'s> {
    /// The memo of a command on the session's tree; `None` without a cache, and with
    /// `--timings` (whose outputs hold times).
    /// `build_files`: whether the command reads the Makefiles and Config.in files (as
    /// `Session::scan` does) besides the sources.
    pub fn new(
        session: &'s Session,
        build_files: bool,
        salt: String,
    ) -> anyhow::Result<Option<Memo<'s>>> {
        if session.timings {
            return Ok(None);
        }
        Ok(session.fingerprint(build_files)?.map(|inputs| Memo {
            key: session.memo_key(inputs, &salt),
            session,
            salt,
        }))
    }

    pub fn get(&self) -> Option<Stored> {
        let _t = modrace::timing::Phase::start("memo");
        self.session.cache.as_ref()?.get_memo(self.key)
    }

    /// Stores a result computed from `inputs`, when those are the inputs the memo was looked
    /// up with: a file that changed during the run would file its result under the wrong key.
    pub fn put(&self, inputs: Option<Key>, stored: &Stored) {
        let Some(cache) = &self.session.cache else {
            return;
        };
        if inputs.map(|i| self.session.memo_key(i, &self.salt)) == Some(self.key) {
            cache.put_memo(self.key, stored);
            cache.finish();
        }
    }
}

/// A command that prints its warnings, then its text to standard output, and succeeds: the
/// stored result when the memo has it, else what `compute` gives (warnings, the key of its
/// inputs, the text), then stored.
pub fn printed(
    session: &Session,
    build_files: bool,
    salt: String,
    quiet: bool,
    compute: impl FnOnce() -> anyhow::Result<(Vec<Warning>, Option<Key>, String)>,
) -> anyhow::Result<ExitCode> {
    let memo = Memo::new(session, build_files, salt)?;
    if let Some(stored) = memo.as_ref().and_then(Memo::get) {
        print_warnings(&stored.warnings, quiet);
        write_stdout(&stored.output)?;
        return Ok(stored.exit_code());
    }
    let (warnings, inputs, text) = compute()?;
    print_warnings(&warnings, quiet);
    write_stdout(text.as_bytes())?;
    if let Some(memo) = &memo {
        let stored = Stored {
            warnings,
            notes: Vec::new(),
            output: text.into_bytes(),
            exit: 0,
        };
        memo.put(inputs, &stored);
    }
    Ok(ExitCode::SUCCESS)
}
