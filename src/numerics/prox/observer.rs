//! Observers of the inner iterations (METHODS.md E3 records the first K inner iterates). The solver
//! calls `observe` once per inner iterate V^k (k = 0 is W^t), before the update.

/// Receives inner iterates: k, V^k (row-major m × d) and the assignment σ used at V^k.
pub trait InnerObserver {
    fn observe(&mut self, iteration: u64, v: &[f64], sigma: &[usize]);

    /// The observer needs the iterates k < this bound (default: all). The inner loop may skip
    /// iterations k ≥ the bound whose outcome it knows exactly (the cycle jump of
    /// `ProxConfig::accelerate`); skipped iterates are not passed to `observe`.
    fn observed_iterations(&self) -> u64 {
        u64::MAX
    }
}

/// Records nothing (compiles to nothing in the hot loop).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl InnerObserver for NoObserver {
    #[inline(always)]
    fn observe(&mut self, _iteration: u64, _v: &[f64], _sigma: &[usize]) {}

    fn observed_iterations(&self) -> u64 {
        0
    }
}

/// Keeps the first `limit` inner iterates and their assignments.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FirstIterates {
    pub limit: usize,
    pub iterates: Vec<Vec<f64>>,
    pub assignments: Vec<Vec<usize>>,
}

impl FirstIterates {
    pub fn new(limit: usize) -> FirstIterates {
        FirstIterates {
            limit,
            iterates: Vec::with_capacity(limit.min(1 << 16)),
            assignments: Vec::with_capacity(limit.min(1 << 16)),
        }
    }
}

impl InnerObserver for FirstIterates {
    #[inline]
    fn observe(&mut self, _iteration: u64, v: &[f64], sigma: &[usize]) {
        if self.iterates.len() < self.limit {
            self.iterates.push(v.to_vec());
            self.assignments.push(sigma.to_vec());
        }
    }

    fn observed_iterations(&self) -> u64 {
        self.limit as u64
    }
}

/// Lets `&mut observer` be passed where an observer is expected.
impl<T: InnerObserver + ?Sized> InnerObserver for &mut T {
    #[inline]
    fn observe(&mut self, iteration: u64, v: &[f64], sigma: &[usize]) {
        (**self).observe(iteration, v, sigma)
    }

    fn observed_iterations(&self) -> u64 {
        (**self).observed_iterations()
    }
}
