//! One error type for the numerical core: every failure a caller can provoke ends here, never in
//! a panic.

use std::fmt;

/// Where an iteration failed: outer (prox / GD) step and inner iteration, both 0-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IterationPoint {
    pub outer_step: usize,
    pub inner_iteration: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NumericsError {
    /// A loss, gradient or position became NaN or infinite (divergence).
    NonFinite { at: IterationPoint, what: &'static str },
    /// Shapes that do not agree (particles, dimension, data).
    Shape(String),
    /// A parameter outside its domain (γ ≤ 0, β ≤ 0, m too large for enumeration, ...).
    InvalidParameter(String),
    /// The linear assignment solver failed.
    Assignment(String),
}

impl fmt::Display for NumericsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NumericsError::NonFinite { at, what } => write!(
                f,
                "non-finite {what} at outer step {}, inner iteration {} (divergence?)",
                at.outer_step, at.inner_iteration
            ),
            NumericsError::Shape(s) => write!(f, "shape mismatch: {s}"),
            NumericsError::InvalidParameter(s) => write!(f, "invalid parameter: {s}"),
            NumericsError::Assignment(s) => write!(f, "assignment failed: {s}"),
        }
    }
}

impl std::error::Error for NumericsError {}

/// Result alias used throughout the numerical core.
pub type NumResult<T> = Result<T, NumericsError>;

/// Error unless `x` is finite; `what` names the quantity in the message.
pub(crate) fn check_finite(x: f64, what: &'static str, at: IterationPoint) -> NumResult<()> {
    if x.is_finite() {
        Ok(())
    } else {
        Err(NumericsError::NonFinite { at, what })
    }
}
