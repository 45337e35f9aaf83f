//! Conversation history for adapted responses: input normalisation, `previous_response_id`
//! expansion and `input_items` pages.
//!
//! A Chat Completions participant keeps no state, so for a Responses client to chain requests
//! with `previous_response_id` (and list a response's input items) the hub keeps what each
//! adapted response saw and said, and rebuilds the conversation itself before converting.

use serde_json::{Value, json};

use super::error::AdaptError;
use super::ids::IdGen;
use super::str_of;

/// Default page size of an `input_items` listing, as in the OpenAI API.
pub(crate) const DEFAULT_PAGE_LIMIT: u64 = 20;
/// Largest page size of an `input_items` listing, as in the OpenAI API.
pub(crate) const MAX_PAGE_LIMIT: u64 = 100;

/// The request's `input` as a list of items, the way OpenAI's `input_items` listing shows
/// them: a string becomes one user message, message content strings become content parts,
/// items without an id get one (`msg_…`, `fc_…`, `fco_…`), and messages, function calls and
/// function call outputs without a status get `completed` (SDKs type it as required on all but
/// user messages).
pub(crate) fn normalize_input(req: &Value, ids: &IdGen) -> Vec<Value> {
    match req.get("input") {
        Some(Value::String(text)) => vec![json!({
            "id": ids.message(),
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
            "status": "completed",
        })],
        Some(Value::Array(items)) => items
            .iter()
            .filter(|item| item.is_object())
            .map(|item| normalize_item(item, ids))
            .collect(),
        _ => Vec::new(),
    }
}

fn normalize_item(item: &Value, ids: &IdGen) -> Value {
    let mut item = item.clone();
    let kind = str_of(&item, "type")
        .map(str::to_owned)
        .or_else(|| item.get("role").map(|_| "message".to_owned()));
    let missing_id = str_of(&item, "id").is_none();
    match kind.as_deref() {
        Some("message") => {
            item["type"] = json!("message");
            if missing_id {
                item["id"] = json!(ids.message());
            }
            if let Some(text) = str_of(&item, "content").map(str::to_owned) {
                item["content"] = if str_of(&item, "role") == Some("assistant") {
                    json!([{"type": "output_text", "text": text, "annotations": []}])
                } else {
                    json!([{"type": "input_text", "text": text}])
                };
            }
        }
        Some("function_call") if missing_id => item["id"] = json!(ids.function_call()),
        Some("function_call_output") if missing_id => {
            item["id"] = json!(ids.function_call_output());
        }
        _ => {}
    }
    if matches!(
        kind.as_deref(),
        Some("message" | "function_call" | "function_call_output")
    ) && item.get("status").is_none_or(Value::is_null)
    {
        item["status"] = json!("completed");
    }
    item
}

/// Rebuilds a request that names a `previous_response_id` for a participant that keeps no
/// state: the previous response's input items and output items come first, then the new
/// request's input; `previous_response_id` is removed.
///
/// The previous response's `instructions` are not carried over, as OpenAI documents: only the
/// new request's `instructions` apply. Store the returned `input` as the new response's input
/// items, so that the next link in the chain again needs just one lookup.
pub(crate) fn expand_previous(
    prev_input_items: &[Value],
    prev_output_items: &[Value],
    new_req: &Value,
    ids: &IdGen,
) -> Value {
    let mut input = Vec::with_capacity(prev_input_items.len() + prev_output_items.len() + 1);
    input.extend(prev_input_items.iter().cloned());
    input.extend(prev_output_items.iter().cloned());
    input.extend(normalize_input(new_req, ids));
    let mut out = new_req.clone();
    if let Some(fields) = out.as_object_mut() {
        fields.remove("previous_response_id");
        fields.insert("input".into(), Value::Array(input));
    }
    out
}

