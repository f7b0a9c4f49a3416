//! The adapter server's lifecycle: [`AdapterConfig`] in, [`start`] binds the loopback
//! listener and builds the [`Shared`] state every request sees, and
//! [`AdapterHandle`] stops it and hands back the totals.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use axum::http::HeaderValue;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::forward::{Forwarder, ForwarderError};
use super::ledger::{Ledger, LedgerTotals, Scrubber};
use super::routing::{BODY_BUDGET_UNIT, MAX_BUFFERED_BODY_BYTES, MAX_IN_FLIGHT, handle};
use super::state::Shared;
use super::tokenizer::TokenizerProbe;
use super::upstream_api::{self, AdapterMode, Asked, ResponsesUpstream, UpstreamApi};
use crate::output::SamplingPin;
use crate::secrets::SecretValue;
use crate::trace::{Trace, TraceEvent};
use crate::upstream::{self, LocalBaseUrl};

/// `upstream_timeout` of the standalone adapter.
pub(crate) const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(300);
/// How long [`AdapterHandle::shutdown`] waits for requests in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Everything one adapter needs. Built by the run pipeline from the admission record and
/// the environment.
#[derive(Debug, Clone)]
pub struct AdapterConfig {
    /// The local provider's OpenAI-compatible base URL, e.g. `http://127.0.0.1:8080/v1`.
    pub upstream: LocalBaseUrl,
    /// The admitted model (`case_model`): the only name ever forwarded.
    pub model: String,
    /// Secret for the upstream (`CTO_HARNESS_CASE_LOCAL_API_KEY`), sent only upstream.
    pub upstream_key: Option<SecretValue>,
    /// The per-run token Case must present.
    pub case_token: SecretValue,
    /// Where to write the ledger (created or truncated at start); `None` keeps no file.
    pub ledger_path: Option<PathBuf>,
    /// The run trace; the adapter writes `adapter_started`, `fallback_attempt` and
    /// `adapter_stopped` events to it.
    pub trace: Trace,
    /// Bound on waiting for the upstream's response headers, and on each silence between
    /// two chunks of its body.
    pub upstream_timeout: Duration,
    /// Which API the upstream speaks for the Anthropic routes (`--upstream-api`): `Auto`
    /// probes it at start (see `adapter/upstream_api/`).
    pub upstream_api: UpstreamApi,
    /// The sampling pin (`--temperature`, `--seed`) set on every forwarded generation
    /// request, whatever Case sent; empty pins nothing.
    pub sampling: SamplingPin,
}

