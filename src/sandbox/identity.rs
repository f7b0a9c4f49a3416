//! Who Case is inside its sandbox: a non-zero uid through a user namespace, owning nothing on
//! the host, without capabilities, even when the harness is root.
//!
//! * The harness as root: the namespace maps inside uid 0 to host root (for the sandbox's own
//!   set-up, which must read the run folder wherever it lies) and inside uid
//!   [`CASE_INSIDE_ID`] to host [`CASE_HOST_ID`] (`nobody`), which Case becomes. Such a map
//!   can only be written from the parent namespace, so a short-lived child of the sandbox
//!   process writes it. Case keeps one capability, `CAP_DAC_READ_SEARCH`, in its own user
//!   namespace only: it lets Case read and enter root-owned folders (a checkout under a
//!   0700 `/root`, pyenv's Python) that `nobody` could not, and nothing else — no write, no
//!   ownership, and it covers no file whose owner or group the namespace does not map
//!   (`/etc/shadow` belongs to group `shadow`).
//! * The harness as a normal user: the namespace maps that user to itself, and Case is that
//!   user, as the user's own sandboxes (bubblewrap, Codex) do.

use rustix::process::{Gid, Uid};
use rustix::thread::{CapabilitySet, CapabilitySets, UnshareFlags};

use super::control::Message;

/// The host uid and gid Case runs as when the harness is root (`nobody`).
pub const CASE_HOST_ID: u32 = 65_534;

/// Case's uid and gid inside its user namespace when the harness is root.
const CASE_INSIDE_ID: u32 = 1_000;

/// Case's ids inside the namespace, and whether it keeps read-and-search over root's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CaseIdentity {
    /// The uid and gid Case switches to inside the namespace; `None` keeps the sandbox's own.
    switch_to: Option<u32>,
    /// True when Case keeps `CAP_DAC_READ_SEARCH` in its user namespace (harness as root).
    read_search: bool,
}

impl CaseIdentity {
    /// Case stays what the sandbox process is (the control run without a user namespace:
    /// root without capabilities).
    pub(crate) const UNCHANGED: CaseIdentity = CaseIdentity {
        switch_to: None,
        read_search: false,
    };
}

/// Unshares `namespaces` together with a new user namespace and writes its id maps;
/// returns who Case will be.
pub(super) fn unshare_with_user_namespace(namespaces: UnshareFlags) -> Result<CaseIdentity, Message> {
    let (uid, gid) = (rustix::process::getuid(), rustix::process::getgid());
    if uid.is_root() {
        unshare_as_root(namespaces)
    } else {
        unshare(namespaces | UnshareFlags::NEWUSER).map_err(|error| {
            Message::Unavailable(format!(
                "unshare(user, mount, network, PID, UTS, IPC, cgroup namespaces): {error}"
            ))
        })?;
        // An unprivileged process may map only itself, and must give up setgroups(2) to do it.
        for (file, text) in [
            ("/proc/self/setgroups", "deny".to_owned()),
            ("/proc/self/uid_map", format!("{0} {0} 1", uid.as_raw())),
            ("/proc/self/gid_map", format!("{0} {0} 1", gid.as_raw())),
        ] {
            std::fs::write(file, text).map_err(|error| Message::Failed(format!("{file}: {error}")))?;
        }
        Ok(CaseIdentity {
            switch_to: None,
            read_search: false,
        })
    }
}

