//! Input forms: a column of labelled fields, one focused, edited with the keyboard.
//!
//! Text is edited at its end (type, Backspace, Ctrl+U to clear), which is all a short
//! field needs. Toggles flip with Space or ←/→; choices cycle through their options with
//! ←/→ and also take typed text, for a value the list does not have.

use std::fmt;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldKind {
    /// Free text.
    Text,
    /// Text shown as dots: a password.
    Secret,
    /// Digits only.
    Number,
    /// On or off.
    Toggle,
    /// Text, or one of `options` picked with ←/→.
    Choice,
}

/// One labelled field.
#[derive(Clone)]
pub(crate) struct Field {
    /// Shown left of the value.
    pub(crate) label: &'static str,
    /// What it holds.
    pub(crate) kind: FieldKind,
    /// The text (unused by toggles).
    pub(crate) value: String,
    /// The state of a toggle.
    pub(crate) on: bool,
    /// What a choice cycles through.
    pub(crate) options: Vec<String>,
    /// One line of help, shown while the field has the focus.
    pub(crate) help: &'static str,
}

impl fmt::Debug for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = match self.kind {
            FieldKind::Secret if !self.value.is_empty() => "[redacted]",
            _ => &self.value,
        };
        f.debug_struct("Field")
            .field("label", &self.label)
            .field("kind", &self.kind)
            .field("value", &value)
            .field("on", &self.on)
            .finish_non_exhaustive()
    }
}

impl Field {
    fn new(label: &'static str, kind: FieldKind, help: &'static str) -> Self {
        Self {
            label,
            kind,
            value: String::new(),
            on: false,
            options: Vec::new(),
            help,
        }
    }

    /// A text field.
    pub(crate) fn text(label: &'static str, help: &'static str) -> Self {
        Self::new(label, FieldKind::Text, help)
    }

    /// A password field.
    pub(crate) fn secret(label: &'static str, help: &'static str) -> Self {
        Self::new(label, FieldKind::Secret, help)
    }

    /// A digits-only field.
    pub(crate) fn number(label: &'static str, help: &'static str) -> Self {
        Self::new(label, FieldKind::Number, help)
    }

    /// An on/off field.
    pub(crate) fn toggle(label: &'static str, on: bool, help: &'static str) -> Self {
        Self {
            on,
            ..Self::new(label, FieldKind::Toggle, help)
        }
    }

    /// A text field that can also pick one of its options.
    pub(crate) fn choice(label: &'static str, help: &'static str) -> Self {
        Self::new(label, FieldKind::Choice, help)
    }

    /// The same field holding `value`.
    pub(crate) fn with(mut self, value: impl Into<String>) -> Self {
        self.value = value.into();
        self
    }

    /// The value, trimmed.
    pub(crate) fn trimmed(&self) -> &str {
        self.value.trim()
    }

    /// The value as shown: dots for a secret.
    pub(crate) fn shown(&self) -> String {
        match self.kind {
            FieldKind::Secret => "•".repeat(self.value.chars().count()),
            FieldKind::Toggle => if self.on { "[x]" } else { "[ ]" }.to_owned(),
            _ => self.value.clone(),
        }
    }

    /// Applies an edit key; true when the value changed.
    fn edit(&mut self, key: KeyEvent) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match (self.kind, key.code) {
            (FieldKind::Toggle, KeyCode::Char(' ') | KeyCode::Left | KeyCode::Right) => {
                self.on = !self.on;
                true
            }
            (FieldKind::Choice, KeyCode::Left | KeyCode::Right) => {
                self.cycle(key.code == KeyCode::Right)
            }
            (FieldKind::Toggle, _) => false,
            (_, KeyCode::Backspace) => self.value.pop().is_some(),
            (_, KeyCode::Char('u')) if ctrl => !std::mem::take(&mut self.value).is_empty(),
            (_, KeyCode::Char(_)) if ctrl || key.modifiers.contains(KeyModifiers::ALT) => false,
            (FieldKind::Number, KeyCode::Char(c)) if !c.is_ascii_digit() => false,
            (_, KeyCode::Char(c)) => {
                self.value.push(c);
                true
            }
            _ => false,
        }
    }

    /// Picks the next (or previous) option; true when the value changed.
    fn cycle(&mut self, forward: bool) -> bool {
        if self.options.is_empty() {
            return false;
        }
        let count = self.options.len();
        let next = match self.options.iter().position(|option| *option == self.value) {
            Some(at) if forward => (at + 1) % count,
            Some(at) => (at + count - 1) % count,
            None if forward => 0,
            None => count - 1,
        };
        let changed = self.options[next] != self.value;
        self.value = self.options[next].clone();
        changed
    }
}

/// What a key did to a form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FormKey {
    /// Enter: the user wants the form's action.
    Submit,
    /// Esc: the user leaves the form.
    Back,
    /// The focused field (this index) changed its value.
    Edited(usize),
    /// The focus moved, or the key changed nothing.
    Other,
}

