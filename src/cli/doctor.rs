//! `case-harness doctor`: can this machine gate, confine and run Case? One line per check,
//! `ok`, `warn` or `fail`, each not-ok line with what to fix.
//!
//! The checks reuse what `run` and `evidence` do rather than guessing: the base URL is
//! parsed by the gates' own `LocalBaseUrl` and probed with the gates' loopback-only client
//! and `GET {base}/models`; the signing key goes through `EvidenceSigner::load`, the checks
//! `evidence` applies (mode, hard links, folder). Only the namespace probe is its own: a
//! forked child unshares what Case's sandbox unshares and exits, so nothing in this process
//! changes. `fail` means `run` or `evidence` will not work as documented (exit 1); `warn`
//! means something optional is missing or only some uses break.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::exit::{CliError, Exit, render_chain};
use super::{Format, to_json};
use crate::config::{Environment, HarnessConfig};

/// The host uid Case runs as when the harness is root.
const NOBODY: u32 = crate::sandbox::CASE_HOST_ID;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Level {
    /// Works.
    Ok,
    /// Optional, or only some uses break.
    Warn,
    /// `run` or `evidence` will not work as documented.
    Fail,
}

/// One check's line.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Check {
    /// Stable name, e.g. `user_namespaces`.
    pub name: &'static str,
    /// How it came out.
    pub status: Level,
    /// What was found.
    pub detail: String,
    /// What to do about it (empty when ok).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub fix: String,
}

impl Check {
    fn ok(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            status: Level::Ok,
            detail: detail.into(),
            fix: String::new(),
        }
    }

    fn not_ok(name: &'static str, status: Level, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name,
            status,
            detail: detail.into(),
            fix: fix.into(),
        }
    }
}

/// What `doctor --format json` prints.
#[derive(Debug, serde::Serialize)]
struct DoctorJson<'a> {
    /// True when no check failed (exit 0).
    ok: bool,
    checks: &'a [Check],
}

/// Runs every check, prints them, exits 0 when none failed.
pub(crate) fn doctor(process_env: &Environment, format: Format, probe_timeout: Duration) -> Result<Exit, CliError> {
    // The namespace probe forks: before the async runtime starts its threads.
    let namespaces = user_namespaces(NAMESPACES);
    let config = process_env.config();
    let provider = crate::signals::block_on(provider(
        config.local_base_url.as_deref(),
        config.local_api_key.as_ref(),
        probe_timeout,
    ))
    .map_err(CliError::Runtime)?;
    let uid = rustix::process::geteuid().as_raw();
    let mut checks = vec![namespaces, identity(uid), environment(&config)];
    if uid == 0 {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let binary = std::env::current_exe().map_err(CliError::CurrentExe)?;
        checks.push(traversal(&cwd, &binary));
    }
    checks.push(provider);
    let path = process_env.var_os("PATH").unwrap_or_default().to_owned();
    checks.push(claude(
        process_env.var_os("CASE_HARNESS_CLAUDE").map(PathBuf::from),
        &path,
    ));
    checks.push(codex(&path));
    let evidence = std::path::absolute("target/case-harness/evidence")
        .unwrap_or_else(|_| PathBuf::from("target/case-harness/evidence"));
    checks.push(signing_key(config.signing_key.as_deref(), &evidence));
    let ok = !checks.iter().any(|check| check.status == Level::Fail);
    match format {
        Format::Json => println!("{}", to_json(&DoctorJson { ok, checks: &checks })?),
        Format::Human => {
            for check in &checks {
                let status = match check.status {
                    Level::Ok => "ok",
                    Level::Warn => "warn",
                    Level::Fail => "FAIL",
                };
                println!("{status:<5} {:<16} {}", check.name, check.detail);
                if !check.fix.is_empty() {
                    println!("{:<22} fix: {}", "", check.fix);
                }
            }
        }
    }
    Ok(if ok { Exit::Success } else { Exit::Failed })
}

