//! The adapter: the loopback proxy between Case and the one admitted local model server.
//!
//! Case is given the adapter's address instead of the model server's, so every request Case
//! makes passes through one place that can prove what happened to it (DESIGN §4.4). It
//! speaks two APIs to Case and one to the upstream:
//!
//! | route | API (ledger `api`) | upstream |
//! |---|---|---|
//! | `GET /v1/models` | `openai` | `GET {base}/models`, passed through |
//! | `POST /v1/chat/completions` (plain or SSE) | `openai` | `POST {base}/chat/completions`, passed through |
//! | `POST /v1/messages` (plain or SSE) | `anthropic` | `POST {base}/chat/completions`, translated both ways |
//! | `POST /v1/messages/count_tokens` | `anthropic` | the server's tokenizer, else an estimate |
//! | `POST /api/event_logging/batch` | `local` | none: 204 (agent telemetry) |
//! | anything else | `local` | none: 404 (403, a fallback attempt, for a `POST` naming another model) |
//!
//! * **Local only.** It listens only on a loopback address and talks only to the configured
//!   [`LocalBaseUrl`], through [`upstream::loopback_client`] (no redirects, no proxy, no
//!   retries); every upstream response's peer address is checked to be loopback
//!   ([`upstream::check_peer`]) and refused with 502 otherwise.
//! * **Authenticated.** Case presents the per-run token as `Authorization: Bearer TOKEN` or
//!   `x-api-key: TOKEN` (every credential presented must match, compared in constant time);
//!   anything else is answered 401 on any path. Case's credentials never go upstream.
//!   `anthropic-version`, `anthropic-beta` and SDK headers (`x-stainless-*`) are accepted and
//!   never forwarded.
//! * **Pinned.** `pinning` decides, in one function for every API, whether a request may
//!   go upstream: only the admitted model, no smuggled routing. A refusal is a 403 error in
//!   the API's own shape (OpenAI's, or Anthropic's `permission_error`) that says why, counted
//!   as a fallback attempt (ledger and [`trace::FALLBACK_ATTEMPT`]). A Claude model, a Haiku
//!   "small/fast" model, anything else: refused, never remapped to the admitted one.
//! * **Passed through as it is** (OpenAI routes). The upstream's status and body come back
//!   unchanged — a 401, 404, 429 or 5xx is not retried, and nothing is ever tried on another
//!   model or host. A 3xx is returned without its `Location`, so Case's own HTTP client cannot
//!   follow it elsewhere either. Streams (SSE) are relayed chunk by chunk as they arrive.
//! * **Translated** (Anthropic routes). Request and answer go through the pure
//!   [`anthropic`] module; a stream is translated chunk by chunk as it arrives (nothing is
//!   held back to the end), and the answer's `model` is the admitted name, never the
//!   upstream's echo. Upstream errors keep their status code and get Anthropic's error shape
//!   ([`anthropic::ErrorType::from_upstream_status`]); content the translation cannot carry
//!   (images, documents, server tools, extended thinking, …) is a 400
//!   `invalid_request_error`, never silently dropped.
//! * **Few headers.** Upstream gets only `content-type: application/json` (the body is
//!   re-serialised from what was checked, so duplicate keys cannot show the upstream a
//!   different model than the one admitted), an `accept`, and the configured upstream
//!   secret as `Authorization: Bearer`. Case gets back only `content-type`, `cache-control`
//!   and `retry-after` of the upstream's headers.
//! * **Local answers.** Paths it does not serve get a 404 JSON answer — unless it is a `POST`
//!   whose JSON body names another model or asks for routing, which is refused (403) and
//!   counted as a fallback attempt like on a served route — agent telemetry
//!   (`POST /api/event_logging/batch`) a 204; neither is forwarded; both are in the ledger.
//! * **Evidence.** Every response carries [`HEADER_SERVED_MODEL`], [`HEADER_UPSTREAM`] and
//!   [`HEADER_FALLBACK_ATTEMPTS`]; every request leaves one [`LedgerEntry`] line.
//!
//! `count_tokens` asks the upstream's own tokenizer — llama.cpp's `POST {origin}/tokenize`,
//! then llama-cpp-python's `POST {origin}/extras/tokenize/count` — and remembers which one
//! answered (or that neither exists); without one it answers
//! [`anthropic::estimate_input_tokens`] (⌈characters / 4⌉). [`HEADER_TOKEN_COUNT`] says
//! `exact` or `estimate`. The tokenizers are asked only when the base URL's path is exactly
//! `/v1` (else the root may not be the model server's); llama-cpp-python's request names the
//! admitted model. A count is never counted as a request served by the admitted model.
//!
//! Bounds: at most [`MAX_IN_FLIGHT`] requests are handled at once (a stream until it ends;
//! the rest wait), and a request body is at most [`MAX_REQUEST_BYTES`] (8 MiB, else 413).
//!
//! Timeouts: `upstream_timeout` bounds the wait for the upstream's response headers and,
//! separately, each silence between two body chunks — not a whole stream, which may
//! legitimately run for minutes on a slow local model.
//!
//! Layout: this file holds the server, authentication, routing, local answers and the
//! upstream call every route shares; `ledger.rs` the ledger; `pinning.rs` the admission
//! decision; `openai.rs` the OpenAI routes (pass-through and SSE relay); `messages.rs` the
//! Anthropic routes; [`anthropic`] the pure translation and the one SSE parser both use.
//! `docs/anthropic-compat.md` lists what of the Anthropic API is supported and why not the rest.

