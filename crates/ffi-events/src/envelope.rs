//! The CBOR envelope `{ "eventType": <name>, "payload": <value> }`.
//!
//! The map header and both keys are written by hand so that every path
//! (serde values, pre-encoded payloads, liveness events) produces the same
//! bytes, and only the payload goes through serde.

use cbor4ii::core::utils::BufWriter;
use cbor4ii::serde::Serializer;
use serde::Serialize;

const MAJOR_TEXT: u8 = 0x60;
const MAP_OF_TWO: u8 = 0xa2;

/// Appends a CBOR text-string header for a string of `len` bytes.
fn push_text_header(out: &mut Vec<u8>, len: usize) {
    // Names are at most 255 bytes, so the 4-byte form is never needed here.
    if len < 24 {
        out.push(MAJOR_TEXT | len as u8);
    } else if len <= u8::MAX as usize {
        out.extend_from_slice(&[MAJOR_TEXT | 24, len as u8]);
    } else {
        let len = len as u16;
        out.push(MAJOR_TEXT | 25);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

fn push_text(out: &mut Vec<u8>, text: &str) {
    push_text_header(out, text.len());
    out.extend_from_slice(text.as_bytes());
}

/// Number of bytes [`push_header`] writes for a name of `name_len` bytes.
pub(crate) fn header_len(name_len: usize) -> usize {
    let name_header = if name_len < 24 { 1 } else { 2 };
    1 + (1 + "eventType".len()) + name_header + name_len + (1 + "payload".len())
}

/// Appends everything of the envelope before the payload value.
pub(crate) fn push_header(out: &mut Vec<u8>, name: &str) {
    out.push(MAP_OF_TWO);
    push_text(out, "eventType");
    push_text(out, name);
    push_text(out, "payload");
}

/// Appends the envelope for `payload`, serialized with serde.
pub(crate) fn push_serialized<T: Serialize + ?Sized>(
    out: Vec<u8>,
    name: &str,
    payload: &T,
) -> Result<Vec<u8>, String> {
    let mut out = out;
    push_header(&mut out, name);
    let mut serializer = Serializer::new(BufWriter::new(out));
    payload
        .serialize(&mut serializer)
        .map_err(|err| err.to_string())?;
    Ok(serializer.into_inner().into_inner())
}

/// Encodes the envelope for `payload` into a new buffer.
///
/// This is the exact byte sequence [`Emitter::emit`](crate::Emitter::emit)
/// queues, exposed so that tests and other producers can build identical
/// envelopes.
///
/// # Errors
/// Returns the serializer's message when `payload` cannot be encoded (for
/// example a map with non-string keys that serde refuses).
///
/// # Examples
/// ```
/// let bytes = ffi_events::encode_envelope("tick", &7u8).unwrap();
/// // map(2), "eventType", "tick", "payload", 7
/// assert_eq!(bytes[0], 0xa2);
/// assert_eq!(*bytes.last().unwrap(), 7);
/// ```
pub fn encode_envelope<T: Serialize + ?Sized>(name: &str, payload: &T) -> Result<Vec<u8>, String> {
    push_serialized(
        Vec::with_capacity(header_len(name.len()) + 32),
        name,
        payload,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Deserialize, Debug, PartialEq)]
    struct Envelope {
        #[serde(rename = "eventType")]
        event_type: String,
        payload: BTreeMap<String, u64>,
    }

    #[test]
    fn envelope_decodes_as_a_two_key_map() {
        let mut payload = BTreeMap::new();
        payload.insert("n".to_string(), 3u64);
        let bytes = encode_envelope("tick", &payload).unwrap();
        let decoded: Envelope = cbor4ii::serde::from_slice(&bytes).unwrap();
        assert_eq!(decoded.event_type, "tick");
        assert_eq!(decoded.payload, payload);
    }

    #[test]
    fn header_len_matches_what_push_header_writes() {
        for len in [1, 23, 24, 100, 255] {
            let name = "n".repeat(len);
            let mut out = Vec::new();
            push_header(&mut out, &name);
            assert_eq!(out.len(), header_len(name.len()), "name of {len} bytes");
        }
    }

    #[test]
    fn long_names_use_the_one_byte_length_form() {
        let name = "n".repeat(200);
        let bytes = encode_envelope(&name, &BTreeMap::<String, u64>::new()).unwrap();
        let decoded: Envelope = cbor4ii::serde::from_slice(&bytes).unwrap();
        assert_eq!(decoded.event_type, name);
        assert_eq!(bytes[11], 0x78);
        assert_eq!(bytes[12], 200);
    }
}
