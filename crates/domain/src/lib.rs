//! The URL shortener's domain, free of any AWS SDK: what a short code is, which targets we
//! accept, how every entity is keyed in the single table, the events we publish, and the link
//! lifecycle. Functions and devstack both build on these types, so a rule lives in one place.

pub mod code;
pub mod events;
pub mod idempotency;
pub mod keys;
pub mod status;
pub mod target;
pub mod time;

pub use code::{CodeError, ShortCode};
pub use events::{ClickEvent, LinkEvent, LinkEventKind};
pub use status::{LinkStatus, Transition, TransitionError};
pub use target::{TargetError, TargetPolicy, TargetUrl};
pub use time::{Day, EpochMillis};
