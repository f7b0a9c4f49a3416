//! What a planning document is once read: front matter, title, preamble and work items, and
//! the errors that name the file, line and column of the original.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// A parsed planning document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SotDocument {
    /// `key: value` pairs of the front matter (sorted by key; the last of a repeated key wins).
    pub front_matter: BTreeMap<String, String>,
    /// The level-1 heading, if any.
    pub title: Option<String>,
    /// Text between the title and the first work item.
    pub preamble: String,
    /// Work items in file order.
    pub work_items: Vec<WorkItem>,
}

impl SotDocument {
    /// A front-matter value by key.
    pub fn front(&self, key: &str) -> Option<&str> {
        self.front_matter.get(key).map(String::as_str)
    }

    /// A work item by id.
    pub fn work_item(&self, id: &str) -> Option<&WorkItem> {
        self.work_items.iter().find(|item| item.id == id)
    }
}

/// One `## ID - Title` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkItem {
    /// e.g. `CTO-WORK-022`.
    pub id: String,
    /// Heading text after the id.
    pub title: String,
    /// The `Status:` value without its trailing period, e.g. `blocked`.
    pub status: String,
    /// Paragraphs of the section other than the status and labels, joined by blank lines.
    pub body: String,
    /// `Acceptance:` bullets, in order, inline code kept in backticks.
    pub acceptance: Vec<String>,
    /// `Blocked by:` bullets.
    pub blocked_by: Vec<String>,
    /// `Current unblock:` bullets.
    pub current_unblock: Vec<String>,
}

/// Where in the original file something is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// Why a planning document could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SotError {
    /// The file could not be read at all.
    #[error("{0}")]
    Read(#[from] crate::records::RecordError),
    /// The file is readable but malformed.
    #[error("{path} {location}: {message}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// Where.
        location: Location,
        /// What is wrong and what to do.
        message: String,
    },
    /// The file has no work items at all.
    #[error("{path} {location}: no work items (expected `## ID - Title` headings such as `## CTO-WORK-021 - …`)")]
    NoWorkItems {
        /// The file.
        path: PathBuf,
        /// Where the content ends without a work item having started.
        location: Location,
    },
}
