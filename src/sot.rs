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

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

const LIST_LABELS: [(&str, ListSection); 3] = [
    ("Acceptance:", ListSection::Acceptance),
    ("Blocked by:", ListSection::BlockedBy),
    ("Current unblock:", ListSection::CurrentUnblock),
];

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

/// A one-line document with its line breaks put back, and where each line came from.
#[derive(Debug, Clone)]
pub(crate) struct Restored {
    /// The Markdown with line breaks.
    pub text: String,
    /// For each line of `text`: (offset in `text`, offset in the original).
    line_origins: Vec<(usize, usize)>,
}

impl Restored {
    fn original_offset(&self, restored_offset: usize) -> usize {
        let index = self
            .line_origins
            .partition_point(|(start, _)| *start <= restored_offset)
            .saturating_sub(1);
        self.line_origins
            .get(index)
            .map_or(0, |(start, origin)| origin + (restored_offset - start))
    }
}

/// A word of the one-line text; a backtick code span is one word however many spaces it has.
struct Word<'a> {
    text: &'a str,
    offset: usize,
}

fn words(text: &str) -> Vec<Word<'_>> {
    let bytes = text.as_bytes();
    let mut words = Vec::new();
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index].is_ascii_whitespace() {
            index += 1;
            continue;
        }
        let start = index;
        let mut in_code = false;
        while index < bytes.len() && (in_code || !bytes[index].is_ascii_whitespace()) {
            if bytes[index] == b'`' {
                in_code = !in_code;
            }
            index += 1;
        }
        words.push(Word {
            text: &text[start..index],
            offset: start,
        });
    }
    words
}

fn is_front_matter_key(word: &str) -> bool {
    word.strip_suffix(':').is_some_and(|key| {
        key.starts_with(|c: char| c.is_ascii_lowercase())
            && key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    })
}

/// Puts the line breaks back into a one-line SOT (see the module docs for the rules).
/// Errors carry a byte offset into `text`.
pub(crate) fn restore_line_breaks(text: &str) -> Result<Restored, (usize, String)> {
    let words = words(text);
    let mut out = RestoredBuilder::default();
    let mut index = 0;
    let mut title: Option<String> = None;

    // Front matter.
    if words.first().is_some_and(|word| word.text == "---") {
        out.line("---", words[0].offset);
        index = 1;
        let close = words[index..]
            .iter()
            .position(|word| word.text == "---")
            .map(|position| position + index)
            .ok_or((
                words[0].offset,
                "front matter opened with `---` is never closed".to_owned(),
            ))?;
        while index < close {
            let key = &words[index];
            if !is_front_matter_key(key.text) {
                return Err((
                    key.offset,
                    format!("expected a front-matter `key:`, found {:?}", key.text),
                ));
            }
            let mut value_words = Vec::new();
            index += 1;
            while index < close && !is_front_matter_key(words[index].text) {
                value_words.push(words[index].text);
                index += 1;
            }
            let value = value_words.join(" ");
            if key.text == "title:" {
                title = Some(value.clone());
            }
            out.line(&format!("{} {value}", key.text), key.offset);
        }
        out.line("---", words[close].offset);
        index = close + 1;
    }

    // Body.
    #[derive(PartialEq)]
    enum State {
        Paragraph,
        Heading,
        List,
    }
    let mut state = State::Paragraph;
    let mut current = String::new();
    let mut current_offset = 0;
    let flush = |out: &mut RestoredBuilder, current: &mut String, offset: usize| {
        if !current.is_empty() {
            out.blank();
            out.line(current, offset);
            current.clear();
        }
    };
    while index < words.len() {
        let word = &words[index];
        let next = words.get(index + 1).map(|word| word.text);
        let label = match (word.text, next) {
            ("Acceptance:", _) => Some(("Acceptance:", 1)),
            ("Blocked", Some("by:")) => Some(("Blocked by:", 2)),
            ("Current", Some("unblock:")) => Some(("Current unblock:", 2)),
            _ => None,
        };
        if let Some((label, width)) = label {
            flush(&mut out, &mut current, current_offset);
            out.blank();
            out.line(label, word.offset);
            out.blank();
            state = State::List;
            index += width;
            continue;
        }
        if (1..=6).contains(&word.text.len()) && word.text.bytes().all(|b| b == b'#') {
            flush(&mut out, &mut current, current_offset);
            current.push_str(word.text);
            current_offset = word.offset;
            state = State::Heading;
            index += 1;
            // A level-1 heading is the document title: end it where the front matter's title ends.
            if let Some(title) = title.as_ref().filter(|_| word.text == "#") {
                let title_words = title.split(' ').count();
                let candidate: Vec<&str> = words[index..].iter().take(title_words).map(|w| w.text).collect();
                if candidate.join(" ") == *title {
                    current.push(' ');
                    current.push_str(title);
                    index += title_words;
                    flush(&mut out, &mut current, current_offset);
                    state = State::Paragraph;
                }
            }
            continue;
        }
        if word.text == "Status:" {
            flush(&mut out, &mut current, current_offset);
            state = State::Paragraph;
        }
        if state == State::List && word.text == "-" {
            if !current.is_empty() {
                out.line(&current, current_offset);
                current.clear();
            }
            current.push('-');
            current_offset = word.offset;
            index += 1;
            continue;
        }
        if current.is_empty() {
            current_offset = word.offset;
        } else {
            current.push(' ');
        }
        current.push_str(word.text);
        index += 1;
    }
    if state == State::List {
        if !current.is_empty() {
            out.line(&current, current_offset);
        }
    } else {
        flush(&mut out, &mut current, current_offset);
    }
    Ok(out.finish())
}

