//! Tested values: the part of an expression's meaning the path analyses use.

use serde::Serialize;

use super::super::kinds::fields;
use super::super::syntax::Node;
use super::super::{kids, Lower, Text};
use super::Assign;
use crate::ctext::parse_int;

#[derive(Debug, Clone, Copy, Serialize, bincode::Encode, bincode::Decode, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    fn parse(op: &str) -> Option<CmpOp> {
        Some(match op {
            "==" => CmpOp::Eq,
            "!=" => CmpOp::Ne,
            "<" => CmpOp::Lt,
            "<=" => CmpOp::Le,
            ">" => CmpOp::Gt,
            ">=" => CmpOp::Ge,
            _ => return None,
        })
    }
}

/// The part of an expression's meaning that the path analyses use: integers, null pointers,
/// negative error codes, variables, call results, and tests built from them.
#[derive(Debug, Clone, Default, Serialize, bincode::Encode, bincode::Decode, PartialEq, Eq)]
pub enum Value {
    Int(i64),
    Null,
    /// A negated constant such as `-EBUSY`: an error code.
    NegErrno(#[bincode(with_serde)] Text),
    Var(#[bincode(with_serde)] Text),
    /// A field read, as written without spaces (`sd_template.module`, `dev->priv`).
    Field(#[bincode(with_serde)] Text),
    /// The result of a call (index into the file's `calls`).
    Call(u32),
    Not(Box<Value>),
    Cmp(Box<Value>, CmpOp, Box<Value>),
    And(Box<Value>, Box<Value>),
    Or(Box<Value>, Box<Value>),
    /// `a & b`: a flag-bit test when one side is a parameter and the other a constant.
    BitAnd(Box<Value>, Box<Value>),
    /// `c ? a : b`: one of two values (which one is not kept; the condition's calls and
    /// assignments are).
    Choice(Box<Value>, Box<Value>),
    /// An element of an array named by a plain name (`video_device[minor]`): the name.
    Element(#[bincode(with_serde)] Text),
    #[default]
    Unknown,
}

impl<'t> Lower<'_, 't> {
    /// The value of an expression node. `first_call` is where this expression's calls start
    /// in the file's `calls`, to name call results.
    pub(super) fn value(
        &self,
        node: Node<'t>,
        first_call: usize,
        assigns: &mut Vec<Assign>,
        depth: usize,
    ) -> Value {
        if depth > 64 {
            return Value::Unknown;
        }
        let sub = |n: Option<Node<'t>>, assigns: &mut Vec<Assign>| match n {
            Some(n) => self.value(n, first_call, assigns, depth + 1),
            None => Value::Unknown,
        };
        match node.kind_str() {
            "number_literal" => parse_int(&self.text(node)).map_or(Value::Unknown, Value::Int),
            "null" => Value::Null,
            "identifier" => {
                let t = self.text(node);
                if t == "NULL" {
                    Value::Null
                } else {
                    Value::Var(t)
                }
            }
            "field_expression" => Value::Field(
                self.text(node)
                    .split_whitespace()
                    .collect::<String>()
                    .into(),
            ),
            "parenthesized_expression" => match kids(node).next() {
                Some(c) => self.value(c, first_call, assigns, depth + 1),
                None => Value::Unknown,
            },
            "cast_expression" => sub(node.field(fields().value), assigns),
            "subscript_expression" => self.element(node, first_call, assigns, depth),
            "comma_expression" => {
                sub(node.field(fields().left), assigns);
                sub(node.field(fields().right), assigns)
            }
            "unary_expression" => {
                let arg = node.field(fields().argument);
                let op = node
                    .field(fields().operator)
                    .map(|o| self.text(o))
                    .unwrap_or_default();
                match op.as_str() {
                    "!" => Value::Not(Box::new(sub(arg, assigns))),
                    "-" => match arg.map(|a| (a.kind_str(), self.text(a))) {
                        Some(("number_literal", t)) => {
                            parse_int(&t).map_or(Value::Unknown, |v| Value::Int(-v))
                        }
                        Some(("identifier", t)) if is_constant_name(&t) => Value::NegErrno(t),
                        _ => Value::Unknown,
                    },
                    _ => Value::Unknown,
                }
            }
            "binary_expression" => {
                let op = node
                    .field(fields().operator)
                    .map(|o| self.text(o))
                    .unwrap_or_default();
                let left = sub(node.field(fields().left), assigns);
                let right = sub(node.field(fields().right), assigns);
                match op.as_str() {
                    "&&" => Value::And(Box::new(left), Box::new(right)),
                    "||" => Value::Or(Box::new(left), Box::new(right)),
                    "&" => Value::BitAnd(Box::new(left), Box::new(right)),
                    _ => match CmpOp::parse(&op) {
                        Some(cmp) => Value::Cmp(Box::new(left), cmp, Box::new(right)),
                        None => Value::Unknown,
                    },
                }
            }
            "assignment_expression" => {
                let right = sub(node.field(fields().right), assigns);
                let left = node.field(fields().left);
                let plain = node
                    .field(fields().operator)
                    .is_none_or(|o| self.text(o) == "=");
                match left {
                    Some(l) if l.kind_str() == "identifier" => {
                        let var = self.text(l);
                        assigns.push(Assign {
                            var: var.clone(),
                            value: if plain { right } else { Value::Unknown },
                        });
                        Value::Var(var)
                    }
                    _ => right,
                }
            }
            "conditional_expression" => {
                sub(node.field(fields().condition), assigns);
                let a = sub(node.field(fields().consequence), assigns);
                let b = sub(node.field(fields().alternative), assigns);
                Value::Choice(Box::new(a), Box::new(b))
            }
            "call_expression" => {
                if let Some(args) = node.field(fields().arguments) {
                    for a in kids(args) {
                        self.value(a, first_call, assigns, depth + 1);
                    }
                }
                let (l, col) = (node.line(), node.column());
                self.facts.calls[first_call.min(self.facts.calls.len())..]
                    .iter()
                    .position(|c| c.line == l && c.column == col)
                    .map_or(Value::Unknown, |k| Value::Call((first_call + k) as u32))
            }
            _ => Value::Unknown,
        }
    }
}

impl<'t> Lower<'_, 't> {
    /// `name[i]`: an element of a named array (the index's calls and assignments are kept).
    fn element(
        &self,
        node: Node<'t>,
        first_call: usize,
        assigns: &mut Vec<Assign>,
        depth: usize,
    ) -> Value {
        if let Some(i) = node.field(fields().index) {
            self.value(i, first_call, assigns, depth + 1);
        }
        match node.field(fields().argument) {
            Some(a) if a.kind_str() == "identifier" => Value::Element(self.text(a)),
            _ => Value::Unknown,
        }
    }
}

/// Upper-case names are constants by kernel convention (`EBUSY`, `ENODEV`).
fn is_constant_name(name: &str) -> bool {
    name.bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}
