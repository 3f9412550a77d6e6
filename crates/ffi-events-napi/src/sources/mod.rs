//! Built-in native sources: threads that emit into a hub, written the way a
//! library author would write their own. They exist for demos, tests and
//! benchmarks.

mod burst;
mod control;
mod ticker;

pub use burst::{start_burst, BurstOptions, BurstResult};
pub use control::SourceControl;
pub use ticker::{start_ticker, TickerOptions};
