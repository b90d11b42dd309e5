//! Lowering of function definitions, calls and assignments: the visitor that walks a parse
//! tree and records what each function does.

use super::kinds::{fields, kinds};
use super::syntax::Node;
use super::{
    compared, declarator_name, exact, guards, kids, BareName, Body, BrokenFunction, Call,
    ElementStore, Event, FieldAssign, FieldLoad, Function, LazyBody, Lower, Param, ParseError,
    Text, MAX_DEPTH,
};
use crate::ctext::{is_ident_byte, is_ident_char};

impl<'t> Lower<'_, 't> {
    /// Text of a node without any whitespace: `a . b->c` gives `a.b->c`.
    pub(super) fn squeezed(&self, node: Node) -> Text {
        self.text(node)
            .split_whitespace()
            .collect::<String>()
            .into()
    }

    /// Text of a node from the comment-free code, whitespace collapsed.
    pub(super) fn text(&self, node: Node) -> Text {
        let bytes = &self.n.code[node.start_byte()..node.end_byte()];
        // Most texts are one printable ASCII word (names, numbers): nothing to collapse.
        if bytes.iter().all(u8::is_ascii_graphic) {
            if let Ok(word) = std::str::from_utf8(bytes) {
                return word.into();
            }
        }
        let s = String::from_utf8_lossy(bytes);
        let mut out = String::with_capacity(s.len());
        for word in s.split_whitespace() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(word);
        }
        out.as_str().into()
    }

    /// An identifier as written in the original file. Needed where a rewrite shortened it
    /// (end-of-block labels).
    pub(super) fn ident(&self, node: Node) -> Text {
        let start = node.start_byte();
        let end = self.src[start..]
            .iter()
            .position(|c| !is_ident_byte(*c))
            .map_or(self.src.len(), |k| start + k);
        String::from_utf8_lossy(&self.src[start..end.max(node.end_byte())])
            .as_ref()
            .into()
    }

    pub(super) fn visit(&mut self, node: Node<'t>, depth: usize) {
        // Set by the parent just before this call; every other caller leaves it false.
        let bare = std::mem::take(&mut self.in_bare);
        if depth > MAX_DEPTH {
            self.facts.too_deep.get_or_insert(node.line());
            return;
        }
        let k = kinds();
        let id = node.kind_id();
        if id == k.identifier {
            if let Some(f) = self.current {
                if bare {
                    self.facts.bare_names.push(BareName {
                        caller: f,
                        name: self.text(node),
                        line: node.line(),
                    });
                }
                let t = &self.n.code[node.start_byte()..node.end_byte()];
                if self.vocabulary.is_increment(t) {
                    self.facts.functions[f as usize].uses_mod_inc = true;
                }
            }
        } else if id == k.call_expression {
            let index = self.call(node);
            self.visit_children(node, depth, false);
            // Arguments are evaluated before the call itself.
            if let (true, Some(i)) = (self.events_on, index) {
                self.events.push(Event::Call(i));
            }
        } else if id == k.assignment_expression {
            self.assignment(node);
            self.note_assigned(node.field(fields().left));
            self.visit_children(node, depth, false);
        } else if id == k.update_expression {
            self.field_update(node);
            self.note_assigned(node.field(fields().argument));
            self.visit_children(node, depth, false);
            if self.events_on {
                if let Some(bump) = self.bump(node) {
                    self.events.push(bump);
                }
            }
        } else if id == k.pointer_expression {
            let takes_address = node
                .field(fields().operator)
                .is_some_and(|o| self.n.code.get(o.start_byte()) == Some(&b'&'));
            if takes_address {
                self.note_assigned(node.field(fields().argument));
            }
            self.visit_children(node, depth, false);
        } else if id == k.expression_statement {
            self.visit_children(node, depth, true);
        } else if id == k.comma_expression {
            self.visit_children(node, depth, bare);
        } else if id == k.function_definition {
            self.function(node, depth);
        } else if id == k.declaration {
            self.declaration(node, depth);
        } else if id == k.type_definition {
            self.typedef(node);
            self.visit_children(node, depth, false);
        } else if id == k.struct_specifier || id == k.union_specifier {
            self.struct_def(node);
            self.visit_children(node, depth, false);
        } else {
            if node.is_error() || node.is_missing() {
                self.error(node);
            }
            self.visit_children(node, depth, false);
        }
    }

    /// Records a plain variable (through parentheses) that an expression changes or exposes.
    pub(super) fn note_assigned(&mut self, node: Option<Node>) {
        let Some(mut n) = node else { return };
        if self.current.is_none() {
            return;
        }
        let k = kinds();
        while n.kind_id() == k.parenthesized_expression {
            match n.named_child(0) {
                Some(inner) => n = inner,
                None => return,
            }
        }
        if n.kind_id() == k.identifier {
            let name = self.text(n);
            self.assigned_names.push(name);
        }
    }

    /// Visits the children; `bare` says they stand as whole statements (the expression of an
    /// expression statement, or a part of a comma expression that is one).
    pub(super) fn visit_children(&mut self, node: Node<'t>, depth: usize, bare: bool) {
        for child in node.children() {
            // Punctuation and keywords hold nothing, unless the parser made them up.
            if child.is_named() || child.is_missing() {
                self.in_bare = bare;
                self.visit(child, depth + 1);
            }
        }
        self.in_bare = false;
    }

    pub(super) fn error(&mut self, node: Node) {
        let cause = if node.is_missing() {
            format!("missing `{}`", node.kind_str())
        } else {
            let code = &self.n.parse_input[node.start_byte()..node.end_byte()];
            let s = String::from_utf8_lossy(code);
            let first: String = s
                .split_whitespace()
                .next()
                .unwrap_or("")
                .chars()
                .take(40)
                .collect();
            let ident: String = first.chars().take_while(|c| is_ident_char(*c)).collect();
            let parent = node.parent().map_or("?", |p| p.kind_str());
            if ident.len() > 1 {
                format!("`{ident}` in {parent}")
            } else {
                format!("`{first}` in {parent}")
            }
        };
        let function = self
            .current
            .map(|f| self.facts.functions[f as usize].name.clone());
        if function.is_none() && !node.is_missing() {
            let body = &self.n.parse_input[node.start_byte()..node.end_byte()];
            if body.contains(&b'{') && body.contains(&b'(') {
                self.facts.broken_functions.push(BrokenFunction {
                    line: node.line(),
                    uses_mod_inc: self.vocabulary.mentions_increment(body),
                    cause: cause.clone(),
                });
            }
        }
        self.facts.errors.push(ParseError {
            line: node.line(),
            column: node.column(),
            function,
            cause,
        });
    }

    pub(super) fn is_static(&self, node: Node<'t>) -> bool {
        kids(node).any(|c| {
            c.kind_str() == "storage_class_specifier"
                && &self.n.code[c.start_byte()..c.end_byte()] == b"static"
        })
    }

    /// The struct name or typedef name of a type node.
    pub(super) fn type_name(&self, ty: Node) -> Option<Text> {
        match ty.kind_str() {
            "struct_specifier" | "union_specifier" => ty.field(fields().name).map(|n| self.text(n)),
            "type_identifier" => Some(self.text(ty)),
            _ => None,
        }
    }

    pub(super) fn function(&mut self, node: Node<'t>, depth: usize) {
        let Some(decl) = node.field(fields().declarator) else {
            return self.visit_children(node, depth, false);
        };
        let ret_base = node
            .field(fields().type_)
            .map(|t| self.text(t))
            .unwrap_or_else(|| "int".into());
        let mut stars = String::new();
        let mut d = decl;
        while d.kind_str() == "pointer_declarator" || d.kind_str() == "parenthesized_declarator" {
            if d.kind_str() == "pointer_declarator" {
                stars.push('*');
            }
            match d.field(fields().declarator).or_else(|| d.named_child(0)) {
                Some(inner) => d = inner,
                None => break,
            }
        }
        if d.kind_str() != "function_declarator" {
            return self.visit_children(node, depth, false);
        }
        let name = d
            .field(fields().declarator)
            .and_then(|n| declarator_name(n))
            .map(|n| self.text(n))
            .unwrap_or_default();
        // A function inside a function (or inside an error region of one) is lowered on its
        // own; the outer one resumes afterwards.
        let outer = (
            self.current,
            std::mem::take(&mut self.body),
            std::mem::take(&mut self.locals),
            std::mem::take(&mut self.local_names),
            self.events_on,
            std::mem::take(&mut self.assigned_names),
        );
        self.events_on = false;
        self.fn_ptr_locals.clear();
        let mut params = Vec::new();
        if let Some(list) = d.field(fields().parameters) {
            for p in list.named_children() {
                if p.kind_str() != "parameter_declaration" {
                    continue;
                }
                let (pname, ty) = self.declared(p);
                if let (Some(n), Some(t)) = (
                    &pname,
                    p.field(fields().type_).and_then(|t| self.type_name(t)),
                ) {
                    self.locals.insert(n.clone(), t);
                }
                if let Some(n) = &pname {
                    self.local_names.push(n.clone());
                }
                params.push(Param { name: pname, ty });
            }
        }
        if self.vocabulary.is_init_function(&name) {
            self.facts.markers.init_module = true;
        }
        let index = self.facts.functions.len() as u32;
        self.facts.functions.push(Function {
            name: name.clone(),
            is_static: self.is_static(node),
            return_type: compact_str::format_compact!(
                "{ret_base}{}{stars}",
                if stars.is_empty() { "" } else { " " }
            ),
            params: exact(params),
            line: node.line(),
            end_line: node.end_line(),
            has_error: node.has_error(),
            uses_mod_inc: false,
            locals: Box::default(),
            local_types: Box::default(),
            assigned_params: Box::default(),
            compared_params: Box::default(),
            attributes: exact(self.blanked_words(node.start_byte(), d.start_byte())),
            arch: None,
            body: LazyBody::default(),
        });
        self.current = Some(index);
        if let Some(body) = node.field(fields().body) {
            if self
                .bodies
                .wants(&self.n.code[body.start_byte()..body.end_byte()])
            {
                self.body.stmts.clear();
                self.stmt(body, depth + 1);
                // Moved out at its exact size; the scratch vector keeps its capacity for the
                // next function. A tree's bodies are most of what `check` holds in memory.
                let stmts = self.body.stmts.drain(..).collect();
                self.facts.functions[index as usize].body = Body { stmts }.into();
            } else {
                self.visit(body, depth + 1);
            }
        }
        self.call_guards(index);
        let mut locals = std::mem::take(&mut self.local_names);
        locals.sort();
        locals.dedup();
        self.facts.functions[index as usize].locals = exact(locals);
        let mut local_types: Vec<_> = std::mem::take(&mut self.locals).into_iter().collect();
        local_types.sort();
        self.facts.functions[index as usize].local_types = exact(local_types);
        (
            self.current,
            self.body,
            self.locals,
            self.local_names,
            self.events_on,
            self.assigned_names,
        ) = outer;
    }

    /// Identifiers the rewrite step blanked between `from` (moved back over the blanks before
    /// it) and `to`: the attribute macros of a declaration's head.
    pub(super) fn blanked_words(&self, from: usize, to: usize) -> Vec<Text> {
        let (p, c) = (&self.n.parse_input, &self.n.code);
        let blank = |i: usize| p[i].is_ascii_whitespace();
        let word = |i: usize| is_ident_byte(c[i]);
        let mut i = from;
        while i > 0 && blank(i - 1) {
            i -= 1;
        }
        let mut out = Vec::new();
        while i < to.min(p.len()) {
            if blank(i) && word(i) && (i == 0 || !word(i - 1)) {
                let start = i;
                while i < to && blank(i) && word(i) {
                    i += 1;
                }
                out.push(String::from_utf8_lossy(&c[start..i]).as_ref().into());
            } else {
                i += 1;
            }
        }
        out
    }

    /// The parameters the function assigns, and the guards of its calls by parameter tests
    /// (read off its statement tree, when it has one).
    pub(super) fn call_guards(&mut self, index: u32) {
        let f = &self.facts.functions[index as usize];
        if f.params.is_empty() {
            return;
        }
        let params: Vec<Option<Text>> = f.params.iter().map(|p| p.name.clone()).collect();
        let mut assigned: Vec<u8> = self
            .assigned_names
            .iter()
            .filter_map(|n| params.iter().position(|p| p.as_deref() == Some(n.as_str())))
            .filter_map(|k| u8::try_from(k).ok())
            .collect();
        assigned.sort_unstable();
        assigned.dedup();
        let mut bits = std::mem::take(&mut self.facts.guard_bits);
        let guards = guards::body_guards(&f.body, &params, &assigned, &mut bits);
        self.facts.guard_bits = bits;
        let compared = compared::compared_params(&f.body, &params, &assigned);
        for (call, guard) in guards {
            if let Some(c) = self.facts.calls.get_mut(call as usize) {
                c.guard = Some(guard);
            }
        }
        let f = &mut self.facts.functions[index as usize];
        f.assigned_params = exact(assigned);
        f.compared_params = exact(compared);
    }

    pub(super) fn call(&mut self, node: Node<'t>) -> Option<u32> {
        let function = node.field(fields().function)?;
        let indirect = function.kind_str() != "identifier";
        let callee = self.text(function);
        let args = node
            .field(fields().arguments)
            .map(|a| exact(kids(a).map(|c| self.text(c)).collect()))
            .unwrap_or_default();
        if self.current.is_none() && self.vocabulary.is_init_macro(&callee) {
            self.facts.markers.module_init = true;
        }
        self.facts.calls.push(Call {
            caller: self.current,
            callee,
            indirect,
            args,
            line: node.line(),
            column: node.column(),
            guard: None,
        });
        Some(self.facts.calls.len() as u32 - 1)
    }

    pub(super) fn assignment(&mut self, node: Node) {
        let (Some(left), Some(right)) = (node.field(fields().left), node.field(fields().right))
        else {
            return;
        };
        if left.kind_str() == "identifier" {
            let var = self.text(left);
            if self.fn_ptr_locals.contains(&var) {
                self.field_load(&var, right);
            }
            return;
        }
        // A compound store (`x->flags |= BIT`) keeps its update as written, as `x->n++` does:
        // it changes the field rather than replacing it.
        let compound = node
            .field(fields().operator)
            .is_some_and(|o| self.n.code.get(o.start_byte()) != Some(&b'='));
        let value = self.text(if compound { node } else { right });
        self.store_element(left, &value, node.line());
        self.store_field(left, value, node.line());
    }

    /// Records `array[index] = value` with `array` a plain name (a registration table).
    fn store_element(&mut self, target: Node, value: &Text, line: u32) {
        let (Some(caller), "subscript_expression") = (self.current, target.kind_str()) else {
            return;
        };
        let (Some(array), Some(index)) = (
            target.field(fields().argument),
            target.field(fields().index),
        ) else {
            return;
        };
        if array.kind_str() != "identifier" {
            return;
        }
        self.facts.element_stores.push(ElementStore {
            caller,
            array: self.text(array),
            index: self.text(index),
            value: value.clone(),
            line,
        });
    }

    /// Records `target = value` when `target` is a field (`base.field`, `base->field`).
    fn store_field(&mut self, target: Node, value: Text, line: u32) {
        if target.kind_str() != "field_expression" {
            return;
        }
        let (Some(base), Some(field)) = (
            target.field(fields().argument),
            target.field(fields().field),
        ) else {
            return;
        };
        let base_text = self.text(base);
        let base_type = if base.kind_str() == "identifier" {
            self.locals.get(&base_text).cloned()
        } else {
            None
        };
        self.facts.field_assigns.push(FieldAssign {
            caller: self.current,
            base: base_text,
            base_type,
            field: self.ident(field),
            value,
            line,
        });
    }
}

