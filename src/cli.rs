//! The `case-harness` command line (README, "Commands": a fixed contract, scripts rely on it).
//!
//! This file is the table of flags: clap parses them into `Cli`. `cli/dispatch.rs` reads the
//! environment once and calls the command's body, each in its own file under `cli/`; a body
//! calls one pipeline and returns an `Exit` or a `CliError` (`exit`: the single place where
//! outcomes and failures become exit codes, and where an error's causes are printed). Human
//! output goes to stdout, diagnostics to stderr; neither ever carries a secret.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::gates;

mod adapter;
mod bundled;
mod check;
mod completions;
mod confinement;
mod dispatch;
mod doctor;
mod evidence_folder;
mod evidence_selection;
mod evidence_suite;
mod exit;
mod reference_case;
mod run_command;
mod run_output;
mod sampling;
mod scan;
mod signing;
mod status;
mod values;

pub use dispatch::main;
use exit::CliError;
pub(crate) use exit::Exit;
use values::{seconds, to_json};

/// Shared by every command's `--help`, so it names no flag (a command's own flags, such as
/// `run --decision`, are listed above it; `evidence` has none of them).
const ENVIRONMENT_HELP: &str = "\
Environment:
  CTO_HARNESS_CASE_DECISION_FILE         path of the CTO-WORK-020 decision record
  CTO_HARNESS_CASE_MODEL_ADMISSION_FILE  path of the CTO-WORK-020 admission record (required)
  CTO_HARNESS_CASE_LOCAL_BASE_URL        local OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1
  CTO_HARNESS_CASE_LOCAL_API_KEY         optional secret for the local provider; never printed or passed to Case
Any other CTO_HARNESS_CASE_* variable blocks (local_adapter_config_invalid): a typo must not go unnoticed.

Exit codes: 0 ready/pass/verified, 1 ran and failed, 2 usage or internal error, 3 blocked before case_process_started
(including task_file_invalid), 130 stopped by SIGINT (Ctrl-C), 143 stopped by SIGTERM.";

