//! The local upstream: the validated base URL, the one HTTP client allowed to reach it, and
//! the `GET {base}/models` probe.
//!
//! "Local" is proven twice: the URL text must name a loopback host ([`LocalBaseUrl::parse`]),
//! and every response must have come over a connection whose peer address is loopback
//! (`check_peer`). The client never follows redirects, never uses a proxy, never retries,
//! and resolves only `localhost` (to 127.0.0.1 / ::1) — there is no DNS lookup to subvert.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use url::{Host, Url};

use crate::secrets::SecretValue;

/// Largest `/models` answer the probe reads.
const MAX_MODELS_BYTES: usize = 1024 * 1024;

/// Why a base URL is not an acceptable local adapter configuration.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BaseUrlError {
    /// Not a URL at all.
    #[error("is not a URL ({0})")]
    Unparseable(String),
    /// No `scheme://` at all, e.g. `127.0.0.1:8080/v1`.
    #[error("has no scheme: add http:// (e.g. `http://{0}`)")]
    NoScheme(String),
    /// Scheme other than http (and not https, which has its own message).
    #[error("uses scheme `{0}`; only http is allowed")]
    Scheme(String),
    /// `https`: the harness's loopback client has no TLS, so the URL could never be reached.
    #[error("uses https, but the harness talks plain http to loopback servers (it has no TLS client): use http://")]
    Https,
    /// `user:pass@` in the URL (credentials belong in `CTO_HARNESS_CASE_LOCAL_API_KEY`).
    #[error("contains user-info; put credentials in CTO_HARNESS_CASE_LOCAL_API_KEY instead")]
    UserInfo,
    /// `?query` in the URL.
    #[error("has a query string; remove everything from `?`")]
    Query,
    /// `#fragment` in the URL.
    #[error("has a fragment; remove everything from `#`")]
    Fragment,
    /// No host.
    #[error("has no host")]
    NoHost,
    /// Host is not loopback.
    #[error("host `{0}` is not loopback (127.0.0.0/8, ::1 or exactly `localhost`)")]
    NotLoopback(String),
}

impl BaseUrlError {
    /// True when the URL is well-formed but points somewhere that is not this machine.
    pub(crate) fn is_not_local(&self) -> bool {
        matches!(self, BaseUrlError::NotLoopback(_))
    }
}

/// A base URL that names a loopback host over plain http, with no credentials, query
/// or fragment. Holding one is the proof that the URL text passed the local-adapter gates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalBaseUrl {
    url: Url,
}

impl LocalBaseUrl {
    /// Validates `text` as a local provider base URL, e.g. `http://127.0.0.1:8080/v1`.
    pub fn parse(text: &str) -> Result<LocalBaseUrl, BaseUrlError> {
        if text.trim() != text || text.chars().any(char::is_control) {
            return Err(BaseUrlError::Unparseable(
                "contains whitespace or control characters".to_owned(),
            ));
        }
        // `127.0.0.1:8080/v1` or `localhost:8080` (which would parse with scheme `localhost`).
        if !text.contains("://") {
            return Err(BaseUrlError::NoScheme(text.to_owned()));
        }
        let url = Url::parse(text).map_err(|err| BaseUrlError::Unparseable(err.to_string()))?;
        match url.scheme() {
            "http" | "https" => {}
            other => return Err(BaseUrlError::Scheme(other.to_owned())),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(BaseUrlError::UserInfo);
        }
        if url.query().is_some() {
            return Err(BaseUrlError::Query);
        }
        if url.fragment().is_some() {
            return Err(BaseUrlError::Fragment);
        }
        let loopback = match url.host() {
            None => return Err(BaseUrlError::NoHost),
            Some(Host::Ipv4(ip)) => ip.is_loopback(),
            Some(Host::Ipv6(ip)) => ip.is_loopback(),
            // The url crate lower-cases hosts; anything but exactly "localhost" is a name
            // we would have to resolve, and "localhost.evil.example" is not local.
            Some(Host::Domain(name)) => name == "localhost",
        };
        if !loopback {
            let host = url.host_str().unwrap_or_default().to_owned();
            return Err(BaseUrlError::NotLoopback(host));
        }
        // Refused only now, so that a remote https URL is still reported as not local.
        if url.scheme() == "https" {
            return Err(BaseUrlError::Https);
        }
        Ok(LocalBaseUrl { url })
    }

