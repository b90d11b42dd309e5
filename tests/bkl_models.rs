//! The lock analysis' models besides the lock taken in C (`src/bkl/entry.rs`, `flow.rs`):
//! the lock taken by entry code (2.0), one-processor architectures, core pins, provenance of
//! a slot call's table, per-architecture judgement, call-backs into the caller's own table or
//! object and failure returns that release the lock, and a constant index into a registration
//! table, integer values a caller fixes (a constant command a callee's `switch` does not route
//! to the call, a value stored into an object two calls up) and a member's address handed to
//! a slot call, on `tests/fixtures/bkl-entry`, `tests/fixtures/bkl-callback`,
//! `tests/fixtures/bkl-flow`, and `bkl-family`, `bkl-stored`, `bkl-switch` and `bkl-member`
//! (each with its clean twin).
//!
//! Each call through a slot carries `/* bkl: VERDICT [TAGS] */`: its verdict, `pin` when a
//! core pin protects it, `entry-lock` or `uniprocessor` when that protects its held paths,
//! and `MR004` where a finding is expected.

mod support;

use std::collections::BTreeMap;

use modrace::bkl::{BklReport, Protection};
use modrace::rules::{self, Finding};
use support::Tree;

fn mr004(report: &BklReport) -> Vec<Finding> {
    let mut out = Vec::new();
    rules::mr004::check(report, &mut out);
    out
}

/// (file, line) -> the annotation's words, and the same from the analysis.
fn compare(fixture: &str) -> BklReport {
    let tree = Tree::fixture(fixture);
    let (report, _) = support::bkl(&tree);
    let expected: BTreeMap<(String, u32), String> = support::annotations(&tree, "bkl: ")
        .into_iter()
        .map(|(f, l, rest)| ((f, l), rest.trim_end_matches("*/").trim().to_string()))
        .collect();
    let findings: Vec<(String, u32)> = mr004(&report)
        .into_iter()
        .map(|f| (f.file, f.line))
        .collect();
    let mut found = BTreeMap::new();
    for slot in &report.slots {
        for site in &slot.call_sites {
            let mut words = vec![site.verdict.as_str().to_string()];
            if site.pin.is_some() {
                words.push("pin".into());
            }
            match site.protection {
                Some(Protection::EntryLock { .. }) => words.push("entry-lock".into()),
                Some(Protection::Uniprocessor { .. }) => words.push("uniprocessor".into()),
                _ => {}
            }
            let key = (site.file.clone(), site.line);
            if findings.contains(&key) {
                words.push("MR004".into());
            }
            found.insert(key, words.join(" "));
        }
    }
    assert!(expected.len() >= 2, "no annotations in {fixture}");
    assert_eq!(found, expected, "{}", modrace::report::bkl::render(&report));
    report
}

#[test]
fn entry_code_and_one_processor() {
    let report = compare("bkl-entry");
    let open = report
        .slot(&"file_operations.open".parse().unwrap())
        .unwrap();
    let site = open
        .call_sites
        .iter()
        .find(|s| s.function == "do_open")
        .unwrap();
    // The protection names the tree's own entry code.
    assert_eq!(
        site.protection,
        Some(Protection::EntryLock {
            file: "arch/i386/kernel/entry.S".into(),
            line: 9,
            takes: "ENTER_KERNEL".into()
        })
    );
}

#[test]
fn pins_provenance_and_architectures() {
    let report = compare("bkl-flow");
    let open = report
        .slot(&"file_operations.open".parse().unwrap())
        .unwrap();
    let at = |f: &str| open.call_sites.iter().find(|s| s.function == f).unwrap();
    // inode->i_fop only ever holds the device inodes' default table.
    assert_eq!(
        at("dentry_open").reaches,
        Some(vec![("fs/devices.c".into(), "chrdev_open".into())])
    );
    assert_eq!(
        at("dentry_open").pin,
        Some(Protection::CorePin {
            by: "fops_get".into(),
            line: 7
        })
    );
    // get_chrfops returns only what fops_get returns: a pinned table.
    assert!(
        matches!(&at("chrdev_open").pin, Some(Protection::CorePin { by, .. }) if by == "get_chrfops")
    );
    assert_eq!(
        at("memory_open").reaches,
        Some(vec![("drivers/char/mem.c".into(), "null_open".into())])
    );
    // file.f_op holds what the tree stores there: through get_chrfops, fops_get and chrdevs'
    // stores, every table register_chrdev is given, the module's included.
    let bare = at("bare_open").reaches.clone().unwrap();
    assert!(bare.contains(&("drivers/misc/mods.c".into(), "f_open".into())));
    assert!(!bare.iter().any(|(_, f)| f == "dflt_open"));
    // A parameter every caller passes a table for.
    assert_eq!(
        at("open_with").reaches,
        Some(vec![("fs/dflt.c".into(), "dflt_open".into())])
    );
}

