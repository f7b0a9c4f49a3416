use std::path::{Path, PathBuf};

pub use case_harness::acceptance::steps::FakeProvider;
use serde_json::{Value, json};

pub const MODEL: &str = "smollm2-135m-instruct";

/// A fresh run sandbox: records, task and an (empty) run folder location.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox::in_dir(tempfile::tempdir().expect("tempdir"))
    }

    /// The same records in `dir`.
    pub fn in_dir(dir: tempfile::TempDir) -> Sandbox {
        let sandbox = Sandbox { dir };
        sandbox.write(
            "decision.json",
            &json!({"work_item":"CTO-WORK-020","decision_status":"local_provider_required","provider_class":"local_case_compatible"}),
        );
        sandbox.write(
            "admission.json",
            &json!({"work_item":"CTO-WORK-020","decision_status":"local_provider_required","provider_class":"local_case_compatible",
                    "case_model_provider":"llama.cpp","case_model":MODEL,"case_model_admission_status":"candidate"}),
        );
        sandbox.write(
            "task.json",
            &json!({"prompt":"What is the capital of France? Answer in one word.","max_tokens":24,"temperature":0,
                    "checks":[{"kind":"non_empty"},{"kind":"contains","value":"Paris"}]}),
        );
        sandbox
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, value: &Value) {
        std::fs::write(self.path(name), serde_json::to_vec_pretty(value).expect("json")).expect("write");
    }

    pub fn out(&self) -> PathBuf {
        self.path("run")
    }

    pub fn report(&self) -> Value {
        read_json(&self.out().join("report.json"))
    }
}

/// A pinned agent binary: `$variable` when set, else what `scripts/agents.sh path [agent]`
/// prints; panics (a failure, not a skip) when it is not installed.
pub fn agent_binary(variable: &str, agents_sh_args: &[&str], name: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(variable) {
        return PathBuf::from(path);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/agents.sh");
    let output = std::process::Command::new(&script)
        .arg("path")
        .args(agents_sh_args)
        .output()
        .expect("scripts/agents.sh runs");
    assert!(
        output.status.success(),
        "{name} is not installed ({}): run scripts/agents.sh install, or set {variable}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
}

pub fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("read")).expect("json")
}

pub fn case_script(name: &str) -> Vec<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("harness-tests/cases")
        .join(name);
    vec!["python3".to_owned(), script.display().to_string()]
}

/// The acceptance suite's fake provider: lists [`MODEL`], answers every chat completion with
/// "The capital of France is Paris.".
pub async fn provider() -> FakeProvider {
    FakeProvider::start(MODEL, case_harness::acceptance::steps::DEFAULT_FAKE_REPLY).await
}

/// Chat requests the provider received, as JSON bodies.
pub async fn chat_bodies(provider: &FakeProvider) -> Vec<Value> {
    provider
        .server()
        .received_requests()
        .await
        .expect("request recording is on")
        .iter()
        .filter(|request| request.url.path() == "/v1/chat/completions")
        .map(|request| serde_json::from_slice(&request.body).expect("json body"))
        .collect()
}

/// The binary with a cleared environment plus PATH and the records of `sandbox`.
pub fn harness(sandbox: &Sandbox, base_url: Option<&str>) -> assert_cmd::Command {
    assert_cmd::Command::from_std(harness_std(sandbox, base_url))
}

/// [`harness`] as a plain `std::process::Command` (for tests that signal the process).
pub fn harness_std(sandbox: &Sandbox, base_url: Option<&str>) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_case-harness"));
    command.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    command
        .env("CTO_HARNESS_CASE_DECISION_FILE", sandbox.path("decision.json"))
        .env("CTO_HARNESS_CASE_MODEL_ADMISSION_FILE", sandbox.path("admission.json"));
    if let Some(url) = base_url {
        command.env("CTO_HARNESS_CASE_LOCAL_BASE_URL", url);
    }
    command
}

/// `case-harness run --simulated` with the given Case command (empty: reference Case).
pub async fn run(
    mut command: assert_cmd::Command,
    sandbox: &Sandbox,
    case: Vec<String>,
    extra: &[&str],
) -> std::process::Output {
    command
        .args(["run", "--simulated", "--task"])
        .arg(sandbox.path("task.json"))
        .arg("--out")
        .arg(sandbox.out())
        .args(extra);
    if !case.is_empty() {
        command.arg("--").args(case);
    }
    tokio::task::spawn_blocking(move || command.output().expect("runs"))
        .await
        .expect("join")
}