/// The namespaces Case's sandbox unshares with its user namespace.
const NAMESPACES: libc::c_int =
    libc::CLONE_NEWUSER | libc::CLONE_NEWNS | libc::CLONE_NEWNET | libc::CLONE_NEWPID | libc::CLONE_NEWIPC;

/// Whether a child may unshare `flags` (a forked child tries; this process is untouched).
fn user_namespaces(flags: libc::c_int) -> Check {
    const NAME: &str = "user_namespaces";
    match unshare_in_child(flags) {
        Ok(()) => Check::ok(
            NAME,
            "a child could unshare user, mount, network, PID and IPC namespaces: Case can be confined",
        ),
        Err(error) => Check::not_ok(
            NAME,
            Level::Fail,
            format!(
                "the kernel refused unshare(user, mount, network, PID, IPC namespaces): {error}; `run` stops with confinement_unavailable"
            ),
            "allow user namespaces (sysctl user.max_user_namespaces > 0, kernel.unprivileged_userns_clone=1, \
             kernel.apparmor_restrict_unprivileged_userns=0; in Docker: --security-opt seccomp=unconfined or a \
             profile allowing unshare), or use `run --allow-unconfined` (its runs never count as confined)",
        ),
    }
}

/// Forks a child that calls unshare(`flags`) and reports its errno as exit status.
fn unshare_in_child(flags: libc::c_int) -> std::io::Result<()> {
    // SAFETY: the child calls only unshare(2) and _exit(2), both async-signal-safe, so forking
    // a multi-threaded process is sound; the parent reaps it with waitpid.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if pid == 0 {
        // SAFETY: see above; the child never returns into Rust code.
        unsafe {
            let code = if libc::unshare(flags) == 0 {
                0
            } else {
                *libc::__errno_location() & 0x7f
            };
            libc::_exit(code);
        }
    }
    let mut status = 0;
    // SAFETY: `pid` is our child; `status` is a valid out-pointer.
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0 {
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
    match (libc::WIFEXITED(status), libc::WEXITSTATUS(status)) {
        (true, 0) => Ok(()),
        (true, errno) => Err(std::io::Error::from_raw_os_error(errno)),
        _ => Err(std::io::Error::other(format!(
            "the probe child ended abnormally (status {status})"
        ))),
    }
}

/// Who Case will be, from the harness's uid.
fn identity(uid: u32) -> Check {
    const NAME: &str = "identity";
    if uid == 0 {
        Check::ok(
            NAME,
            format!(
                "running as root: Case runs as uid {NOBODY} (nobody) in its user namespace; the sandbox keeps \
                 CAP_DAC_READ_SEARCH there, so Case can still enter root-owned folders such as a checkout under a 0700 /root"
            ),
        )
    } else {
        Check::ok(
            NAME,
            format!("running as uid {uid}: Case runs as you inside its user namespace"),
        )
    }
}

/// CTO_HARNESS_CASE_* variables the gates would refuse or ignore.
fn environment(config: &HarnessConfig) -> Check {
    const NAME: &str = "environment";
    if !config.unknown_variables.is_empty() {
        return Check::not_ok(
            NAME,
            Level::Fail,
            format!(
                "unknown variable(s) {}: every gate blocks (local_adapter_config_invalid)",
                config.unknown_variables.join(", ")
            ),
            format!(
                "unset them or fix the name; the harness reads {}",
                crate::config::KNOWN_VARIABLES.join(", ")
            ),
        );
    }
    match config.warnings().first() {
        Some(warning) => Check::not_ok(NAME, Level::Warn, warning.clone(), "fix the variable's name"),
        None => Check::ok(NAME, "no unknown or misspelled CTO_HARNESS_CASE_* variables"),
    }
}

