/* mem.c: built into the kernel, never a module (example for modrace). */
#include <linux/fs.h>

static int null_open(struct inode *inode, struct file *file)
{
	return 0;
}

static struct file_operations null_fops = {
	.open = null_open,
};

int chr_dev_init(void)
{
	register_chrdev(1, "mem", &null_fops);
	return 0;
}
