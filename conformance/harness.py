"""What every conformance module shares: the hub's addresses, OpenAI clients, and the control
channel to the Rust test that runs the system (crates/gambi-e2e/tests/conformance.rs).

The Rust test starts a hub, joins participants backed by scripted fake providers, and runs one
module of this folder with ``python -m unittest``. It passes addresses in environment variables
and answers commands on the process's standard streams: one JSON command per line written to
standard output, one JSON answer per line read from standard input. Everything else this process
prints goes to standard error, which the Rust test shows when the suite fails.
"""

import json
import os
import sys

import openai
import pydantic

# Keep the real standard output for commands only; route every other write to fd 1 (print,
# warnings, C extensions) to standard error.
_commands = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
os.dup2(2, 1)
sys.stdout = sys.stderr
_answers = sys.stdin


def _env(name):
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(
            f"{name} is not set: run this suite through `cargo test -p gambi-e2e --test conformance`"
        )
    return value


BASE_URL = _env("GAMBI_BASE_URL")
"""The open room's inference base URL, ``http://127.0.0.1:PORT/rooms/CODE/v1``."""
CHAT_ONLY = _env("GAMBI_CHAT_ONLY")
"""Participant whose provider speaks only Chat Completions (serves model ``<id>-model``)."""
RESPONSES_ONLY = _env("GAMBI_RESPONSES_ONLY")
"""Participant whose provider speaks only the Responses API."""
BOTH = _env("GAMBI_BOTH")
"""Participant whose provider speaks both APIs."""
PROTECTED_BASE_URL = _env("GAMBI_PROTECTED_BASE_URL")
"""A password-protected room (on another hub)."""
PROTECTED_PARTICIPANT = _env("GAMBI_PROTECTED_PARTICIPANT")
PROTECTED_PASSWORD = _env("GAMBI_PROTECTED_PASSWORD")

# A tool in the shape both stream helpers accept: strict, with a closed schema.
WEATHER_PARAMETERS = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}
RESPONSES_WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather in a city.",
    "parameters": WEATHER_PARAMETERS,
    "strict": True,
}
CHAT_WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": WEATHER_PARAMETERS,
        "strict": True,
    },
}


def client(base_url=BASE_URL, api_key="conformance"):
    """An OpenAI client for a room. No retries, so every failure shows as it happened."""
    return openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=30)


def _call(op, **arguments):
    _commands.write(json.dumps({"op": op, **arguments}) + "\n")
    _commands.flush()
    line = _answers.readline()
    if not line:
        raise RuntimeError("the Rust test closed the control channel")
    answer = json.loads(line)
    if not answer.get("ok"):
        raise RuntimeError(f"control command {op} failed: {answer.get('error')}")
    return answer.get("result")


def reply(text="", *, echo=False, tool_calls=(), usage=None, fail_after=None):
    """One scripted answer: ``text`` (split in word tokens when streamed), or the text of the
    last user message of the request when ``echo``; then ``tool_calls`` (from
    :func:`tool_call`); token counts ``usage = (prompt, completion)`` instead of computed ones.
    ``fail_after = (tokens, how)`` breaks the answer after that many token events, with an
    error event (``"error_event"``; a 500 when not streamed) or by cutting the connection
    (``"disconnect"``)."""
    spec = {"text": text}
    if fail_after is not None:
        spec["fail_after"] = list(fail_after)
    if echo:
        spec["echo"] = True
    if tool_calls:
        spec["tool_calls"] = list(tool_calls)
    if usage is not None:
        spec["usage"] = list(usage)
    return spec


def tool_call(name, arguments):
    """A call of tool ``name`` with these JSON ``arguments``, for :func:`reply`."""
    return {"name": name, "arguments": arguments}


def script(participant, *replies):
    """Resets ``participant``'s provider (queued replies and recorded requests) and queues
    ``replies`` for its next generation requests, in order."""
    _call("script", participant=participant, replies=list(replies))


def provider_requests(participant):
    """The requests ``participant``'s provider received since its last :func:`script`, as
    ``{"method", "path", "body"}`` dicts."""
    return _call("requests", participant=participant)


def generation_requests(participant):
    """The bodies of the create requests ``participant``'s provider received since its last
    :func:`script`."""
    return [
        request["body"]
        for request in provider_requests(participant)
        if request["method"] == "POST"
        and request["path"] in ("/v1/chat/completions", "/v1/responses")
    ]


def conforms(test, value):
    """Checks ``value`` (an object the SDK built from what the hub sent, or a list of them)
    strictly against the SDK's own type for it: required fields present, types right. The SDK
    builds objects without validating them, so this is what a strictly typed client (a
    TypeScript or Go SDK, a schema-checking framework) would demand."""
    problems = []
    for item in value if isinstance(value, list) else [value]:
        try:
            type(item).model_validate(item.to_dict())
        except pydantic.ValidationError as error:
            fields = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()
            )
            problems.append(f"{type(item).__name__} {getattr(item, 'type', '')}: {fields}")
    if problems:
        test.fail("not what the SDK's types describe:\n" + "\n".join(problems))
