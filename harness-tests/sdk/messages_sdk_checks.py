"""Judges the adapter's Anthropic Messages API with the official Python SDK.

Usage:  python messages_sdk_checks.py SCENARIO
        SCENARIO: text | stream | tools | count_tokens | upstream_error | refused_model

The SDK is configured only by the environment, as an agent's would be: ANTHROPIC_BASE_URL (the
bare adapter URL; the SDK appends /v1/messages) and ANTHROPIC_API_KEY (the per-run token).
CASE_MODEL names the admitted model. The fake upstream the Rust test starts answers "The
capital of France is Paris." and, when tools are offered, a call of `weather` for Paris.

Prints the report of `sdk_judge.py` (what it observed and which checks failed) and exits 0 only
when every check held. Retries are off, so what the adapter answered is what the SDK reports.

anthropic 2.x has no `temperature`/`top_p`/`top_k` arguments any more; agents that still want
them send them with `extra_body`, as `text` does. It also offers hints the adapter accepts and
drops (`cache_control`, `output_config.effort`, `thinking: adaptive`); `text` sends those too.
"""

import os

import anthropic

from sdk_judge import check, failures, main, observed

MODEL = os.environ["CASE_MODEL"]
QUESTION = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
WEATHER_TOOL = {
    "name": "weather",
    "description": "The current weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}

def client():
    # Base URL and credential come from the environment, exactly as an agent's client gets them.
    return anthropic.Anthropic(max_retries=0, timeout=30)


def text_of(message):
    return "".join(block.text for block in message.content if block.type == "text")


def scenario_text():
    raw = client().messages.with_raw_response.create(
        model=MODEL,
        max_tokens=64,
        system="Answer in one word.",
        stop_sequences=["\n\n"],
        metadata={"user_id": "sdk-check"},
        cache_control={"type": "ephemeral"},
        output_config={"effort": "low"},
        thinking={"type": "adaptive"},
        extra_body={"temperature": 0},
        messages=QUESTION,
    )
    message = raw.parse()
    observed.update(
        id=message.id,
        model=message.model,
        text=text_of(message),
        stop_reason=message.stop_reason,
        usage={"input_tokens": message.usage.input_tokens, "output_tokens": message.usage.output_tokens},
        served_model_header=raw.headers.get("x-case-harness-served-model"),
    )
    check(isinstance(message, anthropic.types.Message), "the answer parses as a Message")
    check(message.id.startswith("msg_"), "message id starts with msg_")
    check(message.model == MODEL, "message.model is the admitted model")
    check("Paris" in observed["text"], "the text answers the question")
    check(message.stop_reason == "end_turn", "stop_reason is end_turn")
    check(message.usage.input_tokens == 9 and message.usage.output_tokens == 7, "usage is carried over")


def scenario_stream():
    with client().messages.stream(model=MODEL, max_tokens=64, messages=QUESTION) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    observed.update(pieces=pieces, final_text=text_of(final), stop_reason=final.stop_reason, model=final.model)
    check(len(pieces) >= 2, "the text arrives in several deltas")
    check("".join(pieces) == text_of(final), "the deltas add up to the final message")
    check("Paris" in text_of(final), "the streamed text answers the question")
    check(final.stop_reason == "end_turn", "stop_reason is end_turn")
    check(final.model == MODEL, "the streamed message reports the admitted model")
    check(final.usage.output_tokens == 7, "the final usage comes from message_delta")

    events = [event.type for event in client().messages.create(model=MODEL, max_tokens=64, messages=QUESTION, stream=True)]
    observed["raw_event_types"] = events
    check(events[0] == "message_start", "the raw stream starts with message_start")
    check(events[-1] == "message_stop", "the raw stream ends with message_stop")
    check("content_block_delta" in events, "the raw stream has content_block_delta events")


def scenario_tools():
    first = client().messages.create(
        model=MODEL, max_tokens=64, tools=[WEATHER_TOOL], tool_choice={"type": "any"}, messages=QUESTION
    )
    calls = [block for block in first.content if block.type == "tool_use"]
    observed["first"] = {"stop_reason": first.stop_reason, "calls": [c.model_dump() for c in calls]}
    check(first.stop_reason == "tool_use", "stop_reason is tool_use")
    check(len(calls) == 1 and calls[0].name == "weather", "one call of the weather tool")
    check(bool(calls) and calls[0].input == {"city": "Paris"}, "the call's input is a parsed object")
    if not calls:
        return

    # The tool's result goes back the way agents send it; the upstream then answers in text.
    second = client().messages.create(
        model=MODEL,
        max_tokens=64,
        tools=[WEATHER_TOOL],
        messages=QUESTION
        + [
            {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": calls[0].id, "content": "sunny"}]},
        ],
    )
    observed["second"] = {"stop_reason": second.stop_reason, "text": text_of(second)}
    check(second.stop_reason == "end_turn" and "Paris" in text_of(second), "the answer after the tool result")

    with client().messages.stream(model=MODEL, max_tokens=64, tools=[WEATHER_TOOL], messages=QUESTION) as stream:
        final = stream.get_final_message()
    streamed_calls = [block for block in final.content if block.type == "tool_use"]
    observed["streamed"] = {"stop_reason": final.stop_reason, "calls": [c.model_dump() for c in streamed_calls]}
    check(final.stop_reason == "tool_use", "the streamed stop_reason is tool_use")
    check(
        len(streamed_calls) == 1 and streamed_calls[0].input == {"city": "Paris"},
        "the streamed call's input_json_delta fragments add up to the object",
    )


def scenario_count_tokens():
    raw = client().messages.with_raw_response.count_tokens(
        model=MODEL, system="Answer in one word.", tools=[WEATHER_TOOL], messages=QUESTION
    )
    counted = raw.parse()
    observed.update(input_tokens=counted.input_tokens, token_count_header=raw.headers.get("x-case-harness-token-count"))
    check(isinstance(counted.input_tokens, int) and counted.input_tokens > 0, "input_tokens is a positive integer")


def scenario_upstream_error():
    for stream in (False, True):
        try:
            client().messages.create(model=MODEL, max_tokens=64, messages=QUESTION, stream=stream)
            failures.append(f"stream={stream}: an upstream 500 did not raise")
        except anthropic.APIStatusError as err:
            key = "streamed" if stream else "plain"
            observed[key] = {
                "exception": type(err).__name__,
                "status": err.status_code,
                "body": err.body,
            }
            check(isinstance(err, anthropic.InternalServerError), f"{key}: raised InternalServerError")
            check(err.status_code == 500, f"{key}: status 500 kept")
            check(isinstance(err.body, dict) and err.body.get("type") == "error", f"{key}: Anthropic error shape")
            check("model crashed" in str(err), f"{key}: the upstream's message is in the error")


def scenario_refused_model():
    attempts = {
        "messages claude-sonnet-4-6": lambda: client().messages.create(
            model="claude-sonnet-4-6", max_tokens=64, messages=QUESTION
        ),
        "stream claude-sonnet-4-6": lambda: client().messages.create(
            model="claude-sonnet-4-6", max_tokens=64, messages=QUESTION, stream=True
        ),
        "count_tokens claude-haiku-4-5": lambda: client().messages.count_tokens(
            model="claude-haiku-4-5", messages=QUESTION
        ),
    }
    for name, attempt in attempts.items():
        try:
            attempt()
            failures.append(f"{name}: no error raised")
        except anthropic.APIStatusError as err:
            error = err.body.get("error", {}) if isinstance(err.body, dict) else {}
            observed[name] = {"exception": type(err).__name__, "status": err.status_code, "type": error.get("type")}
            check(isinstance(err, anthropic.PermissionDeniedError), f"{name}: raised PermissionDeniedError")
            check(error.get("type") == "permission_error", f"{name}: error type permission_error")
            check("not the admitted model" in error.get("message", ""), f"{name}: the message says why")


SCENARIOS = {
    "text": scenario_text,
    "stream": scenario_stream,
    "tools": scenario_tools,
    "count_tokens": scenario_count_tokens,
    "upstream_error": scenario_upstream_error,
    "refused_model": scenario_refused_model,
}

if __name__ == "__main__":
    main(SCENARIOS, anthropic.__version__)
