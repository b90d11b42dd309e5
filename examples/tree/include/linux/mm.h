/* Allocation masks as 2.3-era trees define them (written for modrace's fixtures). */
#ifndef _FIXTURE_MM_H
#define _FIXTURE_MM_H

#define __GFP_WAIT	0x01
#define __GFP_LOW	0x02
#define __GFP_MED	0x04
#define __GFP_HIGH	0x08
#define __GFP_IO	0x10

#define GFP_BUFFER	(__GFP_LOW | __GFP_WAIT)
#define GFP_ATOMIC	(__GFP_HIGH)
#define GFP_USER	(__GFP_LOW | __GFP_WAIT | __GFP_IO)
#define GFP_KERNEL	(__GFP_MED | __GFP_WAIT | __GFP_IO)

void *kmalloc(unsigned int size, int flags);
void kfree(const void *p);

#endif
