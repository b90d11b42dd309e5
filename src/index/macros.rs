//! Every object-like and function-like `#define` of the tree, by name: one table that the
//! analyses which value or judge macros (GFP masks, no-work calls, constants in the lock
//! analysis) look names up in, instead of each building its own map of every header's
//! definitions on every run.

use rayon::prelude::*;

use crate::facts::FileFacts;
use crate::normalize::MacroDef;

/// The definitions, sorted by name, then by file and position: a name's definitions are one
/// run, in the order the files were scanned.
pub struct MacroDefs<'a> {
    files: &'a [FileFacts],
    /// (name, file, index in the file's `macros`).
    sorted: Vec<(&'a str, u32, u32)>,
}

/// One definition and the file (by index) that holds it.
#[derive(Clone, Copy)]
pub struct MacroAt<'a> {
    pub file: usize,
    pub def: &'a MacroDef,
}

impl<'a> MacroDefs<'a> {
    /// Built in parallel: on a warm cache this is a sizeable share of an incremental run.
    pub fn build(files: &'a [FileFacts]) -> Self {
        let mut sorted: Vec<(&str, u32, u32)> = (files.par_iter().enumerate())
            .flat_map_iter(|(fi, f)| {
                (f.macros.iter().enumerate())
                    .map(move |(mi, m)| (m.name.as_str(), fi as u32, mi as u32))
            })
            .collect();
        sorted.par_sort_unstable();
        MacroDefs { files, sorted }
    }

    /// No definitions (a placeholder while the table is built beside the rest of the index).
    pub(super) fn empty(files: &'a [FileFacts]) -> Self {
        MacroDefs {
            files,
            sorted: Vec::new(),
        }
    }

    /// The files the definitions are in.
    pub fn files(&self) -> &'a [FileFacts] {
        self.files
    }

    /// Every definition of `name`, in file order.
    pub fn of<'s>(&'s self, name: &'s str) -> impl Iterator<Item = MacroAt<'a>> + 's {
        let start = self.sorted.partition_point(|(n, ..)| *n < name);
        let files = self.files;
        (self.sorted[start..].iter())
            .take_while(move |(n, ..)| *n == name)
            .map(move |&(_, fi, mi)| MacroAt {
                file: fi as usize,
                def: &files[fi as usize].macros[mi as usize],
            })
    }

    /// The definitions of `name` in headers: what every file may see.
    pub fn in_headers<'s>(&'s self, name: &'s str) -> impl Iterator<Item = MacroAt<'a>> + 's {
        let files = self.files;
        self.of(name)
            .filter(move |m| files[m.file].path.ends_with(".h"))
    }
}
