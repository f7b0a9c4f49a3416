//! The reading pipeline: bytes → (restored) Markdown → blocks → work items, with every error
//! mapped back to a place in the original file.

use std::path::Path;

use super::blocks::blocks;
use super::document::{Location, SotDocument, SotError};
use super::interpret::{Interpretation, interpret};
use super::restore::restore_line_breaks;

/// Reads and parses a planning document.
pub fn load(path: &Path) -> Result<SotDocument, SotError> {
    let bytes = crate::records::read_bounded(path)?;
    let text = String::from_utf8(bytes).map_err(|err| crate::records::RecordError::NotUtf8 {
        path: path.to_owned(),
        offset: err.utf8_error().valid_up_to(),
    })?;
    parse(path, &text)
}

/// Parses a planning document held in memory; `path` is used in errors only.
pub(crate) fn parse(path: &Path, text: &str) -> Result<SotDocument, SotError> {
    let restored;
    let (markdown, map) = if is_one_line(text) {
        restored = restore_line_breaks(text).map_err(|(offset, message)| SotError::Malformed {
            path: path.to_owned(),
            location: location_of(text, offset),
            message,
        })?;
        (restored.text.as_str(), Some(&restored))
    } else {
        (text, None)
    };
    let located = |offset: usize| -> Location {
        location_of(text, map.map_or(offset, |restored| restored.original_offset(offset)))
    };
    let blocks = blocks(markdown).map_err(|(offset, message)| SotError::Malformed {
        path: path.to_owned(),
        location: located(offset),
        message,
    })?;
    interpret(blocks).map_err(|err| match err {
        Interpretation::NoWorkItems => SotError::NoWorkItems {
            path: path.to_owned(),
            location: location_of(text, text.trim_end().len()),
        },
        Interpretation::At(offset, message) => SotError::Malformed {
            path: path.to_owned(),
            location: located(offset),
            message,
        },
    })
}

fn is_one_line(text: &str) -> bool {
    !text.trim_end_matches(['\n', '\r']).contains('\n')
}

fn location_of(text: &str, offset: usize) -> Location {
    let offset = offset.min(text.len());
    let before = &text[..text.floor_char_boundary(offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |index| index + 1);
    Location {
        line,
        column: before[line_start..].chars().count() + 1,
    }
}
