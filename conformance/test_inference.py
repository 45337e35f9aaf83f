"""The inference plane as the OpenAI Python SDK sees it, against native participants: the model
list, Chat Completions and Responses (streamed and not, raw and through the SDK's stream
helpers), the lifecycle of a native response, routing, and errors.

A native answer passes through the hub byte for byte, so its shape is the provider's; only what
the hub writes itself (the model list, error events) is checked with ``conforms``."""

import json
import unittest

import openai

from harness import (
    BOTH,
    CHAT_ONLY,
    CHAT_WEATHER_TOOL,
    PROTECTED_BASE_URL,
    PROTECTED_PARTICIPANT,
    PROTECTED_PASSWORD,
    RESPONSES_ONLY,
    RESPONSES_WEATHER_TOOL,
    client,
    conforms,
    generation_requests,
    reply,
    script,
    tool_call,
)

HELLO = [{"role": "user", "content": "Say hello"}]


class Models(unittest.TestCase):
    def test_lists_every_participant_by_id(self):
        models = client().models.list()
        conforms(self, models.data)
        ids = sorted(model.id for model in models.data)
        self.assertEqual(ids, sorted([BOTH, CHAT_ONLY, RESPONSES_ONLY]))
        for model in models.data:
            self.assertEqual(model.object, "model")
            self.assertIsInstance(model.created, int)
            self.assertEqual(model.owned_by, f"{model.id} (test)")
            # Gambi's own details ride along as an extra field the SDK keeps.
            details = model.model_extra["gambi"]
            self.assertEqual(details["model"], f"{model.id}-model")

    def test_the_protected_room_lists_its_participant_with_the_password(self):
        models = client(PROTECTED_BASE_URL, PROTECTED_PASSWORD).models.list()
        self.assertEqual([model.id for model in models.data], [PROTECTED_PARTICIPANT])


