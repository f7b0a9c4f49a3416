//! What counts as naming an external provider or model, read the way a person would read it:
//! in any case, percent- or `\u`-escaped, in full-width or look-alike letters. The gates,
//! the Case command-line rule and the adapter's ledger all ask this one module, which also
//! names the harness variables that could route around the adapter (Case never gets them).

/// Names that mean an external provider: Anthropic (any host, product or credential) and
/// any Claude model. Matched case-insensitively anywhere in a value.
pub(crate) const EXTERNAL_NAMES: &[&str] = &["anthropic", "claude"];

/// Name prefixes (and exact names) of harness-environment variables that could route an agent
/// around the adapter or carry a provider credential. Case never gets them (its environment
/// is cleared anyway); the report lists the ones that were present, by name only.
pub(crate) const SCRUBBED_PATTERNS: &[&str] = &[
    "ANTHROPIC_",
    "CLAUDE_",
    "OPENAI_",
    "AWS_",
    "GOOGLE_",
    "GCLOUD_",
    "CLOUDSDK_",
    "CLOUD_ML_",
    "VERTEX_",
    "AZURE_",
    "BEDROCK_",
    "OLLAMA_",
    "LITELLM_",
    "OPENROUTER_",
    "HF_TOKEN",
    "HUGGING_FACE_",
    "GEMINI_",
    "MISTRAL_",
    "GROQ_",
    "COHERE_",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
];

/// Returns the external name found in `value`, if any. Also treats Ollama's `:cloud`
/// models (which Ollama forwards to its hosted service) as external.
pub(crate) fn external_reference(value: &str) -> Option<&'static str> {
    // Every reading counts: the raw text and each decoded layer. Decoding alone could hide a
    // name that is plainly there (`%3anthropic` decodes to `:nthropic`; found by fuzzing).
    for lower in readings_for_names(value) {
        if let Some(name) = EXTERNAL_NAMES.iter().find(|name| lower.contains(*name)) {
            return Some(name);
        }
        if lower.ends_with(":cloud") || lower.contains(":cloud@") || lower.ends_with("-cloud") {
            return Some(":cloud");
        }
    }
    None
}

/// `value` as the name check reads it, once as written and once per decoding layer:
/// percent-escapes and JSON `\u` escapes decoded (up to three layers deep: `%2561nthropic`),
/// each reading with whitespace and invisible characters removed, full-width forms
/// (`ｃｌａｕｄｅ`) and the Cyrillic letters that look like Latin ones mapped to ASCII, lower
/// case. A name hidden from a reader is still the name.
fn readings_for_names(value: &str) -> Vec<String> {
    let mut bytes = value.as_bytes().to_vec();
    let mut readings = vec![fold_for_names(&bytes)];
    for _ in 0..3 {
        let decoded = crate::secrets::normalise(&bytes);
        if decoded == bytes {
            break;
        }
        bytes = decoded;
        readings.push(fold_for_names(&bytes));
    }
    readings
}

/// One reading of [`readings_for_names`]: invisible characters dropped, look-alikes mapped,
/// lower case.
fn fold_for_names(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .filter(|c| !matches!(c, '\u{00AD}' | '\u{200B}'..='\u{200F}' | '\u{2060}' | '\u{FEFF}'))
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            'а' | 'А' => 'a',
            'с' | 'С' => 'c',
            'е' | 'Е' => 'e',
            'о' | 'О' => 'o',
            'р' | 'Р' => 'p',
            'і' | 'І' => 'i',
            'һ' | 'Һ' => 'h',
            'ԁ' => 'd',
            'ո' => 'n',
            'υ' => 'u',
            _ => c,
        })
        .collect::<String>()
        .to_ascii_lowercase()
}
