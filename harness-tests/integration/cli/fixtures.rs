//! `fixtures/README.md` stays the index of the fixtures: every fixture file has its line, and
//! every line names a file that exists.

use std::collections::BTreeSet;

use crate::cli::util::root;

#[test]
fn readme_lists_every_fixture_and_only_existing_ones() {
    let fixtures = root().join("fixtures");
    let readme = std::fs::read_to_string(fixtures.join("README.md")).expect("fixtures/README.md");
    let mut on_disk = BTreeSet::new();
    for folder in ["decision", "admission", "sot", "agents"] {
        for entry in std::fs::read_dir(fixtures.join(folder)).expect("fixture folder") {
            let name = entry.expect("entry").file_name().into_string().expect("UTF-8 name");
            if name != "README.md" {
                on_disk.insert(format!("{folder}/{name}"));
            }
        }
    }
    let mut listed = BTreeSet::new();
    let mut folder = "";
    for line in readme.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            folder = heading.split('/').next().unwrap_or_default();
        } else if let Some(item) = line.strip_prefix("- `") {
            let name = item.split('`').next().unwrap_or_default();
            assert!(
                listed.insert(format!("{folder}/{name}")),
                "{folder}/{name} is listed twice"
            );
        }
    }
    assert_eq!(listed, on_disk, "fixtures/README.md and the fixture folders disagree");
}
