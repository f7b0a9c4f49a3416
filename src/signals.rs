//! Stopping cleanly on SIGINT and SIGTERM, for the run pipeline and the standalone adapter:
//! both must clean up (kill Case's process group, delete the token file) rather than die
//! mid-write.

/// Resolves with the signal's name when the process receives SIGINT or SIGTERM (never, if
/// they cannot be watched).
pub async fn interrupted() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
        (Ok(mut int), Ok(mut term)) => tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        },
        _ => std::future::pending().await,
    }
}