pub mod anthropic;
mod ledger;
mod messages;
mod openai;
mod pinning;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use futures_util::StreamExt;
use serde_json::{Map, Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use anthropic::ErrorType;
pub use ledger::{Api, LedgerEntry, LedgerError, LedgerTotals, MAX_RECORDED_CHARS, Outcome, read_ledger, summarize};
use ledger::{Ledger, RequestLog, Scrubber};
use pinning::Refusal;

use crate::secrets::SecretValue;
use crate::trace::{self, Trace};
use crate::upstream::{self, LocalBaseUrl, UpstreamError};

/// Response header naming the admitted model, on every response.
pub const HEADER_SERVED_MODEL: &str = "x-case-harness-served-model";
/// Response header naming the upstream `host:port`, on every response.
pub const HEADER_UPSTREAM: &str = "x-case-harness-upstream";
/// Response header counting the fallback attempts refused so far (this request included).
pub const HEADER_FALLBACK_ATTEMPTS: &str = "x-case-harness-fallback-attempts";
/// Response header of `POST /v1/messages/count_tokens`: `exact` when the upstream's own
/// tokenizer counted, `estimate` when the adapter estimated (see the module docs).
pub const HEADER_TOKEN_COUNT: &str = "x-case-harness-token-count";
/// The ledger's file name in a run folder.
pub const LEDGER_FILE_NAME: &str = "adapter-ledger.jsonl";
/// `upstream_timeout` of the standalone adapter.
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(300);
/// Largest request body Case may send (8 MiB); larger ones are answered 413.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024 * 1024;
/// Most requests handled at once (a stream counts until it ends); more wait their turn, so
/// a runaway Case holds at most this many request bodies in memory and this many upstream
/// requests open.
pub const MAX_IN_FLIGHT: usize = 8;

/// Largest non-streamed upstream answer relayed (64 MiB); larger ones become a 502.
const MAX_UPSTREAM_BODY_BYTES: usize = 64 * 1024 * 1024;
/// How long [`AdapterHandle::shutdown`] waits for requests in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Agents' telemetry endpoint (relative to `ANTHROPIC_BASE_URL`), answered locally.
const EVENT_LOGGING_PATH: &str = "/api/event_logging/batch";

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
    Client(String),
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

    /// The totals of the requests completed so far; always equal to [`summarize`] over the
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
        let fields = json!({ "listen": self.local_addr.to_string(), "totals": totals });
        if let Err(err) = self.shared.trace.event(trace::ADAPTER_STOPPED, fields) {
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
    let invalid_model = |reason| AdapterError::InvalidModel {
        model: config.model.clone(),
        reason,
    };
    if config.model.is_empty() {
        return Err(invalid_model("the name is empty"));
    }
    let served_model_header =
        HeaderValue::from_str(&config.model).map_err(|_| invalid_model("the name cannot be sent in an HTTP header"))?;
    let upstream_host = config.upstream.host_port();
    let upstream_header = HeaderValue::from_str(&upstream_host)
        .map_err(|_| AdapterError::Client(format!("upstream host {upstream_host:?} is not a header value")))?;
    // Timeouts are applied per step (headers, each chunk) by the adapter itself; a whole-
    // request timeout in the client would cut long streams off.
    let client = upstream::loopback_client(None).map_err(|err| AdapterError::Client(err.without_url().to_string()))?;
    let scrubber = Scrubber::new(config.upstream_key.iter().cloned().chain([config.case_token.clone()]));
    let ledger = Ledger::create(config.ledger_path.as_deref(), scrubber).map_err(|source| AdapterError::Ledger {
        path: config.ledger_path.clone().unwrap_or_default(),
        source,
    })?;
    let ledger_note = config.ledger_path.as_ref().map(|path| path.display().to_string());
    let listener =
        tokio::net::TcpListener::from_std(listener).map_err(|source| AdapterError::Bind { addr: listen, source })?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| AdapterError::Bind { addr: listen, source })?;

    let shared = Arc::new(Shared {
        upstream: config.upstream,
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
        tokenizer: std::sync::Mutex::new(messages::TokenizerProbe::default()),
        in_flight: Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT)),
    });
    shared
        .trace
        .event(
            trace::ADAPTER_STARTED,
            json!({
                "listen": local_addr.to_string(),
                "upstream": shared.upstream_host,
                "model": shared.model,
                "ledger": ledger_note,
            }),
        )
        .map_err(AdapterError::Trace)?;

    let app = axum::Router::new().fallback(handle).with_state(shared.clone());
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
    Ok(AdapterHandle {
        local_addr,
        shared,
        stop: Some(stop),
        task: Some(task),
    })
}

