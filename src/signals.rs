//! Stopping cleanly on SIGINT and SIGTERM, for the run pipeline and the standalone adapter:
//! both must clean up (kill Case's process group, delete the token file) rather than die
//! mid-write. `evidence` records a stop instead ([`record_stop_requests`]): its trials see it,
//! end the `run` they started, and are recorded as interrupted, never as failed.

use std::sync::atomic::{AtomicI32, Ordering};

/// Resolves with the signal's name when the process receives SIGINT or SIGTERM (never, if
/// they cannot be watched).
pub(crate) async fn interrupted() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
        (Ok(mut int), Ok(mut term)) => tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        },
        _ => std::future::pending().await,
    }
}

/// Lets a reporting command end quietly when its reader goes away (`status | head`), as
/// `grep` does: Rust starts with SIGPIPE ignored, so the next `println!` to a closed pipe would
/// panic. Only for commands that read and print; never for `run` or the adapter, which must
/// outlive any reader (the run records an interruption; the adapter answers Case).
pub(crate) fn die_quietly_on_a_closed_pipe() {
    // SAFETY: restores the default disposition (no handler code runs) before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// How long, after the work is done or interrupted, the runtime waits for blocking tasks.
pub(crate) const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs `future` to completion on a fresh runtime, then shuts the runtime down without
/// waiting more than [`SHUTDOWN_GRACE`] for blocking tasks: a task stuck in a read or a hash
/// must not keep the process alive once the run has recorded its interruption (dropping a
/// runtime waits for every blocking task, however long it takes).
pub(crate) fn block_on<F: std::future::Future>(future: F) -> std::io::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let output = runtime.block_on(future);
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    Ok(output)
}

/// The signal that asked this process to stop, once [`record_stop_requests`] is in force.
static STOP_SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn remember_stop(signal: libc::c_int) {
    // Async-signal-safe: one atomic store.
    STOP_SIGNAL.store(signal, Ordering::SeqCst);
}

/// From now on SIGINT and SIGTERM do not kill this process: they are remembered, and
/// [`stop_requested`] says so. For `evidence`, whose trials must finish their bookkeeping.
/// Child processes start with the default disposition again (exec resets handlers).
pub(crate) fn record_stop_requests() -> std::io::Result<()> {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: installs a handler that only stores into an atomic; the sigaction struct is
        // fully initialised (zeroed, then its handler, flags and empty mask set).
        let installed = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = remember_stop as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if installed != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// `SIGINT` or `SIGTERM` when one has arrived since [`record_stop_requests`].
pub(crate) fn stop_requested() -> Option<&'static str> {
    match STOP_SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        libc::SIGTERM => Some("SIGTERM"),
        _ => Some("SIGINT"),
    }
}

/// The signal number of a name [`stop_requested`] returns.
pub(crate) fn number_of(signal: &str) -> libc::c_int {
    if signal == "SIGTERM" {
        libc::SIGTERM
    } else {
        libc::SIGINT
    }
}
