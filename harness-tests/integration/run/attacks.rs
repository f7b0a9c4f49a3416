//! The second adversarial review (issue 22): a Case that reaches for what judges it. Each test
//! runs the attack through the real binary, judges it by bytes on disk, and has a control
//! that removes the one layer (`--unsafe-without-layer`, recorded in the report) and shows
//! the attack then works. docs/threat-model.md lists which layer stops which attack.
//!
//! Every Case here does its attack in `sh` and then the job well (`well_behaved.py`), so a
//! protected run still passes: the protection is that the attack had no effect.

use std::path::{Path, PathBuf};

use crate::run::common::*;

/// A Case that runs `attack` in `sh` (working directory `case-output/`), ignores how it
/// ended, and then does the job.
fn case_that(attack: &str) -> Vec<String> {
    let well_behaved = case_script("well_behaved.py");
    vec![
        "sh".to_owned(),
        "-c".to_owned(),
        format!(
            "{{ {attack} ; }} 2>/dev/null; exec {} {}",
            well_behaved[0], well_behaved[1]
        ),
    ]
}

fn is_root() -> bool {
    rustix::process::getuid().is_root()
}

/// `--unsafe-without-layer` for each of `layers`.
fn without(layers: &[&'static str]) -> Vec<&'static str> {
    layers
        .iter()
        .flat_map(|layer| ["--unsafe-without-layer", layer])
        .collect()
}

fn stdout_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn output_file(sandbox: &Sandbox, name: &str) -> PathBuf {
    sandbox.out().join("case-output").join(name)
}

/// The layers the report says were in force.
fn layers(sandbox: &Sandbox) -> Vec<String> {
    sandbox.report()["isolation"]["layers"]
        .as_array()
        .map(|layers| {
            layers
                .iter()
                .filter_map(|layer| layer.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Attack 1: uid 0 could write `/proc/sys` (the hostname; `core_pattern` runs a pipe handler
/// as full root outside every namespace). Case is unprivileged and `/proc/sys` read-only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_cannot_write_kernel_settings() {
    let attack = "echo case-evil > /proc/sys/kernel/hostname && echo wrote > hostname.txt; \
                  ( exec 3>/proc/sys/kernel/core_pattern ) && echo opened > core_pattern.txt";
    let (sandbox, _provider, output) = run_against_provider(case_that(attack), &[]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stdout_of(&output));
    assert!(
        !output_file(&sandbox, "hostname.txt").exists(),
        "Case wrote kernel.hostname"
    );
    assert!(
        !output_file(&sandbox, "core_pattern.txt").exists(),
        "Case opened core_pattern"
    );
    for layer in ["unprivileged_user", "proc_sys_read_only", "uts_ipc_cgroup_namespaces"] {
        assert!(
            layers(&sandbox).iter().any(|name| name == layer),
            "{layer}: {:?}",
            layers(&sandbox)
        );
    }
}

/// The control: as root, without the unprivileged user, the read-only `/proc/sys` and
/// Landlock (each stops it), the same Case writes the hostname — of its own UTS namespace only, so the host is untouched
/// (and `core_pattern`, which no namespace covers, is never tried here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_without_those_layers_a_root_case_writes_kernel_settings() {
    if !is_root() {
        eprintln!("skipped: only a root harness gives Case uid 0 to remove");
        return;
    }
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    let attack = "echo case-evil > /proc/sys/kernel/hostname && echo wrote > hostname.txt";
    let flags = without(&["unprivileged_user", "proc_sys_read_only", "landlock"]);
    let (sandbox, _provider, output) = run_against_provider(case_that(attack), &flags).await;
    assert_eq!(output.status.code(), Some(0), "{}", stdout_of(&output));
    assert!(
        output_file(&sandbox, "hostname.txt").exists(),
        "the control's attack should work"
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname"),
        host_name
    );
    assert!(!layers(&sandbox).iter().any(|name| name == "proc_sys_read_only"));
}

/// Attack 2: the admission record outside the run folder was writable; a Case marked itself
/// `admitted`. The host is read-only to Case, and the run records the digest it was judged by.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_cannot_rewrite_its_admission_record() {
    let sandbox = Sandbox::in_dir(outside_tmp());
    let admission = sandbox.path("admission.json");
    let before = std::fs::read(&admission).expect("admission");
    let provider = provider().await;
    let output = run(
        harness(&sandbox, Some(&base_url(&provider))),
        &sandbox,
        case_that(&self_admission(&admission)),
        &[],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stdout_of(&output));
    assert_eq!(
        std::fs::read(&admission).expect("admission"),
        before,
        "Case rewrote its admission"
    );
    let recorded = sandbox.report()["inputs"]["admission"]["sha256"].clone();
    assert_eq!(recorded, serde_json::json!(hex_sha256(&before)));
}

/// The control: without the read-only host and Landlock (both stop it; and, as root, the
/// unprivileged user), the same Case rewrites the record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_without_the_read_only_host_a_case_admits_itself() {
    let sandbox = Sandbox::in_dir(outside_tmp());
    let admission = sandbox.path("admission.json");
    let provider = provider().await;
    let flags = without(&["read_only_host", "landlock", "unprivileged_user"]);
    let output = run(
        harness(&sandbox, Some(&base_url(&provider))),
        &sandbox,
        case_that(&self_admission(&admission)),
        &flags,
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stdout_of(&output));
    let text = std::fs::read_to_string(&admission).expect("admission");
    assert!(
        text.contains("\"admitted\""),
        "the control's attack should work: {text}"
    );
}

fn self_admission(admission: &Path) -> String {
    format!(
        "sed 's/\"candidate\"/\"admitted\"/' {0} > {0}.new && mv {0}.new {0}",
        admission.display()
    )
}

/// Attack 3: a Case renamed a file over the harness binary in its (writable) folder. Here a
/// stand-in binary in a folder of its own, outside the run folder, as the harness's is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_cannot_replace_a_binary_outside_its_run_folder() {
    let (bin, attack) = binary_replacement();
    let (sandbox, _provider, output) = run_against_provider(case_that(&attack), &[]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stdout_of(&output));
    assert_eq!(
        std::fs::read(bin.path().join("case-harness")).expect("binary"),
        b"genuine"
    );
    drop(sandbox);
}

/// The control: without the read-only host and Landlock (and the unprivileged user), the
/// rename works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_without_the_read_only_host_a_case_replaces_the_binary() {
    let (bin, attack) = binary_replacement();
    let flags = without(&["read_only_host", "landlock", "unprivileged_user"]);
    let (_sandbox, _provider, output) = run_against_provider(case_that(&attack), &flags).await;
    assert_eq!(output.status.code(), Some(0), "{}", stdout_of(&output));
    assert_eq!(
        std::fs::read(bin.path().join("case-harness")).expect("binary"),
        b"forged"
    );
}

fn binary_replacement() -> (tempfile::TempDir, String) {
    let bin = outside_tmp();
    std::fs::write(bin.path().join("case-harness"), b"genuine").expect("binary");
    let dir = bin.path().display().to_string();
    (
        bin,
        format!("printf forged > {dir}/.new && mv {dir}/.new {dir}/case-harness"),
    )
}

/// Attack 4: in an unsigned run, a Case reached the key (to link or copy it for a later run).
/// The default key folder is hidden in every run, signed or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_cannot_read_the_key_in_an_unsigned_run() {
    let (config, attack) = key_theft();
    let sandbox = Sandbox::new();
    let provider = provider().await;
    let mut command = harness(&sandbox, Some(&base_url(&provider)));
    command.env("XDG_CONFIG_HOME", config.path());
    let output = run(command, &sandbox, case_that(&attack), &[]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stdout_of(&output));
    let stolen = std::fs::read_to_string(output_file(&sandbox, "stolen")).unwrap_or_default();
    assert!(!stolen.contains("PRIVATE KEY"), "Case read the key: {stolen}");
    let hidden = sandbox.report()["isolation"]["hidden"].to_string();
    assert!(hidden.contains("case-harness/keys"), "{hidden}");
}

