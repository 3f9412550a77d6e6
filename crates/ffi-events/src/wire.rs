//! The batch layout handed to JavaScript: one buffer per drain.
//!
//! All integers little-endian. With `n` events and `k` distinct names:
//!
//! | offset            | content                                      |
//! |-------------------|----------------------------------------------|
//! | 0                 | u32 n, u32 k, u32 flags, u32 names byte length |
//! | 16                | f64 seq × n (exact up to 2^53)               |
//! | 16 + 8n           | u32 end of each payload, relative to payloads |
//! | 16 + 12n          | u32 tag × n: name index << 8 \| flags \| lane  |
//! | 16 + 16n          | u32 end of each name, relative to names      |
//! | 16 + 16n + 4k     | u32 end of each name's route, in ids         |
//! | 16 + 16n + 8k     | f64 listener id × r: each name's route       |
//! | 16 + 16n + 8k + 8r| names (UTF-8), then payloads                 |
//!
//! A name's route is the ids of the listeners its events reach, in call
//! order, read from the [`Registry`](crate::Registry) under the drain's one
//! lock, the one that also decides which events anyone hears: the consumer
//! keeps only listener id → function.
//!
//! Every section starts at a multiple of its element size when the buffer
//! does, so JavaScript reads the tables through typed arrays without copying.
//! A tag's bits 0..=2 are the [`Lane`](crate::Lane), bits 3..=6 the native
//! scan's fault code (0: none); bit 7
//! ([`TAG_SELF_CONTAINED`]) marks a CBOR-lane payload known to be exactly
//! one well-formed, self-contained data item. Payloads follow each other
//! with no gap, so a run of such events is one CBOR sequence the consumer
//! decodes in one call, and no item in it can change another.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

use crate::event::Event;
use crate::registry::{ListenerId, Routes};

/// Tag bit: the CBOR-lane payload is exactly one well-formed data item
/// that decodes on its own (see [`Event::is_self_contained`]).
pub const TAG_SELF_CONTAINED: u32 = 0x80;
/// Tag bits 3..=6: a CBOR-lane payload's [`Event::fault`] (0: none). The
/// lane is bits 0..=2.
pub const TAG_FAULT_SHIFT: u32 = 3;
/// Size of the fixed header in bytes.
pub const HEADER_BYTES: usize = 16;
/// Flag bit: poll again soon ([`Drained::more`](crate::Drained::more)):
/// events remain, or the consumer is lingering.
pub const FLAG_MORE: u32 = 1;

/// A batch's name index for a name nobody hears (not in the batch).
const UNHEARD: u32 = u32::MAX;

/// A name met while planning a batch.
#[derive(Debug, Clone, Copy)]
struct SeenName {
    /// Its bytes in `seen_bytes`.
    start: usize,
    end: usize,
    /// Its index among the batch's names, or [`UNHEARD`].
    index: u32,
}

/// Lays out a batch in the batch format while a drain plans it, one event
/// at a time; keeps its scratch space between batches, so that a warm
/// drain allocates nothing.
#[derive(Debug, Default)]
pub struct BatchEncoder {
    /// Name index of each event of the batch, in order.
    name_of: Vec<u32>,
    /// Names met in this batch, heard or not, their bytes one after the
    /// other, and where to find each by the hash of its bytes.
    seen: Vec<SeenName>,
    seen_bytes: Vec<u8>,
    seen_by_hash: HashMap<u64, u32>,
    hasher: RandomState,
    /// The last name looked up, in `seen`: events of one name come in runs.
    last: Option<u32>,
    /// For each batch name index, its entry in `seen`.
    names: Vec<u32>,
    names_bytes: usize,
    payload_bytes: usize,
    /// Listener ids of every batch name's route, one route after the other.
    route_ids: Vec<ListenerId>,
    /// For each batch name, the end of its route in `route_ids`.
    route_ends: Vec<u32>,
}

impl BatchEncoder {
    /// A new encoder with no scratch space yet.
    pub fn new() -> BatchEncoder {
        BatchEncoder::default()
    }

    /// Forgets the previous batch (keeping the space).
    pub(crate) fn reset(&mut self) {
        self.name_of.clear();
        self.seen.clear();
        self.seen_bytes.clear();
        self.seen_by_hash.clear();
        self.last = None;
        self.names.clear();
        self.names_bytes = 0;
        self.payload_bytes = 0;
        self.route_ids.clear();
        self.route_ends.clear();
    }

    /// Events planned so far.
    pub fn events(&self) -> usize {
        self.name_of.len()
    }

