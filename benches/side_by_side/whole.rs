//! Whole-process figures: `case-harness check`, a whole `run` with the reference Case broken
//! down by stage from its own trace, and `case-harness scan` against `grep -F -f` on the same
//! generated files. Every process is run as a user would run it, and timed from spawn to exit.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Environment every harness process gets: the fixtures' decision and admission, the upstream.
pub struct HarnessEnv {
    pub harness: PathBuf,
    pub root: PathBuf,
    pub upstream_v1: String,
}

impl HarnessEnv {
    fn command(&self, admission: bool) -> Command {
        let mut command = Command::new(&self.harness);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("CTO_HARNESS_CASE_") {
                command.env_remove(name);
            }
        }
        command
            .env(
                "CTO_HARNESS_CASE_DECISION_FILE",
                self.root.join("fixtures/decision/local-provider-required.json"),
            )
            .env("CTO_HARNESS_CASE_LOCAL_BASE_URL", &self.upstream_v1)
            .stdin(Stdio::null());
        if admission {
            command.env(
                "CTO_HARNESS_CASE_MODEL_ADMISSION_FILE",
                self.root.join("fixtures/admission/candidate-smollm2.json"),
            );
        }
        command
    }
}

/// Wall times of repeated runs of one command.
pub struct Timed {
    pub label: String,
    pub times: Vec<Duration>,
    pub failure: Option<String>,
}

impl Timed {
    pub fn median_ms(&self) -> f64 {
        median(self.times.iter().map(|time| time.as_secs_f64() * 1e3).collect())
    }
    pub fn min_ms(&self) -> f64 {
        self.times
            .iter()
            .map(|time| time.as_secs_f64() * 1e3)
            .fold(f64::INFINITY, f64::min)
    }
}

pub fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_unstable_by(f64::total_cmp);
    let len = values.len();
    if len % 2 == 1 {
        values[len / 2]
    } else {
        (values[len / 2 - 1] + values[len / 2]) / 2.0
    }
}

fn timed(mut command: Command) -> (Duration, std::io::Result<Output>) {
    let started = Instant::now();
    let output = command.output();
    (started.elapsed(), output)
}

/// `check` when every gate passes (its probe goes to the fast upstream), and when it blocks at
/// the first record (no admission: nothing is probed).
pub fn check(env: &HarnessEnv, repeats: usize) -> Vec<Timed> {
    let mut results = Vec::new();
    for (label, admission, expected) in [
        ("check, ready (probe to the fast upstream)", true, 0),
        ("check, blocked before the probe", false, 3),
    ] {
        let mut result = Timed {
            label: label.to_owned(),
            times: Vec::new(),
            failure: None,
        };
        for _ in 0..repeats {
            let mut command = env.command(admission);
            command.args(["check", "--format", "json"]);
            let (time, output) = timed(command);
            match output {
                Ok(output) if output.status.code() == Some(expected) => result.times.push(time),
                Ok(output) => {
                    result.failure = Some(format!(
                        "exit {:?}, expected {expected}: {}",
                        output.status.code(),
                        String::from_utf8_lossy(&output.stdout)
                            .chars()
                            .take(300)
                            .collect::<String>()
                    ));
                    break;
                }
                Err(err) => {
                    result.failure = Some(err.to_string());
                    break;
                }
            }
        }
        results.push(result);
    }
    results
}

/// One `run` and its stages: (event name, ms since the previous event) from `trace.jsonl`.
pub struct RunStages {
    pub wall: Duration,
    pub stages: Vec<(String, f64)>,
    /// Wall time not covered by the trace (process start, exit, printing).
    pub outside_trace_ms: f64,
}

