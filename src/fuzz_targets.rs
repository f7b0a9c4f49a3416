//! The bodies of the `cargo fuzz` targets in `fuzz/`, kept in the crate so that the same
//! code runs under libFuzzer (nightly flags, `scripts/fuzz-smoke.sh`) and on stable as a
//! plain test that replays the committed corpus and every past crash
//! (`fuzz/corpus/<target>/`, `fuzz/regressions/<target>/`).
//!
//! Each function takes raw bytes, feeds them to one parser the harness exposes to untrusted
//! input, and checks the invariant that parser promises beyond "no panic": a base URL that
//! passes names loopback; a translated request always carries the admitted model; an SSE
//! stream parses the same however the bytes are split. A violated invariant panics, which
//! libFuzzer reports as a crash. See `docs/reliability.md` for how long each ran clean.

use std::path::Path;

use serde_json::Value;

use crate::adapter::anthropic::{
    SseParser, StreamTranslator, count_tokens_text, estimate_input_tokens, from_openai_response, to_openai_request,
};
use crate::records::{AdmissionRecord, DecisionRecord};
use crate::upstream::LocalBaseUrl;

/// The model name the translation targets pin.
const ADMITTED: &str = "smollm2-135m-instruct";

/// A target's body: raw bytes in, a panic when an invariant breaks.
pub type Target = fn(&[u8]);

/// Every target, by the name of its file in `fuzz/fuzz_targets/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("sot", sot),
    ("records", records),
    ("base_url", base_url),
    ("sse", sse),
    ("anthropic_request", anthropic_request),
    ("anthropic_response", anthropic_response),
    ("anthropic_stream", anthropic_stream),
    ("argv_rule", argv_rule),
];

/// The SOT parser, both as a multi-line document and through the one-line restorer.
pub fn sot(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match crate::sot::parse(Path::new("fuzz.md"), text) {
        Ok(document) => {
            for item in &document.work_items {
                assert!(document.work_item(&item.id).is_some());
            }
        }
        Err(err) => drop(err.to_string()),
    }
    if let Ok(restored) = crate::sot::restore_line_breaks(text) {
        // Restoring only inserts line breaks: no word is invented or lost.
        let words = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(
            words(&restored.text),
            words(text),
            "restore_line_breaks changed the words"
        );
    }
}

/// The decision and admission parsers; the first byte chooses which.
pub fn records(data: &[u8]) {
    let Some((selector, bytes)) = data.split_first() else {
        return;
    };
    let path = Path::new("fuzz.json");
    if selector % 2 == 0 {
        match DecisionRecord::from_bytes(path, bytes.to_vec()) {
            Ok(loaded) => assert_eq!(loaded.record.work_item.as_str(), "CTO-WORK-020"),
            // Error messages quote the offending value: building them must not panic either.
            Err(err) => drop(err.to_string()),
        }
    } else {
        // An admission naming another work item parses; the gates refuse it later.
        match AdmissionRecord::from_bytes(path, bytes.to_vec()) {
            Ok(loaded) => assert_eq!(loaded.sha256, crate::records::sha256_hex(bytes)),
            Err(err) => drop(err.to_string()),
        }
    }
}

/// The base-URL gate: whatever passes names a loopback host, and passes again as printed.
pub fn base_url(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(parsed) = LocalBaseUrl::parse(text) else {
        return;
    };
    assert!(
        names_loopback(parsed.as_str()),
        "accepted a non-loopback base URL: {text:?} -> {}",
        parsed.as_str()
    );
    let again = LocalBaseUrl::parse(parsed.as_str());
    assert_eq!(again.as_ref().ok(), Some(&parsed), "not idempotent: {text:?}");
}

pub use crate::upstream::oracle::names_loopback;

