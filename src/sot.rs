//! The planning document ("SOT"): a Markdown file with front matter and work items
//! (`## CTO-WORK-NNN - Title`), each with a `Status:`, body text and bulleted `Acceptance:`,
//! `Blocked by:` and `Current unblock:` sections.
//!
//! The seed was delivered with its line breaks lost: the whole file is one line. Such a file
//! is first given its structure back (`restore_line_breaks`) and then parsed like any other
//! document with `pulldown-cmark`, so both forms go through one parser and give identical
//! work items. Restoring is necessarily a heuristic; its rules are:
//! * front matter is `--- key: value … ---`, keys being lower-case `snake_case` words;
//! * `#`…`######` tokens start headings; a level-1 heading ends where the front matter's
//!   `title` ends, a work-item heading ends at `Status:`;
//! * `Status:`, `Acceptance:`, `Blocked by:` and `Current unblock:` start blocks;
//! * inside a list section, a lone ` - ` starts a new bullet (so a one-line bullet cannot
//!   itself contain ` - ` outside backticks).
//!
//! Errors name the file and the line and column of the *original* file.

mod blocks;
mod document;
mod interpret;
mod parse;
mod restore;

pub(crate) use blocks::normalise;
pub use document::{Location, SotDocument, SotError, WorkItem};
pub use parse::load;
pub(crate) use parse::parse;
pub(crate) use restore::restore_line_breaks;

#[cfg(test)]
mod tests;
