//! modrace: find module unload races in Linux kernel source trees.
//!
//! The pipeline: [`source`] finds files, [`normalize`] makes kernel C parseable without a
//! compiler, [`facts`] lowers each file to small owned facts (no parse tree outlives its file),
//! [`scan`] does that for a whole tree in parallel, [`index`] joins the facts, and commands
//! such as [`entries`] and [`stats`] read the index.

pub mod bkl;
pub mod buildinfo;
pub mod cache;
pub mod cfg;
pub mod chain;
pub mod ctext;
pub mod diag;
pub mod entries;
pub mod facts;
pub mod fix;
pub mod index;
pub mod kb;
pub mod normalize;
pub mod nowork;
pub mod owners;
pub mod paths;
pub mod progress;
pub mod report;
pub mod rules;
pub mod scan;
pub mod session;
pub mod sleep;
pub mod source;
pub mod stats;
pub mod timing;
pub mod usecount;
