//! `case-harness __sandbox`: the process that builds Case's confinement and then becomes its
//! keeper. It runs before any async runtime exists, because `unshare(2)` of a user or PID
//! namespace and `fork(2)` are only sound in a single-threaded process.
//!
//! The outer process unshares mount, network and PID namespaces (plus a user namespace when
//! not root), brings `lo` up, makes the run folder read-only except its writable
//! sub-folders, hides the secret paths, binds the adapter's listener inside the network
//! namespace and hands it to the harness. On `Go` it forks the namespace's init (PID 1),
//! which mounts a fresh `/proc`, starts Case as PID 2 without capabilities, reaps orphans
//! and exits with Case. When init exits the kernel kills whatever is left in the namespace,
//! and the outer process's `waitpid` returns only once the namespace is empty: the harness
//! waits for the outer process before it scans or seals anything.

use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rustix::mount::{MountFlags, MountPropagationFlags};
use rustix::process::{Pid, Signal, WaitOptions};
use rustix::thread::{CapabilitySet, CapabilitySets, UnshareFlags};

use super::control::{self, Message};

/// What the harness asks of the sandbox (its argv, after `__sandbox`).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct SandboxArgs {
    /// The run folder, made read-only.
    pub run_dir: PathBuf,
    /// Sub-folders that stay writable.
    pub writable: Vec<PathBuf>,
    /// Paths made unreadable (an empty read-only tmpfs over a folder, `/dev/null` over a file).
    pub hidden: Vec<PathBuf>,
    /// Case's working directory (entered again after the mounts).
    pub working_dir: PathBuf,
    /// Port of the adapter's listener on the namespace's 127.0.0.1.
    pub port: u16,
    /// The inherited control socket.
    pub control_fd: i32,
    /// Case's argv.
    pub command: Vec<OsString>,
}

impl SandboxArgs {
    /// The argv that [`parse`](Self::parse) reads back (without the subcommand).
    pub(crate) fn to_args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec!["--run-dir".into(), self.run_dir.clone().into()];
        for path in &self.writable {
            args.extend(["--writable".into(), path.clone().into()]);
        }
        for path in &self.hidden {
            args.extend(["--hide".into(), path.clone().into()]);
        }
        args.extend([
            "--cwd".into(),
            self.working_dir.clone().into(),
            "--port".into(),
            self.port.to_string().into(),
            "--control-fd".into(),
            self.control_fd.to_string().into(),
            "--".into(),
        ]);
        args.extend(self.command.iter().cloned());
        args
    }

    /// Parses the argv written by [`to_args`](Self::to_args).
    pub(crate) fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Self, SandboxArgsError> {
        let mut parsed = SandboxArgs::default();
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            if flag == "--" {
                parsed.command = args.collect();
                break;
            }
            let value = args
                .next()
                .ok_or_else(|| SandboxArgsError::NoValue(flag.to_string_lossy().into_owned()))?;
            let number = |value: &OsString| {
                value
                    .to_str()
                    .and_then(|text| text.parse::<i64>().ok())
                    .ok_or_else(|| SandboxArgsError::NotANumber(flag.to_string_lossy().into_owned()))
            };
            match flag.to_str() {
                Some("--run-dir") => parsed.run_dir = value.into(),
                Some("--writable") => parsed.writable.push(value.into()),
                Some("--hide") => parsed.hidden.push(value.into()),
                Some("--cwd") => parsed.working_dir = value.into(),
                Some("--port") => {
                    parsed.port = u16::try_from(number(&value)?).map_err(|_| SandboxArgsError::OutOfRange("--port"))?;
                }
                Some("--control-fd") => {
                    parsed.control_fd =
                        i32::try_from(number(&value)?).map_err(|_| SandboxArgsError::OutOfRange("--control-fd"))?;
                }
                _ => return Err(SandboxArgsError::Unknown(flag.to_string_lossy().into_owned())),
            }
        }
        if parsed.command.is_empty() || parsed.run_dir.as_os_str().is_empty() || parsed.control_fd < 3 {
            return Err(SandboxArgsError::Incomplete);
        }
        Ok(parsed)
    }
}

