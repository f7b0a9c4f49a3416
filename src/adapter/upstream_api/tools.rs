//! Hosted tools — tools that run on the provider's servers (`web_search`, `file_search`,
//! `code_interpreter`, Anthropic's server tools, MCP connectors) — which a local model
//! cannot run. What each route does with them:
//!
//! * chat completions: forwarded as they are: the chat API has only function tools, and the
//!   upstream answers anything else itself;
//! * Anthropic Messages, passed through: forwarded, for the same reason;
//! * Anthropic Messages, translated: refused with a 400 naming the tool (in
//!   `adapter/anthropic/tools.rs`): only client tools (`type` absent or `custom`) have a
//!   chat-completions equivalent;
//! * Responses, both modes: stripped by [`strip_hosted_tools`], each one named on the ledger
//!   line: Codex sends `web_search` and freeform `custom` tools
//!   on every request, and llama-server refuses the whole request for one ("'type' of tool
//!   must be 'function'").

use serde_json::{Map, Value};

use crate::adapter::api_error::TranslateError;

/// A tool's label for the ledger: its `type`, and its `name` when it has one.
fn tool_label(tool: &Value) -> String {
    let kind = tool.get("type").and_then(Value::as_str).unwrap_or("(no type)");
    match tool.get("name").and_then(Value::as_str) {
        Some(name) => format!("{kind} `{name}`"),
        None => kind.to_owned(),
    }
}

/// Removes every tool whose `type` is not `function` from `request["tools"]` and returns
/// their labels. A `tool_choice` that forces a stripped (or non-function) tool is a 400: the
/// client asked for something that will not happen.
pub(crate) fn strip_hosted_tools(request: &mut Map<String, Value>) -> Result<Vec<String>, TranslateError> {
    let mut stripped = Vec::new();
    match request.get_mut("tools") {
        None | Some(Value::Null) => {}
        Some(Value::Array(tools)) => {
            tools.retain(|tool| {
                let keep = tool.get("type").and_then(Value::as_str) == Some("function");
                if !keep {
                    stripped.push(tool_label(tool));
                }
                keep
            });
        }
        Some(_) => return Err(TranslateError::invalid_request("`tools` must be an array")),
    }
    if let Some(Value::Object(choice)) = request.get("tool_choice") {
        let kind = choice.get("type").and_then(Value::as_str).unwrap_or_default();
        if kind != "function" {
            return Err(TranslateError::invalid_request(format!(
                "`tool_choice` forces a `{kind}` tool; only function tools are served by this \
                 adapter (hosted tools are stripped)"
            )));
        }
    }
    Ok(stripped)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("an object"),
        }
    }

    #[test]
    fn hosted_and_custom_tools_are_stripped_and_named() {
        let mut request = object(json!({
            "tools": [
                {"type": "function", "name": "exec_command"},
                {"type": "web_search", "external_web_access": false},
                {"type": "custom", "name": "apply_patch"}
            ]
        }));
        let stripped = strip_hosted_tools(&mut request).expect("strips");
        assert_eq!(
            stripped,
            vec!["web_search".to_owned(), "custom `apply_patch`".to_owned()]
        );
        assert_eq!(request["tools"], json!([{"type": "function", "name": "exec_command"}]));
        let mut forced = object(json!({"tools": [{"type": "web_search"}], "tool_choice": {"type": "web_search"}}));
        assert!(strip_hosted_tools(&mut forced).is_err());
    }
}
