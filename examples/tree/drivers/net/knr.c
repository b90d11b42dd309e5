/* knr.c: a network driver with a K&R-style probe, as drivers/net/atari_pamsnet.c has in
 * 2.3.41, and a local `dev` that it registers (example for modrace). */
#include <linux/netdevice.h>

static int knr_open(struct net_device *dev)
{
	MOD_INC_USE_COUNT;
	return 0;
}

static int knr_close(struct net_device *dev)
{
	MOD_DEC_USE_COUNT;
	return 0;
}

int knr_probe(dev)
	struct net_device *dev;
{
	dev->open = knr_open;
	dev->stop = knr_close;
	return 0;
}

int init_module(void)
{
	struct net_device *dev = kmalloc(sizeof(struct net_device), GFP_KERNEL);

	memset(dev, 0, sizeof(*dev));
	dev->init = knr_probe;
	return register_netdev(dev);
}
