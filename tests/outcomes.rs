//! `entries` on tests/fixtures/outcomes: why a registration call led to no routine.

mod support;

use modrace::entries::{EntriesReport, Outcome};
use support::Tree;

fn report() -> EntriesReport {
    support::entries(&Tree::fixture("outcomes")).0
}

/// The outcome of the `register_chrdev` call whose first argument is `major`.
fn outcome(r: &EntriesReport, major: &str) -> Outcome {
    r.registrations
        .iter()
        .find(|s| s.routine == "register_chrdev" && s.args[0] == major)
        .unwrap_or_else(|| panic!("no register_chrdev({major}, ...)"))
        .outcome
}

#[test]
fn reasons_for_calls_that_lead_nowhere() {
    let r = report();
    assert_eq!(outcome(&r, "1"), Outcome::Parameter);
    assert_eq!(outcome(&r, "2"), Outcome::Null);
    assert_eq!(outcome(&r, "3"), Outcome::Expression);
    assert_eq!(outcome(&r, "4"), Outcome::UnknownName);
    assert_eq!(outcome(&r, "5"), Outcome::EmptyTable);
    assert_eq!(outcome(&r, "6"), Outcome::TypeMismatch);
    assert_eq!(outcome(&r, "7"), Outcome::NotVisible);
}

#[test]
fn extern_in_a_header_finds_the_definition() {
    let r = report();
    assert_eq!(outcome(&r, "8"), Outcome::Entries);
    let open = r
        .entries
        .iter()
        .find(|e| e.function == "shared_open")
        .expect("shared_open");
    assert_eq!(open.registration_file, "drivers/b.c");
    assert_eq!(open.slot.to_string(), "file_operations.open");
}

#[test]
fn a_static_in_a_header_is_each_includers_own() {
    let r = report();
    let open = r
        .entries
        .iter()
        .find(|e| e.function == "dzx_open")
        .expect("dzx_open");
    assert_eq!(open.registration_file, "drivers/char/dzx.c");
    // sgx.c, in another directory, cannot include dzx.h: its dzx_fops is not that one.
    assert!(!r.entries.iter().any(|e| e.function == "sgx_open"
        || (e.function == "dzx_open" && e.registration_file != "drivers/char/dzx.c")));
    assert_eq!(outcome(&r, "10"), Outcome::UnknownName);
}

#[test]
fn pattern_routine_handed_a_function_is_a_callback() {
    let r = report();
    let cb = r
        .entries
        .iter()
        .find(|e| e.function == "b_handler")
        .expect("b_handler");
    assert_eq!(cb.slot.to_string(), "frob_register_handler(arg1)");
    assert_eq!(cb.takes, modrace::kb::Takes::Token);
    assert_eq!(cb.takes_source, modrace::kb::TakesSource::Heuristic);
    assert_eq!(r.entries.len(), 3, "{:#?}", r.entries);
}
