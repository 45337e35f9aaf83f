//! [`Reply`]: what the fake provider answers to one generation request.
//!
//! A reply is built once and used by whichever protocol the request came in on, so the same
//! script drives a Chat Completions test and a Responses test.

use std::time::Duration;

use http::StatusCode;
use serde_json::{Value, json};

use super::text::tokenize;

/// Why the model stopped, in Chat Completions terms.
///
/// The Responses API maps `Length` to an `incomplete` response with reason
/// `max_output_tokens`, `ContentFilter` to one with reason `content_filter`, and the others to
/// `completed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// The model finished its answer (`"stop"`).
    Stop,
    /// The token limit was reached (`"length"`).
    Length,
    /// The model called tools (`"tool_calls"`).
    ToolCalls,
    /// The output was filtered (`"content_filter"`).
    ContentFilter,
}

impl FinishReason {
    /// The wire string of this reason.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Length => "length",
            Self::ToolCalls => "tool_calls",
            Self::ContentFilter => "content_filter",
        }
    }
}

/// How a stream breaks when a reply is told to [`fail_after`](Reply::fail_after) some tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFailure {
    /// The connection is cut: the chunked body ends without its terminating chunk, so the
    /// client sees a transport error.
    Disconnect,
    /// An error event is sent and the stream ends cleanly: `data: {"error":{...}}` on Chat
    /// Completions, `event: error` on Responses. A non-streamed request gets a 500 instead.
    ErrorEvent,
}

/// Token counts to report instead of the computed ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Tokens in the prompt (`prompt_tokens` / `input_tokens`).
    pub prompt_tokens: u64,
    /// Tokens generated (`completion_tokens` / `output_tokens`).
    pub completion_tokens: u64,
}

/// One scripted answer. Build it with a constructor and chain modifiers:
///
/// ```
/// use gambi_test_support::{FinishReason, Reply, StreamFailure};
/// use serde_json::json;
///
/// let plain = Reply::text("Hello there");
/// let cut = Reply::text("one two three four").fail_after(2, StreamFailure::Disconnect);
/// let tool = Reply::tool_call("get_weather", json!({"city": "Paris"}));
/// let truncated = Reply::tokens(["Once", " upon"]).finish_reason(FinishReason::Length);
/// let busy = Reply::rate_limited();
/// # let _ = (plain, cut, tool, truncated, busy);
/// ```
#[derive(Debug, Clone)]
pub struct Reply {
    pub(crate) content: Content,
    pub(crate) tool_calls: Vec<ToolCallSpec>,
    pub(crate) finish_reason: Option<FinishReason>,
    pub(crate) usage: Option<Usage>,
    pub(crate) outcome: Outcome,
    pub(crate) interruption: Option<Interruption>,
    pub(crate) token_delay: Option<Duration>,
    pub(crate) first_token_delay: Option<Duration>,
}

/// Where the text of a reply comes from.
#[derive(Debug, Clone)]
pub(crate) enum Content {
    /// These tokens, in order.
    Tokens(Vec<String>),
    /// The text of the last user message of the request, split into tokens.
    Echo,
}

/// A tool call the reply makes.
#[derive(Debug, Clone)]
pub(crate) struct ToolCallSpec {
    pub(crate) name: String,
    pub(crate) arguments: Value,
}

/// Whether the reply answers normally at all.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// Generate the reply.
    Generate,
    /// Answer with this status and body, whatever was asked.
    Error { status: StatusCode, body: ErrorBody },
    /// Never answer; the request stays open until the client gives up.
    Hang,
}

/// The body of a scripted error.
#[derive(Debug, Clone)]
pub(crate) enum ErrorBody {
    Json(Value),
    Text(String),
}

/// A stream that stops early.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Interruption {
    /// Tokens sent before the interruption.
    pub(crate) after_tokens: usize,
    pub(crate) kind: InterruptionKind,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum InterruptionKind {
    Fail(StreamFailure),
    Stall,
}

impl Default for Reply {
    fn default() -> Self {
        Self::text("Hello! How can I help you today?")
    }
}

impl Reply {
    fn with_content(content: Content) -> Self {
        Self {
            content,
            tool_calls: Vec::new(),
            finish_reason: None,
            usage: None,
            outcome: Outcome::Generate,
            interruption: None,
            token_delay: None,
            first_token_delay: None,
        }
    }

