//! The C ABI (always compiled; no pyo3 here). See `include/timrest.h`.
