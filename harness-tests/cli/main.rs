//! End-to-end tests of the `case-harness` binary (and the SOT parser's library API), one
//! integration binary for all of them. Each module says what it covers.

// Helpers: fixture paths, the binary with a cleared environment, the fake provider, snapshots.
mod util;

// One test per gate code: its plainest tripping case, and only that gate blocks.
mod gates;
