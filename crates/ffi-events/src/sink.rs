//! What a sink does with one call from a foreign library: check the bytes,
//! build the event, offer it to the ring, count the outcome.
//!
//! The process-wide table in [`sink_table`](crate::sink_table) decides
//! which sink a C call reaches and whether it is still open; this module
//! knows nothing of handles.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::emitter::Emitter;
use crate::error::EmitError;
use crate::event::{Event, Lane, REPORT_HEADER_BYTES};
use crate::foreign::{check_item, split_envelope, Malformed};
use crate::name::validate_name;
use crate::request::Request;

/// What the bytes of a sink call are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkFormat {
    /// A CBOR map `{ "eventType": text, "payload": any }`, as nim-ffi
    /// libraries send them; the event is named by `eventType`.
    Envelope,
    /// One bare CBOR data item, the payload of an event of the sink's name.
    Cbor,
    /// Bytes delivered as they are, under the sink's name.
    Raw,
    /// UTF-8 JSON text, parsed by the consumer, under the sink's name.
    Json,
}

impl SinkFormat {
    /// The format's code in a report's header (see
    /// [`REPORT_HEADER_BYTES`](crate::REPORT_HEADER_BYTES)).
    pub fn code(self) -> u8 {
        match self {
            SinkFormat::Envelope => 0,
            SinkFormat::Cbor => 1,
            SinkFormat::Raw => 2,
            SinkFormat::Json => 3,
        }
    }

    /// The format's name as the JavaScript API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            SinkFormat::Envelope => "envelope",
            SinkFormat::Cbor => "cbor",
            SinkFormat::Raw => "raw",
            SinkFormat::Json => "json",
        }
    }
}

/// What a sink call did, as the C functions return it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum SinkStatus {
    /// The ring took the event (or the report of a malformed input or a
    /// library error).
    Accepted = 0,
    /// The ring was full; the event is counted as refused.
    Full = 1,
    /// The sink or its hub is closed, or the handle is stale.
    Closed = 2,
    /// The call's arguments are not valid (NULL bytes with a length, a bad
    /// name or lane).
    Invalid = 3,
    /// The bytes are longer than the hub's `max_event_bytes`.
    TooLarge = 4,
}

/// Why [`Sink::new`] refused a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkError {
    /// `Envelope` sinks take the name from each event; a fixed name is
    /// refused.
    NameWithEnvelope,
    /// `Cbor`, `Raw` and `Json` sinks need the name of their events.
    NameRequired(SinkFormat),
    /// The fixed name is not a valid event name.
    InvalidName(crate::NameError),
    /// Every handle of the process-wide table is in use.
    TooManySinks,
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SinkError::NameWithEnvelope => {
                f.write_str("an envelope sink takes each event's name from its eventType")
            }
            SinkError::NameRequired(format) => {
                write!(f, "a '{}' sink needs a name", format.as_str())
            }
            SinkError::InvalidName(err) => write!(f, "invalid event name: {err}"),
            SinkError::TooManySinks => f.write_str("too many sinks are open in this process"),
        }
    }
}

impl std::error::Error for SinkError {}

/// A snapshot of a sink's counters; `calls` is the sum of the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SinkStats {
    /// Every call that reached this sink.
    pub calls: u64,
    /// Events the ring took, reports of malformed input and of library
    /// errors included.
    pub accepted: u64,
    /// Refused because the ring was full (also in the hub's `refused`).
    pub refused: u64,
    /// Refused because the sink or its hub was closed.
    pub closed: u64,
    /// Refused because the bytes exceed the hub's `max_event_bytes`.
    pub too_large: u64,
    /// Refused because the arguments were invalid.
    pub invalid: u64,
    /// Calls with `ret != 0`; each is accepted as a report (unless refused).
    pub native_errors: u64,
    /// Inputs found malformed; each is accepted as a report (unless refused).
    pub malformed: u64,
}

/// One counter per outcome, so that a call costs one atomic add for its
/// outcome (plus one for a report).
#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    refused: AtomicU64,
    closed: AtomicU64,
    too_large: AtomicU64,
    invalid: AtomicU64,
    native_errors: AtomicU64,
    malformed: AtomicU64,
}

/// One sink: its format, its fixed name and its counters.
#[derive(Debug)]
pub struct Sink {
    format: SinkFormat,
    /// Empty for `Envelope` sinks and requests.
    name: Box<str>,
    counters: Counters,
    /// Set for a request's one-shot sink (see [`Sink::request`]).
    request: Option<Request>,
}

