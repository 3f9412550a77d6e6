//! Envelopes written by other encoders: `{ "eventType": text, "payload": any }`
//! as nim-ffi libraries send them, in any key order and any valid CBOR
//! length encoding, found in place without copying.

use std::fmt;

use cbor4ii::core::dec::{Decode, Error as DecodeError};
use cbor4ii::core::utils::SliceReader;

use crate::cbor_scan::{scan_item, MAX_NESTING};
use crate::error::NameError;
use crate::name::validate_name;

const MAJOR_MAP: u8 = 5;
const INDEFINITE: u8 = 31;
const BREAK: u8 = 0xff;

/// Why bytes handed to a sink are not an event; reported to the consumer
/// as a decode error instead of the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// The bytes are not a CBOR map.
    NotAMap,
    /// The CBOR ends in the middle of an item.
    Truncated,
    /// The CBOR is not well-formed (a reserved or unsupported encoding).
    NotWellFormed,
    /// Arrays, maps, tags or chunked strings nest deeper than
    /// [`MAX_NESTING`](crate::MAX_NESTING).
    TooDeep,
    /// Bytes follow the envelope's map.
    TrailingBytes,
    /// The map has no `eventType` key.
    MissingEventType,
    /// The map has no `payload` key.
    MissingPayload,
    /// `eventType` is not a text string.
    EventTypeNotText,
    /// `eventType` is text but not a valid event name.
    InvalidName(NameError),
    /// Text that must be UTF-8 (JSON, `eventType`) is not.
    InvalidUtf8,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::NotAMap => f.write_str("not an envelope: expected a CBOR map"),
            Malformed::Truncated => f.write_str("truncated CBOR"),
            Malformed::NotWellFormed => f.write_str("CBOR is not well-formed"),
            Malformed::TooDeep => write!(f, "CBOR nests deeper than {MAX_NESTING} levels"),
            Malformed::TrailingBytes => f.write_str("bytes follow the envelope"),
            Malformed::MissingEventType => f.write_str("envelope has no eventType"),
            Malformed::MissingPayload => f.write_str("envelope has no payload"),
            Malformed::EventTypeNotText => f.write_str("eventType is not a text string"),
            Malformed::InvalidName(err) => write!(f, "eventType is not a valid name: {err}"),
            Malformed::InvalidUtf8 => f.write_str("text is not valid UTF-8"),
        }
    }
}

impl Malformed {
    /// The reason's code in a batch's tag (see
    /// [`TAG_FAULT_SHIFT`](crate::TAG_FAULT_SHIFT)); never 0.
    pub fn code(self) -> u8 {
        match self {
            Malformed::NotAMap => 1,
            Malformed::Truncated => 2,
            Malformed::NotWellFormed => 3,
            Malformed::TooDeep => 4,
            Malformed::TrailingBytes => 5,
            Malformed::MissingEventType => 6,
            Malformed::MissingPayload => 7,
            Malformed::EventTypeNotText => 8,
            Malformed::InvalidName(_) => 9,
            Malformed::InvalidUtf8 => 10,
        }
    }
}

impl std::error::Error for Malformed {}

/// The parts of a foreign envelope, borrowed from its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Envelope<'a> {
    pub(crate) name: &'a str,
    /// The payload's one CBOR data item, exactly.
    pub(crate) payload: &'a [u8],
    /// Whether the payload decodes on its own (see
    /// [`cbor_scan`](crate::cbor_scan)).
    pub(crate) self_contained: bool,
}

/// Splits the well-formed CBOR data item at the start of `bytes` from what
/// follows it; also says whether the item is self-contained.
fn next_item(bytes: &[u8]) -> Result<(&[u8], &[u8], bool), Malformed> {
    let item = scan_item(bytes)?;
    let (head, rest) = bytes.split_at(item.len);
    Ok((head, rest, item.self_contained))
}

/// Reads a map header: the number of pairs (`None`: indefinite) and the rest.
fn map_header(bytes: &[u8]) -> Result<(Option<u64>, &[u8]), Malformed> {
    let (&first, rest) = bytes.split_first().ok_or(Malformed::Truncated)?;
    if first >> 5 != MAJOR_MAP {
        return Err(Malformed::NotAMap);
    }
    let width = match first & 0x1f {
        n @ 0..=23 => return Ok((Some(u64::from(n)), rest)),
        24 => 1,
        25 => 2,
        26 => 4,
        27 => 8,
        INDEFINITE => return Ok((None, rest)),
        _ => return Err(Malformed::NotWellFormed),
    };
    if rest.len() < width {
        return Err(Malformed::Truncated);
    }
    let (len, rest) = rest.split_at(width);
    let pairs = len.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    Ok((Some(pairs), rest))
}

/// Decodes a CBOR text item; `None` when the item is not text.
fn as_text(item: &[u8]) -> Result<Option<&str>, Malformed> {
    if item.first().map(|b| b >> 5) != Some(3) {
        return Ok(None);
    }
    let mut reader = SliceReader::new(item);
    match <&str>::decode(&mut reader) {
        Ok(text) => Ok(Some(text)),
        Err(DecodeError::RequireUtf8 { .. }) => Err(Malformed::InvalidUtf8),
        // An indefinite-length (chunked) text string cannot be borrowed.
        Err(_) => Ok(None),
    }
}

