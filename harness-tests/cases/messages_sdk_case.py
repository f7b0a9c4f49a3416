"""A Case that knows only the Anthropic Messages API, through the official Python SDK.

Everything comes from the environment the harness gives Case: `anthropic.Anthropic()` reads
ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY / ANTHROPIC_AUTH_TOKEN, the model is ANTHROPIC_MODEL,
the task is CASE_TASK_FILE. It asks the task's prompt once plainly and once streamed, counts
the prompt's tokens, and reports verdict "pass" in $CASE_OUTPUT_DIR/result.json when both
answers pass the task's checks and name the model it asked for.
"""

import json
import os
import re
import sys

import anthropic


def passes(check, text):
    kind = check.get("kind")
    if kind == "non_empty":
        return bool(text.strip())
    if kind == "contains":
        return check["value"] in text
    if kind == "not_contains":
        return check["value"] not in text
    if kind == "word":
        return re.search(r"(?:^|\W)" + re.escape(check["value"]) + r"(?:\W|$)", text, re.IGNORECASE) is not None
    if kind == "exact":
        return text.strip() == check["value"].strip()
    if kind == "regex":
        return re.search(check["value"], text) is not None
    raise ValueError(f"unknown check kind {kind!r}")


def main():
    with open(os.environ["CASE_TASK_FILE"]) as file:
        task = json.load(file)
    model = os.environ["ANTHROPIC_MODEL"]
    client = anthropic.Anthropic()
    messages = [{"role": "user", "content": task["prompt"]}]
    options = {"model": model, "max_tokens": int(task.get("max_tokens", 64)), "messages": messages}
    if "temperature" in task:
        # anthropic 2.x has no `temperature` argument; the field still goes in the body.
        options["extra_body"] = {"temperature": task["temperature"]}

    message = client.messages.create(**options)
    reply = "".join(block.text for block in message.content if block.type == "text")
    with client.messages.stream(**options) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()
    counted = client.messages.count_tokens(model=model, messages=messages)

    results = []
    for check in task.get("checks", [{"kind": "non_empty"}]):
        for name, text in (("reply", reply), ("streamed", streamed)):
            results.append({"check": check, "on": name, "ok": passes(check, text)})
    results.append({"check": "message.model is ANTHROPIC_MODEL", "ok": message.model == model == final.model})
    verdict = "pass" if all(result["ok"] for result in results) else "fail"
    print("reply:", reply)
    print("streamed:", streamed)
    print("input_tokens:", counted.input_tokens)
    with open(os.path.join(os.environ["CASE_OUTPUT_DIR"], "result.json"), "w") as out:
        json.dump(
            {
                "verdict": verdict,
                "reply": reply,
                "streamed_reply": streamed,
                "input_tokens": counted.input_tokens,
                "checks": results,
                "sdk_version": anthropic.__version__,
            },
            out,
        )
    return 0 if verdict == "pass" else 1


if __name__ == "__main__":
    sys.exit(main())
