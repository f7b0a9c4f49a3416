//! An example consumer of the `case-harness` acceptance plugin. The crate itself is empty:
//! what it shows is `tests/acceptance.rs`, `plan.md`, `scenarios/` and `fixtures/`.
