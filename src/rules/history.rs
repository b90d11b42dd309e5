//! Findings followed across releases (`modrace history`): each finding's birth, death and
//! lifespan, as Coccinelle's Herodotos reports them, matched by [`FindingKey`] (rule, file,
//! function, slot), never by line. A finding whose file moved is matched by a path-free key
//! (rule, function, slot, module) when exactly one finding on each side has it.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::triage::FindingKey;
use super::Code;
use crate::entries::SlotRef;

/// One release of a history: its counts.
#[derive(Debug, Clone, Serialize)]
pub struct Release {
    pub tag: String,
    /// The era of the knowledge base the release was checked with.
    pub era: String,
    /// The C files read.
    pub files: usize,
    /// The files whose facts were made from their bytes (not found in the release before nor
    /// in the cache).
    pub parsed: usize,
    pub findings: usize,
    pub by_rule: BTreeMap<Code, usize>,
    /// Findings first seen in this release, and findings of the release before not seen again.
    pub born: usize,
    pub died: usize,
    /// Warnings of the run (files skipped, nesting past the bounds).
    pub warnings: usize,
}

/// A finding as one release shows it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub key: FindingKey,
    /// The module the file is built into (its object, from the build files), else the file's
    /// name: what a moved file keeps.
    pub module: String,
    pub line: u32,
    /// A hash of the text of the finding's routine (or of its file when the routine is not
    /// found): whether the routine changed when the finding went away.
    pub fingerprint: u64,
}

/// How a finding went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    /// The routine changed and the finding is gone: fixed, or rewritten.
    RoutineChanged,
    /// The file is there but the routine (or table) is not.
    FunctionRemoved,
    /// The file is not in the release.
    FileRemoved,
    /// The file is there but can no longer be built as a module.
    NotModular,
    /// The routine did not change: something it depends on did (a callee, the table it sits
    /// in, the registration).
    OtherChange,
}

impl Cause {
    pub const ALL: [Cause; 5] = [
        Cause::RoutineChanged,
        Cause::FunctionRemoved,
        Cause::FileRemoved,
        Cause::NotModular,
        Cause::OtherChange,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Cause::RoutineChanged => "routine-changed",
            Cause::FunctionRemoved => "function-removed",
            Cause::FileRemoved => "file-removed",
            Cause::NotModular => "not-modular",
            Cause::OtherChange => "other-change",
        }
    }
}

/// Where a finding died: the first release it is not in, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Death {
    /// Index into [`History::releases`].
    pub release: usize,
    pub cause: Cause,
}

/// One finding's life.
#[derive(Debug, Clone, Serialize)]
pub struct Lifeline {
    #[serde(flatten)]
    pub key: FindingKey,
    pub module: String,
    /// The line at birth.
    pub line: u32,
    /// The first and the last release the finding is in (indices into the releases).
    pub born: usize,
    pub last: usize,
    /// The releases it is in: `last - born + 1`.
    pub lifespan: usize,
    /// Still there in the last release: its death is not seen (censored).
    pub censored: bool,
    pub death: Option<Death>,
    /// Files it was matched through when its file moved: (the release, the new path).
    pub moves: Vec<(usize, String)>,
    /// A finding of the same key died before this one was born: the index of its lifeline
    /// (the finding came back: a build file that briefly stopped making the module, a change
    /// undone).
    pub returns: Option<usize>,
    #[serde(skip)]
    fingerprint: u64,
}

/// A history: the releases in order and every finding's life.
#[derive(Debug, Clone, Default, Serialize)]
pub struct History {
    pub releases: Vec<Release>,
    pub findings: Vec<Lifeline>,
}

/// The path-free key of a finding: its rule, routine, slot and module.
type PathFree = (Code, String, SlotRef, String);

fn path_free(key: &FindingKey, module: &str) -> PathFree {
    (
        key.rule,
        key.function.clone(),
        key.slot.clone(),
        module.to_string(),
    )
}

/// Builds a [`History`] one release at a time.
#[derive(Debug, Default)]
pub struct Tracker {
    history: History,
    /// The findings of the last release, by key: index into `history.findings`.
    alive: HashMap<FindingKey, usize>,
    /// The findings that died, by key: the last lifeline of each.
    dead: HashMap<FindingKey, usize>,
}