#[test]
fn call_backs_into_the_callers_table_and_failure_paths() {
    let report = compare("bkl-callback");
    let open = report.slot(&"cam_ops.open".parse().unwrap()).unwrap();
    let at = |f: &str| open.call_sites.iter().find(|s| s.function == f).unwrap();
    // Every caller of cam_register passes its own table, kept through init_cam's store.
    assert_eq!(
        at("cam_register").pin,
        Some(Protection::Registering {
            routine: "cam_register".into()
        })
    );
    assert_eq!(at("cam_attach").pin, None);
}

#[test]
fn the_callers_own_object_on_every_unlocked_path() {
    let report = compare("bkl-callback");
    let open = report.slot(&"port_ops.open".parse().unwrap()).unwrap();
    let at = |f: &str| open.call_sites.iter().find(|s| s.function == f).unwrap();
    // Unlocked, port_open is only reached with card_probe's own allocated port.
    assert_eq!(
        at("port_open").pin,
        Some(Protection::Registering {
            routine: "port_register".into()
        })
    );
    assert_eq!(at("port_open_first").pin, None);
}

#[test]
fn calls_the_values_on_a_chain_rule_out() {
    let report = compare("bkl-prune");
    let open = report
        .slot(&"block_device_operations.open".parse().unwrap())
        .unwrap();
    // Unlocked, do_mount is only called for smbfs, ncpfs and nfs, none on a block device: the
    // only path left to blkdev_get is sys_mount's, under the lock.
    let site = &open.call_sites[0];
    assert!(site.unheld_chain.is_empty(), "{site:?}");
    let read_super = report
        .slot(&"file_system_type.read_super".parse().unwrap())
        .unwrap();
    let site = &read_super.call_sites[0];
    // The witness goes through the branch that is left, and the type is pinned up there.
    let calls: Vec<&str> = site.unheld_chain.iter().map(|s| s.call.as_str()).collect();
    assert!(calls.contains(&"get_sb_nodev"), "{calls:?}");
    assert!(!calls.contains(&"get_sb_bdev"), "{calls:?}");
    assert_eq!(
        site.pin,
        Some(Protection::CorePin {
            by: "get_fs_type".into(),
            line: 41
        })
    );
}

#[test]
fn a_value_that_reaches_the_device_branch_is_not_pruned() {
    let report = compare("bkl-prune-twin");
    let open = report
        .slot(&"block_device_operations.open".parse().unwrap())
        .unwrap();
    let calls: Vec<&str> = (open.call_sites[0].unheld_chain.iter())
        .map(|s| s.function.as_str())
        .collect();
    assert_eq!(calls.first(), Some(&"sys32_mount"), "{calls:?}");
}

#[test]
fn a_constant_index_reaches_only_the_tables_registered_for_it() {
    let report = compare("bkl-family");
    let create = report
        .slot(&"net_proto_family.create".parse().unwrap())
        .unwrap();
    let at = |f: &str| create.call_sites.iter().find(|s| s.function == f).unwrap();
    // rpc asks sock_create for the built-in family alone: no unlocked path reaches a module
    // routine, neither at sock_create's call nor at the module family's own slot call.
    for f in ["sock_create", "ipx_create"] {
        assert!(at(f).unheld_chain.is_empty(), "{:?}", at(f));
        assert!(!at(f).held_chain.is_empty(), "{:?}", at(f));
    }
    // A constant written at the call reaches the packet module's table alone.
    let packet = at("inet_create").reaches.clone().unwrap();
    let names: Vec<&str> = packet.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, ["packet_create"]);
    // rpc's types, stored into the socket by sock_create, are not SOCK_PACKET: the packet
    // branch of inet_create does not run under it (bkl-stored has the clean twin).
    assert!(mr004(&report).is_empty());
}

