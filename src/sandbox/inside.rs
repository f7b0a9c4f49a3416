//! `case-harness __sandbox`: the process that builds Case's confinement and then becomes its
//! keeper. It runs before any async runtime exists, because `unshare(2)` of a user or PID
//! namespace and `fork(2)` are only sound in a single-threaded process.
//!
//! The outer process unshares user, mount, network, PID, UTS, IPC and cgroup namespaces
//! (`identity`), brings `lo` up, builds Case's view of the file system (`view`: the host
//! read-only, the writable folders, a private `/tmp`, the hidden paths), binds the adapter's
//! listener inside the network namespace and hands it to the harness with the list of layers
//! in force. On `Go` it forks the namespace's init (PID 1), which mounts a fresh `/proc` with
//! `/proc/sys` read-only, puts the seccomp filter and Landlock on itself (`filters`), starts
//! Case as PID 2 as an unprivileged user, keeps its bounds (`bounds`), reaps orphans and
//! exits with Case. When init exits the kernel kills whatever is left in the namespace, and
//! the outer process's `waitpid` returns only once the namespace is empty: the harness waits
//! for the outer process before it scans or seals anything.

use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rustix::mount::MountFlags;
use rustix::process::{Pid, Signal, WaitOptions};
use rustix::thread::UnshareFlags;

use super::bounds::{self, Usage};
use super::control::{self, Message};
use super::filters;
use super::identity::{self, CaseIdentity};
use super::layers::{Bounds, Layer};
use super::view::{self, ViewSpec};

