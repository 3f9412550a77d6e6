//! One queued event: name, lane, sequence number and bytes, stored inline
//! in the ring's slot when they are small.

use std::convert::Infallible;

use cbor4ii::core::enc;
use cbor4ii::serde::Serializer;
use serde::Serialize;
use smallvec::SmallVec;

use crate::envelope;
use crate::error::EmitError;
use crate::name::validate_name;
use crate::spare;

/// Bytes of name and payload an event keeps inside its ring slot; larger
/// events take a spare buffer (up to [`crate::SPARE_BYTES`]) or allocate. Sized so that an `Event` is 96 bytes: a `{ n, at }`
/// tick, or a 64-byte raw payload with a name of up to 8 bytes, fits. (104
/// inline bytes, a 128-byte event, held more per slot than a ring of
/// closed-but-not-yet-collected hubs should keep alive.)
pub const INLINE_BYTES: usize = 72;

/// Name then payload; inline up to [`INLINE_BYTES`].
type Data = SmallVec<[u8; INLINE_BYTES]>;

/// Which lane an event travels in; listeners see it as `meta.lane`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Lane {
    /// The bytes are one CBOR data item, the payload of the envelope
    /// `{ eventType, payload }` (whose fixed header the consumer rebuilds
    /// when a listener asks for the envelope).
    Cbor = 0,
    /// The bytes are delivered exactly as emitted.
    Raw = 1,
    /// The bytes are UTF-8 JSON text, parsed by the consumer.
    Json = 2,
    /// Not an event: input a sink could not take as one. The bytes are the
    /// reason (UTF-8); the consumer reports a decode error.
    Malformed = 3,
    /// Not an event: a foreign library reported an error (`ret != 0`). The
    /// bytes are [`REPORT_HEADER_BYTES`] of header, then its message, as it
    /// sent it.
    NativeError = 4,
    /// Not an event: reports were lost because the ring and the report
    /// reserve were both full. The bytes are the number lost since the last
    /// such notice (u64, little-endian), then the last lost report's bytes;
    /// the name is that report's.
    ReportsLost = 5,
    /// Not an event: the reply to a request (see `request.rs`). The bytes
    /// are [`REPLY_HEADER_BYTES`](crate::REPLY_HEADER_BYTES) of header,
    /// then the library's bytes.
    Reply = 6,
}

/// Bytes before a report's text: the reporting sink's format (u8: 0
/// envelope, 1 cbor, 2 raw, 3 json) and the library's `ret` (i32,
/// little-endian; 0 for a malformed input).
pub const REPORT_HEADER_BYTES: usize = 5;

impl Lane {
    /// Whether events of this lane are for the consumer itself rather than
    /// for listeners: reports for its error handlers, replies for its
    /// pending requests. They are handed over whoever listens.
    pub fn is_report(self) -> bool {
        matches!(
            self,
            Lane::Malformed | Lane::NativeError | Lane::ReportsLost | Lane::Reply
        )
    }
}

/// An event in the ring, waiting to be delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Hub-unique, assigned when the event is offered to the ring; 0 for
    /// the hub's own liveness events, which are not emits.
    seq: u64,
    lane: Lane,
    /// CBOR lane only: whether the bytes are known to be exactly one
    /// well-formed, self-contained data item (serde output, or scanned by
    /// [`cbor_scan`](crate::cbor_scan)), which lets the consumer decode a
    /// run of such events in one call without one changing another.
    self_contained: bool,
    /// CBOR lane only: why the payload is not one well-formed data item
    /// ([`Malformed::code`](crate::Malformed::code)), 0 when it is or was
    /// not checked. The consumer reports such an event without decoding it.
    fault: u8,
    /// `data[..name_len]` is the name (valid UTF-8, at most 255 bytes),
    /// `data[name_len..]` the bytes delivered to JS.
    name_len: u8,
    data: Data,
}

/// Room left after a large piece of an event's bytes for the rest of the
/// payload (closing items, later small fields) before the vector grows.
const LARGE_TAIL_BYTES: usize = 64;

