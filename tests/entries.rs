//! `entries` on the example tree shipped in `examples/tree`: every registration shape.

mod support;

use modrace::entries::{EntriesReport, Entry, Outcome};
use support::Tree;

fn report() -> EntriesReport {
    let tree = Tree::from_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/tree"));
    let (report, warnings) = support::entries(&tree);
    assert!(warnings.is_empty(), "{warnings:?}");
    report
}

fn entries() -> Vec<Entry> {
    report().entries
}

fn find<'a>(entries: &'a [Entry], function: &str, slot: &str) -> &'a Entry {
    entries
        .iter()
        .find(|e| e.function == function && e.slot.to_string() == slot)
        .unwrap_or_else(|| panic!("no entry {function} {slot} in {entries:#?}"))
}

#[test]
fn gnu_initializer_via_register_chrdev() {
    let e = entries();
    let open = find(&e, "foo_open", "file_operations.open");
    assert_eq!(open.via.to_string(), "register_chrdev");
    assert_eq!(open.file, "drivers/char/foo.c");
    assert_eq!(open.line, 15);
    assert_eq!(open.registration_line, 44);
    assert_eq!(open.takes.as_str(), "name");
    assert!(open.module_capable);
    assert_eq!(open.module_evidence.as_str(), "makefile");
    assert_eq!(
        find(&e, "foo_read", "file_operations.read").takes.as_str(),
        "token"
    );
}

#[test]
fn positional_initializer_through_misc_member() {
    let e = entries();
    let open = find(&e, "beep_open", "file_operations.open");
    assert_eq!(open.via.to_string(), "misc_register");
    assert_eq!(
        find(&e, "beep_release", "file_operations.release")
            .takes
            .as_str(),
        "token"
    );
}

#[test]
fn positional_net_proto_family() {
    let e = entries();
    let create = find(&e, "fam_create", "net_proto_family.create");
    assert_eq!(create.via.to_string(), "sock_register");
    assert_eq!(create.takes.as_str(), "name");
    assert!(create.module_capable, "composite O_TARGET module");
}

#[test]
fn tables_filled_at_run_time() {
    let e = entries();
    let open = find(&e, "sx_open", "tty_driver.open");
    assert_eq!(open.via.to_string(), "tty_register_driver");
    assert_eq!(open.takes.as_str(), "name");
    assert_eq!(
        open.module_evidence.as_str(),
        "makefile",
        "obj-$(CONFIG_X) with a tristate"
    );
}

#[test]
fn arrays_of_structs_and_assigned_members() {
    let e = entries();
    let rs = find(&e, "tiny_read_super", "file_system_type.read_super");
    assert_eq!(rs.via.to_string(), "register_filesystem");
    let statfs = find(&e, "tiny_statfs", "super_operations.statfs");
    assert_eq!(statfs.via.to_string(), "super_block.s_op=");
    assert!(matches!(statfs.via, modrace::entries::Via::Store(_)));
    assert_eq!(statfs.takes.as_str(), "name");
}

#[test]
fn built_in_code_is_not_module_capable() {
    let e = entries();
    let open = find(&e, "null_open", "file_operations.open");
    assert!(!open.module_capable);
}

#[test]
fn tables_defined_by_declare_fstype() {
    let e = entries();
    // `static DECLARE_FSTYPE_DEV(...)` and a non-static `DECLARE_FSTYPE(...)`.
    let dev = find(&e, "decl_read_super", "file_system_type.read_super");
    assert_eq!(dev.via.to_string(), "register_filesystem");
    assert_eq!(dev.registration_line, 23);
    assert_eq!(dev.takes.as_str(), "name");
    assert!(dev.module_capable);
    let ram = find(&e, "declram_read_super", "file_system_type.read_super");
    assert_eq!(ram.registration_line, 26);
}

#[test]
fn local_struct_filled_then_registered() {
    let e = entries();
    let open = find(&e, "lx_open", "tty_ldisc.open");
    assert_eq!(open.via.to_string(), "tty_register_ldisc");
    assert!(matches!(open.via, modrace::entries::Via::Call(_)));
    assert_eq!(open.takes.as_str(), "name");
    assert_eq!(
        find(&e, "lx_close", "tty_ldisc.close").takes.as_str(),
        "token"
    );
    // Reported through the registration, not as a store into a kernel structure.
    assert!(!e.iter().any(|x| x.via.to_string() == "tty_ldisc.open="));
}

#[test]
fn table_inside_a_struct_named_by_a_path() {
    let e = entries();
    let open = find(&e, "lxm_open", "file_operations.open");
    assert_eq!(open.via.to_string(), "misc_register");
    assert_eq!(open.registration_line, 53);
}

#[test]
fn template_copied_then_registered() {
    let e = entries();
    let open = find(&e, "lxt_open", "file_operations.open");
    assert_eq!(open.via.to_string(), "misc_register");
    assert_eq!(open.registration_line, 77);
}

#[test]
fn local_pointer_filled_then_registered() {
    let e = entries();
    let init = find(&e, "knr_probe", "net_device.init");
    assert_eq!(init.via.to_string(), "register_netdev");
    assert_eq!(init.registration_line, 31);
}