    /// Answers with `text`, split into word tokens (`"Hello there"` streams as `"Hello"`,
    /// `" there"`).
    pub fn text(text: impl AsRef<str>) -> Self {
        Self::with_content(Content::Tokens(tokenize(text.as_ref())))
    }

    /// Answers with exactly these tokens, one streamed event each.
    pub fn tokens<I, S>(tokens: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::with_content(Content::Tokens(
            tokens.into_iter().map(Into::into).collect(),
        ))
    }

    /// Answers with the text of the last user message of the request (for Responses, of the
    /// whole conversation including `previous_response_id`), split into word tokens.
    pub fn echo() -> Self {
        Self::with_content(Content::Echo)
    }

    /// Answers with no text and a single call of tool `name` with these JSON `arguments`.
    /// The finish reason defaults to `tool_calls`.
    pub fn tool_call(name: impl Into<String>, arguments: Value) -> Self {
        Self::tokens(Vec::<String>::new()).with_tool_call(name, arguments)
    }

    /// Adds a call of tool `name` after the text. Its arguments are serialised to a string
    /// and streamed in fragments of a few characters.
    #[must_use]
    pub fn with_tool_call(mut self, name: impl Into<String>, arguments: Value) -> Self {
        self.tool_calls.push(ToolCallSpec {
            name: name.into(),
            arguments,
        });
        self
    }

    /// Sets the finish reason. Default: `tool_calls` if the reply calls tools, else `stop`.
    #[must_use]
    pub fn finish_reason(mut self, reason: FinishReason) -> Self {
        self.finish_reason = Some(reason);
        self
    }

    /// Reports these token counts. Default: the prompt counted in words of the request's
    /// textual input, the completion as one per text token and argument fragment.
    #[must_use]
    pub fn usage(mut self, prompt_tokens: u64, completion_tokens: u64) -> Self {
        self.usage = Some(Usage {
            prompt_tokens,
            completion_tokens,
        });
        self
    }

    /// Answers with HTTP `status` and this JSON body, streamed request or not.
    ///
    /// # Panics
    /// If `status` is not a valid HTTP status code (100 to 999).
    pub fn error(status: u16, body: Value) -> Self {
        Self::with_outcome(Outcome::Error {
            status: valid_status(status),
            body: ErrorBody::Json(body),
        })
    }

    /// Answers with HTTP `status` and this plain-text body (as a proxy in front of a provider
    /// might, e.g. `502 Bad Gateway`).
    ///
    /// # Panics
    /// If `status` is not a valid HTTP status code (100 to 999).
    pub fn error_text(status: u16, body: impl Into<String>) -> Self {
        Self::with_outcome(Outcome::Error {
            status: valid_status(status),
            body: ErrorBody::Text(body.into()),
        })
    }

    /// Answers with HTTP `status` and an OpenAI error object
    /// `{"error":{"message","type","param":null,"code"}}`.
    ///
    /// # Panics
    /// If `status` is not a valid HTTP status code (100 to 999).
    pub fn openai_error(status: u16, message: &str, kind: &str, code: Option<&str>) -> Self {
        Self::error(status, openai_error_body(message, kind, None, code))
    }

    /// A 500 with OpenAI's `server_error` body.
    pub fn server_error() -> Self {
        Self::openai_error(500, SERVER_ERROR_MESSAGE, "server_error", None)
    }

    /// A 429 with OpenAI's `rate_limit_exceeded` body.
    pub fn rate_limited() -> Self {
        Self::openai_error(
            429,
            "Rate limit reached for requests. Please try again later.",
            "requests",
            Some("rate_limit_exceeded"),
        )
    }

    /// Never answers: no status, no headers. The request is counted as aborted when the
    /// client goes away. For cancellation tests.
    pub fn hang() -> Self {
        Self::with_outcome(Outcome::Hang)
    }

    /// Breaks the stream after `tokens` token events (text tokens and tool-call argument
    /// fragments count alike), the way `how` says. If the reply has fewer tokens, the break
    /// comes after the last one, before the finishing events. A non-streamed request is cut
    /// inside its body ([`StreamFailure::Disconnect`]) or answered with a 500
    /// ([`StreamFailure::ErrorEvent`]).
    #[must_use]
    pub fn fail_after(mut self, tokens: usize, how: StreamFailure) -> Self {
        self.interruption = Some(Interruption {
            after_tokens: tokens,
            kind: InterruptionKind::Fail(how),
        });
        self
    }

