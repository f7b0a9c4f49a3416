//! The second layer: a seccomp filter against what a test agent never needs, and Landlock
//! for writes. Both are put on the namespace's init just before it starts Case, so Case and
//! everything it starts inherit them and can never lift them.
//!
//! The seccomp filter is a deny-list (EPERM), like Docker's and Codex's: mount and namespace
//! calls, kernel modules and keyrings, BPF, perf, `userfaultfd`, io_uring (which would bypass
//! the filter), `open_by_handle_at` (which walks around hidden paths), clock and swap
//! changes, and `clone`/`unshare` with a namespace flag. `clone3` answers ENOSYS, so that C
//! libraries fall back to `clone`, whose flags the filter can see. `ptrace` stays: Case can
//! only see its own processes (PID namespace) and debuggers are legitimate agent tools.
//! Built with `seccompiler` (Firecracker's), Landlock with the `landlock` crate.

use std::collections::BTreeMap;
use std::path::PathBuf;

use landlock::{ABI, AccessFs, PathBeneath, PathFd, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
};

use super::control::Message;

/// System calls refused outright.
const REFUSED: &[libc::c_long] = &[
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_mount_setattr,
    libc::SYS_setns,
    libc::SYS_unshare,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_open_by_handle_at,
    libc::SYS_userfaultfd,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_reboot,
    libc::SYS_acct,
    libc::SYS_quotactl,
    libc::SYS_syslog,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_clock_adjtime,
    libc::SYS_adjtimex,
    libc::SYS_fanotify_init,
    libc::SYS_vhangup,
];

/// The namespace flags `clone` may not carry.
const NAMESPACE_FLAGS: &[libc::c_int] = &[
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWNS,
    libc::CLONE_NEWNET,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWCGROUP,
];

/// The two filters, compiled before fork so that applying them allocates nothing.
pub(super) struct Seccomp {
    refused: BpfProgram,
    clone3: BpfProgram,
}

impl Seccomp {
    /// Compiles the filters for this machine's architecture.
    pub(super) fn compile() -> Result<Seccomp, Message> {
        let failed = |error: seccompiler::BackendError| Message::Failed(format!("seccomp filter: {error}"));
        let arch = std::env::consts::ARCH
            .try_into()
            .map_err(|error| Message::Failed(format!("seccomp filter: {error}")))?;
        let mut rules: BTreeMap<i64, Vec<SeccompRule>> = REFUSED.iter().map(|call| (*call, Vec::new())).collect();
        let clone_rules = NAMESPACE_FLAGS
            .iter()
            .map(|flag| {
                let flag = *flag as u64;
                SeccompCondition::new(0, SeccompCmpArgLen::Qword, SeccompCmpOp::MaskedEq(flag), flag)
                    .and_then(|condition| SeccompRule::new(vec![condition]))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(failed)?;
        rules.insert(libc::SYS_clone, clone_rules);
        let program = |rules, action| {
            SeccompFilter::new(rules, SeccompAction::Allow, action, arch)
                .and_then(BpfProgram::try_from)
                .map_err(failed)
        };
        Ok(Seccomp {
            refused: program(rules, SeccompAction::Errno(libc::EPERM as u32))?,
            clone3: program(
                BTreeMap::from([(libc::SYS_clone3, Vec::new())]),
                SeccompAction::Errno(libc::ENOSYS as u32),
            )?,
        })
    }

    /// Installs both filters on this process (which has `no_new_privs`).
    pub(super) fn apply(&self) -> Result<(), Message> {
        for program in [&self.refused, &self.clone3] {
            seccompiler::apply_filter(program).map_err(|error| Message::Failed(format!("seccomp: {error}")))?;
        }
        Ok(())
    }
}

/// Restricts writes (creating, removing, renaming, truncating, writing files) to beneath
/// `writable`; also lets Case reopen its own stdout and stderr through `/dev/stdout`.
/// Returns whether the kernel enforced it.
pub(super) fn landlock_writes(writable: &[PathBuf]) -> Result<bool, Message> {
    let failed = |error: landlock::RulesetError| Message::Failed(format!("landlock: {error}"));
    let abi = ABI::V5;
    let mut ruleset = Ruleset::default()
        .handle_access(AccessFs::from_write(abi))
        .map_err(failed)?
        .create()
        .map_err(failed)?;
    for path in writable {
        let fd =
            PathFd::new(path).map_err(|error| Message::Failed(format!("landlock: {}: {error}", path.display())))?;
        ruleset = ruleset
            .add_rule(PathBeneath::new(fd, AccessFs::from_write(abi)))
            .map_err(failed)?;
    }
    // Only when they are files: a pipe needs no rule (and Landlock refuses one).
    for stream in ["/proc/self/fd/1", "/proc/self/fd/2"] {
        if let Ok(fd) = PathFd::new(stream).map_err(drop).and_then(|fd| {
            let is_file = std::fs::metadata(stream).is_ok_and(|metadata| metadata.is_file());
            if is_file { Ok(fd) } else { Err(()) }
        }) {
            ruleset = ruleset
                .add_rule(PathBeneath::new(fd, AccessFs::WriteFile))
                .map_err(failed)?;
        }
    }
    let status = ruleset.restrict_self().map_err(failed)?;
    Ok(status.ruleset != RulesetStatus::NotEnforced)
}
