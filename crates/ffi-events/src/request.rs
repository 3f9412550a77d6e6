//! One request to a foreign library: a one-shot sink whose single callback
//! carries the library's reply.
//!
//! Libraries shaped like nim-ffi take `(ctx, callback, user_data, request
//! bytes, len)`, return a status at once, and later call
//! `callback(ret, msg, len, user_data)` once, from their own thread, with
//! the reply. A request is a sink (same C function, same kind of handle)
//! that takes exactly one such call: the reply is copied into an event of
//! [`Lane::Reply`](crate::Lane::Reply) and queued like any event, never refused by a full ring
//! (it spills beside the ring instead), and every later call through
//! the handle is counted and ignored.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::emitter::Emitter;
use crate::event::Event;
use crate::sink::SinkStatus;

/// Bytes before a reply's payload: the request id (u64), the library's
/// `ret` (i32) and [`REPLY_TOO_LARGE`] / [`REPLY_NULL_BYTES`] /
/// [`REPLY_NOT_CBOR`] flags (u8),
/// little-endian.
pub const REPLY_HEADER_BYTES: usize = 13;

/// Reply flag: the reply was longer than the hub's `max_event_bytes`; its
/// bytes were not kept.
pub const REPLY_TOO_LARGE: u8 = 1;

/// Reply flag: the library passed NULL bytes with a non-zero length.
pub const REPLY_NULL_BYTES: u8 = 2;

/// Reply flag: the bytes are not exactly one well-formed CBOR data item
/// (nesting deeper than [`MAX_NESTING`](crate::MAX_NESTING) included), so a
/// consumer that wants CBOR reports it without decoding it.
pub const REPLY_NOT_CBOR: u8 = 4;

/// What makes a sink a request: its id, whether it was answered, and the
/// hub's count of ignored replies.
#[derive(Debug)]
pub(crate) struct Request {
    /// Chosen by the consumer; names the request in the reply event.
    id: u64,
    /// Set by the first call: later calls are ignored.
    answered: AtomicBool,
    /// Shared by a hub's requests: calls after the first, or after the
    /// request was given up (see [`Request::ignore`]).
    ignored: Arc<AtomicU64>,
}

impl Request {
    pub(crate) fn new(id: u64, ignored: Arc<AtomicU64>) -> Request {
        Request {
            id,
            answered: AtomicBool::new(false),
            ignored,
        }
    }

