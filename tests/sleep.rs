//! The may-sleep analysis on the fixture tree in `tests/fixtures/sleep`.

mod support;

use std::sync::OnceLock;

use modrace::facts::FileFacts;
use modrace::index::Index;
use modrace::sleep::{Sleep, SleepAnalysis, UnknownPolicy, Verdict};
use support::{SleepTree, Tree};

/// The analysis of `tests/fixtures/sleep` under each policy, computed once.
fn tree(policy: UnknownPolicy) -> &'static SleepTree {
    static TREES: [OnceLock<SleepTree>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let slot = match policy {
        UnknownPolicy::NoSleep => 0,
        UnknownPolicy::Sleeps => 1,
        UnknownPolicy::Report => 2,
    };
    TREES[slot].get_or_init(|| support::sleep(&Tree::fixture("sleep"), policy))
}

fn analysis(policy: UnknownPolicy) -> (&'static Index<'static>, &'static SleepAnalysis) {
    let t = tree(policy);
    (&t.index, &t.analysis)
}

fn verdict(name: &str, mask: Option<&str>) -> Verdict {
    let (index, sa) = analysis(UnknownPolicy::NoSleep);
    sa.function_verdict(index, name, mask)
}

fn file_index(files: &[FileFacts], path: &str) -> usize {
    files.iter().position(|f| f.path == path).unwrap()
}

/// The index of the call of `callee` in `function` of `path`.
fn call_index(files: &[FileFacts], path: &str, function: &str, callee: &str) -> (usize, usize) {
    let fi = file_index(files, path);
    let f = &files[fi];
    let ci = f
        .calls
        .iter()
        .position(|c| {
            c.callee == callee
                && c.caller
                    .is_some_and(|k| f.functions[k as usize].name == function)
        })
        .unwrap_or_else(|| panic!("no call of {callee} in {function}"));
    (fi, ci)
}

fn steps(v: &Verdict) -> Vec<(String, String, u32)> {
    v.chain
        .iter()
        .map(|s| (s.function.clone(), s.file.clone(), s.line))
        .collect()
}

#[test]
fn request_irq_sleeps_through_kmalloc_gfp_kernel() {
    let v = verdict("request_irq", None);
    assert_eq!(v.sleeps, Sleep::Yes);
    assert_eq!(v.short_chain(), "request_irq -> kmalloc(GFP_KERNEL)");
    assert_eq!(
        steps(&v),
        vec![("request_irq".into(), "arch/i386/kernel/irq.c".into(), 12)]
    );
    assert_eq!(
        v.chain[0].call,
        "kmalloc(sizeof(struct irqaction), GFP_KERNEL)"
    );
    assert_eq!(v.mask.as_deref(), Some("GFP_KERNEL"));
    assert!(v.reason.unwrap().contains("__GFP_WAIT"));
}

#[test]
fn architecture_choice() {
    let (index, sa) = analysis(UnknownPolicy::NoSleep);
    let files = index.files;
    // Generic code sees the preferred (i386) definition.
    let (fi, ci) = call_index(files, "drivers/char/open_foo.c", "open_foo", "request_irq");
    let v = sa.call_verdict(index, fi, ci);
    assert_eq!(v.sleeps, Sleep::Yes);
    assert_eq!(
        v.short_chain(),
        "open_foo -> request_irq -> kmalloc(GFP_KERNEL)"
    );
    assert_eq!(v.chain[0].line, 13);
    // i386 code sees i386's, alpha code alpha's.
    assert_eq!(
        sa.function_verdict(index, "i386_setup", None).sleeps,
        Sleep::Yes
    );
    assert_eq!(
        sa.function_verdict(index, "alpha_setup", None).sleeps,
        Sleep::No
    );
}

