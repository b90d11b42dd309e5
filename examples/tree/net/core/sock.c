/* A socket allocator that sleeps only when its caller's mask lets it (written for modrace's
 * examples). */
#include <linux/mm.h>

struct sock {
	int family;
	int zapped;
};

static void *sk_cachep;

void *kmem_cache_alloc(void *cachep, int flags);

struct sock *sk_alloc(int family, int priority, int zero_it)
{
	struct sock *sk = kmem_cache_alloc(sk_cachep, priority);

	if (sk)
		sk->family = family;
	return sk;
}