/// Appends a piece of a serde payload to `data`, growing it through
/// `outgrow` (spare buffers, a large piece's tail) when it has no room.
#[inline]
fn push_piece(data: &mut Data, piece: &[u8]) {
    if data.len() + piece.len() > data.capacity() {
        outgrow(data, piece.len());
    }
    data.extend_from_slice(piece);
}

/// Bytes a serde payload's small pieces gather in before they go into the
/// event together.
const STAGE_BYTES: usize = 64;
/// The longest piece staged; a longer one (a text, a byte string) goes
/// straight into the event after what is staged.
const STAGED_PIECE_BYTES: usize = 16;

/// cbor4ii's output into an event's bytes, its small pieces (CBOR heads,
/// keys, integers: one to nine bytes each, a `{ n, at }` is seven of them)
/// gathered on the stack first: a piece of a size known at compile time is
/// then a store or two, where each piece pushed into the event is a
/// capacity check and a copy call. A `{ n, at }` event is built in 18 ns
/// instead of 24, a `{ thread, i, data }` with 40 bytes of data in 33
/// instead of 64; one thread emitting `{ n, at }` delivers 10.4 M/s instead
/// of 7.7 M/s.
struct StagedWriter<'a> {
    stage: [u8; STAGE_BYTES],
    staged: usize,
    data: &'a mut Data,
}

impl<'a> StagedWriter<'a> {
    #[inline]
    fn new(data: &'a mut Data) -> Self {
        StagedWriter {
            stage: [0; STAGE_BYTES],
            staged: 0,
            data,
        }
    }

    /// Moves what is staged into the event; the last call of an encoding.
    #[inline]
    fn flush(&mut self) {
        if self.staged > 0 {
            push_piece(self.data, &self.stage[..self.staged]);
            self.staged = 0;
        }
    }
}

impl enc::Write for StagedWriter<'_> {
    type Error = Infallible;

    #[inline]
    fn push(&mut self, input: &[u8]) -> Result<(), Infallible> {
        let len = input.len();
        if len > STAGED_PIECE_BYTES {
            self.flush();
            push_piece(self.data, input);
            return Ok(());
        }
        if self.staged + len > STAGE_BYTES {
            self.flush();
        }
        self.stage[self.staged..self.staged + len].copy_from_slice(input);
        self.staged += len;
        Ok(())
    }
}

/// Makes room in `data` for `more` bytes it has no capacity for. Kept out
/// of line: a serde encoder's many small writes inline only the check, and
/// with this inlined too they cost half as much again.
#[cold]
#[inline(never)]
fn outgrow(data: &mut Data, more: usize) {
    let len = data.len() + more;
    let large_piece = len > crate::SPARE_BYTES && more >= data.len();
    if len <= crate::SPARE_BYTES || large_piece {
        // Outgrowing the slot or a smaller spare buffer: move to the spare
        // size that holds it rather than let the vector allocate. Past the
        // spare sizes, one large piece (a byte string's contents) gets what
        // it needs and a little for the items after it: letting the vector
        // double left a 64 KiB payload holding 128 KiB for as long as it was
        // queued, and at that size glibc maps and unmaps each one. Either
        // way the smaller buffer goes back to the pool.
        let want = if large_piece {
            len + LARGE_TAIL_BYTES
        } else {
            len
        };
        let mut buffer = spare::take(want);
        buffer.extend_from_slice(data);
        let outgrown = std::mem::replace(data, Data::from_vec(buffer));
        if outgrown.spilled() {
            spare::give(outgrown.into_vec());
        }
    } else {
        // Small pieces past the spare sizes: the capacity doubles.
        data.reserve(more);
    }
}

/// Appends `bytes` to `data`, which its caller sized (`data_for`): one
/// copy, inlined up to 16 bytes (a name), where `SmallVec::extend_from_slice`
/// is an insert at the end, two library calls (a move of nothing, then the
/// copy). A raw 64-byte event is built in 13 ns instead of 21. Not for the
/// serde encoder's pieces (`push_piece`), whose sizes vary from call to
/// call: through this, a `{ n, at }` took 29 ns against 23.
#[inline]
fn append(data: &mut Data, bytes: &[u8]) {
    let len = data.len();
    if bytes.len() > data.capacity() - len {
        data.reserve(bytes.len());
    }
    // SAFETY: `data` has room for `bytes.len()` more bytes after its `len`
    // initialized ones, and `bytes` cannot overlap them (`data` is borrowed
    // mutably).
    unsafe {
        copy_bytes(bytes, data.as_mut_ptr().add(len));
        data.set_len(len + bytes.len());
    }
}