#[test]
fn mask_parameter_through_wrappers() {
    let yes = verdict("sk_alloc", Some("GFP_KERNEL"));
    assert_eq!(yes.sleeps, Sleep::Yes);
    assert_eq!(
        yes.short_chain(),
        "sk_alloc -> kmem_cache_alloc(GFP_KERNEL)"
    );
    assert_eq!(verdict("sk_alloc", Some("GFP_ATOMIC")).sleeps, Sleep::No);
    assert_eq!(verdict("sk_alloc", Some("SLAB_KERNEL")).sleeps, Sleep::Yes);
    // Without a mask: conditional on the second parameter.
    let cond = verdict("sk_alloc", None);
    assert_eq!(cond.sleeps, Sleep::Unknown);
    assert_eq!(cond.conditions.len(), 1);
    assert_eq!(cond.conditions[0].param, 1);
    assert_eq!(cond.conditions[0].name, "priority");
    // Two levels of wrappers, judged at the outer call.
    assert_eq!(verdict("wrapped_kernel", None).sleeps, Sleep::Yes);
    assert_eq!(
        verdict("wrapped_kernel", None).short_chain(),
        "wrapped_kernel -> sk_alloc_twice_wrapped -> sk_alloc_inet -> sk_alloc -> kmem_cache_alloc(SLAB_KERNEL)"
    );
    assert_eq!(verdict("wrapped_atomic", None).sleeps, Sleep::No);
    assert_eq!(verdict("wrap_kernel", None).sleeps, Sleep::Yes);
    assert_eq!(verdict("wrap_atomic", None).sleeps, Sleep::No);
    let c = verdict("sk_alloc_twice_wrapped", None);
    assert_eq!(c.conditions[0].name, "gfp");
}

#[test]
fn masks_read_from_the_tree() {
    // GFP_FIXTURE_SLEEPY = GFP_BUFFER | __GFP_IO and GFP_BUFFER = __GFP_WAIT.
    assert_eq!(verdict("wrap_quiet", None).sleeps, Sleep::No);
    let local = verdict("wrap_local_mask", None);
    assert_eq!(local.sleeps, Sleep::Yes);
    assert_eq!(local.mask.as_deref(), Some("WRAP_GFP"));
    // __get_free_page is a knowledge-base primitive with the mask first.
    assert_eq!(verdict("wrap_page", None).sleeps, Sleep::Yes);
    assert_eq!(
        verdict("kmalloc", Some("GFP_FIXTURE_SLEEPY")).sleeps,
        Sleep::Yes
    );
    assert_eq!(
        verdict("kmalloc", Some("GFP_FIXTURE_QUIET")).sleeps,
        Sleep::No
    );
    // An undecidable mask is an unknown.
    let field = verdict("sock_kmalloc", None);
    assert_eq!(field.sleeps, Sleep::No);
    assert!(field.unknowns.iter().any(|u| u.contains("sk->allocation")));
}

#[test]
fn call_sites_judge_their_own_arguments() {
    let (index, sa) = analysis(UnknownPolicy::NoSleep);
    let files = index.files;
    let (fi, ci) = call_index(files, "net/ipv6/af_inet6.c", "inet6_create", "sk_alloc");
    let v = sa.call_verdict(index, fi, ci);
    assert_eq!(v.sleeps, Sleep::Yes);
    assert_eq!(v.chain[0].function, "inet6_create");
    assert_eq!(v.chain[0].call, "sk_alloc(10, GFP_KERNEL, 1)");
    assert_eq!(v.chain[1].function, "sk_alloc");
    let (fi, ci) = call_index(files, "net/ipv4/af_atomic.c", "atomic_create", "sk_alloc");
    assert_eq!(sa.call_verdict(index, fi, ci).sleeps, Sleep::No);
    // Inside sk_alloc the mask is sk_alloc's own parameter: the answer depends on the caller.
    let (fi, ci) = call_index(files, "net/core/sock.c", "sk_alloc", "kmem_cache_alloc");
    let v = sa.call_verdict(index, fi, ci);
    assert_eq!(v.sleeps, Sleep::Unknown);
    assert_eq!(v.conditions[0].name, "priority");
    // Out of range is an answer, not a panic.
    assert_eq!(sa.call_verdict(index, fi, 10_000).sleeps, Sleep::No);
    assert_eq!(sa.call_verdict(index, 10_000, 0).sleeps, Sleep::No);
}

