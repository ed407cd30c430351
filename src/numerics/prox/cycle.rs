//! The exact cycle jump of the inner loop (`ProxConfig::accelerate`). Every SNAPSHOT_INTERVAL
//! iterations the state after the assignment update, (V^s, tracker state), is saved; if a later
//! state (V^k, tracker) is bitwise equal, the map state → next state being deterministic, the
//! states repeat with period p = k − s forever, so iteration k + n·p has the same state as k:
//! jump there, extrapolate the counters, and finish normally.

use super::{InnerCycle, Tracker};
use crate::numerics::assignment::{same_bits, CertificateState, CertificateStats};

/// Iterations between saved states of the cycle jump: periods up to this are found, at most
/// about 2 × this many iterations after the cycle starts.
const SNAPSHOT_INTERVAL: u64 = 1024;

/// Forced-cycle verifications per inner solve, and the longest period verified (each iterate
/// of the period costs an O(m³) uniqueness check).
const MAX_FORCED_CHECKS: u32 = 4;
const MAX_FORCED_PERIOD: u64 = 256;

/// A saved inner-loop state (after the assignment update of iteration k).
#[derive(Default)]
struct Snapshot {
    k: u64,
    v: Vec<f64>,
    tracker: CertificateState,
    stats: CertificateStats,
}

/// Watches the inner loop's states for an exact repetition and jumps over the cycles it proves.
pub(super) struct CycleDetector {
    /// `ProxConfig::accelerate` with a non-zero budget; false runs the plain loop.
    enabled: bool,
    max_iterations: u64,
    /// The observer needs every iterate before this one: no jump lands before it.
    first_skippable: u64,
    snap: Snapshot,
    /// Forced-cycle verification under way since this iteration (see `at_repeated_position`).
    verifying: Option<u64>,
    verify_attempts: u32,
    /// The counters when that verification started.
    verify_stats: CertificateStats,
    /// The jump taken, the first V-only repetition seen, and the iterations skipped.
    pub jumped: Option<InnerCycle>,
    pub position_cycle: Option<InnerCycle>,
    pub skipped: u64,
}

impl CycleDetector {
    pub(super) fn new(enabled: bool, max_iterations: u64, first_skippable: u64) -> CycleDetector {
        CycleDetector {
            enabled: enabled && max_iterations > 0,
            max_iterations,
            first_skippable,
            snap: Snapshot::default(),
            verifying: None,
            verify_attempts: 0,
            verify_stats: CertificateStats::default(),
            jumped: None,
            position_cycle: None,
            skipped: 0,
        }
    }

    /// Looks at the state of iteration k (V = V^k after the assignment update); returns the
    /// iterations to skip (a multiple of the period, or 0) and saves a snapshot when due.
    pub(super) fn after_update(&mut self, k: u64, v: &[f64], tracker: &mut Tracker) -> u64 {
        if !self.enabled || self.jumped.is_some() {
            return 0;
        }
        let skip = match self.verifying {
            Some(start) => self.continue_verifying(start, k, v, tracker),
            None if k > self.snap.k && k >= self.first_skippable && same_bits(v, &self.snap.v) => {
                self.at_repeated_position(k, v, tracker)
            }
            None => 0,
        };
        if self.jumped.is_none() && self.verifying.is_none() && k.is_multiple_of(SNAPSHOT_INTERVAL) {
            self.snap.k = k;
            self.snap.v.clear();
            self.snap.v.extend_from_slice(v);
            tracker.save_state(&mut self.snap.tracker);
            self.snap.stats = tracker.stats();
        }
        skip
    }

    /// V^k equals the saved V: a full cycle if the tracker state equals too, else (the
    /// certificate's duals drift) perhaps a cycle of forced assignments, to verify.
    fn at_repeated_position(&mut self, k: u64, v: &[f64], tracker: &mut Tracker) -> u64 {
        let period = k - self.snap.k;
        if tracker.state_equals(&self.snap.tracker) {
            return self.jump(InnerCycle { at: k, period, state_repeated: true }, self.snap.stats, tracker);
        }
        self.position_cycle.get_or_insert(InnerCycle { at: k, period, state_repeated: false });
        // σ is still a function of V wherever σ is forced (unique optimum by a margin beyond the
        // certificate's tie tolerance): check that at the p iterates of one more period (O(m³)
        // each, a few attempts per step).
        let affordable = self.verify_attempts < MAX_FORCED_CHECKS && period <= MAX_FORCED_PERIOD;
        if affordable && k + period <= self.max_iterations {
            self.verify_attempts += 1;
            if tracker.is_forced(v) {
                self.verifying = Some(k);
                self.verify_stats = tracker.stats();
            }
        }
        0
    }

    /// One iterate of a forced-cycle verification started at `start`: σ at each iterate of the
    /// period must be forced; then V is back at the saved V and the cycle repeats.
    fn continue_verifying(&mut self, start: u64, k: u64, v: &[f64], tracker: &mut Tracker) -> u64 {
        let period = start - self.snap.k;
        if k == start + period {
            self.verifying = None;
            if same_bits(v, &self.snap.v) {
                let cycle = InnerCycle { at: k, period, state_repeated: false };
                return self.jump(cycle, self.verify_stats, tracker);
            }
        } else if !tracker.is_forced(v) {
            self.verifying = None;
        }
        0
    }

    /// Skips the whole periods left before `max_iterations`, the counters extrapolated from
    /// those since `earlier`.
    fn jump(&mut self, cycle: InnerCycle, earlier: CertificateStats, tracker: &mut Tracker) -> u64 {
        let repeats = (self.max_iterations - cycle.at) / cycle.period;
        self.jumped = Some(cycle);
        if repeats > 0 {
            tracker.repeat_stats(&earlier, repeats);
            self.skipped = repeats * cycle.period;
        }
        self.skipped
    }
}
