/* The socket core (written for modrace's examples): the system call reaches a family's create
 * routine by a number, without the big kernel lock. */
#include <linux/fs.h>

static struct net_proto_family *net_families[32];

int sock_register(struct net_proto_family *ops)
{
	net_families[ops->family] = ops;
	return 0;
}

int sock_create(int family, int type, int protocol, void **res)
{
	if (family < 0 || family >= 32 || net_families[family] == NULL)
		return -EAFNOSUPPORT;
	return net_families[family]->create(res, protocol);
}

asmlinkage long sys_socket(int family, int type, int protocol)
{
	void *sock;

	return sock_create(family, type, protocol, &sock);
}
