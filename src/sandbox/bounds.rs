//! Case's bounds, kept by the namespace's init: it counts, every tick, the processes of the
//! PID namespace, their resident memory and the bytes they have written, and ends every
//! process of the namespace when one passes its bound, so that a fork bomb, a memory hog or
//! a disk filler ends the run naming the bound instead of hanging it or the host.
//!
//! The kernel keeps two hard backstops between ticks: `RLIMIT_NPROC` (fork fails past the
//! process bound) and `RLIMIT_FSIZE` (no single file beyond the written-bytes bound); the
//! private `/tmp` and `/dev/shm` are size-bounded tmpfs. Bytes written are `wchar` of
//! `/proc/PID/io`: every `write(2)` to anything, which the kernel folds into the parent when a
//! process is reaped, so the sum over the living plus init's own misses nothing.

use std::time::Duration;

use super::layers::{BoundHit, Bounds};

/// How often init looks (Case's exit wakes it at once, so this costs no latency).
pub(super) const TICK: Duration = Duration::from_millis(100);

/// What the namespace is using now.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Usage {
    /// Tasks (threads included) alive.
    pub tasks: u64,
    /// Resident bytes, summed.
    pub resident_bytes: u64,
    /// `wchar` summed (init's own included: it holds what reaped orphans wrote).
    pub written_bytes: u64,
}

impl Usage {
    /// Reads `/proc` (the namespace's own, mounted by init).
    pub(super) fn read() -> Usage {
        let mut usage = Usage::default();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return usage;
        };
        let page = rustix::param::page_size() as u64;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .filter(|name| name.bytes().all(|byte| byte.is_ascii_digit()))
            else {
                continue;
            };
            // A process may end between the listing and the read: it then counts as nothing.
            let read = |file: &str| std::fs::read_to_string(format!("/proc/{pid}/{file}")).unwrap_or_default();
            usage.tasks += threads(&read("status")).unwrap_or(1);
            usage.resident_bytes += resident_pages(&read("statm")).unwrap_or(0) * page;
            usage.written_bytes += written(&read("io")).unwrap_or(0);
        }
        usage
    }

    /// The first bound this usage passes.
    pub(super) fn over(&self, bounds: &Bounds) -> Option<BoundHit> {
        if self.tasks >= bounds.processes {
            Some(BoundHit::Processes {
                limit: bounds.processes,
            })
        } else if self.resident_bytes > bounds.memory_bytes {
            Some(BoundHit::Memory {
                limit: bounds.memory_bytes,
            })
        } else if self.written_bytes > bounds.written_bytes {
            Some(BoundHit::Written {
                limit: bounds.written_bytes,
            })
        } else {
            None
        }
    }
}

/// The kernel's backstops, set on Case between fork and exec.
pub(super) fn set_rlimits(bounds: &Bounds) -> std::io::Result<()> {
    use rustix::process::{Resource, Rlimit, setrlimit};
    for (resource, value) in [
        (Resource::Nproc, bounds.processes),
        (Resource::Fsize, bounds.written_bytes),
    ] {
        setrlimit(
            resource,
            Rlimit {
                current: Some(value),
                maximum: Some(value),
            },
        )?;
    }
    Ok(())
}

fn threads(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|value| value.trim().parse().ok())
}

fn resident_pages(statm: &str) -> Option<u64> {
    statm.split_whitespace().nth(1)?.parse().ok()
}

fn written(io: &str) -> Option<u64> {
    io.lines()
        .find_map(|line| line.strip_prefix("wchar:"))
        .and_then(|value| value.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_are_read_as_the_kernel_writes_them() {
        assert_eq!(threads("Name:\tnode\nThreads:\t12\nSigQ:\t0/1\n"), Some(12));
        assert_eq!(resident_pages("1000 250 30 1 0 90 0\n"), Some(250));
        assert_eq!(written("rchar: 5\nwchar: 4096\nsyscr: 1\n"), Some(4096));
        assert_eq!(written(""), None);
    }

    #[test]
    fn the_first_bound_passed_is_named() {
        let bounds = Bounds {
            processes: 10,
            memory_bytes: 100,
            written_bytes: 1000,
            tmp_bytes: 1,
        };
        let usage = |tasks, resident_bytes, written_bytes| Usage {
            tasks,
            resident_bytes,
            written_bytes,
        };
        assert_eq!(usage(3, 50, 500).over(&bounds), None);
        assert_eq!(
            usage(10, 50, 500).over(&bounds),
            Some(BoundHit::Processes { limit: 10 })
        );
        assert_eq!(usage(3, 101, 500).over(&bounds), Some(BoundHit::Memory { limit: 100 }));
        assert_eq!(
            usage(3, 50, 1001).over(&bounds),
            Some(BoundHit::Written { limit: 1000 })
        );
    }

    #[test]
    fn this_process_is_counted() {
        let usage = Usage::read();
        assert!(usage.tasks >= 1 && usage.resident_bytes > 0, "{usage:?}");
    }
}
