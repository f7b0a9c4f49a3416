//! The Markdown of a planning document as blocks (front matter, headings, paragraphs, flat
//! lists), parsed with `pulldown-cmark`; anything richer is refused with its offset.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

/// A block-level piece of the Markdown, with its byte offset in the parsed text.
#[derive(Debug)]
pub(super) enum Block {
    FrontMatter(String, usize),
    Heading(u8, String, usize),
    Paragraph(String, usize),
    List(Vec<(String, usize)>, usize),
}

pub(super) fn blocks(markdown: &str) -> Result<Vec<Block>, (usize, String)> {
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
