//! The layer table in `docs/architecture.md` is the map; this test makes it the territory.
//!
//! It reads the table from the document itself (so the map cannot drift from the check),
//! reads every `crate::…` and `super::…` path in `src/`, maps both ends to the table's rows
//! and fails on an import the table does not allow, naming file, line and rule. It also
//! checks the table itself (every top-level module has a row, no row names a missing module,
//! no row allows an import from a higher layer), prints the module graph, and fails on any
//! import circle between files. No external tool: a small lexer drops comments, strings and
//! character literals, then the paths are read token by token.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A module path inside the crate, `["adapter", "forward"]`.
type ModPath = Vec<String>;

/// One row of the layer table.
#[derive(Debug)]
struct Row {
    layer: u32,
    /// Modules this row may import (a listed module allows its sub-modules too).
    allowed: Vec<ModPath>,
    /// `any lower layer`: every top-level module of a strictly lower layer.
    any_lower: bool,
}

/// One import read from a source file.
#[derive(Debug)]
struct Import {
    file: String,
    line: usize,
    from: ModPath,
    to: ModPath,
}

fn crate_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn show(path: &[String]) -> String {
    if path.is_empty() {
        "crate".to_owned()
    } else {
        path.join("::")
    }
}

fn parse_path(text: &str) -> ModPath {
    text.trim().trim_matches('`').split("::").map(str::to_owned).collect()
}

