//! Gives the C library its SONAME, as cargo-c does: `libtimrest.so.0.<minor>` while the major
//! version is 0 (each 0.x minor release may break the ABI), `libtimrest.so.<major>` from 1.0 on.
//! `scripts/install.sh` installs the file as `libtimrest.so.<version>` with the SONAME and
//! `libtimrest.so` as symlinks to it. The Python extension (feature `python`) gets no SONAME: it
//! is loaded by path, never linked against.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CARGO_FEATURE_PYTHON");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if !linux || std::env::var_os("CARGO_FEATURE_PYTHON").is_some() {
        return;
    }
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_default();
    let minor = std::env::var("CARGO_PKG_VERSION_MINOR").unwrap_or_default();
    let soversion = if major == "0" { format!("0.{minor}") } else { major };
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libtimrest.so.{soversion}");
}
