//! Concurrency 1 with a Python client: `python_client.py` (standard library `http.client`,
//! keep-alive, round-robin over the lanes) run by `python3`, so that the added latency is also
//! measured the way SDK users see it. The issue's ≤ 100 µs target is stated for this client.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::load::{CHAT_REQUEST, Lane, Measured, Sample};
use crate::upstream::ANSWER_TEXT;

const SCRIPT: &str = include_str!("python_client.py");

/// Round-robin chat completions over `lanes` from one Python process; `Err` says why not
/// measured (no `python3`, or it failed).
pub fn sequential(lanes: &[Lane], warmup: usize, budget: Duration) -> Result<Vec<Measured>, String> {
    let mut spec_lanes = Vec::new();
    for lane in lanes {
        let authority = lane
            .root
            .strip_prefix("http://")
            .ok_or_else(|| format!("{}: not an http:// root", lane.label))?;
        let (host, port) = authority
            .rsplit_once(':')
            .ok_or_else(|| format!("{}: no port in {authority}", lane.label))?;
        let port: u16 = port.parse().map_err(|_| format!("{}: bad port {port}", lane.label))?;
        spec_lanes.push(serde_json::json!({
            "label": lane.label, "host": host, "port": port, "token": lane.token, "cap": lane.cap,
        }));
    }
    let spec = serde_json::json!({
        "warmup": warmup, "budget_s": budget.as_secs_f64(), "body": CHAT_REQUEST,
        "answer": ANSWER_TEXT, "lanes": spec_lanes,
    });
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| format!("python3 did not start: {err}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(spec.to_string().as_bytes())
            .map_err(|err| format!("python3: {err}"))?;
    }
    let output = child.wait_with_output().map_err(|err| format!("python3: {err}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!(
            "python3 failed ({}): {}",
            output.status,
            stderr.lines().last().unwrap_or("")
        ));
    }
    let results: serde_json::Value =
        serde_json::from_slice(&output.stdout).map_err(|err| format!("python3 printed no result: {err}"))?;
    let measured = lanes
        .iter()
        .map(|lane| {
            let result = &results[&lane.label];
            let samples = result["samples_us"]
                .as_array()
                .map(|samples| {
                    samples
                        .iter()
                        .filter_map(serde_json::Value::as_f64)
                        .map(|us| {
                            let total = Duration::from_secs_f64(us / 1e6);
                            Sample {
                                first_byte: total,
                                total,
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            let mut measured = Measured::from_samples(&lane.label, samples);
            measured.errors = result["errors"].as_u64().unwrap_or(0) as usize;
            measured.first_error = result["first_error"].as_str().map(str::to_owned);
            measured
        })
        .collect();
    Ok(measured)
}