/// The table under the `| Module | Layer | May import |` header of `docs/architecture.md`.
fn read_table(doc: &str) -> BTreeMap<ModPath, Row> {
    let mut rows = BTreeMap::new();
    let mut inside = false;
    for (number, line) in doc.lines().enumerate() {
        let line = line.trim();
        if line.starts_with("| Module | Layer | May import |") {
            inside = true;
            continue;
        }
        if !inside {
            continue;
        }
        if !line.starts_with('|') {
            break;
        }
        if line.starts_with("|--") || line.starts_with("| --") {
            continue;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        assert!(
            cells.len() >= 3,
            "docs/architecture.md line {}: a layer row needs module, layer and imports",
            number + 1
        );
        let module = parse_path(cells[0]);
        let layer: u32 = cells[1]
            .split_whitespace()
            .next()
            .and_then(|word| word.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "docs/architecture.md line {}: layer `{}` does not start with a number",
                    number + 1,
                    cells[1]
                )
            });
        let mut row = Row {
            layer,
            allowed: Vec::new(),
            any_lower: false,
        };
        for item in cells[2]
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty() && *item != "—")
        {
            if item == "any lower layer" {
                row.any_lower = true;
                continue;
            }
            let name = item.split('`').nth(1).unwrap_or_else(|| {
                panic!(
                    "docs/architecture.md line {}: `{item}` is neither a `module` nor `any lower layer`",
                    number + 1
                )
            });
            row.allowed.push(parse_path(name));
        }
        assert!(
            rows.insert(module.clone(), row).is_none(),
            "docs/architecture.md: `{}` has two rows",
            show(&module)
        );
    }
    assert!(
        !rows.is_empty(),
        "docs/architecture.md has no `| Module | Layer | May import |` table"
    );
    rows
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// The module a file under `src/` defines: `src/adapter/mod.rs` is `adapter`.
fn module_of(relative: &Path) -> ModPath {
    let mut parts: Vec<String> = relative
        .with_extension("")
        .iter()
        .map(|part| part.to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The source with comments, strings and character literals blanked (newlines kept, so line
/// numbers stay right); lifetimes are left alone.
fn strip(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let blank = |out: &mut String, text: &[char]| {
        for ch in text {
            out.push(if *ch == '\n' { '\n' } else { ' ' });
        }
    };
    let mut i = 0;
    while i < chars.len() {
        let ch = chars[i];
        let next = chars.get(i + 1).copied();
        let previous_is_ident = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        if ch == '/' && next == Some('/') {
            let end = chars[i..]
                .iter()
                .position(|c| *c == '\n')
                .map_or(chars.len(), |p| i + p);
            blank(&mut out, &chars[i..end]);
            i = end;
        } else if ch == '/' && next == Some('*') {
            let mut depth = 0;
            let mut end = i;
            while end < chars.len() {
                if chars[end] == '/' && chars.get(end + 1) == Some(&'*') {
                    depth += 1;
                    end += 2;
                } else if chars[end] == '*' && chars.get(end + 1) == Some(&'/') {
                    depth -= 1;
                    end += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    end += 1;
                }
            }
            blank(&mut out, &chars[i..end.min(chars.len())]);
            i = end;
        } else if !previous_is_ident && (ch == 'r' || (ch == 'b' && next == Some('r'))) && {
            let start = if ch == 'b' { i + 2 } else { i + 1 };
            let hashes = chars[start..].iter().take_while(|c| **c == '#').count();
            chars.get(start + hashes) == Some(&'"')
        } {
            let start = if ch == 'b' { i + 2 } else { i + 1 };
            let hashes = chars[start..].iter().take_while(|c| **c == '#').count();
            let mut end = start + hashes + 1;
            loop {
                if end >= chars.len() {
                    break;
                }
                if chars[end] == '"' && chars[end + 1..].iter().take(hashes).filter(|c| **c == '#').count() == hashes {
                    end += 1 + hashes;
                    break;
                }
                end += 1;
            }
            blank(&mut out, &chars[i..end.min(chars.len())]);
            i = end;
        } else if ch == '"' || (ch == 'b' && next == Some('"') && !previous_is_ident) {
            let mut end = if ch == 'b' { i + 2 } else { i + 1 };
            while end < chars.len() && chars[end] != '"' {
                end += if chars[end] == '\\' { 2 } else { 1 };
            }
            blank(&mut out, &chars[i..(end + 1).min(chars.len())]);
            i = end + 1;
        } else if ch == '\'' {
            // `'x'`, `'\n'`, `'\u{1F600}'` are characters; `'a` is a lifetime.
            let end = if next == Some('\\') {
                chars[i + 2..].iter().position(|c| *c == '\'').map(|p| i + 2 + p + 1)
            } else if chars.get(i + 2) == Some(&'\'') {
                Some(i + 3)
            } else {
                None
            };
            match end {
                Some(end) => {
                    blank(&mut out, &chars[i..end]);
                    i = end;
                }
                None => {
                    out.push(ch);
                    i += 1;
                }
            }
        } else {
            out.push(ch);
            i += 1;
        }
    }
    out
}

/// Identifiers and punctuation with their line numbers.
fn tokens(stripped: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut line = 1;
    let chars: Vec<char> = stripped.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let ch = chars[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch.is_alphanumeric() || ch == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push((chars[start..i].iter().collect(), line));
        } else if ch == ':' && chars.get(i + 1) == Some(&':') {
            out.push(("::".to_owned(), line));
            i += 2;
        } else {
            out.push((ch.to_string(), line));
            i += 1;
        }
    }
    out
}

/// The paths a use tree starting at `tokens[at]` (just after `prefix::`) names.
fn use_tree(tokens: &[(String, usize)], mut at: usize, prefix: &ModPath, out: &mut Vec<ModPath>) -> usize {
    let mut path = prefix.clone();
    loop {
        match tokens.get(at).map(|(text, _)| text.as_str()) {
            Some("{") => {
                at += 1;
                loop {
                    match tokens.get(at).map(|(text, _)| text.as_str()) {
                        Some("}") => return at + 1,
                        Some(",") => at += 1,
                        Some(_) => at = use_tree(tokens, at, &path, out),
                        None => return at,
                    }
                }
            }
            Some("*") | Some("self") => {
                out.push(path);
                return at + 1;
            }
            Some(word) if word.chars().all(|c| c.is_alphanumeric() || c == '_') => {
                path.push(word.to_owned());
                at += 1;
                if tokens.get(at).map(|(text, _)| text.as_str()) == Some("::") {
                    at += 1;
                } else {
                    // `as name` and the end of the tree are not part of the path.
                    out.push(path);
                    while let Some((text, _)) = tokens.get(at) {
                        if text == "," || text == "}" || text == ";" {
                            break;
                        }
                        at += 1;
                    }
                    return at;
                }
            }
            _ => {
                out.push(path);
                return at;
            }
        }
    }
}

/// Every `crate::…` and `super::…` path in one file, resolved to an absolute module path.
fn imports_of(file: &str, module: &ModPath, source: &str) -> Vec<Import> {
    let tokens = tokens(&strip(source));
    let mut imports = Vec::new();
    // Inline modules (`mod tests { … }`): where `super` points.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        let (text, line) = (&tokens[i].0, tokens[i].1);
        match text.as_str() {
            "{" => {
                depth += 1;
                i += 1;
                continue;
            }
            "}" => {
                depth = depth.saturating_sub(1);
                while inline.last().is_some_and(|(_, at)| *at > depth) {
                    inline.pop();
                }
                i += 1;
                continue;
            }
            "mod" if tokens.get(i + 2).is_some_and(|(t, _)| t == "{") => {
                inline.push((tokens[i + 1].0.clone(), depth + 1));
                i += 1;
                continue;
            }
            _ => {}
        }
        let is_root = text == "crate" || text == "super";
        let after_dollar = i > 0 && tokens[i - 1].0 == "$";
        let after_path = i > 0 && tokens[i - 1].0 == "::";
        if !is_root || after_dollar || after_path || tokens.get(i + 1).is_none_or(|(t, _)| t != "::") {
            i += 1;
            continue;
        }
        let mut base: ModPath = if text == "crate" {
            Vec::new()
        } else {
            let mut here = module.clone();
            here.extend(inline.iter().map(|(name, _)| name.clone()));
            here.pop();
            here
        };
        let mut at = i + 2;
        while tokens.get(at).is_some_and(|(t, _)| t == "super") && tokens.get(at + 1).is_some_and(|(t, _)| t == "::") {
            base.pop();
            at += 2;
        }
        let mut paths = Vec::new();
        let end = use_tree(&tokens, at, &base, &mut paths);
        for to in paths {
            imports.push(Import {
                file: file.to_owned(),
                line,
                from: module.clone(),
                to,
            });
        }
        i = end.max(i + 1);
    }
    imports
}

/// The longest row that is `path` or one of its ancestors.
fn row_of<'a>(rows: &'a BTreeMap<ModPath, Row>, path: &[String]) -> Option<(&'a ModPath, &'a Row)> {
    (1..=path.len()).rev().find_map(|len| rows.get_key_value(&path[..len]))
}

