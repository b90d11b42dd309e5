use super::*;

fn config() -> CppConfig {
    CppConfig {
        defined: [("MODULE".to_string(), 1)].into_iter().collect(),
        undefined: ["__ASSEMBLY__".to_string()].into_iter().collect(),
        arch_symbols: vec![("CONFIG_ARCH_".into(), String::new(), true)],
        version: None,
    }
}

#[test]
fn branches_of_one_architecture_are_recorded() {
    let mut b = b"a\n#ifdef CONFIG_ARCH_S390\nb\n#else\nc\n#endif\n#ifdef CONFIG_FOO\nd\n#endif\n#if defined(CONFIG_ARCH_ARM)\ne\n#endif\n".to_vec();
    let r = process(&mut b, &config());
    let regions: Vec<(u32, u32, &str)> = r
        .arch_regions
        .iter()
        .map(|x| (x.from, x.to, x.arch.as_str()))
        .collect();
    assert_eq!(regions, vec![(2, 4, "s390"), (10, 12, "arm")]);
    assert_eq!(config().arch_of_symbol("CONFIG_ARCH_s390"), None);
}

fn run(src: &str) -> String {
    let mut b = src.as_bytes().to_vec();
    process(&mut b, &config());
    assert_eq!(b.len(), src.len());
    String::from_utf8(b).unwrap()
}

fn kept(src: &str) -> Vec<String> {
    run(src).split_whitespace().map(str::to_string).collect()
}

#[test]
fn module_defined_and_if0_dropped() {
    let src = "#ifdef MODULE\na\n#else\nb\n#endif\n#if 0\nc\n#endif\n#ifndef MODULE\nd\n#endif\n";
    assert_eq!(kept(src), ["a"]);
}

#[test]
fn unknown_takes_first_branch() {
    let src = "#ifdef CONFIG_FOO\na\n#else\nb\n#endif\n#if defined(CONFIG_X) && !defined(MODULE)\nc\n#elif 1\nd\n#endif\n";
    assert_eq!(kept(src), ["a", "d"]);
}

#[test]
fn local_defines_and_arithmetic() {
    let src = "#define DEBUG 2\n#if DEBUG > 1\na\n#endif\n#undef DEBUG\n#ifdef DEBUG\nb\n#endif\n#if (1 << 4) == 16 || X\nc\n#endif\n";
    assert_eq!(kept(src), ["a", "c"]);
}

#[test]
fn nested_inactive_stays_inactive() {
    let src = "#if 0\n#ifdef CONFIG_A\na\n#else\nb\n#endif\n#else\nc\n#endif\n";
    assert_eq!(kept(src), ["c"]);
}

#[test]
fn continuation_lines_are_blanked_and_counted() {
    let mut b = b"#define F(x) \\\n  foo(x)\nint y;\n".to_vec();
    let r = process(&mut b, &config());
    assert_eq!(r.macros.len(), 1);
    assert_eq!(r.macros[0].params.as_deref(), Some(&["x".into()][..]));
    assert_eq!(r.macros[0].body, "foo(x)");
    assert_eq!(String::from_utf8(b).unwrap().trim(), "int y;");
}

fn versioned(v: i64) -> CppConfig {
    CppConfig {
        version: Some(TreeVersion {
            code: "LINUX_VERSION_CODE".into(),
            makes: vec!["KERNEL_VERSION".into(), "KERNEL_VER".into()],
            value: v,
        }),
        ..config()
    }
}

fn kept_with(src: &str, config: &CppConfig) -> Vec<String> {
    let mut b = src.as_bytes().to_vec();
    process(&mut b, config);
    let text = String::from_utf8(b).unwrap();
    text.split_whitespace().map(str::to_string).collect()
}

