//! The floor: what one extra HTTP hop costs on this machine with the adapter's own stack and
//! none of its work. A bare reverse proxy — axum server, hyper-util's pooled client with
//! `TCP_NODELAY` (the adapter's forwarding client), tokio's multi-thread
//! runtime with two workers, as `case-harness adapter` runs — that forwards the method, path,
//! `Content-Type`, `Accept` and body to the upstream and relays the status and body back: no
//! authentication, no pinning, no ledger, no redaction.
//!
//! A second floor goes lower still: a byte relay, one blocking thread per direction of each
//! connection, copying bytes between the two sockets without reading HTTP at all. No proxy
//! that looks at a request can cost less than that; it is what a hop costs in the kernel alone.
//!
//! A third floor goes the other way: the bare proxy plus the least any admitting proxy must do
//! per request — parse the request as JSON and send the re-encoded object up, read the answer
//! whole and parse it, and append one JSON line about it to a file with one `write(2)` — and
//! nothing else of the adapter's (no token, no rules, no redaction). "adapter − working floor"
//! is what the adapter's checks add beyond that minimum.
//!
//! Each runs as its own process, like the adapter: this bench binary re-executed with
//! [`FLOOR_UPSTREAM_ENV`] set, printing its address on stdout. The difference "adapter − floor"
//! is the cost of what the adapter checks and records; "floor − direct" is the cost of the hop.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::Command;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::proxies::{Proxy, spawn_reading_stdout};

/// Set to the upstream's root (`http://127.0.0.1:PORT`): this process is the floor proxy.
pub const FLOOR_UPSTREAM_ENV: &str = "BENCH_FLOOR_UPSTREAM";
/// Which floor this process is: [`Floor::env_value`].
const FLOOR_KIND_ENV: &str = "BENCH_FLOOR_KIND";
/// What a floor proxy prints once it accepts connections.
const LISTENING: &str = "floor proxy listening on ";

/// The floors.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Floor {
    /// axum + hyper-util's client on tokio, as the adapter.
    SameStack,
    /// [`Floor::SameStack`] plus a JSON parse of each request and answer and a ledger-like line;
    /// for whole answers only (it is not on the streamed lanes).
    Working,
    /// Bytes copied between sockets by blocking threads.
    ByteRelay,
}

impl Floor {
    fn env_value(self) -> &'static str {
        match self {
            Floor::SameStack => "stack",
            Floor::Working => "working",
            Floor::ByteRelay => "relay",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Floor::SameStack => "floor: bare proxy, same stack",
            Floor::Working => "floor: same stack + JSON parse and a ledger line",
            Floor::ByteRelay => "floor: byte relay, no HTTP",
        }
    }
}

/// Starts this bench binary again as the `floor` proxy in front of `upstream_root`.
pub fn start(floor: Floor, upstream_root: &str) -> Result<Proxy, String> {
    let exe = std::env::current_exe().map_err(|err| format!("floor proxy: {err}"))?;
    let started = std::time::Instant::now();
    let (mut child, stdout) = spawn_reading_stdout(
        Command::new(&exe)
            .env(FLOOR_UPSTREAM_ENV, upstream_root)
            .env(FLOOR_KIND_ENV, floor.env_value()),
    )?;
    let mut line = String::new();
    let _ = BufReader::new(stdout).read_line(&mut line);
    let Some(root) = line.trim().strip_prefix(LISTENING).map(str::to_owned) else {
        let _ = child.kill();
        return Err(format!("floor proxy: did not start ({line:?})"));
    };
    Ok(Proxy {
        name: floor.label().to_owned(),
        root,
        token: String::new(),
        child,
        started_in: started.elapsed(),
    })
}

/// The floor proxy's `main`: serves until killed.
pub fn serve(upstream_root: String) -> ! {
    let kind = std::env::var(FLOOR_KIND_ENV).unwrap_or_default();
    if kind == Floor::ByteRelay.env_value() {
        relay(&upstream_root);
    }
    // The working floor's ledger: an unnamed file, gone when the process is.
    let ledger = (kind == Floor::Working.env_value())
        .then(|| std::sync::Arc::new(tempfile::tempfile().expect("working floor's ledger file")));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("floor runtime");
    runtime.block_on(async move {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .build(connector);
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("floor binds");
        let addr = listener.local_addr().expect("floor address");
        println!("{LISTENING}http://{addr}");
        let app = axum::Router::new().fallback(forward).with_state(FloorState {
            client,
            upstream: upstream_root,
            ledger,
        });
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app).await.expect("floor serves");
    });
    std::process::exit(0)
}

