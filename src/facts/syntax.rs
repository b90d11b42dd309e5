//! The parse tree as one flat array, built by a single walk of tree-sitter's tree.
//!
//! The lowering asks for children, fields and parents many times per node. In tree-sitter each
//! of those walks the tree again (children through hidden nodes, fields through field maps,
//! parents down from the root); on a whole kernel tree those walks cost more than the lowering
//! itself. Here every visible node is an entry with its links, filled by one cursor walk, and
//! the tree-sitter tree can be freed before the lowering starts.

use std::num::NonZeroU16;

use super::kinds::kind_name;

const NONE: u32 = u32::MAX;
const NAMED: u8 = 1;
const MISSING: u8 = 2;
const ERROR: u8 = 4;
const HAS_ERROR: u8 = 8;

/// One visible node.
#[derive(Debug, Clone, Copy)]
pub struct RawNode {
    start_byte: u32,
    end_byte: u32,
    start_row: u32,
    start_column: u32,
    end_row: u32,
    parent: u32,
    first_child: u32,
    next_sibling: u32,
    kind: u16,
    /// The field this node fills in its parent, 0 for none.
    field: u16,
    flags: u8,
}

/// A parse tree: its visible nodes in preorder, the root first.
#[derive(Debug, Default)]
pub struct SyntaxTree {
    nodes: Vec<RawNode>,
}

impl SyntaxTree {
    /// Flattens `tree`, reusing the storage of `spare` (a tree no longer needed).
    pub fn build(tree: &tree_sitter::Tree, spare: SyntaxTree) -> SyntaxTree {
        let mut nodes = spare.nodes;
        nodes.clear();
        // The open ancestors of the cursor's node, each with its last child so far.
        let mut open: Vec<(u32, u32)> = Vec::new();
        let mut cursor = tree.walk();
        loop {
            let node = cursor.node();
            let field = cursor.field_id().map_or(0, NonZeroU16::get);
            // Punctuation and keywords outside a field say nothing the lowering reads, unless
            // the parser made them up; leaving them out saves a third of the entries.
            let (named, missing) = (node.is_named(), node.is_missing());
            let keep = field != 0 || named || missing || node.child_count() > 0;
            let id = nodes.len() as u32;
            if keep {
                let parent = match open.last_mut() {
                    Some((parent, last)) => {
                        if *last == NONE {
                            nodes[*parent as usize].first_child = id;
                        } else {
                            nodes[*last as usize].next_sibling = id;
                        }
                        *last = id;
                        *parent
                    }
                    None => NONE,
                };
                let start = node.start_position();
                let flags = (named as u8 * NAMED)
                    | (missing as u8 * MISSING)
                    | (node.is_error() as u8 * ERROR)
                    | (node.has_error() as u8 * HAS_ERROR);
                nodes.push(RawNode {
                    start_byte: node.start_byte() as u32,
                    end_byte: node.end_byte() as u32,
                    start_row: start.row as u32,
                    start_column: start.column as u32,
                    end_row: node.end_position().row as u32,
                    parent,
                    first_child: NONE,
                    next_sibling: NONE,
                    kind: node.kind_id(),
                    field,
                    flags,
                });
            }
            if keep && cursor.goto_first_child() {
                open.push((id, NONE));
                continue;
            }
            loop {
                if cursor.goto_next_sibling() {
                    break;
                }
                if !cursor.goto_parent() {
                    return SyntaxTree { nodes };
                }
                open.pop();
            }
        }
    }

    pub fn root(&self) -> Option<Node<'_>> {
        (!self.nodes.is_empty()).then_some(Node { tree: self, id: 0 })
    }
}

/// A node of a [`SyntaxTree`]: the subset of `tree_sitter::Node` the lowering uses.
#[derive(Clone, Copy)]
pub struct Node<'t> {
    tree: &'t SyntaxTree,
    id: u32,
}

impl PartialEq for Node<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id && std::ptr::eq(self.tree, other.tree)
    }
}

impl std::fmt::Debug for Node<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} [{}..{}]",
            self.kind_str(),
            self.start_byte(),
            self.end_byte()
        )
    }
}

