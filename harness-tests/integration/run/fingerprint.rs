use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::run::common::*;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

/// The stub provider, killed on drop.
struct ModelServer(Child);

impl Drop for ModelServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn start_model_server(model_file: &std::path::Path, port: u16) -> ModelServer {
    start_model_server_in(model_file, port, None, None)
}

/// The stub, started in `cwd` (when given) and answering `/props` with `props_model` (when given).
fn start_model_server_in(
    model_file: &std::path::Path,
    port: u16,
    cwd: Option<&std::path::Path>,
    props_model: Option<&std::path::Path>,
) -> ModelServer {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("harness-tests/providers/model_server.py");
    let mut command = Command::new("python3");
    command
        .arg(script)
        .arg("--model")
        .arg(model_file)
        .args(["--port", &port.to_string(), "--alias", MODEL]);
    if let Some(props_model) = props_model {
        command.arg("--props-model").arg(props_model);
    }
    if let Some(cwd) = cwd {
        command.current_dir(cwd);
    }
    let child = command.spawn().expect("python3");
    let server = ModelServer(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "stub model server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

fn admission_with_sha(sandbox: &Sandbox, sha256: &str) {
    sandbox.write(
        "admission.json",
        &json!({"work_item":"CTO-WORK-020","decision_status":"local_provider_required","provider_class":"local_case_compatible",
                "case_model_provider":"llama.cpp","case_model":MODEL,"case_model_admission_status":"candidate","model_sha256":sha256}),
    );
}

fn check_json(sandbox: &Sandbox, base_url: &str) -> serde_json::Value {
    let output = harness(sandbox, Some(base_url))
        .args(["check", "--format", "json"])
        .output()
        .expect("runs");
    serde_json::from_slice(&output.stdout).expect("json")
}

#[test]
fn model_sha256_is_checked_against_the_file_the_serving_process_loaded() {
    let sandbox = Sandbox::new();
    let model_file = sandbox.path("model.gguf");
    std::fs::write(&model_file, b"the admitted weights").expect("write");
    let port = free_port();
    let _server = start_model_server(&model_file, port);
    let base_url = format!("http://127.0.0.1:{port}/v1");

    admission_with_sha(&sandbox, &case_harness::records::sha256_hex(b"the admitted weights"));
    let ready = check_json(&sandbox, &base_url);
    assert_eq!(ready["outcome"], "ready", "{ready}");

    admission_with_sha(&sandbox, &case_harness::records::sha256_hex(b"some other weights"));
    let blocked = check_json(&sandbox, &base_url);
    assert_eq!(blocked["blocked"], json!(["admitted_model_not_served"]), "{blocked}");
    let detail = blocked["gates"][13]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("model.gguf") && detail.contains("model_sha256"),
        "{detail}"
    );
}

#[test]
fn a_props_model_path_is_believed_only_when_the_listening_process_was_started_with_that_file() {
    let sandbox = Sandbox::new();
    let served = sandbox.path("served.gguf");
    let admitted = sandbox.path("admitted.gguf");
    std::fs::write(&served, b"the weights really served").expect("write");
    std::fs::write(&admitted, b"the admitted weights").expect("write");
    admission_with_sha(&sandbox, &case_harness::records::sha256_hex(b"the admitted weights"));

    // /props names the admitted file; the process on the port was started with another one.
    let port = free_port();
    let server = start_model_server_in(&served, port, None, Some(&admitted));
    let blocked = check_json(&sandbox, &format!("http://127.0.0.1:{port}/v1"));
    drop(server);
    assert_eq!(blocked["blocked"], json!(["admitted_model_not_served"]), "{blocked}");
    let detail = blocked["gates"][13]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("admitted.gguf") && detail.contains("served.gguf") && detail.contains("not believed"),
        "{detail}"
    );

    // Both name the same file, relative to the server's own cwd (llama-server reports `-m` as
    // given): that file is the one hashed — a mismatch while it holds other weights, ready
    // once it holds the admitted ones.
    let server_dir = sandbox.path("server");
    std::fs::create_dir(&server_dir).expect("mkdir");
    std::fs::write(server_dir.join("model.gguf"), b"some other weights").expect("write");
    let relative = std::path::Path::new("model.gguf");
    let port = free_port();
    let _server = start_model_server_in(relative, port, Some(&server_dir), Some(relative));
    let base_url = format!("http://127.0.0.1:{port}/v1");
    let blocked = check_json(&sandbox, &base_url);
    assert_eq!(blocked["blocked"], json!(["admitted_model_not_served"]), "{blocked}");
    let detail = blocked["gates"][13]["detail"].as_str().unwrap_or_default();
    let expected_file = server_dir.join("model.gguf").display().to_string();
    assert!(
        detail.contains(&expected_file) && detail.contains("has sha256"),
        "{detail}"
    );
    std::fs::write(server_dir.join("model.gguf"), b"the admitted weights").expect("write");
    let ready = check_json(&sandbox, &base_url);
    assert_eq!(ready["outcome"], "ready", "{ready}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_serves_the_model_remotely_is_an_external_fallback() {
    let sandbox = Sandbox::new();
    let server = provider().await;
    Mock::given(method("POST"))
        .and(path("/api/show"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"remote_host": "https://ollama.com:443", "remote_model": "qwen3-coder:480b"})),
        )
        .mount(server.server())
        .await;
    let base_url = base_url(&server);
    let value = tokio::task::spawn_blocking(move || check_json(&sandbox, &base_url))
        .await
        .expect("join");
    assert_eq!(value["blocked"], json!(["external_fallback_configured"]), "{value}");
}
