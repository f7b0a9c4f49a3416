//! What the local upstream says about itself, recorded in the report, and the check of the
//! admission's `model_sha256` against the model file the server really loaded.
//!
//! Local servers echo whatever model name they are asked for, so a name is no proof of what
//! served a run. The fingerprint adds what each server offers about itself — llama.cpp's
//! `/props`, Ollama's `/api/version` and `/api/show`, vLLM's `/version`, llama-cpp-python's
//! `/openapi.json` title — and, because the server is on this machine, the model file named on
//! the command line of the process listening on the upstream port (found through `/proc`).
//! When the admission carries `model_sha256` and that file is readable, its digest must match.
//!
//! Every request goes through the loopback-only client to the already-validated origin;
//! answers are size-bounded and only a few named fields are kept.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::output::{ModelFile, Sha256Check, UpstreamFingerprint};
use crate::upstream::LocalBaseUrl;

/// Largest self-description answer read.
const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// The fingerprint and what it proves.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fingerprint {
    /// What the report records.
    pub recorded: UpstreamFingerprint,
    /// The admission's `model_sha256` disagrees with the served model file (a block).
    pub sha256_mismatch: Option<String>,
    /// The server says it forwards to a hosted model (Ollama `remote_host`): an external fallback.
    pub remote_model: Option<String>,
}

/// How much of the fingerprint to collect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FingerprintScope {
    /// Everything the upstream says about itself and the served model file: a run records it
    /// in its report.
    Report,
    /// Only what a gate reads (`check` shows no fingerprint): Ollama's `/api/show`, whose
    /// remote model is an external fallback, and — when the admission carries `model_sha256`
    /// — the served model file (llama.cpp's `/props` and the process listening on the port)
    /// to check it against. Every gate decides exactly as with [`FingerprintScope::Report`].
    Gates,
}

/// The self-description endpoints asked, besides `/api/show`.
const SELF_DESCRIPTION: [&str; 4] = ["props", "api/version", "version", "openapi.json"];

/// Collects the fingerprint of the upstream serving `model`. The questions are independent,
/// so they are asked at once, and the `/proc` walk for the listening process runs beside them.
pub(crate) async fn collect(
    client: &reqwest::Client,
    base: &LocalBaseUrl,
    api_key: Option<&crate::secrets::SecretValue>,
    model: &str,
    models_entry: Option<&Value>,
    admitted_sha256: Option<&str>,
    scope: FingerprintScope,
) -> Fingerprint {
    let wants_model_file = scope == FingerprintScope::Report || admitted_sha256.is_some();
    let paths: &[&str] = match scope {
        FingerprintScope::Report => &SELF_DESCRIPTION,
        FingerprintScope::Gates if wants_model_file => &["props"],
        FingerprintScope::Gates => &[],
    };
    // /proc walking and hashing a model file of hundreds of MB are blocking work. Bounded
    // twice: the hash gives up after MODEL_HASH_LIMIT by itself, and this side does not wait
    // longer than that for the walk and the hash either.
    let deadline = tokio::time::Instant::now() + MODEL_HASH_LIMIT + Duration::from_secs(5);
    let port = base.port();
    let listener = wants_model_file.then(|| tokio::task::spawn_blocking(move || port.and_then(listener_model)));
    let questions = futures_util::future::join_all(paths.iter().map(|path| async move {
        let answer = send(with_key(client.get(base.origin_endpoint(path)), api_key)).await;
        answer.map(|answer| (format!("/{path}"), keep_fields(path, &answer)))
    }));
    let show = send(with_key(
        client
            .post(base.origin_endpoint("api/show"))
            .json(&json!({ "model": model })),
        api_key,
    ));
    let (answers, show) = tokio::join!(questions, show);
    let mut endpoints: Map<String, Value> = answers.into_iter().flatten().collect();
    if let Some(show) = &show {
        endpoints.insert("/api/show".to_owned(), keep_fields("api/show", show));
    }
    let server = identify(&endpoints);
    let remote_model = show
        .as_ref()
        .and_then(|show| show.get("remote_host").or_else(|| show.get("remote_model")))
        .map(|value| value.to_string());

    let (model_file, check, sha256_mismatch) = match listener {
        None => (None, not_checked("the admission has no model_sha256"), None),
        Some(listener) => {
            let props_path = props_model_path(&endpoints);
            let admitted = admitted_sha256.map(str::to_owned);
            let checked = async {
                let listener = listener.await.ok().flatten();
                tokio::task::spawn_blocking(move || check_model_file(listener, props_path, admitted.as_deref())).await
            };
            match tokio::time::timeout_at(deadline, checked).await {
                Ok(Ok(checked)) => checked,
                _ => (None, not_checked("the check did not complete"), None),
            }
        }
    };
    Fingerprint {
        recorded: UpstreamFingerprint {
            endpoints,
            model_file: model_file.map(|(path, found_by)| ModelFile {
                found_by,
                path: path.display().to_string(),
            }),
            model_sha256_check: check,
            models_entry: models_entry.cloned(),
            server: server.to_owned(),
        },
        sha256_mismatch,
        remote_model,
    }
}

