//! The harness's side of the sandbox: it starts the `__sandbox` init ([`super::inside`]) in
//! fresh namespaces, hands it the spec over the control socket, learns which layers the kernel
//! enforced, and stops it. What the report records about the confinement is built here.
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use super::control::{self, Message};
use super::identity::CASE_HOST_ID;
use super::inside;
use super::layers::{BoundHit, Bounds, Layer, UnknownLayer};

use crate::output::Isolation;

/// The hidden subcommand that runs [`inside::main`].
pub const SUBCOMMAND: &str = "__sandbox";

/// The adapter's port on the namespace's own loopback (nothing else listens there).
pub const ADAPTER_PORT: u16 = 47_100;

/// The descriptor number the control socket gets in the sandbox process.
const CONTROL_FD: i32 = 3;

/// How the confinement was done, as the report records it.
pub const HOW: &str = "kernel namespaces (rustix), seccomp (seccompiler), Landlock (landlock)";

/// Why Case could not be started confined.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The kernel refused the namespaces (no privilege, or namespaces disabled).
    #[error(
        "confinement_unavailable: the kernel refused the namespaces that confine Case ({reason}). \
         Run as root, or enable unprivileged user namespaces (sysctl user.max_user_namespaces > 0), \
         or pass --allow-unconfined to run Case unconfined (the report then says `isolation: none` \
         and `status` does not count it)"
    )]
    Unavailable {
        /// What the kernel said.
        reason: String,
    },
    /// The sandbox process failed while setting up and said why (over the control socket).
    #[error("cannot confine Case: {0}")]
    Setup(String),
    /// The harness's side of setting up the sandbox failed.
    #[error("cannot confine Case: {what}: {source}")]
    SetupIo {
        /// The step, e.g. `socketpair`.
        what: &'static str,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The blocking task that signals the sandbox did not finish.
    #[error("cannot confine Case: {0}")]
    SetupTask(#[source] tokio::task::JoinError),
    /// Case itself could not be started inside.
    #[error("{0}")]
    Spawn(String),
}

/// What to confine and how.
#[derive(Debug)]
pub struct SandboxSpec<'a> {
    /// The run folder (read-only inside).
    pub run_dir: &'a Path,
    /// Folders that stay writable (`case-output/`, `case-home/`, `--writable`).
    pub writable: Vec<PathBuf>,
    /// Paths Case must not read.
    pub hidden: Vec<PathBuf>,
    /// Case's working directory.
    pub working_dir: &'a Path,
    /// Case's argv.
    pub command: &'a [String],
    /// Case's whole environment.
    pub env: Vec<(String, String)>,
    /// Case's stdout and stderr.
    pub stdout: std::fs::File,
    /// See `stdout`.
    pub stderr: std::fs::File,
    /// What Case may consume.
    pub bounds: Bounds,
    /// Layers to leave out (the attack tests' controls only; the report shows it).
    pub without: Vec<Layer>,
}

/// A sandbox that has built its namespaces and waits for [`Sandbox::start_case`].
pub struct Sandbox {
    outer: tokio::process::Child,
    control: Arc<OwnedFd>,
    messages: tokio::sync::mpsc::UnboundedReceiver<Message>,
    init: Option<OwnedFd>,
    layers: Vec<Layer>,
}

/// How Case ended inside the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SandboxExit {
    /// Case's exit code.
    pub exit_code: Option<i32>,
    /// The signal that ended Case (SIGKILL when the harness stopped the sandbox).
    pub signal: Option<i32>,
    /// True when the harness stopped the sandbox at the timeout.
    pub timed_out: bool,
    /// The bound Case passed, when the sandbox ended it for that.
    pub bound: Option<BoundHit>,
}