/// 2.3.41 listed 119 routines in slot `wf_config.open`: drivers/sound/wavfront.c defines a
/// global `struct wf_config {...} dev;`, and every `dev` the facts did not know as a local or
/// parameter (K&R parameters, locals) resolved to it from any file.
#[test]
fn a_global_called_dev_is_not_everybodys_dev() {
    let e = entries();
    let wrong: Vec<_> = e
        .iter()
        .filter(|x| {
            x.slot.to_string().starts_with("wavex_config") || x.file == "drivers/sound/wavex.c"
        })
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn every_registration_call_led_somewhere() {
    let r = report();
    let none: Vec<_> = r
        .registrations
        .iter()
        .filter(|s| s.outcome != Outcome::Entries)
        .collect();
    assert!(none.is_empty(), "{none:#?}");
    assert_eq!(r.registrations.len(), 12);
}

#[test]
fn nothing_unexpected() {
    let e = entries();
    assert_eq!(e.len(), 20, "{e:#?}");
    assert!(!e.iter().any(|x| x.function == "foo_interrupt"));
}

/// A core that keeps an ops table in a file-scope list, and a module that hands it one: the
/// routine is a registration though no name pattern says so (issue 13, class 7).
const DERIVED: &str = r#"
//- /drivers/widget/core.c
struct widget_ops { int (*open)(const char *name); int (*poll)(int h); struct widget_ops *next; };
struct widget_obj { int (*done)(int h); int a, b, c, d, e; };
static struct widget_ops *widget_list;
static struct widget_ops *widget_slots[8];
static struct widget_obj *last_obj;
int attach_widget(struct widget_ops *ops)
{
	ops->next = widget_list;
	widget_list = ops;
	return 0;
}
int slot_widget(struct widget_ops *ops, int n)
{
	widget_slots[n] = ops;
	return 0;
}
int look_widget(struct widget_ops *ops)
{
	struct widget_ops *seen = ops;
	return seen != 0;
}
int queue_obj(struct widget_obj *obj)
{
	last_obj = obj;
	return 0;
}
//- /drivers/widget/mod.c
struct widget_ops { int (*open)(const char *name); int (*poll)(int h); struct widget_ops *next; };
struct widget_obj { int (*done)(int h); int a, b, c, d, e; };
extern int attach_widget(struct widget_ops *ops);
extern int slot_widget(struct widget_ops *ops, int n);
extern int look_widget(struct widget_ops *ops);
extern int queue_obj(struct widget_obj *obj);
static int my_open(const char *name) { return 0; }
static int my_poll(int h) { return h; }
static int other_open(const char *name) { return 1; }
static int seen_open(const char *name) { return 2; }
static int my_done(int h) { return h; }
static struct widget_ops my_ops = { open: my_open, poll: my_poll };
static struct widget_ops other_ops = { open: other_open };
static struct widget_ops seen_ops = { open: seen_open };
static struct widget_obj my_obj = { done: my_done };
int init_module(void)
{
	attach_widget(&my_ops);
	slot_widget(&other_ops, 2);
	look_widget(&seen_ops);
	return queue_obj(&my_obj);
}
"#;

#[test]
fn registration_routines_derived_from_the_tree() {
    use modrace::entries::Recognised;
    let tree = Tree::from_text(DERIVED);
    let (report, _) = support::entries(&tree);
    let site = |routine: &str| report.registrations.iter().find(|r| r.routine == routine);
    // A list head and an array element of the table's own type: both keep the table.
    for (routine, global, line) in [
        ("attach_widget", "widget_list", 9),
        ("slot_widget", "widget_slots", 14),
    ] {
        let s = site(routine).unwrap_or_else(|| panic!("{routine} not a registration"));
        match &s.recognised {
            Recognised::Derived(d) => {
                assert_eq!(
                    (d.arg, d.strukt.as_str(), d.global.as_str()),
                    (0, "widget_ops", global)
                );
                assert_eq!((d.file.as_str(), d.line), ("drivers/widget/core.c", line));
            }
            other => panic!("{routine} recognised as {other:?}"),
        }
    }
    let e = &report.entries;
    assert_eq!(
        find(e, "my_open", "widget_ops.open").via.to_string(),
        "attach_widget"
    );
    assert_eq!(
        find(e, "my_poll", "widget_ops.poll").via.to_string(),
        "attach_widget"
    );
    assert_eq!(
        find(e, "other_open", "widget_ops.open").via.to_string(),
        "slot_widget"
    );
    // Twins: a routine that only looks at the table (a local keeps it), and one that keeps an
    // object with one callback among many fields, register nothing.
    assert!(site("look_widget").is_none());
    assert!(site("queue_obj").is_none());
    assert!(!e
        .iter()
        .any(|x| x.function == "seen_open" || x.function == "my_done"));
}

#[test]
fn a_routine_called_only_from_its_own_file_is_not_derived() {
    let text = DERIVED.replace("\tattach_widget(&my_ops);\n", "");
    // The definition in core.c, not the declaration in mod.c.
    let text = text.replacen(
        "int slot_widget(struct widget_ops *ops, int n)",
        "static int local_user(void) { return attach_widget(0); }\nint slot_widget(struct widget_ops *ops, int n)",
        1,
    );
    let (report, _) = support::entries(&Tree::from_text(&text));
    let own: Vec<_> = (report.registrations.iter())
        .filter(|r| r.routine == "attach_widget")
        .collect();
    assert!(own.is_empty(), "{own:#?}");
    assert!(report
        .registrations
        .iter()
        .any(|r| r.routine == "slot_widget"));
}
