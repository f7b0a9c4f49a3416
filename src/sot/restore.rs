//! A one-line planning document given its line breaks back (the rules are in the `sot` module
//! docs): front matter first, then the body word by word, each line remembering where in the
//! original it came from.

/// A one-line document with its line breaks put back, and where each line came from.
#[derive(Debug, Clone)]
pub(crate) struct Restored {
    /// The Markdown with line breaks.
    pub text: String,
    /// For each line of `text`: (offset in `text`, offset in the original).
    line_origins: Vec<(usize, usize)>,
}

impl Restored {
    pub(super) fn original_offset(&self, restored_offset: usize) -> usize {
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
    let (start, title) = restore_front_matter(&words, &mut out)?;
    let mut body = BodyRestorer {
        out,
        state: State::Paragraph,
        current: String::new(),
        current_offset: 0,
    };
    body.restore(&words[start..], title.as_deref());
    Ok(body.finish())
}

/// The front matter, `--- key: value … ---`, one key per line: the index of the first body
/// word, and the `title` value if there is one.
fn restore_front_matter(
    words: &[Word<'_>],
    out: &mut RestoredBuilder,
) -> Result<(usize, Option<String>), (usize, String)> {
    let mut title = None;
    let Some(open) = words.first().filter(|word| word.text == "---") else {
        return Ok((0, title));
    };
    out.line("---", open.offset);
    let mut index = 1;
    let close = words[index..]
        .iter()
        .position(|word| word.text == "---")
        .map(|position| position + index)
        .ok_or((open.offset, "front matter opened with `---` is never closed".to_owned()))?;
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
    Ok((close + 1, title))
}

#[derive(PartialEq)]
enum State {
    Paragraph,
    Heading,
    List,
}

/// The body being restored: the output so far and the line being gathered.
struct BodyRestorer {
    out: RestoredBuilder,
    state: State,
    current: String,
    current_offset: usize,
}

impl BodyRestorer {
    fn restore(&mut self, words: &[Word<'_>], title: Option<&str>) {
        let mut index = 0;
        while index < words.len() {
            let word = &words[index];
            let next = words.get(index + 1).map(|word| word.text);
            index += if let Some((label, width)) = list_label(word.text, next) {
                self.label(label, word.offset);
                width
            } else if (1..=6).contains(&word.text.len()) && word.text.bytes().all(|b| b == b'#') {
                self.heading(word, &words[index + 1..], title)
            } else {
                self.word(word);
                1
            };
        }
    }

    /// Writes out the line gathered so far as its own paragraph.
    fn flush(&mut self) {
        if !self.current.is_empty() {
            self.out.blank();
            self.out.line(&self.current, self.current_offset);
            self.current.clear();
        }
    }

    fn label(&mut self, label: &str, offset: usize) {
        self.flush();
        self.out.blank();
        self.out.line(label, offset);
        self.out.blank();
        self.state = State::List;
    }

    /// A heading token; the words it used up. A level-1 heading is the document title: it ends
    /// where the front matter's title ends.
    fn heading(&mut self, word: &Word<'_>, rest: &[Word<'_>], title: Option<&str>) -> usize {
        self.flush();
        self.current.push_str(word.text);
        self.current_offset = word.offset;
        self.state = State::Heading;
        if let Some(title) = title.filter(|_| word.text == "#") {
            let title_words = title.split(' ').count();
            let candidate: Vec<&str> = rest.iter().take(title_words).map(|w| w.text).collect();
            if candidate.join(" ") == *title {
                self.current.push(' ');
                self.current.push_str(title);
                self.flush();
                self.state = State::Paragraph;
                return 1 + title_words;
            }
        }
        1
    }

    /// Any other word: `Status:` starts a paragraph, ` - ` in a list a bullet.
    fn word(&mut self, word: &Word<'_>) {
        if word.text == "Status:" {
            self.flush();
            self.state = State::Paragraph;
        }
        if self.state == State::List && word.text == "-" {
            if !self.current.is_empty() {
                self.out.line(&self.current, self.current_offset);
                self.current.clear();
            }
            self.current.push('-');
            self.current_offset = word.offset;
            return;
        }
        if self.current.is_empty() {
            self.current_offset = word.offset;
        } else {
            self.current.push(' ');
        }
        self.current.push_str(word.text);
    }

    fn finish(mut self) -> Restored {
        if self.state == State::List {
            if !self.current.is_empty() {
                self.out.line(&self.current, self.current_offset);
            }
        } else {
            self.flush();
        }
        self.out.finish()
    }
}

fn list_label(word: &str, next: Option<&str>) -> Option<(&'static str, usize)> {
    match (word, next) {
        ("Acceptance:", _) => Some(("Acceptance:", 1)),
        ("Blocked", Some("by:")) => Some(("Blocked by:", 2)),
        ("Current", Some("unblock:")) => Some(("Current unblock:", 2)),
        _ => None,
    }
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
