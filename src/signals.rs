//! Stopping cleanly on SIGINT and SIGTERM, for the run pipeline and the standalone adapter:
//! both must clean up (kill Case's process group, delete the token file) rather than die
//! mid-write.

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
