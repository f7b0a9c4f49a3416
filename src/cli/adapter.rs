//! `case-harness adapter`: the loopback adapter on its own, for a Case started by hand.

use super::exit::{CliError, Exit};
use crate::config::HarnessConfig;

/// `case-harness adapter --upstream URL --model NAME [--listen ADDR]`.
pub(super) fn adapter(
    config: &HarnessConfig,
    upstream: &str,
    model: String,
    listen: std::net::SocketAddr,
    upstream_api: crate::adapter::UpstreamApi,
    sampling: crate::output::SamplingPin,
) -> Result<Exit, CliError> {
    let upstream = crate::upstream::LocalBaseUrl::parse(upstream).map_err(CliError::UpstreamFlag)?;
    if let Some(name) = crate::external_names::external_reference(&model) {
        return Err(CliError::ExternalModel { model, name });
    }
    let key = config.local_api_key.clone();
    crate::signals::block_on(serve_standalone(upstream, model, listen, key, upstream_api, sampling))
        .map_err(CliError::Runtime)??;
    Ok(Exit::Success)
}

/// `case-harness adapter`: serves until Ctrl-C or SIGTERM, saying where things are (the
/// token file's path, never the token) and, at the end, what happened.
async fn serve_standalone(
    upstream: crate::upstream::LocalBaseUrl,
    model: String,
    listen: std::net::SocketAddr,
    key: Option<crate::secrets::SecretValue>,
    upstream_api: crate::adapter::UpstreamApi,
    sampling: crate::output::SamplingPin,
) -> Result<(), CliError> {
    let upstream_host = upstream.host_port();
    let described = sampling.describe();
    let standalone =
        crate::adapter::Standalone::start(upstream, model.clone(), listen, key, upstream_api, sampling).await?;
    let addr = standalone.local_addr();
    println!("case-harness adapter listening on http://{addr}");
    println!("  OpenAI base URL: http://{addr}/v1");
    println!("  serving model:   {model} (any other model is refused)");
    println!("  upstream:        {upstream_host}");
    println!(
        "  Anthropic API:   {} (/v1/messages, /v1/messages/count_tokens)",
        standalone.mode().as_str()
    );
    println!("  sampling:        {described} (set on every forwarded generation request)");
    println!("  token file:      {}", standalone.token_path().display());
    println!("                   (send it as `Authorization: Bearer TOKEN` or `x-api-key: TOKEN`)");
    println!("  ledger:          {}", standalone.ledger_path().display());
    println!("Press Ctrl-C (or send SIGTERM) to stop.");
    let signal = crate::signals::interrupted().await;
    let totals = standalone.stop().await;
    println!(
        "stopped: {} request(s), {} forwarded, {} served by {model}, {} fallback attempt(s) refused",
        totals.requests, totals.forwarded, totals.served_by_admitted_model, totals.fallback_attempts
    );
    println!("({signal} received)");
    Ok(())
}
