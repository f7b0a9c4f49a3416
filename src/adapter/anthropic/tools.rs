//! Anthropic tool definitions and `tool_choice` → OpenAI `tools` and `tool_choice` (pure:
//! no I/O; the rules are in the `request` module's docs). Server tools (any `type` other
//! than `custom`) and unknown keys are refused.

use serde_json::{Map, Value, json};

use super::fields::{check_keys, invalid};
use crate::adapter::api_error::TranslateError;

pub(super) fn translate_tools(tools: &Value) -> Result<Vec<Value>, TranslateError> {
    let list = tools.as_array().ok_or_else(|| invalid("`tools` must be an array"))?;
    let mut out = Vec::with_capacity(list.len());
    for (i, tool) in list.iter().enumerate() {
        let ctx = format!("tools[{i}]");
        let obj = tool
            .as_object()
            .ok_or_else(|| invalid(format!("{ctx}: must be an object")))?;
        match obj.get("type") {
            None | Some(Value::Null) => {}
            Some(Value::String(kind)) if kind == "custom" => {}
            Some(other) => {
                let kind = other.as_str().map_or_else(|| other.to_string(), str::to_owned);
                return Err(invalid(format!(
                    "{ctx}: tool type `{kind}` is not supported: server tools run on Anthropic's \
                     servers; only client tools (name, description, input_schema) are"
                )));
            }
        }
        check_keys(
            obj,
            &[
                "type",
                "name",
                "description",
                "input_schema",
                "cache_control",
                "defer_loading",
            ],
            &ctx,
        )?;
        // A deferred tool is not in the model's context until tool search loads it (as on
        // Anthropic's API); tool search is a server tool, so here it is never loaded: the
        // definition is checked and not sent upstream.
        match obj.get("defer_loading") {
            None | Some(Value::Null | Value::Bool(false)) => {}
            Some(Value::Bool(true)) => continue,
            Some(_) => return Err(invalid(format!("{ctx}: `defer_loading` must be a boolean"))),
        }
        let name = obj
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("{ctx}: `name` must be a string")))?;
        let schema = obj
            .get("input_schema")
            .filter(|schema| schema.is_object())
            .ok_or_else(|| invalid(format!("{ctx}: `input_schema` must be an object")))?;
        let mut function = Map::new();
        function.insert("name".into(), json!(name));
        match obj.get("description") {
            None | Some(Value::Null) => {}
            Some(Value::String(text)) => {
                function.insert("description".into(), json!(text));
            }
            Some(_) => return Err(invalid(format!("{ctx}: `description` must be a string"))),
        }
        function.insert("parameters".into(), schema.clone());
        out.push(json!({"type": "function", "function": function}));
    }
    Ok(out)
}

/// `tool_choice` → (OpenAI `tool_choice`, `parallel_tool_calls: false` wanted).
pub(super) fn translate_tool_choice(choice: &Value) -> Result<(Value, bool), TranslateError> {
    let ctx = "tool_choice";
    let obj = choice
        .as_object()
        .ok_or_else(|| invalid("`tool_choice` must be an object"))?;
    check_keys(obj, &["type", "name", "disable_parallel_tool_use"], ctx)?;
    let serial = match obj.get("disable_parallel_tool_use") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(flag)) => *flag,
        Some(_) => {
            return Err(invalid("tool_choice: `disable_parallel_tool_use` must be a boolean"));
        }
    };
    let mapped = match obj.get("type").and_then(Value::as_str) {
        Some("auto") => json!("auto"),
        Some("any") => json!("required"),
        Some("none") => return Ok((json!("none"), false)),
        Some("tool") => {
            let name = obj
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("tool_choice: type `tool` needs a `name`"))?;
            json!({"type": "function", "function": {"name": name}})
        }
        Some(other) => {
            return Err(invalid(format!(
                "tool_choice: type `{other}` is not supported (use auto, any, tool or none)"
            )));
        }
        None => return Err(invalid("tool_choice: `type` must be a string")),
    };
    Ok((mapped, serial))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::anthropic::test_support::{MODEL, refused, request};
    use crate::adapter::anthropic::to_openai_request;

    #[test]
    fn tools_and_tool_choice_are_mapped() {
        let schema = json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]});
        let body = request(json!({
            "tools": [
                {"name": "weather", "description": "Get weather", "input_schema": schema,
                 "cache_control": {"type": "ephemeral"}},
                {"name": "noop", "input_schema": {"type": "object"}},
            ],
            "tool_choice": {"type": "auto"},
        }));
        let out = to_openai_request(&body, MODEL).unwrap();
        assert_eq!(
            out["tools"],
            json!([
                {"type": "function", "function": {"name": "weather", "description": "Get weather", "parameters": schema}},
                {"type": "function", "function": {"name": "noop", "parameters": {"type": "object"}}},
            ])
        );
        let choices = [
            (json!({"type": "auto"}), json!("auto")),
            (json!({"type": "any"}), json!("required")),
            (json!({"type": "none"}), json!("none")),
            (
                json!({"type": "tool", "name": "weather"}),
                json!({"type": "function", "function": {"name": "weather"}}),
            ),
        ];
        for (choice, expected) in choices {
            let out = to_openai_request(&request(json!({ "tool_choice": choice })), MODEL).unwrap();
            assert_eq!(out["tool_choice"], expected);
            assert!(out.get("parallel_tool_calls").is_none());
        }
        let out = to_openai_request(
            &request(json!({"tool_choice": {"type": "any", "disable_parallel_tool_use": true}})),
            MODEL,
        )
        .unwrap();
        assert_eq!(out["parallel_tool_calls"], json!(false));
        assert!(
            refused(&request(json!({"tool_choice": {"type": "tool"}})))
                .message
                .contains("name")
        );
        assert!(
            refused(&request(json!({"tool_choice": {"type": "sometimes"}})))
                .message
                .contains("sometimes")
        );
    }

    #[test]
    fn server_tools_and_bad_tool_definitions_are_refused() {
        let err = refused(&request(
            json!({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}),
        ));
        assert!(err.message.contains("web_search_20250305"), "{err}");
        let err = refused(&request(json!({"tools": [{"name": "x"}]})));
        assert!(err.message.contains("input_schema"), "{err}");
        let err = refused(&request(
            json!({"tools": [{"name": "x", "input_schema": {}, "defer_loading": "yes"}]}),
        ));
        assert!(err.message.contains("defer_loading"), "{err}");
    }

    #[test]
    fn deferred_tools_are_not_sent_upstream() {
        let body = request(json!({"tools": [
            {"name": "later", "input_schema": {"type": "object"}, "defer_loading": true},
            {"name": "now", "input_schema": {"type": "object"}, "defer_loading": false},
        ]}));
        let out = to_openai_request(&body, MODEL).unwrap();
        assert_eq!(
            out["tools"],
            json!([{"type": "function", "function": {"name": "now", "parameters": {"type": "object"}}}])
        );
    }
}
