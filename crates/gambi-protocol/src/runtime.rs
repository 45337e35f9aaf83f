//! Runtime defaults (`RuntimeConfig`): sampling settings and instructions that a room or a
//! participant applies to the requests it serves.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Sampling defaults and instructions, as stored for a room (`defaults`) or a participant
/// (`config`). Every field is optional; unknown keys are dropped when parsing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuntimeConfig {
    /// Sampling temperature, 0 to 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling mass, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Upper bound on generated tokens, a positive integer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Vec<String>>,
    /// Frequency penalty, -2 to 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    /// Presence penalty, -2 to 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    /// Sampling seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// System instructions; stored trimmed and never returned by any public route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
}

/// What the public sees of a [`RuntimeConfig`]: everything but the instructions text,
/// plus whether instructions are set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeConfigPublic {
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling mass.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "top_p")]
    pub top_p: Option<f64>,
    /// Upper bound on generated tokens.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "max_tokens"
    )]
    pub max_tokens: Option<u64>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Vec<String>>,
    /// Frequency penalty.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "frequency_penalty"
    )]
    pub frequency_penalty: Option<f64>,
    /// Presence penalty.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "presence_penalty"
    )]
    pub presence_penalty: Option<f64>,
    /// Sampling seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Whether instructions are configured (their text is never exposed).
    #[serde(default)]
    pub has_instructions: bool,
}

/// Validation failures, flattened as the original reports them:
/// `{"formErrors": [...], "fieldErrors": {"field": ["..."]}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationErrors {
    /// Errors about the value as a whole.
    pub form_errors: Vec<String>,
    /// Errors per field name.
    pub field_errors: BTreeMap<String, Vec<String>>,
}

impl ValidationErrors {
    /// True when nothing failed.
    pub fn is_empty(&self) -> bool {
        self.form_errors.is_empty() && self.field_errors.is_empty()
    }

    /// Records an error about `field`.
    pub fn field(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.field_errors
            .entry(field.into())
            .or_default()
            .push(message.into());
    }

    /// A one-line summary naming every failing field, for messages and CLI output.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = self.form_errors.clone();
        for (field, messages) in &self.field_errors {
            parts.push(format!("{field}: {}", messages.join("; ")));
        }
        parts.join(", ")
    }

    /// Field errors with every field prefixed, e.g. `config.temperature`.
    pub fn prefixed(self, prefix: &str) -> Self {
        Self {
            form_errors: self.form_errors,
            field_errors: self
                .field_errors
                .into_iter()
                .map(|(field, messages)| (format!("{prefix}.{field}"), messages))
                .collect(),
        }
    }
}

impl RuntimeConfig {
    /// Parses and validates a JSON value. Unknown keys are ignored and `null` counts as
    /// absent; every other problem is reported per field.
    pub fn parse(value: &Value) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let Some(object) = value.as_object() else {
            errors
                .form_errors
                .push(format!("expected an object, got {}", json_type(value)));
            return Err(errors);
        };
        let config = Self {
            temperature: bounded(object, "temperature", 0.0, 2.0, &mut errors),
            top_p: bounded(object, "top_p", 0.0, 1.0, &mut errors),
            max_tokens: positive_integer(object, "max_tokens", &mut errors),
            stop: string_list(object, "stop", &mut errors),
            frequency_penalty: bounded(object, "frequency_penalty", -2.0, 2.0, &mut errors),
            presence_penalty: bounded(object, "presence_penalty", -2.0, 2.0, &mut errors),
            seed: integer(object, "seed", &mut errors),
            instructions: instructions(object, &mut errors),
        };
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(errors)
        }
    }

    /// True when no field is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// `self` with every field that `over` sets replaced by `over`'s value.
    pub fn overlay(&self, over: &Self) -> Self {
        Self {
            temperature: over.temperature.or(self.temperature),
            top_p: over.top_p.or(self.top_p),
            max_tokens: over.max_tokens.or(self.max_tokens),
            stop: over.stop.clone().or_else(|| self.stop.clone()),
            frequency_penalty: over.frequency_penalty.or(self.frequency_penalty),
            presence_penalty: over.presence_penalty.or(self.presence_penalty),
            seed: over.seed.or(self.seed),
            instructions: over
                .instructions
                .clone()
                .or_else(|| self.instructions.clone()),
        }
    }

    /// The public projection, with the instructions replaced by `hasInstructions`.
    pub fn to_public(&self) -> RuntimeConfigPublic {
        RuntimeConfigPublic {
            temperature: self.temperature,
            top_p: self.top_p,
            max_tokens: self.max_tokens,
            stop: self.stop.clone(),
            frequency_penalty: self.frequency_penalty,
            presence_penalty: self.presence_penalty,
            seed: self.seed,
            has_instructions: self
                .instructions
                .as_deref()
                .is_some_and(|text| !text.trim().is_empty()),
        }
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn present<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|value| !value.is_null())
}

fn bounded(
    object: &Map<String, Value>,
    key: &str,
    min: f64,
    max: f64,
    errors: &mut ValidationErrors,
) -> Option<f64> {
    let value = present(object, key)?;
    match value.as_f64() {
        Some(number) if (min..=max).contains(&number) => Some(number),
        Some(number) => {
            errors.field(
                key,
                format!("must be between {min} and {max}, got {number}"),
            );
            None
        }
        None => {
            errors.field(key, format!("must be a number, got {}", json_type(value)));
            None
        }
    }
}

