//! Confinement of Case with kernel namespaces, so that "no fallback" is a fact of how the run
//! is built rather than an observation of the traffic that chose the adapter
//! (docs/decisions.md, "Confinement").
//!
//! Case runs in its own network namespace, where the only listening socket is the adapter's
//! on `127.0.0.1:`[`ADAPTER_PORT`] (bound inside, served by the harness from outside, so the
//! adapter's upstream connections stay in the host namespace); in its own mount namespace,
//! where the whole host is read-only but for the writable folders, and the key's folder and
//! the user's credential places are hidden; in its own PID namespace, so that every process
//! Case starts dies with it and the harness knows they are all gone before it scans and
//! seals; in its own user, UTS, IPC and cgroup namespaces, as an unprivileged user; behind a
//! seccomp filter and Landlock; within bounds. [`Layer`] names each layer and
//! docs/threat-model.md says which attack each one stops.
//!
//! The work inside is done by the `__sandbox` subcommand of this same binary ([`inside`]);
//! this module starts it, talks to it over `control`, and stops it.

mod bounds;
pub(crate) mod control;
mod filters;
mod identity;
pub mod inside;
mod layers;
mod outside;
mod view;

pub use identity::CASE_HOST_ID;
pub use layers::{BoundHit, Bounds, Layer, UnknownLayer};
pub(crate) use outside::confined_isolation;
pub use outside::{ADAPTER_PORT, HOW, SUBCOMMAND, Sandbox, SandboxError, SandboxExit, SandboxSpec};
