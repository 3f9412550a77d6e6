//! What the real-thread tests share: a hub that hands over every event,
//! and the payload that says which producer emitted an event and when.

use ffi_events::{Filter, Hub, HubConfig, Overflow};

/// A hub of `capacity` slots with one listener of every event (drains hand
/// over only events someone hears) and no stall timeout.
pub fn hub_hearing_all(capacity: usize, overflow: Overflow) -> Hub {
    let hub = Hub::new(HubConfig {
        capacity,
        overflow,
        stall_timeout: None,
        ..HubConfig::default()
    })
    .unwrap();
    hub.registry().add(Filter::Any).unwrap();
    hub
}

/// The payload of event `index` of producer `producer`.
pub fn stamp(producer: u32, index: u32) -> [u8; 8] {
    let mut bytes = [0u8; 8];
    bytes[..4].copy_from_slice(&producer.to_le_bytes());
    bytes[4..].copy_from_slice(&index.to_le_bytes());
    bytes
}

/// The producer and index a `stamp` carries.
pub fn read_stamp(bytes: &[u8]) -> (usize, u32) {
    let producer = u32::from_le_bytes(bytes[..4].try_into().unwrap());
    let index = u32::from_le_bytes(bytes[4..8].try_into().unwrap());
    (producer as usize, index)
}
