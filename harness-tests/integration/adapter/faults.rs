//! Upstream faults and load (issue #15 items 4 and 5). A scripted fault server on 127.0.0.1
//! (raw TCP: it can break HTTP in ways a framework would not let it) misbehaves once per
//! connection; the adapter must answer Case clearly, write one ledger line saying what
//! happened, count nothing as served, and keep no socket open afterwards.
//!
//! "No socket left" is checked from `/proc/net/tcp{,6}`: every connection to the fault
//! server's port and to the adapter's port must be gone (`TIME_WAIT` holds no descriptor).
//! Counting `/proc/self/fd` instead would also count the sockets of tests running beside
//! this one in the same process.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use case_harness::adapter::Outcome;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::{MODEL, TOKEN, TestAdapter};

/// One way for the upstream to misbehave.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Starts a chunked SSE answer, sends one event, then closes the connection.
    ClosesMidStream,
    /// An SSE answer whose event is not JSON.
    MalformedEvent,
    /// An SSE event of 17 MiB (over the parser's 16 MiB bound).
    OversizedEvent,
    /// Sends response headers of a stream, then nothing.
    SilentAfterHeaders,
    /// Accepts the connection and never answers.
    SilentBeforeHeaders,
    /// HTTP 500 with an error body.
    ServerError,
    /// A 50 MiB body that is not a chat completion.
    HugeBody,
    /// A 70 MiB body: over the adapter's 64 MiB bound for a whole answer.
    OversizedBody,
    /// A 302 to another host.
    Redirect,
    /// A stream that sends one event every 200 ms for a minute, never finishing sooner.
    SlowStream,
}

/// Reads one request's head (and whatever body came with it).
async fn read_request(socket: &mut TcpStream) {
    let mut buffer = vec![0u8; 64 * 1024];
    let mut seen = Vec::new();
    while !seen.windows(4).any(|window| window == b"\r\n\r\n") {
        match socket.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => seen.extend_from_slice(&buffer[..read]),
        }
    }
    // The body is small (a chat request); give it a moment to arrive, then stop reading.
    let _ = tokio::time::timeout(Duration::from_millis(50), socket.read(&mut buffer)).await;
}

const SSE_HEAD: &str =
    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";

fn chunk(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

fn plain(status: &str, content_type: &str, body: &[u8], extra: &str) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

async fn misbehave(mut socket: TcpStream, fault: Fault) {
    read_request(&mut socket).await;
    let event = format!(
        "data: {}\n\n",
        json!({"model": MODEL, "choices": [{"index": 0, "delta": {"content": "Par"}}]})
    );
    let _ = match fault {
        Fault::ClosesMidStream => {
            let mut bytes = SSE_HEAD.as_bytes().to_vec();
            bytes.extend(chunk(event.as_bytes()));
            socket.write_all(&bytes).await
        }
        Fault::MalformedEvent => {
            let mut bytes = SSE_HEAD.as_bytes().to_vec();
            bytes.extend(chunk(b"data: {\"choices\": [oops\n\n"));
            bytes.extend(b"0\r\n\r\n");
            socket.write_all(&bytes).await
        }
        Fault::OversizedEvent => {
            let mut bytes = SSE_HEAD.as_bytes().to_vec();
            bytes.extend(chunk(b"data: \""));
            socket.write_all(&bytes).await.ok();
            let filler = vec![b'a'; 1024 * 1024];
            for _ in 0..17 {
                if socket.write_all(&chunk(&filler)).await.is_err() {
                    return;
                }
            }
            socket.write_all(b"0\r\n\r\n").await
        }
        Fault::SilentAfterHeaders => {
            socket.write_all(SSE_HEAD.as_bytes()).await.ok();
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(())
        }
        Fault::SilentBeforeHeaders => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(())
        }
        Fault::ServerError => {
            let body = json!({"error": {"message": "model crashed"}}).to_string();
            socket
                .write_all(&plain(
                    "500 Internal Server Error",
                    "application/json",
                    body.as_bytes(),
                    "",
                ))
                .await
        }
        Fault::HugeBody | Fault::OversizedBody => {
            let mib = if matches!(fault, Fault::HugeBody) { 50 } else { 70 };
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                mib * 1024 * 1024
            );
            socket.write_all(head.as_bytes()).await.ok();
            let filler = vec![b' '; 1024 * 1024];
            for _ in 0..mib {
                if socket.write_all(&filler).await.is_err() {
                    return;
                }
            }
            Ok(())
        }
        Fault::SlowStream => {
            socket.write_all(SSE_HEAD.as_bytes()).await.ok();
            for _ in 0..300 {
                if socket.write_all(&chunk(event.as_bytes())).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Ok(())
        }
        Fault::Redirect => {
            socket
                .write_all(&plain(
                    "302 Found",
                    "text/plain",
                    b"moved",
                    "location: http://203.0.113.9/v1/chat/completions\r\n",
                ))
                .await
        }
    };
    let _ = socket.shutdown().await;
}