/// What the harness asks of the sandbox (its argv, after `__sandbox`).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct SandboxArgs {
    /// The run folder.
    pub run_dir: PathBuf,
    /// Folders that stay writable (`case-output/`, `case-home/`, `--writable`).
    pub writable: Vec<PathBuf>,
    /// Paths made unreadable (an empty read-only tmpfs over a folder, `/dev/null` over a file).
    pub hidden: Vec<PathBuf>,
    /// Case's working directory (entered again after the mounts).
    pub working_dir: PathBuf,
    /// Port of the adapter's listener on the namespace's 127.0.0.1.
    pub port: u16,
    /// The inherited control socket.
    pub control_fd: i32,
    /// What Case may consume.
    pub bounds: Bounds,
    /// Layers left out: only the attack tests' controls ask for this, and the report then
    /// lists the layers without them.
    pub without: Vec<Layer>,
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
        for layer in &self.without {
            args.extend(["--without".into(), layer.name().into()]);
        }
        let numbers = [
            ("--port", u64::from(self.port)),
            ("--control-fd", self.control_fd as u64),
            ("--max-processes", self.bounds.processes),
            ("--max-memory", self.bounds.memory_bytes),
            ("--max-written", self.bounds.written_bytes),
            ("--tmp-size", self.bounds.tmp_bytes),
        ];
        for (flag, value) in numbers {
            args.extend([flag.into(), value.to_string().into()]);
        }
        args.extend(["--cwd".into(), self.working_dir.clone().into(), "--".into()]);
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
            let flag_text = flag.to_string_lossy().into_owned();
            let value = args
                .next()
                .ok_or_else(|| SandboxArgsError::NoValue(flag_text.clone()))?;
            let number = || {
                value
                    .to_str()
                    .and_then(|text| text.parse::<u64>().ok())
                    .ok_or_else(|| SandboxArgsError::NotANumber(flag_text.clone()))
            };
            match flag_text.as_str() {
                "--run-dir" => parsed.run_dir = value.into(),
                "--writable" => parsed.writable.push(value.into()),
                "--hide" => parsed.hidden.push(value.into()),
                "--cwd" => parsed.working_dir = value.into(),
                "--without" => parsed.without.push(
                    value
                        .to_str()
                        .and_then(|name| name.parse().ok())
                        .ok_or_else(|| SandboxArgsError::Unknown(value.to_string_lossy().into_owned()))?,
                ),
                "--port" => {
                    parsed.port = u16::try_from(number()?).map_err(|_| SandboxArgsError::OutOfRange("--port"))?
                }
                "--control-fd" => {
                    parsed.control_fd =
                        i32::try_from(number()?).map_err(|_| SandboxArgsError::OutOfRange("--control-fd"))?;
                }
                "--max-processes" => parsed.bounds.processes = number()?,
                "--max-memory" => parsed.bounds.memory_bytes = number()?,
                "--max-written" => parsed.bounds.written_bytes = number()?,
                "--tmp-size" => parsed.bounds.tmp_bytes = number()?,
                _ => return Err(SandboxArgsError::Unknown(flag_text)),
            }
        }
        if parsed.command.is_empty() || parsed.run_dir.as_os_str().is_empty() || parsed.control_fd < 3 {
            return Err(SandboxArgsError::Incomplete);
        }
        Ok(parsed)
    }

    fn has(&self, layer: Layer) -> bool {
        !self.without.contains(&layer)
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
    let (listener, identity, mut layers) = match confine(&args) {
        Ok(confined) => confined,
        Err(failure) => {
            let _ = control::send(control.as_fd(), &failure);
            return ExitCode::from(125);
        }
    };
    // Init's own layers (it puts them in place after `Go`, and fails the run if it cannot).
    layers.extend(
        [Layer::ProcSysReadOnly, Layer::Seccomp, Layer::Bounds]
            .into_iter()
            .filter(|layer| args.has(*layer)),
    );
    if args.has(Layer::Landlock) && landlock_available() {
        layers.push(Layer::Landlock);
    }
    layers.sort();
    let names: Vec<&str> = layers.iter().map(|layer| layer.name()).collect();
    if control::send(control.as_fd(), &Message::Layers(names.join(","))).is_err()
        || control::send(control.as_fd(), &Message::Listener(listener.into())).is_err()
    {
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
        init(&args, identity, &layers, &control, &outer);
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

/// Builds the namespaces, the file-system view and the listener; returns them with who Case
/// will be and the layers in force so far. The error is the message for the harness.
fn confine(args: &SandboxArgs) -> Result<(std::net::TcpListener, CaseIdentity, Vec<Layer>), Message> {
    let namespaces = UnshareFlags::NEWNS
        | UnshareFlags::NEWNET
        | UnshareFlags::NEWPID
        | UnshareFlags::NEWUTS
        | UnshareFlags::NEWIPC
        | UnshareFlags::NEWCGROUP;
    let mut layers = vec![
        Layer::NetworkNamespace,
        Layer::PidNamespace,
        Layer::UtsIpcCgroupNamespaces,
    ];
    let identity = if args.has(Layer::UnprivilegedUser) || !rustix::process::getuid().is_root() {
        let identity = identity::unshare_with_user_namespace(namespaces)?;
        layers.push(Layer::UnprivilegedUser);
        identity
    } else {
        // The control run (root only): Case stays uid 0, without capabilities.
        identity::unshare(namespaces).map_err(|error| {
            Message::Unavailable(format!("unshare(mount, network, PID, UTS, IPC, cgroup): {error}"))
        })?;
        CaseIdentity::UNCHANGED
    };
    let _ = rustix::system::sethostname(b"case-sandbox");
    loopback_up().map_err(|error| Message::Failed(format!("bringing up lo: {error}")))?;
    let spec = ViewSpec {
        run_dir: &args.run_dir,
        writable: &args.writable,
        hidden: &args.hidden,
        kept_under_tmp: kept_under_tmp(args),
        tmp_bytes: args.bounds.tmp_bytes,
        read_only_host: args.has(Layer::ReadOnlyHost),
        hide: args.has(Layer::HiddenPaths),
    };
    layers.extend(view::build(&spec)?);
    std::env::set_current_dir(&args.working_dir)
        .map_err(|error| Message::Failed(format!("chdir {}: {error}", args.working_dir.display())))?;
    let listener = std::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)))
        .map_err(|error| Message::Failed(format!("binding 127.0.0.1:{} in the namespace: {error}", args.port)))?;
    Ok((listener, identity, layers))
}