/// The same upstream, the same credential as the probe (a server with a key may guard these too).
fn with_key(
    request: reqwest::RequestBuilder,
    api_key: Option<&crate::secrets::SecretValue>,
) -> reqwest::RequestBuilder {
    match api_key {
        Some(key) => request.bearer_auth(key.expose()),
        None => request,
    }
}

/// Sends a question; any failure, non-2xx, non-loopback peer or oversized answer is "no answer".
async fn send(request: reqwest::RequestBuilder) -> Option<Value> {
    let mut response = request.send().await.ok()?;
    if !response.status().is_success() || !crate::upstream::has_loopback_peer(&response) {
        return None;
    }
    let body = crate::upstream::read_body_bounded(&mut response, MAX_ANSWER_BYTES, None)
        .await
        .ok()?;
    serde_json::from_slice(&body).ok()
}

/// Keeps the identifying fields of each answer (never whole documents).
fn keep_fields(path: &str, answer: &Value) -> Value {
    let pick = |keys: &[&str]| {
        let mut kept = Map::new();
        for key in keys {
            if let Some(value) = answer.pointer(key) {
                kept.insert(key.trim_start_matches('/').replace('/', "."), value.clone());
            }
        }
        Value::Object(kept)
    };
    match path {
        "props" => pick(&[
            "/model_path",
            "/model_alias",
            "/build_info",
            "/total_slots",
            "/default_generation_settings/model",
        ]),
        "api/version" => pick(&["/version"]),
        "version" => pick(&["/version"]),
        "openapi.json" => pick(&["/info/title", "/info/version"]),
        "api/show" => pick(&[
            "/details",
            "/model_info/general.architecture",
            "/remote_host",
            "/remote_model",
            "/modified_at",
        ]),
        _ => Value::Null,
    }
}

