//! `--relative-to DIR`: the paths of a report as the command line rewrites them (relative to
//! DIR instead of the tree's root), with the way back to the tree's own paths, which read the
//! files and name the patches.

use std::collections::HashMap;

use crate::fix::FilePatch;
use crate::rules::CheckReport;

/// A report and patches with renamed paths, and the tree path of each renamed one.
pub(crate) struct Rebased {
    pub report: CheckReport,
    pub patches: Vec<FilePatch>,
    /// Renamed path to the path in the tree.
    pub original: HashMap<String, String>,
}

impl Rebased {
    /// The tree's own path of a path of the renamed report.
    pub fn tree_path<'p>(&'p self, path: &'p str) -> &'p str {
        self.original.get(path).map_or(path, String::as_str)
    }
}

pub(crate) fn rebase(
    report: &CheckReport,
    patches: &[FilePatch],
    rename: &dyn Fn(&str) -> String,
) -> Rebased {
    let mut original = HashMap::new();
    let mut path = |p: &mut String| {
        let renamed = rename(p);
        if renamed != *p {
            original.insert(renamed.clone(), std::mem::replace(p, renamed));
        }
    };
    let mut report = report.clone();
    let suppressed = report
        .suppressed
        .iter_mut()
        .flatten()
        .map(|s| &mut s.finding);
    for f in report.findings.iter_mut().chain(suppressed) {
        path(&mut f.file);
        f.evidence.iter_mut().for_each(|e| path(&mut e.file));
        f.chain.iter_mut().for_each(|c| path(&mut c.file));
    }
    let mut patches = patches.to_vec();
    patches.iter_mut().for_each(|p| path(&mut p.file));
    Rebased {
        report,
        patches,
        original,
    }
}
