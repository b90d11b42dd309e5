//! One small fixture per rule and a snapshot of the `text` rendering of that rule's findings,
//! as ruff does. The fixtures are string fixtures written for these tests; their `expect:`
//! comments must be met exactly, and the snapshots (in `tests/fixtures/rules/snapshots/`) show
//! what a user reads.

mod support;

use modrace::rules::{self, RuleFilter};
use support::Tree;

/// Declarations every fixture shares: the ops table, the masks, and a core routine that sleeps
/// through its allocation.
const PRELUDE: &str = r#"
//- /include/linux/fs.h
struct inode;
struct file;
struct module;

struct file_operations {
	struct module *owner;
	int (*read) (struct file *, char *, unsigned long, long long *);
	int (*open) (struct inode *, struct file *);
	int (*release) (struct inode *, struct file *);
};

int register_chrdev(unsigned int major, const char *name, struct file_operations *fops);
//- /include/linux/mm.h
#define __GFP_WAIT	0x01
#define __GFP_HIGH	0x08
#define GFP_ATOMIC	(__GFP_HIGH)
#define GFP_KERNEL	(__GFP_WAIT | 0x10)

void *kmalloc(unsigned int size, int flags);
//- /kernel/irq.c
#include <linux/mm.h>

int request_irq(unsigned int irq, void (*handler)(int, void *), unsigned long flags,
		const char *name, void *dev_id)
{
	void *action = kmalloc(64, GFP_KERNEL);

	if (!action)
		return -ENOMEM;
	return 0;
}
"#;

/// A tree of the prelude and `module`; checks that the `expect:` comments are met and
/// renders the findings of `code` as text.
fn rendered(code: &str, module: &str) -> String {
    let tree = Tree::from_text(&format!("{PRELUDE}{module}"));
    let code = rules::rule(code).expect("a rule code").code;
    let only = RuleFilter {
        select: vec![code],
        ignore: vec![],
    };
    support::assert_expectations_with(&tree, &only);
    let report = support::check(&tree, &only);
    assert!(
        !report.findings.is_empty() && report.findings.iter().all(|f| f.rule == code),
        "{code}: {:#?}",
        report.findings
    );
    support::render_text(&tree, &report)
}

macro_rules! snapshot {
    ($name:expr, $value:expr) => {
        insta::with_settings!({
            snapshot_path => "fixtures/rules/snapshots",
            prepend_module_to_snapshot => false,
        }, {
            insta::assert_snapshot!($name, $value);
        })
    };
}

#[test]
fn mr001_sleep_before_inc() {
    let text = rendered(
        "MR001",
        r#"
//- /drivers/char/ding.c
#include <linux/fs.h>

static void ding_irq(int irq, void *dev) { }

static int ding_open(struct inode *inode, struct file *file)
{
	if (request_irq(5, ding_irq, 0, "ding", NULL)) /* expect: MR001 */
		return -EBUSY;
	MOD_INC_USE_COUNT;
	return 0;
}

static struct file_operations ding_fops = { open: ding_open };

static int ding_init(void)
{
	return register_chrdev(70, "ding", &ding_fops);
}

module_init(ding_init);
"#,
    );
    snapshot!("mr001", text);
}

#[test]
fn mr002_leak_on_failure() {
    let text = rendered(
        "MR002",
        r#"
//- /drivers/char/pump.c
#include <linux/fs.h>

static int pump_busy;

static int pump_open(struct inode *inode, struct file *file)
{
	MOD_INC_USE_COUNT;
	if (pump_busy)
		return -EBUSY; /* expect: MR002 */
	pump_busy = 1;
	return 0;
}

static struct file_operations pump_fops = { .open = pump_open };

static int pump_init(void)
{
	return register_chrdev(71, "pump", &pump_fops);
}

module_init(pump_init);
"#,
    );
    snapshot!("mr002", text);
}

#[test]
fn mr003_missing_inc() {
    let text = rendered(
        "MR003",
        r#"
//- /drivers/char/lamp.c
#include <linux/fs.h>

static int lamp_on;

static int lamp_open(struct inode *inode, struct file *file) /* expect: MR003 */
{
	if (lamp_on)
		return -EBUSY;
	lamp_on = 1;
	return 0;
}

static struct file_operations lamp_fops = { open: lamp_open };

static int lamp_init(void)
{
	return register_chrdev(72, "lamp", &lamp_fops);
}

module_init(lamp_init);
"#,
    );
    snapshot!("mr003", text);
}

