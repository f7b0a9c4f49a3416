//! `case-harness run`: gates → loopback adapter → Case → sealed evidence (README, "`run` and its run folder").
//!
//! The pipeline only gathers observations; the outcome is decided by [`crate::evidence`]
//! from what those observations show. Order matters and is the point of the design:
//! gates are evaluated before anything is spawned, `case_process_started` is traced
//! immediately before the spawn, and the report is sealed only after the adapter has
//! stopped and every channel has been scanned for secrets.

mod case;
mod error;
mod options;
mod paths;
mod pipeline;
mod scan;

pub(crate) use error::RunError;
pub(crate) use options::{DEFAULT_CASE_TIMEOUT, RunOptions};
pub(crate) use pipeline::run;