/// A whole `run --simulated` with the reference Case and the reference task, `repeats` times.
pub fn runs(env: &HarnessEnv, work: &Path, repeats: usize, extra: &[String]) -> Result<Vec<RunStages>, String> {
    let mut all = Vec::new();
    for index in 0..repeats {
        let out = work.join(format!("run-{}-{index}", extra.join("")));
        let mut command = env.command(true);
        command
            .arg("run")
            .args(extra)
            .arg("--simulated")
            .arg("--task")
            .arg(env.root.join("fixtures/tasks/capital-of-france.json"))
            .arg("--out")
            .arg(&out);
        let (wall, output) = timed(command);
        let output = output.map_err(|err| err.to_string())?;
        if output.status.code() != Some(0) {
            return Err(format!(
                "run exited {:?}: {}{}",
                output.status.code(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let trace = std::fs::read_to_string(out.join("trace.jsonl")).map_err(|err| err.to_string())?;
        let mut stages = Vec::new();
        let mut previous = 0.0;
        let mut last = 0.0;
        for line in trace.lines() {
            let event: serde_json::Value = serde_json::from_str(line).map_err(|err| err.to_string())?;
            let name = event["event"].as_str().unwrap_or("?").to_owned();
            let at = event["elapsed_ms"].as_f64().unwrap_or(previous);
            stages.push((name, at - previous));
            previous = at;
            last = at;
        }
        all.push(RunStages {
            wall,
            stages,
            outside_trace_ms: wall.as_secs_f64() * 1e3 - last,
        });
    }
    Ok(all)
}

/// Scan throughput: `case-harness scan` and `grep -F -f` over the same generated files.
pub struct ScanResult {
    pub bytes: u64,
    pub files: usize,
    pub harness: Timed,
    pub grep: Timed,
    /// grep doing less still: case-sensitive (the scanner is not), for scale.
    pub grep_case_sensitive: Timed,
    pub patterns: usize,
}

/// Writes `mib` MiB of log-like text in 16 MiB files (fewer, smaller ones for small sets).
pub fn generate_scan_set(dir: &Path, mib: u64) -> std::io::Result<(u64, usize)> {
    std::fs::create_dir_all(dir)?;
    let file_mib = mib.clamp(1, 16);
    let files = mib.div_ceil(file_mib) as usize;
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let words = [
        "request",
        "model",
        "token",
        "stream",
        "adapter",
        "upstream",
        "served",
        "GET",
        "POST",
        "200",
        "ledger",
        "chunk",
        "delta",
        "content",
        "assistant",
        "user",
        "Paris",
        "error",
        "retry",
        "latency",
    ];
    let mut total = 0u64;
    for index in 0..files {
        let mut buffer = Vec::with_capacity((file_mib << 20) as usize + 256);
        while (buffer.len() as u64) < file_mib << 20 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let _ = writeln!(
                buffer,
                "{{\"seq\":{},\"event\":\"{}\",\"id\":\"{:016x}\",\"note\":\"{} {} {}\"}}",
                state % 100_000,
                words[(state % 20) as usize],
                state,
                words[((state >> 8) % 20) as usize],
                words[((state >> 16) % 20) as usize],
                words[((state >> 24) % 20) as usize],
            );
        }
        std::fs::write(dir.join(format!("log-{index:04}.jsonl")), &buffer)?;
        total += buffer.len() as u64;
    }
    Ok((total, files))
}

/// The strings `src/secrets.rs` (`encoded_forms`) searches for a secret free of whitespace, `%`,
/// `\\` and `&`: as written, hex, base64 in both alphabets at each of the three alignments and
/// base32 at each of its five (only the characters that depend on the secret alone), and UTF-16
/// in both byte orders. Keep in step with that function.
fn scanner_forms(raw: &[u8]) -> Vec<Vec<u8>> {
    use base64::Engine;
    let mut forms = vec![raw.to_vec(), hex::encode(raw).into_bytes()];
    let mut aligned = |alignments: usize, bits: usize, encode: &dyn Fn(&[u8]) -> Vec<u8>| {
        for offset in 0..alignments {
            let mut shifted = vec![0u8; offset];
            shifted.extend_from_slice(raw);
            let encoded = encode(&shifted);
            let (first, last) = ((8 * offset).div_ceil(bits), (8 * (offset + raw.len())) / bits);
            if last > first {
                forms.push(encoded[first..last].to_vec());
            }
        }
    };
    for engine in [
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ] {
        aligned(3, 6, &|shifted| engine.encode(shifted).into_bytes());
    }
    aligned(5, 5, &base32);
    let text = String::from_utf8_lossy(raw);
    forms.push(text.encode_utf16().flat_map(u16::to_le_bytes).collect());
    forms.push(text.encode_utf16().flat_map(u16::to_be_bytes).collect());
    forms.sort();
    forms.dedup();
    forms
}

/// RFC 4648 base32 without padding (the scanner's own is private to the crate).
fn base32(bytes: &[u8]) -> Vec<u8> {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let bits: Vec<bool> = bytes
        .iter()
        .flat_map(|byte| (0..8).rev().map(move |bit| byte >> bit & 1 == 1))
        .collect();
    bits.chunks(5)
        .map(|five| {
            let value = (0..5).fold(0, |value, at| value << 1 | usize::from(five.get(at) == Some(&true)));
            ALPHABET[value]
        })
        .collect()
}

pub fn scan(env: &HarnessEnv, dir: &Path, work: &Path, bytes: u64, files: usize, repeats: usize) -> ScanResult {
    let secret = format!(
        "bench-scan-secret-{:016x}",
        Instant::now().elapsed().as_nanos() ^ 0x5eed_u128
    );
    // Exactly the scanner's strings; `-i` because the scanner ignores ASCII case too, `-a` so
    // that the UTF-16 forms (NUL bytes) are searched as text. grep does not normalise
    // (whitespace, escapes) first: it does less than the scanner.
    let forms = scanner_forms(secret.as_bytes());
    let patterns = work.join("grep-patterns.txt");
    let mut lines = forms.join(&b'\n');
    lines.push(b'\n');
    let _ = std::fs::write(&patterns, lines);
    let harness_cmd = |path: &Path| {
        let mut command = Command::new(&env.harness);
        command
            .env("BENCH_SCAN_SECRET", &secret)
            .args(["scan", "--secret-env", "BENCH_SCAN_SECRET"])
            .arg(path);
        command
    };
    let grep_with = |path: &Path, flags: &[&str]| {
        let mut command = Command::new("grep");
        command
            .env("LC_ALL", "C")
            .args(flags)
            .args(["-a", "-r", "-l", "-f"])
            .arg(&patterns)
            .arg(path);
        command
    };
    let grep_cmd = |path: &Path| grep_with(path, &["-F", "-i"]);
    // Both find a planted secret (so neither is fast because it looks for nothing), and both
    // say the generated set is clean (exit 0 for scan, 1 for grep: no line matched).
    let planted = work.join("planted");
    let _ = std::fs::create_dir_all(&planted);
    let _ = std::fs::write(planted.join("leak.txt"), format!("Authorization: Bearer {secret}\n"));
    let mut result = ScanResult {
        bytes,
        files,
        harness: repeat("case-harness scan", repeats, || harness_cmd(dir), 0),
        grep: repeat("grep -F -i -r -l -f", repeats, || grep_cmd(dir), 1),
        grep_case_sensitive: repeat(
            "grep -F -r -l -f (case-sensitive)",
            repeats,
            || grep_with(dir, &["-F"]),
            1,
        ),
        patterns: forms.len(),
    };
    let finds = |mut command: Command, hit: i32| {
        command
            .stdout(Stdio::null())
            .output()
            .ok()
            .and_then(|output| output.status.code())
            == Some(hit)
    };
    if !finds(harness_cmd(&planted), 1) {
        result
            .harness
            .failure
            .get_or_insert_with(|| "did not find the planted secret".to_owned());
    }
    if !finds(grep_cmd(&planted), 0) {
        result
            .grep
            .failure
            .get_or_insert_with(|| "did not find the planted secret".to_owned());
    }
    result
}

fn repeat(label: &str, repeats: usize, make: impl Fn() -> Command, clean_exit: i32) -> Timed {
    let mut result = Timed {
        label: label.to_owned(),
        times: Vec::new(),
        failure: None,
    };
    // One unmeasured pass so both read from the page cache alike.
    let _ = make().stdout(Stdio::null()).status();
    for _ in 0..repeats {
        let mut command = make();
        command.stdout(Stdio::null());
        let (time, output) = timed(command);
        match output.map(|output| output.status.code()) {
            Ok(Some(code)) if code == clean_exit => result.times.push(time),
            other => {
                result.failure = Some(format!("unexpected exit {other:?}"));
                break;
            }
        }
    }
    result
}