fn identify(endpoints: &Map<String, Value>) -> &'static str {
    let title = endpoints
        .get("/openapi.json")
        .and_then(|value| value.get("info.title"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_lowercase();
    // llama-server's `/props` names its build and the model file; an empty `/props` proves nothing.
    let props = endpoints.get("/props");
    let props_says = |key: &str| props.and_then(|props| props.get(key)).is_some_and(Value::is_string);
    if props_says("build_info") || props_says("model_path") {
        "llama.cpp (llama-server)"
    } else if endpoints.contains_key("/api/version") {
        "ollama"
    } else if title.contains("llama.cpp") {
        "llama-cpp-python"
    } else if endpoints.contains_key("/version") {
        "vllm"
    } else {
        "unknown"
    }
}

fn props_model_path(endpoints: &Map<String, Value>) -> Option<PathBuf> {
    let path = endpoints.get("/props")?.get("model_path")?.as_str()?;
    Some(PathBuf::from(path))
}

/// Finds the served model file and compares it with the admission's digest:
/// (file and how it was found, the `model_sha256_check` value, the mismatch message).
fn check_model_file(
    listener: Option<ListenerModel>,
    props_path: Option<PathBuf>,
    admitted_sha256: Option<&str>,
) -> (Option<(PathBuf, String)>, Sha256Check, Option<String>) {
    let model_file = match served_model_file(props_path, listener) {
        Ok(found) => found,
        Err(disagreement) => {
            return match admitted_sha256 {
                None => (None, not_checked("the admission has no model_sha256"), None),
                Some(_) => (None, Sha256Check::Mismatch, Some(disagreement)),
            };
        }
    };
    match (admitted_sha256, &model_file) {
        (None, _) => (model_file, not_checked("the admission has no model_sha256"), None),
        (Some(_), None) => (
            model_file,
            not_checked("the served model file could not be located"),
            None,
        ),
        (Some(expected), Some((path, source))) => match sha256_file(path, MODEL_HASH_LIMIT) {
            Err(err) => {
                let check = Sha256Check::NotChecked(format!("{}: {err}", path.display()));
                (model_file, check, None)
            }
            Ok(actual) if actual == expected => (model_file, Sha256Check::Match, None),
            Ok(actual) => {
                let message = format!(
                    "the served model file {} ({source}) has sha256 {actual}, but the admission's model_sha256 is {expected}",
                    path.display()
                );
                (model_file, Sha256Check::Mismatch, Some(message))
            }
        },
    }
}

/// The model file named on the command line of the local process listening on the upstream
/// port, resolved against that process's working directory.
#[derive(Debug, Clone, PartialEq)]
struct ListenerModel {
    port: u16,
    pid: u32,
    /// The process's working directory (relative paths it was given are relative to it).
    cwd: Option<PathBuf>,
    /// `--model`/`-m` as given, made absolute with `cwd` when possible.
    path: Option<PathBuf>,
}

fn listener_model(port: u16) -> Option<ListenerModel> {
    let (pid, argv) = listener_command_line(port)?;
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok();
    let path = model_argument(&argv).and_then(|path| absolute_in(path, cwd.as_deref()));
    Some(ListenerModel { port, pid, cwd, path })
}

/// `path` as seen from `cwd`; a relative path with no known `cwd` cannot be placed.
fn absolute_in(path: PathBuf, cwd: Option<&Path>) -> Option<PathBuf> {
    if path.is_absolute() {
        Some(path)
    } else {
        cwd.map(|cwd| cwd.join(path))
    }
}

fn not_checked(why: &str) -> Sha256Check {
    Sha256Check::NotChecked(why.to_owned())
}

/// The model file the server loaded, from its two witnesses: llama.cpp's `/props` (what the
/// server says) and the command line of the process listening on the upstream port (what was
/// started there). When both name a file they must be the same file — a server whose `/props`
/// points elsewhere than the model it was started with is not believed (`Err`, a block).
fn served_model_file(
    props_path: Option<PathBuf>,
    listener: Option<ListenerModel>,
) -> Result<Option<(PathBuf, String)>, String> {
    let listener_source = |listener: &ListenerModel| {
        format!(
            "--model of the process listening on port {} (pid {})",
            listener.port, listener.pid
        )
    };
    let Some(props_path) = props_path else {
        return Ok(listener.and_then(|listener| {
            let source = listener_source(&listener);
            listener.path.map(|path| (path, source))
        }));
    };
    // llama-server reports `-m` as given: a relative path is relative to the server's cwd.
    let cwd = listener.as_ref().and_then(|listener| listener.cwd.as_deref());
    let Some(props_path) = absolute_in(props_path, cwd) else {
        return Ok(None);
    };
    match listener
        .as_ref()
        .and_then(|listener| listener.path.as_ref().map(|path| (listener, path)))
    {
        None => Ok(Some((props_path, "llama.cpp /props model_path".to_owned()))),
        Some((listener, started_with)) if same_file(&props_path, started_with) => Ok(Some((
            props_path,
            format!(
                "llama.cpp /props model_path, the same file as the {}",
                listener_source(listener)
            ),
        ))),
        Some((listener, started_with)) => Err(format!(
            "llama.cpp /props says the model is {}, but the {} names {}: the server's self-description is not believed; stop whatever listens on port {} and start the admitted model there",
            props_path.display(),
            listener_source(listener),
            started_with.display(),
            listener.port
        )),
    }
}

/// Same file: equal after resolving symlinks, or (when either cannot be resolved) equal as written.
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// `--model PATH` or `--model=PATH` (llama-server, llama-cpp-python, vLLM); llama-server's
/// `-m PATH` only when the program is not a Python interpreter (where `-m` names a module).
fn model_argument(argv: &[String]) -> Option<PathBuf> {
    let long = argv
        .iter()
        .enumerate()
        .find_map(|(index, arg)| match arg.strip_prefix("--model=") {
            Some(value) => Some(PathBuf::from(value)),
            None if arg == "--model" => argv.get(index + 1).map(PathBuf::from),
            None => None,
        });
    let python = argv.first().is_some_and(|program| {
        Path::new(program)
            .file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with("python"))
    });
    long.or_else(|| {
        let index = argv.iter().position(|arg| arg == "-m").filter(|_| !python)?;
        argv.get(index + 1).map(PathBuf::from)
    })
}