#[test]
fn inet6_create_chain_begins_at_sk_alloc() {
    let v = verdict("inet6_create", None);
    assert_eq!(v.sleeps, Sleep::Yes);
    assert_eq!(
        v.short_chain(),
        "inet6_create -> sk_alloc -> kmem_cache_alloc(GFP_KERNEL)"
    );
    assert_eq!(v.chain[0].line, 13);
}

#[test]
fn recursion_terminates() {
    assert_eq!(verdict("ping", None).sleeps, Sleep::Yes);
    assert_eq!(
        verdict("ping", None).short_chain(),
        "ping -> pong -> schedule"
    );
    assert_eq!(verdict("pong", None).sleeps, Sleep::Yes);
    assert_eq!(verdict("is_even", None).sleeps, Sleep::No);
    assert_eq!(verdict("is_odd", None).sleeps, Sleep::No);
    assert_eq!(verdict("grow_atomic", None).sleeps, Sleep::No);
    assert_eq!(verdict("grow_kernel", None).sleeps, Sleep::Yes);
}

#[test]
fn calls_through_slots() {
    // sock_create reaches every net_proto_family.create: inet6_create sleeps.
    let v = verdict("sock_create", None);
    assert_eq!(v.sleeps, Sleep::Yes);
    assert_eq!(
        v.short_chain(),
        "sock_create -> inet6_create -> sk_alloc -> kmem_cache_alloc(GFP_KERNEL)"
    );
    assert_eq!(v.chain[1].via.as_deref(), Some("net_proto_family.create"));
    // dev->ops->start: the type of dev is declared; slow_start sleeps.
    let v = verdict("foo_start", None);
    assert_eq!(v.sleeps, Sleep::Yes);
    assert_eq!(v.short_chain(), "foo_start -> slow_start -> down");
    assert_eq!(verdict("foo_poke", None).sleeps, Sleep::No);
    // A cast names the struct; get_dev() does not, and poke is found by its field name.
    let v = verdict("foo_start_untyped", None);
    assert_eq!(v.sleeps, Sleep::Yes);
    assert!(
        v.unknowns.iter().any(|u| u == "get_dev"),
        "{:?}",
        v.unknowns
    );
    // A function pointer parameter is unknown.
    let (index, sa) = analysis(UnknownPolicy::NoSleep);
    let v = sa.function_verdict(index, "call_it", None);
    assert_eq!(v.sleeps, Sleep::No);
    assert_eq!(v.unknowns, vec!["(*fn) (function pointer)".to_string()]);
}

#[test]
fn macros_are_followed() {
    // Function-like macro of the file.
    assert_eq!(
        verdict("lock_fn", None).short_chain(),
        "lock_fn -> LOCK_MISC -> down"
    );
    // Object-like macro used as a statement.
    let v = verdict("lock_stmt", None);
    assert_eq!(v.sleeps, Sleep::Yes);
    assert_eq!(v.short_chain(), "lock_stmt -> LOCKIT -> down");
    assert_eq!(v.chain[0].call, "LOCKIT");
    // Object-like macro naming a function passes the arguments on.
    assert_eq!(verdict("alias_kernel", None).sleeps, Sleep::Yes);
    assert_eq!(verdict("alias_atomic", None).sleeps, Sleep::No);
    // Header macros, two levels deep.
    assert_eq!(
        verdict("wait_ready", None).short_chain(),
        "wait_ready -> wait_event -> __wait_event -> schedule"
    );
    assert_eq!(verdict("quiet_state", None).sleeps, Sleep::No);
    // A header macro that wraps a primitive the tree defines as a macro.
    let v = verdict("user_copy", None);
    assert_eq!(
        v.short_chain(),
        "user_copy -> copy_from_user_ret -> copy_from_user"
    );
    assert!(v.reason.unwrap().contains("user memory"));
    // A debugging macro of the same name as a function is joined with it.
    assert_eq!(verdict("read_block", None).sleeps, Sleep::Yes);
}

