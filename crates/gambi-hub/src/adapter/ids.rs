//! Identifiers in the formats OpenAI uses, so adapted answers look like native ones.
//!
//! Clients and SDKs sometimes check id prefixes (`resp_`, `msg_`, `fc_`, `call_`,
//! `chatcmpl-`), and some log or store them; using OpenAI's formats keeps an adapted answer
//! indistinguishable from a native one. The generator can also be sequential, which makes every
//! conversion deterministic in tests.

use std::sync::atomic::{AtomicU64, Ordering};

use rand::Rng;
use rand::distr::Alphanumeric;

/// Makes identifiers, randomly in production or from a counter in tests.
#[derive(Debug, Default)]
pub(crate) struct IdGen {
    /// `None` for random ids, `Some(counter)` for sequential ones.
    counter: Option<AtomicU64>,
}

impl IdGen {
    /// Random identifiers, as used in production.
    pub(crate) fn random() -> Self {
        Self { counter: None }
    }

    #[cfg(test)]
    /// Deterministic identifiers from a counter starting at 1, in OpenAI's formats
    /// (`msg_000…001`, `call_000…002`, ...), for tests.
    pub(crate) fn sequential() -> Self {
        Self {
            counter: Some(AtomicU64::new(0)),
        }
    }

    /// A Response id: `resp_` and 48 hexadecimal digits.
    pub(crate) fn response(&self) -> String {
        format!("resp_{}", self.hex48())
    }

    /// An output message id: `msg_` and 48 hexadecimal digits.
    pub(crate) fn message(&self) -> String {
        format!("msg_{}", self.hex48())
    }

    /// A reasoning item id: `rs_` and 48 hexadecimal digits.
    pub(crate) fn reasoning(&self) -> String {
        format!("rs_{}", self.hex48())
    }

    /// A function-call item id: `fc_` and 48 hexadecimal digits.
    pub(crate) fn function_call(&self) -> String {
        format!("fc_{}", self.hex48())
    }

    /// A function-call-output item id: `fco_` and 48 hexadecimal digits.
    pub(crate) fn function_call_output(&self) -> String {
        format!("fco_{}", self.hex48())
    }

    /// A Chat Completion id: `chatcmpl-` and 29 alphanumerics.
    pub(crate) fn chat_completion(&self) -> String {
        format!("chatcmpl-{}", self.alphanumeric(29))
    }

    /// A tool-call id: `call_` and 24 alphanumerics.
    pub(crate) fn tool_call(&self) -> String {
        format!("call_{}", self.alphanumeric(24))
    }

    fn next(&self) -> Option<u64> {
        self.counter
            .as_ref()
            .map(|c| c.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn hex48(&self) -> String {
        match self.next() {
            Some(n) => format!("{n:048x}"),
            None => {
                let mut rng = rand::rng();
                (0..24)
                    .map(|_| format!("{:02x}", rng.random::<u8>()))
                    .collect()
            }
        }
    }

    fn alphanumeric(&self, len: usize) -> String {
        match self.next() {
            Some(n) => format!("{n:0len$}"),
            None => rand::rng()
                .sample_iter(&Alphanumeric)
                .take(len)
                .map(char::from)
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(id: &str, prefix: &str, len: usize, hex: bool) -> bool {
        id.strip_prefix(prefix).is_some_and(|rest| {
            rest.len() == len
                && rest.chars().all(|c| {
                    if hex {
                        c.is_ascii_hexdigit() && !c.is_ascii_uppercase()
                    } else {
                        c.is_ascii_alphanumeric()
                    }
                })
        })
    }

    #[test]
    fn random_ids_have_openai_formats() {
        for ids in [IdGen::random(), IdGen::sequential()] {
            assert!(shape(&ids.response(), "resp_", 48, true));
            assert!(shape(&ids.message(), "msg_", 48, true));
            assert!(shape(&ids.function_call(), "fc_", 48, true));
            assert!(shape(&ids.reasoning(), "rs_", 48, true));
            assert!(shape(&ids.function_call_output(), "fco_", 48, true));
            assert!(shape(&ids.chat_completion(), "chatcmpl-", 29, false));
            assert!(shape(&ids.tool_call(), "call_", 24, false));
        }
    }

    #[test]
    fn random_ids_differ() {
        let ids = IdGen::random();
        assert_ne!(ids.response(), ids.response());
        assert_ne!(ids.tool_call(), ids.tool_call());
    }

    #[test]
    fn adapter_state_can_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<IdGen>();
        send_sync::<crate::adapter::ResponseContext>();
        send_sync::<crate::adapter::ChatContext>();
        send_sync::<crate::adapter::ChatToResponsesStream>();
        send_sync::<crate::adapter::ResponsesToChatStream>();
    }

    #[test]
    fn sequential_ids_count_up() {
        let ids = IdGen::sequential();
        assert_eq!(ids.message(), format!("msg_{}1", "0".repeat(47)));
        assert_eq!(ids.tool_call(), format!("call_{}2", "0".repeat(23)));
        assert_eq!(ids.function_call(), format!("fc_{}3", "0".repeat(47)));
    }
}