impl Sink {
    /// A sink of `format`; `name` is required for every format but
    /// `Envelope`, which refuses one.
    ///
    /// # Errors
    /// [`SinkError`] when the name is missing, present for `Envelope`, or
    /// invalid.
    ///
    /// # Examples
    /// ```
    /// use ffi_events::{Sink, SinkError, SinkFormat};
    /// assert!(Sink::new(SinkFormat::Envelope, None).is_ok());
    /// assert!(Sink::new(SinkFormat::Json, Some("status")).is_ok());
    /// assert_eq!(Sink::new(SinkFormat::Raw, None).unwrap_err(), SinkError::NameRequired(SinkFormat::Raw));
    /// ```
    pub fn new(format: SinkFormat, name: Option<&str>) -> Result<Sink, SinkError> {
        let name = match (format, name) {
            (SinkFormat::Envelope, Some(_)) => return Err(SinkError::NameWithEnvelope),
            (SinkFormat::Envelope, None) => "",
            (_, None) => return Err(SinkError::NameRequired(format)),
            (_, Some(name)) => {
                validate_name(name).map_err(SinkError::InvalidName)?;
                name
            }
        };
        Ok(Sink {
            format,
            name: name.into(),
            counters: Counters::default(),
            request: None,
        })
    }

    /// The sink's format.
    pub fn format(&self) -> SinkFormat {
        self.format
    }

