"""Judges the adapter's OpenAI chat-completions API with the official Python SDK.

Usage:  python chat_sdk_checks.py SCENARIO
        SCENARIO: text | stream | tools | upstream_error | refused_model

The SDK is configured only by the environment: OPENAI_BASE_URL (the adapter's .../v1) and
OPENAI_API_KEY (the per-run token). CASE_MODEL names the admitted model. The fake upstream
the Rust test starts answers "The capital of France is Paris." and, when tools are offered, a
call of `weather` for Paris.

Prints the report of `sdk_judge.py` (what it observed and which checks failed) and exits 0 only
when every check held. Retries are off, so what the adapter answered is what the SDK reports.
"""

import json
import os

import openai

from sdk_judge import check, failures, main, observed

MODEL = os.environ["CASE_MODEL"]
QUESTION = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "The current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}

def client():
    return openai.OpenAI(max_retries=0, timeout=30)


def scenario_text():
    completion = client().chat.completions.create(model=MODEL, messages=QUESTION, temperature=0)
    text = completion.choices[0].message.content
    observed.update(text=text, finish_reason=completion.choices[0].finish_reason)
    check("Paris" in (text or ""), "the text answers the question")
    check(completion.choices[0].finish_reason == "stop", "finish_reason is stop")


def scenario_stream():
    pieces = []
    for chunk in client().chat.completions.create(model=MODEL, messages=QUESTION, stream=True):
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
    observed["pieces"] = pieces
    check(len(pieces) >= 2, "the text arrives in several chunks")
    check("Paris" in "".join(pieces), "the streamed text answers the question")


def scenario_tools():
    completion = client().chat.completions.create(
        model=MODEL, messages=QUESTION, tools=[WEATHER_TOOL], tool_choice="required"
    )
    calls = completion.choices[0].message.tool_calls or []
    observed["calls"] = [call.model_dump() for call in calls]
    check(len(calls) == 1 and calls[0].function.name == "weather", "one call of the weather tool")
    check(bool(calls) and json.loads(calls[0].function.arguments) == {"city": "Paris"}, "the call's arguments")


def scenario_upstream_error():
    try:
        client().chat.completions.create(model=MODEL, messages=QUESTION)
        failures.append("an upstream 500 did not raise")
    except openai.APIStatusError as err:
        observed.update(exception=type(err).__name__, status=err.status_code)
        check(isinstance(err, openai.InternalServerError), "raised InternalServerError")
        check("model crashed" in str(err), "the upstream's message is in the error")


def scenario_refused_model():
    for stream in (False, True):
        name = "stream" if stream else "plain"
        try:
            client().chat.completions.create(model="claude-sonnet-4-6", messages=QUESTION, stream=stream)
            failures.append(f"{name}: no error raised")
        except openai.APIStatusError as err:
            observed[name] = {"exception": type(err).__name__, "status": err.status_code}
            check(isinstance(err, openai.PermissionDeniedError), f"{name}: raised PermissionDeniedError")
            check("not the admitted model" in str(err), f"{name}: the message says why")


SCENARIOS = {
    "text": scenario_text,
    "stream": scenario_stream,
    "tools": scenario_tools,
    "upstream_error": scenario_upstream_error,
    "refused_model": scenario_refused_model,
}

if __name__ == "__main__":
    main(SCENARIOS, openai.__version__)
