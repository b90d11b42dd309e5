//! The parameters a function's branches and switches compare with a number or a name
//! (`switch (cmd)`, `if (sock->type == SOCK_STREAM)`). Read once when the body is lowered:
//! the lock analysis asks it of every function on a slot call's chains, and on a warm cache
//! asking the statement tree would decode thousands of bodies only to find no such test.

use serde::Serialize;

use super::body::{Body, StmtKind, Value};
use super::Text;
use crate::ctext::is_identifier;

/// A parameter, or a field read through it, that a test compares with a number or a name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, bincode::Encode, bincode::Decode)]
pub struct ComparedParam {
    /// The parameter (0-based); never one the body assigns.
    pub param: u8,
    /// The field the test reads through the parameter (`type` of `sock->type`).
    #[bincode(with_serde)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<Text>,
}

/// Each compared parameter once, in the order of the body's first test of it. `params` are
/// the parameter names, `assigned` the indices of those the body changes.
pub fn compared_params(
    body: &Body,
    params: &[Option<Text>],
    assigned: &[u8],
) -> Vec<ComparedParam> {
    let mut out = Vec::new();
    let param = |name: &str| {
        let k = params.iter().position(|p| p.as_deref() == Some(name))?;
        let k = u8::try_from(k).ok()?;
        (!assigned.contains(&k)).then_some(k)
    };
    let mut add = |v: &Value| {
        let found = match v {
            Value::Var(n) => param(n).map(|param| ComparedParam { param, field: None }),
            Value::Field(t) => t.split_once("->").and_then(|(base, field)| {
                let param = param(base)?;
                is_identifier(field).then(|| ComparedParam {
                    param,
                    field: Some(field.into()),
                })
            }),
            _ => None,
        };
        if let Some(c) = found.filter(|c| !out.contains(c)) {
            out.push(c);
        }
    };
    // Only tests against a number or a name (a macro, by convention) matter.
    let mut pair = |a: &Value, b: &Value| {
        if matches!(b, Value::Int(_) | Value::Var(_)) {
            add(a);
        }
    };
    for s in &body.stmts {
        match &s.kind {
            StmtKind::Switch { cond, .. } => pair(&cond.value, &Value::Int(0)),
            StmtKind::If { cond, .. } => compared(&cond.value, &mut pair, 0),
            _ => {}
        }
    }
    out
}

/// The sides of the equality tests in a condition, each with the other side.
fn compared(v: &Value, each: &mut impl FnMut(&Value, &Value), depth: u8) {
    if depth > 16 {
        return;
    }
    match v {
        Value::Not(a) => compared(a, each, depth + 1),
        Value::And(a, b) | Value::Or(a, b) => {
            compared(a, each, depth + 1);
            compared(b, each, depth + 1);
        }
        Value::Cmp(a, _, b) => {
            each(a, b);
            each(b, a);
        }
        _ => {}
    }
}
