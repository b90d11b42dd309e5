//! Lowering of declarations: variables and their initializers, parameters, typedefs and
//! struct definitions.

use super::kinds::fields;
use super::syntax::Node;
use super::{
    declarator_name, exact, subtree_has, Designator, Field, InitItem, InitList, InitValue, Lower,
    StructDef, Text, Typedef, Variable,
};

impl InitList {
    /// Every expression of the initializer, nested lists included, depth first.
    pub fn exprs(&self) -> impl Iterator<Item = &str> + '_ {
        let mut stack: Vec<std::slice::Iter<'_, InitItem>> = vec![self.items.iter()];
        std::iter::from_fn(move || loop {
            let item = match stack.last_mut()?.next() {
                Some(item) => item,
                None => {
                    stack.pop();
                    continue;
                }
            };
            match &item.value {
                InitValue::Expr(e) => return Some(e.as_str()),
                InitValue::List(l) => stack.push(l.items.iter()),
            }
        })
    }
}

impl<'t> Lower<'_, 't> {
    /// Name and full type text of a parameter or field declaration.
    pub(super) fn declared(&self, node: Node) -> (Option<Text>, Text) {
        let base = node
            .field(fields().type_)
            .map(|t| self.text(t))
            .unwrap_or_default();
        match node.field(fields().declarator) {
            Some(d) => {
                let name = declarator_name(d).map(|n| self.text(n));
                let full = self.text(d);
                let suffix = match &name {
                    Some(n) => full.replacen(n.as_str(), "", 1),
                    None => full.to_string(),
                };
                (name, format!("{base} {}", suffix.trim()).trim().into())
            }
            None => (None, base),
        }
    }

    pub(super) fn declaration(&mut self, node: Node<'t>, depth: usize) {
        let ty = node.field(fields().type_);
        let type_name = ty.and_then(|t| self.type_name(t));
        let is_static = self.is_static(node);
        // File-scope variables, and statics in functions, can be tables.
        let keeps_tables = self.current.is_none() || is_static;
        for d in node.named_children() {
            let (decl, value) = match d.kind_str() {
                "init_declarator" => (d.field(fields().declarator), d.field(fields().value)),
                "identifier" | "array_declarator" | "pointer_declarator" => (Some(d), None),
                _ => continue,
            };
            let Some(decl) = decl else { continue };
            let Some(name) = declarator_name(decl).map(|n| self.text(n)) else {
                continue;
            };
            if self.current.is_some() && subtree_has(decl, "function_declarator") {
                self.fn_ptr_locals.push(name.clone());
                if let Some(v) = value {
                    self.field_load(&name, v);
                }
            }
            let Some(type_name) = &type_name else {
                continue;
            };
            if self.current.is_some() {
                self.locals.insert(name.clone(), type_name.clone());
            } else if !subtree_has(decl, "function_declarator") {
                self.facts.var_types.push((name.clone(), type_name.clone()));
            }
            if !keeps_tables || decl.kind_str() == "pointer_declarator" {
                continue;
            }
            let init = value
                .filter(|v| v.kind_str() == "initializer_list")
                .map(|v| self.init_list(v));
            self.facts.variables.push(Variable {
                name,
                is_static,
                type_name: type_name.clone(),
                is_array: decl.kind_str() == "array_declarator",
                line: d.line(),
                init,
            });
        }
        self.visit_children(node, depth, false);
    }

    pub(super) fn init_list(&self, node: Node) -> InitList {
        let mut items = Vec::new();
        // Where the text the last item left off starts: after the `{`.
        let mut gap = node.start_byte() + 1;
        for child in node.named_children() {
            if let Some(name) = self.bare_word(gap, child.start_byte()) {
                // A bare name between items (`OWNER_THIS_MODULE read: dev_read`), which the
                // normalizer blanked for the parser, is a macro standing for items of its
                // own; the analyses read its definition.
                items.push(InitItem {
                    designators: exact(vec![Designator::Macro]),
                    value: InitValue::Expr(name),
                    line: child.line(),
                });
            }
            gap = child.end_byte();
            let (designators, value) = match child.kind_str() {
                "initializer_pair" => {
                    let mut designators = Vec::new();
                    for d in child.children_by_field(fields().designator) {
                        match d.kind_str() {
                            "field_designator" => {
                                if let Some(f) = d.named_child(0) {
                                    designators.push(Designator::Field(self.text(f)));
                                }
                            }
                            // GNU `field: value`
                            "field_identifier" => designators.push(Designator::Field(self.text(d))),
                            _ => designators.push(Designator::Index),
                        }
                    }
                    match child.field(fields().value) {
                        Some(v) => (designators, v),
                        None => continue,
                    }
                }
                "comment" => continue,
                _ => (Vec::new(), child),
            };
            let value = if value.kind_str() == "initializer_list" {
                InitValue::List(self.init_list(value))
            } else {
                InitValue::Expr(self.text(value))
            };
            items.push(InitItem {
                designators: exact(designators),
                value,
                line: child.line(),
            });
        }
        InitList {
            items: exact(items),
        }
    }

    /// The word that the quoted text between two items holds, past the first item's comma,
    /// when it holds nothing else.
    fn bare_word(&self, from: usize, to: usize) -> Option<Text> {
        let code = self.n.code.get(from..to)?;
        let text = std::str::from_utf8(code).ok()?.trim();
        let text = text.strip_prefix(',').unwrap_or(text).trim();
        (!text.is_empty() && crate::ctext::is_word(text)).then(|| text.into())
    }

    pub(super) fn typedef(&mut self, node: Node) {
        let ty = node
            .field(fields().type_)
            .filter(|t| matches!(t.kind_str(), "struct_specifier" | "union_specifier"));
        let mut struct_name = ty
            .and_then(|t| t.field(fields().name))
            .map(|n| self.text(n));
        for d in node.children_by_field(fields().declarator) {
            let Some(n) = declarator_name(d) else {
                continue;
            };
            let name = self.text(n);
            // `typedef struct { ... } isdn_if;`: the struct is known by the typedef's name.
            if let (Some(t), None, "type_identifier") = (ty, &struct_name, d.kind_str()) {
                if t.field(fields().body).is_some() {
                    self.struct_body(t, name.clone());
                    struct_name = Some(name.clone());
                }
            }
            self.facts.typedefs.push(Typedef {
                name,
                struct_name: struct_name.clone(),
            });
        }
    }

    pub(super) fn struct_def(&mut self, node: Node) {
        if let Some(name) = node.field(fields().name) {
            let name = self.text(name);
            self.struct_body(node, name);
        }
    }

    pub(super) fn struct_body(&mut self, node: Node, name: Text) {
        let Some(body) = node.field(fields().body) else {
            return;
        };
        let mut members = Vec::new();
        for f in body.named_children() {
            if f.kind_str() != "field_declaration" {
                continue;
            }
            let ty = f.field(fields().type_);
            let struct_type = ty.and_then(|t| match t.kind_str() {
                "struct_specifier" | "union_specifier" | "type_identifier" => self.type_name(t),
                _ => None,
            });
            for d in f.children_by_field(fields().declarator) {
                let Some(fname) = declarator_name(d) else {
                    continue;
                };
                let is_fn_ptr = subtree_has(d, "function_declarator");
                let full = self.text(d);
                let fname = self.text(fname);
                let base = ty.map(|t| self.text(t)).unwrap_or_default();
                members.push(Field {
                    ty: format!("{base} {}", full.replacen(fname.as_str(), "", 1).trim())
                        .trim()
                        .into(),
                    name: fname,
                    is_fn_ptr,
                    struct_type: if is_fn_ptr { None } else { struct_type.clone() },
                    is_pointer: d.kind_str() == "pointer_declarator",
                });
            }
        }
        self.facts.structs.push(StructDef {
            name,
            fields: exact(members),
            line: node.line(),
        });
    }
}