    /// The URL exactly as validated.
    pub(crate) fn as_str(&self) -> &str {
        self.url.as_str()
    }

    /// The port, explicit or the scheme's default.
    pub(crate) fn port(&self) -> Option<u16> {
        self.url.port_or_known_default()
    }

    /// `host:port` of the upstream, for the ledger and the report.
    pub(crate) fn host_port(&self) -> String {
        let port = self.url.port_or_known_default().unwrap_or(80);
        match self.url.host() {
            Some(Host::Ipv6(ip)) => format!("[{ip}]:{port}"),
            _ => format!("{}:{port}", self.url.host_str().unwrap_or_default()),
        }
    }

    /// The URL of an endpoint under the base, e.g. `endpoint("chat/completions")`.
    pub(crate) fn endpoint(&self, path: &str) -> String {
        format!(
            "{}/{}",
            self.url.as_str().trim_end_matches('/'),
            path.trim_start_matches('/')
        )
    }

    /// The server root (scheme, host, port), for servers' own endpoints such as `/props`.
    pub(crate) fn origin_endpoint(&self, path: &str) -> String {
        format!(
            "{}/{}",
            self.url.origin().ascii_serialization(),
            path.trim_start_matches('/')
        )
    }
}

/// Why an upstream request failed. Messages never include a URL query, a header or a secret.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    /// The connection's peer was not loopback (or unknown).
    #[error("the connection to {host} went to {peer}, which is not loopback")]
    NotLoopbackPeer {
        /// Configured host:port.
        host: String,
        /// Observed peer.
        peer: String,
    },
    /// Connect/timeout/protocol failure.
    #[error("no answer from {host}: {reason}")]
    Transport {
        /// Configured host:port.
        host: String,
        /// What went wrong (reqwest's error without its URL).
        reason: String,
    },
    /// Answered, but not 200.
    #[error("{host} answered HTTP {status} to GET {path}{hint}")]
    Status {
        /// Configured host:port.
        host: String,
        /// The path asked for.
        path: String,
        /// The status code.
        status: u16,
        /// Extra advice (e.g. redirects are not followed).
        hint: &'static str,
    },
    /// Answered 200 with something that is not an OpenAI model list.
    #[error("{host} did not answer GET {path} with an OpenAI model list: {reason}")]
    NotAModelList {
        /// Configured host:port.
        host: String,
        /// The path asked for.
        path: String,
        /// What was wrong with it.
        reason: String,
    },
}

/// The HTTP client for the local upstream: no redirects, no proxies, no retries, `localhost`
/// pinned to loopback addresses. `timeout` bounds each whole request.
///
/// Building can only fail if the HTTP stack cannot initialise; callers treat that as an
/// internal error rather than fall back to a default (redirect-following, proxied) client.
pub fn loopback_client(timeout: Option<Duration>) -> Result<reqwest::Client, reqwest::Error> {
    let localhost = [
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
        SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 0),
    ];
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .retry(reqwest::retry::never())
        .resolve_to_addrs("localhost", &localhost)
        .connect_timeout(Duration::from_secs(5));
    if let Some(timeout) = timeout {
        builder = builder.timeout(timeout);
    }
    builder.build()
}

/// Whether `response` came over a connection whose peer address is loopback (an unknown
/// peer is not).
pub(crate) fn has_loopback_peer(response: &reqwest::Response) -> bool {
    response.remote_addr().is_some_and(|peer| peer.ip().is_loopback())
}

/// Refuses a response whose connection peer is not loopback.
pub(crate) fn check_peer(base: &LocalBaseUrl, response: &reqwest::Response) -> Result<(), UpstreamError> {
    match response.remote_addr() {
        Some(_) if has_loopback_peer(response) => Ok(()),
        other => Err(UpstreamError::NotLoopbackPeer {
            host: base.host_port(),
            peer: other.map_or_else(|| "an unknown address".to_owned(), |peer| peer.to_string()),
        }),
    }
}

/// Describes a transport error without its URL.
pub(crate) fn transport_error(base: &LocalBaseUrl, err: reqwest::Error) -> UpstreamError {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let detail = err.without_url().to_string();
    UpstreamError::Transport {
        host: base.host_port(),
        reason: format!("{kind} ({detail})"),
    }
}

/// Why [`read_body_bounded`] stopped before the end of an answer.
#[derive(Debug)]
pub(crate) enum BodyReadError {
    /// The answer is longer than the limit (the rest is not read).
    TooLarge,
    /// No chunk arrived within the per-chunk timeout.
    Timeout,
    /// The connection failed mid-answer.
    Transport(reqwest::Error),
}

