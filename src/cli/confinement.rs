//! The `run` flags that shape Case's sandbox: what it may write and what it may consume
//! (docs/threat-model.md). Kept together so that `run`'s flag table stays readable.

use std::path::PathBuf;

use crate::sandbox::{Bounds, Layer};

/// `run`'s confinement flags (flattened into `run`).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ConfinementFlags {
    /// A folder Case may write besides its `case-output/` and `case-home/` (repeatable), e.g.
    /// a checkout an agent edits. Everything else of the host is read-only to Case; a `.git`
    /// inside stays read-only (its hooks would run later as you). Refused when it holds or
    /// lies inside the run folder, a key's folder or a record's folder. As root, Case runs
    /// as `nobody` (uid 65534), which must be able to write it.
    #[arg(long, value_name = "PATH")]
    pub writable: Vec<PathBuf>,
    /// Processes (threads included) Case may have at once.
    #[arg(long, value_name = "N", default_value_t = Bounds::default().processes)]
    pub max_processes: u64,
    /// Resident memory of all of Case's processes together, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = Bounds::default().memory_bytes >> 20)]
    pub max_memory_mib: u64,
    /// Bytes Case may write in all (and the largest file), in MiB.
    #[arg(long, value_name = "MIB", default_value_t = Bounds::default().written_bytes >> 20)]
    pub max_written_mib: u64,
    /// Size of Case's private /tmp and /dev/shm, each, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = Bounds::default().tmp_bytes >> 20)]
    pub tmp_mib: u64,
    /// Leave one layer of the confinement out (repeatable). Only for proving that a layer
    /// stops its attack: the report lists the layers in force, and neither `verify` nor
    /// `status` counts such a run as confined.
    #[arg(long, value_name = "LAYER", hide = true)]
    pub unsafe_without_layer: Vec<Layer>,
}

impl ConfinementFlags {
    /// The bounds the flags set.
    pub(crate) fn bounds(&self) -> Bounds {
        Bounds {
            processes: self.max_processes,
            memory_bytes: self.max_memory_mib << 20,
            written_bytes: self.max_written_mib << 20,
            tmp_bytes: self.tmp_mib << 20,
        }
    }
}