    /// The sink's fixed event name; `None` for an `Envelope` sink.
    pub fn name(&self) -> Option<&str> {
        Some(&*self.name).filter(|n| !n.is_empty())
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> SinkStats {
        let c = &self.counters;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let stats = SinkStats {
            calls: 0,
            accepted: load(&c.accepted),
            refused: load(&c.refused),
            closed: load(&c.closed),
            too_large: load(&c.too_large),
            invalid: load(&c.invalid),
            native_errors: load(&c.native_errors),
            malformed: load(&c.malformed),
        };
        SinkStats {
            calls: stats.accepted + stats.refused + stats.closed + stats.too_large + stats.invalid,
            ..stats
        }
    }

    /// Counts a call refused before it reached the ring because the sink is
    /// closed.
    pub(crate) fn refuse_closed(&self) -> SinkStatus {
        if let Some(request) = &self.request {
            request.ignore();
        }
        self.count(SinkStatus::Closed)
    }

    /// The one-shot sink of request `id`: its first callback call is the
    /// reply (any `ret`, any bytes), queued on [`Lane::Reply`] and never
    /// refused by a full ring; later calls, and calls after it closed, are
    /// counted in `ignored` and change nothing.
    pub fn request(id: u64, ignored: Arc<AtomicU64>) -> Sink {
        Sink {
            format: SinkFormat::Raw,
            name: "".into(),
            counters: Counters::default(),
            request: Some(Request::new(id, ignored)),
        }
    }

    fn count(&self, status: SinkStatus) -> SinkStatus {
        let c = &self.counters;
        let counter = match status {
            SinkStatus::Accepted => &c.accepted,
            SinkStatus::Full => &c.refused,
            SinkStatus::Closed => &c.closed,
            SinkStatus::Invalid => &c.invalid,
            SinkStatus::TooLarge => &c.too_large,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        status
    }

    fn offer(&self, emitter: &Emitter, event: Event) -> SinkStatus {
        let status = match emitter.offer(event) {
            Ok(_) => SinkStatus::Accepted,
            Err(EmitError::Full { .. }) => SinkStatus::Full,
            Err(EmitError::Closed) => SinkStatus::Closed,
            Err(EmitError::TooLarge { .. }) => SinkStatus::TooLarge,
            Err(EmitError::InvalidName(_)) | Err(EmitError::Encode(_)) => SinkStatus::Invalid,
        };
        self.count(status)
    }

    fn report(&self, emitter: &Emitter, malformed: Malformed) -> SinkStatus {
        self.counters.malformed.fetch_add(1, Ordering::Relaxed);
        let reason = malformed.to_string();
        let code = self.format.code();
        self.offer(
            emitter,
            Event::report(Lane::Malformed, &self.name, code, 0, reason.as_bytes()),
        )
    }

    /// Takes one callback call: `ret == 0` with an event in `msg`, or
    /// `ret != 0` with the library's error text. `msg` is `None` when the
    /// caller passed NULL with a non-zero length.
    pub(crate) fn on_callback(
        &self,
        emitter: &Emitter,
        ret: i32,
        msg: Option<&[u8]>,
    ) -> SinkStatus {
        if let Some(request) = &self.request {
            return self.count(request.on_call(emitter, ret, msg));
        }
        let Some(msg) = msg else {
            return self.count(SinkStatus::Invalid);
        };
        if ret != 0 {
            // A library's error is never refused for its size or a full
            // ring: its text is cut to `max_event_bytes`, and it takes the
            // report reserve when the ring is full.
            self.counters.native_errors.fetch_add(1, Ordering::Relaxed);
            let room = emitter
                .max_event_bytes()
                .saturating_sub(REPORT_HEADER_BYTES);
            let text = &msg[..msg.len().min(room)];
            let code = self.format.code();
            let event = Event::report(Lane::NativeError, &self.name, code, ret, text);
            return self.offer(emitter, event);
        }
        if msg.len() > emitter.max_event_bytes() {
            return self.count(SinkStatus::TooLarge);
        }
        // An event refused on a full ring is not parsed: an overloaded
        // library pays no decoding (input found malformed is reported only
        // when the ring had room for the event).
        match emitter.refuse_if_full() {
            Some(EmitError::Closed) => return self.count(SinkStatus::Closed),
            Some(_) => return self.count(SinkStatus::Full),
            None => {}
        }
        let event = match self.format {
            SinkFormat::Envelope => match split_envelope(msg) {
                Ok(envelope) => {
                    Event::cbor_encoded(envelope.name, envelope.payload, envelope.self_contained)
                }
                Err(malformed) => return self.report(emitter, malformed),
            },
            SinkFormat::Cbor => match check_item(msg) {
                Ok(self_contained) => Event::cbor_encoded(&self.name, msg, self_contained),
                Err(malformed) => return self.report(emitter, malformed),
            },
            SinkFormat::Raw => Event::raw(&self.name, msg),
            SinkFormat::Json => match std::str::from_utf8(msg) {
                Ok(_) => Event::json(&self.name, msg),
                Err(_) => return self.report(emitter, Malformed::InvalidUtf8),
            },
        };
        self.offer(emitter, event)
    }

    /// Takes one direct emit: a named event on `lane` (0 CBOR value, 1 raw,
    /// 2 JSON text). Arguments that are not valid are refused with
    /// [`SinkStatus::Invalid`] rather than reported, since the caller learns
    /// the status at once.
    pub(crate) fn on_emit(
        &self,
        emitter: &Emitter,
        name: Option<&[u8]>,
        payload: Option<&[u8]>,
        lane: i32,
    ) -> SinkStatus {
        let (Some(name), Some(payload)) = (name, payload) else {
            return self.count(SinkStatus::Invalid);
        };
        let Some(name) = std::str::from_utf8(name)
            .ok()
            .filter(|name| validate_name(name).is_ok())
        else {
            return self.count(SinkStatus::Invalid);
        };
        if payload.len() > emitter.max_event_bytes() {
            return self.count(SinkStatus::TooLarge);
        }
        let event = match lane {
            0 => match check_item(payload) {
                Ok(self_contained) => Event::cbor_encoded(name, payload, self_contained),
                Err(_) => return self.count(SinkStatus::Invalid),
            },
            1 => Event::raw(name, payload),
            2 if std::str::from_utf8(payload).is_ok() => Event::json(name, payload),
            _ => return self.count(SinkStatus::Invalid),
        };
        self.offer(emitter, event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DrainLimits, Filter, Hub, HubConfig};

    fn drain(hub: &Hub) -> Vec<Event> {
        let mut out = Vec::new();
        hub.drain(&mut out, DrainLimits::default());
        out
    }

    /// The events a drain handed over, less the hub's own liveness events.
    fn without_liveness(events: Vec<Event>) -> Vec<Event> {
        let liveness = [crate::NOT_RESPONDING, crate::RESPONDING];
        events
            .into_iter()
            .filter(|e| !liveness.contains(&e.name()))
            .collect()
    }

    #[test]
    fn an_envelope_becomes_an_event_of_its_event_type() {
        let hub = Hub::new(HubConfig::default()).unwrap();
        hub.registry().add(Filter::Any).unwrap();
        let sink = Sink::new(SinkFormat::Envelope, None).unwrap();
        let envelope = crate::encode_envelope("peer", &7u8).unwrap();
        let status = sink.on_callback(&hub.emitter(), 0, Some(&envelope));
        assert_eq!(status, SinkStatus::Accepted);
        let events = drain(&hub);
        assert_eq!(events[0].name(), "peer");
        assert_eq!(events[0].bytes(), &[7]);
        assert!(events[0].is_self_contained());
    }

    #[test]
    fn malformed_input_and_library_errors_become_reports() {
        let hub = Hub::new(HubConfig::default()).unwrap();
        hub.registry().add(Filter::Any).unwrap();
        let emitter = hub.emitter();
        let sink = Sink::new(SinkFormat::Envelope, None).unwrap();
        assert_eq!(
            sink.on_callback(&emitter, 0, Some(&[1])),
            SinkStatus::Accepted
        );
        assert_eq!(
            sink.on_callback(&emitter, 1, Some(b"boom")),
            SinkStatus::Accepted
        );
        assert_eq!(sink.on_callback(&emitter, 0, None), SinkStatus::Invalid);
        let events = drain(&hub);
        assert_eq!(events[0].lane(), Lane::Malformed);
        let reason = Malformed::NotAMap.to_string();
        assert_eq!(&events[0].bytes()[..REPORT_HEADER_BYTES], &[0, 0, 0, 0, 0]);
        assert_eq!(&events[0].bytes()[REPORT_HEADER_BYTES..], reason.as_bytes());
        // The envelope format's code, then `ret` = 1, then the text.
        assert_eq!(events[1].lane(), Lane::NativeError);
        assert_eq!(events[1].bytes(), b"\x00\x01\x00\x00\x00boom");
        let stats = sink.stats();
        assert_eq!((stats.calls, stats.accepted, stats.invalid), (3, 2, 1));
        assert_eq!((stats.malformed, stats.native_errors), (1, 1));
    }

    #[test]
    fn every_refusal_is_counted_once() {
        let config = HubConfig {
            capacity: 1,
            max_event_bytes: 8,
            ..HubConfig::default()
        };
        let hub = Hub::new(config).unwrap();
        hub.registry().add(Filter::Any).unwrap();
        let emitter = hub.emitter();
        let sink = Sink::new(SinkFormat::Raw, Some("frame")).unwrap();
        assert_eq!(
            sink.on_callback(&emitter, 0, Some(&[])),
            SinkStatus::Accepted
        );
        assert_eq!(sink.on_callback(&emitter, 0, Some(&[1])), SinkStatus::Full);
        assert_eq!(
            sink.on_callback(&emitter, 0, Some(&[0; 9])),
            SinkStatus::TooLarge
        );
        hub.close();
        assert_eq!(
            sink.on_callback(&emitter, 0, Some(&[1])),
            SinkStatus::Closed
        );
        let stats = sink.stats();
        assert_eq!(
            (
                stats.calls,
                stats.accepted,
                stats.refused,
                stats.too_large,
                stats.closed
            ),
            (4, 1, 1, 1, 1)
        );
        assert_eq!(hub.stats().refused, 1);
    }

    #[test]
    fn a_library_error_on_a_full_ring_takes_the_report_reserve_in_sequence_order() {
        let hub = Hub::new(HubConfig {
            capacity: 2,
            ..HubConfig::default()
        })
        .unwrap();
        hub.registry().add(Filter::Any).unwrap();
        let emitter = hub.emitter();
        let sink = Sink::new(SinkFormat::Raw, Some("frame")).unwrap();
        let call = |ret, msg: &[u8]| sink.on_callback(&emitter, ret, Some(msg));
        assert_eq!(call(0, b"a"), SinkStatus::Accepted);
        assert_eq!(call(0, b"b"), SinkStatus::Accepted);
        assert_eq!(call(0, b"c"), SinkStatus::Full);
        assert_eq!(call(3, b"stale"), SinkStatus::Accepted);
        assert_eq!(call(1, b"fatal"), SinkStatus::Accepted);
        let stats = hub.stats();
        assert_eq!((stats.queued, stats.refused, stats.reports_lost), (4, 1, 0));
        let events = without_liveness(drain(&hub));
        let seqs: Vec<u64> = events.iter().map(Event::seq).collect();
        assert_eq!(seqs, [1, 2, 4, 5]);
        // The raw format's code (2) and each `ret`, as the library sent it.
        assert_eq!(events[2].bytes(), b"\x02\x03\x00\x00\x00stale");
        assert_eq!(events[3].bytes(), b"\x02\x01\x00\x00\x00fatal");
        let stats = hub.stats();
        assert_eq!(
            stats.emitted,
            stats.delivered + stats.refused + stats.discarded + stats.queued as u64
        );
    }

    #[test]
    fn reports_past_the_reserve_are_counted_and_the_last_one_announced() {
        let hub = Hub::new(HubConfig {
            capacity: 1,
            ..HubConfig::default()
        })
        .unwrap();
        hub.registry().add(Filter::Any).unwrap();
        let emitter = hub.emitter();
        let sink = Sink::new(SinkFormat::Envelope, None).unwrap();
        assert_eq!(
            sink.on_callback(&emitter, 0, Some(&[0x01])),
            SinkStatus::Accepted
        );
        for i in 0..crate::REPORT_RESERVE + 3 {
            let status = sink.on_callback(&emitter, 7, Some(format!("error {i}").as_bytes()));
            let expected = if i < crate::REPORT_RESERVE {
                SinkStatus::Accepted
            } else {
                SinkStatus::Full
            };
            assert_eq!(status, expected, "report {i}");
        }
        let stats = hub.stats();
        assert_eq!((stats.reports_lost, stats.refused), (3, 3));
        let events = without_liveness(drain(&hub));
        // The ring's event, the reserve, then the notice of the lost ones.
        assert_eq!(events.len(), 1 + crate::REPORT_RESERVE + 1);
        let notice = events.last().unwrap();
        assert_eq!(notice.lane(), Lane::ReportsLost);
        let last = format!("error {}", crate::REPORT_RESERVE + 2);
        let mut expected = 3u64.to_le_bytes().to_vec();
        expected.extend_from_slice(&[0, 7, 0, 0, 0]);
        expected.extend_from_slice(last.as_bytes());
        assert_eq!(notice.bytes(), &expected[..]);
        // Announced once.
        assert!(without_liveness(drain(&hub)).is_empty());
    }

    #[test]
    fn under_drop_oldest_reports_pushed_out_past_the_reserve_are_lost_and_the_books_balance() {
        let hub = Hub::new(HubConfig {
            capacity: 1,
            overflow: crate::Overflow::DropOldest,
            ..HubConfig::default()
        })
        .unwrap();
        hub.registry().add(Filter::Any).unwrap();
        let emitter = hub.emitter();
        let sink = Sink::new(SinkFormat::Raw, Some("frame")).unwrap();
        assert_eq!(
            sink.on_callback(&emitter, 0, Some(b"e")),
            SinkStatus::Accepted
        );
        // Each report pushes the previous ring occupant out: the event is
        // discarded, reports spill until the reserve is full, then are lost.
        let reports = crate::REPORT_RESERVE + 4;
        for i in 0..reports {
            let text = format!("r{i}");
            assert_eq!(
                sink.on_callback(&emitter, 1, Some(text.as_bytes())),
                SinkStatus::Accepted
            );
        }
        let stats = hub.stats();
        assert_eq!(
            (stats.discarded, stats.reports_lost, stats.refused),
            (4, 3, 0)
        );
        assert_eq!(
            stats.emitted,
            stats.delivered + stats.refused + stats.discarded + stats.queued as u64
        );
        let events = without_liveness(drain(&hub));
        let kept = events
            .iter()
            .filter(|e| e.lane() == Lane::NativeError)
            .count();
        assert_eq!(
            kept,
            crate::REPORT_RESERVE + 1,
            "the reserve and the ring's last"
        );
        let stats = hub.stats();
        assert_eq!(
            stats.emitted,
            stats.delivered + stats.refused + stats.discarded + stats.queued as u64
        );
    }

    #[test]
    fn direct_emits_check_name_lane_and_bytes() {
        let hub = Hub::new(HubConfig::default()).unwrap();
        hub.registry().add(Filter::Any).unwrap();
        let emitter = hub.emitter();
        let sink = Sink::new(SinkFormat::Envelope, None).unwrap();
        let emit = |name: &[u8], payload: &[u8], lane| {
            sink.on_emit(&emitter, Some(name), Some(payload), lane)
        };
        assert_eq!(emit(b"a", &[0x01], 0), SinkStatus::Accepted);
        assert_eq!(emit(b"a", &[0x82], 0), SinkStatus::Invalid);
        assert_eq!(emit(b"a", &[0xff], 1), SinkStatus::Accepted);
        assert_eq!(emit(b"a", b"{}", 2), SinkStatus::Accepted);
        assert_eq!(emit(b"a", &[0xff], 2), SinkStatus::Invalid);
        assert_eq!(emit(b"", &[], 1), SinkStatus::Invalid);
        assert_eq!(emit(&[0xff], &[], 1), SinkStatus::Invalid);
        assert_eq!(emit(b"a", &[], 3), SinkStatus::Invalid);
        let lanes: Vec<_> = drain(&hub).iter().map(Event::lane).collect();
        assert_eq!(lanes, [Lane::Cbor, Lane::Raw, Lane::Json]);
    }
}
