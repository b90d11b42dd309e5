//! The tree's struct typedefs, as one map.

use rustc_hash::FxHashMap as HashMap;

use crate::facts::FileFacts;
use crate::kb::Kb;

type Typedefs<'a> = HashMap<&'a str, &'a str>;

/// Struct typedefs, tree-wide: a header's wins over a C file's, and a C file's does not rebind
/// a struct tag (`is_struct`, or the knowledge base's) to another: 2.2's s390 drivers'
/// `typedef struct device net_device;` would make every `struct net_device` a `device`.
pub(super) fn tree_typedefs<'a>(
    files: &'a [FileFacts],
    is_struct: impl Fn(&str) -> bool,
    kb: &Kb,
) -> Typedefs<'a> {
    let mut typedefs: HashMap<&str, (&str, bool)> = HashMap::default();
    for (f, t) in files
        .iter()
        .flat_map(|f| f.typedefs.iter().map(move |t| (f, t)))
    {
        let (Some(s), header) = (&t.struct_name, f.path.ends_with(".h")) else {
            continue;
        };
        let e = typedefs.entry(&t.name).or_insert((s, header));
        if header && !e.1 {
            *e = (s, header);
        }
    }
    (typedefs.into_iter())
        .filter(|(name, (tag, header))| {
            *header || name == tag || !(is_struct(name) || kb.is_kernel_struct(name))
        })
        .map(|(name, (tag, _))| (name, tag))
        .collect()
}