    /// Sends `tokens` token events and then goes silent forever, keeping the connection
    /// open; a non-streamed request never gets an answer. For cancelling mid-stream.
    #[must_use]
    pub fn stall_after(mut self, tokens: usize) -> Self {
        self.interruption = Some(Interruption {
            after_tokens: tokens,
            kind: InterruptionKind::Stall,
        });
        self
    }

    /// Waits this long between consecutive token events, instead of the provider's
    /// configured `token_delay`.
    #[must_use]
    pub fn token_delay(mut self, delay: Duration) -> Self {
        self.token_delay = Some(delay);
        self
    }

    /// Waits this long before the first generated event, instead of the provider's
    /// configured `first_token_delay`.
    #[must_use]
    pub fn first_token_delay(mut self, delay: Duration) -> Self {
        self.first_token_delay = Some(delay);
        self
    }

    fn with_outcome(outcome: Outcome) -> Self {
        let mut reply = Self::tokens(Vec::<String>::new());
        reply.outcome = outcome;
        reply
    }
}

fn valid_status(status: u16) -> StatusCode {
    StatusCode::from_u16(status).expect("Reply: the status must be a valid HTTP status code")
}

/// The message OpenAI sends with a 500.
pub(crate) const SERVER_ERROR_MESSAGE: &str =
    "The server had an error while processing your request. Sorry about that!";

/// OpenAI's error body: `{"error":{"message","type","param","code"}}`.
pub(crate) fn openai_error_body(
    message: &str,
    kind: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Value {
    json!({
        "error": {
            "message": message,
            "type": kind,
            "param": param,
            "code": code,
        }
    })
}

/// A [`Reply`] resolved against one request: the actual tokens, ids and counts.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) tokens: Vec<String>,
    pub(crate) tool_calls: Vec<PlannedCall>,
    pub(crate) finish_reason: FinishReason,
    pub(crate) usage: Usage,
    pub(crate) interruption: Option<Interruption>,
}

/// A tool call with its ids and streamed argument fragments.
#[derive(Debug)]
pub(crate) struct PlannedCall {
    /// `call_…`, the id a tool result refers to.
    pub(crate) call_id: String,
    /// `fc_…`, the Responses output item id.
    pub(crate) item_id: String,
    pub(crate) name: String,
    pub(crate) arguments: String,
    pub(crate) fragments: Vec<String>,
}

impl Plan {
    /// Resolves `reply` (whose outcome is [`Outcome::Generate`]): `echo_text` gives the last
    /// user message and `prompt_tokens` the computed prompt size; each is asked only if needed.
    pub(crate) fn new(
        reply: Reply,
        echo_text: impl FnOnce() -> String,
        prompt_tokens: impl FnOnce() -> u64,
    ) -> Self {
        let tokens = match reply.content {
            Content::Tokens(tokens) => tokens,
            Content::Echo => tokenize(&echo_text()),
        };
        let tool_calls: Vec<PlannedCall> = reply
            .tool_calls
            .into_iter()
            .map(|call| {
                let arguments = call.arguments.to_string();
                PlannedCall {
                    call_id: super::text::new_id("call_", 24),
                    item_id: super::text::new_id("fc_", 48),
                    fragments: super::text::argument_fragments(&arguments),
                    name: call.name,
                    arguments,
                }
            })
            .collect();
        let finish_reason = reply.finish_reason.unwrap_or(if tool_calls.is_empty() {
            FinishReason::Stop
        } else {
            FinishReason::ToolCalls
        });
        let usage = reply.usage.unwrap_or_else(|| {
            let fragments: usize = tool_calls.iter().map(|call| call.fragments.len()).sum();
            Usage {
                prompt_tokens: prompt_tokens(),
                completion_tokens: (tokens.len() + fragments) as u64,
            }
        });
        Self {
            tokens,
            tool_calls,
            finish_reason,
            usage,
            interruption: reply.interruption,
        }
    }

    /// The whole text of the answer.
    pub(crate) fn text(&self) -> String {
        self.tokens.concat()
    }

    /// Token events in a full stream: text tokens plus argument fragments.
    pub(crate) fn token_events(&self) -> usize {
        self.tokens.len()
            + self
                .tool_calls
                .iter()
                .map(|call| call.fragments.len())
                .sum::<usize>()
    }

    /// Whether the answer has a text part: it does unless it is only tool calls.
    pub(crate) fn has_message(&self) -> bool {
        !self.tokens.is_empty() || self.tool_calls.is_empty()
    }
}
