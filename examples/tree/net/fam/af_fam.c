/* af_fam.c: an address family (example for modrace). sys_socket reaches fam_create without
 * the big kernel lock, and sk_alloc(GFP_KERNEL) may sleep before the increment. */
#include <linux/fs.h>

static int fam_create(void *sock, int protocol)
{
	void *sk;

	sk = sk_alloc(27, GFP_KERNEL, 1);
	if (sk == NULL)
		goto do_oom;
	MOD_INC_USE_COUNT;
	return 0;
do_oom:
	return -ENOBUFS;
}

struct net_proto_family fam_family_ops = {
	27,
	fam_create
};

static int __init fam_init(void)
{
	(void) sock_register(&fam_family_ops);
	return 0;
}
module_init(fam_init);