/// Whether uid 65534 can enter the current folder and run this binary: the sandbox itself
/// does not need it (it keeps CAP_DAC_READ_SEARCH), but what runs as plain `nobody` does.
fn traversal(cwd: &Path, binary: &Path) -> Check {
    const NAME: &str = "traversal";
    let blocked = [cwd, binary]
        .into_iter()
        .find_map(|path| first_closed_folder(path, NOBODY, NOBODY).map(|folder| (path, folder)));
    match blocked {
        None => Check::ok(
            NAME,
            format!("uid {NOBODY} can enter {} and run {}", cwd.display(), binary.display()),
        ),
        Some((path, folder)) => Check::not_ok(
            NAME,
            Level::Warn,
            format!(
                "uid {NOBODY} cannot enter {} (on the way to {}): `run` still works (the sandbox keeps \
                 CAP_DAC_READ_SEARCH for root-owned folders), but `cargo test`'s confinement test re-runs the binary \
                 as plain nobody and --writable folders must be writable by it",
                folder.display(),
                path.display()
            ),
            format!(
                "chmod o+x {} (search only, no listing), or clone under a folder every user can enter",
                folder.display()
            ),
        ),
    }
}

/// The first folder on the way to `path` (or `path` itself: a file needs r and x) that
/// `uid`/`gid` may not enter; `None` when every one is open to them.
fn first_closed_folder(path: &Path, uid: u32, gid: u32) -> Option<PathBuf> {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let mut folders: Vec<&Path> = path.ancestors().skip(1).collect();
    folders.reverse();
    for folder in folders {
        if !allowed(folder, uid, gid, 0o1) {
            return Some(folder.to_owned());
        }
    }
    let needed = if path.is_dir() { 0o1 } else { 0o5 };
    (!allowed(&path, uid, gid, needed)).then_some(path)
}

/// Whether `uid`/`gid` have the `bits` (r=4, w=2, x=1) on `path` by its mode (owner, group
/// or other class, as the kernel chooses; no capabilities).
fn allowed(path: &Path, uid: u32, gid: u32, bits: u32) -> bool {
    let Ok(metadata) = std::fs::metadata(path) else {
        return false;
    };
    let mode = metadata.mode();
    let class = if metadata.uid() == uid {
        mode >> 6
    } else if metadata.gid() == gid {
        mode >> 3
    } else {
        mode
    };
    class & bits == bits
}

/// CTO_HARNESS_CASE_LOCAL_BASE_URL: loopback, and answering GET /models in time.
async fn provider(base_url: Option<&str>, key: Option<&crate::secrets::SecretValue>, timeout: Duration) -> Check {
    const NAME: &str = "provider";
    let Some(text) = base_url else {
        return Check::not_ok(
            NAME,
            Level::Warn,
            "CTO_HARNESS_CASE_LOCAL_BASE_URL is not set: `run` and `check` block, `evidence` ignores the real Stage 2 trial",
            "start a local provider (scripts/local-provider.sh start) and export the base URL it prints",
        );
    };
    let base = match crate::upstream::LocalBaseUrl::parse(text) {
        Ok(base) => base,
        Err(error) => {
            return Check::not_ok(
                NAME,
                Level::Fail,
                format!("CTO_HARNESS_CASE_LOCAL_BASE_URL {}", render_chain(&error)),
                "set it to the local provider's http://127.0.0.1:PORT/v1 (loopback only)",
            );
        }
    };
    let client = match crate::upstream::loopback_client(Some(timeout)) {
        Ok(client) => client,
        Err(error) => {
            return Check::not_ok(
                NAME,
                Level::Fail,
                format!("cannot build the HTTP client: {}", error.without_url()),
                "report this as a bug",
            );
        }
    };
    match crate::upstream::probe_models(&client, &base, key).await {
        Ok(models) => Check::ok(
            NAME,
            format!(
                "{} answered GET /models with {} model(s): {}",
                base.host_port(),
                models.ids.len(),
                models.ids.join(", ")
            ),
        ),
        Err(error) => Check::not_ok(
            NAME,
            Level::Fail,
            format!(
                "GET {}/models (within {:?}): {}",
                base.host_port(),
                timeout,
                render_chain(&error)
            ),
            "start the provider (scripts/local-provider.sh start) or fix the URL; `check` shows every gate",
        ),
    }
}