/// The pid and argv of the process listening on 127.0.0.1/::1 `port`, via `/proc` (Linux).
/// Processes' open descriptors are read until one is the socket (its inode is all that links
/// it to its owner).
fn listener_command_line(port: u16) -> Option<(u32, Vec<String>)> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    let sockets: Vec<(String, Option<u32>)> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .flat_map(|text| listening_inodes(&text, port))
        .collect();
    if sockets.is_empty() {
        return None;
    }
    let targets: Vec<Vec<u8>> = sockets
        .iter()
        .map(|(inode, _)| format!("socket:[{inode}]").into_bytes())
        .collect();
    let owners: Vec<u32> = sockets.iter().filter_map(|(_, uid)| *uid).collect();
    // A socket belongs to the user who created it, and /proc/PID to the process's user: the
    // processes of the socket's user are read first, then the rest (a server may have
    // changed user after binding), so the common case reads few descriptors.
    let mut candidates: Vec<(bool, std::fs::DirEntry)> = std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter(|entry| {
            entry
                .file_name()
                .to_str()
                .is_some_and(|name| name.parse::<u32>().is_ok())
        })
        .map(|entry| {
            let other_user =
                !owners.is_empty() && entry.metadata().is_ok_and(|metadata| !owners.contains(&metadata.uid()));
            (other_user, entry)
        })
        .collect();
    candidates.sort_by_key(|(other_user, _)| *other_user);
    for (_, entry) in candidates {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let owns = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|target| {
                targets
                    .iter()
                    .any(|wanted| target.as_os_str().as_bytes() == wanted.as_slice())
            })
        });
        if owns {
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let argv = cmdline
                .split(|byte| *byte == 0)
                .filter(|arg| !arg.is_empty())
                .map(|arg| String::from_utf8_lossy(arg).into_owned())
                .collect();
            return Some((pid, argv));
        }
    }
    None
}

/// Inode and owner uid of each LISTEN socket on `port` in a `/proc/net/tcp{,6}` table.
fn listening_inodes(table: &str, port: u16) -> Vec<(String, Option<u32>)> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local = fields.get(1)?;
            let state = fields.get(3)?;
            let uid = fields.get(7).and_then(|uid| uid.parse::<u32>().ok());
            let inode = fields.get(9)?;
            let local_port = u16::from_str_radix(local.rsplit(':').next()?, 16).ok()?;
            (local_port == port && *state == "0A").then(|| (inode.to_string(), uid))
        })
        .collect()
}

/// Largest model file hashed (the biggest GGUF files are well under this).
pub(crate) const MAX_MODEL_FILE_BYTES: u64 = 512 * 1024 * 1024 * 1024;
/// Longest the model-file hash may take (about 1 GB/s on these machines: minutes of margin
/// for the largest local models, never forever).
pub(crate) const MODEL_HASH_LIMIT: Duration = Duration::from_secs(600);