#[test]
fn mr004_unlocked_entry() {
    let text = rendered(
        "MR004",
        r#"
//- /include/linux/knob.h
struct knob_ops {
	int (*open)(int unit);
};

int register_knob(struct knob_ops *ops);
//- /kernel/knob.c
#include <linux/knob.h>

static struct knob_ops *knob;

int register_knob(struct knob_ops *ops)
{
	knob = ops;
	return 0;
}

asmlinkage long sys_knob(int unit)
{
	return knob->open(unit); /* expect: MR004 */
}
//- /drivers/misc/knobdrv.c
#include <linux/knob.h>

static int kd_open(int unit)
{
	MOD_INC_USE_COUNT;
	return 0;
}

static struct knob_ops kd_ops = { open: kd_open };

static int kd_init(void)
{
	return register_knob(&kd_ops);
}

module_init(kd_init);
"#,
    );
    snapshot!("mr004", text);
}

#[test]
fn mr005_late_inc() {
    let text = rendered(
        "MR005",
        r#"
//- /drivers/char/bell.c
#include <linux/fs.h>
#include <linux/mm.h>

static char *bell_buf;

static int bell_open(struct inode *inode, struct file *file)
{
	bell_buf = kmalloc(32, GFP_ATOMIC);
	if (!bell_buf)
		return -ENOMEM;
	MOD_INC_USE_COUNT; /* expect: MR005 */
	return 0;
}

static struct file_operations bell_fops = { open: bell_open };

static int bell_init(void)
{
	return register_chrdev(73, "bell", &bell_fops);
}

module_init(bell_init);
"#,
    );
    snapshot!("mr005", text);
}

#[test]
fn mr006_unbalanced_count() {
    let text = rendered(
        "MR006",
        r#"
//- /drivers/char/fan.c
#include <linux/fs.h>

static int fan_speed;

static int fan_open(struct inode *inode, struct file *file)
{
	MOD_INC_USE_COUNT;
	fan_speed = 1;
	MOD_DEC_USE_COUNT; /* expect: MR006 */
	return 0;
}

static struct file_operations fan_fops = { open: fan_open };

static int fan_init(void)
{
	return register_chrdev(74, "fan", &fan_fops);
}

module_init(fan_init);
"#,
    );
    snapshot!("mr006", text);
}

#[test]
fn mr007_incomplete_analysis() {
    // Ten returned variables, each set on one arm of many conditions: more states than the
    // path analysis keeps per statement, over more statements than its step bound allows.
    let mut body = String::new();
    for k in 0..2500 {
        body.push_str(&format!("\tif (file) a{} = {};\n", k % 10, -(k % 2) * 5));
    }
    for v in 0..10 {
        body.push_str(&format!(
            "\tif (a{v}) {{\n\t\tMOD_DEC_USE_COUNT;\n\t\treturn a{v};\n\t}}\n"
        ));
    }
    let module = format!(
        r#"
//- /drivers/char/maze.c
#include <linux/fs.h>

static int maze_open(struct inode *inode, struct file *file) /* expect: MR007 */
{{
	int a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0, a8 = 0, a9 = 0;

	MOD_INC_USE_COUNT;
{body}	return 0;
}}

static struct file_operations maze_fops = {{ open: maze_open }};

static int maze_init(void)
{{
	return register_chrdev(75, "maze", &maze_fops);
}}

module_init(maze_init);
"#
    );
    let text = rendered("MR007", &module);
    snapshot!("mr007", text);
}

#[test]
fn mr101_missing_owner() {
    let text = rendered(
        "MR101",
        r#"
//- /Makefile
VERSION = 6
PATCHLEVEL = 1
//- /fs/anon_inodes.c
#include <linux/fs.h>

struct file *anon_inode_getfile(const char *name, const struct file_operations *fops, void *priv)
{
	if (fops->owner && !try_module_get(fops->owner))
		return NULL;
	return NULL;
}
//- /drivers/misc/buzz.c
#include <linux/fs.h>

struct dentry *debugfs_create_file(const char *name, unsigned short mode, struct dentry *parent,
				   void *data, const struct file_operations *fops);

static int buzz_open(struct inode *inode, struct file *file)
{
	return 0;
}

static const struct file_operations buzz_fops = { /* expect: MR101 */
	.open		= buzz_open,
};

static int buzz_init(void)
{
	debugfs_create_file("buzz", 0444, NULL, NULL, &buzz_fops);
	return 0;
}

static void buzz_exit(void)
{
}

module_init(buzz_init);
module_exit(buzz_exit);
"#,
    );
    snapshot!("mr101", text);
}