/// The entries of `/tmp` that Case needs in its private `/tmp`: each existing top-level entry
/// (e.g. `/tmp/ci.XXXX`) that holds the run folder, the working or writable folders, or that
/// Case's command line or environment names anywhere in a value (a Case script in a temporary
/// folder, a `PATH` entry, a path inside `sh -c "…"`). Whole entries, not single files: a
/// script's siblings come with it, as they would outside `/tmp`. They stay read-only, but for
/// the writable folders inside.
fn kept_under_tmp(args: &SandboxArgs) -> Vec<PathBuf> {
    let folders = [&args.run_dir, &args.working_dir]
        .into_iter()
        .chain(&args.writable)
        .map(|path| path.as_os_str().to_owned());
    let mut kept: Vec<PathBuf> = args
        .command
        .iter()
        .cloned()
        .chain(std::env::vars_os().map(|(_, value)| value))
        .chain(folders)
        .flat_map(|value| tmp_entries_named_in(&value.to_string_lossy()))
        .filter(|entry| entry.exists())
        .collect();
    kept.sort();
    kept.dedup();
    kept
}

/// `/tmp/NAME` for every `/tmp/NAME…` in `text` that starts a path (at the start of `text` or
/// after a character that cannot be part of a name, so `/var/tmp/x` does not count).
fn tmp_entries_named_in(text: &str) -> Vec<PathBuf> {
    const PREFIX: &str = "/tmp/";
    let ends_name = |c: char| c == '/' || c.is_whitespace() || "'\"`;:&|()<>$=,".contains(c);
    text.match_indices(PREFIX)
        .filter(|(at, _)| {
            text[..*at]
                .chars()
                .next_back()
                .is_none_or(|before| !before.is_alphanumeric() && before != '_' && before != '.')
        })
        .filter_map(|(at, _)| {
            let rest = &text[at + PREFIX.len()..];
            let name = &rest[..rest.find(ends_name).unwrap_or(rest.len())];
            (!name.is_empty() && name != "." && name != "..").then(|| Path::new("/tmp").join(name))
        })
        .collect()
}

