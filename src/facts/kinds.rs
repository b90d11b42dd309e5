//! Node kinds and field names as the grammar's numeric ids. `Node::kind` measures and
//! validates a C string on every call, and `child_by_field_name` compares the name with every
//! field of the grammar; on a whole tree both cost more than the walk itself.

use std::sync::OnceLock;

macro_rules! kinds {
    ($($field:ident),* $(,)?) => {
        /// The ids of the named node kinds the lowering looks at, by kind name.
        pub struct Kinds {
            $(pub $field: u16,)*
        }

        impl Kinds {
            fn load(language: &tree_sitter::Language) -> Kinds {
                Kinds {
                    $($field: language.id_for_node_kind(stringify!($field), true),)*
                }
            }

            #[cfg(test)]
            fn all(&self) -> Vec<(&'static str, u16)> {
                vec![$((stringify!($field), self.$field),)*]
            }
        }
    };
}

kinds!(
    function_definition,
    declaration,
    type_definition,
    struct_specifier,
    union_specifier,
    call_expression,
    assignment_expression,
    identifier,
    expression_statement,
    comma_expression,
    update_expression,
    pointer_expression,
    comment,
    parenthesized_expression,
);

macro_rules! fields {
    ($($field:ident = $name:literal),* $(,)?) => {
        /// The ids of the fields the lowering reads, by field name.
        pub struct Fields {
            $(pub $field: std::num::NonZeroU16,)*
        }

        impl Fields {
            fn load(language: &tree_sitter::Language) -> Fields {
                Fields {
                    $($field: language
                        .field_id_for_name($name)
                        .expect(concat!("tree-sitter-c has the field ", $name)),)*
                }
            }
        }
    };
}

fields!(
    alternative = "alternative",
    argument = "argument",
    arguments = "arguments",
    body = "body",
    condition = "condition",
    consequence = "consequence",
    declarator = "declarator",
    designator = "designator",
    field = "field",
    function = "function",
    index = "index",
    initializer = "initializer",
    label = "label",
    left = "left",
    name = "name",
    operator = "operator",
    parameters = "parameters",
    right = "right",
    type_ = "type",
    update = "update",
    value = "value",
);

fn language() -> &'static tree_sitter::Language {
    static LANGUAGE: OnceLock<tree_sitter::Language> = OnceLock::new();
    LANGUAGE.get_or_init(|| tree_sitter_c::LANGUAGE.into())
}

/// The kind ids of tree-sitter-c, loaded once.
pub fn kinds() -> &'static Kinds {
    static KINDS: OnceLock<Kinds> = OnceLock::new();
    KINDS.get_or_init(|| Kinds::load(language()))
}

/// The field ids of tree-sitter-c, loaded once.
pub fn fields() -> &'static Fields {
    static FIELDS: OnceLock<Fields> = OnceLock::new();
    FIELDS.get_or_init(|| Fields::load(language()))
}

/// Kind names by kind id.
fn kind_names() -> &'static [&'static str] {
    static NAMES: OnceLock<Vec<&'static str>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let language = language();
        (0..language.node_kind_count() as u16)
            .map(|id| language.node_kind_for_id(id).unwrap_or(""))
            .collect()
    })
}

/// The name of a node kind, from a table instead of the grammar's C string.
pub fn kind_name(id: u16) -> &'static str {
    kind_names().get(id as usize).copied().unwrap_or("")
}

/// A cheap form of `Node::kind`, for the bare parse that walks tree-sitter's own nodes.
pub trait NodeExt {
    /// The kind name, from a table instead of the grammar's C string.
    fn kind_str(&self) -> &'static str;
}

impl NodeExt for tree_sitter::Node<'_> {
    fn kind_str(&self) -> &'static str {
        // The error symbol is numbered past the grammar's own kinds.
        if self.is_error() {
            return "ERROR";
        }
        kind_name(self.kind_id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_in_the_grammar() {
        let k = kinds();
        // `id_for_node_kind` answers 0 for a name the grammar does not have.
        for (name, id) in k.all() {
            assert_ne!(id, 0, "{name}");
        }
        let tree = crate::facts::parse(b"int f(void) { g(); }").unwrap();
        let def = tree.root_node().child(0).unwrap();
        assert_eq!(def.kind_id(), k.function_definition);
        assert_eq!(def.kind_str(), "function_definition");
        let body = def.child_by_field_id(fields().body.get()).unwrap();
        assert_eq!(body.kind_str(), body.kind());
        assert_eq!(Some(body), def.child_by_field_name("body"));
        let broken = crate::facts::parse(b"int f(void) { ## }").unwrap();
        let mut errors = Vec::new();
        let mut stack = vec![broken.root_node()];
        while let Some(n) = stack.pop() {
            if n.is_error() {
                errors.push(n.kind_str());
            }
            let mut c = n.walk();
            stack.extend(n.children(&mut c));
        }
        assert_eq!(errors.first(), Some(&"ERROR"));
    }
}
