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
use http_body_util::Full;
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

/// The two floors.
#[derive(Clone, Copy)]
pub enum Floor {
    /// axum + hyper-util's client on tokio, as the adapter.
    SameStack,
    /// Bytes copied between sockets by blocking threads.
    ByteRelay,
}

impl Floor {
    fn env_value(self) -> &'static str {
        match self {
            Floor::SameStack => "stack",
            Floor::ByteRelay => "relay",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Floor::SameStack => "floor: bare proxy, same stack",
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
    if std::env::var(FLOOR_KIND_ENV).as_deref() == Ok(Floor::ByteRelay.env_value()) {
        relay(&upstream_root);
    }
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
        let app = axum::Router::new()
            .fallback(forward)
            .with_state((client, upstream_root));
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app).await.expect("floor serves");
    });
    std::process::exit(0)
}

/// The floor's forwarding client: the adapter's kind (`src/adapter/forward.rs`).
type FloorClient = Client<HttpConnector, Full<Bytes>>;

async fn forward(State((client, upstream)): State<(FloorClient, String)>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 8 << 20).await else {
        return status(StatusCode::PAYLOAD_TOO_LARGE);
    };
    let Ok(uri) = Uri::try_from(format!("{upstream}{}", parts.uri.path())) else {
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
    let Ok(answer) = client.request(upstream_request).await else {
        return status(StatusCode::BAD_GATEWAY);
    };
    let mut headers = HeaderMap::new();
    if let Some(value) = answer.headers().get(CONTENT_TYPE) {
        headers.insert(CONTENT_TYPE, value.clone());
    }
    let code = answer.status();
    let mut response = Response::new(Body::new(answer.into_body()));
    *response.status_mut() = code;
    *response.headers_mut() = headers;
    response
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