/// `case-harness adapter`: serves until Ctrl-C with a fresh per-run token.
///
/// The token is written to a file readable only by the current user, in a new private
/// folder under the system temp dir; only that file's path is printed, never the token.
/// The ledger goes to the same folder. The token file is removed on exit.
pub async fn run_standalone(
    upstream: LocalBaseUrl,
    model: String,
    listen: SocketAddr,
    upstream_key: Option<SecretValue>,
) -> Result<(), AdapterError> {
    // Refuse before any file is written.
    if !listen.ip().is_loopback() {
        return Err(AdapterError::ListenNotLoopback { addr: listen });
    }
    let folder = private_folder()?;
    let token = SecretValue::random("chx-");
    let token_path = folder.join("case-token");
    if let Err(err) = write_private_file(&token_path, token.expose()) {
        let _ = std::fs::remove_dir_all(&folder);
        return Err(err);
    }
    let ledger_path = folder.join(LEDGER_FILE_NAME);
    let config = AdapterConfig {
        upstream: upstream.clone(),
        model: model.clone(),
        upstream_key,
        case_token: token,
        ledger_path: Some(ledger_path.clone()),
        trace: Trace::disabled(),
        upstream_timeout: DEFAULT_UPSTREAM_TIMEOUT,
    };
    let handle = match start(config, listen).await {
        Ok(handle) => handle,
        Err(err) => {
            let _ = std::fs::remove_dir_all(&folder);
            return Err(err);
        }
    };
    let addr = handle.local_addr();
    println!("case-harness adapter listening on http://{addr}");
    println!("  OpenAI base URL: http://{addr}/v1");
    println!("  serving model:   {model} (any other model is refused)");
    println!("  upstream:        {}", upstream.host_port());
    println!("  token file:      {}", token_path.display());
    println!("                   (send it as `Authorization: Bearer TOKEN` or `x-api-key: TOKEN`)");
    println!("  ledger:          {}", ledger_path.display());
    println!("Press Ctrl-C (or send SIGTERM) to stop.");
    let signal = crate::signals::interrupted().await;
    let totals = handle.shutdown().await;
    let _ = std::fs::remove_file(&token_path);
    println!(
        "stopped: {} request(s), {} forwarded, {} served by {model}, {} fallback attempt(s) refused",
        totals.requests, totals.forwarded, totals.served_by_admitted_model, totals.fallback_attempts
    );
    println!("({signal} received)");
    Ok(())
}