    /// The batch index of `name`, with its route read from `routes` the
    /// first time the batch meets it; `None` when nobody listens to it,
    /// unless `always` (reports, replies and liveness events are delivered
    /// whoever listens).
    pub(crate) fn name_index(
        &mut self,
        name: &[u8],
        always: bool,
        routes: &Routes<'_>,
    ) -> Option<u32> {
        let seen = match self.last {
            Some(last) if self.seen_name(last) == name => last,
            _ => self.find_or_add(name, routes),
        };
        self.last = Some(seen);
        let mut index = self.seen[seen as usize].index;
        if index == UNHEARD && always {
            // Its route is empty: it was unheard when first met.
            index = self.add_batch_name(seen);
        }
        (index != UNHEARD).then_some(index)
    }

    fn seen_name(&self, seen: u32) -> &[u8] {
        let entry = self.seen[seen as usize];
        &self.seen_bytes[entry.start..entry.end]
    }

    fn find_or_add(&mut self, name: &[u8], routes: &Routes<'_>) -> u32 {
        let hash = self.hasher.hash_one(name);
        if let Some(&seen) = self.seen_by_hash.get(&hash) {
            if self.seen_name(seen) == name {
                return seen;
            }
            // Two names with one 64-bit hash: look at every name.
            if let Some(seen) = (0..self.seen.len() as u32).find(|&s| self.seen_name(s) == name) {
                return seen;
            }
        }
        let seen = self.seen.len() as u32;
        let start = self.seen_bytes.len();
        self.seen_bytes.extend_from_slice(name);
        self.seen.push(SeenName {
            start,
            end: self.seen_bytes.len(),
            index: UNHEARD,
        });
        self.seen_by_hash.entry(hash).or_insert(seen);
        let before = self.route_ids.len();
        if let Ok(name) = std::str::from_utf8(name) {
            routes.append(name, &mut self.route_ids);
        }
        if self.route_ids.len() > before {
            self.add_batch_name(seen);
        }
        seen
    }

    /// Gives a seen name the next batch index; its route is what
    /// `route_ids` holds past the previous name's.
    fn add_batch_name(&mut self, seen: u32) -> u32 {
        let index = self.names.len() as u32;
        let entry = &mut self.seen[seen as usize];
        entry.index = index;
        self.names_bytes += entry.end - entry.start;
        self.names.push(seen);
        self.route_ends.push(self.route_ids.len() as u32);
        index
    }

    /// Adds an event of batch name `index` and `payload_len` bytes.
    pub(crate) fn push(&mut self, index: u32, payload_len: usize) {
        self.name_of.push(index);
        self.payload_bytes += payload_len;
    }

    /// The exact size of the batch planned so far.
    pub fn len(&self) -> usize {
        HEADER_BYTES
            + 16 * self.name_of.len()
            + 8 * self.names.len()
            + 8 * self.route_ids.len()
            + self.names_bytes
            + self.payload_bytes
    }

    /// Whether no event is planned.
    pub fn is_empty(&self) -> bool {
        self.name_of.is_empty()
    }

    /// Writes the planned batch into `out`, which must be exactly
    /// [`BatchEncoder::len`] bytes; `events` are the planned events, in
    /// order.
    ///
    /// # Panics
    /// When `out` has another length or `events` differ in number or size
    /// from the plan.
    pub(crate) fn write<'e>(
        &self,
        events: impl Iterator<Item = &'e Event>,
        more: bool,
        out: &mut [u8],
    ) {
        let n = self.name_of.len();
        let k = self.names.len();
        let (header, rest) = out.split_at_mut(HEADER_BYTES);
        put_u32s(
            header,
            &[
                n as u32,
                k as u32,
                if more { FLAG_MORE } else { 0 },
                self.names_bytes as u32,
            ],
        );
        let (seqs, rest) = rest.split_at_mut(8 * n);
        let (ends, rest) = rest.split_at_mut(4 * n);
        let (tags, rest) = rest.split_at_mut(4 * n);
        let (name_ends, rest) = rest.split_at_mut(4 * k);
        let (route_ends, rest) = rest.split_at_mut(4 * k);
        let (route_ids, rest) = rest.split_at_mut(8 * self.route_ids.len());
        let (names, payloads) = rest.split_at_mut(self.names_bytes);
        assert_eq!(
            payloads.len(),
            self.payload_bytes,
            "buffer size differs from the plan"
        );

        let mut end = 0usize;
        let mut written = 0usize;
        for (i, (event, &index)) in events.zip(&self.name_of).enumerate() {
            seqs[8 * i..8 * i + 8].copy_from_slice(&(event.seq() as f64).to_le_bytes());
            let bytes = event.bytes();
            payloads[end..end + bytes.len()].copy_from_slice(bytes);
            end += bytes.len();
            ends[4 * i..4 * i + 4].copy_from_slice(&(end as u32).to_le_bytes());
            let self_contained = if event.is_self_contained() {
                TAG_SELF_CONTAINED
            } else {
                0
            };
            let fault = u32::from(event.fault()) << TAG_FAULT_SHIFT;
            let tag = (index << 8) | self_contained | fault | event.lane() as u32;
            tags[4 * i..4 * i + 4].copy_from_slice(&tag.to_le_bytes());
            written += 1;
        }
        assert_eq!(written, n, "events differ from the planned batch");
        put_u32s(route_ends, &self.route_ends);
        for (chunk, id) in route_ids.chunks_exact_mut(8).zip(&self.route_ids) {
            chunk.copy_from_slice(&(id.get() as f64).to_le_bytes());
        }
        let mut name_end = 0usize;
        for (j, &seen) in self.names.iter().enumerate() {
            let name = self.seen_name(seen);
            names[name_end..name_end + name.len()].copy_from_slice(name);
            name_end += name.len();
            name_ends[4 * j..4 * j + 4].copy_from_slice(&(name_end as u32).to_le_bytes());
        }
    }
}