#[test]
fn name_verdict_for_bare_macro_statements() {
    let (index, sa) = analysis(UnknownPolicy::NoSleep);
    let fi = file_index(index.files, "drivers/misc/macros.c");
    let func = index.files[fi]
        .functions
        .iter()
        .position(|f| f.name == "lock_stmt")
        .unwrap();
    assert_eq!(
        sa.name_verdict(index, fi, func, "LOCKIT").sleeps,
        Sleep::Yes
    );
    assert_eq!(
        sa.name_verdict(index, fi, func, "NOTHING").sleeps,
        Sleep::No
    );
}

#[test]
fn primitives_and_non_sleepers() {
    assert_eq!(verdict("copy_from_user", None).sleeps, Sleep::Yes);
    assert_eq!(verdict("schedule", None).sleeps, Sleep::Yes);
    assert_eq!(verdict("printk", None).sleeps, Sleep::No);
    assert_eq!(verdict("spin_lock", None).sleeps, Sleep::No);
    assert_eq!(verdict("quiet_with_printk", None).sleeps, Sleep::No);
    let v = verdict("kmalloc", None);
    assert_eq!(v.sleeps, Sleep::Unknown);
    assert_eq!(v.conditions[0].param, 1);
}

#[test]
fn unknown_policy() {
    let v = verdict("mystery_caller", None);
    assert_eq!(v.sleeps, Sleep::No);
    assert_eq!(v.unknowns, vec!["mystery_fn".to_string()]);

    let (index, sa) = analysis(UnknownPolicy::Sleeps);
    let v = sa.function_verdict(index, "mystery_caller", None);
    assert_eq!(v.sleeps, Sleep::Yes);
    assert_eq!(v.chain[0].call, "mystery_fn(1)");
    assert!(v.reason.unwrap().contains("mystery_fn"));
    assert_eq!(
        sa.function_verdict(index, "is_even", None).sleeps,
        Sleep::No
    );

    let (index, sa) = analysis(UnknownPolicy::Report);
    assert_eq!(
        sa.function_verdict(index, "mystery_caller", None).sleeps,
        Sleep::Unknown
    );
    assert_eq!(
        sa.function_verdict(index, "is_even", None).sleeps,
        Sleep::No
    );
    assert_eq!(
        sa.function_verdict(index, "no_such_function", None).sleeps,
        Sleep::Unknown
    );
}

