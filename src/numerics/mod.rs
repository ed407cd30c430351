//! Pure numerics on ndarray / slices: no I/O, no serde, no polars. Each function can be tested and benchmarked
//! alone.

pub mod model;
pub mod ot;