/// The control: without the hidden paths, the same Case copies the key out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_without_hidden_paths_a_case_copies_the_key() {
    let (config, attack) = key_theft();
    let sandbox = Sandbox::new();
    let provider = provider().await;
    let mut command = harness(&sandbox, Some(&base_url(&provider)));
    command.env("XDG_CONFIG_HOME", config.path());
    let output = run(command, &sandbox, case_that(&attack), &without(&["hidden_paths"])).await;
    assert_eq!(output.status.code(), Some(0), "{}", stdout_of(&output));
    let stolen = std::fs::read_to_string(output_file(&sandbox, "stolen")).unwrap_or_default();
    assert!(stolen.contains("PRIVATE KEY"), "the control's attack should work");
}

/// A fresh config folder with a key made by `keygen` without a path (the default folder),
/// and an attack that links and copies it into `case-output/`.
fn key_theft() -> (tempfile::TempDir, String) {
    let config = outside_tmp();
    let made = std::process::Command::new(env!("CARGO_BIN_EXE_case-harness"))
        .arg("keygen")
        .env("XDG_CONFIG_HOME", config.path())
        .output()
        .expect("keygen");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let key = config.path().join("case-harness/keys/signing.key");
    assert!(key.exists());
    let attack = format!("ln {0} linked; cat {0} > stolen", key.display());
    (config, attack)
}