/// True when this kernel enforces Landlock (the ABI version answers).
fn landlock_available() -> bool {
    // SAFETY: LANDLOCK_CREATE_RULESET_VERSION with a null attribute only asks for the ABI.
    let abi = unsafe { libc::syscall(libc::SYS_landlock_create_ruleset, std::ptr::null::<u8>(), 0usize, 1u32) };
    abi >= 1
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
fn init(args: &SandboxArgs, identity: CaseIdentity, layers: &[Layer], control: &OwnedFd, outer: &OwnedFd) -> ! {
    let fail = |text: String| -> ! {
        let _ = control::send(control.as_fd(), &Message::Failed(text));
        std::process::exit(125);
    };
    // Dies with the outer process, hence with the harness.
    if rustix::process::set_parent_process_death_signal(Some(Signal::KILL)).is_err() || has_exited(outer) {
        std::process::exit(125);
    }
    if let Err(failure) = prepare_init(args, layers) {
        let _ = control::send(control.as_fd(), &failure);
        std::process::exit(125);
    }
    let (program, arguments) = match args.command.split_first() {
        Some(split) => split,
        None => fail("no Case command".to_owned()),
    };
    let mut command = std::process::Command::new(program);
    command.args(arguments).current_dir(&args.working_dir);
    let bounds = args.bounds;
    let bounded = layers.contains(&Layer::Bounds);
    // SAFETY: runs between fork and exec in a child of this single-threaded process.
    unsafe {
        command.pre_exec(move || {
            if bounded {
                bounds::set_rlimits(&bounds)?;
            }
            identity::become_case(identity)
        });
    }
    let case = match command.spawn() {
        Ok(case) => case,
        Err(error) => fail(format!(
            "cannot start Case command `{}`: {error}",
            Path::new(program).display()
        )),
    };
    let message = match keep(&case, bounded.then_some(&args.bounds), control) {
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

/// Init's own set-up: a `/proc` of this namespace only (the harness, whose environment holds
/// the upstream key, and every other host process become invisible) with `/proc/sys`
/// read-only, then the filters, which init and everything after it keep.
fn prepare_init(args: &SandboxArgs, layers: &[Layer]) -> Result<(), Message> {
    rustix::mount::mount(
        "proc",
        "/proc",
        "proc",
        MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
        None,
    )
    .map_err(|error| Message::Failed(format!("mounting /proc: {error}")))?;
    if layers.contains(&Layer::ProcSysReadOnly) {
        view::proc_sys_read_only()?;
    }
    let seccomp = layers
        .contains(&Layer::Seccomp)
        .then(filters::Seccomp::compile)
        .transpose()?;
    rustix::thread::set_no_new_privs(true).map_err(|error| Message::Failed(format!("no_new_privs: {error}")))?;
    if layers.contains(&Layer::Landlock) {
        let writable: Vec<PathBuf> = args
            .writable
            .iter()
            .cloned()
            .chain(["/tmp", "/dev/shm", "/dev"].map(PathBuf::from))
            .filter(|path| path.exists())
            .collect();
        if !filters::landlock_writes(&writable)? {
            return Err(Message::Failed(
                "landlock: the kernel did not enforce the ruleset".to_owned(),
            ));
        }
    }
    if let Some(seccomp) = seccomp {
        seccomp.apply()?;
    }
    Ok(())
}

/// Reaps orphans and keeps the bounds until Case itself ends; returning then kills the rest
/// of the namespace. A bound passed ends every process of the namespace and is reported.
fn keep(case: &std::process::Child, bounds: Option<&Bounds>, control: &OwnedFd) -> Option<std::process::ExitStatus> {
    let case_pid = Pid::from_child(case);
    let case_exited = rustix::process::pidfd_open(case_pid, rustix::process::PidfdFlags::empty()).ok();
    let mut reported = false;
    loop {
        match rustix::process::waitpid(None, WaitOptions::NOHANG) {
            Ok(Some((pid, status))) if pid == case_pid => {
                // Reaped, Case's writes (and its reaped children's) are now init's: a last
                // look catches a writer that ended between two ticks.
                if let Some(hit) = bounds
                    .filter(|_| !reported)
                    .and_then(|bounds| Usage::read().over(bounds))
                {
                    let _ = control::send(control.as_fd(), &Message::BoundHit(hit.encode()));
                }
                return Some(std::process::ExitStatus::from_raw(status.as_raw()));
            }
            // An orphan reaped, or interrupted: look again at once.
            Ok(Some(_)) | Err(rustix::io::Errno::INTR) => continue,
            Ok(None) => {}
            Err(_) => return None,
        }
        if let Some(bounds) = bounds.filter(|_| !reported)
            && let Some(hit) = Usage::read().over(bounds)
        {
            let _ = control::send(control.as_fd(), &Message::BoundHit(hit.encode()));
            // SAFETY: kill(-1) from a namespace's init signals every other process in it.
            unsafe { libc::kill(-1, libc::SIGKILL) };
            reported = true;
        }
        wait_for(case_exited.as_ref());
    }
}

/// Sleeps one tick, or less when Case exits (its pidfd becomes readable).
fn wait_for(case_exited: Option<&OwnedFd>) {
    use std::os::fd::AsRawFd;
    let mut poll = libc::pollfd {
        fd: case_exited.map_or(-1, AsRawFd::as_raw_fd),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd (a negative fd is ignored by poll), a bounded timeout.
    unsafe { libc::poll(&mut poll, 1, bounds::TICK.as_millis() as libc::c_int) };
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
            bounds: Bounds {
                processes: 7,
                ..Bounds::default()
            },
            without: vec![Layer::Seccomp],
            command: vec!["python3".into(), "--".into(), "case.py".into()],
        };
        assert_eq!(SandboxArgs::parse(args.to_args()), Ok(args));
    }

    #[test]
    fn tmp_entries_are_found_wherever_a_value_names_them() {
        let found = |text: &str| tmp_entries_named_in(text);
        assert_eq!(found("/tmp/ci.X/fresh/case.py"), vec![PathBuf::from("/tmp/ci.X")]);
        assert_eq!(
            found("{ rm x; } 2>/dev/null; exec python3 /tmp/a/b.py && cat '/tmp/c'"),
            vec![PathBuf::from("/tmp/a"), PathBuf::from("/tmp/c")]
        );
        assert_eq!(found("/usr/bin:/tmp/bin:/bin"), vec![PathBuf::from("/tmp/bin")]);
        assert!(found("/var/tmp/x /tmp/../etc /tmp/ /tmp").is_empty());
    }

    #[test]
    fn a_command_is_required() {
        let args = ["--run-dir", "/r", "--control-fd", "3", "--"].map(OsString::from);
        assert!(SandboxArgs::parse(args).is_err());
    }
}