/// Why the internal `__sandbox` argv (written by `SandboxArgs::to_args`) does not parse.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SandboxArgsError {
    /// A flag is last, with no value after it.
    #[error("{0} needs a value")]
    NoValue(String),
    /// A numeric flag's value is not an integer.
    #[error("{0}: not a number")]
    NotANumber(String),
    /// A numeric flag's value does not fit.
    #[error("{0}: out of range")]
    OutOfRange(&'static str),
    /// A flag `to_args` never writes.
    #[error("unknown argument {0}")]
    Unknown(String),
    /// A required part is missing.
    #[error("needs --run-dir, --control-fd and a command after --")]
    Incomplete,
}

/// Entry point of `case-harness __sandbox` (never returns to the CLI parser).
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args = match SandboxArgs::parse(args) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("case-harness __sandbox: {message} (internal subcommand of `run`)");
            return ExitCode::from(125);
        }
    };
    // SAFETY: the harness passed this descriptor (dup2'd to this number before exec) for this
    // process to own; nothing else in this fresh process uses it.
    let control = unsafe { OwnedFd::from_raw_fd(args.control_fd) };
    // Case must not inherit the control socket: only init and this process hold it.
    if rustix::io::fcntl_setfd(&control, rustix::io::FdFlags::CLOEXEC).is_err() {
        return ExitCode::from(125);
    }
    let listener = match confine(&args) {
        Ok(listener) => listener,
        Err(failure) => {
            let _ = control::send(control.as_fd(), &failure);
            return ExitCode::from(125);
        }
    };
    if control::send(control.as_fd(), &Message::Listener(listener.into())).is_err() {
        return ExitCode::from(125);
    }
    match control::receive(control.as_fd()) {
        Ok(Some(Message::Go)) => {}
        // The harness gave up before Case started: nothing to run.
        _ => return ExitCode::SUCCESS,
    }
    // Init cannot see this process from inside its namespace (getppid() is 0 there); a
    // pidfd of it tells init whether it died before the death signal was armed.
    let outer = match rustix::process::pidfd_open(rustix::process::getpid(), rustix::process::PidfdFlags::empty()) {
        Ok(pidfd) => pidfd,
        Err(error) => {
            let _ = control::send(control.as_fd(), &Message::Failed(format!("pidfd_open: {error}")));
            return ExitCode::from(125);
        }
    };
    // SAFETY: this process is single-threaded (no runtime was started), so the child may do
    // anything the parent could.
    let child = unsafe { libc::fork() };
    if child < 0 {
        let error = std::io::Error::last_os_error();
        let _ = control::send(control.as_fd(), &Message::Failed(format!("fork: {error}")));
        return ExitCode::from(125);
    }
    if child == 0 {
        init(&args, &control, &outer);
    }
    drop(outer);
    let Some(init_pid) = Pid::from_raw(child) else {
        return ExitCode::from(125);
    };
    match rustix::process::pidfd_open(init_pid, rustix::process::PidfdFlags::empty()) {
        Ok(pidfd) => {
            let _ = control::send(control.as_fd(), &Message::Init(pidfd));
        }
        Err(error) => {
            let _ = control::send(control.as_fd(), &Message::Failed(format!("pidfd_open: {error}")));
            let _ = rustix::process::kill_process(init_pid, Signal::KILL);
        }
    }
    // Returns once init has exited, i.e. once every process of the namespace is gone.
    while let Err(rustix::io::Errno::INTR) = rustix::process::waitpid(Some(init_pid), WaitOptions::empty()) {}
    ExitCode::SUCCESS
}

