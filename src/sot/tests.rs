//! One-line and multi-line documents agree, and errors name the place.

use std::path::Path;

use super::{parse, restore_line_breaks};

const MINI: &str = "--- title: T status: draft --- # T Intro. ## X-1 - First Status: blocked. Body `a b`. Acceptance: - One `x - y`. - Two. Blocked by: - Dep.";

#[test]
fn one_line_and_multi_line_agree() {
    let one = parse(Path::new("one.md"), MINI).expect("one-line parses");
    let restored = restore_line_breaks(MINI).expect("restores");
    let multi = parse(Path::new("multi.md"), &restored.text).expect("multi-line parses");
    assert_eq!(one, multi);
    let item = &one.work_items[0];
    assert_eq!(
        (item.id.as_str(), item.title.as_str(), item.status.as_str()),
        ("X-1", "First", "blocked")
    );
    assert_eq!(item.body, "Body `a b`.");
    assert_eq!(item.acceptance, vec!["One `x - y`.", "Two."]);
    assert_eq!(item.blocked_by, vec!["Dep."]);
    assert_eq!(one.title.as_deref(), Some("T"));
    assert_eq!(one.preamble, "Intro.");
    assert_eq!(one.front("status"), Some("draft"));
}

fn error_of(text: &str) -> String {
    match parse(Path::new("bad.md"), text) {
        Err(err) => err.to_string(),
        Ok(doc) => panic!("expected an error, parsed {doc:?}"),
    }
}

#[test]
fn malformed_documents_name_the_place() {
    let message = error_of("# T\n\n## X-1 - A\n\nStatus: blocked.\n\nAcceptance:\n\n## X-2 - B\n");
    assert!(
        message.contains("bad.md line 7, column 1") && message.contains("`Acceptance:` has no bullets"),
        "{message}"
    );
    let message =
        error_of("## X-1 - A\n\nStatus: x.\n\nAcceptance:\n\n- a\n\n## X-1 - B\n\nStatus: x.\n\nAcceptance:\n\n- b\n");
    assert!(
        message.contains("line 9") && message.contains("duplicate work item id X-1"),
        "{message}"
    );
    let message = error_of("# Just a title\n\nNo items.\n");
    assert!(message.contains("bad.md line 3, column 10: no work items"), "{message}");
    let message = error_of("## Notes\n\nStatus: x.\n");
    assert!(
        message.contains("line 1") && message.contains("has no work-item id"),
        "{message}"
    );
    let message = error_of("## X-1 - A\n\nStatus: x.\n\n- stray\n");
    assert!(
        message.contains("line 5") && message.contains("bullets outside a section"),
        "{message}"
    );
}

#[test]
fn one_line_errors_point_into_the_line() {
    let text = "--- title: T --- # T ## X-1 - A Status: x. Acceptance: - `open";
    let message = error_of(text);
    let column = text.find("- `open").expect("present") + 1;
    assert!(
        message.contains(&format!("line 1, column {column}")) && message.contains("unclosed backtick"),
        "{message}"
    );
    assert!(error_of("--- title: T status: x # T").contains("never closed"));
}

#[test]
fn a_repeated_front_matter_key_is_an_error() {
    let message = error_of("---\ntitle: A\ntitle: B\n---\n\n## X-1 - A\n\nStatus: x.\n\nAcceptance:\n\n- a\n");
    assert!(message.contains("`title` appears twice"), "{message}");
}