fn is_prefix(prefix: &[String], path: &[String]) -> bool {
    path.len() >= prefix.len() && path[..prefix.len()] == *prefix
}

/// Whether `from` may import `to`; the rows of `from`'s ancestors lend their rules.
fn allows(rows: &BTreeMap<ModPath, Row>, from: &ModPath, to: &ModPath) -> bool {
    (1..=from.len()).rev().any(|len| {
        rows.get(&from[..len]).is_some_and(|row| {
            row.allowed.iter().any(|allowed| is_prefix(allowed, to))
                || (row.any_lower && rows.get(&to[..1]).is_some_and(|target| target.layer < row.layer))
        })
    })
}

/// The file modules' import graph has no circle; returns the circles found.
fn circles(graph: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Vec<Vec<ModPath>> {
    // Tarjan's strongly connected components.
    struct State<'a> {
        graph: &'a BTreeMap<ModPath, BTreeSet<ModPath>>,
        index: BTreeMap<&'a ModPath, (usize, usize)>,
        stack: Vec<&'a ModPath>,
        counter: usize,
        found: Vec<Vec<ModPath>>,
    }
    fn visit<'a>(state: &mut State<'a>, node: &'a ModPath) {
        state.index.insert(node, (state.counter, state.counter));
        state.counter += 1;
        state.stack.push(node);
        for next in state.graph.get(node).into_iter().flatten() {
            if !state.index.contains_key(next) {
                visit(state, next);
                let low = state.index[next].1.min(state.index[node].1);
                state.index.get_mut(node).expect("visited").1 = low;
            } else if state.stack.contains(&next) {
                let low = state.index[next].0.min(state.index[node].1);
                state.index.get_mut(node).expect("visited").1 = low;
            }
        }
        let (index, low) = state.index[node];
        if index == low {
            let mut component = Vec::new();
            while let Some(member) = state.stack.pop() {
                component.push(member.clone());
                if member == node {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                state.found.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        stack: Vec::new(),
        counter: 0,
        found: Vec::new(),
    };
    for node in graph.keys() {
        if !state.index.contains_key(node) {
            visit(&mut state, node);
        }
    }
    state.found
}

#[test]
fn imports_follow_the_layer_table_and_form_no_circle() {
    let root = crate_root();
    let doc = std::fs::read_to_string(root.join("docs/architecture.md")).expect("docs/architecture.md");
    let rows = read_table(&doc);

    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut modules = BTreeSet::new();
    let mut imports = Vec::new();
    for path in &files {
        let relative = path.strip_prefix(root.join("src")).expect("under src");
        let module = module_of(relative);
        let source = std::fs::read_to_string(path).expect("source file");
        imports.extend(imports_of(&format!("src/{}", relative.display()), &module, &source));
        modules.insert(module);
    }

    let mut problems = Vec::new();
    // The table itself: complete, existing modules, nothing allowed upward.
    for module in modules.iter().filter(|module| module.len() == 1) {
        if !rows.contains_key(module) {
            problems.push(format!(
                "docs/architecture.md: module `{}` has no row in the layer table",
                show(module)
            ));
        }
    }
    for (module, row) in &rows {
        if !modules.contains(module) {
            problems.push(format!(
                "docs/architecture.md: row `{}` names no module in src/",
                show(module)
            ));
        }
        for allowed in &row.allowed {
            match row_of(&rows, allowed) {
                None => problems.push(format!(
                    "docs/architecture.md: `{}` may import `{}`, which has no row",
                    show(module),
                    show(allowed)
                )),
                Some((_, target)) if target.layer > row.layer => problems.push(format!(
                    "docs/architecture.md: `{}` (layer {}) may import `{}` (layer {}): an upward arrow",
                    show(module),
                    row.layer,
                    show(allowed),
                    target.layer
                )),
                Some(_) => {}
            }
        }
    }

    // Every import against the table; edges into a module's own parts or parents are the
    // module talking to itself.
    let mut row_graph: BTreeMap<ModPath, BTreeMap<ModPath, usize>> = BTreeMap::new();
    let mut file_graph: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
    for import in &imports {
        let Some((from_row, _)) = row_of(&rows, &import.from) else {
            continue;
        };
        let Some((to_row, _)) = row_of(&rows, &import.to) else {
            if import.to.len() > 1 || modules.contains(&import.to) {
                problems.push(format!(
                    "{}:{}: `{}` is in no row of the layer table",
                    import.file,
                    import.line,
                    show(&import.to)
                ));
            }
            continue;
        };
        let same_room = is_prefix(from_row, to_row) || is_prefix(to_row, from_row);
        if !same_room && !allows(&rows, from_row, to_row) {
            problems.push(format!(
                "{}:{}: `{}` imports `{}` ({}), but the layer table lets `{}` (layer {}) import only: {}",
                import.file,
                import.line,
                show(&import.from),
                show(&import.to),
                show(to_row),
                show(from_row),
                rows[from_row].layer,
                allowed_list(&rows, from_row)
            ));
        }
        if !same_room {
            *row_graph
                .entry(from_row.clone())
                .or_default()
                .entry(to_row.clone())
                .or_default() += 1;
        }
        // The circle check runs on files (finer than rows).
        let target_file = (1..=import.to.len())
            .rev()
            .map(|len| import.to[..len].to_vec())
            .find(|path| modules.contains(path));
        if let Some(target_file) = target_file
            && !is_prefix(&import.from, &target_file)
            && !is_prefix(&target_file, &import.from)
        {
            file_graph.entry(import.from.clone()).or_default().insert(target_file);
        }
    }

    let mut picture = String::from("the module graph (row -> rows it imports, with the number of paths):\n");
    for (from, targets) in &row_graph {
        let list: Vec<String> = targets
            .iter()
            .map(|(to, count)| format!("{} ({count})", show(to)))
            .collect();
        writeln!(
            picture,
            "  {} [layer {}] -> {}",
            show(from),
            rows[from].layer,
            list.join(", ")
        )
        .expect("string");
    }
    println!("{picture}");

    for circle in circles(&file_graph) {
        let members: Vec<String> = circle.iter().map(|module| show(module)).collect();
        let mut edges = Vec::new();
        for from in &circle {
            for to in file_graph
                .get(from)
                .into_iter()
                .flatten()
                .filter(|to| circle.contains(to))
            {
                edges.push(format!("{} -> {}", show(from), show(to)));
            }
        }
        problems.push(format!(
            "import circle between {}: {}",
            members.join(", "),
            edges.join("; ")
        ));
    }

    assert!(
        problems.is_empty(),
        "{} layer problem(s):\n{}\n\n{picture}",
        problems.len(),
        problems.join("\n")
    );
}

fn allowed_list(rows: &BTreeMap<ModPath, Row>, from: &ModPath) -> String {
    let mut names = Vec::new();
    for len in 1..=from.len() {
        if let Some(row) = rows.get(&from[..len]) {
            names.extend(row.allowed.iter().map(|path| format!("`{}`", show(path))));
            if row.any_lower {
                names.push("any lower layer".to_owned());
            }
        }
    }
    if names.is_empty() {
        "nothing".to_owned()
    } else {
        names.join(", ")
    }
}

/// The lexer and the path reader, on the shapes the crate uses.
#[test]
fn the_reader_finds_use_trees_super_paths_and_skips_strings_and_comments() {
    let source = r#"
use crate::{a::{b, c::D}, e as f};
// use crate::commented;
const S: &str = "crate::in_string";
fn g<'a>(x: &'a str) -> char { let _ = crate::h::i(x); '{' }
mod tests {
    use super::*;
    use super::super::j::K;
}
"#;
    let imports = imports_of("x.rs", &vec!["m".to_owned(), "n".to_owned()], source);
    let found: Vec<(String, usize)> = imports.iter().map(|import| (show(&import.to), import.line)).collect();
    assert_eq!(
        found,
        [
            ("a::b".to_owned(), 2),
            ("a::c::D".to_owned(), 2),
            ("e".to_owned(), 2),
            ("h::i".to_owned(), 5),
            ("m::n".to_owned(), 7),
            ("m::j::K".to_owned(), 8),
        ]
    );
}