/// Builds the namespaces, mounts and listener; the error is the message for the harness.
fn confine(args: &SandboxArgs) -> Result<std::net::TcpListener, Message> {
    let failed = |what: String| move |error: rustix::io::Errno| Message::Failed(format!("{what}: {error}"));
    let (uid, gid) = (rustix::process::getuid(), rustix::process::getgid());
    let namespaces = UnshareFlags::NEWNS | UnshareFlags::NEWNET | UnshareFlags::NEWPID;
    // Root needs no user namespace; anyone else (or a root without CAP_SYS_ADMIN) maps its
    // own ids into one.
    let first = if uid.is_root() {
        unshare(namespaces)
    } else {
        Err(rustix::io::Errno::PERM)
    };
    if let Err(first_error) = first {
        unshare(namespaces | UnshareFlags::NEWUSER).map_err(|error| {
            Message::Unavailable(format!(
                "unshare(mount, network, PID namespaces): {first_error}; with a user namespace: {error}"
            ))
        })?;
        write_id_maps(uid.as_raw(), gid.as_raw())?;
    }
    loopback_up().map_err(|error| Message::Failed(format!("bringing up lo: {error}")))?;
    rustix::mount::mount_change("/", MountPropagationFlags::REC | MountPropagationFlags::PRIVATE)
        .map_err(failed("making / private".to_owned()))?;
    for path in &args.writable {
        rustix::mount::mount_bind(path, path).map_err(failed(format!("bind {}", path.display())))?;
    }
    rustix::mount::mount_bind_recursive(&args.run_dir, &args.run_dir)
        .map_err(failed(format!("rbind {}", args.run_dir.display())))?;
    // A remount must keep the flags the kernel locked (nosuid, nodev, ...) or it is refused
    // inside a user namespace.
    let kept = rustix::fs::statvfs(&args.run_dir)
        .map(|stat| locked_flags(stat.f_flag))
        .map_err(failed(format!("statvfs {}", args.run_dir.display())))?;
    rustix::mount::mount_remount(&args.run_dir, MountFlags::BIND | MountFlags::RDONLY | kept, "")
        .map_err(failed(format!("read-only remount of {}", args.run_dir.display())))?;
    for path in &args.hidden {
        hide(path)?;
    }
    std::env::set_current_dir(&args.working_dir)
        .map_err(|error| Message::Failed(format!("chdir {}: {error}", args.working_dir.display())))?;
    std::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)))
        .map_err(|error| Message::Failed(format!("binding 127.0.0.1:{} in the namespace: {error}", args.port)))
}

fn unshare(flags: UnshareFlags) -> rustix::io::Result<()> {
    // SAFETY: this process is single-threaded and holds no state that a new namespace
    // invalidates (the file-system view changes only for what it opens afterwards).
    unsafe { rustix::thread::unshare_unsafe(flags) }
}

fn write_id_maps(uid: u32, gid: u32) -> Result<(), Message> {
    for (file, text) in [
        ("/proc/self/setgroups", "deny".to_owned()),
        ("/proc/self/uid_map", format!("{uid} {uid} 1")),
        ("/proc/self/gid_map", format!("{gid} {gid} 1")),
    ] {
        std::fs::write(file, text).map_err(|error| Message::Failed(format!("{file}: {error}")))?;
    }
    Ok(())
}

fn locked_flags(flags: rustix::fs::StatVfsMountFlags) -> MountFlags {
    use rustix::fs::StatVfsMountFlags as Stat;
    [
        (Stat::NOSUID, MountFlags::NOSUID),
        (Stat::NODEV, MountFlags::NODEV),
        (Stat::NOEXEC, MountFlags::NOEXEC),
        (Stat::NOATIME, MountFlags::NOATIME),
        (Stat::NODIRATIME, MountFlags::NODIRATIME),
        (Stat::RELATIME, MountFlags::RELATIME),
    ]
    .into_iter()
    .filter(|(stat, _)| flags.contains(*stat))
    .fold(MountFlags::empty(), |all, (_, mount)| all | mount)
}

/// An empty read-only tmpfs over a folder; `/dev/null` over a file; nothing for a missing path.
fn hide(path: &Path) -> Result<(), Message> {
    let failed = |error: rustix::io::Errno| Message::Failed(format!("hiding {}: {error}", path.display()));
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.is_dir() => rustix::mount::mount(
            "tmpfs",
            path,
            "tmpfs",
            MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
            None,
        )
        .map_err(failed),
        Ok(_) => rustix::mount::mount_bind("/dev/null", path).map_err(failed),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(Message::Failed(format!("hiding {}: {error}", path.display()))),
    }
}

