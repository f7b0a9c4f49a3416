//! The proxies under test, each its own process as a user would run it: `case-harness adapter`
//! (translation, and pass-through when the binary has `--upstream-api`) and LiteLLM's proxy
//! from a venv. Each is started on 127.0.0.1, waited for, and killed when dropped; its peak
//! RSS (`VmHWM`, summed over the process and its descendants) is read from `/proc`.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use crate::upstream::MODEL;

/// How long a proxy may take to start before the bench gives up on it (LiteLLM needs ~6 s on a
/// quiet machine, minutes on a loaded one).
const START_BUDGET: Duration = Duration::from_secs(300);

/// A running proxy process.
pub struct Proxy {
    pub name: String,
    /// Base URL without `/v1`.
    pub root: String,
    /// What clients authenticate with (a per-start value, never printed).
    pub token: String,
    pub child: Child,
    /// How long from spawn until it answered.
    pub started_in: Duration,
}

impl Proxy {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time (user + system) the process and its descendants have used so far, from
    /// `/proc/PID/stat`; a descendant that already exited is not counted.
    pub fn cpu_time(&self) -> Option<Duration> {
        // SAFETY: sysconf reads a configuration value; no memory is touched.
        let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if ticks_per_second <= 0 {
            return None;
        }
        let ticks: u64 = process_tree(self.pid()).into_iter().filter_map(cpu_ticks).sum();
        Some(Duration::from_secs_f64(ticks as f64 / ticks_per_second as f64))
    }

    /// Peak resident set size of the process and its descendants, in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let pids = process_tree(self.pid());
        let total: u64 = pids.iter().filter_map(|pid| status_kib(*pid, "VmHWM:")).sum();
        (total > 0).then_some(total)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // SIGTERM first so it can shut down as it would for a user; then make sure.
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) on our own child's pid; no memory is touched.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether this `case-harness` has the pass-through flag, and the value that selects it.
pub fn pass_through_flag(harness: &Path) -> Option<(String, String)> {
    let help = Command::new(harness).args(["adapter", "--help"]).output().ok()?;
    let help = String::from_utf8_lossy(&help.stdout);
    help.contains("--upstream-api")
        .then(|| ("--upstream-api".to_owned(), "anthropic".to_owned()))
}

/// Starts `case-harness adapter` in front of `upstream_v1`, with `extra` arguments.
pub fn start_adapter(name: &str, harness: &Path, upstream_v1: &str, extra: &[String]) -> Result<Proxy, String> {
    let started = Instant::now();
    let (mut child, stdout) = spawn_reading_stdout(
        Command::new(harness)
            .args(["adapter", "--upstream", upstream_v1, "--model", MODEL])
            .args(extra)
            .env_remove("CTO_HARNESS_CASE_LOCAL_API_KEY"),
    )?;
    let mut lines = BufReader::new(stdout).lines();
    let mut root = None;
    let mut token_file = None;
    while root.is_none() || token_file.is_none() {
        let Some(Ok(line)) = lines.next() else {
            let _ = child.kill();
            return Err(format!(
                "{name}: the adapter ended before printing its address and token file"
            ));
        };
        if let Some(rest) = line.strip_prefix("case-harness adapter listening on ") {
            root = Some(rest.trim().to_owned());
        } else if let Some(rest) = line.trim().strip_prefix("token file:") {
            token_file = Some(PathBuf::from(rest.trim()));
        }
    }
    // Keep draining stdout so the adapter never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let token_file = token_file.unwrap_or_default();
    let token = std::fs::read_to_string(&token_file)
        .map_err(|err| format!("{}: {err}", token_file.display()))?
        .trim()
        .to_owned();
    Ok(Proxy {
        name: name.to_owned(),
        root: root.unwrap_or_default(),
        token,
        child,
        started_in: started.elapsed(),
    })
}

