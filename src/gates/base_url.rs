//! The local adapter gates: the base URL is set, well formed, free of unknown variables around
//! it, and loopback. Only a URL that passed them is ever probed.

use super::recorder::Recorder;
use crate::config::{ENV_LOCAL_BASE_URL, HarnessConfig, KNOWN_VARIABLES};
use crate::output::GateCode;
use crate::upstream::LocalBaseUrl;

/// The three URL gates; the base URL when all of them passed.
pub(super) fn check_base_url(gates: &mut Recorder, config: &HarnessConfig) -> Option<LocalBaseUrl> {
    let unknown = if config.unknown_variables.is_empty() {
        None
    } else {
        Some(format!(
            "unknown variable(s) {}: the harness reads only {}; remove or rename them",
            config.unknown_variables.join(", "),
            KNOWN_VARIABLES.join(", ")
        ))
    };
    let Some(text) = &config.local_base_url else {
        gates.block(
            GateCode::LocalAdapterConfigMissing,
            format!("{ENV_LOCAL_BASE_URL} is unset or empty: set it to the local provider's OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1"),
        );
        match unknown {
            Some(detail) => gates.block(GateCode::LocalAdapterConfigInvalid, detail),
            None => gates.skip(GateCode::LocalAdapterConfigInvalid, "no base URL to validate"),
        }
        gates.skip(GateCode::LocalEndpointNotLocal, "no base URL to validate");
        return None;
    };
    gates.pass(
        GateCode::LocalAdapterConfigMissing,
        format!("{ENV_LOCAL_BASE_URL} is set"),
    );
    let parsed = LocalBaseUrl::parse(text);
    let shown = shown_url(text);
    match (&parsed, unknown) {
        (_, Some(detail)) => gates.block(GateCode::LocalAdapterConfigInvalid, detail),
        (Err(err), None) if !err.is_not_local() => gates.block(
            GateCode::LocalAdapterConfigInvalid,
            format!("{ENV_LOCAL_BASE_URL}={shown} {err}"),
        ),
        _ => gates.pass(
            GateCode::LocalAdapterConfigInvalid,
            format!("{ENV_LOCAL_BASE_URL} is a well-formed http URL"),
        ),
    }
    match &parsed {
        Err(err) if err.is_not_local() => {
            gates.block(
                GateCode::LocalEndpointNotLocal,
                format!("{ENV_LOCAL_BASE_URL}={shown} {err}; run the provider on this machine"),
            );
            None
        }
        Err(_) => {
            gates.skip(GateCode::LocalEndpointNotLocal, "base URL is malformed");
            None
        }
        Ok(base) => {
            gates.pass(
                GateCode::LocalEndpointNotLocal,
                format!("{} is loopback", base.host_port()),
            );
            Some(base.clone())
        }
    }
}

/// The URL as it may be shown in a message: user-info, query and fragment could hold a
/// credential, so a URL that has any of them is shown without them.
fn shown_url(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            let redacted = url.query().is_some() || url.fragment().is_some();
            url.set_query(None);
            url.set_fragment(None);
            let mut shown = url.to_string();
            if redacted {
                shown.push_str("[query/fragment removed]");
            }
            // The parser trims surrounding whitespace; the message must show it, quoted.
            if text.trim() != text || text.chars().any(char::is_control) {
                let (start, end) = (
                    &text[..text.len() - text.trim_start().len()],
                    &text[text.trim_end().len()..],
                );
                shown = format!("{:?}", format!("{start}{shown}{end}"));
            }
            shown
        }
        // Unparseable, so the credential parts cannot be cut out reliably: do not echo a value
        // that may hold one (`http://127.0.0.1:99999/v1?key=…` is not a URL: bad port).
        Err(_) if text.contains(['@', '?', '#']) => "(not shown: it may contain a credential)".to_owned(),
        Err(_) => format!("{:?}", text.chars().take(80).collect::<String>()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surrounding_whitespace_is_shown_quoted() {
        assert_eq!(shown_url("http://127.0.0.1:8080/v1 "), r#""http://127.0.0.1:8080/v1 ""#);
        assert_eq!(
            shown_url("\thttp://127.0.0.1:8080/v1"),
            r#""\thttp://127.0.0.1:8080/v1""#
        );
        assert_eq!(shown_url("http://127.0.0.1:8080/v1"), "http://127.0.0.1:8080/v1");
    }

    #[test]
    fn shown_url_drops_possible_credentials() {
        let shown = shown_url("http://user:pw@127.0.0.1:1/v1?key=sekrit#xyzzy");
        assert!(
            !shown.contains("pw") && !shown.contains("sekrit") && !shown.contains("xyzzy"),
            "{shown}"
        );
        for unparseable in [
            "http://127.0.0.1:99999/v1?key=sekrit",
            "http://u:sekrit@127.0.0.1:99999/v1",
            "127.0.0.1:1/v1#sekrit",
        ] {
            let shown = shown_url(unparseable);
            assert!(!shown.contains("sekrit"), "{shown}");
        }
    }
}