#[derive(Default)]
struct RestoredBuilder {
    text: String,
    line_origins: Vec<(usize, usize)>,
    last_origin: usize,
}

impl RestoredBuilder {
    fn line(&mut self, line: &str, origin: usize) {
        self.line_origins.push((self.text.len(), origin));
        self.last_origin = origin;
        self.text.push_str(line);
        self.text.push('\n');
    }
    fn blank(&mut self) {
        if !self.text.is_empty() && !self.text.ends_with("\n\n") {
            let origin = self.last_origin;
            self.line("", origin);
        }
    }
    fn finish(self) -> Restored {
        Restored {
            text: self.text,
            line_origins: self.line_origins,
        }
    }
}

/// A block-level piece of the Markdown, with its byte offset in the parsed text.
#[derive(Debug)]
enum Block {
    FrontMatter(String, usize),
    Heading(u8, String, usize),
    Paragraph(String, usize),
    List(Vec<(String, usize)>, usize),
}

fn blocks(markdown: &str) -> Result<Vec<Block>, (usize, String)> {
    let options = Options::ENABLE_YAML_STYLE_METADATA_BLOCKS;
    let mut blocks = Vec::new();
    let mut text = String::new();
    let mut start = 0;
    let mut items: Vec<(String, usize)> = Vec::new();
    let mut list_depth = 0usize;
    let mut list_start = 0;
    for (event, range) in Parser::new_ext(markdown, options).into_offset_iter() {
        match event {
            Event::Start(Tag::MetadataBlock(_) | Tag::Heading { .. } | Tag::Paragraph | Tag::Item)
                if list_depth == 0 || matches!(event, Event::Start(Tag::Item)) =>
            {
                text.clear();
                start = range.start;
            }
            Event::Start(Tag::List(_)) => {
                list_depth += 1;
                if list_depth > 1 {
                    return Err((
                        range.start,
                        "nested bullets are not supported: flatten the list".to_owned(),
                    ));
                }
                items.clear();
                list_start = range.start;
            }
            Event::End(TagEnd::List(_)) => {
                list_depth -= 1;
                blocks.push(Block::List(std::mem::take(&mut items), list_start));
            }
            Event::End(TagEnd::Item) => items.push((normalise(&text), start)),
            Event::End(TagEnd::MetadataBlock(_)) => blocks.push(Block::FrontMatter(text.clone(), start)),
            Event::End(TagEnd::Heading(level)) => blocks.push(Block::Heading(level as u8, normalise(&text), start)),
            Event::End(TagEnd::Paragraph) if list_depth == 0 => blocks.push(Block::Paragraph(normalise(&text), start)),
            Event::Text(t) => text.push_str(&t),
            Event::Code(code) => {
                text.push('`');
                text.push_str(&code);
                text.push('`');
            }
            Event::SoftBreak | Event::HardBreak => text.push(' '),
            Event::Start(Tag::CodeBlock(_) | Tag::Table(_) | Tag::BlockQuote(_) | Tag::HtmlBlock) => {
                return Err((
                    range.start,
                    "code blocks, tables, quotes and HTML are not part of the SOT format".to_owned(),
                ));
            }
            _ => {}
        }
    }
    Ok(blocks)
}

