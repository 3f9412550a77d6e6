//! One queued event: name, lane, sequence number and bytes in one allocation.

use serde::Serialize;

use crate::envelope;
use crate::error::EmitError;
use crate::name::validate_name;

/// Which lane an event travels in; listeners see it as `meta.lane`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Lane {
    /// The bytes are a CBOR envelope `{ eventType, payload }`.
    Cbor = 0,
    /// The bytes are delivered exactly as emitted.
    Raw = 1,
    /// The bytes are UTF-8 JSON text, parsed by the consumer.
    Json = 2,
    /// Not an event: input a sink could not take as one. The bytes are the
    /// reason (UTF-8); the consumer reports a decode error.
    Malformed = 3,
    /// Not an event: a foreign library reported an error (`ret != 0`). The
    /// bytes are its message, as it sent them.
    NativeError = 4,
}

impl Lane {
    /// Whether events of this lane are reports for the consumer's error
    /// handlers rather than events for listeners.
    pub fn is_report(self) -> bool {
        matches!(self, Lane::Malformed | Lane::NativeError)
    }
}

/// An event in the ring, waiting to be delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Hub-unique, assigned when the event is offered to the ring; 0 for
    /// the hub's own liveness events, which are not emits.
    seq: u64,
    lane: Lane,
    /// `data[..name_len]` is the name (valid UTF-8, 1..=255 bytes),
    /// `data[name_len..]` the bytes delivered to JS.
    name_len: u8,
    data: Vec<u8>,
}

impl Event {
    fn with_capacity(name: &str, lane: Lane, extra: usize) -> Result<Event, EmitError> {
        validate_name(name)?;
        let mut data = Vec::with_capacity(name.len() + extra);
        data.extend_from_slice(name.as_bytes());
        Ok(Event {
            seq: 0,
            lane,
            name_len: name.len() as u8,
            data,
        })
    }

    /// A raw-lane event carrying `bytes` unchanged.
    pub(crate) fn raw(name: &str, bytes: &[u8]) -> Result<Event, EmitError> {
        let mut event = Event::with_capacity(name, Lane::Raw, bytes.len())?;
        event.data.extend_from_slice(bytes);
        Ok(event)
    }

    /// A JSON-lane event carrying UTF-8 JSON text; the consumer parses it.
    pub(crate) fn json(name: &str, text: &[u8]) -> Result<Event, EmitError> {
        let mut event = Event::with_capacity(name, Lane::Json, text.len())?;
        event.data.extend_from_slice(text);
        Ok(event)
    }

    /// A report (a [`Lane::is_report`] lane) about input that came through
    /// a sink named `name`, or through an unnamed one when `name` is empty.
    pub(crate) fn report(lane: Lane, name: &str, text: &[u8]) -> Event {
        debug_assert!(lane.is_report());
        // Longer names were refused when the sink was made; cut rather than
        // fail, a report must not be lost.
        let name = &name.as_bytes()[..name.len().min(crate::MAX_NAME_BYTES)];
        let mut data = Vec::with_capacity(name.len() + text.len());
        data.extend_from_slice(name);
        data.extend_from_slice(text);
        Event {
            seq: 0,
            lane,
            name_len: name.len() as u8,
            data,
        }
    }

    /// A CBOR-lane event whose payload is serialized with serde.
    pub(crate) fn cbor<T: Serialize + ?Sized>(name: &str, payload: &T) -> Result<Event, EmitError> {
        // A guess that fits small payloads without a reallocation: growing
        // costs a copy and, once the consumer frees on another thread, a
        // slower path in the allocator.
        let event = Event::with_capacity(name, Lane::Cbor, envelope::header_len(name) + 128)?;
        let data =
            envelope::push_serialized(event.data, name, payload).map_err(EmitError::Encode)?;
        Ok(Event { data, ..event })
    }

    /// A CBOR-lane event whose payload is already CBOR; it is not checked.
    pub(crate) fn cbor_encoded(name: &str, payload: &[u8]) -> Result<Event, EmitError> {
        let extra = envelope::header_len(name) + payload.len();
        let mut event = Event::with_capacity(name, Lane::Cbor, extra)?;
        envelope::push_header(&mut event.data, name);
        event.data.extend_from_slice(payload);
        Ok(event)
    }

    pub(crate) fn set_seq(&mut self, seq: u64) {
        self.seq = seq;
    }

    /// The event's sequence number (0 for liveness events).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The lane the event travels in.
    pub fn lane(&self) -> Lane {
        self.lane
    }

    /// The event name; empty for a report from an unnamed sink.
    pub fn name(&self) -> &str {
        // The constructors copy the name from a `&str`, so these bytes are
        // valid UTF-8; a failure here would be a bug in this module.
        std::str::from_utf8(self.name_bytes()).unwrap_or_default()
    }

    /// The event name as UTF-8 bytes.
    pub fn name_bytes(&self) -> &[u8] {
        &self.data[..self.name_len as usize]
    }

    /// The bytes listeners receive: the envelope on the CBOR lane, the
    /// payload as emitted on the raw lane.
    pub fn bytes(&self) -> &[u8] {
        &self.data[self.name_len as usize..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_events_keep_name_and_bytes_apart() {
        let event = Event::raw("load", &[1, 2, 3]).unwrap();
        assert_eq!(event.name(), "load");
        assert_eq!(event.bytes(), &[1, 2, 3]);
        assert_eq!(event.lane(), Lane::Raw);
    }

    #[test]
    fn empty_raw_payload_is_a_zero_length_slice() {
        let event = Event::raw("empty", &[]).unwrap();
        assert!(event.bytes().is_empty());
    }

    #[test]
    fn pre_encoded_and_serialized_payloads_give_the_same_envelope() {
        let serialized = Event::cbor("tick", &42u32).unwrap();
        let encoded = Event::cbor_encoded("tick", &[0x18, 42]).unwrap();
        assert_eq!(serialized.bytes(), encoded.bytes());
    }
}
