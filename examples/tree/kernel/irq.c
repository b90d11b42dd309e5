/* A core routine that sleeps through its allocation (written for modrace's fixtures). */
#include <linux/mm.h>

struct irqaction {
	void (*handler)(int, void *);
	const char *name;
};

int request_irq(unsigned int irq, void (*handler)(int, void *), unsigned long flags,
		const char *name, void *dev_id)
{
	struct irqaction *action;

	action = kmalloc(sizeof(struct irqaction), GFP_KERNEL);
	if (!action)
		return -ENOMEM;
	action->handler = handler;
	action->name = name;
	return 0;
}

void free_irq(unsigned int irq, void *dev_id)
{
}