#[test]
fn a_constant_that_selects_a_module_family_keeps_its_path() {
    let report = compare("bkl-family-twin");
    let create = report
        .slot(&"net_proto_family.create".parse().unwrap())
        .unwrap();
    for site in &create.call_sites {
        let first = site.unheld_chain.first().map(|s| s.function.as_str());
        assert_eq!(first, Some("sys_rpc_connect"), "{site:?}");
    }
}

#[test]
fn an_object_from_the_callers_own_allocating_helpers() {
    let report = compare("bkl-callback");
    let open = report.slot(&"inp_ops.open".parse().unwrap()).unwrap();
    let at = |f: &str| open.call_sites.iter().find(|s| s.function == f).unwrap();
    // kbd_configure returns what kbd_new allocated: kbd_probe's device is its own.
    assert_eq!(
        at("inp_open").pin,
        Some(Protection::Registering {
            routine: "inp_register".into()
        })
    );
    assert_eq!(at("inp_open_found").pin, None);
}

/// The functions of a witness, from where it starts.
fn functions(chain: &[modrace::chain::ChainStep]) -> Vec<&str> {
    chain.iter().map(|s| s.function.as_str()).collect()
}

#[test]
fn a_value_stored_into_an_object_two_calls_up_rules_a_branch_out() {
    let report = compare("bkl-stored");
    let create = report
        .slot(&"net_proto_family.create".parse().unwrap())
        .unwrap();
    let inet = create
        .call_sites
        .iter()
        .find(|s| s.function == "inet_create");
    let inet = inet.unwrap();
    assert!(inet.unheld_chain.is_empty(), "{inet:?}");
    assert_eq!(functions(&inet.held_chain)[0], "sys_socket");
    // A table that hands the socket to a helper before its test keeps rpc's path.
    let found: Vec<String> = mr004(&report).into_iter().map(|f| f.file).collect();
    assert_eq!(found, ["net/ipv4/af_inet_old.c"]);
}

#[test]
fn a_stored_value_that_reaches_the_branch_keeps_its_path() {
    let report = compare("bkl-stored-twin");
    let create = report
        .slot(&"net_proto_family.create".parse().unwrap())
        .unwrap();
    let inet = create
        .call_sites
        .iter()
        .find(|s| s.function == "inet_create");
    assert_eq!(
        functions(&inet.unwrap().unheld_chain),
        [
            "sys_rpc_connect",
            "xprt_create_socket",
            "sock_create",
            "inet_create"
        ]
    );
}

#[test]
fn a_constant_command_the_callees_switch_does_not_route_is_no_path() {
    let report = compare("bkl-switch");
    let open = report.slot(&"dongle_reg.open".parse().unwrap()).unwrap();
    let site = &open.call_sites[0];
    assert!(site.unheld_chain.is_empty(), "{site:?}");
    assert_eq!(
        functions(&site.held_chain),
        ["sys_devioctl", "dev_ifsioc", "irport_net_ioctl"]
    );
}

#[test]
fn a_constant_command_the_callee_routes_keeps_its_path() {
    let report = compare("bkl-switch-twin");
    let open = report.slot(&"dongle_reg.open".parse().unwrap()).unwrap();
    let site = &open.call_sites[0];
    assert_eq!(
        functions(&site.unheld_chain),
        ["sys_addtunnel", "irport_net_ioctl"]
    );
}

#[test]
fn a_members_address_reaches_every_routine_and_says_so() {
    let report = compare("bkl-member");
    let open = report.slot(&"pipe_ops.open".parse().unwrap()).unwrap();
    let site = &open.call_sites[0];
    assert_eq!(site.reaches, None);
    let why = site.every_routine.as_deref().unwrap_or_default();
    assert!(why.contains("sys_pipe_start passes `&p->ops`"), "{why}");
    assert_eq!(mr004(&report).len(), 1);
}

#[test]
fn a_members_address_under_the_lock_is_held() {
    let report = compare("bkl-member-twin");
    assert!(mr004(&report).is_empty());
}