impl Tracker {
    /// Adds a release: its findings continue, move, are born; those of the release before
    /// that are not matched die, for the reason `cause` gives (their key and the fingerprint
    /// of their routine when last seen).
    pub fn release(
        &mut self,
        mut release: Release,
        seen: Vec<Seen>,
        cause: impl Fn(&FindingKey, u64) -> Cause,
    ) {
        let at = self.history.releases.len();
        let mut alive = std::mem::take(&mut self.alive);
        let mut next = HashMap::new();
        let mut unmatched = Vec::new();
        for s in seen {
            if next.contains_key(&s.key) {
                continue;
            }
            match alive.remove(&s.key) {
                Some(i) => {
                    self.continues(i, at, &s);
                    next.insert(s.key, i);
                }
                None => unmatched.push(s),
            }
        }
        // A moved file: the same rule, routine, slot and module, once on each side.
        let mut gone: HashMap<PathFree, Vec<FindingKey>> = HashMap::new();
        for (key, &i) in &alive {
            let module = &self.history.findings[i].module;
            gone.entry(path_free(key, module))
                .or_default()
                .push(key.clone());
        }
        let mut new: HashMap<PathFree, usize> = HashMap::new();
        for s in &unmatched {
            *new.entry(path_free(&s.key, &s.module)).or_default() += 1;
        }
        for s in unmatched {
            let pf = path_free(&s.key, &s.module);
            let moved = match gone.get(&pf) {
                Some(keys) if keys.len() == 1 && new[&pf] == 1 => alive.remove(&keys[0]),
                _ => None,
            };
            let i = match moved {
                Some(i) => {
                    self.continues(i, at, &s);
                    self.history.findings[i]
                        .moves
                        .push((at, s.key.file.clone()));
                    i
                }
                None => {
                    release.born += 1;
                    self.born(at, &s)
                }
            };
            next.insert(s.key, i);
        }
        let mut dead: Vec<(FindingKey, usize)> = alive.into_iter().collect();
        dead.sort_by_key(|(_, i)| *i);
        for (key, i) in dead {
            let line = &mut self.history.findings[i];
            line.death = Some(Death {
                release: at,
                cause: cause(&key, line.fingerprint),
            });
            line.censored = false;
            release.died += 1;
            self.dead.insert(key, i);
        }
        self.alive = next;
        self.history.releases.push(release);
    }

    fn continues(&mut self, i: usize, at: usize, s: &Seen) {
        let line = &mut self.history.findings[i];
        line.last = at;
        line.lifespan = at - line.born + 1;
        line.fingerprint = s.fingerprint;
        line.key.file.clone_from(&s.key.file);
    }

    fn born(&mut self, at: usize, s: &Seen) -> usize {
        self.history.findings.push(Lifeline {
            key: s.key.clone(),
            module: s.module.clone(),
            line: s.line,
            born: at,
            last: at,
            lifespan: 1,
            censored: true,
            death: None,
            moves: Vec::new(),
            returns: self.dead.get(&s.key).copied(),
            fingerprint: s.fingerprint,
        });
        self.history.findings.len() - 1
    }

    /// The release added last.
    pub fn last_release(&self) -> Option<&Release> {
        self.history.releases.last()
    }

    pub fn finish(self) -> History {
        self.history
    }
}

/// What a history comes to: births, deaths by cause, lifespans.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub releases: usize,
    pub findings: usize,
    /// Born after the first release (those of the first release were there already).
    pub born_after_first: usize,
    pub died: usize,
    pub censored: usize,
    /// Findings born with the key of one that died before: it came back.
    pub returned: usize,
    pub deaths_by_cause: BTreeMap<Cause, usize>,
    /// The median lifespan, in releases, of the findings that died, and of all findings
    /// (the censored ones counted up to the last release: a lower bound).
    pub median_lifespan_dead: Option<f64>,
    pub median_lifespan_all: Option<f64>,
}

