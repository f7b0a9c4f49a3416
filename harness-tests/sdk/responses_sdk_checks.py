"""Judges the adapter's OpenAI Responses API (`POST /v1/responses`, Codex CLI's API) with the
official Python SDK's `client.responses.create`.

Usage:  python responses_sdk_checks.py SCENARIO
        SCENARIO: text | stream | refused_model

The SDK is configured only by the environment: OPENAI_BASE_URL (the adapter's .../v1) and
OPENAI_API_KEY (the per-run token). CASE_MODEL names the admitted model. The fake upstream the
Rust test starts speaks chat completions only, so the adapter translates; it answers "The
capital of France is Paris." (streamed in three pieces when asked to stream).

Prints the report of `sdk_judge.py` and exits 0 only when every check held. Retries are off.
"""

import os

import openai

from sdk_judge import check, main, observed

MODEL = os.environ["CASE_MODEL"]
QUESTION = "What is the capital of France? Answer in one word."


def client():
    return openai.OpenAI(max_retries=0, timeout=30)


def scenario_text():
    response = client().responses.create(model=MODEL, instructions="Answer briefly.", input=QUESTION)
    observed.update(text=response.output_text, status=response.status, model=response.model,
                    output_types=[item.type for item in response.output])
    check("Paris" in response.output_text, "output_text answers the question")
    check(response.status == "completed", "the response is completed")
    check(response.model == MODEL, "the response names the admitted model")
    check(response.usage is not None and response.usage.total_tokens == 16, "usage is the upstream's")
    check("reasoning" not in observed["output_types"], "no reasoning is invented")


def scenario_stream():
    pieces = []
    kinds = []
    final = None
    for event in client().responses.create(model=MODEL, input=QUESTION, stream=True):
        kinds.append(event.type)
        if event.type == "response.output_text.delta":
            pieces.append(event.delta)
        if event.type == "response.completed":
            final = event.response
    observed.update(pieces=pieces, first=kinds[:1], last=kinds[-1:])
    check(len(pieces) >= 2, "the text arrives in several deltas")
    check("Paris" in "".join(pieces), "the streamed text answers the question")
    check(kinds[:1] == ["response.created"], "the stream starts with response.created")
    check(final is not None and final.output_text == "".join(pieces), "response.completed carries the whole text")
    check(final is not None and final.usage is not None and final.usage.output_tokens == 7, "usage arrives at the end")


def scenario_refused_model():
    try:
        client().responses.create(model="gpt-5-codex", input=QUESTION)
    except openai.BadRequestError as err:
        observed.update(status=err.status_code, message=str(err))
        check("not the admitted model" in str(err), "the error says why")
        return
    check(False, "a foreign model is refused with a 400 (BadRequestError)")


main({"text": scenario_text, "stream": scenario_stream, "refused_model": scenario_refused_model}, openai.__version__)
