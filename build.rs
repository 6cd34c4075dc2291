//! Gives the installed C library its SONAME, as cargo-c does: `libtimrest.so.0.<minor>` while the
//! major version is 0 (each 0.x minor release may break the ABI), `libtimrest.so.<major>` from 1.0
//! on. Only `scripts/install.sh` asks for it (it sets `TIMREST_SONAME=1` for its build) and lays out
//! `libtimrest.so.<version>` with the SONAME and `libtimrest.so` as symlinks to it.
//!
//! A plain `cargo build` gets no SONAME, so that a program linked with `-L target/release -ltimrest`
//! records `libtimrest.so` (a file that is there) and runs with that directory on its rpath or
//! `LD_LIBRARY_PATH`. With the SONAME, it would ask at start for `libtimrest.so.0.<minor>`, which
//! only an installation has. The Python extension (feature `python`) never gets one: it is loaded
//! by path, never linked against.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CARGO_FEATURE_PYTHON");
    println!("cargo:rerun-if-env-changed=TIMREST_SONAME");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    let asked = std::env::var("TIMREST_SONAME").is_ok_and(|v| v == "1");
    if !linux || !asked || std::env::var_os("CARGO_FEATURE_PYTHON").is_some() {
        return;
    }
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_default();
    let minor = std::env::var("CARGO_PKG_VERSION_MINOR").unwrap_or_default();
    let soversion = if major == "0" { format!("0.{minor}") } else { major };
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libtimrest.so.{soversion}");
}