/// Gates, runs and proves Case's Stage 2 against an admitted local model provider.
#[derive(Debug, Parser)]
#[command(name = "case-harness", version, after_long_help = ENVIRONMENT_HELP)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Output format for `check` and `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// A readable table.
    Human,
    /// One JSON object on stdout (its shape: `crate::output`).
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Evaluate every gate and say whether Case may start; never starts it.
    ///
    /// Reads the decision record, the admission record and the local base URL, probes
    /// GET {base}/models (loopback only, no redirects), and reports every gate in order.
    /// Exit 0 when ready, 3 when any gate blocks.
    #[command(after_long_help = ENVIRONMENT_HELP)]
    Check {
        /// Decision record path (overrides CTO_HARNESS_CASE_DECISION_FILE).
        #[arg(long, value_name = "PATH")]
        decision: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Seconds to wait for GET {base}/models.
        #[arg(long, value_name = "SECS", default_value_t = gates::DEFAULT_PROBE_TIMEOUT.as_secs_f64())]
        probe_timeout: f64,
    },
    /// Derive each work item's status from the verified reports in an evidence folder.
    ///
    /// CTO-WORK-022 stays blocked until a verified real_stage2 pass report exists;
    /// CTO-WORK-020 stays blocked until, in addition, its admission says `admitted`
    /// (read from CTO_HARNESS_CASE_MODEL_ADMISSION_FILE when set). Never edits the SOT.
    #[command(after_long_help = ENVIRONMENT_HELP)]
    Status {
        /// The planning document (default: the bundled seed, as for `run` and `evidence`).
        #[arg(long, value_name = "PATH")]
        sot: Option<PathBuf>,
        /// Folder searched (recursively) for report.json files.
        #[arg(long, value_name = "DIR")]
        evidence: PathBuf,
        /// Also count passes of runs whose Case was not confined (`isolation: none`, from
        /// `run --allow-unconfined`); by default they never count.
        #[arg(long)]
        count_unconfined: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Count only reports whose run folder is signed by this public key (PEM).
        #[arg(long, value_name = "PUBKEY")]
        key: Option<PathBuf>,
    },
    /// Gate, then run Case through the loopback adapter and seal the evidence in --out.
    ///
    /// Evaluates every gate first; if any blocks, Case is never spawned (exit 3) and the
    /// run folder still gets report.json (outcome `blocked`) and trace.jsonl. Otherwise it
    /// confines Case in its own network, mount and PID namespaces, starts the adapter on
    /// 127.0.0.1 inside them (pinned to the admitted model; the only thing Case can reach),
    /// spawns Case with a cleared environment plus the Case contract variables and a
    /// read-only run folder (except case-output/ and case-home/), waits at most --timeout,
    /// kills everything Case started, scans every channel for the upstream secret (or a
    /// canary) and the per-run token, and seals report.json. Exit 0 pass, 1 fail,
    /// 3 blocked, 2 error (including confinement_unavailable).
    ///
    /// Without a command after `--`, the bundled reference Case runs.
    #[command(after_long_help = ENVIRONMENT_HELP)]
    Run(RunFlags),
    /// Run only the loopback adapter in front of a local provider, pinned to one model.
    ///
    /// Listens on --listen (loopback only; default 127.0.0.1:0 picks a free port) and prints
    /// its address. Clients authenticate with a random per-start token: the token is written
    /// to a 0600 file in a fresh private temp folder, and only that file's PATH is printed —
    /// never the token. Send it as `Authorization: Bearer TOKEN` or `x-api-key: TOKEN`.
    /// Requests for any other model are refused (403) and never forwarded; the ledger of
    /// every request is written next to the token file. CTO_HARNESS_CASE_LOCAL_API_KEY, when
    /// set, is sent upstream only. Stops on Ctrl-C.
    Adapter {
        /// The local provider's OpenAI-compatible base URL (loopback only), e.g. http://127.0.0.1:8080/v1.
        #[arg(long, value_name = "URL")]
        upstream: String,
        /// The one model name the adapter forwards.
        #[arg(long, value_name = "NAME")]
        model: String,
        /// Address to listen on (must be loopback).
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
        listen: std::net::SocketAddr,
        /// Which API the upstream speaks for Case's Anthropic routes: `auto` asks it once at
        /// start (POST {base}/messages/count_tokens answering 200 with input_tokens means it
        /// speaks the Messages API: pass-through), `anthropic` passes through, `openai`
        /// translates to chat completions.
        #[arg(long, value_name = "API", default_value = "auto")]
        upstream_api: crate::adapter::UpstreamApi,
        #[command(flatten)]
        sampling: sampling::SamplingFlags,
    },
    /// Run every acceptance scenario outside `cargo test` and write an evidence folder.
    ///
    /// The same trials as the `acceptance` test target (same code): one per SOT acceptance
    /// bullet, plus CTO-WORK-022::real-case-stage2 when CTO_HARNESS_CASE_LOCAL_BASE_URL is
    /// set. Writes junit.xml, summary.md and every trial's run folders (runs/) into --out.
    /// Without arguments it uses the bundled seed, scenarios and fixtures of this checkout.
    /// Exit 0 when every trial passed, 1 otherwise. CASE_HARNESS_TEMPERATURE and
    /// CASE_HARNESS_SEED, when set, pin sampling in every trial's run (`run --temperature
    /// --seed`).
    ///
    /// With CASE_HARNESS_SIGNING_KEY set, every run and the folder itself are signed
    /// (attestation.dsse.json). `evidence sign` signs a nextest shard's folder;
    /// `evidence merge --shard-key` joins signed shards.
    #[command(after_long_help = ENVIRONMENT_HELP, args_conflicts_with_subcommands = true)]
    Evidence {
        #[command(subcommand)]
        action: Option<EvidenceAction>,
        /// The planning document (default: the bundled seed, fixtures/sot/seed-one-line.md).
        #[arg(long, value_name = "PATH")]
        sot: Option<PathBuf>,
        /// The scenarios folder (default: the bundled scenarios/).
        #[arg(long, value_name = "DIR")]
        scenarios: Option<PathBuf>,
        /// The fixtures folder the scenarios' steps name (decision/, admission/, tasks/; default:
        /// the bundled fixtures/).
        #[arg(long, value_name = "DIR")]
        fixtures: Option<PathBuf>,
        /// The folder `{cases}` stands for in the scenarios' Case commands (default: the
        /// bundled harness-tests/cases/).
        #[arg(long, value_name = "DIR")]
        cases: Option<PathBuf>,
        /// The evidence folder (default: target/case-harness/evidence). It must be new or empty,
        /// or hold an earlier `evidence` run (marked by .case-harness-evidence), which only
        /// --force replaces; nothing the harness did not write is ever deleted.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Replace the earlier `evidence` run in --out (only what `evidence` wrote there).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        selection: evidence_selection::SelectionFlags,
        #[command(flatten)]
        sampling: sampling::SamplingFlags,
    },
    /// Recompute a sealed report from its run folder; exit 0 if it holds, 1 if not.
    ///
    /// Checks the seal, every artifact digest, that no unlisted file was added, the trace
    /// (sequence, case_process_started), the fallback proof against adapter-ledger.jsonl,
    /// Case's verdict against case-output/result.json, and that the outcome follows from
    /// those facts. A hand-edited or hand-written report fails.
    ///
    /// Without --key this proves consistency, not origin. With --key PUBKEY it first checks
    /// that attestation.dsse.json is signed by that key and that every file's sha256 matches
    /// the signed statement. Given an evidence folder, it checks the folder's envelope and
    /// every run report in it.
    Verify {
        /// The report.json (or evidence folder) to verify.
        #[arg(value_name = "REPORT.json")]
        report: PathBuf,
        /// The signer's public key (SubjectPublicKeyInfo PEM, as written by keygen).
        #[arg(long, value_name = "PUBKEY")]
        key: Option<PathBuf>,
    },
    /// Write a new Ed25519 signing key to PATH (mode 0600) and its public key to PATH.pub.
    ///
    /// PATH gets a PKCS#8 PEM private key, PATH.pub a SubjectPublicKeyInfo PEM public key
    /// (what openssl and securesystemslib load). Never overwrites. Sign with
    /// CASE_HARNESS_SIGNING_KEY=PATH; keep PATH outside every evidence folder and where the
    /// agent under test cannot read it.
    Keygen {
        /// Where the private key goes (default: `signing.key` in
        /// `$XDG_CONFIG_HOME/case-harness/keys`, a folder every run hides from Case).
        #[arg(value_name = "PATH")]
        path: Option<PathBuf>,
    },
    /// Scan files or folders for a secret taken from an environment variable; exit 1 on a hit.
    ///
    /// The value is read from the named variable (never from argv) and searched for as
    /// written, percent-encoded, base64-encoded and JSON-escaped. Only the secret's name and
    /// the file are printed. Usable as a pre-commit check.
    Scan {
        /// Name of the environment variable that holds the secret.
        #[arg(long, value_name = "NAME")]
        secret_env: String,
        /// Files or folders to scan.
        #[arg(value_name = "PATH", required = true)]
        paths: Vec<PathBuf>,
    },
    /// Check that this machine can gate, confine and run Case, and say what to fix.
    ///
    /// One line per check, each ok, warn or fail: user namespaces, root (Case then runs as
    /// uid 65534), folder traversal for uid 65534, the provider (GET {base}/models, loopback
    /// only), the agent binaries and the signing key. Exit 0 when nothing fails, 1 otherwise.
    #[command(after_long_help = ENVIRONMENT_HELP)]
    Doctor {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Seconds to wait for GET {base}/models.
        #[arg(long, value_name = "SECS", default_value_t = gates::DEFAULT_PROBE_TIMEOUT.as_secs_f64())]
        probe_timeout: f64,
    },
    /// Print a shell completion script to stdout, e.g. `case-harness completions bash`.
    Completions {
        /// The shell.
        #[arg(value_enum, value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to stdout, or write one page per command into --dir.
    Man {
        /// Write case-harness.1 and case-harness-COMMAND.1 … into this folder instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// The bundled reference Case (what `run` starts when no command follows `--`).
    ///
    /// Only meaningful under `case-harness run`, which sets the Case contract variables.
    #[command(name = "reference-case", hide = true)]
    ReferenceCase,
}

/// What `evidence` can do besides running the suite.
#[derive(Debug, Subcommand)]
enum EvidenceAction {
    /// Join the signed evidence folders of nextest shards into one summary.md, JUnit and signed bundle.
    ///
    /// Each SHARD holds trials.json, junit.xml and runs/ (the acceptance target writes them
    /// with CASE_HARNESS_JUNIT_PATH=SHARD/junit.xml CASE_HARNESS_ACCEPTANCE_DIR=SHARD/runs)
    /// and its attestation.dsse.json (`evidence sign SHARD` after the shard's run). Only
    /// signed shards are merged: each envelope must verify with a --shard-key and cover every
    /// file; every run report a trial lists is re-verified with that key, as `verify --key`
    /// does; a passed trial must list one report per run step of its scenario; every shard
    /// must name the SOT this merge plans with (sot_sha256). The merged bundle's statement
    /// names the key id that verified each shard.
    ///
    /// Fails (exit 1), naming the shard or the trials, when a shard is unsigned, signed by
    /// another key, changed after signing, lists a report that does not verify, misses a
    /// report or comes from another SOT, when a planned trial is in no shard, or when a trial
    /// passed in one shard and failed in another.
    Merge {
        /// The shard folders.
        #[arg(value_name = "SHARD", required = true)]
        shards: Vec<PathBuf>,
        /// A public key a shard may be signed by (repeat for shards signed by other keys).
        #[arg(long = "shard-key", value_name = "PUBKEY", required = true)]
        shard_keys: Vec<PathBuf>,
        /// The merged folder (created; must be empty).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The planning document the trials come from (default: the bundled seed).
        #[arg(long, value_name = "PATH")]
        sot: Option<PathBuf>,
        /// The scenarios folder (default: the bundled scenarios/).
        #[arg(long, value_name = "DIR")]
        scenarios: Option<PathBuf>,
    },
    /// Sign an evidence folder (a nextest shard, once its run is over) with CASE_HARNESS_SIGNING_KEY.
    ///
    /// Writes DIR/attestation.dsse.json over every file in DIR, as `evidence` signs its own
    /// folder: what `evidence merge --shard-key` requires of each shard.
    Sign {
        /// The evidence folder (holds trials.json).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

/// `run`'s flags (the command's help is on [`Command::Run`]).
#[derive(Debug, clap::Args)]
pub(crate) struct RunFlags {
    /// Decision record path (overrides CTO_HARNESS_CASE_DECISION_FILE).
    #[arg(long, value_name = "PATH")]
    pub decision: Option<PathBuf>,
    /// Admission record path (overrides CTO_HARNESS_CASE_MODEL_ADMISSION_FILE).
    #[arg(long, value_name = "PATH")]
    pub admission: Option<PathBuf>,
    /// The task file handed to Case (copied to the run folder as task.json).
    #[arg(long, value_name = "PATH")]
    pub task: PathBuf,
    /// The run folder; created if missing, must be empty (default: a new
    /// `runs/<UTC timestamp>`, e.g. runs/2026-12-07T18-05-03Z, printed at the end).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Output format: `json` prints one object on stdout (outcome, report, reasons, exit_code).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Seconds before Case (and everything it started) is killed.
    #[arg(long, value_name = "SECS", default_value_t = crate::run::DEFAULT_CASE_TIMEOUT.as_secs_f64())]
    pub timeout: f64,
    /// Seconds to wait for GET {base}/models.
    #[arg(long, value_name = "SECS", default_value_t = gates::DEFAULT_PROBE_TIMEOUT.as_secs_f64())]
    pub probe_timeout: f64,
    /// Which API the upstream speaks for Case's Anthropic routes: `auto` asks it once at
    /// start (POST {base}/messages/count_tokens answering 200 with input_tokens means it
    /// speaks the Messages API: pass-through), `anthropic` passes through, `openai`
    /// translates to chat completions.
    #[arg(long, value_name = "API", default_value = "auto")]
    pub upstream_api: crate::adapter::UpstreamApi,
    /// The planning document, hashed into the report and scanned for secrets (default:
    /// the bundled seed; a run whose SOT cannot be scanned cannot pass).
    #[arg(long, value_name = "PATH")]
    pub sot: Option<PathBuf>,
    /// Mark the evidence `simulated` (the provider is a fake); it never counts as Stage 2.
    #[arg(long)]
    pub simulated: bool,
    /// When the kernel refuses the namespaces that confine Case, run it unconfined
    /// anyway (same network and files as the harness). The report says `isolation: none`
    /// and `status` does not count it unless told to with --count-unconfined.
    #[arg(long)]
    pub allow_unconfined: bool,
    /// A file or folder Case must not read (repeatable): inside Case's sandbox a folder
    /// shows empty and a file reads as empty. E.g. a signing key's folder, ~/.ssh.
    #[arg(long, value_name = "PATH")]
    pub hide: Vec<PathBuf>,
    /// Give Case the user's HOME instead of a fresh `case-home/` in the run folder. The
    /// agent configuration directory (CLAUDE_CONFIG_DIR) stays fresh; the report records it.
    #[arg(long)]
    pub keep_home: bool,
    #[command(flatten)]
    pub confinement: confinement::ConfinementFlags,
    #[command(flatten)]
    pub sampling: sampling::SamplingFlags,
    /// Run Case N times, each attempt in a fresh sandbox and its own folder
    /// (OUT/attempt-1/ …) with its own sealed report, and write OUT/aggregate.json: passes,
    /// pass rate, its 95% Wilson interval, pass@k and each attempt's digest. Exit 0 only
    /// when at least --require attempts passed.
    #[arg(long, value_name = "N")]
    pub attempts: Option<u32>,
    /// With --attempts: how many attempts must pass (default: all of them).
    #[arg(long, value_name = "K", requires = "attempts")]
    pub require: Option<u32>,
    /// With --attempts: run at most P attempts side by side (default 1: one after another).
    #[arg(long, value_name = "P", default_value_t = 1, requires = "attempts")]
    pub parallel: u32,
    /// The Case command and its arguments (default: the reference Case).
    #[arg(last = true, value_name = "CASE_CMD")]
    pub case_command: Vec<String>,
}
