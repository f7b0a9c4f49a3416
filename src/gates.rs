//! The gate engine: every reason the route may not start Case, evaluated before anything is
//! spawned (README, "Gates").
//!
//! All gates are evaluated and all failures reported, in the fixed order of [`GateCode::ALL`].
//! A gate whose inputs are unavailable because an earlier gate blocked is `skipped`, not
//! `pass`: only a gate that looked at its input and found it good passes. The probe gates
//! send traffic only to a URL that already passed the loopback gates.

mod base_url;
mod evaluate;
mod external_fallback;
mod inputs;
mod provider;
mod recorder;
mod records;

pub use crate::output::{GateCode, GateResult, GateStatus};
pub(crate) use evaluate::evaluate;
pub(crate) use inputs::{DEFAULT_PROBE_TIMEOUT, GateEvaluation, GateInputs};

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
