//! Talking to a Gambi room from Rust with `async-openai`: the Responses API and Chat
//! Completions, whole and streamed, routed with the room handle's `model` strings.
//!
//! ```sh
//! cargo run -p gambi-client --example openai_room -- http://localhost:3000 K7QF2M [PASSWORD]
//! ```
//!
//! A room is an OpenAI endpoint: the client only needs the room's base URL and, as API
//! key, its password (any string for an open room). [`gambi_client::Room`] gives both,
//! and the `model` strings that choose who answers: `room.any()` (the least-loaded
//! participant), `room.model("llama3")` (one serving that model), `room.participant(id)`.
//! The test suite runs these functions against a hub, a participant runtime and a fake
//! provider (`tests/openai_example.rs`).

use std::io::Write as _;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionRequestUserMessageArgs, CreateChatCompletionRequestArgs,
};
use async_openai::types::responses::{CreateResponseArgs, ResponseStreamEvent};
use futures::StreamExt as _;
use gambi_client::Room;

/// An OpenAI client of `room`.
pub(crate) fn openai(room: &Room) -> Client<OpenAIConfig> {
    let config = OpenAIConfig::new()
        .with_api_base(room.base_url())
        .with_api_key(room.api_key());
    Client::with_config(config)
}

/// Asks `model` (a routing string) through the Responses API; the answer's text.
pub(crate) async fn respond(room: &Room, model: &str, prompt: &str) -> Result<String, OpenAIError> {
    let request = CreateResponseArgs::default()
        .model(model)
        .input(prompt)
        .build()?;
    let response = openai(room).responses().create(request).await?;
    Ok(response.output_text().unwrap_or_default())
}

/// The same, streamed: the text deltas as they arrive, joined.
pub(crate) async fn respond_streamed(
    room: &Room,
    model: &str,
    prompt: &str,
) -> Result<Vec<String>, OpenAIError> {
    let request = CreateResponseArgs::default()
        .model(model)
        .input(prompt)
        .build()?;
    let mut stream = openai(room).responses().create_stream(request).await?;
    let mut deltas = Vec::new();
    while let Some(event) = stream.next().await {
        match event? {
            ResponseStreamEvent::ResponseOutputTextDelta(delta) => deltas.push(delta.delta),
            ResponseStreamEvent::ResponseCompleted(_) => break,
            _ => {}
        }
    }
    Ok(deltas)
}

/// Asks `model` through Chat Completions; the reply and the model that answered.
pub(crate) async fn chat(
    room: &Room,
    model: &str,
    prompt: &str,
) -> Result<(String, String), OpenAIError> {
    let request = CreateChatCompletionRequestArgs::default()
        .model(model)
        .messages([ChatCompletionRequestUserMessageArgs::default()
            .content(prompt)
            .build()?
            .into()])
        .build()?;
    let response = openai(room).chat().create(request).await?;
    let reply = response
        .choices
        .first()
        .and_then(|choice| choice.message.content.clone())
        .unwrap_or_default();
    Ok((reply, response.model))
}

/// The same, streamed: the content deltas as they arrive.
pub(crate) async fn chat_streamed(
    room: &Room,
    model: &str,
    prompt: &str,
) -> Result<Vec<String>, OpenAIError> {
    let request = CreateChatCompletionRequestArgs::default()
        .model(model)
        .messages([ChatCompletionRequestUserMessageArgs::default()
            .content(prompt)
            .build()?
            .into()])
        .build()?;
    let mut stream = openai(room).chat().create_stream(request).await?;
    let mut deltas = Vec::new();
    while let Some(chunk) = stream.next().await {
        for choice in chunk?.choices {
            if let Some(content) = choice.delta.content {
                deltas.push(content);
            }
        }
    }
    Ok(deltas)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(hub), Some(code)) = (args.next(), args.next()) else {
        return Err("usage: openai_room <HUB_URL> <ROOM_CODE> [PASSWORD]".into());
    };
    let mut room = Room::new(&hub, &code)?;
    if let Some(password) = args.next() {
        room = room.with_password(password);
    }
    let mut out = std::io::stdout().lock();
    let answer = respond(&room, &room.any(), "Say hello in one sentence.").await?;
    writeln!(out, "Responses:          {answer}")?;
    let deltas = respond_streamed(&room, &room.any(), "Count to five.").await?;
    writeln!(out, "Responses, streamed: {}", deltas.concat())?;
    let (reply, model) = chat(&room, &room.any(), "Say hello in one sentence.").await?;
    writeln!(out, "Chat ({model}):       {reply}")?;
    let deltas = chat_streamed(&room, &room.any(), "Count to five.").await?;
    writeln!(out, "Chat, streamed:      {}", deltas.concat())?;
    Ok(())
}
