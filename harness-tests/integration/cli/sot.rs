//! The SOT parser through its library API (`case_harness::sot::load`): the seed as delivered
//! (one line) and with its line breaks restored parse to the same document, with the exact
//! counts and bullet texts; each malformed fixture is an error naming the file, line and column.

use case_harness::sot::{self, SotDocument, SotError};

use crate::cli::util::fixture;

fn load(relative: &str) -> SotDocument {
    let path = fixture(relative);
    sot::load(&path).unwrap_or_else(|err| panic!("{relative} should parse: {err}"))
}

#[test]
fn both_seed_forms_parse_to_the_same_document() {
    assert_eq!(load("sot/seed-one-line.md"), load("sot/seed-multi-line.md"));
}

#[test]
fn seed_has_the_expected_work_items_and_bullets() {
    for relative in ["sot/seed-one-line.md", "sot/seed-multi-line.md"] {
        let document = load(relative);
        let summary: Vec<(&str, &str, usize, usize, usize)> = document
            .work_items
            .iter()
            .map(|item| {
                (
                    item.id.as_str(),
                    item.status.as_str(),
                    item.acceptance.len(),
                    item.blocked_by.len(),
                    item.current_unblock.len(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("CTO-WORK-021", "validated", 9, 0, 0),
                ("CTO-WORK-022", "blocked", 10, 2, 3)
            ],
            "{relative}"
        );

        let route_prd = document.work_item("CTO-WORK-021").expect("021");
        assert_eq!(route_prd.title, "Case-Compatible Local Provider Adapter Route PRD");
        assert_eq!(
            route_prd.acceptance.first().map(String::as_str),
            Some("States that this route applies only when `decision_status=local_provider_required`.")
        );
        assert_eq!(
            route_prd.acceptance.last().map(String::as_str),
            Some("Does not approve or implement any provider.")
        );
        assert_eq!(
            route_prd.body,
            "Register the local-provider adapter route as the autonomous option if `CTO-WORK-020` is resolved with `decision_status=local_provider_required`."
        );

        let route = document.work_item("CTO-WORK-022").expect("022");
        assert_eq!(route.title, "Case-Compatible Local Provider Adapter Route");
        assert_eq!(
            route.acceptance.first().map(String::as_str),
            Some("Decision record has `decision_status=local_provider_required`.")
        );
        assert_eq!(
            route.acceptance.last().map(String::as_str),
            Some("Real Case Stage 2 produces a pass report only through the Harness Evidence Interface.")
        );
        assert_eq!(
            route.blocked_by,
            [
                "`CTO-WORK-020` decision record selecting `local_provider_required`.",
                "A Case-compatible local provider adapter implementation or supplied local provider endpoint.",
            ]
        );
        assert_eq!(
            route.current_unblock.first().map(String::as_str),
            Some("Decision record now selects `local_provider_required`.")
        );
        assert_eq!(
            route.current_unblock.last().map(String::as_str),
            Some("Remaining blocker is supplied local provider endpoint/config plus real Stage 2 pass evidence.")
        );
    }
}

#[test]
fn seed_front_matter_title_and_preamble() {
    let document = load("sot/seed-one-line.md");
    let front: Vec<(&str, &str)> = document
        .front_matter
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .collect();
    assert_eq!(
        front,
        [
            ("core_promotion_status", "not-promoted"),
            ("created", "2026-05-31"),
            ("last_reviewed", "2026-05-31"),
            ("lifecycle_classification", "sot"),
            ("owner", "jp"),
            ("route", "cto"),
            ("status", "draft"),
            ("title", "CTO Case Local Provider Route Issues"),
        ]
    );
    assert_eq!(document.title.as_deref(), Some("CTO Case Local Provider Route Issues"));
    assert_eq!(
        document.preamble,
        "Local planning SOT only. Not a Core Protocol. Not active Core authority."
    );
}

/// The error for `fixtures/<relative>`, as displayed.
fn error_of(relative: &str) -> (SotError, String) {
    let path = fixture(relative);
    match sot::load(&path) {
        Ok(document) => panic!("{relative} should not parse, got {document:?}"),
        Err(err) => {
            let message = err.to_string();
            (err, message)
        }
    }
}

#[test]
fn malformed_documents_name_file_line_and_column() {
    let cases = [
        (
            "sot/malformed-heading-without-id.md",
            16,
            1,
            "heading \"Notes for later\" has no work-item id",
        ),
        (
            "sot/malformed-bullets-outside-section.md",
            14,
            1,
            "bullets outside a section",
        ),
        (
            "sot/malformed-acceptance-without-bullets.md",
            12,
            1,
            "`Acceptance:` has no bullets",
        ),
        (
            "sot/malformed-duplicate-id.md",
            16,
            1,
            "duplicate work item id CTO-WORK-031 (first titled \"First of the name\")",
        ),
        ("sot/malformed-no-work-items.md", 8, 54, "no work items"),
    ];
    for (relative, line, column, expected) in cases {
        let (_, message) = error_of(relative);
        let place = format!("{} line {line}, column {column}: ", fixture(relative).display());
        assert!(message.starts_with(&place), "{relative}: {message}");
        assert!(message.contains(expected), "{relative}: {message}");
    }
}

#[test]
fn truncated_seed_points_at_the_cut_bullet() {
    let relative = "sot/malformed-truncated.md";
    let truncated = std::fs::read_to_string(fixture(relative)).expect("read");
    let seed = std::fs::read_to_string(fixture("sot/seed-one-line.md")).expect("read");
    assert!(
        seed.starts_with(&truncated) && truncated.len() < seed.len(),
        "a prefix of the seed"
    );
    assert!(truncated.ends_with("before `case_process_st"), "cut inside a code span");

    let (err, message) = error_of(relative);
    assert!(matches!(err, SotError::Malformed { .. }), "{err:?}");
    // The one line has no breaks: the column is the bullet's `-` in the original file.
    let column = truncated
        .rfind(" - Missing local adapter config")
        .expect("the cut bullet")
        + 2;
    let place = format!("{} line 1, column {column}: ", fixture(relative).display());
    assert!(message.starts_with(&place), "{message}");
    assert!(
        message.contains("has an unclosed backtick (truncated file?)"),
        "{message}"
    );
}