fn put_u32s(out: &mut [u8], values: &[u32]) {
    for (chunk, value) in out.chunks_exact_mut(4).zip(values) {
        chunk.copy_from_slice(&value.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Lane;
    use crate::registry::{Filter, Registry};

    /// Plans every event of `events` (heard or not) and writes the batch.
    fn encode(events: &[Event], registry: &Registry, more: bool) -> Vec<u8> {
        let mut encoder = BatchEncoder::new();
        let routes = registry.routes();
        for event in events {
            let index = encoder
                .name_index(event.name_bytes(), true, &routes)
                .unwrap();
            encoder.push(index, event.bytes().len());
        }
        let mut buf = vec![0u8; encoder.len()];
        encoder.write(events.iter(), more, &mut buf);
        buf
    }

    fn u32_at(buf: &[u8], at: usize) -> u32 {
        u32::from_le_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
    }

    #[test]
    fn a_batch_round_trips_names_lanes_seqs_and_payloads() {
        let mut events = vec![
            Event::raw("a", &[1, 2]),
            Event::raw("bb", &[]),
            Event::cbor("a", &5u8).unwrap(),
        ];
        for (i, e) in events.iter_mut().enumerate() {
            e.set_seq(10 + i as u64);
        }
        let registry = Registry::new();
        let a = registry.add(Filter::Name("a".into())).unwrap();
        let any = registry.add(Filter::Any).unwrap();
        let buf = encode(&events, &registry, true);

        assert_eq!(
            [
                u32_at(&buf, 0),
                u32_at(&buf, 4),
                u32_at(&buf, 8),
                u32_at(&buf, 12)
            ],
            [3, 2, FLAG_MORE, 3]
        );
        let seq2 = f64::from_le_bytes(buf[32..40].try_into().unwrap());
        assert_eq!(seq2, 12.0);
        let ends = [u32_at(&buf, 40), u32_at(&buf, 44), u32_at(&buf, 48)];
        let tags = [u32_at(&buf, 52), u32_at(&buf, 56), u32_at(&buf, 60)];
        assert_eq!(
            tags,
            [
                Lane::Raw as u32,
                (1 << 8) | Lane::Raw as u32,
                Lane::Cbor as u32 | TAG_SELF_CONTAINED
            ]
        );
        let name_ends = [u32_at(&buf, 64), u32_at(&buf, 68)];
        assert_eq!(name_ends, [1, 3]);
        // "a" reaches its own listener and the one of every event, "bb"
        // only the latter.
        let route_ends = [u32_at(&buf, 72), u32_at(&buf, 76)];
        assert_eq!(route_ends, [2, 3]);
        let id_at = |at: usize| f64::from_le_bytes(buf[at..at + 8].try_into().unwrap());
        let ids = [id_at(80), id_at(88), id_at(96)];
        assert_eq!(ids, [a.get() as f64, any.get() as f64, any.get() as f64]);
        assert_eq!(&buf[104..107], b"abb");
        let payloads = &buf[107..];
        assert_eq!(&payloads[..ends[0] as usize], &[1, 2]);
        assert_eq!(ends[1], ends[0]);
        assert_eq!(
            &payloads[ends[1] as usize..ends[2] as usize],
            events[2].bytes()
        );
    }

    #[test]
    fn many_distinct_names_each_appear_once() {
        let events: Vec<Event> = (0..100)
            .map(|i| Event::raw(&format!("n{}", i % 40), &[]))
            .collect();
        let buf = encode(&events, &Registry::new(), false);
        assert_eq!(u32_at(&buf, 4), 40);
        assert_eq!(u32_at(&buf, 16 + 16 * 100 - 4) >> 8, 99 % 40);
    }
}
