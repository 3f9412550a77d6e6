//! An addon of your own that embeds `ffi-events`: a simulated peer-to-peer
//! node whose "connections" run on native threads owned by the hub.
//!
//! The addon links `ffi-events-napi` as an rlib, so its `.node` file exports
//! the whole binding (`NativeHub`, `startTicker`, `startBurst`, ...) next to
//! `startPeerSimulator`. The TypeScript `EventHub` must be built over *this*
//! addon's `NativeHub`: a `NativeHub` created by another `.node` file (the
//! `ffi-events` package's own) is a different Rust type in a different
//! binary, and napi-rs would cast it blindly (its class check only covers
//! objects wrapped by the same copy of the runtime), so
//! `startPeerSimulator` refuses hubs that are not instances of its own class.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use ffi_events::{EmitError, Emitter, SourceHandle, StopToken};
use ffi_events_napi::NativeHub;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde::Serialize;

/// Options of `startPeerSimulator`.
#[napi(object)]
#[derive(Debug)]
pub struct PeerSimulatorOptions {
    /// Simulated peers, one native thread each (1 to 64).
    pub peers: u32,
    /// Messages each peer sends after connecting.
    pub messages: u32,
    /// Pause between two messages of one peer, in milliseconds.
    pub interval_ms: f64,
}

/// `peer_connected` payload.
#[derive(Serialize)]
struct PeerConnected<'a> {
    id: &'a str,
    addr: &'a str,
}

/// `message` payload.
#[derive(Serialize)]
struct Message<'a> {
    from: &'a str,
    n: u32,
    text: &'a str,
    /// Emit time on the hub's clock (ns, `process.hrtime.bigint()`).
    at: u64,
}

/// `peer_disconnected` payload.
#[derive(Serialize)]
struct PeerDisconnected<'a> {
    id: &'a str,
    sent: u32,
}

/// The running simulation: one hub-owned thread per peer.
#[napi]
pub struct PeerSimulator {
    handles: Vec<SourceHandle>,
}

#[napi]
impl PeerSimulator {
    /// Stops every peer thread and joins it; returns how many were running.
    #[napi]
    pub fn stop(&self) -> u32 {
        self.handles.iter().filter(|h| h.stop()).count() as u32
    }

    /// Peer threads still running.
    #[napi(getter)]
    pub fn running(&self) -> u32 {
        self.handles.iter().filter(|h| h.is_running()).count() as u32
    }
}

/// Starts `options.peers` simulated peers on `hub`, which must be a
/// `NativeHub` of this addon (`nativeHubOf(eventHub)` of an `EventHub` built
/// over this addon's binding). Each peer emits `peer_connected`, then
/// `options.messages` `message` events, then `peer_disconnected`.
#[napi(ts_args_type = "hub: NativeHub, options: PeerSimulatorOptions")]
pub fn start_peer_simulator(
    env: Env,
    hub: Object,
    options: PeerSimulatorOptions,
) -> Result<PeerSimulator> {
    if !NativeHub::instance_of(&env, &hub)? {
        return Err(Error::new(
            Status::InvalidArg,
            "hub must be a NativeHub created by this addon's own binding \
             (build the EventHub over this addon, not over the ffi-events package)",
        ));
    }
    if !(1..=64).contains(&options.peers) {
        return Err(Error::new(
            Status::InvalidArg,
            format!("peers must be between 1 and 64, got {}", options.peers),
        ));
    }
    if !(options.interval_ms.is_finite() && options.interval_ms >= 0.0) {
        return Err(Error::new(
            Status::InvalidArg,
            format!(
                "intervalMs must be a finite number >= 0, got {}",
                options.interval_ms
            ),
        ));
    }
    // SAFETY: `hub` is a live value of this env, and `instance_of` just
    // checked it is an instance of this addon's own `NativeHub` class.
    let hub: ClassInstance<NativeHub> =
        unsafe { ClassInstance::from_napi_value(env.raw(), hub.raw())? };
    let interval = Duration::from_secs_f64(options.interval_ms / 1000.0);
    let mut handles = Vec::with_capacity(options.peers as usize);
    for peer in 0..options.peers {
        let messages = options.messages;
        let started = hub.spawn("peer-simulator", move |emitter, stop| {
            run_peer(&emitter, &stop, peer, messages, interval);
        });
        match started {
            Ok(handle) => handles.push(handle),
            Err(err) => {
                for handle in &handles {
                    handle.stop();
                }
                return Err(err);
            }
        }
    }
    Ok(PeerSimulator { handles })
}

/// One peer's connection: what a real network thread would do on its own.
fn run_peer(emitter: &Emitter, stop: &StopToken, peer: u32, messages: u32, interval: Duration) {
    let id = format!("peer-{peer}");
    let addr = format!("10.0.0.{}:4000", peer + 1);
    if emit(
        emitter,
        "peer_connected",
        &PeerConnected {
            id: &id,
            addr: &addr,
        },
    )
    .is_err()
    {
        return;
    }
    let mut sent = 0;
    for n in 0..messages {
        if !stop.sleep(interval) {
            break;
        }
        let text = format!("hello #{n} from {id}");
        let message = Message {
            from: &id,
            n,
            text: &text,
            at: emitter.now_ns(),
        };
        if emit(emitter, "message", &message).is_err() {
            return;
        }
        sent += 1;
    }
    let _ = emit(
        emitter,
        "peer_disconnected",
        &PeerDisconnected { id: &id, sent },
    );
}

/// Emits; a full ring is counted by the hub and not an error for a peer.
fn emit<T: Serialize>(
    emitter: &Emitter,
    name: &str,
    payload: &T,
) -> std::result::Result<(), EmitError> {
    match emitter.emit(name, payload) {
        Ok(_) | Err(EmitError::Full { .. }) => Ok(()),
        Err(err) => Err(err),
    }
}