#[test]
fn the_trees_release_decides_version_tests() {
    let c = versioned(TreeVersion::code_of(2, 2, 26));
    let src = "#if LINUX_VERSION_CODE >= KERNEL_VERSION(2,1,0)\na\n#else\nb\n#endif\n\
               #if LINUX_VERSION_CODE < KERNEL_VERSION(2,3,0) && !defined(CONFIG_X)\nc\n#endif\n\
               #if (LINUX_VERSION_CODE > 0x20100) || X\nd\n#endif\n\
               #if LINUX_VERSION_CODE == KERNEL_VERSION(2,2,26) && defined(KERNEL_VERSION)\ne\n#endif\n\
               #if LINUX_VERSION_CODE != 131610\nf\n#else\ng\n#endif\n\
               #if !(LINUX_VERSION_CODE < KERNEL_VERSION(2,1,0))\nh\n#endif\n\
               #ifndef LINUX_VERSION_CODE\ni\n#endif\n";
    // `c`: `< 2.3.0` is true, and CONFIG_X unknown keeps today's first-branch rule.
    assert_eq!(kept_with(src, &c), ["a", "c", "d", "e", "g", "h"]);
    let old = versioned(TreeVersion::code_of(2, 0, 40));
    assert_eq!(kept_with(src, &old), ["b", "c", "d", "f"]);
    // ftape's KERNEL_VER, the same formula under another name the knowledge base lists.
    let ftape = "#if LINUX_VERSION_CODE < KERNEL_VER(2,1,18)
old
#else
new
#endif
";
    assert_eq!(kept_with(ftape, &c), ["new"]);
    assert_eq!(kept_with(ftape, &old), ["old"]);
}

#[test]
fn without_a_release_version_tests_stay_unknown() {
    let src = "#if LINUX_VERSION_CODE < KERNEL_VERSION(2,1,0)\na\n#else\nb\n#endif\n\
               #undef KERNEL_VERSION\n";
    assert_eq!(kept(src), ["a"]);
    let c = versioned(TreeVersion::code_of(2, 4, 0));
    let undone = "#undef LINUX_VERSION_CODE\n#if LINUX_VERSION_CODE < 5\na\n#else\nb\n#endif\n";
    assert_eq!(kept_with(undone, &c), ["a"]);
}

#[test]
fn later_definitions_of_a_group_on_one_unknown_symbol_are_noted() {
    let mut b = b"#ifdef DBG\n#define D(x) printk(x)\n#define E 1\n#else\n#define D(x)\n#endif\n\
                  #ifndef NDBG\n#define F(x) g(x)\n#else\n#define F(x)\n#endif\n\
                  #if DBG > 1\n#define G(x) g(x)\n#else\n#define G(x)\n#endif\n"
        .to_vec();
    let r = process(&mut b, &config());
    // `#ifndef` takes the branch of a build without the symbol already; `DBG > 1` tests
    // more than one symbol's presence.
    assert_eq!(
        r.alt_macros,
        vec![("D".to_string(), "DBG".to_string(), String::new())]
    );
}

#[test]
fn unbalanced_is_reported_not_fatal() {
    let mut b = b"#endif\n#else\nx\n#if 1\n".to_vec();
    assert!(process(&mut b, &config()).unbalanced);
}

#[test]
fn branches_taken_on_one_unknown_symbol_are_recorded() {
    let mut b = b"#ifdef DBG\na\n#else\nb\n#endif\n#if LEVEL\nc\n#endif\n#if defined(X) && Y\nd\n#endif\n\
                  #ifndef GUARD\ne\n#endif\n#ifdef CONFIG_ARCH_S390\nf\n#endif\n#if 0\n#define OFF 1\n#endif\n"
        .to_vec();
    let r = process(&mut b, &config());
    let regions: Vec<(&str, CondTest, u32, u32)> = (r.cond_regions.iter())
        .map(|c| (c.symbol.as_str(), c.test, c.from, c.to))
        .collect();
    // Two symbols, `#ifndef` (its first branch is the build without the symbol) and an
    // architecture's symbol (an arch region) are not recorded.
    assert_eq!(
        regions,
        vec![
            ("DBG", CondTest::Defined, 1, 3),
            ("LEVEL", CondTest::Value, 6, 8)
        ]
    );
    assert_eq!(r.inactive_defines, vec!["OFF".to_string()]);
}