#[test]
fn mr103_get_leak_on_failure() {
    let text = rendered(
        "MR103",
        r#"
//- /Makefile
VERSION = 6
PATCHLEVEL = 1
//- /drivers/misc/hoist.c
struct hoist_ops {
	struct module *owner;
};

struct hoist {
	const struct hoist_ops *ops;
	int ready;
};

static int hoist_attach(struct hoist *h)
{
	if (!try_module_get(h->ops->owner))
		return -ENODEV;
	if (!h->ready)
		return -EAGAIN; /* expect: MR103 */
	return 0;
}
"#,
    );
    snapshot!("mr103", text);
}

#[test]
fn mr104_unbalanced_lifetime() {
    let text = rendered(
        "MR104",
        r#"
//- /Makefile
VERSION = 6
PATCHLEVEL = 1
//- /drivers/tty/rattle.c
struct tty_struct;
struct file;

struct rattle_hw {
	struct module *owner;
};

struct tty_operations {
	int (*install)(struct tty_driver *driver, struct tty_struct *tty);
	int (*open)(struct tty_struct *tty, struct file *filp);
	void (*close)(struct tty_struct *tty, struct file *filp);
	void (*cleanup)(struct tty_struct *tty);
};

static struct rattle_hw *rattle_hw;

static int rattle_open(struct tty_struct *tty, struct file *filp)
{
	if (!try_module_get(rattle_hw->owner)) /* expect: MR104 */
		return -ENODEV;
	return 0;
}

static void rattle_cleanup(struct tty_struct *tty)
{
	module_put(rattle_hw->owner);
}

static const struct tty_operations rattle_ops = {
	.open		= rattle_open,
	.cleanup	= rattle_cleanup,
};

static int rattle_init(void)
{
	return 0;
}

static void rattle_exit(void)
{
}

module_init(rattle_init);
module_exit(rattle_exit);
"#,
    );
    snapshot!("mr104", text);
}

#[test]
fn mr105_unprotected_self_pin() {
    let text = rendered(
        "MR105",
        r#"
//- /Makefile
VERSION = 6
PATCHLEVEL = 1
//- /fs/char_dev.c
#include <linux/fs.h>

int chrdev_open(struct inode *inode, struct file *filp, const struct file_operations *fops)
{
	if (!try_module_get(fops->owner))
		return -ENODEV;
	return fops->open(inode, filp);
}
//- /drivers/misc/clank.c
#include <linux/fs.h>

struct channel_req;

struct Bprotocol {
	unsigned int Bprotocols;
	char *name;
	int (*create)(struct channel_req *);
};

int mISDN_register_Bprotocol(struct Bprotocol *bp);

static int clank_create(struct channel_req *rq)
{
	if (!try_module_get(THIS_MODULE)) /* expect: MR105 */
		return -ENODEV;
	return 0;
}

static struct Bprotocol clank_proto = {
	.Bprotocols	= 1,
	.name		= "clank",
	.create		= clank_create,
};

/* Pinned by the core before it runs: not a finding. */
static int clank_open(struct inode *inode, struct file *file)
{
	__module_get(THIS_MODULE);
	return 0;
}

static int clank_release(struct inode *inode, struct file *file)
{
	module_put(THIS_MODULE);
	return 0;
}

static const struct file_operations clank_fops = {
	.owner		= THIS_MODULE,
	.open		= clank_open,
	.release	= clank_release,
};

static int clank_init(void)
{
	register_chrdev(0, "clank", &clank_fops);
	return mISDN_register_Bprotocol(&clank_proto);
}

static void clank_exit(void)
{
}

module_init(clank_init);
module_exit(clank_exit);
"#,
    );
    snapshot!("mr105", text);
}

