//! The one driver of an upstream SSE answer on its way to Case.
//!
//! Every streamed answer — relayed as it is (OpenAI chat completions, Anthropic pass-through)
//! or translated (Anthropic over an OpenAI upstream) — needs the same plumbing: wait for
//! each upstream chunk at most `upstream_timeout`, parse its `data:` payloads with the one
//! [`SseParser`], count the bytes sent to Case into the ledger line, and write that line
//! exactly once when the stream ends, breaks or goes silent (or, through `RequestLog`'s
//! `Drop`, when Case goes away first). It also redacts the run's secrets from every upstream
//! byte before anything else sees it (a secret split across chunks too), and marks the line
//! when the upstream echoed one, which fails the run. [`SseDriver`] does all of that; an
//! [`SseHandler`] only decides what each upstream happening means and what bytes Case gets.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use futures_util::StreamExt;

use super::api_error::TranslateError;
use super::ledger::{Outcome, RequestLog};
use super::redact::StreamRedactor;
use super::sse::{SseData, SseParser};
use super::state::Shared;
use crate::upstream::LocalBaseUrl;

use super::forward::{UpstreamAnswer, UpstreamChunks as UpstreamStream, stream_error};

/// What happened upstream, as a handler sees it.
pub(crate) enum UpstreamEvent<'a> {
    /// A chunk arrived: its raw bytes and the `data:` payloads it completed. After the first
    /// payload that does not parse, the error comes once and later chunks bring no payloads.
    Chunk(&'a Bytes, Result<Vec<SseData>, TranslateError>),
    /// The upstream closed the stream.
    Closed,
    /// The stream broke (transport error) or went silent for longer than `upstream_timeout`;
    /// the text completes "the stream …" and says which, without the URL.
    Broken(String),
}

/// What a handler answers to one [`UpstreamEvent`].
pub(crate) enum Step {
    /// Send these bytes (possibly none) and wait for the next upstream chunk.
    More(Bytes),
    /// Send these last bytes (possibly none) and end the stream; the ledger line gets the
    /// outcome and reason.
    End {
        bytes: Bytes,
        outcome: Outcome,
        reason: Option<String>,
    },
    /// End the ledger line and cut Case's connection off (a relayed stream cannot say
    /// "broken" in-band: a cut connection is how Case learns it is incomplete).
    Cut { reason: String },
}

/// What a streamed answer does with upstream happenings.
pub(crate) trait SseHandler: Send + 'static {
    /// Bytes sent before any upstream chunk (a translated stream's `message_start`).
    fn start(&mut self, _log: &mut RequestLog) -> Bytes {
        Bytes::new()
    }

    /// The bytes and decision for one upstream happening.
    fn on_event(&mut self, log: &mut RequestLog, event: UpstreamEvent<'_>) -> Step;

    /// True when the handler saw one of the run's secrets spread over several pieces of
    /// streamed text (each piece alone redacts nothing; together they are an echo).
    fn saw_spread_secret(&self) -> bool {
        false
    }
}

/// One upstream SSE answer being sent to Case through `H`.
pub(crate) struct SseDriver<H> {
    upstream: UpstreamStream,
    /// Redacts the run's secrets from upstream bytes before they are parsed or sent.
    redactor: StreamRedactor,
    /// The upstream closed (what the redactor held back has been handed on).
    upstream_ended: bool,
    /// `None` once a payload failed to parse (bytes still flow; payloads no longer do).
    parser: Option<SseParser>,
    handler: H,
    /// `None` once the ledger line is written: the stream then ends.
    log: Option<RequestLog>,
    started: bool,
    idle: Duration,
    status: StatusCode,
    bytes_out: u64,
    base: LocalBaseUrl,
}

