//! A registration routine that calls back into the table it is given (`register_framebuffer`
//! opens the new device) reaches the registering module, whose own code is running the
//! registration: the call site carries a `Registering` protection, which MR004 accepts. A call
//! through a table the routine did not get as its registration argument has none.

mod support;

use modrace::bkl::Protection;
use support::Tree;

const TREE: &str = r#"
//- /include/linux/fb.h
struct fb_info;
struct fb_ops {
	int (*fb_open)(struct fb_info *info, int user);
};
struct fb_info {
	struct fb_ops *fbops;
};
int register_framebuffer(struct fb_info *fb_info);
//- /drivers/video/fbmem.c
#include <linux/fb.h>

static struct fb_info *registered_fb[8];

int register_framebuffer(struct fb_info *fb_info)
{
	registered_fb[0] = fb_info;
	fb_info->fbops->fb_open(fb_info, 0);
	return 0;
}

int fb_open_first(void)
{
	struct fb_info *info = registered_fb[0];

	return info->fbops->fb_open(info, 1);
}
//- /drivers/video/tinyfb.c
#include <linux/fb.h>

static int tiny_open(struct fb_info *info, int user)
{
	return 0;
}

static struct fb_ops tiny_ops = { fb_open: tiny_open };
static struct fb_info tiny_info = { fbops: &tiny_ops };

int init_module(void)
{
	return register_framebuffer(&tiny_info);
}
"#;

#[test]
fn a_callback_inside_registration_is_protected() {
    let (report, _) = support::bkl(&Tree::from_text(TREE));
    let pin = |function: &str| {
        report
            .slots
            .iter()
            .flat_map(|s| &s.call_sites)
            .find(|c| c.function == function)
            .unwrap_or_else(|| panic!("a call through fb_ops.fb_open in {function}"))
            .pin
            .clone()
    };
    assert_eq!(
        pin("register_framebuffer"),
        Some(Protection::Registering {
            routine: "register_framebuffer".into()
        })
    );
    assert_eq!(pin("fb_open_first"), None);
}
