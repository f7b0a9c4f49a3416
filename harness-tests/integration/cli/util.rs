//! Shared helpers: fixture paths, the real `case-harness` binary with a cleared environment,
//! the acceptance suite's fake local provider (wiremock) usable from plain `#[test]`s, a builder for `check`
//! scenarios, and whole-output snapshots.
//!
//! Every command starts from `env_clear()` plus `PATH`: a test sees only the variables it sets,
//! so a developer's own `CTO_HARNESS_CASE_*` or `HOME` can never change a verdict.

use std::path::{Path, PathBuf};
use std::process::Output;

use case_harness::gates::{GateCode, GateResult, GateStatus};
use case_harness::output::{CheckOutcome, CheckOutput};
use wiremock::{Mock, MockServer};

/// The model every "good" admission fixture names.
pub const SMOLLM2: &str = "smollm2-135m-instruct";

/// The crate root (where `fixtures/` lives).
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `fixtures/<relative>`, checked to exist so a typo fails loudly instead of testing "missing file".
pub fn fixture(relative: &str) -> PathBuf {
    let path = root().join("fixtures").join(relative);
    assert!(path.exists(), "fixture {} does not exist", path.display());
    path
}

/// The `case-harness` binary with an empty environment except `PATH`.
pub fn harness() -> assert_cmd::Command {
    let mut command = assert_cmd::Command::cargo_bin("case-harness").expect("the case-harness binary is built");
    command.env_clear();
    if let Some(search_path) = std::env::var_os("PATH") {
        command.env("PATH", search_path);
    }
    command
}

/// stdout and stderr of a finished command, as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("output is UTF-8")
}

pub use case_harness::acceptance::steps::model_list;

/// The acceptance suite's fake provider (wiremock on 127.0.0.1), driven from plain `#[test]`s.
/// wiremock serves from its own thread, so the runtime here is only needed to register mocks
/// and read what was received.
pub struct FakeProvider {
    provider: case_harness::acceptance::steps::FakeProvider,
    runtime: tokio::runtime::Runtime,
}

impl FakeProvider {
    /// A server with nothing mounted (every request gets wiremock's 404).
    pub fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let provider = runtime.block_on(case_harness::acceptance::steps::FakeProvider::empty());
        FakeProvider { provider, runtime }
    }

    /// A server answering `GET /v1/models` with `models`.
    pub fn serving(models: &[&str]) -> Self {
        let provider = FakeProvider::start();
        provider.runtime.block_on(provider.provider.list_models(models));
        provider
    }

    /// Registers one more mock.
    pub fn mount(&self, mock: Mock) {
        self.runtime.block_on(self.server().register(mock));
    }

    /// `http://127.0.0.1:PORT`.
    pub fn uri(&self) -> String {
        self.server().uri()
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.server().address().port()
    }

    fn server(&self) -> &MockServer {
        self.provider.server()
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<wiremock::Request> {
        self.runtime
            .block_on(self.server().received_requests())
            .expect("request recording is on")
    }

    /// What `check`'s successful probe sends: `GET {models_path}`, then the one fingerprint
    /// question a gate reads, Ollama's `/api/show` (an admission without `model_sha256` asks
    /// nothing else: `src/fingerprint.rs`, `FingerprintScope::Gates`) — and nothing else.
    pub fn check_probe(models_path: &str) -> Vec<String> {
        vec![format!("GET {models_path}"), "POST /api/show".to_owned()]
    }

    /// `METHOD /path` of every request received so far.
    pub fn request_lines(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|request| format!("{} {}", request.method, request.url.path()))
            .collect()
    }
}

/// A `case-harness check` invocation: which decision, admission, base URL and extra
/// variables it gets, and the fake provider behind the base URL.
///
/// [`Check::ready`] is the set of inputs on which every gate passes; each test changes the
/// one thing it is about, so any other gate that blocks is a failure of the test.
pub struct Check {
    decision: Option<PathBuf>,
    admission: Option<PathBuf>,
    base_url: Option<String>,
    env: Vec<(String, String)>,
    args: Vec<String>,
    provider: Option<FakeProvider>,
}