class ChatCompletions(unittest.TestCase):
    def test_not_streamed(self):
        for participant in (BOTH, CHAT_ONLY):
            with self.subTest(participant=participant):
                script(participant, reply("Hello from the hub", usage=(7, 4)))
                completion = client().chat.completions.create(model=participant, messages=HELLO)
                self.assertEqual(completion.object, "chat.completion")
                self.assertTrue(completion.id)
                self.assertEqual(len(completion.choices), 1)
                choice = completion.choices[0]
                self.assertEqual(choice.message.role, "assistant")
                self.assertEqual(choice.message.content, "Hello from the hub")
                self.assertEqual(choice.finish_reason, "stop")
                self.assertEqual(completion.usage.prompt_tokens, 7)
                self.assertEqual(completion.usage.completion_tokens, 4)
                self.assertEqual(completion.usage.total_tokens, 11)
                self.assertEqual(generation_requests(participant)[0]["messages"], HELLO)

    def test_streamed_with_usage(self):
        script(BOTH, reply("one two three", usage=(5, 3)))
        stream = client().chat.completions.create(
            model=BOTH,
            messages=HELLO,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
        text = "".join(
            chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices
        )
        self.assertEqual(text, "one two three")
        self.assertTrue(all(chunk.object == "chat.completion.chunk" for chunk in chunks))
        self.assertEqual(len({chunk.id for chunk in chunks}), 1, "one id for the whole stream")
        finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
        self.assertEqual(finishes, ["stop"])
        usage = chunks[-1].usage
        self.assertEqual(chunks[-1].choices, [])
        self.assertEqual((usage.prompt_tokens, usage.completion_tokens, usage.total_tokens), (5, 3, 8))

    def test_streamed_without_usage_has_no_usage_chunk(self):
        # The hub asks the provider for usage anyway (for its metrics) and must hide that chunk.
        script(CHAT_ONLY, reply("one two three"))
        chunks = list(
            client().chat.completions.create(model=CHAT_ONLY, messages=HELLO, stream=True)
        )
        self.assertTrue(all(chunk.choices for chunk in chunks), "every chunk has a choice")
        self.assertTrue(all(chunk.usage is None for chunk in chunks))
        self.assertEqual("".join(c.choices[0].delta.content or "" for c in chunks), "one two three")

    def test_stream_helper(self):
        script(BOTH, reply("Hello through the helper", usage=(6, 4)))
        deltas = []
        with client().chat.completions.stream(
            model=BOTH, messages=HELLO, stream_options={"include_usage": True}
        ) as stream:
            for event in stream:
                if event.type == "content.delta":
                    deltas.append(event.delta)
            completion = stream.get_final_completion()
        self.assertEqual("".join(deltas), "Hello through the helper")
        self.assertEqual(completion.choices[0].message.content, "Hello through the helper")
        self.assertEqual(completion.choices[0].finish_reason, "stop")
        self.assertEqual(completion.usage.prompt_tokens, 6)
        self.assertEqual(completion.usage.completion_tokens, 4)

    def test_stream_helper_with_a_tool_call(self):
        script(BOTH, reply(tool_calls=[tool_call("get_weather", {"city": "Paris"})], usage=(9, 5)))
        with client().chat.completions.stream(
            model=BOTH,
            messages=[{"role": "user", "content": "Weather in Paris?"}],
            tools=[CHAT_WEATHER_TOOL],
            stream_options={"include_usage": True},
        ) as stream:
            completion = stream.get_final_completion()
        choice = completion.choices[0]
        self.assertEqual(choice.finish_reason, "tool_calls")
        (call,) = choice.message.tool_calls
        self.assertEqual(call.type, "function")
        self.assertTrue(call.id)
        self.assertEqual(call.function.name, "get_weather")
        self.assertEqual(json.loads(call.function.arguments), {"city": "Paris"})
        self.assertEqual(call.function.parsed_arguments, {"city": "Paris"})
        self.assertEqual((completion.usage.prompt_tokens, completion.usage.completion_tokens), (9, 5))


class Responses(unittest.TestCase):
    def test_not_streamed(self):
        for participant in (BOTH, RESPONSES_ONLY):
            with self.subTest(participant=participant):
                script(participant, reply("Hello from the hub", usage=(7, 4)))
                response = client().responses.create(model=participant, input="Say hello")
                self.assertEqual(response.object, "response")
                self.assertTrue(response.id)
                self.assertEqual(response.status, "completed")
                self.assertEqual(response.output_text, "Hello from the hub")
                self.assertEqual(response.usage.input_tokens, 7)
                self.assertEqual(response.usage.output_tokens, 4)
                self.assertEqual(response.usage.total_tokens, 11)
                self.assertEqual(generation_requests(participant)[0]["input"], "Say hello")

    def test_streamed(self):
        script(RESPONSES_ONLY, reply("one two three", usage=(5, 3)))
        events = list(
            client().responses.create(model=RESPONSES_ONLY, input="Count", stream=True)
        )
        types = [event.type for event in events]
        self.assertEqual(types[0], "response.created")
        self.assertEqual(types[-1], "response.completed")
        numbers = [event.sequence_number for event in events]
        self.assertEqual(numbers, sorted(numbers))
        text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
        self.assertEqual(text, "one two three")
        done = events[-1].response
        self.assertEqual(done.output_text, "one two three")
        self.assertEqual((done.usage.input_tokens, done.usage.output_tokens), (5, 3))

    def test_stream_helper(self):
        script(BOTH, reply("Hello through the helper", usage=(6, 4)))
        deltas = []
        with client().responses.stream(model=BOTH, input="Say hello") as stream:
            for event in stream:
                if event.type == "response.output_text.delta":
                    deltas.append(event.delta)
            response = stream.get_final_response()
        self.assertEqual("".join(deltas), "Hello through the helper")
        self.assertEqual(response.output_text, "Hello through the helper")
        self.assertEqual(response.status, "completed")
        self.assertEqual((response.usage.input_tokens, response.usage.output_tokens), (6, 4))

    def test_stream_helper_with_a_tool_call(self):
        script(RESPONSES_ONLY, reply(tool_calls=[tool_call("get_weather", {"city": "Paris"})]))
        with client().responses.stream(
            model=RESPONSES_ONLY, input="Weather in Paris?", tools=[RESPONSES_WEATHER_TOOL]
        ) as stream:
            response = stream.get_final_response()
        (call,) = response.output
        self.assertEqual(call.type, "function_call")
        self.assertEqual(call.name, "get_weather")
        self.assertEqual(json.loads(call.arguments), {"city": "Paris"})
        self.assertEqual(call.parsed_arguments, {"city": "Paris"})

    def test_retrieve_and_input_items_of_a_native_response(self):
        script(BOTH, reply("Stored natively", usage=(2, 2)))
        sdk = client()
        created = sdk.responses.create(model=BOTH, input="Keep this")
        retrieved = sdk.responses.retrieve(created.id)
        self.assertEqual(retrieved.id, created.id)
        self.assertEqual(retrieved.output_text, "Stored natively")
        items = sdk.responses.input_items.list(created.id)
        self.assertEqual([item.type for item in items.data], ["message"])
        self.assertEqual(items.data[0].role, "user")
        self.assertEqual(items.data[0].content[0].text, "Keep this")
        deleted = sdk.responses.delete(created.id)
        self.assertIsNone(deleted)
        with self.assertRaises(openai.NotFoundError):
            sdk.responses.retrieve(created.id)


class BrokenStreams(unittest.TestCase):
    """A provider that fails mid-stream, with an error event or by cutting the connection: the
    client gets what was generated, then an error in its protocol, never a silent truncation."""

    def test_chat_stream(self):
        for how in ("error_event", "disconnect"):
            with self.subTest(how=how):
                script(BOTH, reply("one two three four", fail_after=(2, how)))
                chunks = []
                with self.assertRaises(openai.APIError) as caught:
                    for chunk in client().chat.completions.create(model=BOTH, messages=HELLO, stream=True):
                        chunks.append(chunk)
                self.assertEqual("".join(c.choices[0].delta.content or "" for c in chunks), "one two")
                self.assertTrue(caught.exception.message)
                self.assertEqual(caught.exception.type, "server_error")

    def test_responses_stream(self):
        for how in ("error_event", "disconnect"):
            with self.subTest(how=how):
                script(RESPONSES_ONLY, reply("one two three four", fail_after=(2, how)))
                events = list(client().responses.create(model=RESPONSES_ONLY, input="Count", stream=True))
                conforms(self, events[-1])
                text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
                self.assertEqual(text, "one two")
                self.assertEqual(events[-1].type, "error")
                self.assertTrue(events[-1].message)
                self.assertNotIn("response.completed", [event.type for event in events])


class Routing(unittest.TestCase):
    """The `model` field selects a participant by id, by model name, or any."""

    def test_selectors(self):
        cases = [
            (CHAT_ONLY, CHAT_ONLY),
            (f"{CHAT_ONLY}-model", CHAT_ONLY),
            (f"model:{RESPONSES_ONLY}-model", RESPONSES_ONLY),
            (BOTH, BOTH),
        ]
        for selector, participant in cases:
            with self.subTest(selector=selector):
                script(participant, reply(f"Served by {participant}"))
                response = client().responses.create(model=selector, input="Who are you?")
                self.assertEqual(response.output_text, f"Served by {participant}")
                self.assertEqual(len(generation_requests(participant)), 1)

    def test_any(self):
        for participant in (BOTH, CHAT_ONLY, RESPONSES_ONLY):
            script(participant, reply(f"Served by {participant}"))
        completion = client().chat.completions.create(model="*", messages=HELLO)
        served = [p for p in (BOTH, CHAT_ONLY, RESPONSES_ONLY) if generation_requests(p)]
        self.assertEqual(len(served), 1)
        self.assertEqual(completion.choices[0].message.content, f"Served by {served[0]}")


class Errors(unittest.TestCase):
    def test_unknown_model(self):
        with self.assertRaises(openai.NotFoundError) as caught:
            client().chat.completions.create(model="no-such-model", messages=HELLO)
        error = caught.exception
        self.assertEqual(error.status_code, 404)
        self.assertEqual(error.code, "MODEL_NOT_FOUND")
        self.assertEqual(error.type, "invalid_request_error")
        self.assertEqual(error.param, "model")
        self.assertIn("no-such-model", error.message)

    def test_unknown_model_on_a_stream(self):
        # The error comes before the stream starts, as a plain HTTP error.
        with self.assertRaises(openai.NotFoundError) as caught:
            client().responses.create(model="no-such-model", input="hi", stream=True)
        self.assertEqual(caught.exception.code, "MODEL_NOT_FOUND")

    def test_unknown_response(self):
        with self.assertRaises(openai.NotFoundError) as caught:
            client().responses.retrieve("resp_does_not_exist")
        self.assertEqual(caught.exception.code, "RESPONSE_NOT_FOUND")

    def test_wrong_api_key_on_a_protected_room(self):
        for key in ("wrong password", "conformance"):
            with self.subTest(key=key):
                with self.assertRaises(openai.AuthenticationError) as caught:
                    client(PROTECTED_BASE_URL, key).chat.completions.create(
                        model=PROTECTED_PARTICIPANT, messages=HELLO
                    )
                self.assertEqual(caught.exception.status_code, 401)
                self.assertEqual(caught.exception.code, "INVALID_PASSWORD")
        with self.assertRaises(openai.AuthenticationError):
            client(PROTECTED_BASE_URL, "wrong password").models.list()

    def test_right_api_key_on_a_protected_room(self):
        script(PROTECTED_PARTICIPANT, reply("Welcome in", usage=(3, 2)))
        response = client(PROTECTED_BASE_URL, PROTECTED_PASSWORD).responses.create(
            model=PROTECTED_PARTICIPANT, input="Knock knock"
        )
        self.assertEqual(response.output_text, "Welcome in")
        self.assertEqual(response.usage.output_tokens, 2)


if __name__ == "__main__":
    unittest.main()
