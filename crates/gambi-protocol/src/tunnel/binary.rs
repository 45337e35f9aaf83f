//! The binary chunk message ([`BinaryChunk`]): body bytes without JSON or base64, once
//! `binaryChunks` is negotiated.

use super::error::FrameError;

/// A piece of a response body as a binary WebSocket message (Gambi extension, with
/// `binaryChunks` negotiated): the same thing as `tunnel.response.chunk`, without JSON and
/// base64.
///
/// Layout: one byte [`BinaryChunk::KIND`], one byte `n` (1 to 255), `n` bytes of request
/// id (UTF-8), then the body bytes, to the end of the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryChunk<'a> {
    /// The request this belongs to.
    pub request_id: &'a str,
    /// Where the body bytes start in the message.
    pub body_offset: usize,
}

impl<'a> BinaryChunk<'a> {
    /// The first byte of a binary chunk message. It can never start a JSON text frame, so a
    /// receiver tells the two apart by it.
    pub const KIND: u8 = 0x01;

    /// The message carrying `body` for `request_id`; `None` when the id is empty or longer
    /// than 255 bytes.
    pub fn encode(request_id: &str, body: &[u8]) -> Option<bytes::Bytes> {
        let id_len = u8::try_from(request_id.len()).ok().filter(|n| *n > 0)?;
        let mut message = bytes::BytesMut::with_capacity(2 + request_id.len() + body.len());
        message.extend_from_slice(&[Self::KIND, id_len]);
        message.extend_from_slice(request_id.as_bytes());
        message.extend_from_slice(body);
        Some(message.freeze())
    }

    /// Reads the header of a binary chunk message; the body is `&message[body_offset..]`.
    pub fn decode(message: &'a [u8]) -> Result<Self, FrameError> {
        let invalid = |reason: &str| FrameError::Invalid {
            kind: "binary chunk".into(),
            reason: reason.into(),
        };
        match message {
            [Self::KIND, id_len, rest @ ..] => {
                let id_len = usize::from(*id_len);
                if id_len == 0 || rest.len() < id_len {
                    return Err(invalid("request id length out of range"));
                }
                let request_id = std::str::from_utf8(&rest[..id_len])
                    .map_err(|_| invalid("request id is not UTF-8"))?;
                Ok(Self {
                    request_id,
                    body_offset: 2 + id_len,
                })
            }
            [] | [Self::KIND] => Err(invalid("message too short")),
            _ => Err(FrameError::Malformed(
                "binary message is not a chunk".into(),
            )),
        }
    }
}