/// The bounds: a Case that starts more processes than `--max-processes` is ended and the run
/// fails naming the bound; without the bounds layer it runs them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_bomb_ends_the_run_naming_the_process_bound() {
    let attack = "i=0; while [ $i -lt 200 ]; do sleep 30 & i=$((i+1)); done; sleep 2";
    let flags = ["--max-processes", "64"];
    let (sandbox, _provider, output) = run_against_provider(case_that(attack), &flags).await;
    assert_eq!(output.status.code(), Some(1), "{}", stdout_of(&output));
    let reasons = sandbox.report()["reasons"].to_string();
    assert!(reasons.contains("process bound (64 processes"), "{reasons}");
    assert_eq!(
        verify(&sandbox.out().join("report.json")).status.code(),
        Some(0),
        "the evidence stays intact"
    );
}

/// The control: without the bounds layer, the 200 processes all start and the run passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_without_bounds_the_processes_all_start() {
    let attack = "i=0; while [ $i -lt 200 ]; do sleep 30 & i=$((i+1)); done; \
                  ls /proc | grep -c '^[0-9]' > count.txt";
    let mut flags = vec!["--max-processes", "64"];
    flags.extend(without(&["bounds"]));
    let (sandbox, _provider, output) = run_against_provider(case_that(attack), &flags).await;
    assert_eq!(output.status.code(), Some(0), "{}", stdout_of(&output));
    let count: u32 = std::fs::read_to_string(output_file(&sandbox, "count.txt"))
        .expect("count")
        .trim()
        .parse()
        .expect("number");
    assert!(count > 200, "{count} processes");
}

/// A Case that fills the disk is stopped at `--max-written-mib` and the run fails naming the
/// bound; without the bounds layer it writes the whole file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filling_the_disk_ends_the_run_naming_the_written_bound() {
    let attack = "head -c 20000000 /dev/zero > big";
    let flags = ["--max-written-mib", "8"];
    let (sandbox, _provider, output) = run_against_provider(case_that(attack), &flags).await;
    assert_eq!(output.status.code(), Some(1), "{}", stdout_of(&output));
    let reasons = sandbox.report()["reasons"].to_string();
    assert!(reasons.contains("bound on bytes written (8 MiB"), "{reasons}");
    let written = std::fs::metadata(output_file(&sandbox, "big")).map_or(0, |metadata| metadata.len());
    assert!(written <= 8 << 20, "{written} bytes");
}

/// The control: without the bounds layer, all 20 MB land on disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_without_bounds_the_disk_fills() {
    let attack = "head -c 20000000 /dev/zero > big";
    let mut flags = vec!["--max-written-mib", "8"];
    flags.extend(without(&["bounds"]));
    let (sandbox, _provider, output) = run_against_provider(case_that(attack), &flags).await;
    assert_eq!(output.status.code(), Some(0), "{}", stdout_of(&output));
    let written = std::fs::metadata(output_file(&sandbox, "big")).expect("big").len();
    assert_eq!(written, 20_000_000);
}

/// A temporary folder on the host's own file system: Case's private `/tmp` would hide one
/// under `/tmp` whatever the layer under test.
fn outside_tmp() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir")
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// `--writable`: an agent that edits a checkout can, but the checkout's `.git` stays
/// read-only (its hooks would run later as the user), and the report lists the folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writable_folder_is_writable_but_its_git_is_not() {
    let checkout = outside_tmp();
    std::fs::create_dir_all(checkout.path().join(".git/hooks")).expect("git");
    if is_root() {
        // Case runs as nobody: the checkout must be its to write, as `--help` says.
        for path in [checkout.path().to_owned(), checkout.path().join(".git/hooks")] {
            std::os::unix::fs::chown(&path, Some(65_534), Some(65_534)).expect("chown");
        }
    }
    let dir = checkout.path().display().to_string();
    let attack = format!("echo edited > {dir}/file.txt; echo 'curl evil' > {dir}/.git/hooks/pre-commit");
    let flags = ["--writable", dir.as_str()];
    let (sandbox, _provider, output) = run_against_provider(case_that(&attack), &flags).await;
    assert_eq!(output.status.code(), Some(0), "{}", stdout_of(&output));
    let edited = std::fs::read_to_string(checkout.path().join("file.txt")).expect("Case edited the checkout");
    assert_eq!(edited.trim(), "edited");
    assert!(
        !checkout.path().join(".git/hooks/pre-commit").exists(),
        "Case wrote a git hook"
    );
    let writable = sandbox.report()["isolation"]["writable"].to_string();
    assert!(writable.contains(&dir), "{writable}");
}

