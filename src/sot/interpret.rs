//! From blocks to work items: each block kind read by its own step, with the rules of the
//! format (a `Status:` per item, bullets under a label, unique ids) checked where they apply.

use std::collections::BTreeMap;

use super::blocks::Block;
use super::document::{SotDocument, WorkItem};

const LIST_LABELS: [(&str, ListSection); 3] = [
    ("Acceptance:", ListSection::Acceptance),
    ("Blocked by:", ListSection::BlockedBy),
    ("Current unblock:", ListSection::CurrentUnblock),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ListSection {
    Acceptance,
    BlockedBy,
    CurrentUnblock,
}

/// Why the blocks are not a planning document (offsets into the parsed text).
pub(super) enum Interpretation {
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

/// Reads the blocks in order into a document.
pub(super) fn interpret(blocks: Vec<Block>) -> Result<SotDocument, Interpretation> {
    let mut reader = Reader::default();
    for block in blocks {
        match block {
            Block::FrontMatter(text, offset) => reader.front_matter(&text, offset)?,
            Block::Heading(1, text, _) if reader.current.is_none() && reader.document.title.is_none() => {
                reader.document.title = Some(text);
            }
            Block::Heading(2, text, offset) => reader.work_item(&text, offset)?,
            Block::Heading(_, text, offset) => {
                return Err(Interpretation::At(
                    offset,
                    format!("unexpected heading {text:?}: work items are `## ID - Title`"),
                ));
            }
            Block::Paragraph(text, offset) => reader.paragraph(&text, offset)?,
            Block::List(items, offset) => reader.list(items, offset)?,
        }
    }
    reader.finish_item()?;
    if reader.document.work_items.is_empty() {
        return Err(Interpretation::NoWorkItems);
    }
    Ok(reader.document)
}

/// The document so far, the work item being read (with its heading offset), and the list
/// label awaiting bullets.
struct Reader {
    document: SotDocument,
    current: Option<(WorkItem, usize)>,
    pending_label: Option<(ListSection, &'static str, usize)>,
    seen_status: bool,
}

impl Default for Reader {
    fn default() -> Self {
        Self {
            document: SotDocument {
                front_matter: BTreeMap::new(),
                title: None,
                preamble: String::new(),
                work_items: Vec::new(),
            },
            current: None,
            pending_label: None,
            seen_status: false,
        }
    }
}

impl Reader {
    fn front_matter(&mut self, text: &str, offset: usize) -> Result<(), Interpretation> {
        for line in text.lines().filter(|line| !line.trim().is_empty()) {
            let (key, value) = line
                .split_once(':')
                .ok_or_else(|| Interpretation::At(offset, format!("front-matter line {line:?} is not `key: value`")))?;
            if self
                .document
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
        Ok(())
    }

    /// A `## ID - Title` heading: the previous item is finished and a new one starts.
    fn work_item(&mut self, text: &str, offset: usize) -> Result<(), Interpretation> {
        let Some((id, title)) = work_item_heading(text) else {
            return Err(Interpretation::At(
                offset,
                format!("heading {text:?} has no work-item id: expected `## ID-NNN - Title`"),
            ));
        };
        self.finish_item()?;
        self.current = Some((
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
        Ok(())
    }

    /// The item being read is complete: a status, acceptance bullets, a new id.
    fn finish_item(&mut self) -> Result<(), Interpretation> {
        let seen_status = std::mem::take(&mut self.seen_status);
        if let Some((_, label, offset)) = self.pending_label.take() {
            return Err(Interpretation::At(
                offset,
                format!("`{label}` has no bullets: add `- …` items under it"),
            ));
        }
        let Some((item, offset)) = self.current.take() else {
            return Ok(());
        };
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
        if let Some(previous) = self.document.work_items.iter().find(|other| other.id == item.id) {
            return Err(Interpretation::At(
                offset,
                format!("duplicate work item id {} (first titled {:?})", item.id, previous.title),
            ));
        }
        self.document.work_items.push(item);
        Ok(())
    }

    /// A paragraph: a list label, the preamble, a `Status:` line or body text.
    fn paragraph(&mut self, text: &str, offset: usize) -> Result<(), Interpretation> {
        if let Some((_, label, label_offset)) = self.pending_label.take() {
            return Err(Interpretation::At(
                label_offset,
                format!("`{label}` has no bullets: add `- …` items under it"),
            ));
        }
        if let Some((label, section)) = LIST_LABELS.iter().find(|(label, _)| text == *label) {
            if self.current.is_none() {
                return Err(Interpretation::At(offset, format!("`{label}` outside a work item")));
            }
            self.pending_label = Some((*section, label, offset));
            return Ok(());
        }
        let Some((item, _)) = self.current.as_mut() else {
            append_paragraph(&mut self.document.preamble, text);
            return Ok(());
        };
        let Some(rest) = text.strip_prefix("Status:") else {
            append_paragraph(&mut item.body, text);
            return Ok(());
        };
        if self.seen_status {
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
        self.seen_status = true;
        append_paragraph(&mut item.body, body);
        Ok(())
    }

    /// Bullets: they belong to the pending label of the item being read.
    fn list(&mut self, items: Vec<(String, usize)>, offset: usize) -> Result<(), Interpretation> {
        let Some((section, _, _)) = self.pending_label.take() else {
            return Err(Interpretation::At(
                offset,
                "bullets outside a section: put them under `Acceptance:`, `Blocked by:` or `Current unblock:`"
                    .to_owned(),
            ));
        };
        let Some((item, _)) = self.current.as_mut() else {
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
        Ok(())
    }
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