/// One page of input items in OpenAI's list shape:
/// `{"object":"list","data":[…],"first_id","last_id","has_more"}`.
///
/// `order` is `desc` (newest first, the default) or `asc`; `after` and `before` are item ids
/// bounding the page in that order; `limit` is 1 to 100, 20 by default. With only `before`,
/// the page is the `limit` items just before it.
pub(crate) fn input_items_page(
    items: &[Value],
    after: Option<&str>,
    before: Option<&str>,
    limit: Option<u64>,
    order: Option<&str>,
) -> Result<Value, AdaptError> {
    let limit = limit.unwrap_or(DEFAULT_PAGE_LIMIT);
    if !(1..=MAX_PAGE_LIMIT).contains(&limit) {
        return Err(AdaptError::invalid_value(
            "limit",
            format!("`limit` must be between 1 and {MAX_PAGE_LIMIT}."),
        ));
    }
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut ordered: Vec<&Value> = items.iter().collect();
    match order.unwrap_or("desc") {
        "desc" => ordered.reverse(),
        "asc" => {}
        other => {
            return Err(AdaptError::invalid_value(
                "order",
                format!("`order` must be 'asc' or 'desc', not '{other}'."),
            ));
        }
    }
    let position = |param: &str, id: &str| {
        ordered
            .iter()
            .position(|item| str_of(item, "id") == Some(id))
            .ok_or_else(|| {
                AdaptError::invalid_value(param, format!("No input item with id '{id}'."))
            })
    };
    let start = match after {
        Some(id) => position("after", id)? + 1,
        None => 0,
    };
    let end = match before {
        Some(id) => position("before", id)?,
        None => ordered.len(),
    };
    let window = ordered.get(start..end).unwrap_or(&[]);
    let page = if before.is_some() && after.is_none() {
        &window[window.len().saturating_sub(limit)..]
    } else {
        &window[..window.len().min(limit)]
    };
    let id_of = |item: Option<&&Value>| item.and_then(|i| i.get("id")).cloned();
    Ok(json!({
        "object": "list",
        "data": page,
        "first_id": id_of(page.first()),
        "last_id": id_of(page.last()),
        "has_more": window.len() > page.len(),
    }))
}

#[cfg(test)]
mod tests {
    // Table-driven helpers take owned `json!` literals so the cases read as plain data.
    #![allow(clippy::needless_pass_by_value)]

    use super::*;

    fn id(prefix: &str, n: u64) -> String {
        format!("{prefix}_{n:048x}")
    }

    fn check_normalize(req: Value, expected: Value) {
        assert_eq!(
            Value::Array(normalize_input(&req, &IdGen::sequential())),
            expected,
            "{req}"
        );
    }

    #[test]
    fn normalize_string_input() {
        check_normalize(
            json!({"input": "Hello"}),
            json!([{"id": id("msg", 1), "type": "message", "role": "user",
                    "content": [{"type": "input_text", "text": "Hello"}], "status": "completed"}]),
        );
        check_normalize(json!({}), json!([]));
    }

    #[test]
    fn normalize_item_list() {
        check_normalize(
            json!({"input": [
                {"role": "developer", "content": "Rules"},
                {"type": "message", "id": "msg_keep", "role": "user",
                 "content": [{"type": "input_text", "text": "Hi"}]},
                {"role": "assistant", "content": "Hello"},
                {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "ok"},
                {"type": "reasoning", "id": "rs_1", "summary": []},
                "not an item",
            ]}),
            json!([
                {"id": id("msg", 1), "type": "message", "role": "developer",
                 "content": [{"type": "input_text", "text": "Rules"}], "status": "completed"},
                {"type": "message", "id": "msg_keep", "role": "user",
                 "content": [{"type": "input_text", "text": "Hi"}], "status": "completed"},
                {"id": id("msg", 2), "type": "message", "role": "assistant",
                 "content": [{"type": "output_text", "text": "Hello", "annotations": []}],
                 "status": "completed"},
                {"id": id("fc", 3), "type": "function_call", "call_id": "call_1", "name": "f",
                 "arguments": "{}", "status": "completed"},
                {"id": id("fco", 4), "type": "function_call_output", "call_id": "call_1",
                 "output": "ok", "status": "completed"},
                {"type": "reasoning", "id": "rs_1", "summary": []},
            ]),
        );
    }