/// Finds `eventType` and `payload` in an envelope. Other keys are skipped;
/// when a key repeats, the last one wins, as in most CBOR decoders.
///
/// # Errors
/// The [`Malformed`] reason when `bytes` is not exactly one well-formed
/// envelope with a valid event name.
pub(crate) fn split_envelope(bytes: &[u8]) -> Result<Envelope<'_>, Malformed> {
    let (pairs, mut rest) = map_header(bytes)?;
    let mut name_item = None;
    let mut payload = None;
    let mut seen = 0u64;
    loop {
        match pairs {
            Some(n) if seen == n => break,
            None if rest.first() == Some(&BREAK) => {
                rest = &rest[1..];
                break;
            }
            _ => {}
        }
        let (key, after_key, _) = next_item(rest)?;
        let (value, after_value, self_contained) = next_item(after_key)?;
        match as_text(key)? {
            Some("eventType") => name_item = Some(value),
            Some("payload") => payload = Some((value, self_contained)),
            _ => {}
        }
        rest = after_value;
        seen += 1;
    }
    if !rest.is_empty() {
        return Err(Malformed::TrailingBytes);
    }
    let name_item = name_item.ok_or(Malformed::MissingEventType)?;
    let name = as_text(name_item)?.ok_or(Malformed::EventTypeNotText)?;
    validate_name(name).map_err(Malformed::InvalidName)?;
    let (payload, self_contained) = payload.ok_or(Malformed::MissingPayload)?;
    Ok(Envelope {
        name,
        payload,
        self_contained,
    })
}

/// Checks that `bytes` is exactly one well-formed CBOR data item; says
/// whether it is self-contained.
pub(crate) fn check_item(bytes: &[u8]) -> Result<bool, Malformed> {
    let (_, rest, self_contained) = next_item(bytes)?;
    if rest.is_empty() {
        Ok(self_contained)
    } else {
        Err(Malformed::TrailingBytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_envelope_splits_into_name_and_payload() {
        let bytes = crate::encode_envelope("tick", &[1u8, 2, 3]).unwrap();
        let envelope = split_envelope(&bytes).unwrap();
        assert_eq!(envelope.name, "tick");
        assert_eq!(envelope.payload, &[0x83, 1, 2, 3]);
    }

    #[test]
    fn keys_in_any_order_and_indefinite_maps_are_accepted() {
        // { "payload": 7, "x": null, "eventType": "ab" } as an indefinite map.
        let mut bytes = vec![0xbf, 0x67];
        bytes.extend_from_slice(b"payload");
        bytes.extend_from_slice(&[0x07, 0x61, b'x', 0xf6, 0x69]);
        bytes.extend_from_slice(b"eventType");
        bytes.extend_from_slice(&[0x62, b'a', b'b', 0xff]);
        let envelope = split_envelope(&bytes).unwrap();
        assert_eq!((envelope.name, envelope.payload), ("ab", &[0x07][..]));
    }

    #[test]
    fn every_kind_of_malformed_input_is_named() {
        let good = crate::encode_envelope("tick", &1u8).unwrap();
        assert_eq!(split_envelope(&[]), Err(Malformed::Truncated));
        assert_eq!(split_envelope(&[0x01]), Err(Malformed::NotAMap));
        assert_eq!(
            split_envelope(&good[..good.len() - 1]),
            Err(Malformed::Truncated)
        );
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(split_envelope(&trailing), Err(Malformed::TrailingBytes));
        // { "eventType": 5, "payload": 1 }
        let mut not_text = vec![0xa2, 0x69];
        not_text.extend_from_slice(b"eventType");
        not_text.extend_from_slice(&[0x05, 0x67]);
        not_text.extend_from_slice(b"payload");
        not_text.push(0x01);
        assert_eq!(split_envelope(&not_text), Err(Malformed::EventTypeNotText));
        // { "eventType": "" , "payload": 1 }
        let mut empty_name = vec![0xa2, 0x69];
        empty_name.extend_from_slice(b"eventType");
        empty_name.extend_from_slice(&[0x60, 0x67]);
        empty_name.extend_from_slice(b"payload");
        empty_name.push(0x01);
        assert_eq!(
            split_envelope(&empty_name),
            Err(Malformed::InvalidName(NameError::Empty))
        );
        // { "eventType": "a" }
        let mut no_payload = vec![0xa1, 0x69];
        no_payload.extend_from_slice(b"eventType");
        no_payload.extend_from_slice(&[0x61, b'a']);
        assert_eq!(split_envelope(&no_payload), Err(Malformed::MissingPayload));
        // { "eventType": <invalid UTF-8>, "payload": 1 }
        let mut bad_utf8 = vec![0xa2, 0x69];
        bad_utf8.extend_from_slice(b"eventType");
        bad_utf8.extend_from_slice(&[0x61, 0xff, 0x67]);
        bad_utf8.extend_from_slice(b"payload");
        bad_utf8.push(0x01);
        assert_eq!(split_envelope(&bad_utf8), Err(Malformed::InvalidUtf8));
        assert_eq!(split_envelope(&[0xa1]), Err(Malformed::Truncated));
        assert_eq!(split_envelope(&[0xbc]), Err(Malformed::NotWellFormed));
    }

    #[test]
    fn a_bare_item_is_checked_for_exactly_one_value() {
        assert_eq!(check_item(&[0x01]), Ok(true));
        assert_eq!(check_item(&[0x82, 0x01]), Err(Malformed::Truncated));
        assert_eq!(check_item(&[0x01, 0x02]), Err(Malformed::TrailingBytes));
    }
}
