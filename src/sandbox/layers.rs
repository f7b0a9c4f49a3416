//! The layers of Case's confinement by name, and the bounds on what it may consume: the words
//! the report, the trace and `verify` use, and what the harness hands the sandbox process.
//!
//! Each layer is recorded only when the sandbox actually put it in place (a kernel without
//! Landlock leaves `landlock` out), so the report says what held, not what was asked for.

use std::fmt;
use std::str::FromStr;

/// One layer of the confinement (docs/threat-model.md says which attack each one stops).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Layer {
    /// Own network namespace: the adapter's listener is the only service.
    NetworkNamespace,
    /// Own PID namespace: every process Case starts dies with it, and it sees no other.
    PidNamespace,
    /// Own UTS, IPC and cgroup namespaces: hostname, SysV IPC and `/dev/shm` are its own.
    UtsIpcCgroupNamespaces,
    /// The whole host read-only, recursively; only the writable folders and a private
    /// `/tmp` and `/dev/shm` can be written; `.git` inside a writable folder stays read-only.
    ReadOnlyHost,
    /// `/proc/sys` and `/proc/sysrq-trigger` read-only in Case's fresh `/proc`.
    ProcSysReadOnly,
    /// The signing key's folders and the user's credential places are empty to Case.
    HiddenPaths,
    /// Case runs as a non-zero uid through a user namespace, owning nothing on the host,
    /// without capabilities (the harness as root included) and with `no_new_privs`.
    UnprivilegedUser,
    /// A seccomp filter refuses what a test agent never needs (mount, bpf, keyctl, …).
    Seccomp,
    /// Landlock allows writes only beneath the writable folders, `/tmp`, `/dev/shm` and `/dev`.
    Landlock,
    /// Processes, memory and bytes written are bounded; hitting a bound ends the run.
    Bounds,
}

impl Layer {
    /// Every layer, in the order the report lists them.
    pub const ALL: [Layer; 10] = [
        Layer::NetworkNamespace,
        Layer::PidNamespace,
        Layer::UtsIpcCgroupNamespaces,
        Layer::ReadOnlyHost,
        Layer::ProcSysReadOnly,
        Layer::HiddenPaths,
        Layer::UnprivilegedUser,
        Layer::Seccomp,
        Layer::Landlock,
        Layer::Bounds,
    ];

    /// The layer's name in reports, traces and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Layer::NetworkNamespace => "network_namespace",
            Layer::PidNamespace => "pid_namespace",
            Layer::UtsIpcCgroupNamespaces => "uts_ipc_cgroup_namespaces",
            Layer::ReadOnlyHost => "read_only_host",
            Layer::ProcSysReadOnly => "proc_sys_read_only",
            Layer::HiddenPaths => "hidden_paths",
            Layer::UnprivilegedUser => "unprivileged_user",
            Layer::Seccomp => "seccomp",
            Layer::Landlock => "landlock",
            Layer::Bounds => "bounds",
        }
    }

    /// The layers a fully confined run has: all of them. Landlock is the one the kernel may
    /// lack (it is a second layer for writes, behind the read-only host), so it is not required.
    pub(crate) fn required() -> impl Iterator<Item = Layer> {
        Layer::ALL.into_iter().filter(|layer| *layer != Layer::Landlock)
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

/// A layer name that is not one of [`Layer::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown confinement layer `{0}` (known: {known})", known = Layer::ALL.map(Layer::name).join(", "))]
pub struct UnknownLayer(pub String);

impl FromStr for Layer {
    type Err = UnknownLayer;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Layer::ALL
            .into_iter()
            .find(|layer| layer.name() == text)
            .ok_or_else(|| UnknownLayer(text.to_owned()))
    }
}

pub use crate::output::Bounds;

/// Which bound Case hit, as the sandbox reports it and the run's failure names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoundHit {
    /// More processes than [`Bounds::processes`].
    Processes {
        /// The bound.
        limit: u64,
    },
    /// More resident memory than [`Bounds::memory_bytes`].
    Memory {
        /// The bound.
        limit: u64,
    },
    /// More bytes written than [`Bounds::written_bytes`].
    Written {
        /// The bound.
        limit: u64,
    },
}

impl BoundHit {
    /// The encoding on the control socket, e.g. `processes 1024`.
    pub(crate) fn encode(self) -> String {
        match self {
            BoundHit::Processes { limit } => format!("processes {limit}"),
            BoundHit::Memory { limit } => format!("memory {limit}"),
            BoundHit::Written { limit } => format!("written {limit}"),
        }
    }

    /// Reads [`encode`](Self::encode)'s text back.
    pub(crate) fn decode(text: &str) -> Option<BoundHit> {
        let (kind, limit) = text.split_once(' ')?;
        let limit = limit.parse().ok()?;
        match kind {
            "processes" => Some(BoundHit::Processes { limit }),
            "memory" => Some(BoundHit::Memory { limit }),
            "written" => Some(BoundHit::Written { limit }),
            _ => None,
        }
    }
}

impl fmt::Display for BoundHit {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BoundHit::Processes { limit } => write!(
                formatter,
                "Case hit the process bound ({limit} processes at once; --max-processes)"
            ),
            BoundHit::Memory { limit } => write!(
                formatter,
                "Case hit the memory bound ({} MiB resident; --max-memory-mib)",
                limit >> 20
            ),
            BoundHit::Written { limit } => write!(
                formatter,
                "Case hit the bound on bytes written ({} MiB; --max-written-mib)",
                limit >> 20
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_names_read_back() {
        for layer in Layer::ALL {
            assert_eq!(layer.name().parse::<Layer>(), Ok(layer));
        }
        assert!("landlok".parse::<Layer>().is_err());
    }

    #[test]
    fn bound_hits_cross_the_control_socket() {
        for hit in [
            BoundHit::Processes { limit: 64 },
            BoundHit::Memory { limit: 1 << 30 },
            BoundHit::Written { limit: 5 },
        ] {
            assert_eq!(BoundHit::decode(&hit.encode()), Some(hit));
        }
        assert_eq!(BoundHit::decode("disk 5"), None);
    }
}