/// `ip link set lo up`, by ioctl: a fresh network namespace has `lo` down.
fn loopback_up() -> std::io::Result<()> {
    let socket = rustix::net::socket(rustix::net::AddressFamily::INET, rustix::net::SocketType::DGRAM, None)?;
    // SAFETY: ifreq is plain data; zeroed is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *slot = *byte as libc::c_char;
    }
    use std::os::fd::AsRawFd;
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write `request`, which outlives the calls.
    unsafe {
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &request) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// PID 1 of the new namespace: never returns.
fn init(args: &SandboxArgs, control: &OwnedFd, outer: &OwnedFd) -> ! {
    let fail = |text: String| -> ! {
        let _ = control::send(control.as_fd(), &Message::Failed(text));
        std::process::exit(125);
    };
    // Dies with the outer process, hence with the harness.
    if rustix::process::set_parent_process_death_signal(Some(Signal::KILL)).is_err() || has_exited(outer) {
        std::process::exit(125);
    }
    // This namespace's processes only: the harness (whose environment holds the upstream
    // key) and every other host process become invisible.
    if let Err(error) = rustix::mount::mount(
        "proc",
        "/proc",
        "proc",
        MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
        None,
    ) {
        fail(format!("mounting /proc: {error}"));
    }
    let (program, arguments) = match args.command.split_first() {
        Some(split) => split,
        None => fail("no Case command".to_owned()),
    };
    let mut command = std::process::Command::new(program);
    command.args(arguments).current_dir(&args.working_dir);
    // SAFETY: runs between fork and exec in a child of this single-threaded process; only
    // raw system calls through rustix, no allocation.
    unsafe {
        command.pre_exec(drop_privileges);
    }
    let case = match command.spawn() {
        Ok(case) => case,
        Err(error) => fail(format!(
            "cannot start Case command `{}`: {error}",
            Path::new(program).display()
        )),
    };
    let case_pid = Pid::from_child(&case);
    // Reap orphans until Case itself ends; returning then kills the rest of the namespace.
    let status = loop {
        match rustix::process::waitpid(None, WaitOptions::empty()) {
            Ok(Some((pid, status))) if pid == case_pid => break Some(status),
            Ok(_) | Err(rustix::io::Errno::INTR) => continue,
            Err(_) => break None,
        }
    };
    let message = match status.map(|status| std::process::ExitStatus::from_raw(status.as_raw())) {
        Some(status) => match (status.code(), status.signal()) {
            (Some(code), _) => Message::Exited(code),
            (None, Some(signal)) => Message::Signaled(signal),
            (None, None) => Message::Failed("Case ended without a status".to_owned()),
        },
        None => Message::Failed("lost track of Case".to_owned()),
    };
    let _ = control::send(control.as_fd(), &message);
    std::process::exit(0);
}

/// True when the process behind `pidfd` has exited (its pidfd is readable).
fn has_exited(pidfd: &OwnedFd) -> bool {
    use std::os::fd::AsRawFd;
    let mut poll = libc::pollfd {
        fd: pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    let ready = unsafe { libc::poll(&mut poll, 1, 0) };
    ready != 0
}

/// Case runs without any capability, even as root inside: it cannot remount the run folder,
/// unmount `/proc`, `setns` out or regain privileges through a set-uid program.
fn drop_privileges() -> std::io::Result<()> {
    for capability in CapabilitySet::all().iter() {
        match rustix::thread::remove_capability_from_bounding_set(capability) {
            // Capabilities this kernel does not know.
            Ok(()) | Err(rustix::io::Errno::INVAL) => {}
            Err(error) => return Err(error.into()),
        }
    }
    rustix::thread::set_no_new_privs(true)?;
    rustix::thread::set_capabilities(
        None,
        CapabilitySets {
            effective: CapabilitySet::empty(),
            permitted: CapabilitySet::empty(),
            inheritable: CapabilitySet::empty(),
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_survive_the_round_trip() {
        let args = SandboxArgs {
            run_dir: "/runs/one".into(),
            writable: vec!["/runs/one/case-output".into(), "/runs/one/case-home".into()],
            hidden: vec!["/keys".into()],
            working_dir: "/runs/one/case-output".into(),
            port: 47_100,
            control_fd: 3,
            command: vec!["python3".into(), "--".into(), "case.py".into()],
        };
        assert_eq!(SandboxArgs::parse(args.to_args()), Ok(args));
    }

    #[test]
    fn a_command_is_required() {
        let args = ["--run-dir", "/r", "--control-fd", "3", "--"].map(OsString::from);
        assert!(SandboxArgs::parse(args).is_err());
    }
}
