"""Protocol adaptation as the OpenAI Python SDK sees it: the Responses API served by a
participant that speaks only Chat Completions (the hub translates, keeps the response, and
rebuilds history for ``previous_response_id``), and Chat Completions served by a participant
that speaks only Responses."""

import json
import unittest

import openai
import pydantic

from harness import (
    CHAT_ONLY,
    CHAT_WEATHER_TOOL,
    RESPONSES_ONLY,
    RESPONSES_WEATHER_TOOL,
    client,
    conforms,
    generation_requests,
    reply,
    script,
    tool_call,
)

PARIS = {"city": "Paris"}
FORECAST = json.dumps({"forecast": "sunny", "celsius": 21})


class Weather(pydantic.BaseModel):
    city: str
    celsius: int


WEATHER_JSON = '{"city": "Paris", "celsius": 21}'


def only_request(participant):
    """The single create request ``participant``'s provider got since it was scripted."""
    (body,) = generation_requests(participant)
    return body


class ResponsesOnAChatOnlyParticipant(unittest.TestCase):
    def assert_text_response(self, response, text, usage):
        conforms(self, response)
        self.assertEqual(response.object, "response")
        self.assertTrue(response.id.startswith("resp_"), response.id)
        self.assertEqual(response.status, "completed")
        self.assertEqual(response.output_text, text)
        (message,) = response.output
        self.assertEqual((message.type, message.role, message.status), ("message", "assistant", "completed"))
        self.assertEqual([part.type for part in message.content], ["output_text"])
        self.assertEqual(
            (response.usage.input_tokens, response.usage.output_tokens, response.usage.total_tokens),
            (usage[0], usage[1], usage[0] + usage[1]),
        )

    def test_not_streamed(self):
        script(CHAT_ONLY, reply("Adapted hello", usage=(8, 2)))
        response = client().responses.create(
            model=CHAT_ONLY, input="Say hello", instructions="Be brief."
        )
        self.assert_text_response(response, "Adapted hello", (8, 2))
        self.assertEqual(response.instructions, "Be brief.")
        sent = only_request(CHAT_ONLY)
        self.assertEqual(
            sent["messages"],
            [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}],
        )

    def test_streamed_raw_events(self):
        script(CHAT_ONLY, reply("one two three", usage=(5, 3)))
        events = list(client().responses.create(model=CHAT_ONLY, input="Count", stream=True))
        conforms(self, events)
        types = [event.type for event in events]
        self.assertEqual(
            [t for t in types if t != "response.output_text.delta"],
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed",
            ],
        )
        self.assertEqual([event.sequence_number for event in events], list(range(len(events))))
        deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
        self.assertEqual(deltas, ["one", " two", " three"])
        self.assert_text_response(events[-1].response, "one two three", (5, 3))
        self.assertEqual(len({e.response.id for e in events if hasattr(e, "response")}), 1)

    def test_stream_helper(self):
        script(CHAT_ONLY, reply("Hello through the helper", usage=(6, 4)))
        deltas = []
        with client().responses.stream(model=CHAT_ONLY, input="Say hello") as stream:
            for event in stream:
                if event.type == "response.output_text.delta":
                    deltas.append(event.delta)
            response = stream.get_final_response()
        self.assertEqual("".join(deltas), "Hello through the helper")
        self.assert_text_response(response, "Hello through the helper", (6, 4))
        self.assertTrue(only_request(CHAT_ONLY)["stream"])

    def test_tool_round_trip_not_streamed(self):
        sdk = client()
        script(
            CHAT_ONLY,
            reply(tool_calls=[tool_call("get_weather", PARIS)], usage=(12, 6)),
            reply("It is sunny in Paris.", usage=(30, 6)),
        )
        question = [{"role": "user", "content": "Weather in Paris?"}]
        first = sdk.responses.create(model=CHAT_ONLY, input=question, tools=[RESPONSES_WEATHER_TOOL])
        conforms(self, first)
        self.assertEqual(first.status, "completed")
        (call,) = first.output
        self.assertEqual((call.type, call.name, call.status), ("function_call", "get_weather", "completed"))
        self.assertEqual(json.loads(call.arguments), PARIS)
        self.assertTrue(call.call_id)
        self.assertEqual(first.output_text, "")
        self.assertEqual((first.usage.input_tokens, first.usage.output_tokens), (12, 6))

        # Stateless round trip: the client sends the whole conversation back.
        second = sdk.responses.create(
            model=CHAT_ONLY,
            input=question
            + [call.model_dump(exclude_none=True)]
            + [{"type": "function_call_output", "call_id": call.call_id, "output": FORECAST}],
            tools=[RESPONSES_WEATHER_TOOL],
        )
        conforms(self, second)
        self.assertEqual(second.output_text, "It is sunny in Paris.")
        self.assertEqual((second.usage.input_tokens, second.usage.output_tokens), (30, 6))
        items = sdk.responses.input_items.list(second.id, order="asc").data
        conforms(self, items)
        self.assertEqual(
            [item.type for item in items], ["message", "function_call", "function_call_output"]
        )
        self.assertEqual(items[2].output, FORECAST)

        first_sent, second_sent = generation_requests(CHAT_ONLY)
        self.assertEqual(
            first_sent["tools"],
            [{"type": "function", "function": {k: v for k, v in RESPONSES_WEATHER_TOOL.items() if k != "type"}}],
        )
        user, assistant, tool = second_sent["messages"]
        self.assertEqual(user, {"role": "user", "content": "Weather in Paris?"})
        self.assertEqual(assistant["role"], "assistant")
        (sent_call,) = assistant["tool_calls"]
        self.assertEqual(sent_call["id"], call.call_id)
        self.assertEqual(sent_call["function"]["name"], "get_weather")
        self.assertEqual(json.loads(sent_call["function"]["arguments"]), PARIS)
        self.assertEqual(tool, {"role": "tool", "tool_call_id": call.call_id, "content": FORECAST})

    def test_tool_round_trip_streamed_with_previous_response_id(self):
        sdk = client()
        script(
            CHAT_ONLY,
            reply(tool_calls=[tool_call("get_weather", PARIS)], usage=(12, 6)),
            # Echoes the last user message of what the provider receives: only the rebuilt
            # history holds one, since the second request sends just the tool output.
            reply(echo=True, usage=(30, 3)),
        )
        with sdk.responses.stream(
            model=CHAT_ONLY, input="Weather in Paris?", tools=[RESPONSES_WEATHER_TOOL]
        ) as stream:
            arguments = "".join(
                event.delta for event in stream if event.type == "response.function_call_arguments.delta"
            )
            first = stream.get_final_response()
        self.assertEqual(json.loads(arguments), PARIS)
        (call,) = first.output
        self.assertEqual((call.type, call.name), ("function_call", "get_weather"))
        self.assertEqual(call.parsed_arguments, PARIS)
        self.assertEqual((first.usage.input_tokens, first.usage.output_tokens), (12, 6))

        with sdk.responses.stream(
            model=CHAT_ONLY,
            previous_response_id=first.id,
            input=[{"type": "function_call_output", "call_id": call.call_id, "output": FORECAST}],
            tools=[RESPONSES_WEATHER_TOOL],
        ) as stream:
            second = stream.get_final_response()
        self.assertEqual(second.output_text, "Weather in Paris?")
        self.assertEqual(second.previous_response_id, first.id)
        items = sdk.responses.input_items.list(second.id).data
        conforms(self, items)
        self.assertEqual((items[0].type, items[0].call_id), ("function_call_output", call.call_id))
        self.assertEqual((second.usage.input_tokens, second.usage.output_tokens), (30, 3))

        _, second_sent = generation_requests(CHAT_ONLY)
        self.assertNotIn("previous_response_id", second_sent)
        self.assertEqual(
            [message["role"] for message in second_sent["messages"]], ["user", "assistant", "tool"]
        )
        self.assertEqual(second_sent["messages"][1]["tool_calls"][0]["id"], call.call_id)

    def test_stream_helper_with_text_and_parallel_tool_calls(self):
        script(
            CHAT_ONLY,
            reply(
                "Checking both.",
                tool_calls=[tool_call("get_weather", PARIS), tool_call("get_weather", {"city": "Rome"})],
                usage=(10, 9),
            ),
        )
        added = []
        with client().responses.stream(
            model=CHAT_ONLY, input="Weather in Paris and Rome?", tools=[RESPONSES_WEATHER_TOOL]
        ) as stream:
            for event in stream:
                if event.type == "response.output_item.added":
                    added.append((event.output_index, event.item.type))
            response = stream.get_final_response()
        self.assertEqual(added, [(0, "message"), (1, "function_call"), (2, "function_call")])
        message, paris, rome = response.output
        self.assertEqual(message.content[0].text, "Checking both.")
        self.assertEqual(response.output_text, "Checking both.")
        self.assertEqual((paris.parsed_arguments, rome.parsed_arguments), (PARIS, {"city": "Rome"}))
        self.assertNotEqual(paris.call_id, rome.call_id)
        self.assertNotEqual(paris.id, rome.id)
        self.assertEqual((response.usage.input_tokens, response.usage.output_tokens), (10, 9))

    def test_not_stored_when_asked(self):
        sdk = client()
        script(CHAT_ONLY, reply("Forget me"))
        created = sdk.responses.create(model=CHAT_ONLY, input="Secret", store=False)
        self.assertEqual(created.output_text, "Forget me")
        with self.assertRaises(openai.NotFoundError) as caught:
            sdk.responses.retrieve(created.id)
        self.assertEqual(caught.exception.code, "RESPONSE_NOT_FOUND")

    def test_stream_failed_by_the_provider(self):
        for how in ("error_event", "disconnect"):
            with self.subTest(how=how):
                script(CHAT_ONLY, reply("one two three four", fail_after=(2, how)))
                events = list(client().responses.create(model=CHAT_ONLY, input="Count", stream=True))
                conforms(self, events)
                text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
                self.assertEqual(text, "one two")
                self.assertEqual(events[-1].type, "response.failed")
                self.assertEqual(events[-1].response.status, "failed")
                self.assertTrue(events[-1].response.error.message)

    def test_structured_output(self):
        script(CHAT_ONLY, reply(WEATHER_JSON, usage=(9, 8)))
        response = client().responses.parse(
            model=CHAT_ONLY, input="Weather in Paris as JSON", text_format=Weather
        )
        self.assertEqual(response.output_parsed, Weather(city="Paris", celsius=21))
        format = only_request(CHAT_ONLY)["response_format"]
        self.assertEqual(format["type"], "json_schema")
        self.assertEqual(format["json_schema"]["name"], "Weather")
        self.assertIs(format["json_schema"]["strict"], True)
        self.assertEqual(sorted(format["json_schema"]["schema"]["properties"]), ["celsius", "city"])

    def test_previous_response_id_rebuilds_the_conversation(self):
        sdk = client()
        script(CHAT_ONLY, reply("Nice to meet you, Ada.", usage=(5, 5)), reply("Your name is Ada.", usage=(15, 4)))
        first = sdk.responses.create(model=CHAT_ONLY, input="My name is Ada.", instructions="Be kind.")
        second = sdk.responses.create(
            model=CHAT_ONLY,
            input="What is my name?",
            previous_response_id=first.id,
            instructions="Be brief.",
        )
        conforms(self, second)
        self.assertEqual(second.output_text, "Your name is Ada.")
        self.assertEqual(second.previous_response_id, first.id)
        _, sent = generation_requests(CHAT_ONLY)
        # Only the new request's instructions apply, as OpenAI documents.
        self.assertEqual(
            sent["messages"],
            [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "My name is Ada."},
                {"role": "assistant", "content": "Nice to meet you, Ada."},
                {"role": "user", "content": "What is my name?"},
            ],
        )

    def test_retrieve_and_input_items_of_an_adapted_response(self):
        sdk = client()
        script(CHAT_ONLY, reply("Stored by the hub", usage=(4, 4)))
        created = sdk.responses.create(
            model=CHAT_ONLY,
            input=[
                {"role": "user", "content": "First question"},
                {"role": "assistant", "content": "First answer"},
                {"role": "user", "content": "Second question"},
            ],
        )
        retrieved = sdk.responses.retrieve(created.id)
        conforms(self, retrieved)
        self.assertEqual(retrieved.model_dump(), created.model_dump())
        self.assertEqual(retrieved.output_text, "Stored by the hub")
        self.assertEqual(retrieved.usage.output_tokens, 4)

        items = sdk.responses.input_items.list(created.id, order="asc")
        conforms(self, items.data)
        self.assertEqual([item.type for item in items.data], ["message"] * 3)
        self.assertEqual([item.role for item in items.data], ["user", "assistant", "user"])
        self.assertEqual(
            [item.content[0].text for item in items.data],
            ["First question", "First answer", "Second question"],
        )
        self.assertTrue(all(item.id for item in items.data))
        self.assertFalse(items.has_more)

        newest_first = sdk.responses.input_items.list(created.id, limit=2)
        self.assertEqual(
            [item.content[0].text for item in newest_first.data], ["Second question", "First answer"]
        )
        self.assertTrue(newest_first.has_more)
        # The SDK's auto-pagination follows `last_id` through the rest.
        everything = [item.content[0].text for item in sdk.responses.input_items.list(created.id, limit=2)]
        self.assertEqual(everything, ["Second question", "First answer", "First question"])

        sdk.responses.delete(created.id)
        with self.assertRaises(Exception) as caught:
            sdk.responses.retrieve(created.id)
        self.assertEqual(caught.exception.code, "RESPONSE_NOT_FOUND")