fn private_folder() -> Result<PathBuf, AdapterError> {
    let suffix: [u8; 8] = rand::random();
    let path = std::env::temp_dir().join(format!(
        "case-harness-adapter-{}-{}",
        std::process::id(),
        hex::encode(suffix)
    ));
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(&path).map_err(|source| AdapterError::TokenFile {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

fn write_private_file(path: &Path, contents: &str) -> Result<(), AdapterError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let error = |source| AdapterError::TokenFile {
        path: path.to_owned(),
        source,
    };
    let mut file = options.open(path).map_err(error)?;
    file.write_all(contents.as_bytes()).map_err(error)?;
    file.write_all(b"\n").map_err(error)
}

/// State shared by every request of one adapter.
pub(crate) struct Shared {
    upstream: LocalBaseUrl,
    upstream_host: String,
    model: String,
    upstream_key: Option<SecretValue>,
    case_token: SecretValue,
    trace: Trace,
    upstream_timeout: Duration,
    client: reqwest::Client,
    ledger: Arc<Ledger>,
    fallback_attempts: AtomicU64,
    served_model_header: HeaderValue,
    upstream_header: HeaderValue,
    /// What `count_tokens` has learnt about the upstream's tokenizer endpoint.
    tokenizer: std::sync::Mutex<messages::TokenizerProbe>,
    /// [`MAX_IN_FLIGHT`] permits, one held by each request being handled.
    in_flight: Arc<tokio::sync::Semaphore>,
}

/// The paths the adapter knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Models,
    ChatCompletions,
    Messages,
    CountTokens,
    EventLogging,
    Unknown,
}

impl Route {
    /// The route of a request path (the query string is not part of it: Anthropic's SDKs
    /// add `?beta=true` to the beta flavour of the same endpoints).
    fn of(path: &str) -> Route {
        match path {
            "/v1/models" => Route::Models,
            "/v1/chat/completions" => Route::ChatCompletions,
            "/v1/messages" => Route::Messages,
            "/v1/messages/count_tokens" => Route::CountTokens,
            EVENT_LOGGING_PATH => Route::EventLogging,
            _ => Route::Unknown,
        }
    }

    fn api(self) -> Api {
        match self {
            Route::Models | Route::ChatCompletions => Api::OpenAi,
            Route::Messages | Route::CountTokens => Api::Anthropic,
            Route::EventLogging | Route::Unknown => Api::Local,
        }
    }

    fn method(self) -> Option<Method> {
        match self {
            Route::Models => Some(Method::GET),
            Route::ChatCompletions | Route::Messages | Route::CountTokens | Route::EventLogging => Some(Method::POST),
            Route::Unknown => None,
        }
    }
}

/// The one handler: every request, whatever its path, goes through authentication, the
/// ledger and the evidence headers here.
async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    // The semaphore is never closed, so this only waits.
    let permit = shared.in_flight.clone().acquire_owned().await.ok();
    let route = Route::of(request.uri().path());
    let log = RequestLog::new(
        shared.ledger.clone(),
        route.api(),
        request.method().as_str(),
        request.uri().path(),
    );
    let response = dispatch(&shared, route, request, log).await;
    let response = shared.decorate(response);
    if !is_event_stream(response.headers()) {
        return response;
    }
    // A stream is in flight until its body ends (or Case drops it): it keeps the permit.
    let (parts, body) = response.into_parts();
    let body = body.into_data_stream().map(move |chunk| {
        let _held = &permit;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(body))
}

async fn dispatch(shared: &Arc<Shared>, route: Route, request: Request, mut log: RequestLog) -> Response {
    let api = route.api();
    if let Err(reason) = authenticate(&shared.case_token, request.headers()) {
        let message = format!("case-harness adapter: {reason}");
        return local_error(log, api, StatusCode::UNAUTHORIZED, Outcome::Unauthorized, &message);
    }
    let Some(method) = route.method() else {
        let message = format!(
            "case-harness adapter: {} {} is not served here and was not forwarded",
            request.method(),
            request.uri().path()
        );
        if request.method() == Method::POST {
            let path = request.uri().path().to_owned();
            // A POST naming another model (or routing) is an attempt, whatever the path: it
            // is what a client falling back to another API of another model sends.
            if let Ok(body) = axum::body::to_bytes(request.into_body(), MAX_REQUEST_BYTES).await {
                log.set_bytes_in(body.len());
                if let Some(refusal) = unknown_route_attempt(api, &shared.model, &body) {
                    return shared.refuse(api, log, &path, refusal);
                }
            }
        }
        return local_error(log, api, StatusCode::NOT_FOUND, Outcome::NotFound, &message);
    };
    if request.method() != method {
        let message = format!(
            "case-harness adapter: {} accepts only {method}, not {}",
            request.uri().path(),
            request.method()
        );
        return local_error(
            log,
            api,
            StatusCode::METHOD_NOT_ALLOWED,
            Outcome::MethodNotAllowed,
            &message,
        );
    }
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_REQUEST_BYTES).await {
        Ok(body) => body,
        Err(_) => {
            let message = format!(
                "case-harness adapter: the request body could not be read (larger than {} MiB, or cut off)",
                MAX_REQUEST_BYTES / (1024 * 1024)
            );
            return local_error(log, api, StatusCode::PAYLOAD_TOO_LARGE, Outcome::BadRequest, &message);
        }
    };
    log.set_bytes_in(body.len());
    match route {
        Route::Models => openai::models(shared, log).await,
        Route::ChatCompletions => openai::chat_completions(shared, &parts.headers, body, log).await,
        Route::Messages => messages::create(shared, &parts.headers, body, log).await,
        Route::CountTokens => messages::count_tokens(shared, &parts.headers, body, log).await,
        Route::EventLogging => {
            log.finish(
                StatusCode::NO_CONTENT.as_u16(),
                0,
                Outcome::AnsweredLocally,
                Some("agent telemetry, answered locally"),
            );
            response(StatusCode::NO_CONTENT, HeaderMap::new(), Body::empty())
        }
        // Unknown has no method and returned above.
        Route::Unknown => local_error(log, api, StatusCode::NOT_FOUND, Outcome::NotFound, "not served"),
    }
}