/// The common case: a fresh sandbox and fake provider, then `run --simulated` with `case`
/// (empty: the reference Case) and `extra` flags.
pub async fn run_against_provider(case: Vec<String>, extra: &[&str]) -> (Sandbox, FakeProvider, std::process::Output) {
    let sandbox = Sandbox::new();
    let provider = provider().await;
    let output = run(harness(&sandbox, Some(&base_url(&provider))), &sandbox, case, extra).await;
    (sandbox, provider, output)
}

pub fn verify(report: &Path) -> std::process::Output {
    assert_cmd::Command::cargo_bin("case-harness")
        .expect("binary")
        .arg("verify")
        .arg(report)
        .output()
        .expect("runs")
}

pub fn events(sandbox: &Sandbox) -> Vec<String> {
    std::fs::read_to_string(sandbox.out().join("trace.jsonl"))
        .expect("trace")
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).expect("event")["event"]
                .as_str()
                .expect("name")
                .to_owned()
        })
        .collect()
}

pub fn base_url(provider: &FakeProvider) -> String {
    provider.base_url()
}

pub fn signal(pid: i32, signal: libc::c_int) -> bool {
    // SAFETY: kill(2) on a pid this test started (directly or through the harness).
    unsafe { libc::kill(pid, signal) == 0 }
}

/// Live processes other than the harness whose command line contains `marker`.
pub fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|byte| byte.is_ascii_digit()) {
            continue;
        }
        // The harness and its sandbox process carry Case's argv too: only Case's own count.
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline"))
            && String::from_utf8_lossy(&cmdline).contains(marker)
            && !cmdline
                .split(|byte| *byte == 0)
                .next()
                .is_some_and(|program| program.ends_with(b"case-harness"))
        {
            found.push(format!(
                "{name}: {}",
                String::from_utf8_lossy(&cmdline).replace('\0', " ")
            ));
        }
    }
    found
}

pub fn unique_marker(name: &str) -> String {
    format!("chc-test-{name}-{}-{}", std::process::id(), rand_suffix())
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default()
}

