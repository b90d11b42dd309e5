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