/// The refusal for a `POST` to a path the adapter does not serve whose body is a JSON object
/// naming a model other than the admitted one, or asking for routing; `None` otherwise.
fn unknown_route_attempt(api: Api, admitted: &str, body: &[u8]) -> Option<Refusal> {
    let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(body) else {
        return None;
    };
    match pinning::admit_request(api, admitted, None, &HeaderMap::new(), &mut object) {
        Err(refusal) if refusal.is_fallback_attempt() => Some(refusal),
        _ => None,
    }
}

/// Checks the per-run token: at least one credential, and every one presented must match.
fn authenticate(token: &SecretValue, headers: &HeaderMap) -> Result<(), &'static str> {
    let mut presented = false;
    for value in headers.get_all(AUTHORIZATION) {
        presented = true;
        let credential = bearer_credential(value.as_bytes())
            .ok_or("the Authorization header is not `Bearer TOKEN`; the per-run token is required")?;
        if !token.matches(credential) {
            return Err("the Authorization header does not carry the per-run token");
        }
    }
    for value in headers.get_all("x-api-key") {
        presented = true;
        if !token.matches(value.as_bytes()) {
            return Err("the x-api-key header does not carry the per-run token");
        }
    }
    if presented {
        Ok(())
    } else {
        Err("no per-run token; send `Authorization: Bearer TOKEN` or `x-api-key: TOKEN`")
    }
}

fn bearer_credential(value: &[u8]) -> Option<&[u8]> {
    let scheme = value.get(..7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let credential = value.get(7..)?.trim_ascii();
    (!credential.is_empty()).then_some(credential)
}

/// A response with a status, headers and body.
fn response(status: StatusCode, headers: HeaderMap, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// The error type of an answer the adapter makes itself with `status` (an upstream's error
/// status is mapped by [`ErrorType::from_upstream_status`] instead).
fn local_error_type(status: StatusCode) -> ErrorType {
    match status {
        StatusCode::UNAUTHORIZED => ErrorType::Authentication,
        StatusCode::FORBIDDEN => ErrorType::Permission,
        StatusCode::NOT_FOUND => ErrorType::NotFound,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorType::RequestTooLarge,
        status if status.is_server_error() => ErrorType::Api,
        _ => ErrorType::InvalidRequest,
    }
}

/// An error body in the shape the API's clients parse: OpenAI's
/// `{"error":{"message","type","code"}}`, or Anthropic's `{"type":"error","error":{"type","message"}}`.
fn error_body(api: Api, status: StatusCode, kind: ErrorType, message: &str) -> Vec<u8> {
    let value = match api {
        Api::Anthropic => anthropic::error_body(kind, message),
        Api::OpenAi | Api::Local => {
            json!({"error": {"message": message, "type": kind.as_str(), "code": status.as_u16()}})
        }
    };
    value.to_string().into_bytes()
}

/// Answers locally with a JSON error and writes the ledger line.
pub(crate) fn local_error(log: RequestLog, api: Api, status: StatusCode, outcome: Outcome, message: &str) -> Response {
    error_response(
        log,
        api,
        status,
        local_error_type(status),
        outcome,
        message,
        HeaderMap::new(),
    )
}

/// A JSON error answer of `status` and `kind` with extra `headers`; writes the ledger line.
/// The message has the run's secrets redacted before it goes anywhere.
pub(crate) fn error_response(
    log: RequestLog,
    api: Api,
    status: StatusCode,
    kind: ErrorType,
    outcome: Outcome,
    message: &str,
    mut headers: HeaderMap,
) -> Response {
    let message = log.redact(message);
    let body = error_body(api, status, kind, &message);
    log.finish(status.as_u16(), body.len() as u64, outcome, Some(&message));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response(status, headers, Body::from(body))
}

/// True when `headers` declare an SSE body (`text/event-stream`).
pub(crate) fn is_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim_start().to_ascii_lowercase().starts_with("text/event-stream"))
}