/// A fault server: every connection gets `fault`. Returns its address.
async fn fault_server(fault: Fault) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(misbehave(socket, fault));
        }
    });
    addr
}

/// The adapter's open TCP sockets: those it connected to the upstream at `upstream` and
/// those it accepted on `adapter`. Only states in which a descriptor still holds the socket
/// count (established, or closed by the peer but not by us); a socket the adapter closed
/// lingers in FIN_WAIT/TIME_WAIT without one.
fn adapter_sockets(upstream: u16, adapter: u16) -> usize {
    let port_of = |field: &str| {
        field
            .rsplit_once(':')
            .and_then(|(_, port)| u16::from_str_radix(port, 16).ok())
    };
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .flat_map(|table| table.lines().skip(1).map(str::to_owned).collect::<Vec<_>>())
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(remote)) = (
                fields.get(1).and_then(|f| port_of(f)),
                fields.get(2).and_then(|f| port_of(f)),
            ) else {
                return false;
            };
            let held = matches!(fields.get(3), Some(&"01" | &"08"));
            held && (remote == upstream || local == adapter)
        })
        .count()
}

/// Waits (bounded) until the adapter holds no socket to `upstream` or on `adapter`.
async fn wait_until_closed(upstream: u16, adapter: u16) -> usize {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let open = adapter_sockets(upstream, adapter);
        if open == 0 || Instant::now() > deadline {
            return open;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A Case-side client that keeps no idle connection (so a socket left open is the adapter's).
fn case_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// What Case saw: the status, and the body or the error that ended it.
async fn ask(adapter: &TestAdapter, api_path: &str, stream: bool) -> (u16, Result<Vec<u8>, String>) {
    let body =
        json!({"model": MODEL, "stream": stream, "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]});
    let response = case_client()
        .post(adapter.url(api_path))
        .bearer_auth(TOKEN)
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .expect("the adapter answers");
    let status = response.status().as_u16();
    (
        status,
        response
            .bytes()
            .await
            .map(|bytes| bytes.to_vec())
            .map_err(|err| err.to_string()),
    )
}

async fn assert_fault_handled(
    fault: Fault,
    api_path: &str,
    stream: bool,
    expect: impl Fn(u16, &Result<Vec<u8>, String>) -> bool,
) {
    let addr = fault_server(fault).await;
    let adapter = TestAdapter::start_with_timeout(&format!("http://{addr}/v1"), Duration::from_secs(2)).await;
    let (status, body) = ask(&adapter, api_path, stream).await;
    let shown = match &body {
        Ok(bytes) => String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned(),
        Err(err) => format!("error: {err}"),
    };
    assert!(expect(status, &body), "{fault:?} {api_path}: Case got {status} {shown}");
    let ledger = adapter.ledger();
    assert_eq!(ledger.len(), 1, "{fault:?} {api_path}: {ledger:?}");
    let line = &ledger[0];
    // `forwarded` with a non-2xx status is the upstream's own error, relayed: never served.
    assert!(
        line.outcome != Outcome::Forwarded || !(200..300).contains(&line.status),
        "{fault:?} {api_path} counted as an answer: {line:?}"
    );
    assert!(
        line.reason.as_deref().is_some_and(|reason| !reason.is_empty()),
        "{fault:?}: no reason: {line:?}"
    );
    assert_eq!(
        adapter.handle.totals().served_by_admitted_model,
        0,
        "{fault:?} {api_path}"
    );
    let adapter_port = adapter.handle.local_addr().port();
    drop(adapter);
    let left = wait_until_closed(addr.port(), adapter_port).await;
    assert_eq!(left, 0, "{fault:?} {api_path}: {left} connection(s) left open");
}

fn is_error_status(status: u16, _: &Result<Vec<u8>, String>) -> bool {
    status >= 400
}

/// A stream that Case sees end with an error: a broken transfer, or an Anthropic `error` event.
fn stream_ends_in_error(status: u16, body: &Result<Vec<u8>, String>) -> bool {
    match body {
        Err(_) => true,
        Ok(bytes) => status >= 400 || String::from_utf8_lossy(bytes).contains("event: error"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_closing_mid_stream_ends_in_an_error_on_both_apis() {
    assert_fault_handled(
        Fault::ClosesMidStream,
        "/v1/chat/completions",
        true,
        stream_ends_in_error,
    )
    .await;
    assert_fault_handled(Fault::ClosesMidStream, "/v1/messages", true, stream_ends_in_error).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_stream_event_is_never_an_answer() {
    // The OpenAI relay passes bytes as they are (Case's own client judges them); the ledger
    // line says the stream carried an error. The Anthropic route ends in an `error` event.
    assert_fault_handled(Fault::MalformedEvent, "/v1/chat/completions", true, |status, _| {
        status == 200
    })
    .await;
    assert_fault_handled(Fault::MalformedEvent, "/v1/messages", true, stream_ends_in_error).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_stream_event_is_never_an_answer() {
    assert_fault_handled(Fault::OversizedEvent, "/v1/chat/completions", true, |status, _| {
        status == 200
    })
    .await;
    assert_fault_handled(Fault::OversizedEvent, "/v1/messages", true, stream_ends_in_error).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_silent_past_the_timeout_is_cut_off() {
    assert_fault_handled(
        Fault::SilentAfterHeaders,
        "/v1/chat/completions",
        true,
        stream_ends_in_error,
    )
    .await;
    assert_fault_handled(Fault::SilentAfterHeaders, "/v1/messages", true, stream_ends_in_error).await;
    assert_fault_handled(
        Fault::SilentBeforeHeaders,
        "/v1/chat/completions",
        false,
        |status, _| status == 504,
    )
    .await;
    assert_fault_handled(Fault::SilentBeforeHeaders, "/v1/messages", false, |status, _| {
        status == 504
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_5xx_is_returned_not_retried_and_not_served() {
    assert_fault_handled(Fault::ServerError, "/v1/chat/completions", false, |status, _| {
        status == 500
    })
    .await;
    assert_fault_handled(Fault::ServerError, "/v1/messages", false, |status, _| status == 500).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_50_mib_junk_body_and_a_70_mib_body_are_never_answers() {
    // 50 MiB is under the 64 MiB bound: relayed (OpenAI) but not a completion; the Anthropic
    // route cannot translate it. 70 MiB is over the bound: 502 on both.
    assert_fault_handled(Fault::HugeBody, "/v1/chat/completions", false, |status, _| {
        status == 200
    })
    .await;
    assert_fault_handled(Fault::HugeBody, "/v1/messages", false, is_error_status).await;
    assert_fault_handled(Fault::OversizedBody, "/v1/chat/completions", false, |status, _| {
        status == 502
    })
    .await;
    assert_fault_handled(Fault::OversizedBody, "/v1/messages", false, |status, _| status == 502).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_not_followed_and_its_location_never_reaches_case() {
    for api_path in ["/v1/chat/completions", "/v1/messages"] {
        let addr = fault_server(Fault::Redirect).await;
        let adapter = TestAdapter::start_with_timeout(&format!("http://{addr}/v1"), Duration::from_secs(2)).await;
        let response = case_client()
            .post(adapter.url(api_path))
            .bearer_auth(TOKEN)
            .json(&json!({"model": MODEL, "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .expect("answer");
        assert!(response.headers().get("location").is_none(), "{api_path}");
        assert_ne!(response.status(), 200, "{api_path}");
        let line = &adapter.ledger()[0];
        assert_eq!(
            adapter.handle.totals().served_by_admitted_model,
            0,
            "{api_path}: {line:?}"
        );
        assert!(
            line.reason.as_deref().is_some_and(|reason| reason.contains("302")),
            "{line:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_disconnecting_mid_stream_is_recorded_and_closes_the_upstream_connection() {
    // The upstream keeps talking, so the adapter finds out Case is gone at its next write (a
    // silent upstream is cut off by the idle timeout instead: see the test above).
    let addr = fault_server(Fault::SlowStream).await;
    // A long timeout: the stream stays open until Case goes away, not until the adapter gives up.
    let adapter = TestAdapter::start_with_timeout(&format!("http://{addr}/v1"), Duration::from_secs(120)).await;
    for api_path in ["/v1/chat/completions", "/v1/messages"] {
        let response = case_client()
            .post(adapter.url(api_path))
            .bearer_auth(TOKEN)
            .json(&json!({"model": MODEL, "stream": true, "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .expect("headers");
        assert_eq!(response.status(), 200);
        drop(response);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while adapter.ledger().len() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ledger = adapter.ledger();
    assert_eq!(ledger.len(), 2, "{ledger:?}");
    assert!(
        ledger.iter().all(|line| line.outcome == Outcome::Cancelled),
        "{ledger:?}"
    );
    assert_eq!(
        wait_until_closed(addr.port(), adapter.handle.local_addr().port()).await,
        0,
        "the upstream connection outlived Case"
    );
}

/// Resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Set in the process [`a_thousand_requests_at_concurrency_64_are_all_answered_and_each_has_one_ledger_line`]
/// starts to do the work in.
const ALONE: &str = "CASE_HARNESS_TEST_ALONE";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_requests_at_concurrency_64_are_all_answered_and_each_has_one_ledger_line() {
    // Memory is judged in a process of its own: under `cargo test` every other test of this
    // binary shares this one (a 50 MiB body next door is not the adapter's growth).
    if std::env::var_os(ALONE).is_none() {
        let name =
            "adapter::faults::a_thousand_requests_at_concurrency_64_are_all_answered_and_each_has_one_ledger_line";
        let output = std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args([name, "--exact", "--nocapture"])
            .env(ALONE, "1")
            .output()
            .expect("the test binary runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "{stdout}\n{stderr}"
        );
        return;
    }
    let upstream = crate::support::upstream_answering_all(wiremock::ResponseTemplate::new(200).set_body_json(json!({
        "id": "x", "object": "chat.completion", "model": MODEL,
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "pong"}}]
    })))
    .await;
    let adapter = std::sync::Arc::new(TestAdapter::start(&crate::support::upstream_base(&upstream)).await);
    let client = reqwest::Client::builder().no_proxy().build().expect("client");
    let body = json!({"model": MODEL, "messages": [{"role": "user", "content": "ping"}]});
    let mut rss = Vec::new();
    for round in 0..2 {
        let statuses: Vec<u16> = futures_util::StreamExt::collect(futures_util::StreamExt::buffer_unordered(
            futures_util::stream::iter((0..1000).map(|_| {
                let (client, adapter, body) = (client.clone(), adapter.clone(), body.clone());
                async move {
                    match tokio::time::timeout(
                        Duration::from_secs(120),
                        client
                            .post(adapter.url("/v1/chat/completions"))
                            .bearer_auth(TOKEN)
                            .json(&body)
                            .send(),
                    )
                    .await
                    {
                        Ok(Ok(response)) => {
                            let status = response.status().as_u16();
                            let _: Value = response.json().await.expect("every answer is JSON");
                            status
                        }
                        Ok(Err(err)) => panic!("a request was not answered: {err}"),
                        Err(_) => panic!("a request was not answered within 120 s"),
                    }
                }
            })),
            64,
        ))
        .await;
        let refused = statuses
            .iter()
            .filter(|status| **status == 503 || **status == 429)
            .count();
        let answered = statuses.iter().filter(|status| **status == 200).count();
        assert_eq!(answered + refused, 1000, "round {round}: {statuses:?}");
        assert_eq!(adapter.ledger().len(), 1000 * (round + 1), "round {round}");
        rss.push(rss_kib());
    }
    adapter.assert_totals_match_file();
    // Flat memory: the second thousand requests must not grow the process by more than a
    // fraction of what holding their bodies would take (tests beside this one share the process).
    let growth = rss[1].saturating_sub(rss[0]);
    assert!(
        growth < 64 * 1024,
        "RSS grew {growth} KiB over the second 1,000 requests ({rss:?} KiB)"
    );
    eprintln!(
        "load: RSS after 1,000 requests {} KiB, after 2,000 {} KiB",
        rss[0], rss[1]
    );
}