fn run_cli(args: &[&str]) -> (i32, String, String) {
    let root = Tree::fixture("sleep").root().to_path_buf();
    let out = support::modrace_bin()
        .arg("why-sleeps")
        .args(args)
        .arg("--tree")
        .arg(&root)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_text_and_json() {
    let (code, out, _) = run_cli(&["request_irq"]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("request_irq (arch/i386/kernel/irq.c:5) may sleep with GFP_KERNEL: request_irq -> kmalloc(GFP_KERNEL)\n"),
        "{out}"
    );
    assert!(out.contains(
        "  arch/i386/kernel/irq.c:12: request_irq: kmalloc(sizeof(struct irqaction), GFP_KERNEL)\n"
    ));

    let (code, out, _) = run_cli(&["sk_alloc", "--mask", "GFP_ATOMIC", "--format", "json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["function"], "sk_alloc");
    assert_eq!(v["sleeps"], false);
    assert!(v["chain"].as_array().unwrap().is_empty());
    assert!(v["unknowns"].is_array());

    let (code, out, _) = run_cli(&["inet6_create", "--format", "json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["sleeps"], true);
    let chain = v["chain"].as_array().unwrap();
    assert_eq!(chain[0]["function"], "inet6_create");
    assert_eq!(chain[0]["file"], "net/ipv6/af_inet6.c");
    assert_eq!(chain[0]["line"], 13);
    assert_eq!(chain[0]["call"], "sk_alloc(10, GFP_KERNEL, 1)");
    assert_eq!(chain[1]["function"], "sk_alloc");

    let (code, out, _) = run_cli(&["mystery_caller", "--unknown", "sleeps"]);
    assert_eq!(code, 0);
    assert!(out.contains("may sleep"), "{out}");

    let (code, out, _) = run_cli(&["is_even", "--file", "drivers/char/wrap.c"]);
    assert_eq!(code, 0);
    assert!(out.contains("does not sleep"), "{out}");
}

#[test]
fn cli_errors_exit_2() {
    let (code, _, err) = run_cli(&["no_such_function"]);
    assert_eq!(code, 2);
    assert!(err.contains("no_such_function"), "{err}");
    let (code, _, _) = run_cli(&["sk_alloc", "--file", "no/such/file.c"]);
    assert_eq!(code, 2);
    let (code, _, _) = run_cli(&["sk_alloc", "--unknown", "bogus"]);
    assert_eq!(code, 2);
}

#[test]
fn parameter_guards() {
    // `if (!creat) return 0;` before the allocation.
    let v = verdict("lookup", None);
    assert_eq!(v.sleeps, Sleep::Yes);
    assert!(v.reason.unwrap().ends_with("(only when creat is nonzero)"));
    assert_eq!(verdict("lookup_only", None).sleeps, Sleep::No);
    assert_eq!(verdict("lookup_create", None).sleeps, Sleep::Yes);
    assert_eq!(
        verdict("lookup_create", None).short_chain(),
        "lookup_create -> lookup -> kmalloc(GFP_KERNEL)"
    );
    assert_eq!(verdict("lookup_maybe", None).sleeps, Sleep::Yes);
    assert_eq!(verdict("lookup_maybe_not", None).sleeps, Sleep::No);
    // `if (dev > 0 && wait) schedule();`
    assert_eq!(verdict("sync_it", None).sleeps, Sleep::Yes);
    assert_eq!(verdict("sync_nowait", None).sleeps, Sleep::No);
    assert_eq!(verdict("sync_null_pointer", None).sleeps, Sleep::No);
    assert_eq!(verdict("sync_unknown", None).sleeps, Sleep::Yes);
    // No guard when the parameter is assigned, or when a label can be entered past the test.
    assert_eq!(verdict("lookup_assigned_zero", None).sleeps, Sleep::Yes);
    assert_eq!(verdict("lookup_label_zero", None).sleeps, Sleep::Yes);
    // A call site whose argument is the caller's parameter may sleep.
    let (index, sa) = analysis(UnknownPolicy::NoSleep);
    let (fi, ci) = call_index(
        index.files,
        "drivers/misc/guards.c",
        "lookup_maybe",
        "lookup",
    );
    let v = sa.call_verdict(index, fi, ci);
    assert_eq!(v.sleeps, Sleep::Yes);
    assert!(v.reason.unwrap().ends_with("(only when create is nonzero)"));
    let (fi, ci) = call_index(
        index.files,
        "drivers/misc/guards.c",
        "lookup_only",
        "lookup",
    );
    assert_eq!(sa.call_verdict(index, fi, ci).sleeps, Sleep::No);
}

#[test]
fn flag_bit_guards() {
    // `if (flags & POOL_F_USER) schedule();`, the bits valued from a header's `#define`s.
    let v = verdict("pool_extract", None);
    assert_eq!(v.sleeps, Sleep::Yes);
    assert!(v
        .reason
        .unwrap()
        .ends_with("(only when flags & 0x1 is nonzero)"));
    assert_eq!(verdict("pool_kernel", None).sleeps, Sleep::No);
    assert_eq!(verdict("pool_user", None).sleeps, Sleep::Yes);
}

#[test]
fn atomic_slots_are_not_followed() {
    assert_eq!(verdict("kfree_skb", None).sleeps, Sleep::No);
    assert_eq!(verdict("sleepy_destructor", None).sleeps, Sleep::Yes);
}
