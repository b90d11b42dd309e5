/* Minimal kernel-like declarations for modrace's examples (written for modrace). */
#ifndef _EXAMPLE_FS_H
#define _EXAMPLE_FS_H

struct inode;
struct file;
struct super_block;

struct file_operations {
	long long (*llseek) (struct file *, long long, int);
	int (*read) (struct file *, char *, unsigned long, long long *);
	int (*write) (struct file *, const char *, unsigned long, long long *);
	int (*ioctl) (struct inode *, struct file *, unsigned int, unsigned long);
	int (*open) (struct inode *, struct file *);
	int (*release) (struct inode *, struct file *);
};

struct super_operations {
	void (*put_super) (struct super_block *);
	int (*statfs) (struct super_block *, void *, int);
};

struct super_block {
	struct super_operations *s_op;
	unsigned long s_blocksize;
};

struct file_system_type {
	const char *name;
	int fs_flags;
	struct super_block *(*read_super) (struct super_block *, void *, int);
	struct file_system_type *next;
};

/* 2.4 style: a macro defines the file_system_type (modrace's knowledge base knows it). */
#define DECLARE_FSTYPE(var,type,read,flags) \
struct file_system_type var = { \
	name:		type, \
	read_super:	read, \
	fs_flags:	flags, \
}

#define DECLARE_FSTYPE_DEV(var,type,read) \
	DECLARE_FSTYPE(var,type,read,FS_REQUIRES_DEV)

struct miscdevice {
	int minor;
	const char *name;
	struct file_operations *fops;
};

struct tty_driver {
	int magic;
	const char *name;
	int (*open)(void *tty, struct file *filp);
	void (*close)(void *tty, struct file *filp);
	int (*write)(void *tty, int from_user, const unsigned char *buf, int count);
};

struct tty_ldisc {
	int magic;
	const char *name;
	int (*open)(void *tty);
	void (*close)(void *tty);
};

struct net_proto_family {
	int family;
	int (*create)(void *sock, int protocol);
};

#endif
