//! The C ABI of timrest: `libtimrest.so` / `libtimrest.a` and `include/timrest.h`.
//!
//! Always compiled, never with pyo3. The header is generated from this module by cbindgen
//! (`UPDATE_HEADER=1 cargo test --test header` rewrites it; the same test fails when the
//! committed header drifts). Nothing here is meant to be called from Rust: use [`crate::Client`].
//!
//! Conventions (after rustls-ffi; the header repeats them for C readers):
//!
//! - One module per C "class": [`config`] (`timrest_config`, a builder), [`client`]
//!   (`timrest_client`), [`batch`] (calls with call info, bulk deletion and purge, and their plain
//!   `size`-prefixed structs), [`moderation`] (the moderation commands, the incident job and `timrest_call`), [`log`] (the process-wide log callback), [`observe`] (stats and the event callback), [`error`] (`timrest_error`, the detail of a failure), [`status`]
//!   (`timrest_status`, derived from the code table in [`crate::error::KINDS`]), [`usersig`],
//!   [`version`]. Pointer checks, string conversion and the panic boundary live in one place,
//!   the private `boundary` module.
//! - Opaque handles, created by `_new`, released by `_free`; `_free(NULL)` does nothing.
//! - Every fallible call returns a `timrest_status` (`TIMREST_OK` = 0). Out-parameters come last
//!   and are written only on success; the optional `timrest_error **err_out` only on failure.
//! - No panic crosses the boundary: each export runs its body inside `boundary::guard` or
//!   `boundary::catch`, and a caught panic becomes `TIMREST_PANIC`.
//! - Values that C hands us as codes are read as integers and looked up, never transmuted into a
//!   Rust enum.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
#![allow(non_camel_case_types)]
// The exports are `unsafe` because C hands us raw pointers. Their safety contract is the C one,
// written once in the header's conventions (pointers NULL or valid, strings NUL-terminated,
// handles from timrest and not yet freed); a `# Safety` section on each would only repeat it.
#![allow(clippy::missing_safety_doc)]

// The order of the modules is the order of the header: cbindgen reads them as declared.
pub mod version;

pub mod status;

pub mod error;

pub mod config;

pub mod client;

pub mod batch;

pub mod moderation;

pub mod log;

pub mod observe;

pub mod usersig;

mod boundary;
