//! The one error type of the grid OT numerics.

use std::fmt;

/// Why a grid OT computation refused to start or failed to finish.
#[derive(Debug, Clone, PartialEq)]
pub enum OtError {
    /// A parameter or input is outside the domain where the method is defined.
    InvalidInput(String),
    /// An iterative solver hit its iteration cap before its tolerance.
    NonConvergence {
        /// Which solver (e.g. "sinkhorn", "jko_step", "kl_prox newton").
        solver: &'static str,
        /// Iterations done.
        iterations: usize,
        /// The stopping criterion's last value.
        residual: f64,
    },
    /// A NaN or infinity appeared where a finite number is required.
    NonFinite(&'static str),
}

impl fmt::Display for OtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OtError::InvalidInput(msg) => write!(f, "invalid input: {msg}"),
            OtError::NonConvergence { solver, iterations, residual } => {
                write!(f, "{solver} did not converge in {iterations} iterations (residual {residual:e})")
            }
            OtError::NonFinite(what) => write!(f, "non-finite value in {what}"),
        }
    }
}

impl std::error::Error for OtError {}

/// Shorthand for an [`OtError::InvalidInput`] result.
pub(crate) fn invalid<T>(msg: impl Into<String>) -> Result<T, OtError> {
    Err(OtError::InvalidInput(msg.into()))
}
