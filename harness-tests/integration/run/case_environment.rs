use crate::run::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_gets_the_contract_and_nothing_inherited() {
    let sandbox = Sandbox::new();
    let server = provider().await;
    let upstream_key = format!("upstream-key-canary-{}", std::process::id());
    let inherited_openai = "inherited-openai-canary-77";
    let inherited_anthropic = "inherited-anthropic-canary-78";
    let mut command = harness(&sandbox, Some(&base_url(&server)));
    command
        .env("CTO_HARNESS_CASE_LOCAL_API_KEY", &upstream_key)
        .env("OPENAI_API_KEY", inherited_openai)
        .env("ANTHROPIC_API_KEY", inherited_anthropic)
        .env("CLAUDE_CODE_USE_BEDROCK", "1");
    run(command, &sandbox, case_script("dump_env.py"), &[]).await;

    let text = std::fs::read_to_string(sandbox.out().join("case-output/env.json")).expect("env dump");
    for secret in [upstream_key.as_str(), inherited_openai, inherited_anthropic] {
        assert!(!text.contains(secret), "Case's environment contains {secret}");
    }
    let env = read_json(&sandbox.out().join("case-output/env.json"));
    let adapter = env["CASE_BASE_URL"].as_str().expect("CASE_BASE_URL");
    assert!(
        adapter.starts_with("http://127.0.0.1:") && adapter.ends_with("/v1"),
        "{adapter}"
    );
    assert_eq!(env["OPENAI_BASE_URL"], adapter);
    assert_eq!(
        format!("{}/v1", env["ANTHROPIC_BASE_URL"].as_str().unwrap_or_default()),
        adapter
    );
    assert_eq!(env["CASE_API_KEY"], "<case-token>");
    assert_eq!(env["OPENAI_API_KEY"], "<case-token>");
    assert_eq!(env["ANTHROPIC_AUTH_TOKEN"], "<case-token>");
    assert_eq!(env["CASE_MODEL"], MODEL);
    assert_eq!(env["ANTHROPIC_SMALL_FAST_MODEL"], MODEL);
    assert!(env.get("CLAUDE_CODE_USE_BEDROCK").is_none());
    assert!(env.get("CTO_HARNESS_CASE_LOCAL_API_KEY").is_none());

    let scrubbed = sandbox.report()["scrubbed_variables"].to_string();
    for name in ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "CLAUDE_CODE_USE_BEDROCK"] {
        assert!(scrubbed.contains(name), "{name} not listed as scrubbed: {scrubbed}");
    }
    assert!(!scrubbed.contains(inherited_openai));
}