/// Collapses runs of whitespace; keeps everything else (backticks included) as written.
/// Bullets are stored this way and scenarios matched to them this way.
pub(crate) fn normalise(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ListSection {
    Acceptance,
    BlockedBy,
    CurrentUnblock,
}

enum Interpretation {
    NoWorkItems,
    At(usize, String),
}

fn work_item_heading(text: &str) -> Option<(String, String)> {
    let (id, title) = text.split_once(" - ")?;
    let (prefix, number) = id.rsplit_once('-')?;
    let id_ok = !prefix.is_empty()
        && prefix
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-')
        && !number.is_empty()
        && number.chars().all(|c| c.is_ascii_digit());
    (id_ok && !title.trim().is_empty()).then(|| (id.to_owned(), title.trim().to_owned()))
}

fn interpret(blocks: Vec<Block>) -> Result<SotDocument, Interpretation> {
    let mut document = SotDocument {
        front_matter: BTreeMap::new(),
        title: None,
        preamble: String::new(),
        work_items: Vec::new(),
    };
    // The work item being read, its heading offset, and the list label awaiting bullets.
    let mut current: Option<(WorkItem, usize)> = None;
    let mut pending_label: Option<(ListSection, &'static str, usize)> = None;
    let mut seen_status = false;

    let finish = |item: Option<(WorkItem, usize)>,
                  document: &mut SotDocument,
                  pending: Option<(ListSection, &'static str, usize)>,
                  seen_status: bool|
     -> Result<(), Interpretation> {
        if let Some((_, label, offset)) = pending {
            return Err(Interpretation::At(
                offset,
                format!("`{label}` has no bullets: add `- …` items under it"),
            ));
        }
        if let Some((item, offset)) = item {
            if !seen_status {
                return Err(Interpretation::At(
                    offset,
                    format!("work item {} has no `Status:` line", item.id),
                ));
            }
            if item.acceptance.is_empty() {
                return Err(Interpretation::At(
                    offset,
                    format!("work item {} has no `Acceptance:` bullets", item.id),
                ));
            }
            if let Some(previous) = document.work_items.iter().find(|other| other.id == item.id) {
                return Err(Interpretation::At(
                    offset,
                    format!("duplicate work item id {} (first titled {:?})", item.id, previous.title),
                ));
            }
            document.work_items.push(item);
        }
        Ok(())
    };

    for block in blocks {
        match block {
            Block::FrontMatter(text, offset) => {
                for line in text.lines().filter(|line| !line.trim().is_empty()) {
                    let (key, value) = line.split_once(':').ok_or_else(|| {
                        Interpretation::At(offset, format!("front-matter line {line:?} is not `key: value`"))
                    })?;
                    if document
                        .front_matter
                        .insert(key.trim().to_owned(), value.trim().to_owned())
                        .is_some()
                    {
                        let key = key.trim();
                        return Err(Interpretation::At(
                            offset,
                            format!("front-matter key `{key}` appears twice"),
                        ));
                    }
                }
            }
            Block::Heading(1, text, _) if current.is_none() && document.title.is_none() => document.title = Some(text),
            Block::Heading(2, text, offset) => {
                let Some((id, title)) = work_item_heading(&text) else {
                    return Err(Interpretation::At(
                        offset,
                        format!("heading {text:?} has no work-item id: expected `## ID-NNN - Title`"),
                    ));
                };
                finish(current.take(), &mut document, pending_label.take(), seen_status)?;
                seen_status = false;
                current = Some((
                    WorkItem {
                        id,
                        title,
                        status: String::new(),
                        body: String::new(),
                        acceptance: Vec::new(),
                        blocked_by: Vec::new(),
                        current_unblock: Vec::new(),
                    },
                    offset,
                ));
            }
            Block::Heading(_, text, offset) => {
                return Err(Interpretation::At(
                    offset,
                    format!("unexpected heading {text:?}: work items are `## ID - Title`"),
                ));
            }
            Block::Paragraph(text, offset) => {
                if let Some((_, label, label_offset)) = pending_label.take() {
                    return Err(Interpretation::At(
                        label_offset,
                        format!("`{label}` has no bullets: add `- …` items under it"),
                    ));
                }
                if let Some((label, section)) = LIST_LABELS.iter().find(|(label, _)| text == *label) {
                    if current.is_none() {
                        return Err(Interpretation::At(offset, format!("`{label}` outside a work item")));
                    }
                    pending_label = Some((*section, label, offset));
                    continue;
                }
                let Some((item, _)) = current.as_mut() else {
                    append_paragraph(&mut document.preamble, &text);
                    continue;
                };
                if let Some(rest) = text.strip_prefix("Status:") {
                    if seen_status {
                        return Err(Interpretation::At(
                            offset,
                            format!("work item {} has a second `Status:`", item.id),
                        ));
                    }
                    let rest = rest.trim_start();
                    let (value, body) = rest.split_once(' ').unwrap_or((rest, ""));
                    let value = value.trim_end_matches('.');
                    if value.is_empty() {
                        return Err(Interpretation::At(
                            offset,
                            format!("work item {} has an empty `Status:`", item.id),
                        ));
                    }
                    item.status = value.to_owned();
                    seen_status = true;
                    append_paragraph(&mut item.body, body);
                } else {
                    append_paragraph(&mut item.body, &text);
                }
            }
            Block::List(items, offset) => {
                let Some((section, _, _)) = pending_label.take() else {
                    return Err(Interpretation::At(
                        offset,
                        "bullets outside a section: put them under `Acceptance:`, `Blocked by:` or `Current unblock:`"
                            .to_owned(),
                    ));
                };
                let Some((item, _)) = current.as_mut() else {
                    return Err(Interpretation::At(
                        offset,
                        "bullets before the first work item".to_owned(),
                    ));
                };
                let target = match section {
                    ListSection::Acceptance => &mut item.acceptance,
                    ListSection::BlockedBy => &mut item.blocked_by,
                    ListSection::CurrentUnblock => &mut item.current_unblock,
                };
                for (bullet, bullet_offset) in items {
                    if bullet.is_empty() {
                        return Err(Interpretation::At(bullet_offset, "empty bullet".to_owned()));
                    }
                    if bullet.matches('`').count() % 2 == 1 {
                        return Err(Interpretation::At(
                            bullet_offset,
                            format!("bullet {bullet:?} has an unclosed backtick (truncated file?)"),
                        ));
                    }
                    target.push(bullet);
                }
            }
        }
    }
    finish(current.take(), &mut document, pending_label.take(), seen_status)?;
    if document.work_items.is_empty() {
        return Err(Interpretation::NoWorkItems);
    }
    Ok(document)
}

fn append_paragraph(body: &mut String, text: &str) {
    if text.is_empty() {
        return;
    }
    if !body.is_empty() {
        body.push_str("\n\n");
    }
    body.push_str(text);
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let message = error_of(
            "## X-1 - A\n\nStatus: x.\n\nAcceptance:\n\n- a\n\n## X-1 - B\n\nStatus: x.\n\nAcceptance:\n\n- b\n",
        );
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
}