    /// Counts a call that is not the request's reply (a second one, or one
    /// after the request was closed).
    pub(crate) fn ignore(&self) {
        self.ignored.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes the library's call: the first one becomes the reply, later
    /// ones are ignored (counted, and reported to the caller as
    /// [`SinkStatus::Closed`]).
    pub(crate) fn on_call(&self, emitter: &Emitter, ret: i32, msg: Option<&[u8]>) -> SinkStatus {
        if self.answered.swap(true, Ordering::AcqRel) {
            self.ignore();
            return SinkStatus::Closed;
        }
        let (bytes, flags) = match msg {
            None => (&[][..], REPLY_NULL_BYTES),
            Some(msg) if msg.len() > emitter.max_event_bytes() => (&[][..], REPLY_TOO_LARGE),
            // Scanned here, on the library's thread, without recursion: a
            // hostile reply never costs the JS thread a deep decode.
            Some(msg) if crate::foreign::check_item(msg).is_err() => (msg, REPLY_NOT_CBOR),
            Some(msg) => (msg, 0),
        };
        let event = Event::reply(self.id, ret, flags, bytes);
        // Never refused for a full ring (see `Shared::offer`): only a
        // closed hub refuses it.
        match emitter.offer(event) {
            Ok(_) => SinkStatus::Accepted,
            Err(_) => SinkStatus::Closed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DrainLimits, Hub, HubConfig, Lane, Sink};

    #[test]
    fn the_first_call_is_the_reply_and_later_ones_are_counted_and_ignored() {
        let hub = Hub::new(HubConfig {
            capacity: 1,
            ..HubConfig::default()
        })
        .unwrap();
        let emitter = hub.emitter();
        let ignored = Arc::new(AtomicU64::new(0));
        // Fill the ring: the reply must not be refused for it.
        emitter.emit_raw("x", &[1]).unwrap();
        let sink = Sink::request(7, ignored.clone());
        assert_eq!(
            sink.on_callback(&emitter, 0, Some(b"pong")),
            SinkStatus::Accepted
        );
        assert_eq!(
            sink.on_callback(&emitter, 0, Some(b"again")),
            SinkStatus::Closed
        );
        assert_eq!(ignored.load(Ordering::Relaxed), 1);
        let mut out = Vec::new();
        hub.drain(&mut out, DrainLimits::default());
        let reply = out.iter().find(|e| e.lane() == Lane::Reply).unwrap();
        let mut expected = 7u64.to_le_bytes().to_vec();
        expected.extend_from_slice(&0i32.to_le_bytes());
        // "pong" is not CBOR: flagged for a consumer that wants CBOR.
        expected.push(REPLY_NOT_CBOR);
        expected.extend_from_slice(b"pong");
        assert_eq!(reply.bytes(), &expected[..]);
        let stats = hub.stats();
        assert_eq!(
            stats.emitted,
            stats.delivered + stats.refused + stats.discarded + stats.queued as u64
        );
    }

    #[test]
    fn under_drop_oldest_a_reply_pushed_out_of_the_ring_is_kept_and_only_events_are_discarded() {
        let hub = Hub::new(HubConfig {
            capacity: 2,
            overflow: crate::Overflow::DropOldest,
            ..HubConfig::default()
        })
        .unwrap();
        hub.registry().add(crate::Filter::Any).unwrap();
        let emitter = hub.emitter();
        let ignored = Arc::new(AtomicU64::new(0));
        let sink = Sink::request(9, ignored);
        let report = Sink::new(crate::SinkFormat::Envelope, None).unwrap();
        assert_eq!(
            sink.on_callback(&emitter, 0, Some(&[0x01])),
            SinkStatus::Accepted
        );
        assert_eq!(
            report.on_callback(&emitter, 3, Some(b"warn")),
            SinkStatus::Accepted
        );
        // Four events push the reply and the report out of the ring.
        for i in 0..4u8 {
            emitter.emit_raw("x", &[i]).unwrap();
        }
        let mut out = Vec::new();
        hub.drain(&mut out, DrainLimits::default());
        let liveness = [crate::NOT_RESPONDING, crate::RESPONDING];
        let lanes: Vec<Lane> = out
            .iter()
            .filter(|e| !liveness.contains(&e.name()))
            .map(|e| e.lane())
            .collect();
        assert_eq!(
            lanes,
            [Lane::Reply, Lane::NativeError, Lane::Raw, Lane::Raw]
        );
        let stats = hub.stats();
        assert_eq!(stats.discarded, 2, "only the two events");
        assert_eq!(
            stats.emitted,
            stats.delivered + stats.refused + stats.discarded + stats.queued as u64
        );
    }

    #[test]
    fn a_non_cbor_reply_is_flagged_for_the_consumer() {
        let hub = Hub::new(HubConfig::default()).unwrap();
        let emitter = hub.emitter();
        let sink = Sink::request(3, Arc::new(AtomicU64::new(0)));
        let deep = vec![0x81u8; 100_000];
        assert_eq!(
            sink.on_callback(&emitter, 0, Some(&deep)),
            SinkStatus::Accepted
        );
        let mut out = Vec::new();
        hub.drain(&mut out, DrainLimits::default());
        assert_eq!(out[0].bytes()[12], REPLY_NOT_CBOR);
    }

    #[test]
    fn a_reply_too_large_or_with_null_bytes_still_arrives_flagged() {
        let hub = Hub::new(HubConfig {
            max_event_bytes: 4,
            ..HubConfig::default()
        })
        .unwrap();
        let emitter = hub.emitter();
        let ignored = Arc::new(AtomicU64::new(0));
        let big = Sink::request(1, ignored.clone());
        let null = Sink::request(2, ignored.clone());
        assert_eq!(
            big.on_callback(&emitter, 0, Some(b"12345")),
            SinkStatus::Accepted
        );
        assert_eq!(null.on_callback(&emitter, 5, None), SinkStatus::Accepted);
        let mut out = Vec::new();
        hub.drain(&mut out, DrainLimits::default());
        let flags: Vec<(u8, usize)> = out
            .iter()
            .map(|e| (e.bytes()[12], e.bytes().len()))
            .collect();
        assert_eq!(
            flags,
            [
                (REPLY_TOO_LARGE, REPLY_HEADER_BYTES),
                (REPLY_NULL_BYTES, REPLY_HEADER_BYTES)
            ]
        );
    }
}