/// A column of fields with one focused.
#[derive(Debug, Clone)]
pub(crate) struct Form {
    /// The fields, top to bottom.
    pub(crate) fields: Vec<Field>,
    /// Index of the focused field.
    pub(crate) focus: usize,
    /// Why the last submit was refused, shown under the form.
    pub(crate) error: Option<String>,
}

impl Form {
    /// A form with the focus on its first field.
    pub(crate) fn new(fields: Vec<Field>) -> Self {
        Self {
            fields,
            focus: 0,
            error: None,
        }
    }

    /// Field `index`.
    pub(crate) fn field(&self, index: usize) -> &Field {
        &self.fields[index]
    }

    /// Field `index`, to change it.
    pub(crate) fn field_mut(&mut self, index: usize) -> &mut Field {
        &mut self.fields[index]
    }

    /// The trimmed text of field `index`.
    pub(crate) fn text(&self, index: usize) -> &str {
        self.fields[index].trimmed()
    }

    /// Applies a key: Tab/↓ and Shift+Tab/↑ move the focus, Enter submits, Esc leaves,
    /// anything else edits the focused field.
    pub(crate) fn key(&mut self, key: KeyEvent) -> FormKey {
        let count = self.fields.len();
        match key.code {
            KeyCode::Esc => FormKey::Back,
            KeyCode::Enter => FormKey::Submit,
            KeyCode::Tab | KeyCode::Down => {
                self.focus = (self.focus + 1) % count;
                FormKey::Other
            }
            KeyCode::BackTab | KeyCode::Up => {
                self.focus = (self.focus + count - 1) % count;
                FormKey::Other
            }
            _ => {
                let focus = self.focus;
                if self.fields[focus].edit(key) {
                    self.error = None;
                    FormKey::Edited(focus)
                } else {
                    FormKey::Other
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(form: &mut Form, keys: &str) {
        for c in keys.chars() {
            form.key(KeyEvent::from(KeyCode::Char(c)));
        }
    }

    fn code(form: &mut Form, code: KeyCode) -> FormKey {
        form.key(KeyEvent::from(code))
    }

    #[test]
    fn typing_moving_and_submitting() {
        let mut form = Form::new(vec![
            Field::text("Name", ""),
            Field::number("Port", ""),
            Field::toggle("On disk", true, ""),
        ]);
        press(&mut form, "Lab x");
        assert_eq!(code(&mut form, KeyCode::Backspace), FormKey::Edited(0));
        assert_eq!(form.text(0), "Lab");
        assert_eq!(code(&mut form, KeyCode::Tab), FormKey::Other);
        press(&mut form, "3a0b0");
        assert_eq!(form.field(1).value, "300", "digits only");
        assert_eq!(code(&mut form, KeyCode::Down), FormKey::Other);
        assert_eq!(code(&mut form, KeyCode::Char(' ')), FormKey::Edited(2));
        assert!(!form.field(2).on);
        assert_eq!(form.field(2).shown(), "[ ]");
        assert_eq!(code(&mut form, KeyCode::Char('q')), FormKey::Other);
        assert_eq!(code(&mut form, KeyCode::Tab), FormKey::Other);
        assert_eq!(form.focus, 0, "the focus wraps around");
        assert_eq!(code(&mut form, KeyCode::BackTab), FormKey::Other);
        assert_eq!(form.focus, 2);
        assert_eq!(code(&mut form, KeyCode::Enter), FormKey::Submit);
        assert_eq!(code(&mut form, KeyCode::Esc), FormKey::Back);
        form.focus = 0;
        let clear = KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL);
        assert_eq!(form.key(clear), FormKey::Edited(0));
        assert_eq!(form.text(0), "");
        assert_eq!(form.key(clear), FormKey::Other, "nothing left to clear");
    }

    #[test]
    fn choices_cycle_and_take_text() {
        let mut form = Form::new(vec![Field::choice("Model", "")]);
        assert_eq!(
            code(&mut form, KeyCode::Right),
            FormKey::Other,
            "no options yet"
        );
        form.field_mut(0).options = vec!["a".into(), "b".into(), "c".into()];
        assert_eq!(code(&mut form, KeyCode::Right), FormKey::Edited(0));
        assert_eq!(form.text(0), "a");
        code(&mut form, KeyCode::Right);
        assert_eq!(form.text(0), "b");
        code(&mut form, KeyCode::Left);
        code(&mut form, KeyCode::Left);
        assert_eq!(form.text(0), "c", "wraps backwards");
        press(&mut form, "x");
        assert_eq!(form.text(0), "cx");
        code(&mut form, KeyCode::Left);
        assert_eq!(form.text(0), "c", "from free text, ← picks the last option");
    }

    #[test]
    fn secrets_are_dots_and_stay_out_of_debug() {
        let field = Field::secret("Password", "").with("hunter2");
        assert_eq!(field.shown(), "•••••••");
        assert!(!format!("{field:?}").contains("hunter2"));
        let mut form = Form::new(vec![field]);
        form.error = Some("wrong".into());
        press(&mut form, "!");
        assert_eq!(form.error, None, "editing clears the last error");
    }
}
