//! The pyo3 layer (feature `python`): the `timrest._native` module.
