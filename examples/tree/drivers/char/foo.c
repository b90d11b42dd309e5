/*
 * foo.c: a character driver written for modrace's examples. Its open routine claims an
 * interrupt before it pins the module: request_irq allocates with GFP_KERNEL and may sleep.
 */
#include <linux/fs.h>
#include <linux/module.h>

#define FOO_MAJOR 240
#define FOO_IRQ 7

static void foo_interrupt(int irq, void *dev_id, void *regs)
{
}

static int foo_open(struct inode *inode, struct file *file)
{
	if (request_irq(FOO_IRQ, foo_interrupt, 0, "foo", NULL))
		return -EBUSY;
	MOD_INC_USE_COUNT;
	return 0;
}

static int foo_release(struct inode *inode, struct file *file)
{
	free_irq(FOO_IRQ, NULL);
	MOD_DEC_USE_COUNT;
	return 0;
}

static int foo_read(struct file *file, char *buf, unsigned long count, long long *ppos)
{
	return 0;
}

/* GNU old-style designated initializer. */
static struct file_operations foo_fops = {
	read:		foo_read,
	open:		foo_open,
	release:	foo_release,
};

int __init foo_init(void)
{
	if (register_chrdev(FOO_MAJOR, "foo", &foo_fops))
		return -EIO;
	return 0;
}

#ifdef MODULE
int init_module(void)
{
	return foo_init();
}

void cleanup_module(void)
{
	unregister_chrdev(FOO_MAJOR, "foo");
}
#endif
