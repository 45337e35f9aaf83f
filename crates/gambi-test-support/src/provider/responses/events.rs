//! The typed event stream of a Response, from `response.created` to `response.completed`
//! (or `response.incomplete`), as a script the stream module plays.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Value, json};

use super::generation::Generation;
use crate::provider::reply::SERVER_ERROR_MESSAGE;
use crate::provider::state::Shared;
use crate::provider::stream::EventScript;

/// One event of a Responses stream.
#[derive(Debug, Clone, Copy)]
enum Event {
    Created,
    InProgress,
    MessageAdded,
    PartAdded,
    TextDelta(usize),
    TextDone,
    PartDone,
    MessageDone,
    CallAdded(usize),
    ArgumentsDelta(usize, usize),
    ArgumentsDone(usize),
    CallDone(usize),
    Completed,
}

impl Event {
    fn kind(self) -> &'static str {
        match self {
            Self::Created => "response.created",
            Self::InProgress => "response.in_progress",
            Self::MessageAdded | Self::CallAdded(_) => "response.output_item.added",
            Self::PartAdded => "response.content_part.added",
            Self::TextDelta(_) => "response.output_text.delta",
            Self::TextDone => "response.output_text.done",
            Self::PartDone => "response.content_part.done",
            Self::MessageDone | Self::CallDone(_) => "response.output_item.done",
            Self::ArgumentsDelta(..) => "response.function_call_arguments.delta",
            Self::ArgumentsDone(_) => "response.function_call_arguments.done",
            Self::Completed => "response.completed",
        }
    }
}

pub(super) struct EventsScript {
    pub(super) generation: Generation,
    events: Vec<Event>,
    /// Where the finished response is stored; the stream outlives the request handler.
    shared: Arc<Shared>,
}

impl EventsScript {
    pub(super) fn new(generation: Generation, shared: Arc<Shared>) -> Self {
        let plan = &generation.plan;
        let mut events = Vec::with_capacity(plan.token_events() + 4 * plan.tool_calls.len() + 8);
        events.extend([Event::Created, Event::InProgress]);
        if plan.has_message() {
            events.extend([Event::MessageAdded, Event::PartAdded]);
            events.extend((0..plan.tokens.len()).map(Event::TextDelta));
            events.extend([Event::TextDone, Event::PartDone, Event::MessageDone]);
        }
        for (call, planned) in plan.tool_calls.iter().enumerate() {
            events.push(Event::CallAdded(call));
            events.extend(
                (0..planned.fragments.len()).map(|fragment| Event::ArgumentsDelta(call, fragment)),
            );
            events.extend([Event::ArgumentsDone(call), Event::CallDone(call)]);
        }
        events.push(Event::Completed);
        Self {
            generation,
            events,
            shared,
        }
    }
}

impl EventScript for EventsScript {
    fn len(&self) -> usize {
        self.events.len()
    }

    fn is_token(&self, index: usize) -> bool {
        matches!(
            self.events.get(index),
            Some(Event::TextDelta(_) | Event::ArgumentsDelta(..))
        )
    }

    fn generation_start(&self) -> usize {
        2
    }

    fn render(&mut self, index: usize) -> Bytes {
        let Some(event) = self.events.get(index).copied() else {
            return Bytes::new();
        };
        let generation = &self.generation;
        let plan = &generation.plan;
        let message_index = generation.message_index().unwrap_or_default();
        let mut data = match event {
            Event::Created | Event::InProgress => {
                json!({"response": generation.in_progress_object()})
            }
            Event::MessageAdded => json!({
                "output_index": message_index,
                "item": generation.message("in_progress", Vec::new()),
            }),
            Event::PartAdded => json!({
                "item_id": generation.message_id,
                "output_index": message_index,
                "content_index": 0,
                "part": Generation::text_part(""),
            }),
            Event::TextDelta(token) => json!({
                "item_id": generation.message_id,
                "output_index": message_index,
                "content_index": 0,
                "delta": plan.tokens[token],
                "logprobs": [],
            }),
            Event::TextDone => json!({
                "item_id": generation.message_id,
                "output_index": message_index,
                "content_index": 0,
                "text": plan.text(),
                "logprobs": [],
            }),
            Event::PartDone => json!({
                "item_id": generation.message_id,
                "output_index": message_index,
                "content_index": 0,
                "part": Generation::text_part(&plan.text()),
            }),
            Event::MessageDone => json!({
                "output_index": message_index,
                "item": generation.final_message(),
            }),
            Event::CallAdded(call) => json!({
                "output_index": generation.call_output_index(call),
                "item": generation.call(call, "in_progress", ""),
            }),
            Event::ArgumentsDelta(call, fragment) => json!({
                "item_id": plan.tool_calls[call].item_id,
                "output_index": generation.call_output_index(call),
                "delta": plan.tool_calls[call].fragments[fragment],
            }),
            Event::ArgumentsDone(call) => json!({
                "item_id": plan.tool_calls[call].item_id,
                "output_index": generation.call_output_index(call),
                "name": plan.tool_calls[call].name,
                "arguments": plan.tool_calls[call].arguments,
            }),
            Event::CallDone(call) => json!({
                "output_index": generation.call_output_index(call),
                "item": generation.call(call, "completed", &plan.tool_calls[call].arguments),
            }),
            Event::Completed => json!({"response": generation.final_object()}),
        };
        let kind = if matches!(event, Event::Completed) && generation.incomplete_reason().is_some()
        {
            "response.incomplete"
        } else {
            event.kind()
        };
        if let Value::Object(fields) = &mut data {
            fields.insert("type".to_owned(), json!(kind));
            fields.insert("sequence_number".to_owned(), json!(index));
        }
        sse_event(kind, &data)
    }

    fn render_error(&mut self, index: usize) -> Bytes {
        let data = json!({
            "type": "error",
            "code": "server_error",
            "message": SERVER_ERROR_MESSAGE,
            "param": null,
            "sequence_number": index,
        });
        sse_event("error", &data)
    }

    fn finished(&mut self) {
        if !self.generation.store {
            return;
        }
        let mut responses = self.shared.responses();
        if let Some(stored) = responses.get_mut(&self.generation.id) {
            // A response cancelled or replaced meanwhile keeps what it was given.
            if stored.object["status"] == "in_progress" {
                stored.object = self.generation.final_object();
            }
        }
    }
}

/// `event: <kind>\ndata: <json>\n\n`.
fn sse_event(kind: &str, data: &Value) -> Bytes {
    let mut frame = Vec::with_capacity(512);
    frame.extend_from_slice(b"event: ");
    frame.extend_from_slice(kind.as_bytes());
    frame.extend_from_slice(b"\ndata: ");
    // Writing a `Value` to a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut frame, data);
    frame.extend_from_slice(b"\n\n");
    Bytes::from(frame)
}