/// sha256 of a model file, streamed: only a regular file (a FIFO, `/dev/zero` or another
/// device named by an upstream's `/props` is refused, never read), of at most
/// [`MAX_MODEL_FILE_BYTES`], and given up after `limit`.
pub(crate) fn sha256_file(path: &Path, limit: Duration) -> std::io::Result<String> {
    use crate::guarded_files::{FinalSymlink, RunFileError, open_guarded};
    use sha2::Digest;
    use std::io::Read;
    let started = std::time::Instant::now();
    let (mut file, len) = open_guarded(path, FinalSymlink::Follow).map_err(|err| match err {
        RunFileError::NotRegular { kind, .. } => {
            std::io::Error::other(format!("is a {kind}, not a regular file; refusing to hash it"))
        }
        other => std::io::Error::from(other),
    })?;
    if len > MAX_MODEL_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "is larger than {MAX_MODEL_FILE_BYTES} bytes; refusing to hash it"
        )));
    }
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0; 1 << 20];
    let mut total: u64 = 0;
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        total += read as u64;
        if total > MAX_MODEL_FILE_BYTES {
            return Err(std::io::Error::other("grew past the size limit while being hashed"));
        }
        if started.elapsed() > limit {
            return Err(std::io::Error::other(format!(
                "hashing did not finish within {} s",
                limit.as_secs()
            )));
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The paths an upstream was asked, in order of arrival, after `collect` with `scope`.
    async fn asked(scope: FingerprintScope, admitted_sha256: Option<&str>) -> Vec<String> {
        use wiremock::{Mock, MockServer, ResponseTemplate, matchers::any};
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"remote_host": "https://ollama.com"})))
            .mount(&server)
            .await;
        let base = LocalBaseUrl::parse(&format!("{}/v1", server.uri())).expect("loopback url");
        let client = crate::upstream::loopback_client(Some(Duration::from_secs(5))).expect("client");
        let fingerprint = collect(&client, &base, None, "m", None, admitted_sha256, scope).await;
        // The gate's input is there whatever the scope.
        assert_eq!(fingerprint.remote_model.as_deref(), Some("\"https://ollama.com\""));
        let mut paths: Vec<String> = server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .map(|request| request.url.path().to_owned())
            .collect();
        paths.sort();
        paths
    }

    #[tokio::test]
    async fn check_asks_only_what_a_gate_reads_and_a_run_asks_everything() {
        assert_eq!(asked(FingerprintScope::Gates, None).await, vec!["/api/show"]);
        assert_eq!(
            asked(FingerprintScope::Gates, Some("00")).await,
            vec!["/api/show", "/props"],
            "model_sha256 to check: the served model file is looked for"
        );
        assert_eq!(
            asked(FingerprintScope::Report, None).await,
            vec!["/api/show", "/api/version", "/openapi.json", "/props", "/version"]
        );
    }

    #[test]
    fn finds_the_model_argument_in_each_spelling() {
        let argv = |args: &[&str]| args.iter().map(|arg| arg.to_string()).collect::<Vec<_>>();
        let expected = Some(PathBuf::from("/m.gguf"));
        assert_eq!(
            model_argument(&argv(&[
                "/venv/bin/python3",
                "-m",
                "llama_cpp.server",
                "--model",
                "/m.gguf"
            ])),
            expected
        );
        assert_eq!(model_argument(&argv(&["llama-server", "--model=/m.gguf"])), expected);
        assert_eq!(model_argument(&argv(&["llama-server", "-m", "/m.gguf"])), expected);
        assert_eq!(model_argument(&argv(&["python3", "-m", "llama_cpp.server"])), None);
        assert_eq!(model_argument(&argv(&["vllm", "serve"])), None);
    }

    fn listener(cwd: &Path, model: Option<&str>) -> ListenerModel {
        ListenerModel {
            port: 8090,
            pid: 4242,
            cwd: Some(cwd.to_owned()),
            path: model.map(|model| cwd.join(model)),
        }
    }

    #[test]
    fn props_and_the_listener_naming_the_same_file_agree() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("m.gguf"), b"weights").expect("write");
        // llama-server reports `-m` as given: relative to the server's cwd, not ours.
        let found = served_model_file(
            Some(PathBuf::from("m.gguf")),
            Some(listener(dir.path(), Some("m.gguf"))),
        )
        .expect("the same file");
        let (path, source) = found.expect("located");
        assert_eq!(path, dir.path().join("m.gguf"));
        assert!(
            source.contains("/props model_path") && source.contains("pid 4242"),
            "{source}"
        );
    }

    #[test]
    fn props_naming_another_file_than_the_listener_was_started_with_is_a_block() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in ["admitted.gguf", "served.gguf"] {
            std::fs::write(dir.path().join(name), name).expect("write");
        }
        let props = dir.path().join("admitted.gguf");
        let err = served_model_file(Some(props), Some(listener(dir.path(), Some("served.gguf"))))
            .expect_err("two different files");
        assert!(
            err.contains("admitted.gguf") && err.contains("served.gguf") && err.contains("port 8090"),
            "{err}"
        );
        // With the admission's digest to check, the disagreement blocks; no file is hashed.
        let props = dir.path().join("admitted.gguf");
        let admitted = sha256_file(&props, MODEL_HASH_LIMIT).expect("hash");
        let (file, check, mismatch) = check_model_file(
            Some(listener(dir.path(), Some("served.gguf"))),
            Some(props),
            Some(&admitted),
        );
        assert_eq!((file, check), (None, Sha256Check::Mismatch));
        assert!(mismatch.is_some_and(|message| message.contains("not believed")));
    }

    #[test]
    fn a_relative_props_path_without_the_server_process_is_not_guessed() {
        assert_eq!(served_model_file(Some(PathBuf::from("m.gguf")), None), Ok(None));
        assert_eq!(
            served_model_file(Some(PathBuf::from("/abs/m.gguf")), None),
            Ok(Some((
                PathBuf::from("/abs/m.gguf"),
                "llama.cpp /props model_path".to_owned()
            )))
        );
    }

    #[test]
    fn identifies_llama_server_only_from_what_its_props_say() {
        let endpoints = |props: Value| {
            let mut map = Map::new();
            map.insert("/props".to_owned(), props);
            map
        };
        let props = keep_fields(
            "props",
            &json!({"model_path": "/m.gguf", "build_info": "b1-abc", "model_alias": "a", "chat_template": "x"}),
        );
        assert_eq!(
            props,
            json!({"model_path": "/m.gguf", "build_info": "b1-abc", "model_alias": "a"})
        );
        assert_eq!(identify(&endpoints(props)), "llama.cpp (llama-server)");
        assert_eq!(identify(&endpoints(json!({}))), "unknown");
    }

    #[test]
    fn reads_listening_sockets_from_proc_tables() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F99 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1\n   1: 0100007F:1F99 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 4343 1\n";
        assert_eq!(listening_inodes(table, 8089), vec![("4242".to_owned(), Some(0))]);
        assert!(listening_inodes(table, 80).is_empty());
    }

    #[test]
    fn hashes_files_like_the_records_do() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("model.gguf");
        std::fs::write(&path, b"weights").expect("write");
        assert_eq!(
            sha256_file(&path, MODEL_HASH_LIMIT).expect("hash"),
            crate::records::sha256_hex(b"weights")
        );
    }

    /// Red-team finding 6: `/props` naming `/dev/zero` (or a FIFO) as the model file must not
    /// hash forever; only regular files are hashed.
    #[test]
    fn finding_6_a_device_or_fifo_model_file_is_refused_not_hashed_forever() {
        let err = sha256_file(Path::new("/dev/zero"), MODEL_HASH_LIMIT).expect_err("a device");
        assert!(err.to_string().contains("is a device, not a regular file"), "{err}");
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("model.gguf");
        let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("no NUL");
        // SAFETY: mkfifo(3) on a NUL-terminated path in a temp folder this test owns.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let err = sha256_file(&fifo, MODEL_HASH_LIMIT).expect_err("a FIFO");
        assert!(err.to_string().contains("is a FIFO"), "{err}");
        let (_, check, mismatch) = check_model_file(None, Some(PathBuf::from("/dev/zero")), Some("00"));
        assert!(check.to_string().starts_with("not_checked: /dev/zero"), "{check}");
        assert_eq!(mismatch, None);
    }

    /// Red-team finding 6: the hash gives up at its deadline instead of running on.
    #[test]
    fn finding_6_hashing_stops_at_its_deadline() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("model.gguf");
        std::fs::write(&path, vec![0u8; 3 << 20]).expect("write");
        let err = sha256_file(&path, Duration::ZERO).expect_err("past the deadline");
        assert!(err.to_string().contains("did not finish within"), "{err}");
    }
}
