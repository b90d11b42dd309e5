//! The failed-open convention of tty drivers, checked on the path: the core calls the driver's
//! close after a failed open, so a failure return may leave its decrement to close — but only
//! when close reaches its decrement in the state that failure left. Each fixture's `expect:`
//! comments must be met exactly (none means no finding).

mod support;

use modrace::rules::{Code, RuleFilter};
use support::Tree;

const TTY: &str = r#"
//- /include/linux/tty.h
struct file;
struct tty_struct {
	void *driver_data;
	int count;
};
struct tty_driver {
	int (*open)(struct tty_struct *tty, struct file *filp);
	void (*close)(struct tty_struct *tty, struct file *filp);
};
int tty_register_driver(struct tty_driver *driver);
int tty_hung_up_p(struct file *filp);
void interruptible_sleep_on(int *q);
"#;

fn check(module: &str) {
    let tree = Tree::from_text(&format!("{TTY}{module}"));
    let only = RuleFilter {
        select: vec![Code::Mr002],
        ignore: vec![],
    };
    support::assert_expectations_with(&tree, &only);
}

/// Close returns early while `driver_data` is unset: a failure before the open sets it
/// leaks, one after it does not.
#[test]
fn close_that_needs_driver_data() {
    check(
        r#"
//- /drivers/char/bell.c
#include <linux/tty.h>

struct bell_port { int busy; int wait; };
static struct bell_port bell_ports[4];
static struct tty_driver bell_driver;

static int bell_open(struct tty_struct *tty, struct file *filp)
{
	struct bell_port *port = &bell_ports[0];

	MOD_INC_USE_COUNT;
	if (port->busy) {
		interruptible_sleep_on(&port->wait);
		return -EAGAIN; /* expect: MR002 */
	}
	tty->driver_data = port;
	if (port->busy > 1)
		return -EBUSY;
	return 0;
}

static void bell_close(struct tty_struct *tty, struct file *filp)
{
	struct bell_port *port = tty->driver_data;

	if (!port)
		return;
	if (tty_hung_up_p(filp)) {
		MOD_DEC_USE_COUNT;
		return;
	}
	port->busy = 0;
	MOD_DEC_USE_COUNT;
}

int init_module(void)
{
	bell_driver.open = bell_open;
	bell_driver.close = bell_close;
	return tty_register_driver(&bell_driver);
}

void cleanup_module(void)
{
}
"#,
    );
}

/// The clean twin: close drops the count on every path, so every failure is covered.
#[test]
fn close_that_always_drops() {
    check(
        r#"
//- /drivers/char/gong.c
#include <linux/tty.h>

struct gong_port { int busy; };
static struct gong_port gong_ports[4];
static struct tty_driver gong_driver;

static int gong_open(struct tty_struct *tty, struct file *filp)
{
	struct gong_port *port = &gong_ports[0];

	MOD_INC_USE_COUNT;
	if (port->busy)
		return -EBUSY;
	tty->driver_data = port;
	return 0;
}

static void gong_close(struct tty_struct *tty, struct file *filp)
{
	struct gong_port *port = tty->driver_data;

	if (port)
		port->busy = 0;
	MOD_DEC_USE_COUNT;
}

int init_module(void)
{
	gong_driver.open = gong_open;
	gong_driver.close = gong_close;
	return tty_register_driver(&gong_driver);
}

void cleanup_module(void)
{
}
"#,
    );
}

const USB_SERIAL: &str = r#"
//- /drivers/usb/serial/usb-serial.h
struct file;
struct tty_struct;
struct usb_serial_port {
	int active;
	struct tty_struct *tty;
	struct usb_serial_device_type *type;
};
struct usb_serial_device_type {
	int (*open)(struct usb_serial_port *port, struct file *filp);
	void (*close)(struct usb_serial_port *port, struct file *filp);
};
int usb_serial_register(struct usb_serial_device_type *new_device);
int usb_submit(struct usb_serial_port *port);
//- /drivers/usb/serial/core.c
#include <linux/tty.h>
#include "usb-serial.h"

static struct usb_serial_port the_port;
static struct tty_driver serial_tty_driver;

static int serial_open(struct tty_struct *tty, struct file *filp)
{
	struct usb_serial_port *port = &the_port;

	tty->driver_data = port;
	return port->type->open(port, filp);
}

static void serial_close(struct tty_struct *tty, struct file *filp)
{
	struct usb_serial_port *port = tty->driver_data;

	if (!port)
		return;
	if (!port->active)
		return;
	port->type->close(port, filp);
}

int init_module(void)
{
	serial_tty_driver.open = serial_open;
	serial_tty_driver.close = serial_close;
	return tty_register_driver(&serial_tty_driver);
}

void cleanup_module(void)
{
}
"#;

/// usb-serial's core forwards open and close to the device type's: the device's close runs
/// after a failed open only when the port was made active, so a failure before that leaks.
#[test]
fn forwarded_close_needs_an_active_port() {
    check(&format!(
        "{USB_SERIAL}{}",
        r#"
//- /drivers/usb/serial/horn.c
#include "usb-serial.h"

static int horn_open(struct usb_serial_port *port, struct file *filp)
{
	MOD_INC_USE_COUNT;
	if (!port->tty)
		return -ENODEV; /* expect: MR002 */
	port->active = 1;
	if (usb_submit(port))
		return -EIO;
	return 0;
}

static void horn_close(struct usb_serial_port *port, struct file *filp)
{
	port->active = 0;
	MOD_DEC_USE_COUNT;
}

static struct usb_serial_device_type horn_device = {
	open: horn_open,
	close: horn_close,
};

int init_module(void)
{
	return usb_serial_register(&horn_device);
}

void cleanup_module(void)
{
}
"#
    ));
}
