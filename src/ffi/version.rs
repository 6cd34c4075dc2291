//! `timrest_version`: the library's version at run time. The header's `TIMREST_VERSION*` macros
//! give it at compile time; the `header` test checks both against `Cargo.toml`.

use std::ffi::c_char;

use super::boundary;

/// The version of the library (`CARGO_PKG_VERSION`) as a NUL-terminated string.
const VERSION: &[u8] = concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes();

/// The version of the loaded library, e.g. `"0.1.0"`: compare it with the `TIMREST_VERSION` macro
/// of the header you compiled against. The string is static: never free it. Thread safe.
#[unsafe(no_mangle)]
pub extern "C" fn timrest_version() -> *const c_char {
    boundary::catch(VERSION.as_ptr().cast(), || VERSION.as_ptr().cast())
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use super::*;

    #[test]
    fn version_is_the_crate_version() {
        let version = unsafe { CStr::from_ptr(timrest_version()) };
        assert_eq!(version.to_bytes(), env!("CARGO_PKG_VERSION").as_bytes());
    }
}
