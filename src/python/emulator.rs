//! placeholder until timrest::emulator lands
use pyo3::prelude::*;

/// placeholder
#[pyclass(frozen, module = "timrest._native", name = "Emulator")]
pub(crate) struct PyEmulator {}