impl Check {
    /// Decision `local-provider-required`, admission `candidate-smollm2`, base URL
    /// `{provider}/v1`, and a provider listing the admission's `case_model`.
    pub fn ready() -> Self {
        Check {
            decision: Some(fixture("decision/local-provider-required.json")),
            admission: Some(fixture("admission/candidate-smollm2.json")),
            base_url: Some("{provider}/v1".to_owned()),
            env: Vec::new(),
            args: Vec::new(),
            provider: None,
        }
    }

    /// Decision record from `fixtures/<relative>`.
    pub fn decision(self, relative: &str) -> Self {
        self.decision_path(fixture(relative))
    }

    /// Decision record from any path (it need not exist).
    pub fn decision_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.decision = Some(path.into());
        self
    }

    /// `CTO_HARNESS_CASE_DECISION_FILE` unset.
    pub fn no_decision(mut self) -> Self {
        self.decision = None;
        self
    }

    /// Admission record from `fixtures/<relative>`.
    pub fn admission(self, relative: &str) -> Self {
        self.admission_path(fixture(relative))
    }

    /// Admission record from any path (it need not exist).
    pub fn admission_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.admission = Some(path.into());
        self
    }

    /// `CTO_HARNESS_CASE_MODEL_ADMISSION_FILE` unset.
    pub fn no_admission(mut self) -> Self {
        self.admission = None;
        self
    }

    /// `CTO_HARNESS_CASE_LOCAL_BASE_URL`; `{provider}` becomes `http://127.0.0.1:PORT` and
    /// `{port}` the fake provider's port.
    pub fn base_url(mut self, template: &str) -> Self {
        self.base_url = Some(template.to_owned());
        self
    }

    /// `CTO_HARNESS_CASE_LOCAL_BASE_URL` unset.
    pub fn no_base_url(mut self) -> Self {
        self.base_url = None;
        self
    }

    /// One more environment variable.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// One more command-line argument after `check`.
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_owned());
        self
    }

    /// Use this provider instead of one listing the admission's model.
    pub fn provider(mut self, provider: FakeProvider) -> Self {
        self.provider = Some(provider);
        self
    }

    /// Runs `check --format FORMAT`.
    pub fn run(self, format: &str) -> Ran {
        let provider = match self.provider {
            Some(provider) => provider,
            None => FakeProvider::serving(&[&admitted_model(self.admission.as_deref())]),
        };
        let mut command = harness();
        command.arg("check").arg("--format").arg(format).args(&self.args);
        if let Some(path) = &self.decision {
            command.env("CTO_HARNESS_CASE_DECISION_FILE", path);
        }
        if let Some(path) = &self.admission {
            command.env("CTO_HARNESS_CASE_MODEL_ADMISSION_FILE", path);
        }
        let base_url = self.base_url.map(|template| {
            template
                .replace("{provider}", &provider.uri())
                .replace("{port}", &provider.port().to_string())
        });
        if let Some(url) = &base_url {
            command.env("CTO_HARNESS_CASE_LOCAL_BASE_URL", url);
        }
        command.envs(self.env.iter().map(|(name, value)| (name, value)));
        // `check` only reads: run it in an empty folder and prove it left nothing there.
        let workdir = tempfile::tempdir().expect("tempdir");
        let output = command.current_dir(workdir.path()).output().expect("case-harness runs");
        let left_behind: Vec<_> = std::fs::read_dir(workdir.path()).expect("read workdir").collect();
        assert!(
            left_behind.is_empty(),
            "check wrote into its working directory: {left_behind:?}"
        );
        Ran { output, provider }
    }

    /// Runs `check --format json`.
    pub fn run_json(self) -> Ran {
        self.run("json")
    }
}

/// The admission's `case_model` if the file holds one, else [`SMOLLM2`]: what the default fake
/// provider serves, so that `admitted_model_not_served` only blocks when a test means it to.
fn admitted_model(admission: Option<&Path>) -> String {
    admission
        .and_then(|path| std::fs::read(path).ok())
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|value| value.get("case_model")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| SMOLLM2.to_owned())
}

/// A finished `check`, with the provider it ran against.
pub struct Ran {
    /// Exit status, stdout, stderr.
    pub output: Output,
    /// The fake provider (ask it what it received).
    pub provider: FakeProvider,
}

impl Ran {
    /// stdout as text.
    pub fn stdout(&self) -> String {
        text(&self.output.stdout)
    }

    /// stderr as text.
    pub fn stderr(&self) -> String {
        text(&self.output.stderr)
    }

