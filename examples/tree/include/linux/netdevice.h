/* Minimal kernel-like declarations for modrace's examples (written for modrace). */
#ifndef _EXAMPLE_NETDEVICE_H
#define _EXAMPLE_NETDEVICE_H

struct net_device {
	char *name;
	unsigned long base_addr;
	unsigned int irq;
	int (*init)(struct net_device *dev);
	int (*open)(struct net_device *dev);
	int (*stop)(struct net_device *dev);
};

#endif