/// The upstream SSE parser: no panic, and the same payloads whether the bytes come at once
/// or split at the points the first two bytes choose.
pub fn sse(data: &[u8]) {
    let (cuts, stream) = match data {
        [a, b, rest @ ..] => ((*a as usize, *b as usize), rest),
        _ => return,
    };
    let whole = SseParser::new().push(stream);
    let mut parser = SseParser::new();
    let first = cuts.0.min(stream.len());
    let second = (first + cuts.1).min(stream.len());
    let mut pieces = Vec::new();
    let mut failed = false;
    for piece in [&stream[..first], &stream[first..second], &stream[second..]] {
        match parser.push(piece) {
            Ok(payloads) => pieces.extend(payloads),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    match (whole, failed) {
        (Ok(whole), false) => assert_eq!(whole, pieces, "payloads depend on how the bytes were split"),
        // An invalid stream is invalid however it is split (a split may only find it sooner
        // or later, never hide it: the whole stream's bytes are all seen either way).
        (Err(_), _) => {}
        // Held bytes are bounded per push, so only a stream over the 16 MiB event bound can
        // pass whole yet fail split; fuzz inputs are far smaller.
        (Ok(_), true) => panic!("a split made a valid stream invalid"),
    }
}

/// Anthropic → OpenAI request translation (and token counting): every accepted request is
/// sent upstream under the admitted model, whatever model it named.
pub fn anthropic_request(data: &[u8]) {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    if let Ok(translated) = to_openai_request(&body, ADMITTED) {
        assert_eq!(translated["model"], ADMITTED, "translation did not pin the model");
        assert!(translated["messages"].is_array());
    }
    let _ = count_tokens_text(&body);
    let _ = estimate_input_tokens(&body);
}

/// OpenAI → Anthropic response translation: an answer always names the admitted model.
pub fn anthropic_response(data: &[u8]) {
    let Ok(response) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    if let Ok(message) = from_openai_response(&response, ADMITTED, "msg_fuzz") {
        assert_eq!(message["model"], ADMITTED, "the upstream's model name reached Case");
        assert_eq!(message["type"], "message");
    }
}

/// OpenAI stream chunks (one JSON value per line) → Anthropic stream events: no panic, the
/// `message_start` names the admitted model, and the stream always closes with
/// `message_stop` or an `error` event.
pub fn anthropic_stream(data: &[u8]) {
    let mut translator = StreamTranslator::new(ADMITTED, "msg_fuzz");
    let start = translator.start();
    assert_eq!(start[0].event, "message_start");
    assert_eq!(start[0].data["message"]["model"], ADMITTED);
    for line in data.split(|b| *b == b'\n') {
        let Ok(chunk) = serde_json::from_slice::<Value>(line) else {
            continue;
        };
        match translator.on_chunk(&chunk) {
            Ok(events) => {
                for event in &events {
                    assert_ne!(event.event, "message_start", "a second message_start");
                }
            }
            Err(_) => return,
        }
    }
    let end = translator.finish();
    let last = end.last().map(|event| event.event);
    assert!(
        matches!(last, Some("message_stop" | "error")),
        "the stream ended with {last:?}"
    );
}

/// The rule on Case's command line and every configured value: any argument that contains
/// an external provider's name in any ASCII case is found.
pub fn argv_rule(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let found = crate::external_names::external_reference(&text);
    let lower = text.to_ascii_lowercase();
    if lower.contains("claude") || lower.contains("anthropic") {
        assert!(found.is_some(), "missed an external name in {text:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replays the committed seed corpus and every saved crash of each target, so CI on
    /// stable Rust re-checks what fuzzing found without nightly flags.
    #[test]
    fn every_corpus_and_regression_input_runs_clean() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        let mut replayed = 0;
        for (name, target) in TARGETS {
            for kind in ["corpus", "regressions"] {
                let dir = root.join(kind).join(name);
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    assert_ne!(kind, "corpus", "{} has no seed corpus", dir.display());
                    continue;
                };
                for entry in entries {
                    let path = entry.expect("corpus entry").path();
                    let bytes = std::fs::read(&path).expect("corpus file");
                    let outcome = std::panic::catch_unwind(|| target(&bytes));
                    assert!(outcome.is_ok(), "{name} panicked on {}", path.display());
                    replayed += 1;
                }
            }
        }
        assert!(replayed >= TARGETS.len(), "only {replayed} inputs replayed");
    }

    #[test]
    fn the_loopback_judge_is_not_the_gate() {
        assert!(names_loopback("http://127.0.0.2:1/v1"));
        assert!(names_loopback("http://[::1]:1/v1"));
        assert!(names_loopback("http://localhost/"));
        assert!(!names_loopback("http://[::ffff:127.0.0.1]/"));
        assert!(!names_loopback("http://localhost.example/"));
        assert!(!names_loopback("http://10.0.0.1/"));
    }
}