/// Copies `src` to `dst` as `copy_nonoverlapping` does, without a call for
/// up to 16 bytes: two overlapping loads and stores of the widest word that
/// fits (a CBOR head, a key, an integer).
///
/// # Safety
/// `dst` is valid for `src.len()` bytes of writes and does not overlap `src`.
#[inline(always)]
unsafe fn copy_bytes(src: &[u8], dst: *mut u8) {
    let (n, s) = (src.len(), src.as_ptr());
    // SAFETY (each arm): `n` is within what the arm's copy takes, and both
    // `src` and `dst` hold `n` bytes.
    unsafe {
        if n > 16 {
            std::ptr::copy_nonoverlapping(s, dst, n);
        } else if n >= 8 {
            copy_two_words::<u64>(s, dst, n);
        } else if n >= 4 {
            copy_two_words::<u32>(s, dst, n);
        } else if n >= 2 {
            copy_two_words::<u16>(s, dst, n);
        } else if n == 1 {
            *dst = *s;
        }
    }
}

/// Copies `n` bytes as two words of type `W` that overlap: the first at
/// the start, the second ending at byte `n`.
///
/// # Safety
/// `size_of::<W>() <= n <= 2 * size_of::<W>()`; `s` is valid for `n` bytes
/// of reads, `dst` for `n` bytes of writes, and they do not overlap.
#[inline(always)]
unsafe fn copy_two_words<W: Copy>(s: *const u8, dst: *mut u8, n: usize) {
    use std::ptr::{read_unaligned, write_unaligned};
    let last = n - std::mem::size_of::<W>();
    // SAFETY: both words lie within the `n` bytes (see above).
    unsafe {
        let (head, tail) = (
            read_unaligned(s.cast::<W>()),
            read_unaligned(s.add(last).cast::<W>()),
        );
        write_unaligned(dst.cast::<W>(), head);
        write_unaligned(dst.add(last).cast::<W>(), tail);
    }
}

/// Room for `len` bytes: in the slot when they fit, else a spare buffer.
fn data_for(len: usize) -> Data {
    if len <= INLINE_BYTES {
        Data::new()
    } else {
        Data::from_vec(spare::take(len))
    }
}

impl Drop for Event {
    /// Gives a spare buffer back to the pool (`spare.rs`) instead of
    /// freeing it.
    fn drop(&mut self) {
        if self.data.spilled() {
            spare::give(std::mem::take(&mut self.data).into_vec());
        }
    }
}

impl Event {
    /// An event named `name`, which its producer validated once at its
    /// boundary (`Emitter`, `Sink`); only cut to 255 bytes here.
    fn named(name: &[u8], lane: Lane, extra: usize) -> Event {
        debug_assert!(
            name.is_empty() || std::str::from_utf8(name).is_ok_and(|n| validate_name(n).is_ok())
        );
        let name = &name[..name.len().min(crate::MAX_NAME_BYTES)];
        let mut data = data_for(name.len() + extra);
        append(&mut data, name);
        Event {
            seq: 0,
            lane,
            self_contained: false,
            fault: 0,
            name_len: name.len() as u8,
            data,
        }
    }

    /// A raw-lane event carrying `bytes` unchanged.
    pub(crate) fn raw(name: &str, bytes: &[u8]) -> Event {
        let mut event = Event::named(name.as_bytes(), Lane::Raw, bytes.len());
        append(&mut event.data, bytes);
        event
    }

    /// A JSON-lane event carrying UTF-8 JSON text; the consumer parses it.
    pub(crate) fn json(name: &str, text: &[u8]) -> Event {
        let mut event = Event::named(name.as_bytes(), Lane::Json, text.len());
        append(&mut event.data, text);
        event
    }

