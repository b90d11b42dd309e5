/* wavex.c: a sound driver whose state is a global called `dev`, as drivers/sound/wavfront.c
 * has in 2.3.41 (example for modrace). Other files' parameters and locals called `dev` are not
 * this variable, and it has no field `open`. */
struct wavex_config {
	int devno;
	int irq;
	int base;
} dev;

int wavex_init(void)
{
	dev.irq = 9;
	return 0;
}