impl<'t> Node<'t> {
    fn raw(&self) -> &'t RawNode {
        &self.tree.nodes[self.id as usize]
    }

    fn at(&self, id: u32) -> Option<Node<'t>> {
        (id != NONE).then_some(Node {
            tree: self.tree,
            id,
        })
    }

    pub fn kind_id(&self) -> u16 {
        self.raw().kind
    }

    /// The kind name, `ERROR` for an error node.
    pub fn kind_str(&self) -> &'static str {
        if self.is_error() {
            return "ERROR";
        }
        kind_name(self.kind_id())
    }

    pub fn is_named(&self) -> bool {
        self.raw().flags & NAMED != 0
    }

    /// A node the parser made up to recover from an error.
    pub fn is_missing(&self) -> bool {
        self.raw().flags & MISSING != 0
    }

    pub fn is_error(&self) -> bool {
        self.raw().flags & ERROR != 0
    }

    /// Whether the node or a descendant is an error or missing.
    pub fn has_error(&self) -> bool {
        self.raw().flags & HAS_ERROR != 0
    }

    pub fn start_byte(&self) -> usize {
        self.raw().start_byte as usize
    }

    pub fn end_byte(&self) -> usize {
        self.raw().end_byte as usize
    }

    /// 1-based line of the first byte.
    pub fn line(&self) -> u32 {
        self.raw().start_row + 1
    }

    /// 1-based column (in bytes) of the first byte.
    pub fn column(&self) -> u32 {
        self.raw().start_column + 1
    }

    /// 1-based line of the last byte.
    pub fn end_line(&self) -> u32 {
        self.raw().end_row + 1
    }

    pub fn parent(&self) -> Option<Node<'t>> {
        self.at(self.raw().parent)
    }

    /// The visible children that are named, in a field, or made up by the parser: punctuation
    /// and keywords outside a field are left out.
    pub fn children(&self) -> Children<'t> {
        Children {
            tree: self.tree,
            next: self.raw().first_child,
        }
    }

    pub fn named_children(&self) -> impl Iterator<Item = Node<'t>> {
        self.children().filter(Node::is_named)
    }

    pub fn named_child(&self, i: usize) -> Option<Node<'t>> {
        self.named_children().nth(i)
    }

    /// The first child in the field.
    pub fn field(&self, field: NonZeroU16) -> Option<Node<'t>> {
        self.children().find(|c| c.raw().field == field.get())
    }

    /// Every child in the field (`declarator` of `int a, b;`).
    pub fn children_by_field(&self, field: NonZeroU16) -> impl Iterator<Item = Node<'t>> {
        self.children()
            .filter(move |c| c.raw().field == field.get())
    }
}

pub struct Children<'t> {
    tree: &'t SyntaxTree,
    next: u32,
}

impl<'t> Iterator for Children<'t> {
    type Item = Node<'t>;

    fn next(&mut self) -> Option<Node<'t>> {
        if self.next == NONE {
            return None;
        }
        let node = Node {
            tree: self.tree,
            id: self.next,
        };
        self.next = node.raw().next_sibling;
        Some(node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every node, child, field and flag of the flat tree agrees with tree-sitter's own
    /// answers, on code with errors, hidden nodes and repeated fields.
    #[test]
    fn agrees_with_tree_sitter() {
        let src = b"struct s { int (*open)(int), a:3; };\n\
            static int f(int x, char **y) { int a = 1, b; if (x) goto out; \
            switch (x) { case 1: a = g(x, y[0]); break; default: ; } \
            do { a++; } while (0); out: return a ? : -EIO; }\n\
            struct s t = { .open = f, [2] = 3, a: 4 };\n\
            int broken(void) { ## ; x = ; }\n";
        let ts = crate::facts::parse(src).unwrap();
        let flat = SyntaxTree::build(&ts, SyntaxTree::default());
        let language: tree_sitter::Language = tree_sitter_c::LANGUAGE.into();
        let mut pairs = vec![(ts.root_node(), flat.root().unwrap())];
        let mut seen = 0;
        while let Some((a, b)) = pairs.pop() {
            seen += 1;
            assert_eq!(a.kind_id(), b.kind_id());
            assert_eq!(a.is_named(), b.is_named());
            assert_eq!(a.is_missing(), b.is_missing());
            assert_eq!(a.is_error(), b.is_error());
            assert_eq!(a.has_error(), b.has_error());
            assert_eq!(a.byte_range(), b.start_byte()..b.end_byte());
            assert_eq!(a.start_position().row as u32 + 1, b.line());
            assert_eq!(a.start_position().column as u32 + 1, b.column());
            assert_eq!(a.end_position().row as u32 + 1, b.end_line());
            assert_eq!(
                a.parent().map(|p| p.byte_range()),
                b.parent().map(|p| p.start_byte()..p.end_byte())
            );
            for id in 1..language.field_count() as u16 {
                let field = NonZeroU16::new(id).unwrap();
                let expected = a.child_by_field_id(id).map(|n| n.byte_range());
                let got = b.field(field).map(|n| n.start_byte()..n.end_byte());
                assert_eq!(expected, got, "field {id} of {}", a.kind());
                let mut cursor = a.walk();
                let all: Vec<_> = a
                    .children_by_field_id(field, &mut cursor)
                    .map(|n| n.byte_range())
                    .collect();
                let got: Vec<_> = b
                    .children_by_field(field)
                    .map(|n| n.start_byte()..n.end_byte())
                    .collect();
                assert_eq!(all, got);
            }
            let mut cursor = a.walk();
            let kids: Vec<_> = a
                .children(&mut cursor)
                .enumerate()
                .filter(|&(i, c)| {
                    c.is_named() || c.is_missing() || a.field_name_for_child(i as u32).is_some()
                })
                .map(|(_, c)| c)
                .collect();
            let flat_kids: Vec<_> = b.children().collect();
            assert_eq!(kids.len(), flat_kids.len(), "children of {}", a.kind());
            assert_eq!(
                a.named_child(0).map(|n| n.kind_id()),
                b.named_child(0).map(|n| n.kind_id())
            );
            pairs.extend(kids.into_iter().zip(flat_kids));
        }
        assert!(seen > 100, "{seen} nodes");
        assert!(flat.root().unwrap().has_error());
    }

    #[test]
    fn storage_is_reused() {
        let one = crate::facts::parse(b"int a;").unwrap();
        let two = crate::facts::parse(b"int f(void) { return 0; }").unwrap();
        let first = SyntaxTree::build(&two, SyntaxTree::default());
        let n = first.nodes.len();
        let second = SyntaxTree::build(&one, first);
        assert!(second.nodes.len() < n);
        assert_eq!(second.root().unwrap().kind_str(), "translation_unit");
    }
}