/// The root harness's map, written by a child that stays in the parent namespace.
fn unshare_as_root(namespaces: UnshareFlags) -> Result<CaseIdentity, Message> {
    let failed = |what: &str, error: rustix::io::Errno| Message::Failed(format!("{what}: {error}"));
    let me = rustix::process::getpid();
    let (ready_read, ready_write) = rustix::pipe::pipe().map_err(|error| failed("pipe", error))?;
    // SAFETY: this process is single-threaded (no runtime was started).
    let mapper = unsafe { libc::fork() };
    if mapper < 0 {
        return Err(Message::Failed(format!("fork: {}", std::io::Error::last_os_error())));
    }
    if mapper == 0 {
        drop(ready_write);
        let mut byte = [0u8; 1];
        let code = match rustix::io::read(&ready_read, &mut byte) {
            Ok(1) => i32::from(write_root_maps(me.as_raw_nonzero().get()).is_err()),
            _ => 2,
        };
        // SAFETY: ends the forked child without running the parent's exit handlers.
        unsafe { libc::_exit(code) };
    }
    drop(ready_read);
    let unshared = unshare(namespaces | UnshareFlags::NEWUSER);
    // Tell the mapper to write (one byte) or to give up (the pipe closes without one).
    if unshared.is_ok() {
        let _ = rustix::io::write(&ready_write, b"m");
    }
    drop(ready_write);
    let mut status = 0;
    // SAFETY: waits for the child forked above.
    let waited = unsafe { libc::waitpid(mapper, &mut status, 0) };
    unshared.map_err(|error| {
        Message::Unavailable(format!(
            "unshare(user, mount, network, PID, UTS, IPC, cgroup namespaces) as root: {error}"
        ))
    })?;
    if waited != mapper || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        // E.g. a "root" that is itself inside a user namespace without uid 65534.
        return Err(Message::Unavailable(
            "could not write the user namespace's uid/gid maps (uid 0 → 0, 1000 → 65534)".to_owned(),
        ));
    }
    Ok(CaseIdentity {
        switch_to: Some(CASE_INSIDE_ID),
        read_search: true,
    })
}

/// Inside 0 → host 0 (the sandbox's set-up), inside [`CASE_INSIDE_ID`] → host [`CASE_HOST_ID`].
fn write_root_maps(pid: i32) -> std::io::Result<()> {
    let map = format!("0 0 1\n{CASE_INSIDE_ID} {CASE_HOST_ID} 1\n");
    std::fs::write(format!("/proc/{pid}/uid_map"), &map)?;
    std::fs::write(format!("/proc/{pid}/gid_map"), &map)
}

/// Unshares without a user namespace (the root harness's control run only).
pub(super) fn unshare(flags: UnshareFlags) -> rustix::io::Result<()> {
    // SAFETY: this process is single-threaded and holds no state that a new namespace
    // invalidates (the file-system view changes only for what it opens afterwards).
    unsafe { rustix::thread::unshare_unsafe(flags) }
}

/// Becomes Case: the switch of ids, every capability gone but the one [`CaseIdentity`]
/// keeps, `no_new_privs`. Runs between fork and exec of Case's command.
pub(crate) fn become_case(identity: CaseIdentity) -> std::io::Result<()> {
    let kept = if identity.read_search {
        CapabilitySet::DAC_READ_SEARCH
    } else {
        CapabilitySet::empty()
    };
    for capability in CapabilitySet::all().iter() {
        if kept.contains(capability) {
            continue;
        }
        match rustix::thread::remove_capability_from_bounding_set(capability) {
            // Capabilities this kernel does not know.
            Ok(()) | Err(rustix::io::Errno::INVAL) => {}
            Err(error) => return Err(error.into()),
        }
    }
    if let Some(id) = identity.switch_to {
        rustix::thread::set_thread_groups(&[])?;
        let (uid, gid) = (Uid::from_raw(id), Gid::from_raw(id));
        rustix::thread::set_thread_res_gid(gid, gid, gid)?;
        // Keep the permitted set across the switch, so that `kept` can be made ambient.
        rustix::thread::set_keep_capabilities(true)?;
        rustix::thread::set_thread_res_uid(uid, uid, uid)?;
        rustix::thread::set_keep_capabilities(false)?;
    }
    rustix::thread::set_capabilities(
        None,
        CapabilitySets {
            effective: kept,
            permitted: kept,
            inheritable: kept,
        },
    )?;
    if identity.read_search {
        // Ambient: survives the exec of a program without file capabilities.
        rustix::thread::configure_capability_in_ambient_set(CapabilitySet::DAC_READ_SEARCH, true)?;
    }
    rustix::thread::set_no_new_privs(true)?;
    Ok(())
}