impl History {
    pub fn summary(&self) -> Summary {
        let dead: Vec<usize> = (self.findings.iter())
            .filter(|f| f.death.is_some())
            .map(|f| f.lifespan)
            .collect();
        let all: Vec<usize> = self.findings.iter().map(|f| f.lifespan).collect();
        let mut by_cause = BTreeMap::new();
        for d in self.findings.iter().filter_map(|f| f.death.as_ref()) {
            *by_cause.entry(d.cause).or_default() += 1;
        }
        Summary {
            releases: self.releases.len(),
            findings: self.findings.len(),
            born_after_first: self.findings.iter().filter(|f| f.born > 0).count(),
            died: dead.len(),
            censored: self.findings.iter().filter(|f| f.censored).count(),
            returned: self.findings.iter().filter(|f| f.returns.is_some()).count(),
            deaths_by_cause: by_cause,
            median_lifespan_dead: median(dead),
            median_lifespan_all: median(all),
        }
    }

    /// Every `k`-th death (k chosen so that about `n` are taken), in the order of rule, file,
    /// function and slot: a sample fixed by the findings alone, to check against the diffs.
    pub fn death_sample(&self, n: usize) -> Vec<&Lifeline> {
        let mut dead: Vec<&Lifeline> = self.findings.iter().filter(|f| f.death.is_some()).collect();
        dead.sort_by(|a, b| {
            let key = |f: &Lifeline| (f.key.rule, f.key.file.clone(), f.key.function.clone());
            key(a)
                .cmp(&key(b))
                .then_with(|| a.key.slot.to_string().cmp(&b.key.slot.to_string()))
        });
        let k = dead.len().div_ceil(n.max(1)).max(1);
        dead.into_iter().step_by(k).take(n).collect()
    }
}

fn median(mut v: Vec<usize>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m] as f64
    } else {
        (v[m - 1] + v[m]) as f64 / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entries::Slot;

    fn seen(file: &str, function: &str, fingerprint: u64) -> Seen {
        Seen {
            key: FindingKey {
                rule: Code::Mr001,
                file: file.into(),
                function: function.into(),
                slot: SlotRef::Field(Slot::new("file_operations", "open")),
            },
            module: "m.o".into(),
            line: 1,
            fingerprint,
        }
    }

    fn release(tag: &str) -> Release {
        Release {
            tag: tag.into(),
            era: String::new(),
            files: 0,
            parsed: 0,
            findings: 0,
            by_rule: BTreeMap::new(),
            born: 0,
            died: 0,
            warnings: 0,
        }
    }

    #[test]
    fn findings_are_born_move_and_die() {
        let mut t = Tracker::default();
        t.release(
            release("1"),
            vec![seen("a/x.c", "f", 1), seen("a/y.c", "g", 2)],
            |_, _| unreachable!(),
        );
        // x.c moved to b/x.c; g's routine changed and its finding went away; h is born.
        t.release(
            release("2"),
            vec![seen("b/x.c", "f", 1), seen("a/y.c", "h", 3)],
            |key, fp| {
                assert_eq!((key.function.as_str(), fp), ("g", 2));
                Cause::RoutineChanged
            },
        );
        // g comes back: a new finding, that names the one that died.
        t.release(
            release("3"),
            vec![
                seen("b/x.c", "f", 1),
                seen("a/y.c", "g", 2),
                seen("a/y.c", "h", 3),
            ],
            |_, _| unreachable!(),
        );
        let h = t.finish();
        assert_eq!(h.findings.len(), 4);
        assert_eq!(h.findings[3].returns, Some(1));
        assert_eq!(h.summary().returned, 1);
        let f = &h.findings[0];
        assert_eq!((f.born, f.last, f.censored), (0, 2, true));
        assert_eq!(f.moves, vec![(1, "b/x.c".to_string())]);
        let g = &h.findings[1];
        assert_eq!((g.lifespan, g.censored), (1, false));
        assert_eq!(g.death.as_ref().unwrap().cause, Cause::RoutineChanged);
        assert_eq!((h.releases[1].born, h.releases[1].died), (1, 1));
        let s = h.summary();
        assert_eq!((s.died, s.censored, s.born_after_first), (1, 3, 2));
    }
}