    /// A report (a [`Lane::is_report`] lane) about input that came through
    /// a sink named `name`, or through an unnamed one when `name` is empty:
    /// the sink's `format` code and the library's `ret` (see
    /// [`REPORT_HEADER_BYTES`]), then `text`.
    pub(crate) fn report(lane: Lane, name: &str, format: u8, ret: i32, text: &[u8]) -> Event {
        debug_assert!(matches!(lane, Lane::Malformed | Lane::NativeError));
        // Longer names were refused when the sink was made; `named` cuts
        // rather than fails: a report must not be lost.
        let mut event = Event::named(name.as_bytes(), lane, REPORT_HEADER_BYTES + text.len());
        event.data.push(format);
        append(&mut event.data, &ret.to_le_bytes());
        append(&mut event.data, text);
        event
    }

    /// The reply to request `id`: its header (see
    /// [`REPLY_HEADER_BYTES`](crate::REPLY_HEADER_BYTES)), then `bytes`.
    pub(crate) fn reply(id: u64, ret: i32, flags: u8, bytes: &[u8]) -> Event {
        let header = crate::request::REPLY_HEADER_BYTES;
        let mut event = Event::named(b"", Lane::Reply, header + bytes.len());
        append(&mut event.data, &id.to_le_bytes());
        append(&mut event.data, &ret.to_le_bytes());
        event.data.push(flags);
        append(&mut event.data, bytes);
        event
    }

    /// The notice that `lost` reports were lost, the last of them `last`
    /// (when its text could be kept: without it, the notice names no sink
    /// and carries an empty report).
    pub(crate) fn reports_lost(lost: u64, last: Option<&Event>) -> Event {
        const NO_REPORT: [u8; REPORT_HEADER_BYTES] = [0; REPORT_HEADER_BYTES];
        let (name, bytes) =
            last.map_or((&b""[..], &NO_REPORT[..]), |e| (e.name_bytes(), e.bytes()));
        let mut event = Event::named(name, Lane::ReportsLost, 8 + bytes.len());
        append(&mut event.data, &lost.to_le_bytes());
        append(&mut event.data, bytes);
        event
    }

    /// A CBOR-lane event whose payload is serialized with serde.
    pub(crate) fn cbor<T: Serialize + ?Sized>(name: &str, payload: &T) -> Result<Event, EmitError> {
        let mut event = Event::named(name.as_bytes(), Lane::Cbor, 0);
        let mut serializer = Serializer::new(StagedWriter::new(&mut event.data));
        payload
            .serialize(&mut serializer)
            .map_err(|err| EmitError::Encode(err.to_string()))?;
        serializer.into_inner().flush();
        // cbor4ii's serde encoder writes no tags, so its output is always
        // self-contained.
        event.self_contained = true;
        Ok(event)
    }

    /// A CBOR-lane event whose payload is already CBOR. `self_contained`
    /// says whether the caller scanned it as exactly one self-contained
    /// data item.
    pub(crate) fn cbor_encoded(name: &str, payload: &[u8], self_contained: bool) -> Event {
        Event::cbor_checked(name, payload, Ok(self_contained))
    }

