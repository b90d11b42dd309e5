//! What the oracle knows of a call beyond its count effect: whether the build compiles it,
//! and what a helper that returns only constants returns.

use super::FileOracle;
use crate::facts::{StmtKind, Value};
use crate::index::FnRef;
use crate::paths::{Signs, NEG, POS, ZERO};

impl FileOracle<'_> {
    /// Whether call `call` is on a line the build does not compile (a branch on a symbol
    /// nothing defines, `nowork`). Only for the index's own calls: a patched text's lines
    /// are not the file's.
    pub(super) fn dead_call(&self, call: u32) -> bool {
        let own = &self.index.files[self.file].calls;
        std::ptr::eq(self.calls.as_ptr(), own.as_ptr())
            && (self.calls.get(call as usize))
                .is_some_and(|c| self.helpers.no_work.dead_line(self.file, c.line))
    }

    /// The signs of the values helper `f` returns, when every return the build compiles
    /// returns a constant (`serial_paranoia_check`, whose checks are under a symbol nothing
    /// defines, is `return 0`); `None` otherwise.
    pub(super) fn constant_returns(&self, f: FnRef) -> Option<Signs> {
        if let Some(s) = self.helpers.constant_returns.lock().unwrap().get(&f) {
            return *s;
        }
        let signs = self.read_returns(f);
        (self.helpers.constant_returns.lock().unwrap()).insert(f, signs);
        signs
    }

    fn read_returns(&self, f: FnRef) -> Option<Signs> {
        let body = self.index.function(f).body.decoded()?;
        let no_work = &self.helpers.no_work;
        let mut signs = 0;
        for stmt in &body.stmts {
            let StmtKind::Return(e) = &stmt.kind else {
                continue;
            };
            if no_work.dead_line(f.file, stmt.span.line) {
                continue;
            }
            signs |= match e.as_ref().map(|e| &e.value) {
                Some(Value::Int(0) | Value::Null) => ZERO,
                Some(Value::Int(k)) if *k < 0 => NEG,
                Some(Value::NegErrno(_)) => NEG,
                Some(Value::Int(_)) => POS,
                _ => return None,
            };
        }
        (signs != 0).then_some(signs)
    }
}
