/* beep.c: a misc device (example for modrace), positional file_operations. */
#include <linux/fs.h>
#include <linux/miscdevice.h>

static int beep_open(struct inode *inode, struct file *file)
{
	MOD_INC_USE_COUNT;
	return 0;
}

static int beep_release(struct inode *inode, struct file *file)
{
	MOD_DEC_USE_COUNT;
	return 0;
}

/* Positional initializer: llseek, read, write, ioctl, open, release. */
static struct file_operations beep_fops = {
	NULL,
	NULL,
	NULL,
	NULL,
	beep_open,
	beep_release,
};

static struct miscdevice beep_dev = {
	.minor = 130,
	.name = "beep",
	.fops = &beep_fops,
};

static int __init beep_init(void)
{
	return misc_register(&beep_dev);
}

module_init(beep_init);