    /// The exit code.
    pub fn code(&self) -> Option<i32> {
        self.output.status.code()
    }

    /// stdout parsed as the `check --format json` object (exactly one line of JSON).
    pub fn check_output(&self) -> CheckOutput {
        let stdout = self.stdout();
        assert_eq!(stdout.lines().count(), 1, "expected one line of JSON, got:\n{stdout}");
        serde_json::from_str(&stdout).unwrap_or_else(|err| panic!("not the check JSON ({err}):\n{stdout}"))
    }

    /// Asserts exit 3, outcome `blocked`, `blocked == [code]` exactly, every gate reported in
    /// order with `code` the only blocked one, nothing on stderr; returns the blocking gate.
    pub fn assert_blocks_only(&self, code: GateCode) -> GateResult {
        self.assert_blocks_exactly(&[code]).remove(0)
    }

    /// Like [`Ran::assert_blocks_only`] for several codes; returns their gates in order.
    pub fn assert_blocks_exactly(&self, codes: &[GateCode]) -> Vec<GateResult> {
        let output = self.check_output();
        let context = format!("stdout:\n{}\nstderr:\n{}", self.stdout(), self.stderr());
        assert_eq!(output.blocked, codes, "blocked list\n{context}");
        assert_eq!(self.code(), Some(3), "exit code\n{context}");
        assert_eq!(output.outcome, CheckOutcome::Blocked, "{context}");
        assert!(!output.case_process_started, "{context}");
        assert_eq!(gate_order(&output), GateCode::ALL, "{context}");
        let blocked: Vec<GateResult> = output
            .gates
            .iter()
            .filter(|gate| gate.status == GateStatus::Blocked)
            .cloned()
            .collect();
        assert_eq!(
            blocked.iter().map(|gate| gate.code).collect::<Vec<_>>(),
            codes,
            "{context}"
        );
        assert_eq!(self.stderr(), "", "a blocked check is a verdict, not an error");
        blocked
    }

    /// Asserts exit 0, outcome `ready`, every gate `pass`, nothing on stderr.
    pub fn assert_ready(&self) -> CheckOutput {
        let output = self.check_output();
        let context = format!("stdout:\n{}\nstderr:\n{}", self.stdout(), self.stderr());
        assert_eq!(self.code(), Some(0), "{context}");
        assert_eq!(output.outcome, CheckOutcome::Ready, "{context}");
        assert_eq!(output.blocked, [], "{context}");
        assert_eq!(gate_order(&output), GateCode::ALL, "{context}");
        assert!(
            output.gates.iter().all(|gate| gate.status == GateStatus::Pass),
            "{context}"
        );
        assert!(!output.case_process_started);
        assert_eq!(self.stderr(), "");
        output
    }

    /// The status of one gate.
    pub fn gate(&self, code: GateCode) -> GateResult {
        self.check_output()
            .gates
            .into_iter()
            .find(|gate| gate.code == code)
            .expect("every gate is reported")
    }
}

fn gate_order(output: &CheckOutput) -> Vec<GateCode> {
    output.gates.iter().map(|gate| gate.code).collect()
}

/// Asserts `detail` contains every one of `needles`.
pub fn assert_mentions(gate: &GateResult, needles: &[&str]) {
    for needle in needles {
        assert!(
            gate.detail.contains(needle),
            "{} detail should mention {needle:?}: {}",
            gate.code,
            gate.detail
        );
    }
}

/// Replaces every `from` with its placeholder (ports, temp dirs, the crate root).
pub fn redact(text: &str, replacements: &[(&str, &str)]) -> String {
    replacements
        .iter()
        .fold(text.to_owned(), |text, (from, to)| text.replace(from, to))
}

/// Compares `actual` with the insta snapshot `harness-tests/integration/cli/snapshots/<name>.snap`
/// (review a change with `cargo insta review`, or rewrite with `INSTA_UPDATE=always`). insta
/// ignores a trailing newline, so its presence is asserted here: the output is the product.
pub fn assert_snapshot(name: &str, actual: &str) {
    assert!(
        actual.ends_with('\n') && !actual.ends_with("\n\n"),
        "{name}: the output must end with exactly one newline: {actual:?}"
    );
    insta::with_settings!({ prepend_module_to_snapshot => false, omit_expression => true }, {
        insta::assert_snapshot!(name, actual);
    });
}