/// Spawns `command` with no stdin, stdout piped to the bench (where a proxy says where it
/// listens) and stderr shared; returns the child and its stdout.
pub fn spawn_reading_stdout(command: &mut Command) -> Result<(Child, ChildStdout), String> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|err| format!("cannot start {}: {err}", command.get_program().to_string_lossy()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    Ok((child, stdout))
}

/// Starts LiteLLM's proxy (`litellm` from a venv) with one `openai/MODEL` entry at the
/// upstream, no retries, offline. Anything it tries to reach through an HTTP proxy goes to a
/// closed loopback port.
pub fn start_litellm(litellm: &Path, upstream_v1: &str, work: &Path) -> Result<Proxy, String> {
    let port = free_port()?;
    let config = work.join("litellm.yaml");
    std::fs::write(
        &config,
        format!(
            "model_list:\n  - model_name: {MODEL}\n    litellm_params:\n      model: openai/{MODEL}\n      \
             api_base: {upstream_v1}\n      api_key: not-used-by-the-bench\nlitellm_settings:\n  num_retries: 0\n  \
             request_timeout: 10\n  telemetry: false\n"
        ),
    )
    .map_err(|err| format!("{}: {err}", config.display()))?;
    let token = format!("sk-bench-{:016x}", rand_u64());
    let log = std::fs::File::create(work.join("litellm.log")).map_err(|err| err.to_string())?;
    let log_err = log.try_clone().map_err(|err| err.to_string())?;
    let started = Instant::now();
    let child = Command::new(litellm)
        .arg("--config")
        .arg(&config)
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--telemetry",
            "False",
        ])
        .env("LITELLM_MASTER_KEY", &token)
        .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        .env("LITELLM_LOG", "ERROR")
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .map_err(|err| format!("cannot start {}: {err}", litellm.display()))?;
    let mut proxy = Proxy {
        name: "LiteLLM".to_owned(),
        root: format!("http://127.0.0.1:{port}"),
        token,
        child,
        started_in: Duration::ZERO,
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    while started.elapsed() < START_BUDGET {
        if let Ok(Some(status)) = proxy.child.try_wait() {
            return Err(format!(
                "LiteLLM exited at start ({status}); see {}",
                work.join("litellm.log").display()
            ));
        }
        if liveliness(addr) {
            proxy.started_in = started.elapsed();
            return Ok(proxy);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(format!("LiteLLM did not answer within {} s", START_BUDGET.as_secs()))
}

/// `GET /health/liveliness` answered 200.
fn liveliness(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /health/liveliness HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|err| err.to_string())?;
    Ok(listener.local_addr().map_err(|err| err.to_string())?.port())
}

fn rand_u64() -> u64 {
    let mut bytes = [0u8; 8];
    if let Ok(mut file) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = file.read_exact(&mut bytes);
    }
    u64::from_le_bytes(bytes) ^ u64::from(std::process::id())
}

/// `pid` and all its descendants (from `/proc/*/stat`'s parent field).
pub fn process_tree(pid: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(child) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else {
                continue;
            };
            let Some(fields) = stat_after_name(child) else {
                continue;
            };
            if let Some(parent) = fields.split_whitespace().nth(1).and_then(|field| field.parse().ok()) {
                parents.push((child, parent));
            }
        }
    }
    let mut tree = vec![pid];
    let mut index = 0;
    while index < tree.len() {
        let parent = tree[index];
        tree.extend(parents.iter().filter(|(_, of)| *of == parent).map(|(child, _)| *child));
        index += 1;
    }
    tree
}

/// `/proc/PID/stat` after the command name, which is in parentheses and may contain spaces:
/// its first field is field 3 (the state), its second the parent's pid.
fn stat_after_name(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(stat[stat.rfind(')')? + 1..].to_owned())
}

/// utime + stime of `pid`, in clock ticks (fields 14 and 15 of `/proc/PID/stat`).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let fields = stat_after_name(pid)?;
    let mut fields = fields.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

/// A `kB` field of `/proc/PID/status`.
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    line[field.len()..].trim().trim_end_matches("kB").trim().parse().ok()
}