/// Reads a whole (non-streamed) upstream answer, at most `limit` bytes, waiting at most
/// `chunk_timeout` (when given) for each chunk: the one bounded read for every upstream
/// answer the harness keeps (the `/models` probe, the fingerprint questions, the Messages
/// API probe).
pub(crate) async fn read_body_bounded(
    response: &mut reqwest::Response,
    limit: usize,
    chunk_timeout: Option<Duration>,
) -> Result<Vec<u8>, BodyReadError> {
    let mut body = Vec::new();
    loop {
        let chunk = match chunk_timeout {
            Some(timeout) => tokio::time::timeout(timeout, response.chunk())
                .await
                .map_err(|_| BodyReadError::Timeout)?,
            None => response.chunk().await,
        };
        match chunk.map_err(BodyReadError::Transport)? {
            None => return Ok(body),
            Some(chunk) => {
                if body.len() + chunk.len() > limit {
                    return Err(BodyReadError::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
        }
    }
}

/// What the upstream listed at `GET {base}/models`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct ModelList {
    /// The `id` of every entry, in the upstream's order.
    pub ids: Vec<String>,
    /// The raw entry for each id (for the fingerprint), as JSON.
    pub entries: Vec<serde_json::Value>,
}

/// `GET {base}/models`, with the upstream secret as a bearer token when one is configured.
pub(crate) async fn probe_models(
    client: &reqwest::Client,
    base: &LocalBaseUrl,
    api_key: Option<&SecretValue>,
) -> Result<ModelList, UpstreamError> {
    let path = "/models";
    let mut request = client.get(base.endpoint(path));
    if let Some(key) = api_key {
        request = request.bearer_auth(key.expose());
    }
    let mut response = request.send().await.map_err(|err| transport_error(base, err))?;
    check_peer(base, &response)?;
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        return Err(UpstreamError::Status {
            host: base.host_port(),
            path: path.to_owned(),
            status: status.as_u16(),
            hint: if status.is_redirection() {
                " (redirects are never followed)"
            } else {
                ""
            },
        });
    }
    let body = match read_body_bounded(&mut response, MAX_MODELS_BYTES, None).await {
        Ok(body) => body,
        Err(BodyReadError::Transport(err)) => return Err(transport_error(base, err)),
        Err(BodyReadError::TooLarge) => return Err(not_a_model_list(base, path, "answer is larger than 1 MiB")),
        // No per-chunk timeout here: the client's own timeout bounds the whole probe.
        Err(BodyReadError::Timeout) => return Err(not_a_model_list(base, path, "answer timed out")),
    };
    parse_model_list(&body).map_err(|reason| not_a_model_list(base, path, &reason))
}

fn not_a_model_list(base: &LocalBaseUrl, path: &str, reason: &str) -> UpstreamError {
    UpstreamError::NotAModelList {
        host: base.host_port(),
        path: path.to_owned(),
        reason: reason.to_owned(),
    }
}

fn parse_model_list(body: &[u8]) -> Result<ModelList, String> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|err| format!("not JSON ({err})"))?;
    let data = value
        .get("data")
        .and_then(serde_json::Value::as_array)
        .ok_or("no `data` array")?;
    let mut ids = Vec::with_capacity(data.len());
    for (index, entry) in data.iter().enumerate() {
        let id = entry
            .get("id")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| format!("`data[{index}].id` is not a string"))?;
        ids.push(id.to_owned());
    }
    Ok(ModelList {
        ids,
        entries: data.clone(),
    })
}

