//! # timrest
//!
//! A client for the Tencent Cloud IM (TIM) server REST API whose first job is
//! `group_open_http_svc/delete_group_msg_by_sender`: delete what one user sent among a group's
//! latest 1000 messages. Blocking, built on `ureq`; one [`Client`] is `Send + Sync` and meant to
//! be shared by every thread of a process (create it after `fork()`, not before).
//!
//! The same core has a C ABI (`include/timrest.h`) and a Python wheel (`import timrest`), and ships
//! a faithful emulator of the TIM server (feature `emulator`) so that tests and demos run the real
//! HTTP path without credentials or network.
//!
//! ## Quick start
//!
//! Against the real server (`no_run`: it needs your credentials and the network):
//!
//! ```no_run
//! use timrest::{Client, DeleteBySender, ErrorKind, Region};
//!
//! # fn main() -> timrest::Result<()> {
//! // One client per process, shared by every thread (or `Client::from_env()` with TIM_SDKAPPID,
//! // TIM_SECRET_KEY, TIM_REGION …).
//! let client = Client::builder()
//!     .sdkappid(1400000000)
//!     .secret_key("your secret key")
//!     .region(Region::Singapore)
//!     .build()?;
//!
//! match client.delete_group_msg_by_sender("@TGS#2C5SZEAEF", "spammer") {
//!     Ok(()) => println!("deleted"),
//!     Err(e) if e.kind() == ErrorKind::GroupNotFound => println!("no such group"),
//!     Err(e) => return Err(e),
//! }
//!
//! // In a Community group's topic, with what the call took.
//! let request = DeleteBySender::new("@TGS#_@TGS#cQVLVHIM62CJ", "spammer").topic("@TGS#_@TGS#cQVLVHIM62CJ@TOPIC#abc");
//! let info = client.delete_by_sender(&request)?;
//! println!("{} attempt(s), {:?}", info.attempts, info.elapsed);
//! # Ok(()) }
//! ```
//!
//! The same calls, run for real against the embedded emulator (feature `emulator`; tests and
//! demos need no credentials and no network):
//!
//! ```
//! # #[cfg(feature = "emulator")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use timrest::emulator::{DEMO_SDKAPPID, DEMO_SECRET_KEY, Emulator, EmulatorConfig, GroupSpec};
//! use timrest::{Client, ErrorKind};
//!
//! let emu = Emulator::start(EmulatorConfig::default())?;
//! let group = emu.create_group(&GroupSpec::new("Public"))?;
//! emu.send_group_msg(&group, "spammer", "buy now", None)?;
//! emu.send_group_msg(&group, "alice", "hello", None)?;
//!
//! let client = Client::builder()
//!     .sdkappid(DEMO_SDKAPPID)
//!     .secret_key(DEMO_SECRET_KEY)
//!     .base_url(emu.base_url()) // plain http:// is accepted on loopback only
//!     .build()?;
//! client.delete_group_msg_by_sender(&group, "spammer")?;
//!
//! let left = emu.messages(&group, None, false)?;
//! assert_eq!(left.len(), 1);
//! assert_eq!(left[0]["From_Account"], "alice");
//!
//! let err = client.delete_group_msg_by_sender("@TGS#no-such-group", "spammer").unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::GroupNotFound);
//! assert!(!err.is_retryable());
//! # Ok(()) }
//! # #[cfg(not(feature = "emulator"))]
//! # fn main() {}
//! ```
//!
//! ## At a glance
//!
//! - [`Client::builder`] / [`Client::from_env`] → [`Client`]
//! - [`Client::delete_group_msg_by_sender`], [`Client::delete_by_sender`] with a [`DeleteBySender`] (topic)
//! - [`Client::delete_many`] (bulk, [`batch`]) and [`Client::purge_sender`] (every group of one account, [`purge`])
//! - [`Client::purge_senders`]: a spam incident in one job (stop, plan, clean past the latest 1000; [`purge`])
//! - the moderation commands ([`moderation`]): [`Client::set_no_speaking`], [`Client::kick`],
//!   [`Client::forbid_send_msg`], [`Client::delete_group_member`], [`Client::group_msg_get_simple`],
//!   [`Client::group_msg_recall`]
//! - [`usersig::generate`], [`usersig::inspect`], [`usersig::verify`]
//! - [`redact::redact_usersig`] for showing anything that may hold a request URL
//! - [`Error`] with its [`ErrorKind`], from the one code table [`error::KINDS`]

#![warn(missing_docs)]

pub mod batch;
pub mod client;
pub mod config;
pub mod error;
mod fork;
pub(crate) mod limit;
pub mod moderation;
pub mod observe;
pub mod purge;
pub mod redact;
pub mod retry;
pub(crate) mod transport;
pub mod usersig;
pub mod validate;

pub mod ffi;

#[cfg(feature = "emulator")]
pub mod emulator;

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

#[cfg(feature = "python")]
mod python;

pub use client::{CallInfo, Client, DeleteBySender};
pub use config::{Auth, ClientBuilder, Config, Defaults, RateLimitClock, RateLimitFallback, Region, Secret};
pub use error::{Error, ErrorKind, Result, Retry};
pub use observe::{Event, EventKind, Observer, Stats};