fn integer(object: &Map<String, Value>, key: &str, errors: &mut ValidationErrors) -> Option<i64> {
    let value = present(object, key)?;
    match value.as_i64() {
        Some(number) => Some(number),
        None => {
            errors.field(key, format!("must be an integer, got {value}"));
            None
        }
    }
}

fn positive_integer(
    object: &Map<String, Value>,
    key: &str,
    errors: &mut ValidationErrors,
) -> Option<u64> {
    let value = present(object, key)?;
    match value.as_u64() {
        Some(number) if number > 0 => Some(number),
        _ => {
            errors.field(key, format!("must be a positive integer, got {value}"));
            None
        }
    }
}

fn string_list(
    object: &Map<String, Value>,
    key: &str,
    errors: &mut ValidationErrors,
) -> Option<Vec<String>> {
    let value = present(object, key)?;
    let list = value.as_array().and_then(|items| {
        items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
    });
    if list.is_none() {
        errors.field(key, "must be an array of strings");
    }
    list
}

fn instructions(object: &Map<String, Value>, errors: &mut ValidationErrors) -> Option<String> {
    let value = present(object, "instructions")?;
    match value.as_str().map(str::trim) {
        Some("") => {
            errors.field("instructions", "must not be empty");
            None
        }
        Some(text) => Some(text.to_owned()),
        None => {
            errors.field(
                "instructions",
                format!("must be a string, got {}", json_type(value)),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check_err(input: Value, field: &str) {
        let errors = RuntimeConfig::parse(&input).expect_err("invalid input");
        assert!(
            errors.field_errors.contains_key(field),
            "{input} should fail on {field}, got {errors:?}"
        );
    }

    #[test]
    fn parses_every_field_and_drops_unknown_keys() {
        let config = RuntimeConfig::parse(&json!({
            "temperature": 0.7, "top_p": 1, "max_tokens": 256, "stop": ["\n"],
            "frequency_penalty": -2, "presence_penalty": 2, "seed": 42,
            "instructions": "  Be brief.  ", "unknown": true, "seedless": null
        }))
        .expect("valid");
        assert_eq!(
            serde_json::to_value(&config).expect("serializable"),
            json!({
                "temperature": 0.7, "top_p": 1.0, "max_tokens": 256, "stop": ["\n"],
                "frequency_penalty": -2.0, "presence_penalty": 2.0, "seed": 42,
                "instructions": "Be brief."
            })
        );
    }

    #[test]
    fn rejects_out_of_range_and_mistyped_fields() {
        check_err(json!({"temperature": 2.5}), "temperature");
        check_err(json!({"temperature": "hot"}), "temperature");
        check_err(json!({"top_p": -0.1}), "top_p");
        check_err(json!({"max_tokens": 0}), "max_tokens");
        check_err(json!({"max_tokens": 1.5}), "max_tokens");
        check_err(json!({"stop": "\n"}), "stop");
        check_err(json!({"stop": [1]}), "stop");
        check_err(json!({"frequency_penalty": 3}), "frequency_penalty");
        check_err(json!({"presence_penalty": -3}), "presence_penalty");
        check_err(json!({"seed": "x"}), "seed");
        check_err(json!({"instructions": "   "}), "instructions");
        check_err(json!({"instructions": 5}), "instructions");
        let errors = RuntimeConfig::parse(&json!([])).expect_err("not an object");
        assert_eq!(errors.form_errors, vec!["expected an object, got an array"]);
    }

    #[test]
    fn reports_every_failing_field_at_once() {
        let errors = RuntimeConfig::parse(&json!({"temperature": 9, "top_p": 9}))
            .expect_err("two bad fields");
        assert_eq!(
            serde_json::to_value(&errors).expect("serializable"),
            json!({
                "formErrors": [],
                "fieldErrors": {
                    "temperature": ["must be between 0 and 2, got 9"],
                    "top_p": ["must be between 0 and 1, got 9"]
                }
            })
        );
        assert_eq!(
            errors.summary(),
            "temperature: must be between 0 and 2, got 9, top_p: must be between 0 and 1, got 9"
        );
    }

    #[test]
    fn public_projection_hides_instructions() {
        let config = RuntimeConfig {
            temperature: Some(0.2),
            instructions: Some("secret prompt".into()),
            ..RuntimeConfig::default()
        };
        assert_eq!(
            serde_json::to_value(config.to_public()).expect("serializable"),
            json!({"temperature": 0.2, "hasInstructions": true})
        );
        assert_eq!(
            serde_json::to_value(RuntimeConfig::default().to_public()).expect("serializable"),
            json!({"hasInstructions": false})
        );
    }

    #[test]
    fn overlay_lets_the_upper_layer_win_per_key() {
        let room = RuntimeConfig {
            temperature: Some(0.2),
            max_tokens: Some(128),
            instructions: Some("Room".into()),
            ..RuntimeConfig::default()
        };
        let participant = RuntimeConfig {
            temperature: Some(0.4),
            instructions: Some("Participant".into()),
            ..RuntimeConfig::default()
        };
        let merged = room.overlay(&participant);
        assert_eq!(merged.temperature, Some(0.4));
        assert_eq!(merged.max_tokens, Some(128));
        assert_eq!(merged.instructions.as_deref(), Some("Participant"));
    }
}