/// A `--writable` folder that holds a record's folder is refused before anything runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writable_folder_holding_the_records_is_refused() {
    let sandbox = Sandbox::new();
    let provider = provider().await;
    let records = sandbox.dir.path().display().to_string();
    let output = run(
        harness(&sandbox, Some(&base_url(&provider))),
        &sandbox,
        Vec::new(),
        &["--writable", &records],
    )
    .await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("overlaps"), "{stderr}");
    assert!(!sandbox.out().exists(), "nothing written");
}

/// Case runs as `nobody` when the harness is root, yet a harness (and run folder) inside a
/// 0700 folder — `/root`, `mktemp -d`, most CI containers — still runs its Case: Case keeps
/// read-and-search over root's files in its own user namespace. Without that, the reference
/// Case (this binary, under the 0700 folder) could not even be started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_harness_inside_a_private_folder_still_runs_its_case() {
    use std::os::unix::fs::PermissionsExt;
    // Outside /tmp: Case's private /tmp would carry a folder under /tmp into a fresh one.
    let private = outside_tmp();
    std::fs::set_permissions(private.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let binary = private.path().join("case-harness");
    std::fs::copy(env!("CARGO_BIN_EXE_case-harness"), &binary).expect("copy");
    let sandbox = Sandbox::in_dir(tempfile::tempdir_in(private.path()).expect("records"));
    let provider = provider().await;
    let mut command = simulated_run(&sandbox, &base_url(&provider), Some(&binary), false);
    let output = tokio::task::spawn_blocking(move || command.output().expect("runs"))
        .await
        .expect("join");
    assert_eq!(output.status.code(), Some(0), "{}", stdout_of(&output));
    if is_root() {
        assert_eq!(sandbox.report()["isolation"]["uid"], 65_534);
    }
}

/// The harness as a normal user (`nobody`, through `setpriv`, when the tests run as root):
/// Case is then that same user and owns the records and the binary it attacks, so only the
/// read-only host (and Landlock) stands between it and them. With them, both attacks fail;
/// without them (the control), both work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_a_normal_user_self_admission_and_binary_replacement_fail() {
    let Some((sandbox, bin, output)) = attack_as_nobody(&[]).await else {
        return;
    };
    assert_eq!(output.status.code(), Some(0), "{}", stdout_of(&output));
    assert_eq!(sandbox.report()["isolation"]["uid"], 65_534);
    let admission = std::fs::read_to_string(sandbox.path("admission.json")).expect("admission");
    assert!(admission.contains("\"candidate\""), "Case admitted itself: {admission}");
    assert_eq!(
        std::fs::read(bin.path().join("case-harness")).expect("binary"),
        b"genuine"
    );
}

/// The control of the test above.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_as_a_normal_user_without_the_read_only_host_both_attacks_work() {
    let Some((sandbox, bin, output)) = attack_as_nobody(&without(&["read_only_host", "landlock"])).await else {
        return;
    };
    assert_eq!(output.status.code(), Some(0), "{}", stdout_of(&output));
    let admission = std::fs::read_to_string(sandbox.path("admission.json")).expect("admission");
    assert!(admission.contains("\"admitted\""), "{admission}");
    assert_eq!(
        std::fs::read(bin.path().join("case-harness")).expect("binary"),
        b"forged"
    );
}

/// Runs the self-admission and binary-replacement attacks with the harness as `nobody`, all
/// files `nobody`'s own; `None` (skipped, said on stderr) unless the tests run as root.
async fn attack_as_nobody(flags: &[&str]) -> Option<(Sandbox, tempfile::TempDir, std::process::Output)> {
    if !is_root() {
        eprintln!("skipped: needs root to become nobody (the other tests here already run as a normal user)");
        return None;
    }
    if let Some(reason) = unrunnable_by_nobody(Path::new(env!("CARGO_BIN_EXE_case-harness"))) {
        eprintln!("skipped: {reason}");
        return None;
    }
    let sandbox = Sandbox::in_dir(outside_tmp());
    let (bin, replace) = binary_replacement();
    for dir in [sandbox.dir.path(), bin.path()] {
        for entry in walk(dir) {
            std::os::unix::fs::chown(&entry, Some(65_534), Some(65_534)).expect("chown");
        }
    }
    let attack = format!("{}; {replace}", self_admission(&sandbox.path("admission.json")));
    let provider = provider().await;
    let mut command = simulated_run(&sandbox, &base_url(&provider), None, true);
    command.args(flags).arg("--").args(case_that(&attack));
    let output = tokio::task::spawn_blocking(move || command.output().expect("runs"))
        .await
        .expect("join");
    Some((sandbox, bin, output))
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut paths = vec![dir.to_owned()];
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        paths.push(entry.path());
    }
    paths
}
