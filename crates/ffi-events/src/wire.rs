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
//! order, read from the [`Registry`] under one lock per batch: the consumer
//! keeps only listener id → function.
//!
//! Every section starts at a multiple of its element size when the buffer
//! does, so JavaScript reads the tables through typed arrays without copying.
//! A tag's low 7 bits are the [`Lane`](crate::Lane); bit 7
//! ([`TAG_SELF_CONTAINED`]) marks a CBOR-lane payload known to be exactly
//! one well-formed, self-contained data item. Payloads follow each other
//! with no gap, so a run of such events is one CBOR sequence the consumer
//! decodes in one call, and no item in it can change another.

use std::collections::HashMap;

use crate::event::Event;
use crate::registry::{ListenerId, Registry};

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

/// Lays out drained events in the batch format; keeps its scratch space
/// between batches.
#[derive(Debug, Default)]
pub struct BatchEncoder {
    /// Name index of each event of the batch being planned.
    name_of: Vec<u32>,
    /// For each distinct name, the index of the first event that carries it.
    names: Vec<usize>,
    names_bytes: usize,
    payload_bytes: usize,
    /// Listener ids of every name's route, one route after the other.
    route_ids: Vec<ListenerId>,
    /// For each name, the end of its route in `route_ids`.
    route_ends: Vec<usize>,
}

impl BatchEncoder {
    /// A new encoder with no scratch space yet.
    pub fn new() -> BatchEncoder {
        BatchEncoder::default()
    }

    /// Prepares `events`, with the routes `registry` gives their names, and
    /// returns the exact buffer size [`BatchEncoder::write`] needs.
    pub fn plan(&mut self, events: &[Event], registry: &Registry) -> usize {
        self.name_of.clear();
        self.route_ids.clear();
        self.route_ends.clear();
        self.names.clear();
        self.names_bytes = 0;
        self.payload_bytes = 0;
        let mut index: HashMap<&[u8], u32> = HashMap::new();
        let mut last: Option<(&[u8], u32)> = None;
        for (i, event) in events.iter().enumerate() {
            let name = event.name_bytes();
            let found = match last {
                Some((last_name, at)) if last_name == name => Some(at),
                _ => index.get(name).copied(),
            };
            let at = found.unwrap_or_else(|| {
                let at = self.names.len() as u32;
                self.names.push(i);
                self.names_bytes += name.len();
                index.insert(name, at);
                at
            });
            last = Some((name, at));
            self.name_of.push(at);
            self.payload_bytes += event.bytes().len();
        }
        let names = self.names.iter().map(|&first| events[first].name());
        registry.snapshots(names, &mut self.route_ids, &mut self.route_ends);
        let n = events.len();
        HEADER_BYTES
            + 16 * n
            + 8 * self.names.len()
            + 8 * self.route_ids.len()
            + self.names_bytes
            + self.payload_bytes
    }

    /// Writes the batch planned for `events` into `out`, which must be
    /// exactly as long as [`BatchEncoder::plan`] said.
    ///
    /// # Panics
    /// When `out` has another length or `events` differs from the planned
    /// slice in length.
    pub fn write(&self, events: &[Event], more: bool, out: &mut [u8]) {
        let n = events.len();
        let k = self.names.len();
        assert_eq!(
            n,
            self.name_of.len(),
            "events differ from the planned batch"
        );
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
        for (i, event) in events.iter().enumerate() {
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
            let tag = (self.name_of[i] << 8) | self_contained | fault | event.lane() as u32;
            tags[4 * i..4 * i + 4].copy_from_slice(&tag.to_le_bytes());
        }
        for (chunk, end) in route_ends.chunks_exact_mut(4).zip(&self.route_ends) {
            chunk.copy_from_slice(&(*end as u32).to_le_bytes());
        }
        for (chunk, id) in route_ids.chunks_exact_mut(8).zip(&self.route_ids) {
            chunk.copy_from_slice(&(id.get() as f64).to_le_bytes());
        }
        let mut name_end = 0usize;
        for (j, &first) in self.names.iter().enumerate() {
            let name = events[first].name_bytes();
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
    use crate::registry::Filter;

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
        let mut encoder = BatchEncoder::new();
        let len = encoder.plan(&events, &registry);
        let mut buf = vec![0u8; len];
        encoder.write(&events, true, &mut buf);

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
        let mut encoder = BatchEncoder::new();
        let len = encoder.plan(&events, &Registry::new());
        let mut buf = vec![0u8; len];
        encoder.write(&events, false, &mut buf);
        assert_eq!(u32_at(&buf, 4), 40);
        assert_eq!(u32_at(&buf, 16 + 16 * 100 - 4) >> 8, 99 % 40);
    }
}