    #[test]
    fn expand_previous_response() {
        let prev_input = vec![json!({"id": "msg_a", "type": "message", "role": "user",
                                     "content": [{"type": "input_text", "text": "Weather?"}]})];
        let prev_output = vec![
            json!({"id": "fc_b", "type": "function_call", "status": "completed",
                                      "call_id": "call_1", "name": "w", "arguments": "{}"}),
        ];
        let new_req = json!({
            "model": "m", "previous_response_id": "resp_prev", "instructions": "New rules",
            "input": [{"type": "function_call_output", "call_id": "call_1", "output": "sunny"}],
        });
        let expanded = expand_previous(&prev_input, &prev_output, &new_req, &IdGen::sequential());
        assert_eq!(
            expanded,
            json!({
                "model": "m", "instructions": "New rules",
                "input": [
                    {"id": "msg_a", "type": "message", "role": "user",
                     "content": [{"type": "input_text", "text": "Weather?"}]},
                    {"id": "fc_b", "type": "function_call", "status": "completed",
                     "call_id": "call_1", "name": "w", "arguments": "{}"},
                    {"id": id("fco", 1), "type": "function_call_output", "call_id": "call_1",
                     "output": "sunny", "status": "completed"},
                ],
            })
        );
        // The expanded request converts: the tool round trip reaches the provider whole.
        let chat = super::super::responses_to_chat(&expanded);
        assert_eq!(
            chat.ok().and_then(|c| c.get("messages").cloned()),
            Some(json!([
                {"role": "system", "content": "New rules"},
                {"role": "user", "content": "Weather?"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "w", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            ]))
        );
    }

    fn items(n: usize) -> Vec<Value> {
        (1..=n)
            .map(|i| json!({"id": format!("msg_{i}"), "type": "message"}))
            .collect()
    }

    fn ids_of(page: &Value) -> Vec<String> {
        page["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| str_of(i, "id").map(str::to_owned))
            .collect()
    }

    type PageArgs<'a> = (
        Option<&'a str>,
        Option<&'a str>,
        Option<u64>,
        Option<&'a str>,
    );

    #[test]
    fn pages() {
        let list = items(5);
        let cases: [(PageArgs<'_>, &[&str], bool); 8] = [
            (
                (None, None, None, None),
                &["msg_5", "msg_4", "msg_3", "msg_2", "msg_1"],
                false,
            ),
            ((None, None, Some(2), None), &["msg_5", "msg_4"], true),
            (
                (Some("msg_4"), None, Some(2), None),
                &["msg_3", "msg_2"],
                true,
            ),
            ((Some("msg_2"), None, Some(2), None), &["msg_1"], false),
            (
                (None, None, Some(3), Some("asc")),
                &["msg_1", "msg_2", "msg_3"],
                true,
            ),
            (
                (Some("msg_3"), None, None, Some("asc")),
                &["msg_4", "msg_5"],
                false,
            ),
            (
                (None, Some("msg_2"), Some(2), None),
                &["msg_4", "msg_3"],
                true,
            ),
            (
                (Some("msg_5"), Some("msg_2"), None, None),
                &["msg_4", "msg_3"],
                false,
            ),
        ];
        for ((after, before, limit, order), expected, has_more) in cases {
            let page = input_items_page(&list, after, before, limit, order);
            let Ok(page) = page else {
                panic!("{after:?} {before:?} {limit:?} {order:?}: {page:?}");
            };
            assert_eq!(
                ids_of(&page),
                expected,
                "{after:?} {before:?} {limit:?} {order:?}"
            );
            assert_eq!(page["has_more"], json!(has_more));
            assert_eq!(page["object"], json!("list"));
            assert_eq!(page["first_id"], json!(expected.first()));
            assert_eq!(page["last_id"], json!(expected.last()));
        }
    }

    #[test]
    fn empty_page_and_errors() {
        assert_eq!(
            input_items_page(&[], None, None, None, None),
            Ok(
                json!({"object": "list", "data": [], "first_id": null, "last_id": null,
                      "has_more": false})
            )
        );
        let list = items(3);
        for (after, limit, order, param) in [
            (None, Some(0), None, "limit"),
            (None, Some(101), None, "limit"),
            (None, None, Some("sideways"), "order"),
            (Some("msg_9"), None, None, "after"),
        ] {
            let err = input_items_page(&list, after, None, limit, order).err();
            assert_eq!(err.as_ref().and_then(AdaptError::param), Some(param));
        }
        let err = input_items_page(&list, None, Some("nope"), None, None).err();
        assert_eq!(err.as_ref().and_then(AdaptError::param), Some("before"));
    }
}
