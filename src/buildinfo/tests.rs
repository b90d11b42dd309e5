//! Unit tests of the build-file reader: Makefiles, Kbuild files and Kconfig, of 2.x and 6.x.

use super::*;

#[test]
fn m_objs_and_composites() {
    let mk = "O_TARGET := ipv6.o\nIPV6_OBJS := af_inet6.o \\\n  route.o\nM_OBJS := $(O_TARGET)\nO_OBJS := $(IPV6_OBJS)\n";
    let m = Makefile::parse(mk)
        .module_objects(&Symbols::default())
        .capable;
    assert!(m.contains_key("af_inet6.o") && m.contains_key("route.o") && m.contains_key("ipv6.o"));
}

#[test]
fn conditional_and_obj_config() {
    let mk = "ifeq ($(CONFIG_FOO),m)\n  M_OBJS += foo.o\nendif\nobj-$(CONFIG_BAR) += bar.o\nobj-$(CONFIG_BUILTIN) += core.o\nobj-y += always.o\n";
    let mut sym = Symbols::default();
    sym.collect(
        "Config.in",
        "  define_tristate CONFIG_BAR m\nbool 'x' CONFIG_BUILTIN\ndep_tristate 'f' CONFIG_FOO $CONFIG_BAR\n",
    );
    let m = Makefile::parse(mk).module_objects(&sym);
    assert!(m.capable.contains_key("foo.o") && m.capable.contains_key("bar.o"));
    assert!(!m.capable.contains_key("core.o") && !m.capable.contains_key("always.o"));
    assert_eq!(m.capable["foo.o"].line, 2);
    assert_eq!(m.capable["foo.o"].symbol.as_deref(), Some("CONFIG_FOO"));
    // Without FOO's declaration, its `m` branch builds nothing.
    let m = Makefile::parse(mk).module_objects(&Symbols::default());
    assert!(m.capable.is_empty() && m.blocked.contains_key("foo.o"));
}

#[test]
fn explicit_link_rules_make_parts_modular() {
    let mk = "ifeq ($(CONFIG_X),m)\n  M_OBJS += x_mod.o\nendif\nx_mod.o: x.o x_ioctl.o\n\t$(LD) -r -o $@ x.o x_ioctl.o\nother.o: y.o\n";
    let mut sym = Symbols::default();
    sym.collect("Config.in", "tristate 'X' CONFIG_X\n");
    let m = Makefile::parse(mk).module_objects(&sym).capable;
    assert!(m.contains_key("x.o") && m.contains_key("x_ioctl.o"));
    assert!(!m.contains_key("y.o"));
}

#[test]
fn kbuild_composites_and_descent() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("drivers/foo")).unwrap();
    std::fs::write(
        d.join("drivers/Kconfig"),
        "config FOO\n\ttristate \"Foo\"\nconfig FOO_EXTRA\n\tbool \"more\"\n",
    )
    .unwrap();
    std::fs::write(d.join("drivers/Makefile"), "obj-y += foo/\n").unwrap();
    std::fs::write(
        d.join("drivers/foo/Kbuild"),
        "obj-$(CONFIG_FOO) += foo.o\nfoo-y := core.o\nfoo-$(CONFIG_FOO_EXTRA) += extra.o\n\
         obj-y += always.o\n",
    )
    .unwrap();
    let info = BuildInfo::read(&[d.to_path_buf()]);
    for part in ["foo", "core", "extra"] {
        assert_eq!(
            info.from_makefile(&format!("drivers/foo/{part}.c")),
            Some(true),
            "{part}"
        );
    }
    assert_eq!(info.from_makefile("drivers/foo/always.c"), Some(false));
    let origin = info.origin("drivers/foo/extra.c").unwrap();
    assert_eq!(
        (origin.module.as_str(), origin.list.as_str()),
        ("foo.o", "obj-$(CONFIG_FOO)")
    );
    assert_eq!(origin.build_file, "drivers/foo/Kbuild");
}

#[test]
fn kconfig_entries_say_tristate_on_a_later_line() {
    let mut t = Symbols::default();
    t.collect(
        "Kconfig",
        "config FOO\n\ttristate \"Foo\"\n\tdepends on BAR\n\
         menuconfig BAZ\n\tbool \"Baz\"\n\
         config QUX\n\tdef_tristate m if BAZ\n\
         menu \"x\"\n\ttristate \"stray\"\n",
    );
    let got: Vec<_> = ["CONFIG_FOO", "CONFIG_BAZ", "CONFIG_QUX", "CONFIG_BAR"]
        .into_iter()
        .filter(|s| t.can_be_m(s))
        .collect();
    assert_eq!(got, ["CONFIG_FOO", "CONFIG_QUX"]);
    assert_eq!(
        t.declaration("CONFIG_BAZ").map(|d| (d.kind, d.line)),
        Some((SymbolKind::Bool, 5))
    );
}

#[test]
fn lower_case_arch_config_in_counts() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.in"),
        "tristate 'Lance' CONFIG_LANCE\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("Makefile"),
        "obj-$(CONFIG_LANCE) += lance.o\n",
    )
    .unwrap();
    let info = BuildInfo::read(&[dir.path().to_path_buf()]);
    assert_eq!(info.from_makefile("lance.c"), Some(true));
}

