//! `--kb FILE`: a user's knowledge base merged over the built-in one, so that a file with one
//! `[[registration]]` adds that routine instead of replacing everything.
//!
//! Tables merge key by key; a value of the user's replaces the built-in one. In arrays of
//! tables (`[[registration]]`, `[[slot]]`, `[[sleep.primitive]]`, `bkl.roots`, ...) a user's
//! entry replaces the built-in entry with the same identity (its `name`, `struct` and `field`
//! keys) and is added otherwise; arrays of strings gain the user's strings. Removing an entry
//! takes `--kb-replace` with a whole file (`modrace kb --print` gives the built-in one).

use toml::{Table, Value};

/// `over` merged into `base`.
pub fn merge(base: &mut Table, over: Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o),
            (Some(Value::Array(b)), Value::Array(o)) => merge_array(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

fn merge_array(base: &mut Vec<Value>, over: Vec<Value>) {
    for value in over {
        match identity(&value) {
            Some(id) => {
                base.retain(|b| identity(b).as_ref() != Some(&id));
                base.push(value);
            }
            None if value.is_table() => base.push(value),
            None => {
                if !base.contains(&value) {
                    base.push(value);
                }
            }
        }
    }
}

/// What names an entry of an array of tables: the values of its identifying keys.
fn identity(value: &Value) -> Option<Vec<(&'static str, String)>> {
    let table = value.as_table()?;
    let id: Vec<(&'static str, String)> = ["name", "struct", "field"]
        .into_iter()
        .filter_map(|k| table.get(k).map(|v| (k, v.to_string())))
        .collect();
    (!id.is_empty()).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged(base: &str, over: &str) -> Table {
        let mut base: Table = toml::from_str(base).unwrap();
        merge(&mut base, toml::from_str(over).unwrap());
        base
    }

    #[test]
    fn entries_with_the_same_identity_are_replaced_others_added() {
        let base = r#"
[[registration]]
name = "register_a"
arg = 1
[[registration]]
name = "register_b"
arg = 1
[[slot]]
struct = "s"
field = "open"
takes = "name"
[sleep]
never = ["x"]
"#;
        let over = r#"
[[registration]]
name = "register_b"
arg = 2
[[registration]]
name = "register_c"
arg = 0
[[slot]]
struct = "s"
field = "read"
takes = "token"
[sleep]
never = ["x", "y"]
"#;
        let m = merged(base, over);
        let regs = m["registration"].as_array().unwrap();
        let names: Vec<(&str, i64)> = regs
            .iter()
            .map(|r| (r["name"].as_str().unwrap(), r["arg"].as_integer().unwrap()))
            .collect();
        assert_eq!(
            names,
            [("register_a", 1), ("register_b", 2), ("register_c", 0)]
        );
        assert_eq!(m["slot"].as_array().unwrap().len(), 2);
        let never: Vec<&str> = m["sleep"]["never"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(never, ["x", "y"]);
    }

    #[test]
    fn an_empty_file_changes_nothing() {
        let base = "[use_count]\nincrement = [\"INC\"]\ndecrement = [\"DEC\"]\n";
        assert_eq!(merged(base, ""), toml::from_str::<Table>(base).unwrap());
    }
}