#[test]
fn mr106_self_put_then_return() {
    let text = rendered(
        "MR106",
        r#"
//- /Makefile
VERSION = 6
PATCHLEVEL = 1
//- /drivers/misc/rattle.c
struct task_struct;

struct rattle {
	struct task_struct *task;
	struct task_struct *poller;
	int done;
};

struct task_struct *kthread_run(int (*fn)(void *), void *data, const char *name);
int kthread_stop(struct task_struct *k);
void module_put_and_kthread_exit(long code);

static int rattle_thread(void *arg)
{
	struct rattle *r = arg;

	while (!r->done)
		r->done = 1;
	module_put(THIS_MODULE); /* expect: MR106 */
	return 0;
}

/* Ends with the put and the exit in one: not a finding. */
static int rattle_helper(void *arg)
{
	module_put_and_kthread_exit(0);
	return 0;
}

/* Stopped by the module, which waits for it to return: not a finding. */
static int rattle_poll(void *arg)
{
	module_put(THIS_MODULE);
	return 0;
}

static int rattle_start(struct rattle *r)
{
	__module_get(THIS_MODULE);
	r->task = kthread_run(rattle_thread, r, "rattle");
	__module_get(THIS_MODULE);
	kthread_run(rattle_helper, r, "rattle-helper");
	__module_get(THIS_MODULE);
	r->poller = kthread_run(rattle_poll, r, "rattle-poll");
	return 0;
}

static void rattle_stop(struct rattle *r)
{
	kthread_stop(r->poller);
}

static int rattle_init(void)
{
	return 0;
}

static void rattle_exit(void)
{
}

module_init(rattle_init);
module_exit(rattle_exit);
"#,
    );
    snapshot!("mr106", text);
}

/// The self-reference model's edges: a routine stored through members into an unguarded slot,
/// its static helper, a drained slot, and what follows a put (a call is more code; `ret = 0;
/// break;` and a `goto` to a return are not).
#[test]
fn self_references_by_how_the_core_reaches_them() {
    let tree = support::Tree::from_text(
        r#"
//- /Makefile
VERSION = 6
PATCHLEVEL = 1
//- /drivers/isdn/clatter.c
struct mISDNchannel {
	int (*ctrl)(struct mISDNchannel *, unsigned int, void *);
};

struct mISDNdevice {
	struct mISDNchannel D;
};

struct dchannel {
	struct mISDNdevice dev;
};

struct clatter {
	struct dchannel dch;
	struct mISDNchannel bch;
	int open;
};

struct notifier_block {
	int (*notifier_call)(struct notifier_block *, unsigned long, void *);
};

int register_netdevice_notifier(struct notifier_block *nb);
void clatter_reset(struct clatter *c);

static int clatter_open_channel(struct clatter *c)
{
	if (!try_module_get(THIS_MODULE)) /* expect: MR105 */
		return -EIO;
	c->open = 1;
	return 0;
}

static int clatter_dctrl(struct mISDNchannel *ch, unsigned int cmd, void *arg)
{
	struct clatter *c = arg;
	int err = -EINVAL;

	switch (cmd) {
	case 1:
		err = clatter_open_channel(c);
		break;
	case 2:
		module_put(THIS_MODULE);
		err = 0;
		break;
	case 3:
		module_put(THIS_MODULE); /* expect: MR106 */
		clatter_reset(c);
		break;
	}
	return err;
}

static int clatter_bctrl(struct mISDNchannel *ch, unsigned int cmd, void *arg)
{
	if (cmd == 2) {
		module_put(THIS_MODULE);
		goto out;
	}
	return -EINVAL;
out:
	return 0;
}

/* The unregister waits for calls in flight: not a finding. */
static int clatter_event(struct notifier_block *nb, unsigned long event, void *ptr)
{
	if (!try_module_get(THIS_MODULE))
		return 0;
	clatter_reset(ptr);
	module_put(THIS_MODULE);
	clatter_reset(ptr);
	return 0;
}

static struct notifier_block clatter_notifier = {
	.notifier_call = clatter_event,
};

static int clatter_probe(struct clatter *card)
{
	card->dch.dev.D.ctrl = clatter_dctrl;
	card->bch.ctrl = clatter_bctrl;
	return register_netdevice_notifier(&clatter_notifier);
}

static int clatter_init(void)
{
	return 0;
}

static void clatter_exit(void)
{
}

module_init(clatter_init);
module_exit(clatter_exit);
"#,
    );
    let both = RuleFilter {
        select: vec![
            rules::rule("MR105").expect("MR105").code,
            rules::rule("MR106").expect("MR106").code,
        ],
        ignore: vec![],
    };
    let report = support::assert_expectations_with(&tree, &both);
    let stats = report.stats.self_refs.expect("the self-reference stats");
    assert_eq!((stats.unguarded, stats.protected), (4, 2), "{stats:?}");
}