    /// A CBOR-lane event whose payload is already CBOR, with the outcome of
    /// its scan: whether it is self-contained, or why it is malformed.
    pub(crate) fn cbor_checked(
        name: &str,
        payload: &[u8],
        scan: Result<bool, crate::Malformed>,
    ) -> Event {
        let mut event = Event::named(name.as_bytes(), Lane::Cbor, payload.len());
        append(&mut event.data, payload);
        match scan {
            Ok(self_contained) => event.self_contained = self_contained,
            Err(malformed) => event.fault = malformed.code(),
        }
        event
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

    /// On the CBOR lane, whether [`Event::bytes`] is known to be exactly
    /// one well-formed CBOR data item that decodes on its own: no tag whose
    /// meaning reaches into other items. False on other lanes.
    pub fn is_self_contained(&self) -> bool {
        self.self_contained
    }

    /// On the CBOR lane, why the payload is not one well-formed data item
    /// ([`Malformed::code`](crate::Malformed::code)); 0 when it is, or on
    /// other lanes.
    pub fn fault(&self) -> u8 {
        self.fault
    }

    /// The event name; empty for a report from an unnamed sink.
    pub fn name(&self) -> &str {
        // The constructors copy the name from a `&str` and cut it only at
        // 255 bytes, which validated names never reach, so these bytes are
        // valid UTF-8; a failure here would be a bug in this module.
        std::str::from_utf8(self.name_bytes()).unwrap_or_default()
    }

    /// The event name as UTF-8 bytes.
    pub fn name_bytes(&self) -> &[u8] {
        &self.data[..self.name_len as usize]
    }

    /// The bytes listeners receive: the payload's CBOR data item on the
    /// CBOR lane (without the envelope around it), the payload as emitted
    /// on the raw lane, the text on the JSON lane.
    pub fn bytes(&self) -> &[u8] {
        &self.data[self.name_len as usize..]
    }

    /// The size the hub's `max_event_bytes` limits: the envelope's on the
    /// CBOR lane, the bytes' on the others.
    pub fn wire_len(&self) -> usize {
        let bytes = self.bytes().len();
        match self.lane {
            Lane::Cbor => envelope::header_len(self.name_len as usize) + bytes,
            _ => bytes,
        }
    }

    /// Whether the event's bytes live in its ring slot (no allocation).
    pub fn is_inline(&self) -> bool {
        !self.data.spilled()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_events_keep_name_and_bytes_apart() {
        let event = Event::raw("load", &[1, 2, 3]);
        assert_eq!(event.name(), "load");
        assert_eq!(event.bytes(), &[1, 2, 3]);
        assert_eq!(event.lane(), Lane::Raw);
    }

    #[test]
    fn append_copies_every_length_exactly_inline_and_spilled() {
        // Each length through each arm of `copy_bytes` (and across both
        // ends of its overlapping words), after prefixes that leave the
        // destination at every alignment, into the slot and a spare buffer.
        for prefix in 0..9usize {
            for len in 0..=40usize {
                for spilled in [false, true] {
                    let start: Vec<u8> = (0..prefix as u8).map(|b| b.wrapping_mul(7)).collect();
                    let piece: Vec<u8> = (0..len)
                        .map(|i| 0x80 ^ (i as u8).wrapping_mul(13).wrapping_add(prefix as u8))
                        .collect();
                    let mut data = data_for(if spilled { 200 } else { prefix + len });
                    append(&mut data, &start);
                    append(&mut data, &piece);
                    assert_eq!(data.spilled(), spilled, "prefix {prefix}, len {len}");
                    assert_eq!(&data[..prefix], &start[..], "prefix {prefix}, len {len}");
                    assert_eq!(&data[prefix..], &piece[..], "prefix {prefix}, len {len}");
                }
            }
        }
    }

    #[test]
    fn append_grows_data_its_caller_did_not_size() {
        let mut data = data_for(0);
        let piece = [0x5a; 100];
        append(&mut data, &piece);
        append(&mut data, &piece[..3]);
        assert_eq!(data.len(), 103);
        // Bytes written past the capacity would read back the same: the
        // capacity is what shows that `append` made room.
        assert!(data.capacity() >= data.len() && data.spilled());
        assert!(data.iter().all(|&b| b == 0x5a));
    }

    #[test]
    fn empty_raw_payload_is_a_zero_length_slice() {
        let event = Event::raw("empty", &[]);
        assert!(event.bytes().is_empty());
    }

    #[test]
    fn pre_encoded_and_serialized_payloads_give_the_same_bytes() {
        let serialized = Event::cbor("tick", &42u32).unwrap();
        let encoded = Event::cbor_encoded("tick", &[0x18, 42], true);
        assert_eq!(serialized.bytes(), encoded.bytes());
        assert_eq!(serialized.bytes(), &[0x18, 42]);
        assert_eq!(
            serialized.wire_len(),
            crate::encode_envelope("tick", &42u32).unwrap().len()
        );
    }

    #[test]
    fn small_events_live_in_the_slot_and_large_ones_allocate() {
        assert_eq!(std::mem::size_of::<Event>(), 96);
        // What `SLOT_BYTES` documents: the event and the ring slot's stamp.
        assert_eq!(
            crate::SLOT_BYTES,
            std::mem::size_of::<Event>() + std::mem::size_of::<usize>()
        );
        assert!(Event::raw("frame", &[0; 64]).is_inline());
        assert!(!Event::raw("a-longer-name", &[0; 64]).is_inline());
        assert!(Event::cbor("tick", &(7u64, 1u64 << 40))
            .unwrap()
            .is_inline());
        assert!(!Event::raw("frame", &[0; INLINE_BYTES]).is_inline());
    }

    #[test]
    fn serialized_payloads_equal_cbor4ii_output_across_every_growth_path() {
        // Seeded shapes whose bytes end inline, in each spare size and past
        // them, reached by small writes, one large piece or both: what the
        // writer's fast path and its out-of-line growth must agree on.
        #[derive(Serialize)]
        struct Shape<'a> {
            head: Vec<u64>,
            #[serde(with = "serde_bytes")]
            piece: &'a [u8],
            words: Vec<&'a str>,
            tail: i64,
        }
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |below: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % below
        };
        let bytes = vec![0xa5u8; 70_000];
        let word = "w".repeat(300);
        for _ in 0..2_000 {
            let piece_len = match next(4) {
                0 => next(8),
                1 => next(600),
                2 => next(5_000),
                _ => next(70_000),
            } as usize;
            let shape = Shape {
                head: (0..next(40)).map(|_| next(u64::MAX)).collect(),
                piece: &bytes[..piece_len],
                words: (0..next(12)).map(|_| &word[..next(300) as usize]).collect(),
                tail: next(u64::MAX) as i64,
            };
            let name = ["e", "a-longer-event-name"][next(2) as usize];
            let event = Event::cbor(name, &shape).unwrap();
            let mut expected = Serializer::new(cbor4ii::core::utils::BufWriter::new(Vec::new()));
            shape.serialize(&mut expected).unwrap();
            assert_eq!(event.name(), name);
            assert_eq!(event.bytes(), expected.into_inner().buffer());
        }
    }