impl<H: SseHandler> SseDriver<H> {
    /// The body that streams `answer` to Case through `handler`, answering with `status`
    /// (recorded in `log` now, so that a line written by `Drop` carries it too).
    /// `shared` gives the idle timeout and the upstream (to name it in errors).
    pub(crate) fn body(
        shared: &Shared,
        answer: UpstreamAnswer,
        handler: H,
        mut log: RequestLog,
        status: StatusCode,
    ) -> Body {
        log.set_status(status.as_u16());
        let driver = SseDriver {
            upstream: answer.bytes_stream(),
            redactor: log.stream_redactor(),
            upstream_ended: false,
            parser: Some(SseParser::new()),
            handler,
            log: Some(log),
            started: false,
            idle: shared.upstream_timeout,
            status,
            bytes_out: 0,
            base: shared.upstream.clone(),
        };
        Body::from_stream(futures_util::stream::unfold(driver, SseDriver::step))
    }

    async fn step(mut self) -> Option<(Result<Bytes, std::io::Error>, Self)> {
        let mut log = self.log.take()?;
        if !self.started {
            self.started = true;
            let bytes = self.handler.start(&mut log);
            if !bytes.is_empty() {
                self.count(&mut log, &bytes);
                self.log = Some(log);
                return Some((Ok(bytes), self));
            }
        }
        loop {
            let next = if self.upstream_ended {
                None
            } else {
                Some(tokio::time::timeout(self.idle, self.upstream.next()).await)
            };
            let step = match next {
                Some(Ok(Some(Ok(chunk)))) => {
                    let chunk = Bytes::from(self.redactor.push(&chunk));
                    self.on_chunk(&mut log, &chunk)
                }
                Some(Ok(None)) => {
                    // What the redactor held back (a possible start of a secret that never
                    // came) goes on first; the close is handled on the next turn.
                    self.upstream_ended = true;
                    let rest = Bytes::from(self.redactor.finish());
                    if rest.is_empty() {
                        continue;
                    }
                    self.on_chunk(&mut log, &rest)
                }
                None => self.handler.on_event(&mut log, UpstreamEvent::Closed),
                Some(Ok(Some(Err(err)))) => {
                    let reason = format!("was cut short: {}", stream_error(&self.base, &err));
                    self.handler.on_event(&mut log, UpstreamEvent::Broken(reason))
                }
                Some(Err(_)) => {
                    let reason = format!("went silent for {} s", self.idle.as_secs_f64());
                    self.handler.on_event(&mut log, UpstreamEvent::Broken(reason))
                }
            };
            if !matches!(step, Step::More(_)) {
                log.note_upstream_echo(self.redactor.found() || self.handler.saw_spread_secret());
            }
            match step {
                Step::More(bytes) if bytes.is_empty() => continue,
                Step::More(bytes) => {
                    self.count(&mut log, &bytes);
                    self.log = Some(log);
                    return Some((Ok(bytes), self));
                }
                Step::End { bytes, outcome, reason } => {
                    self.bytes_out += bytes.len() as u64;
                    log.finish(self.status.as_u16(), self.bytes_out, outcome, reason.as_deref());
                    return (!bytes.is_empty()).then_some((Ok(bytes), self));
                }
                Step::Cut { reason } => {
                    log.finish(
                        self.status.as_u16(),
                        self.bytes_out,
                        Outcome::UpstreamError,
                        Some(&reason),
                    );
                    return Some((Err(std::io::Error::other("the upstream stream broke")), self));
                }
            }
        }
    }

    /// Parses one (redacted) chunk and hands it to the handler.
    fn on_chunk(&mut self, log: &mut RequestLog, chunk: &Bytes) -> Step {
        let payloads = match &mut self.parser {
            Some(parser) => parser.push(chunk),
            None => Ok(Vec::new()),
        };
        if payloads.is_err() {
            self.parser = None;
        }
        self.handler.on_event(log, UpstreamEvent::Chunk(chunk, payloads))
    }

    /// Counts bytes sent to Case into the ledger line.
    fn count(&mut self, log: &mut RequestLog, bytes: &Bytes) {
        self.bytes_out += bytes.len() as u64;
        log.set_bytes_out(self.bytes_out);
    }
}
