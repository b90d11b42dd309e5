/* super.c: two 2.4-style file systems defined with DECLARE_FSTYPE_DEV and DECLARE_FSTYPE
 * (example for modrace). The first is static, as most 2.4 file systems write it. */
#include <linux/fs.h>

static struct super_block *decl_read_super(struct super_block *s, void *data, int silent)
{
	MOD_INC_USE_COUNT;
	s->s_blocksize = 512;
	return s;
}

static struct super_block *declram_read_super(struct super_block *s, void *data, int silent)
{
	MOD_INC_USE_COUNT;
	return s;
}

static DECLARE_FSTYPE_DEV(decl_fs_type, "declfs", decl_read_super);
DECLARE_FSTYPE(declram_fs_type, "declram", declram_read_super, 0);

static int __init init_decl_fs(void)
{
	int err = register_filesystem(&decl_fs_type);

	if (!err)
		err = register_filesystem(&declram_fs_type);
	return err;
}

module_init(init_decl_fs)
