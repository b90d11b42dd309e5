//! MR104 unbalanced-lifetime on small trees written for these tests: references taken and
//! dropped in slots the core calls at different rates, and puts on the failure path of the
//! routine's own get; and the balanced or unjudged forms of each, which must stay quiet.

mod support;

use modrace::rules::{self, RuleFilter};
use support::Tree;

fn mr104() -> RuleFilter {
    RuleFilter {
        select: vec![rules::rule("MR104").expect("MR104").code],
        ignore: vec![],
    }
}

const TTY: &str = r#"
//- /Makefile
VERSION = 6
PATCHLEVEL = 1
//- /include/linux/tty_driver.h
struct tty_struct;
struct tty_driver;
struct file;
struct module;

struct tty_operations {
	int (*install)(struct tty_driver *driver, struct tty_struct *tty);
	void (*remove)(struct tty_driver *driver, struct tty_struct *tty);
	int (*open)(struct tty_struct *tty, struct file *filp);
	void (*close)(struct tty_struct *tty, struct file *filp);
	void (*shutdown)(struct tty_struct *tty);
	void (*cleanup)(struct tty_struct *tty);
};

struct hub {
	struct module *owner;
	int up;
};
"#;

/// Each case is one module; `expect:` comments say where MR104 must fire, and nowhere else.
fn check(module: &str) {
    let tree = Tree::from_text(&format!("{TTY}{module}"));
    support::assert_expectations_with(&tree, &mr104());
}

#[test]
fn per_object_get_with_per_call_put() {
    check(
        r#"
//- /drivers/tty/clink.c
#include <linux/tty_driver.h>

static struct hub *clink_hub;

static int clink_install(struct tty_driver *driver, struct tty_struct *tty)
{
	__module_get(clink_hub->owner); /* expect: MR104 */
	return 0;
}

static void clink_close(struct tty_struct *tty, struct file *filp)
{
	module_put(clink_hub->owner);
}

static const struct tty_operations clink_ops = {
	.install	= clink_install,
	.close		= clink_close,
};

module_exit(clink_exit);
"#,
    );
}

#[test]
fn matching_slots_and_helpers_are_balanced() {
    check(
        r#"
//- /drivers/tty/clonk.c
#include <linux/tty_driver.h>

static struct hub *clonk_hub;

static int clonk_grab(void)
{
	return try_module_get(clonk_hub->owner) ? 0 : -ENODEV;
}

static int clonk_install(struct tty_driver *driver, struct tty_struct *tty)
{
	return clonk_grab();
}

static void clonk_cleanup(struct tty_struct *tty)
{
	module_put(clonk_hub->owner);
}

static int clonk_open(struct tty_struct *tty, struct file *filp)
{
	if (!try_module_get(THIS_MODULE))
		return -ENODEV;
	return 0;
}

static void clonk_close(struct tty_struct *tty, struct file *filp)
{
	module_put(THIS_MODULE);
}

static const struct tty_operations clonk_ops = {
	.install	= clonk_install,
	.cleanup	= clonk_cleanup,
	.open		= clonk_open,
	.close		= clonk_close,
};

module_exit(clonk_exit);
"#,
    );
}

/// The same module expression from different variables of the same type matches; from an
/// untyped local it is not compared.
#[test]
fn targets_compare_by_the_type_of_their_root() {
    check(
        r#"
//- /drivers/tty/clunk.c
#include <linux/tty_driver.h>

struct clunk_port {
	struct hub *hub;
};

static int clunk_open(struct tty_struct *tty, struct file *filp)
{
	struct clunk_port *port = tty_port_of(tty);

	if (!try_module_get(port->hub->owner)) /* expect: MR104 */
		return -ENODEV;
	return 0;
}

static void clunk_shutdown(struct tty_struct *tty)
{
	struct clunk_port *p = tty_port_of(tty);

	module_put(p->hub->owner);
}

static const struct tty_operations clunk_ops = {
	.open		= clunk_open,
	.shutdown	= clunk_shutdown,
};

module_exit(clunk_exit);
"#,
    );
}

#[test]
fn put_on_the_failure_path_of_the_routines_own_get() {
    check(
        r#"
//- /drivers/misc/clang.c
#include <linux/tty_driver.h>

int clang_setup(struct hub *h);

static int clang_attach(struct hub *h)
{
	int err;

	if (!try_module_get(h->owner))
		goto fail;
	err = clang_setup(h);
	if (err)
		goto fail;
	return 0;
fail:
	module_put(h->owner); /* expect: MR104 */
	return -ENODEV;
}

/* Not judged: a put reached without a reference even when every get succeeds may drop a
 * reference the routine keeps across calls (a state machine's "down"), so a second put is
 * not told apart from one. */
static int clang_cycle(struct hub *h)
{
	if (!try_module_get(h->owner))
		return -ENODEV;
	module_put(h->owner);
	if (h->up)
		return 0;
	module_put(h->owner);
	return -EIO;
}

/* A state machine: "up" takes a reference that a later call's "down" drops. */
static int clang_ctrl(struct hub *h, int cmd)
{
	switch (cmd) {
	case 1:
		if (!try_module_get(h->owner))
			return -ENODEV;
		break;
	case 2:
		module_put(h->owner);
		break;
	}
	return 0;
}

/* The variable is cleared when the get fails: the put is of nothing. */
static int clang_peek(struct module *mod)
{
	if (!try_module_get(mod))
		mod = NULL;
	if (!mod)
		return 0;
	module_put(mod);
	return 1;
}

/* A get inside another call's argument: not judged. */
static int clang_hint(struct hub *h)
{
	if (unlikely(!try_module_get(h->owner)))
		goto out;
	return 0;
out:
	module_put(h->owner);
	return -ENODEV;
}

/* Balanced: the put is on the get's own success path only. */
static int clang_probe(struct hub *h)
{
	int err;

	if (!try_module_get(h->owner))
		return -ENODEV;
	err = clang_setup(h);
	if (err)
		goto put;
	return 0;
put:
	module_put(h->owner);
	return err;
}

/* A get under && is not modelled by the walk: not judged. */
static int clang_maybe(struct hub *h)
{
	if (h->up && !try_module_get(h->owner))
		return -ENODEV;
	module_put(h->owner);
	return 0;
}

module_exit(clang_exit);
"#,
    );
}

/// A module that cannot be unloaded: its own references are not judged.
#[test]
fn self_references_of_a_module_that_stays() {
    check(
        r#"
//- /drivers/tty/clonk2.c
#include <linux/tty_driver.h>

static int stay_open(struct tty_struct *tty, struct file *filp)
{
	__module_get(THIS_MODULE);
	return 0;
}

static void stay_cleanup(struct tty_struct *tty)
{
	module_put(THIS_MODULE);
}

static const struct tty_operations stay_ops = {
	.open		= stay_open,
	.cleanup	= stay_cleanup,
};
"#,
    );
}
