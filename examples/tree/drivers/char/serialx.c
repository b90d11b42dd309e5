/* serialx.c: a tty driver filled in at run time (example for modrace). */
#include <linux/fs.h>

static struct tty_driver serialx_driver;
static int serialx_refcount;

static int sx_open(void *tty, struct file *filp)
{
	MOD_INC_USE_COUNT;
	return 0;
}

static void sx_close(void *tty, struct file *filp)
{
	MOD_DEC_USE_COUNT;
}

static int sx_write(void *tty, int from_user, const unsigned char *buf, int count)
{
	return count;
}

int __init serialx_init(void)
{
	memset(&serialx_driver, 0, sizeof(struct tty_driver));
	serialx_driver.name = "ttyX";
	serialx_driver.open = sx_open;
	serialx_driver.close = sx_close;
	serialx_driver.write = sx_write;
	if (tty_register_driver(&serialx_driver))
		panic("Couldn't register serialx driver\n");
	return 0;
}
