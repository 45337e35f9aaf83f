//! Text helpers shared by both protocols: splitting text into tokens, reading the text out of
//! OpenAI message content, and minting ids.

use std::fmt::Write as _;

use rand::Rng as _;
use serde_json::Value;

/// Splits `text` into word-sized tokens that concatenate back to `text` exactly.
///
/// A token starts where a run of whitespace starts, so `"Hello there"` becomes
/// `["Hello", " there"]`, the way real tokenizers attach the leading space to a word.
pub(crate) fn tokenize(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut start = 0;
    let mut previous_was_space = true;
    for (index, ch) in text.char_indices() {
        let is_space = ch.is_whitespace();
        if is_space && !previous_was_space && index > start {
            tokens.push(text[start..index].to_owned());
            start = index;
        }
        previous_was_space = is_space;
    }
    if start < text.len() {
        tokens.push(text[start..].to_owned());
    }
    tokens
}

/// Counts the tokens [`tokenize`] would produce, without allocating them.
pub(crate) fn count_tokens(text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    // One token, plus one more wherever whitespace follows a non-space character.
    let mut count = 1;
    let mut previous_was_space = true;
    for ch in text.chars() {
        let is_space = ch.is_whitespace();
        if is_space && !previous_was_space {
            count += 1;
        }
        previous_was_space = is_space;
    }
    count
}

/// Splits a tool call's argument string into the small fragments a model streams.
pub(crate) fn argument_fragments(arguments: &str) -> Vec<String> {
    const FRAGMENT_CHARS: usize = 8;
    let mut fragments = Vec::new();
    let mut current = String::new();
    for ch in arguments.chars() {
        current.push(ch);
        if current.chars().count() == FRAGMENT_CHARS {
            fragments.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        fragments.push(current);
    }
    fragments
}

/// Flattens OpenAI message content into text: a string as is; an array of parts as the
/// `text` of each part that has one, joined with newlines. Anything else gives `""`.
pub(crate) fn content_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => {
            let texts: Vec<&str> = parts
                .iter()
                .filter_map(|part| match part {
                    Value::String(text) => Some(text.as_str()),
                    Value::Object(fields) => fields.get("text").and_then(Value::as_str),
                    _ => None,
                })
                .collect();
            texts.join("\n")
        }
        _ => String::new(),
    }
}

/// Counts the prompt tokens of a list of message-like values (anything with `content`),
/// plus any loose strings.
pub(crate) fn count_prompt_tokens<'a>(items: impl IntoIterator<Item = &'a Value>) -> u64 {
    items
        .into_iter()
        .map(|item| match item {
            Value::String(text) => count_tokens(text),
            Value::Object(fields) => {
                let content = fields.get("content").map(content_text).unwrap_or_default();
                let output = fields
                    .get("output")
                    .and_then(Value::as_str)
                    .map(count_tokens)
                    .unwrap_or_default();
                count_tokens(&content) + output
            }
            _ => 0,
        })
        .sum()
}

/// The text of the last item with `role: "user"`, if any.
pub(crate) fn last_user_text<'a>(items: impl DoubleEndedIterator<Item = &'a Value>) -> String {
    items
        .rev()
        .find(|item| item.get("role").and_then(Value::as_str) == Some("user"))
        .and_then(|item| item.get("content"))
        .map(content_text)
        .unwrap_or_default()
}

/// A fresh id: `prefix` followed by `hex_len` random lower-case hex digits.
pub(crate) fn new_id(prefix: &str, hex_len: usize) -> String {
    let mut id = String::with_capacity(prefix.len() + hex_len);
    id.push_str(prefix);
    let mut rng = rand::rng();
    let mut remaining = hex_len;
    while remaining > 0 {
        let word: u64 = rng.random();
        let take = remaining.min(16);
        let _ = write!(id, "{:016x}", word);
        id.truncate(id.len() - (16 - take));
        remaining -= take;
    }
    id
}

/// Seconds since the Unix epoch, as OpenAI's `created` fields carry them.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests may panic on a broken invariant.

    use super::*;
    use serde_json::json;

    fn check_tokens(text: &str, expected: &[&str]) {
        let tokens = tokenize(text);
        assert_eq!(tokens, expected, "tokenize({text:?})");
        assert_eq!(tokens.concat(), text);
        assert_eq!(
            count_tokens(text),
            expected.len() as u64,
            "count_tokens({text:?})"
        );
    }

    #[test]
    fn tokenizes_words_with_leading_space() {
        check_tokens("", &[]);
        check_tokens("Hello", &["Hello"]);
        check_tokens("Hello there", &["Hello", " there"]);
        check_tokens("Hello there, friend!", &["Hello", " there,", " friend!"]);
        check_tokens("  lead", &["  lead"]);
        check_tokens("trail  ", &["trail", "  "]);
        check_tokens("a\nb", &["a", "\nb"]);
        check_tokens("   ", &["   "]);
    }

    #[test]
    fn splits_arguments_into_fragments() {
        assert_eq!(
            argument_fragments(r#"{"city":"Paris"}"#),
            vec![r#"{"city":"#, r#""Paris"}"#]
        );
        assert_eq!(argument_fragments("{}"), vec!["{}"]);
        assert!(argument_fragments("").is_empty());
        assert_eq!(argument_fragments("ééééééééé").len(), 2);
    }

    #[test]
    fn flattens_content() {
        assert_eq!(content_text(&json!("hi")), "hi");
        assert_eq!(
            content_text(
                &json!([{"type": "text", "text": "a"}, {"type": "image_url"}, {"type": "input_text", "text": "b"}])
            ),
            "a\nb"
        );
        assert_eq!(content_text(&json!(null)), "");
    }

    #[test]
    fn finds_last_user_text() {
        let messages = [
            json!({"role": "system", "content": "sys"}),
            json!({"role": "user", "content": "first"}),
            json!({"role": "assistant", "content": "reply"}),
            json!({"role": "user", "content": [{"type": "text", "text": "second"}]}),
        ];
        assert_eq!(last_user_text(messages.iter()), "second");
        assert_eq!(last_user_text(messages[..1].iter()), "");
    }

    #[test]
    fn counts_prompt_tokens() {
        let messages = [
            json!({"role": "system", "content": "be brief"}),
            json!({"role": "user", "content": "say hi"}),
            json!("loose words here"),
        ];
        assert_eq!(count_prompt_tokens(messages.iter()), 7);
    }

    #[test]
    fn mints_ids() {
        let id = new_id("resp_", 40);
        assert!(id.starts_with("resp_"));
        assert_eq!(id.len(), 45);
        assert!(id[5..].chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(new_id("x", 24), new_id("x", 24));
        assert_eq!(new_id("x", 3).len(), 4);
    }
}
