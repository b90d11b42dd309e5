/* super.c: a file system (example for modrace). statfs is reached through the super block
 * operations that read_super installs. */
#include <linux/fs.h>

static int tiny_statfs(struct super_block *sb, void *buf, int bufsiz)
{
	return 0;
}

static void tiny_put_super(struct super_block *sb)
{
	MOD_DEC_USE_COUNT;
}

static struct super_operations tiny_sops = {
	put_super:	tiny_put_super,
	statfs:		tiny_statfs,
};

static struct super_block *tiny_read_super(struct super_block *s, void *data, int silent)
{
	MOD_INC_USE_COUNT;
	s->s_blocksize = 1024;
	s->s_op = &tiny_sops;
	return s;
}

static struct file_system_type tiny_fs_types[] = {
	{ "tinyfs", 0, tiny_read_super, NULL },
	{ "tinyfs2", 0, tiny_read_super, NULL },
};

int __init init_tiny_fs(void)
{
	int i, err = 0;

	for (i = 0; i < 2 && !err; i++)
		err = register_filesystem(&tiny_fs_types[i]);
	return err;
}