/// Where under the upstream a request goes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Endpoint<'a> {
    /// Under the configured base URL (`{base}/chat/completions`): the OpenAI API.
    Api(&'a str),
    /// Under the server's root (`{origin}/tokenize`): a server's own endpoints, which local
    /// servers mount beside their OpenAI API, not under it.
    Origin(&'a str),
}

/// Why the upstream gave no usable answer.
pub(crate) enum UpstreamFailure {
    /// No response headers within `upstream_timeout`, or a body chunk overdue.
    Timeout,
    /// Connection or protocol failure, or an answer too large to relay.
    Transport(UpstreamError),
    /// The connection's peer was not loopback.
    NotLoopback(UpstreamError),
}

impl Shared {
    /// Adds the three evidence headers.
    fn decorate(&self, mut response: Response) -> Response {
        let attempts = self.fallback_attempts.load(Ordering::SeqCst);
        let headers = response.headers_mut();
        headers.insert(
            HeaderName::from_static(HEADER_SERVED_MODEL),
            self.served_model_header.clone(),
        );
        headers.insert(HeaderName::from_static(HEADER_UPSTREAM), self.upstream_header.clone());
        headers.insert(
            HeaderName::from_static(HEADER_FALLBACK_ATTEMPTS),
            HeaderValue::from(attempts),
        );
        response
    }

    /// The body of a model-naming `POST` as a JSON object the pinning rule admits (its
    /// requested model noted in `log`), or the local answer refusing it: 400 for a body that is
    /// not an object, else what [`Shared::refuse`] answers. The OpenAI and Anthropic routes
    /// share it so that both admit exactly the same way.
    #[expect(
        clippy::result_large_err,
        reason = "the refusal goes straight back to the router, once per request: boxing it buys nothing"
    )]
    pub(crate) fn admit_body(
        &self,
        api: Api,
        path: &str,
        allowed: Option<&[&str]>,
        headers: &HeaderMap,
        body: &[u8],
        mut log: RequestLog,
    ) -> Result<(Map<String, Value>, RequestLog), Response> {
        let mut object = match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(object)) => object,
            _ => {
                let message = "case-harness adapter: the request body must be a JSON object";
                return Err(local_error(
                    log,
                    api,
                    StatusCode::BAD_REQUEST,
                    Outcome::BadRequest,
                    message,
                ));
            }
        };
        match pinning::admit_request(api, &self.model, allowed, headers, &mut object) {
            Ok(admission) => log.set_requested_model(admission.requested_model.as_deref()),
            Err(refusal) => return Err(self.refuse(api, log, path, refusal)),
        }
        Ok((object, log))
    }

    /// Answers a refused request: records the fallback attempt (trace and counter) when it
    /// is one, answers 403/400 with the reasons, and writes the ledger line.
    pub(crate) fn refuse(&self, api: Api, mut log: RequestLog, path: &str, refusal: Refusal) -> Response {
        log.set_requested_model(refusal.requested_model.as_deref());
        let outcome = if refusal.is_fallback_attempt() {
            let attempt = self.fallback_attempts.fetch_add(1, Ordering::SeqCst) + 1;
            let scrubber = self.ledger.scrubber();
            let fields = json!({
                "api": api.as_str(),
                "path": scrubber.clean(path),
                "requested_model": refusal.requested_model.as_deref().map(|model| scrubber.clean(model)),
                "reason": scrubber.clean(&refusal.message),
                "code": refusal.code(),
                "attempt": attempt,
            });
            if let Err(err) = self.trace.event(trace::FALLBACK_ATTEMPT, fields) {
                eprintln!("case-harness adapter: warning: cannot write the trace: {err}");
            }
            Outcome::FallbackRefused
        } else {
            Outcome::BadRequest
        };
        local_error(log, api, refusal.status(), outcome, &refusal.message)
    }

    /// Sends one request to the upstream `endpoint` with only the allow-listed headers, and
    /// checks that the answer came from a loopback peer.
    pub(crate) async fn send_upstream(
        &self,
        method: Method,
        endpoint: Endpoint<'_>,
        json_body: Option<Vec<u8>>,
        accept: Option<&HeaderValue>,
    ) -> Result<reqwest::Response, UpstreamFailure> {
        let url = match endpoint {
            Endpoint::Api(path) => self.upstream.endpoint(path),
            Endpoint::Origin(path) => self.upstream.origin_endpoint(path),
        };
        let mut request = self.client.request(method, url);
        if let Some(body) = json_body {
            request = request
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(body);
        }
        if let Some(accept) = accept {
            request = request.header(ACCEPT, accept.clone());
        }
        if let Some(key) = &self.upstream_key {
            request = request.bearer_auth(key.expose());
        }
        let response = match tokio::time::timeout(self.upstream_timeout, request.send()).await {
            Err(_) => return Err(UpstreamFailure::Timeout),
            Ok(Err(err)) if err.is_timeout() => return Err(UpstreamFailure::Timeout),
            Ok(Err(err)) => {
                return Err(UpstreamFailure::Transport(upstream::transport_error(
                    &self.upstream,
                    err,
                )));
            }
            Ok(Ok(response)) => response,
        };
        upstream::check_peer(&self.upstream, &response).map_err(UpstreamFailure::NotLoopback)?;
        Ok(response)
    }

    /// Reads a whole (non-streamed) upstream body, at most `limit` bytes, waiting at most
    /// `upstream_timeout` for each chunk.
    pub(crate) async fn read_body(
        &self,
        mut answer: reqwest::Response,
        limit: usize,
    ) -> Result<Vec<u8>, UpstreamFailure> {
        let mut body = Vec::new();
        loop {
            match tokio::time::timeout(self.upstream_timeout, answer.chunk()).await {
                Err(_) => return Err(UpstreamFailure::Timeout),
                Ok(Err(err)) => {
                    return Err(UpstreamFailure::Transport(upstream::transport_error(
                        &self.upstream,
                        err,
                    )));
                }
                Ok(Ok(None)) => return Ok(body),
                Ok(Ok(Some(chunk))) => {
                    if body.len() + chunk.len() > limit {
                        return Err(UpstreamFailure::Transport(UpstreamError::Transport {
                            host: self.upstream_host.clone(),
                            reason: format!("answer larger than {} MiB", limit / (1024 * 1024)),
                        }));
                    }
                    body.extend_from_slice(&chunk);
                }
            }
        }
    }

    /// Answers 504 (timeout) or 502 (anything else) for an upstream that gave no usable
    /// answer, and writes the ledger line. Nothing is retried.
    pub(crate) fn upstream_failed(&self, api: Api, log: RequestLog, failure: UpstreamFailure) -> Response {
        let (status, message) = match failure {
            UpstreamFailure::Timeout => (
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "case-harness adapter: the local upstream {} did not answer within {} s; not retried",
                    self.upstream_host,
                    self.upstream_timeout.as_secs_f64()
                ),
            ),
            UpstreamFailure::Transport(err) => (
                StatusCode::BAD_GATEWAY,
                format!("case-harness adapter: {err}; not retried"),
            ),
            UpstreamFailure::NotLoopback(err) => (
                StatusCode::BAD_GATEWAY,
                format!("case-harness adapter: {err}; the answer was discarded"),
            ),
        };
        local_error(log, api, status, Outcome::UpstreamError, &message)
    }
}