impl Sandbox {
    /// Starts `case-harness __sandbox`, which builds the namespaces; returns the adapter's
    /// listener, bound inside the network namespace on `127.0.0.1:`[`ADAPTER_PORT`].
    pub async fn prepare(spec: SandboxSpec<'_>) -> Result<(Sandbox, std::net::TcpListener), SandboxError> {
        let setup = |what: &'static str, source: std::io::Error| SandboxError::SetupIo { what, source };
        let exe = std::env::current_exe().map_err(|error| setup("cannot locate this binary", error))?;
        let (harness_end, sandbox_end) = control::pair().map_err(|error| setup("socketpair", error))?;
        let args = inside::SandboxArgs {
            run_dir: spec.run_dir.to_owned(),
            writable: spec.writable,
            hidden: spec.hidden,
            working_dir: spec.working_dir.to_owned(),
            port: ADAPTER_PORT,
            control_fd: CONTROL_FD,
            bounds: spec.bounds,
            without: spec.without,
            command: spec.command.iter().map(Into::into).collect(),
        };
        let mut command = tokio::process::Command::new(&exe);
        command
            .arg(SUBCOMMAND)
            .args(args.to_args())
            .env_clear()
            .envs(spec.env)
            .current_dir(spec.working_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(spec.stdout))
            .stderr(Stdio::from(spec.stderr))
            .kill_on_drop(true);
        let inherited = sandbox_end.as_raw_fd();
        // SAFETY: runs between fork and exec; dup2/fcntl/prctl are async-signal-safe.
        unsafe {
            command.pre_exec(move || {
                // If the harness dies (even by SIGKILL) the sandbox dies, and with it init
                // and every process of the namespace.
                rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
                if inherited == CONTROL_FD {
                    let fd = std::os::fd::BorrowedFd::borrow_raw(inherited);
                    rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty())?;
                } else if libc::dup2(inherited, CONTROL_FD) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let outer = command
            .spawn()
            .map_err(|error| SandboxError::Setup(format!("cannot start the sandbox process {} in {}: {error}; the user running the harness must be able to execute it and to enter every folder above both", exe.display(), spec.working_dir.display())))?;
        drop(sandbox_end);
        let control = Arc::new(harness_end);
        let messages = spawn_reader(control.clone());
        let mut sandbox = Sandbox {
            outer,
            control,
            messages,
            init: None,
            layers: Vec::new(),
        };
        let mut message = sandbox.messages.recv().await;
        if let Some(Message::Layers(names)) = &message {
            sandbox.layers = names
                .split(',')
                .filter(|name| !name.is_empty())
                .map(str::parse)
                .collect::<Result<_, UnknownLayer>>()
                .map_err(|error| SandboxError::Setup(error.to_string()))?;
            message = sandbox.messages.recv().await;
        }
        match message {
            Some(Message::Listener(fd)) => {
                let listener = std::net::TcpListener::from(fd);
                listener
                    .set_nonblocking(true)
                    .map_err(|error| setup("listener", error))?;
                Ok((sandbox, listener))
            }
            Some(Message::Unavailable(reason)) => Err(SandboxError::Unavailable { reason }),
            Some(Message::Failed(reason)) => Err(SandboxError::Setup(reason)),
            Some(other) => Err(SandboxError::Setup(format!("unexpected message {other:?}"))),
            None => {
                let status = sandbox.outer.wait().await.ok();
                Err(SandboxError::Setup(format!(
                    "the sandbox process ended before it was ready ({status:?})"
                )))
            }
        }
    }

    /// Starts Case (as PID 2 of the namespace) and returns once init is running.
    pub async fn start_case(&mut self) -> Result<(), SandboxError> {
        let control = self.control.clone();
        tokio::task::spawn_blocking(move || control::send(control.as_fd(), &Message::Go))
            .await
            .map_err(SandboxError::SetupTask)?
            .map_err(|source| SandboxError::SetupIo {
                what: "cannot signal the sandbox",
                source,
            })?;
        match self.messages.recv().await {
            Some(Message::Init(pidfd)) => {
                self.init = Some(pidfd);
                Ok(())
            }
            Some(Message::Failed(reason)) => Err(SandboxError::Setup(reason)),
            other => Err(SandboxError::Setup(format!(
                "the sandbox did not start init ({other:?})"
            ))),
        }
    }

    /// Waits for Case to end, or kills the whole namespace at `timeout`; returns only once
    /// every process of the namespace is gone.
    pub async fn wait(&mut self, timeout: Duration) -> Result<SandboxExit, SandboxError> {
        let mut exit = SandboxExit {
            exit_code: None,
            signal: None,
            timed_out: false,
            bound: None,
        };
        let mut spawn_error = None;
        let ended = tokio::time::timeout(timeout, async {
            while let Some(message) = self.messages.recv().await {
                match message {
                    Message::Exited(code) => exit.exit_code = Some(code),
                    Message::Signaled(signal) => exit.signal = Some(signal),
                    Message::Failed(reason) => spawn_error = Some(reason),
                    Message::BoundHit(text) => exit.bound = BoundHit::decode(&text),
                    _ => {}
                }
            }
        })
        .await;
        if ended.is_err() {
            exit.timed_out = true;
            self.kill();
        }
        let status = self.outer.wait().await.map_err(|source| SandboxError::SetupIo {
            what: "lost track of the sandbox",
            source,
        })?;
        if let Some(reason) = spawn_error {
            return Err(SandboxError::Spawn(reason));
        }
        if exit.exit_code.is_none() && exit.signal.is_none() {
            if !exit.timed_out {
                return Err(SandboxError::Setup(format!(
                    "the sandbox ended ({status}) without reporting how Case ended"
                )));
            }
            // Killed at the timeout: init and Case died by SIGKILL.
            exit.signal = Some(libc::SIGKILL);
        }
        Ok(exit)
    }

    /// The layers the sandbox reported in force.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// Kills init, hence every process of the namespace.
    pub(crate) fn kill(&self) {
        if let Some(init) = &self.init {
            let _ = rustix::process::pidfd_send_signal(init, rustix::process::Signal::KILL);
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // Cancelled (interrupt, error): nothing of Case may outlive the run. Killing init
        // empties the namespace; `kill_on_drop` ends the outer process too.
        self.kill();
    }
}

/// Reads control messages on a blocking thread until every other end is closed.
fn spawn_reader(control: Arc<OwnedFd>) -> tokio::sync::mpsc::UnboundedReceiver<Message> {
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        while let Ok(Some(message)) = control::receive(control.as_fd()) {
            if sender.send(message).is_err() {
                break;
            }
        }
    });
    receiver
}

/// The isolation a confined run had, as the report and the trace record it.
pub(crate) fn confined_isolation(
    layers: &[Layer],
    writable: &[PathBuf],
    hidden: &[PathBuf],
    bounds: Bounds,
) -> Isolation {
    let unprivileged = layers.contains(&Layer::UnprivilegedUser);
    let uid = match rustix::process::getuid().as_raw() {
        0 if unprivileged => CASE_HOST_ID,
        uid => uid,
    };
    let mut isolation = Isolation::confined(uid, HOW);
    if let Isolation::Confined(confinement) = &mut isolation {
        if !layers.contains(&Layer::ReadOnlyHost) {
            "read_only_run_folder".clone_into(&mut confinement.filesystem);
        }
        let shown = |paths: &[PathBuf]| paths.iter().map(|path| path.display().to_string()).collect();
        confinement.layers = layers.iter().map(|layer| layer.name().to_owned()).collect();
        confinement.writable = shown(writable);
        confinement.hidden = shown(hidden);
        confinement.bounds = Some(bounds);
    }
    isolation
}