/// The floor's forwarding client: the adapter's kind (`src/adapter/forward.rs`).
type FloorClient = Client<HttpConnector, Full<Bytes>>;

#[derive(Clone)]
struct FloorState {
    client: FloorClient,
    upstream: String,
    /// Set for [`Floor::Working`]: where its one line per request goes.
    ledger: Option<std::sync::Arc<std::fs::File>>,
}

async fn forward(State(floor): State<FloorState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 8 << 20).await else {
        return status(StatusCode::PAYLOAD_TOO_LARGE);
    };
    let body = match &floor.ledger {
        // What goes up is the parsed object, encoded again, as the adapter sends it.
        Some(_) => match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(object) => Bytes::from(serde_json::to_vec(&object).unwrap_or_default()),
            Err(_) => return status(StatusCode::BAD_REQUEST),
        },
        None => body,
    };
    let Ok(uri) = Uri::try_from(format!("{}{}", floor.upstream, parts.uri.path())) else {
        return status(StatusCode::BAD_REQUEST);
    };
    let mut upstream_request = axum::http::Request::new(Full::new(body));
    *upstream_request.method_mut() = parts.method;
    *upstream_request.uri_mut() = uri;
    for name in [CONTENT_TYPE, ACCEPT] {
        if let Some(value) = parts.headers.get(&name) {
            upstream_request.headers_mut().insert(name, value.clone());
        }
    }
    let Ok(answer) = floor.client.request(upstream_request).await else {
        return status(StatusCode::BAD_GATEWAY);
    };
    let mut headers = HeaderMap::new();
    if let Some(value) = answer.headers().get(CONTENT_TYPE) {
        headers.insert(CONTENT_TYPE, value.clone());
    }
    let code = answer.status();
    let body = match &floor.ledger {
        Some(ledger) => {
            let Ok(answer) = answer.into_body().collect().await else {
                return status(StatusCode::BAD_GATEWAY);
            };
            let answer = answer.to_bytes();
            record(ledger, parts.uri.path(), code, &answer);
            Body::from(answer)
        }
        None => Body::new(answer.into_body()),
    };
    let mut response = Response::new(body);
    *response.status_mut() = code;
    *response.headers_mut() = headers;
    response
}

/// The working floor's line about one answer: parsed, a few fields, one `write(2)`.
fn record(ledger: &std::fs::File, path: &str, code: StatusCode, answer: &[u8]) {
    let parsed = serde_json::from_slice::<serde_json::Value>(answer).unwrap_or_default();
    let line = serde_json::json!({
        "path": path,
        "status": code.as_u16(),
        "upstream_model": parsed.get("model"),
        "bytes_out": answer.len(),
    });
    if let Ok(mut line) = serde_json::to_vec(&line) {
        line.push(b'\n');
        let _ = std::io::Write::write_all(&mut &*ledger, &line);
    }
}

fn status(code: StatusCode) -> Response {
    let mut response = Response::new(Body::from(Bytes::new()));
    *response.status_mut() = code;
    response
}

/// The byte relay's `main`: for each connection, one connection to the upstream and a thread
/// copying each way. `std::io::copy` between two sockets is plain `read`/`write` on Linux.
fn relay(upstream_root: &str) -> ! {
    let upstream = upstream_root
        .strip_prefix("http://")
        .expect("an http:// upstream")
        .to_owned();
    let listener = std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).expect("relay binds");
    let addr = listener.local_addr().expect("relay address");
    println!("{LISTENING}http://{addr}");
    for case_side in listener.incoming().flatten() {
        let Ok(upstream_side) = std::net::TcpStream::connect(&upstream) else {
            continue;
        };
        for socket in [&case_side, &upstream_side] {
            let _ = socket.set_nodelay(true);
        }
        let (Ok(case_back), Ok(upstream_back)) = (case_side.try_clone(), upstream_side.try_clone()) else {
            continue;
        };
        std::thread::spawn(move || copy_then_close(case_side, upstream_side));
        std::thread::spawn(move || copy_then_close(upstream_back, case_back));
    }
    std::process::exit(0)
}

fn copy_then_close(mut from: std::net::TcpStream, mut to: std::net::TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = to.shutdown(std::net::Shutdown::Write);
}