#[doc(hidden)]
pub mod oracle;
#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_without_a_scheme_gets_the_http_hint() {
        for text in ["127.0.0.1:8080/v1", "localhost:8080", "127.0.0.1/v1"] {
            let err = LocalBaseUrl::parse(text).expect_err("no scheme");
            assert_eq!(
                err.to_string(),
                format!("has no scheme: add http:// (e.g. `http://{text}`)")
            );
        }
        assert!(LocalBaseUrl::parse("http://127.0.0.1:8080/v1").is_ok());
    }

    /// A loopback server that answers one request with `body` (its `Content-Length` true)
    /// and, when `stall`, holds the connection open after the headers instead (no timing is
    /// asserted: the stall outlasts the chunk timeout by orders of magnitude).
    fn answer_once(body: Vec<u8>, stall: bool) -> std::net::SocketAddr {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            let Ok((mut stream, _)) = listener.accept() else { return };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            if stall {
                // Far longer than any chunk timeout under test; the thread ends with the test binary.
                std::thread::sleep(Duration::from_secs(60));
            } else {
                let _ = stream.write_all(&body);
            }
        });
        addr
    }

    async fn read_from(
        addr: std::net::SocketAddr,
        limit: usize,
        chunk_timeout: Option<Duration>,
    ) -> Result<Vec<u8>, BodyReadError> {
        let client = loopback_client(None).expect("client");
        let mut response = client.get(format!("http://{addr}/")).send().await.expect("response");
        assert!(has_loopback_peer(&response));
        read_body_bounded(&mut response, limit, chunk_timeout).await
    }

    #[tokio::test]
    async fn a_bounded_read_keeps_an_answer_of_exactly_the_limit_and_refuses_one_byte_more() {
        let body = vec![b'x'; 1000];
        let read = read_from(answer_once(body.clone(), false), 1000, None)
            .await
            .expect("at the limit");
        assert_eq!(read, body);
        let refused = read_from(answer_once(body, false), 999, None).await;
        assert!(matches!(refused, Err(BodyReadError::TooLarge)), "{refused:?}");
    }

    #[tokio::test]
    async fn a_bounded_read_gives_up_on_a_silent_upstream_after_the_chunk_timeout() {
        let stalled = read_from(answer_once(vec![b'x'; 10], true), 100, Some(Duration::from_millis(100))).await;
        assert!(matches!(stalled, Err(BodyReadError::Timeout)), "{stalled:?}");
    }

    #[test]
    fn accepts_loopback_hosts() {
        for ok in [
            "http://127.0.0.1:8080/v1",
            "http://127.9.8.7/v1",
            "http://[::1]:1/v1",
            "http://localhost:11434/v1",
            "http://LOCALHOST/v1",
        ] {
            assert!(LocalBaseUrl::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_everything_else() {
        let cases = [
            ("ftp://127.0.0.1/v1", BaseUrlError::Scheme("ftp".into())),
            // Regression: https passed the gate and then failed as "unreachable".
            ("https://127.0.0.1:8443/v1", BaseUrlError::Https),
            ("http://u:p@127.0.0.1/v1", BaseUrlError::UserInfo),
            ("http://127.0.0.1/v1?key=x", BaseUrlError::Query),
            ("http://127.0.0.1/v1#x", BaseUrlError::Fragment),
            (
                "http://localhost.evil.example/v1",
                BaseUrlError::NotLoopback("localhost.evil.example".into()),
            ),
            ("http://10.0.0.1/v1", BaseUrlError::NotLoopback("10.0.0.1".into())),
            (
                "http://[::ffff:127.0.0.1]/v1",
                BaseUrlError::NotLoopback("[::ffff:7f00:1]".into()),
            ),
            ("http://localhost./v1", BaseUrlError::NotLoopback("localhost.".into())),
        ];
        for (text, expected) in cases {
            assert_eq!(LocalBaseUrl::parse(text), Err(expected), "{text}");
        }
        assert!(matches!(
            LocalBaseUrl::parse(" http://127.0.0.1/v1"),
            Err(BaseUrlError::Unparseable(_))
        ));
        assert!(LocalBaseUrl::parse("127.0.0.1:8080").is_err());
    }

    #[test]
    fn joins_endpoints_under_the_base() {
        let base = LocalBaseUrl::parse("http://127.0.0.1:8080/v1/").expect("valid");
        assert_eq!(base.endpoint("/models"), "http://127.0.0.1:8080/v1/models");
        assert_eq!(base.origin_endpoint("props"), "http://127.0.0.1:8080/props");
        assert_eq!(base.host_port(), "127.0.0.1:8080");
    }

    #[test]
    fn model_list_shape_is_checked() {
        assert_eq!(
            parse_model_list(br#"{"object":"list","data":[{"id":"a"},{"id":"b"}]}"#).map(|l| l.ids),
            Ok(vec!["a".to_owned(), "b".to_owned()])
        );
        assert!(parse_model_list(br#"{"models":[]}"#).is_err());
        assert!(parse_model_list(br#"{"data":[{"name":"a"}]}"#).is_err());
        assert!(parse_model_list(b"<html>").is_err());
    }
}