/// Claude Code: `CASE_HARNESS_CLAUDE`, else `claude` on PATH.
fn claude(configured: Option<PathBuf>, path: &std::ffi::OsStr) -> Check {
    const NAME: &str = "agent_claude";
    const FIX: &str = "run scripts/agents.sh install, or set CASE_HARNESS_CLAUDE to the claude binary";
    match configured {
        Some(binary) if is_executable(&binary) => Check::ok(NAME, format!("CASE_HARNESS_CLAUDE: {}", binary.display())),
        Some(binary) => Check::not_ok(
            NAME,
            Level::Fail,
            format!(
                "CASE_HARNESS_CLAUDE names {}, which is not an executable file",
                binary.display()
            ),
            FIX,
        ),
        None => match on_path("claude", path) {
            Some(binary) => Check::ok(NAME, format!("claude on PATH: {}", binary.display())),
            None => Check::not_ok(
                NAME,
                Level::Warn,
                "Claude Code not found (CASE_HARNESS_CLAUDE unset, no claude on PATH): only the reference Case can run",
                FIX,
            ),
        },
    }
}

/// Codex: `codex` on PATH.
fn codex(path: &std::ffi::OsStr) -> Check {
    const NAME: &str = "agent_codex";
    match on_path("codex", path) {
        Some(binary) => Check::ok(NAME, format!("codex on PATH: {}", binary.display())),
        None => Check::not_ok(
            NAME,
            Level::Warn,
            "codex not found on PATH (optional)",
            "run scripts/agents.sh install to run Codex as Case",
        ),
    }
}

fn on_path(name: &str, path: &std::ffi::OsStr) -> Option<PathBuf> {
    std::env::split_paths(path)
        .map(|folder| folder.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|metadata| metadata.is_file() && metadata.mode() & 0o111 != 0)
}

