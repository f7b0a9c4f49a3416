//! Where this checkout's own seed, scenarios and fixtures are: the defaults of `run`,
//! `status` and `evidence`.

use std::path::PathBuf;

/// Where the bundled seed, scenarios and fixtures are: this checkout when it still exists,
/// otherwise the current directory.
pub(super) fn bundled_root() -> PathBuf {
    let checkout = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if checkout.join("scenarios").is_dir() {
        checkout
    } else {
        PathBuf::from(".")
    }
}

/// The bundled seed SOT, when this checkout has it.
pub(super) fn bundled_sot() -> Option<PathBuf> {
    Some(bundled_root().join(BUNDLED_SEED)).filter(|path| path.is_file())
}

/// The seed SOT, relative to the bundled root.
pub(super) const BUNDLED_SEED: &str = "fixtures/sot/seed-one-line.md";