class ChatCompletionsOnAResponsesOnlyParticipant(unittest.TestCase):
    def test_not_streamed(self):
        script(RESPONSES_ONLY, reply("Adapted hello", usage=(8, 2)))
        completion = client().chat.completions.create(
            model=RESPONSES_ONLY,
            messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}],
        )
        conforms(self, completion)
        self.assertEqual(completion.object, "chat.completion")
        choice = completion.choices[0]
        self.assertEqual((choice.message.role, choice.message.content), ("assistant", "Adapted hello"))
        self.assertEqual(choice.finish_reason, "stop")
        usage = completion.usage
        self.assertEqual((usage.prompt_tokens, usage.completion_tokens, usage.total_tokens), (8, 2, 10))
        sent = only_request(RESPONSES_ONLY)
        self.assertEqual(sent["instructions"], "Be brief.")

    def test_streamed_raw_chunks(self):
        script(RESPONSES_ONLY, reply("one two three", usage=(5, 3)))
        chunks = list(
            client().chat.completions.create(
                model=RESPONSES_ONLY,
                messages=[{"role": "user", "content": "Count"}],
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        conforms(self, chunks)
        self.assertEqual("".join(c.choices[0].delta.content or "" for c in chunks if c.choices), "one two three")
        self.assertEqual(len({chunk.id for chunk in chunks}), 1)
        self.assertEqual(chunks[-1].choices, [])
        self.assertEqual((chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens), (5, 3))

    def test_streamed_without_usage_has_no_usage_chunk(self):
        script(RESPONSES_ONLY, reply("one two three"))
        chunks = list(
            client().chat.completions.create(
                model=RESPONSES_ONLY, messages=[{"role": "user", "content": "Count"}], stream=True
            )
        )
        self.assertTrue(all(chunk.choices for chunk in chunks))
        self.assertTrue(all(chunk.usage is None for chunk in chunks))

    def test_stream_helper_with_tools_round_trip(self):
        sdk = client()
        script(
            RESPONSES_ONLY,
            reply(tool_calls=[tool_call("get_weather", PARIS)], usage=(12, 6)),
            reply("It is sunny in Paris.", usage=(30, 6)),
        )
        messages = [{"role": "user", "content": "Weather in Paris?"}]
        arguments = []
        with sdk.chat.completions.stream(
            model=RESPONSES_ONLY,
            messages=messages,
            tools=[CHAT_WEATHER_TOOL],
            stream_options={"include_usage": True},
        ) as stream:
            for event in stream:
                if event.type == "tool_calls.function.arguments.delta":
                    arguments.append(event.arguments_delta)
            first = stream.get_final_completion()
        self.assertEqual(json.loads("".join(arguments)), PARIS)
        choice = first.choices[0]
        self.assertEqual(choice.finish_reason, "tool_calls")
        # As with OpenAI, an answer that starts with a tool call has no content at all.
        self.assertIsNone(choice.message.content)
        (call,) = choice.message.tool_calls
        self.assertEqual((call.type, call.function.name), ("function", "get_weather"))
        self.assertTrue(call.id)
        self.assertEqual(json.loads(call.function.arguments), PARIS)
        self.assertEqual(call.function.parsed_arguments, PARIS)
        self.assertEqual((first.usage.prompt_tokens, first.usage.completion_tokens), (12, 6))

        messages += [
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.function.name, "arguments": call.function.arguments},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": call.id, "content": FORECAST},
        ]
        with sdk.chat.completions.stream(
            model=RESPONSES_ONLY,
            messages=messages,
            tools=[CHAT_WEATHER_TOOL],
            stream_options={"include_usage": True},
        ) as stream:
            second = stream.get_final_completion()
        self.assertEqual(second.choices[0].message.content, "It is sunny in Paris.")
        self.assertEqual(second.choices[0].finish_reason, "stop")
        self.assertEqual((second.usage.prompt_tokens, second.usage.completion_tokens), (30, 6))

        first_sent, second_sent = generation_requests(RESPONSES_ONLY)
        self.assertEqual(first_sent["tools"], [RESPONSES_WEATHER_TOOL])
        self.assertNotEqual(first_sent.get("store"), True)
        kinds = [item.get("type", "message") for item in second_sent["input"]]
        self.assertEqual(kinds, ["message", "function_call", "function_call_output"])
        function_call, output = second_sent["input"][1:]
        self.assertEqual((function_call["call_id"], function_call["name"]), (call.id, "get_weather"))
        self.assertEqual((output["call_id"], output["output"]), (call.id, FORECAST))

    def test_stream_helper_with_parallel_tool_calls(self):
        script(
            RESPONSES_ONLY,
            reply(tool_calls=[tool_call("get_weather", PARIS), tool_call("get_weather", {"city": "Rome"})]),
        )
        with client().chat.completions.stream(
            model=RESPONSES_ONLY,
            messages=[{"role": "user", "content": "Weather in Paris and Rome?"}],
            tools=[CHAT_WEATHER_TOOL],
        ) as stream:
            completion = stream.get_final_completion()
        paris, rome = completion.choices[0].message.tool_calls
        self.assertEqual((paris.function.parsed_arguments, rome.function.parsed_arguments), (PARIS, {"city": "Rome"}))
        self.assertNotEqual(paris.id, rome.id)
        self.assertEqual(completion.choices[0].finish_reason, "tool_calls")

    def test_stream_failed_by_the_provider(self):
        for how in ("error_event", "disconnect"):
            with self.subTest(how=how):
                script(RESPONSES_ONLY, reply("one two three four", fail_after=(2, how)))
                chunks = []
                with self.assertRaises(openai.APIError) as caught:
                    for chunk in client().chat.completions.create(
                        model=RESPONSES_ONLY, messages=[{"role": "user", "content": "Count"}], stream=True
                    ):
                        chunks.append(chunk)
                conforms(self, chunks)
                self.assertEqual("".join(c.choices[0].delta.content or "" for c in chunks), "one two")
                self.assertTrue(caught.exception.message)

    def test_structured_output_streamed(self):
        script(RESPONSES_ONLY, reply(WEATHER_JSON, usage=(9, 8)))
        with client().chat.completions.stream(
            model=RESPONSES_ONLY,
            messages=[{"role": "user", "content": "Weather in Paris as JSON"}],
            response_format=Weather,
        ) as stream:
            completion = stream.get_final_completion()
        self.assertEqual(completion.choices[0].message.parsed, Weather(city="Paris", celsius=21))
        format = only_request(RESPONSES_ONLY)["text"]["format"]
        self.assertEqual((format["type"], format["name"], format["strict"]), ("json_schema", "Weather", True))

    def test_what_cannot_be_translated_is_refused_by_name(self):
        cases = [({"stop": ["\n"]}, "stop"), ({"n": 2}, "n")]
        for extra, param in cases:
            with self.subTest(param=param):
                script(RESPONSES_ONLY)
                with self.assertRaises(openai.BadRequestError) as caught:
                    client().chat.completions.create(
                        model=RESPONSES_ONLY, messages=[{"role": "user", "content": "Hi"}], **extra
                    )
                self.assertEqual(caught.exception.code, "UNSUPPORTED_FEATURE")
                self.assertEqual(caught.exception.param, param)
                self.assertEqual(generation_requests(RESPONSES_ONLY), [])

    def test_not_streamed_with_a_tool_call(self):
        script(RESPONSES_ONLY, reply("Let me look.", tool_calls=[tool_call("get_weather", PARIS)], usage=(9, 7)))
        completion = client().chat.completions.create(
            model=RESPONSES_ONLY,
            messages=[{"role": "user", "content": "Weather in Paris?"}],
            tools=[CHAT_WEATHER_TOOL],
        )
        conforms(self, completion)
        choice = completion.choices[0]
        self.assertEqual(choice.finish_reason, "tool_calls")
        self.assertEqual(choice.message.content, "Let me look.")
        (call,) = choice.message.tool_calls
        self.assertEqual(call.function.name, "get_weather")
        self.assertEqual(json.loads(call.function.arguments), PARIS)


if __name__ == "__main__":
    unittest.main()
