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
//! ## At a glance
//!
//! - [`Client::builder`] / [`Client::from_env`] → [`Client`]
//! - [`Client::delete_group_msg_by_sender`], [`Client::delete_by_sender`] with a [`DeleteBySender`] (topic)
//! - [`usersig::generate`], [`usersig::inspect`], [`usersig::verify`]
//! - [`Error`] with its [`ErrorKind`], from the one code table [`error::KINDS`]

#![warn(missing_docs)]

pub mod batch;
pub mod client;
pub mod config;
pub mod error;
mod ratelimit;
pub mod retry;
pub mod usersig;
pub mod validate;

pub mod ffi;

#[cfg(feature = "emulator")]
pub mod emulator;

#[cfg(feature = "python")]
mod python;

pub use client::{CallInfo, Client, DeleteBySender};
pub use config::{Auth, ClientBuilder, Config, Defaults, Region, Secret};
pub use error::{Error, ErrorKind, Result, Retry};