/// Why the adapter could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// The listen address is not loopback.
    #[error("refusing to listen on {addr}: the adapter listens only on loopback addresses")]
    ListenNotLoopback {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The admitted model name cannot be served.
    #[error("cannot serve model {model:?}: {reason}")]
    InvalidModel {
        /// The name as given.
        model: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The listen socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The ledger file could not be created.
    #[error("cannot create the ledger {}: {source}", path.display())]
    Ledger {
        /// The ledger path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The trace could not be written.
    #[error("cannot write the trace: {0}")]
    Trace(#[source] std::io::Error),
    /// The upstream HTTP client could not be built.
    #[error("cannot build the upstream HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// The forwarding client cannot be made (an endpoint URL, the upstream key).
    #[error("cannot build the upstream forwarding client: {0}")]
    Forwarder(#[source] ForwarderError),
    /// The upstream's `host:port` cannot be sent as the `Host` header.
    #[error("cannot build the upstream HTTP client: upstream host {0:?} is not a header value")]
    UpstreamHost(String),
    /// The redactor of the run's secrets could not be built.
    #[error("cannot build the redactor of the run's secrets: {0}")]
    Redactor(#[source] aho_corasick::BuildError),
    /// The standalone adapter could not write its token file.
    #[error("cannot write the token file {}: {source}", path.display())]
    TokenFile {
        /// The file (or its folder).
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A running adapter. Dropping it stops the server (without waiting); call
/// [`AdapterHandle::shutdown`] to wait for requests in flight and get the final totals.
pub struct AdapterHandle {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl std::fmt::Debug for AdapterHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdapterHandle")
            .field("local_addr", &self.local_addr)
            .field("model", &self.shared.model)
            .field("upstream", &self.shared.upstream_host)
            .finish_non_exhaustive()
    }
}

impl AdapterHandle {
    /// The address the adapter listens on (with the real port when started on port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// How the Anthropic routes are served: translated or passed through.
    pub fn mode(&self) -> AdapterMode {
        self.shared.mode
    }

    /// The totals of the requests completed so far; always equal to [`summarize`](super::summarize) over the
    /// ledger lines written so far.
    pub fn totals(&self) -> LedgerTotals {
        self.shared.ledger.totals()
    }

    /// Stops accepting connections, waits up to 5 s for requests in flight (a stream still
    /// running after that is cut off and recorded as cancelled), writes `adapter_stopped`
    /// with the totals to the trace, and returns the totals.
    pub async fn shutdown(mut self) -> LedgerTotals {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await.is_err()
        {
            task.abort();
            let _ = task.await;
        }
        let totals = self.shared.ledger.totals();
        let event = TraceEvent::AdapterStopped {
            listen: self.local_addr.to_string(),
            totals: totals.clone(),
        };
        if let Err(err) = self.shared.trace.record(&event) {
            eprintln!("case-harness adapter: warning: cannot write the trace: {err}");
        }
        totals
    }
}

impl Drop for AdapterHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts the adapter on `listen` (normally `127.0.0.1:0`) and returns once it accepts
/// connections. Creates the ledger file and writes `adapter_started` to the trace.
pub async fn start(config: AdapterConfig, listen: SocketAddr) -> Result<AdapterHandle, AdapterError> {
    if !listen.ip().is_loopback() {
        return Err(AdapterError::ListenNotLoopback { addr: listen });
    }
    let listener = std::net::TcpListener::bind(listen)
        .and_then(|listener| listener.set_nonblocking(true).map(|()| listener))
        .map_err(|source| AdapterError::Bind { addr: listen, source })?;
    start_on(config, listener).await
}

/// Starts the adapter on a listener bound elsewhere: the run's sandbox binds it on the
/// loopback of Case's network namespace (`crate::sandbox`). The listener must be loopback
/// and non-blocking.
pub async fn start_on(config: AdapterConfig, listener: std::net::TcpListener) -> Result<AdapterHandle, AdapterError> {
    let listen = listener.local_addr().map_err(|source| AdapterError::Bind {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        source,
    })?;
    if !listen.ip().is_loopback() {
        return Err(AdapterError::ListenNotLoopback { addr: listen });
    }
    let served_model_header = served_model_header(&config.model)?;
    let upstream_host = config.upstream.host_port();
    let upstream_header =
        HeaderValue::from_str(&upstream_host).map_err(|_| AdapterError::UpstreamHost(upstream_host.clone()))?;
    // Timeouts are applied per step (headers, each chunk) by the adapter itself; a whole-
    // request timeout in the client would cut long streams off.
    let client = upstream::loopback_client(None).map_err(|err| AdapterError::Client(err.without_url()))?;
    let forwarder = Forwarder::new(&config.upstream, config.upstream_key.as_ref(), config.upstream_timeout)
        .map_err(AdapterError::Forwarder)?;
    let scrubber = Scrubber::new(config.upstream_key.iter().cloned().chain([config.case_token.clone()]))
        .map_err(AdapterError::Redactor)?;
    let ledger = Ledger::create(config.ledger_path.as_deref(), scrubber).map_err(|source| AdapterError::Ledger {
        path: config.ledger_path.clone().unwrap_or_default(),
        source,
    })?;
    let ledger_note = config.ledger_path.as_ref().map(|path| path.display().to_string());
    let asked = Asked {
        client: &client,
        base: &config.upstream,
        key: config.upstream_key.as_ref(),
        model: &config.model,
        timeout: config.upstream_timeout,
    };
    let (mode, mode_reason) = upstream_api::decide_at_start(config.upstream_api, asked).await;
    let listener =
        tokio::net::TcpListener::from_std(listener).map_err(|source| AdapterError::Bind { addr: listen, source })?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| AdapterError::Bind { addr: listen, source })?;

    let shared = Arc::new(Shared {
        upstream: config.upstream,
        forwarder,
        upstream_host,
        model: config.model,
        upstream_key: config.upstream_key,
        case_token: config.case_token,
        trace: config.trace,
        upstream_timeout: config.upstream_timeout,
        client,
        ledger: Arc::new(ledger),
        fallback_attempts: AtomicU64::new(0),
        served_model_header,
        upstream_header,
        tokenizer: std::sync::Mutex::new(TokenizerProbe::default()),
        in_flight: Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT)),
        body_budget: Arc::new(tokio::sync::Semaphore::new(MAX_BUFFERED_BODY_BYTES / BODY_BUDGET_UNIT)),
        mode,
        responses: ResponsesUpstream::new(config.upstream_api),
        sampling: config.sampling,
    });
    shared
        .trace
        .record(&TraceEvent::AdapterStarted {
            listen: local_addr.to_string(),
            upstream: shared.upstream_host.clone(),
            model: shared.model.clone(),
            ledger: ledger_note,
            adapter_mode: mode,
            adapter_mode_reason: mode_reason,
            sampling: (!shared.sampling.is_empty()).then(|| shared.sampling.clone()),
        })
        .map_err(AdapterError::Trace)?;

    let (stop, task) = serve(listener, shared.clone());
    Ok(AdapterHandle {
        local_addr,
        shared,
        stop: Some(stop),
        task: Some(task),
    })
}

/// The admitted model's name as the served-model header: refused when it is empty or cannot
/// be sent in a header.
fn served_model_header(model: &str) -> Result<HeaderValue, AdapterError> {
    let invalid_model = |reason| AdapterError::InvalidModel {
        model: model.to_owned(),
        reason,
    };
    if model.is_empty() {
        return Err(invalid_model("the name is empty"));
    }
    HeaderValue::from_str(model).map_err(|_| invalid_model("the name cannot be sent in an HTTP header"))
}

/// Serves every connection of `listener` with the one handler until the sender is used or
/// dropped.
fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
) -> (oneshot::Sender<()>, JoinHandle<std::io::Result<()>>) {
    let app = axum::Router::new().fallback(handle).with_state(shared);
    let (stop, stopped) = oneshot::channel::<()>();
    // Without TCP_NODELAY every SSE chunk after the first waits ~40 ms for a delayed ACK
    // (Nagle): measured by benches/adapter_latency.rs, 43.6 ms → 0.28 ms per 20-chunk stream.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                // A dropped handle stops the server too.
                let _ = stopped.await;
            })
            .await
    });
    (stop, task)
}