/// Kills (SIGKILL) the processes [`processes_with`] finds, so that a failing test leaves
/// nothing behind; returns what it found.
pub fn kill_survivors(marker: &str) -> Vec<String> {
    let survivors = processes_with(marker);
    for survivor in &survivors {
        if let Some(pid) = survivor.split(':').next().and_then(|pid| pid.parse::<i32>().ok()) {
            // SAFETY: kill(2) on a process that carries this test's unique marker.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
    survivors
}

/// `command`, run where the kernel refuses new namespaces: in a user namespace whose
/// namespace limits are 0 (util-linux `unshare`).
pub fn without_namespaces(command: &std::process::Command) -> std::process::Command {
    let mut wrapped = std::process::Command::new("unshare");
    wrapped.args([
        "-Ur",
        "sh",
        "-c",
        "for kind in net user mnt pid; do echo 0 > /proc/sys/user/max_${kind}_namespaces || exit 99; done; exec \"$@\"",
        "sh",
    ]);
    wrapped.arg(command.get_program()).args(command.get_args());
    wrapped.env_clear();
    for (name, value) in command.get_envs() {
        if let Some(value) = value {
            wrapped.env(name, value);
        }
    }
    wrapped
}

/// `run --simulated --allow-unconfined` of `case` where the kernel refuses namespaces, as a
/// command (for a test that bounds or signals it), with the provider it talks to (keep it alive). Confined, Case
/// cannot write the evidence at all (confinement.rs); unconfined, the seal's checks must hold.
pub async fn unconfined_command(case: Vec<String>) -> (Sandbox, std::process::Command, FakeProvider) {
    let sandbox = Sandbox::new();
    let server = provider().await;
    let mut command = harness_std(&sandbox, Some(&base_url(&server)));
    command
        .args(["run", "--simulated", "--allow-unconfined", "--task"])
        .arg(sandbox.path("task.json"))
        .arg("--out")
        .arg(sandbox.out())
        .arg("--")
        .args(case);
    (sandbox, without_namespaces(&command), server)
}

/// [`run_against_provider`], but with the kernel refusing every namespace and
/// `--allow-unconfined` (see [`unconfined_command`]).
pub async fn run_unconfined_against_provider(case: Vec<String>) -> (Sandbox, FakeProvider, std::process::Output) {
    let (sandbox, mut command, provider) = unconfined_command(case).await;
    let output = tokio::task::spawn_blocking(move || command.output().expect("runs"))
        .await
        .expect("join");
    (sandbox, provider, output)
}

/// insta settings for snapshots of evidence (reports, JUnit, `summary.md`): what differs
/// between two runs of the same thing — the temporary folder `sandbox`, the checkout, ports,
/// digests, times and durations — is replaced by a name in brackets. Snapshots live in
/// `run/snapshots/`; review a change with `cargo insta review` (or `INSTA_UPDATE=always`).
pub fn evidence_snapshots(sandbox: &Path) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    let mut paths = vec![sandbox.to_owned()];
    if let Ok(real) = sandbox.canonicalize() {
        paths.insert(0, real);
    }
    for path in paths {
        settings.add_filter(&regex_escape(&path.display().to_string()), "[sandbox]");
    }
    settings.add_filter(&regex_escape(env!("CARGO_MANIFEST_DIR")), "[checkout]");
    settings.add_filter(r"\b[0-9a-f]{64}\b", "[sha256]");
    settings.add_filter(r"`[0-9a-f]{12}…`", "`[sha256]…`");
    // Ports the kernel chose (ephemeral, five digits); a fixed example port stays.
    settings.add_filter(r"(127\.0\.0\.1|localhost|\[::1\]):\d{5}\b", "$1:[port]");
    settings.add_filter(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", "[time]");
    settings.add_filter(r#""(duration_ms|elapsed_ms|started_ms)": \d+"#, r#""$1": "[ms]""#);
    settings.add_filter(r#"time="[0-9.]+""#, r#"time="[s]""#);
    settings.add_filter(r"chc-(token|canary)-[A-Za-z0-9_-]+", "chc-$1-[random]");
    settings
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$#&-~".contains(c);
            special.then_some('\\').into_iter().chain(std::iter::once(c))
        })
        .collect()
}

/// Why `nobody` cannot run `binary` (the harness re-executes itself for the sandbox, so
/// every folder above it must be searchable by `nobody`), or `None` when it can. Asked of the
/// kernel, as `nobody`: `access(X_OK)` through `setpriv … test -x`.
pub fn unrunnable_by_nobody(binary: &Path) -> Option<String> {
    let probe = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "test", "-x"])
        .arg(binary)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .output();
    match probe {
        Ok(output) if output.status.success() => None,
        Ok(_) => Some(format!(
            "needs {} to be executable by user nobody (uid 65534), and every folder above it \
             searchable (o+x); it is not (a checkout under a 0700 folder such as /root or a \
             `mktemp -d`). Move the checkout or set CARGO_TARGET_DIR to a folder nobody can enter",
            binary.display()
        )),
        Err(error) => Some(format!("needs `setpriv` (util-linux) to run as nobody: {error}")),
    }
}

/// `BINARY run --simulated` of `sandbox` with [`harness_std`]'s environment (only it), where
/// BINARY is `binary` or this crate's; run as `nobody` through `setpriv` when `as_nobody`.
pub fn simulated_run(
    sandbox: &Sandbox,
    base_url: &str,
    binary: Option<&Path>,
    as_nobody: bool,
) -> std::process::Command {
    let template = harness_std(sandbox, Some(base_url));
    let program = binary.map_or_else(
        || template.get_program().to_owned(),
        |binary| binary.as_os_str().to_owned(),
    );
    let mut command = if as_nobody {
        let mut setpriv = std::process::Command::new("setpriv");
        setpriv
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(program);
        setpriv
    } else {
        std::process::Command::new(program)
    };
    command.env_clear();
    for (name, value) in template.get_envs() {
        if let Some(value) = value {
            command.env(name, value);
        }
    }
    command
        .args(["run", "--simulated", "--task"])
        .arg(sandbox.path("task.json"))
        .arg("--out")
        .arg(sandbox.out());
    command
}
