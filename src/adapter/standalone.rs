//! `case-harness adapter`: the adapter on its own, with a fresh per-run token kept in a
//! private file (the token is never shown, only the file's path). The command's printing
//! and its wait for Ctrl-C live in `cli`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::ledger::LEDGER_FILE_NAME;
use super::ledger::LedgerTotals;
use super::server::{AdapterConfig, AdapterError, AdapterHandle, DEFAULT_UPSTREAM_TIMEOUT, start};
use super::upstream_api::{AdapterMode, UpstreamApi};
use crate::output::SamplingPin;
use crate::secrets::SecretValue;
use crate::trace::Trace;
use crate::upstream::LocalBaseUrl;

/// A standalone adapter: serving with a fresh per-run token until [`Standalone::stop`].
///
/// The token is written to a file readable only by the current user, in a new private
/// folder under the system temp dir; only that file's path is ever shown, never the token.
/// The ledger goes to the same folder. The token file is removed on stop. What to print is
/// the command's business (`cli`); this type only serves and says where things are.
#[derive(Debug)]
pub(crate) struct Standalone {
    handle: AdapterHandle,
    token_path: PathBuf,
    ledger_path: PathBuf,
}

impl Standalone {
    /// Writes the token file and starts the adapter on `listen` (loopback only, refused
    /// before any file is written).
    pub(crate) async fn start(
        upstream: LocalBaseUrl,
        model: String,
        listen: SocketAddr,
        upstream_key: Option<SecretValue>,
        upstream_api: UpstreamApi,
        sampling: SamplingPin,
    ) -> Result<Standalone, AdapterError> {
        if !listen.ip().is_loopback() {
            return Err(AdapterError::ListenNotLoopback { addr: listen });
        }
        let folder = private_folder()?;
        let token = SecretValue::random("chx-");
        let token_path = folder.join("case-token");
        if let Err(err) = write_private_file(&token_path, token.expose()) {
            let _ = std::fs::remove_dir_all(&folder);
            return Err(err);
        }
        let ledger_path = folder.join(LEDGER_FILE_NAME);
        let config = AdapterConfig {
            upstream,
            model,
            upstream_key,
            case_token: token,
            ledger_path: Some(ledger_path.clone()),
            trace: Trace::disabled(),
            upstream_timeout: DEFAULT_UPSTREAM_TIMEOUT,
            upstream_api,
            sampling,
        };
        match start(config, listen).await {
            Ok(handle) => Ok(Standalone {
                handle,
                token_path,
                ledger_path,
            }),
            Err(err) => {
                let _ = std::fs::remove_dir_all(&folder);
                Err(err)
            }
        }
    }

    /// The address it listens on.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }

    /// How the Anthropic routes are served.
    pub(crate) fn mode(&self) -> AdapterMode {
        self.handle.mode()
    }

    /// The file holding the per-run token (mode 0600).
    pub(crate) fn token_path(&self) -> &Path {
        &self.token_path
    }

    /// The ledger file.
    pub(crate) fn ledger_path(&self) -> &Path {
        &self.ledger_path
    }

    /// Stops serving (see [`AdapterHandle::shutdown`]), removes the token file and returns
    /// the totals.
    pub(crate) async fn stop(self) -> LedgerTotals {
        let totals = self.handle.shutdown().await;
        let _ = std::fs::remove_file(&self.token_path);
        totals
    }
}

fn private_folder() -> Result<PathBuf, AdapterError> {
    let suffix: [u8; 8] = rand::random();
    let path = std::env::temp_dir().join(format!(
        "case-harness-adapter-{}-{}",
        std::process::id(),
        hex::encode(suffix)
    ));
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(&path).map_err(|source| AdapterError::TokenFile {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

fn write_private_file(path: &Path, contents: &str) -> Result<(), AdapterError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let error = |source| AdapterError::TokenFile {
        path: path.to_owned(),
        source,
    };
    let mut file = options.open(path).map_err(error)?;
    file.write_all(contents.as_bytes()).map_err(error)?;
    file.write_all(b"\n").map_err(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn the_standalone_token_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let folder = private_folder().expect("folder");
        let file = folder.join("case-token");
        write_private_file(&file, "tok").expect("write");
        let mode = |path: &Path| std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode(&folder), 0o700);
        assert_eq!(mode(&file), 0o600);
        assert_eq!(std::fs::read_to_string(&file).expect("read"), "tok\n");
        assert!(
            write_private_file(&file, "again").is_err(),
            "an existing file is never reused"
        );
        std::fs::remove_dir_all(&folder).expect("clean up");
    }

    #[tokio::test]
    async fn the_standalone_adapter_refuses_a_public_listen_address_before_writing_anything() {
        let upstream = LocalBaseUrl::parse("http://127.0.0.1:9/v1").expect("url");
        let listen: SocketAddr = "0.0.0.0:0".parse().expect("addr");
        let result = Standalone::start(
            upstream,
            "m".to_owned(),
            listen,
            None,
            UpstreamApi::OpenAi,
            SamplingPin::default(),
        )
        .await;
        assert!(
            matches!(result, Err(AdapterError::ListenNotLoopback { .. })),
            "{result:?}"
        );
    }
}