    #[test]
    fn staged_pieces_keep_their_order_at_every_stage_boundary() {
        // `k` one-byte items fill the stage up to and past its end, then a
        // text of each length around the staged-piece limit and the stage
        // size, then one more small item: the bytes must come out in order
        // whether the text is staged, flushes the stage or goes straight in.
        let text = "t".repeat(STAGE_BYTES + 2);
        for k in 0..=STAGE_BYTES + 8 {
            for len in [
                0,
                1,
                15,
                16,
                17,
                STAGE_BYTES - 1,
                STAGE_BYTES,
                STAGE_BYTES + 1,
            ] {
                let small: Vec<u8> = (0..k).map(|i| (i % 24) as u8).collect();
                let shape = (&small, &text[..len], 7u8);
                let event = Event::cbor("e", &shape).unwrap();
                let mut expected =
                    Serializer::new(cbor4ii::core::utils::BufWriter::new(Vec::new()));
                shape.serialize(&mut expected).unwrap();
                assert_eq!(
                    event.bytes(),
                    expected.into_inner().buffer(),
                    "k {k}, len {len}"
                );
            }
        }
    }

    #[test]
    fn a_large_serialized_payload_holds_about_its_size_not_double() {
        #[derive(Serialize)]
        struct Blob<'a> {
            #[serde(with = "serde_bytes")]
            data: &'a [u8],
            after: u32,
        }
        for size in [4096, 65536, 1 << 20] {
            let data = vec![7u8; size];
            let event = Event::cbor(
                "blob",
                &Blob {
                    data: &data,
                    after: 9,
                },
            )
            .unwrap();
            let held = event.data.capacity();
            assert!(
                held <= event.data.len() + LARGE_TAIL_BYTES,
                "{size} B payload: {held} B held for {} B",
                event.data.len()
            );
        }
    }
}