/// CASE_HARNESS_SIGNING_KEY, through the checks `evidence` applies before signing.
fn signing_key(path: Option<&Path>, evidence_dir: &Path) -> Check {
    const NAME: &str = "signing_key";
    let Some(path) = path else {
        return Check::not_ok(
            NAME,
            Level::Warn,
            "CASE_HARNESS_SIGNING_KEY is not set: evidence is sealed but not signed (`verify --key` and `status --key` cannot count it)",
            "case-harness keygen, then export CASE_HARNESS_SIGNING_KEY=<the path it prints>",
        );
    };
    match crate::signing::EvidenceSigner::load(path, evidence_dir) {
        Ok(signer) => Check::ok(NAME, format!("{}: key id {}", path.display(), signer.keyid())),
        Err(error) => Check::not_ok(
            NAME,
            Level::Fail,
            format!("CASE_HARNESS_SIGNING_KEY: {}", render_chain(&error)),
            "keep the key mode 0600, with one link, outside every evidence folder (case-harness keygen writes one so)",
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn the_namespace_probe_reports_what_the_child_was_refused() {
        // unshare(0) changes nothing and succeeds; an unknown flag is EINVAL in the child.
        assert_eq!(user_namespaces(0).status, Level::Ok);
        let refused = user_namespaces(0x1);
        assert_eq!(refused.status, Level::Fail);
        assert!(refused.detail.contains("Invalid argument"), "{}", refused.detail);
        assert!(refused.fix.contains("--allow-unconfined"), "{}", refused.fix);
    }

    #[test]
    fn a_0700_folder_on_the_way_is_named_for_nobody() {
        let dir = tempfile::tempdir().expect("tempdir");
        let open = dir.path().join("open");
        let closed = open.join("closed");
        std::fs::create_dir_all(closed.join("checkout")).expect("mkdir");
        for folder in [dir.path(), open.as_path()] {
            std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let binary = open.join("case-harness");
        std::fs::write(&binary, b"").expect("write");
        std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        // The temp folder's own parents (/tmp) are open to everyone.
        assert_eq!(first_closed_folder(&binary, NOBODY, NOBODY), None);
        let check = traversal(&closed.join("checkout"), &binary);
        assert_eq!(check.status, Level::Warn);
        assert!(
            check.fix.contains(&format!("chmod o+x {}", closed.display())),
            "{}",
            check.fix
        );
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o711)).expect("chmod");
        assert_eq!(traversal(&closed.join("checkout"), &binary).status, Level::Ok);
        // A binary nobody may not read is named too.
        std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        assert_eq!(first_closed_folder(&binary, NOBODY, NOBODY), Some(binary.clone()));
    }

    #[test]
    fn the_signing_key_goes_through_evidence_s_own_checks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let evidence = dir.path().join("evidence");
        assert_eq!(signing_key(None, &evidence).status, Level::Warn);
        let key = dir.path().join("keys/signing.key");
        crate::signing::keygen(&key).expect("keygen");
        assert_eq!(signing_key(Some(&key), &evidence).status, Level::Ok);
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let open = signing_key(Some(&key), &evidence);
        assert_eq!(open.status, Level::Fail);
        assert!(open.detail.contains("signing.key"), "{}", open.detail);
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        std::fs::hard_link(&key, dir.path().join("keys/copy.key")).expect("link");
        assert_eq!(signing_key(Some(&key), &evidence).status, Level::Fail);
    }

    #[test]
    fn the_agent_is_found_by_its_variable_or_on_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let claude_bin = dir.path().join("claude");
        std::fs::write(&claude_bin, b"#!/bin/sh\n").expect("write");
        std::fs::set_permissions(&claude_bin, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let path = dir.path().as_os_str();
        assert_eq!(claude(None, path).status, Level::Ok);
        assert_eq!(claude(None, std::ffi::OsStr::new("")).status, Level::Warn);
        assert_eq!(
            claude(Some(claude_bin.clone()), std::ffi::OsStr::new("")).status,
            Level::Ok
        );
        let missing = claude(Some(dir.path().join("nope")), path);
        assert_eq!(missing.status, Level::Fail);
        assert!(missing.detail.contains("nope"), "{}", missing.detail);
        std::fs::set_permissions(&claude_bin, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert_eq!(
            claude(None, path).status,
            Level::Warn,
            "a non-executable file is not an agent"
        );
        assert_eq!(codex(path).status, Level::Warn);
    }

    #[tokio::test]
    async fn the_provider_must_be_loopback_and_answer_models_in_time() {
        use wiremock::matchers::{method, path};
        use wiremock::{Mock, MockServer, ResponseTemplate};
        let second = Duration::from_secs(1);
        assert_eq!(provider(None, None, second).await.status, Level::Warn);
        let remote = provider(Some("http://192.0.2.1:8080/v1"), None, second).await;
        assert_eq!(remote.status, Level::Fail, "{}", remote.detail);
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1/models"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "object": "list", "data": [{"id": "qwen2.5-0.5b-instruct", "object": "model"}]
            })))
            .mount(&server)
            .await;
        let base = format!("{}/v1", server.uri());
        let answered = provider(Some(&base), None, second).await;
        assert_eq!(answered.status, Level::Ok, "{}", answered.detail);
        assert!(answered.detail.contains("qwen2.5-0.5b-instruct"), "{}", answered.detail);
        let slow = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
            .mount(&slow)
            .await;
        let started = std::time::Instant::now();
        let timed_out = provider(Some(&format!("{}/v1", slow.uri())), None, Duration::from_millis(300)).await;
        assert_eq!(timed_out.status, Level::Fail, "{}", timed_out.detail);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the probe is bounded by its timeout"
        );
    }
}