impl Lower<'_, '_> {
    /// `x->count++` stores into the field too: its value is the update as written.
    fn field_update(&mut self, node: Node) {
        if let Some(arg) = node.field(fields().argument) {
            let value = self.text(node);
            self.store_field(arg, value, node.line());
        }
    }

    /// `(*X.f)++`, `--*p->f`: an update of what a field points to, as an event; `p->f++`, an
    /// update of the field itself (a counter the path walk may follow), as another.
    fn bump(&self, node: Node) -> Option<Event> {
        let k = kinds();
        let mut n = node.field(fields().argument)?;
        while n.kind_id() == k.parenthesized_expression {
            n = n.named_child(0)?;
        }
        let up = node
            .field(fields().operator)
            .is_some_and(|o| self.n.code.get(o.start_byte()) == Some(&b'+'));
        if n.kind_str() == "field_expression" {
            return Some(Event::Step {
                field: self.squeezed(n),
                up,
            });
        }
        let op = n.field(fields().operator)?;
        if n.kind_id() != k.pointer_expression || self.n.code.get(op.start_byte()) != Some(&b'*') {
            return None;
        }
        let mut target = n.field(fields().argument)?;
        while target.kind_id() == k.parenthesized_expression {
            target = target.named_child(0)?;
        }
        if target.kind_str() != "field_expression" {
            return None;
        }
        Some(Event::Bump {
            field: self.squeezed(target),
            up,
        })
    }

    pub(super) fn field_load(&mut self, var: &str, value: Node) {
        if let (Some(caller), "field_expression") = (self.current, value.kind_str()) {
            self.facts.field_loads.push(FieldLoad {
                caller,
                var: var.into(),
                value: self.text(value),
            });
        }
    }
}