/// Reads the model name a JSON object reports in its top-level `model` field.
fn reported_model(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value.get("model")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).expect("value"));
        }
        map
    }

    #[cfg(unix)]
    #[test]
    fn the_standalone_token_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let folder = private_folder().expect("folder");
        let file = folder.join("case-token");
        write_private_file(&file, "tok").expect("write");
        let mode = |path: &Path| std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode(&folder), 0o700);
        assert_eq!(mode(&file), 0o600);
        assert_eq!(std::fs::read_to_string(&file).expect("read"), "tok\n");
        assert!(
            write_private_file(&file, "again").is_err(),
            "an existing file is never reused"
        );
        std::fs::remove_dir_all(&folder).expect("clean up");
    }

    #[tokio::test]
    async fn the_standalone_adapter_refuses_a_public_listen_address_before_writing_anything() {
        let upstream = LocalBaseUrl::parse("http://127.0.0.1:9/v1").expect("url");
        let listen: SocketAddr = "0.0.0.0:0".parse().expect("addr");
        let result = run_standalone(upstream, "m".to_owned(), listen, None).await;
        assert!(
            matches!(result, Err(AdapterError::ListenNotLoopback { .. })),
            "{result:?}"
        );
    }

    #[test]
    fn either_credential_header_authenticates() {
        let token = SecretValue::new("tok-1".to_owned());
        assert_eq!(
            authenticate(&token, &headers(&[("authorization", "Bearer tok-1")])),
            Ok(())
        );
        assert_eq!(
            authenticate(&token, &headers(&[("authorization", "bearer  tok-1 ")])),
            Ok(())
        );
        assert_eq!(authenticate(&token, &headers(&[("x-api-key", "tok-1")])), Ok(()));
    }

    #[test]
    fn missing_wrong_or_mixed_credentials_are_refused() {
        let token = SecretValue::new("tok-1".to_owned());
        for case in [
            headers(&[]),
            headers(&[("authorization", "Bearer tok-2")]),
            headers(&[("authorization", "Basic tok-1")]),
            headers(&[("authorization", "Bearer ")]),
            headers(&[("authorization", "tok-1")]),
            headers(&[("x-api-key", "tok-1x")]),
            headers(&[("x-api-key", "tok-1"), ("authorization", "Bearer other")]),
            headers(&[("x-api-key", "tok-1"), ("x-api-key", "other")]),
        ] {
            assert!(authenticate(&token, &case).is_err(), "{case:?}");
        }
    }

    #[test]
    fn an_answer_without_a_loopback_peer_is_refused_by_the_peer_check() {
        let base = LocalBaseUrl::parse("http://127.0.0.1:8080/v1").expect("url");
        // Built, not received: it has no remote address at all.
        let answer = reqwest::Response::from(axum::http::Response::new(""));
        assert!(answer.remote_addr().is_none());
        let refused = upstream::check_peer(&base, &answer).expect_err("no peer is not loopback");
        assert!(matches!(refused, UpstreamError::NotLoopbackPeer { .. }), "{refused:?}");
    }

    #[test]
    fn only_the_served_paths_are_routes() {
        assert_eq!(Route::of("/v1/models"), Route::Models);
        assert_eq!(Route::of("/v1/chat/completions"), Route::ChatCompletions);
        assert_eq!(Route::of("/api/event_logging/batch"), Route::EventLogging);
        assert_eq!(Route::of("/v1/messages"), Route::Messages);
        assert_eq!(Route::of("/v1/messages/count_tokens"), Route::CountTokens);
        assert_eq!(Route::Messages.api(), Api::Anthropic);
        assert_eq!(Route::CountTokens.api(), Api::Anthropic);
        for unknown in [
            "/models",
            "/chat/completions",
            "/v1/models/",
            "/v1/messages/",
            "/messages",
            "/v1/complete",
            "/v1/messages/batches",
            "/v1//models",
            "/",
        ] {
            assert_eq!(Route::of(unknown), Route::Unknown, "{unknown}");
        }
    }

    #[test]
    fn error_bodies_take_the_api_shape() {
        let body = |api, status| {
            serde_json::from_slice::<serde_json::Value>(&error_body(api, status, local_error_type(status), "no"))
                .expect("json")
        };
        let openai = body(Api::OpenAi, StatusCode::FORBIDDEN);
        assert_eq!(openai["error"]["type"], "permission_error");
        assert_eq!(openai["error"]["message"], "no");
        assert_eq!(openai["error"]["code"], 403);
        let anthropic = body(Api::Anthropic, StatusCode::UNAUTHORIZED);
        assert_eq!(
            anthropic,
            json!({"type": "error", "error": {"type": "authentication_error", "message": "no"}})
        );
        assert_eq!(
            body(Api::Anthropic, StatusCode::FORBIDDEN)["error"]["type"],
            "permission_error"
        );
        assert_eq!(
            body(Api::Anthropic, StatusCode::NOT_FOUND)["error"]["type"],
            "not_found_error"
        );
        assert_eq!(
            body(Api::Anthropic, StatusCode::BAD_GATEWAY)["error"]["type"],
            "api_error"
        );
        assert_eq!(
            body(Api::Anthropic, StatusCode::METHOD_NOT_ALLOWED)["error"]["type"],
            "invalid_request_error"
        );
    }
}