#[test]
fn self_referring_variables_stay_small() {
    // Each line refers to every earlier value of both variables: naive expansion is
    // exponential in the number of lines.
    let mut mk = String::from("A := a0.o\nB := b0.o\n");
    for i in 1..200 {
        mk.push_str(&format!("A += $(A) $(B) a{i}.o\nB += $(B) $(A) b{i}.o\n"));
    }
    mk.push_str("M_OBJS := $(A)\n");
    let m = Makefile::parse(&mk)
        .module_objects(&Symbols::default())
        .capable;
    assert!(m.contains_key("a199.o") && m.contains_key("b199.o") && m.contains_key("a0.o"));
    assert!(Makefile::parse(&mk).named_objects().len() >= 400);
}

#[test]
fn a_subdirectory_entered_only_for_built_in_code_has_no_modules() {
    let dir = tempfile::tempdir().unwrap();
    let net = dir.path().join("net");
    for sub in ["bridge", "ipv6", "sched"] {
        std::fs::create_dir_all(net.join(sub)).unwrap();
    }
    std::fs::write(
        net.join("Makefile"),
        "SUB_DIRS := core\nSUB_DIRS += bridge ipv6\nifeq ($(CONFIG_IPV6),m)\n  MOD_SUB_DIRS += ipv6\nendif\nALL_SUB_DIRS := bridge ipv6 sched\n",
    )
    .unwrap();
    for sub in ["bridge", "ipv6", "sched"] {
        std::fs::write(
            net.join(sub).join("Makefile"),
            format!("O_TARGET := {sub}.o\nO_OBJS := {sub}_main.o\nM_OBJS := $(O_TARGET)\n"),
        )
        .unwrap();
    }
    std::fs::write(net.join("Config.in"), "tristate 'IPv6' CONFIG_IPV6\n").unwrap();
    let info = BuildInfo::read(&[dir.path().to_path_buf()]);
    assert_eq!(info.from_makefile("net/bridge/bridge_main.c"), Some(false));
    assert_eq!(info.from_makefile("net/ipv6/ipv6_main.c"), Some(true));
    // No ancestor names `sched`: its own Makefile decides.
    assert_eq!(info.from_makefile("net/sched/sched_main.c"), Some(true));
}

/// A 2.x tree: the module branch counts only under a symbol some Config.in (an
/// architecture's included) lets be `m`; a file its Makefile does not name is built by nothing.
#[test]
fn module_branches_need_a_symbol_that_can_be_m() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("drivers/char")).unwrap();
    std::fs::create_dir_all(d.join("arch/i386")).unwrap();
    std::fs::write(
        d.join("drivers/char/Config.in"),
        "bool 'Bus mouse' CONFIG_BUSMOUSE\ndep_tristate 'Serial' CONFIG_SERIAL $CONFIG_TTY\n",
    )
    .unwrap();
    std::fs::write(d.join("arch/i386/config.in"), "tristate 'APM' CONFIG_APM\n").unwrap();
    let mk = "ifeq ($(CONFIG_SERIAL),y)\nL_OBJS += serial.o\nelse\n  ifeq ($(CONFIG_SERIAL),m)\n  M_OBJS += serial.o\n  endif\nendif\n\
              ifeq ($(CONFIG_BUSMOUSE),y)\nL_OBJS += busmouse.o\nelse\n  ifeq ($(CONFIG_BUSMOUSE),m)\n  M_OBJS += busmouse.o\n  endif\nendif\n\
              ifneq ($(CONFIG_APM),m)\nL_OBJS += apm.o\nelse\nM_OBJS += apm.o\nendif\n\
              ifeq ($(CONFIG_GHOST),m)\nM_OBJS += ghost.o\nendif\nM_OBJS += plain.o\n";
    std::fs::write(d.join("drivers/char/Makefile"), mk).unwrap();
    let info = BuildInfo::read(&[d.to_path_buf()]);
    let module = |f: &str| info.from_makefile(&format!("drivers/char/{f}.c"));
    assert_eq!(module("serial"), Some(true));
    assert_eq!(module("apm"), Some(true));
    assert_eq!(module("plain"), Some(true));
    assert_eq!(module("busmouse"), Some(false));
    assert_eq!(module("ghost"), Some(false));
    assert_eq!(module("unbuilt"), None);
    let BuildVerdict::Module(o) = info.verdict("drivers/char/serial.c") else {
        panic!("serial is a module")
    };
    assert_eq!((o.list.as_str(), o.line), ("M_OBJS", 5));
    let g = o.symbol.unwrap();
    let decl = g.declared.unwrap();
    assert_eq!(
        (g.name.as_str(), decl.kind, decl.file.as_str(), decl.line),
        (
            "CONFIG_SERIAL",
            SymbolKind::Tristate,
            "drivers/char/Config.in",
            2
        )
    );
    let BuildVerdict::Blocked(o) = info.verdict("drivers/char/busmouse.c") else {
        panic!("busmouse is blocked")
    };
    assert_eq!(o.symbol.unwrap().declared.unwrap().kind, SymbolKind::Bool);
    let BuildVerdict::Blocked(o) = info.verdict("drivers/char/ghost.c") else {
        panic!("ghost is blocked")
    };
    assert_eq!(o.symbol.unwrap().declared, None);
    assert!(matches!(
        info.verdict("drivers/char/unbuilt.c"),
        BuildVerdict::Unnamed { .. }
    ));
    assert_eq!(info.verdict("lib/loose.c"), BuildVerdict::NoMakefile);
}
