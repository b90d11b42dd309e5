//! Node kinds as the grammar's numeric ids. The walks compare ids: `Node::kind` measures and
//! validates a C string on every call, which costs more than the walk itself on a whole tree.

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
    parenthesized_expression,
);

/// The ids of tree-sitter-c, loaded once.
pub fn kinds() -> &'static Kinds {
    static KINDS: OnceLock<Kinds> = OnceLock::new();
    KINDS.get_or_init(|| Kinds::load(&tree_sitter_c::LANGUAGE.into()))
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
    }
}
