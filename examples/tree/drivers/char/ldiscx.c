/* ldiscx.c: tables built on the stack or inside a per-device struct, then registered
 * (example for modrace, after 2.3's n_hdlc.c and usb/evdev.c). */
#include <linux/fs.h>
#include <linux/miscdevice.h>

static int lx_open(void *tty)
{
	MOD_INC_USE_COUNT;
	return 0;
}

static void lx_close(void *tty)
{
	MOD_DEC_USE_COUNT;
}

/* tty_register_ldisc copies the struct: a local is enough. */
int __init lx_init(void)
{
	struct tty_ldisc lx_ldisc;

	memset(&lx_ldisc, 0, sizeof(lx_ldisc));
	lx_ldisc.magic = 0x5403;
	lx_ldisc.name = "lx";
	lx_ldisc.open = lx_open;
	lx_ldisc.close = lx_close;
	return tty_register_ldisc(17, &lx_ldisc);
}

static int lxm_open(struct inode *inode, struct file *file)
{
	MOD_INC_USE_COUNT;
	return 0;
}

static struct file_operations lxm_fops = {
	open:		lxm_open,
};

struct lxmouse {
	int busy;
	struct miscdevice misc;
};

/* The misc device lives inside a struct allocated at run time. */
struct lxmouse *lxm_probe(void)
{
	struct lxmouse *m = kmalloc(sizeof(*m), GFP_KERNEL);

	m->misc.minor = 12;
	m->misc.name = "lxmouse";
	m->misc.fops = &lxm_fops;
	misc_register(&m->misc);
	return m;
}

static int lxt_open(struct inode *inode, struct file *file)
{
	MOD_INC_USE_COUNT;
	return 0;
}

static struct file_operations lxt_fops = {
	open:		lxt_open,
};

/* A template copied into each device at run time, registered elsewhere (as bw-qcam.c). */
static struct miscdevice lxt_template = { 13, "lxt", &lxt_fops };

void lxt_attach(struct lxmouse *t)
{
	memcpy(&t->misc, &lxt_template, sizeof(lxt_template));
}

int lxt_register(struct lxmouse *dev)
{
	return misc_register(&dev->misc);
}
