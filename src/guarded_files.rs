//! Reading files from a run folder that the agent under test could have written.
//!
//! Case runs as the same user as the harness, so any path inside a run folder may be a FIFO
//! (a read that never ends), a device (`/dev/zero`: a read that never stops growing), a
//! symlink (bytes from outside the folder), or a file of any size. Everything the harness
//! reads back from a run folder (`verify`, `status`, `run`'s reading of Case's result) goes
//! through here: the file is opened without following a final symlink and without blocking
//! on a FIFO, its type is checked on the open descriptor (no race between check and read),
//! and the read is bounded or streamed.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Largest small run-folder file read whole (Case's result file, a record copy, the report).
pub(crate) const MAX_SMALL_FILE_BYTES: u64 = 1024 * 1024;
/// Largest line log read whole (the trace, the adapter ledger).
pub(crate) const MAX_LOG_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Why a run-folder file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RunFileError {
    /// Nothing at the path.
    #[error("{path}: does not exist")]
    Missing {
        /// The path.
        path: PathBuf,
    },
    /// A symlink, FIFO, device, socket or folder where a regular file belongs.
    #[error("{path}: is a {kind}, not a regular file; the harness reads only regular files from a run folder")]
    NotRegular {
        /// The path.
        path: PathBuf,
        /// What it is instead.
        kind: &'static str,
    },
    /// Larger than the bound for this file.
    #[error("{path}: is larger than {limit} bytes; refusing to read it")]
    TooLarge {
        /// The path.
        path: PathBuf,
        /// The bound.
        limit: u64,
    },
    /// Open or read failed.
    #[error("{path}: cannot read")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl RunFileError {
    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RunFileError + '_ {
        move |source| RunFileError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

impl From<RunFileError> for std::io::Error {
    /// For callers whose errors are `io::Error`s: a missing file reads as the operating
    /// system says it (`No such file or directory`), the refusals as their sentence without
    /// the path (the caller names it).
    fn from(err: RunFileError) -> Self {
        match err {
            RunFileError::Missing { .. } => std::io::Error::from_raw_os_error(libc::ENOENT),
            RunFileError::Io { source, .. } => source,
            RunFileError::NotRegular { kind, .. } => std::io::Error::other(format!("is a {kind}, not a regular file")),
            RunFileError::TooLarge { limit, .. } => std::io::Error::other(format!("is larger than {limit} bytes")),
        }
    }
}

/// What a non-regular file is, in words.
pub(crate) fn kind_of(file_type: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_symlink() {
        "symlink"
    } else if file_type.is_dir() {
        "folder"
    } else if file_type.is_fifo() {
        "FIFO"
    } else if file_type.is_char_device() || file_type.is_block_device() {
        "device"
    } else if file_type.is_socket() {
        "socket"
    } else if file_type.is_file() {
        "regular file"
    } else {
        "special file"
    }
}

/// Whether a final symlink is followed by the guarded open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FinalSymlink {
    /// Refused (`O_NOFOLLOW`): a run-folder file Case could have written.
    Refuse,
    /// Followed: an input the user names (a record, the task file, a model file), which may
    /// well be a symlink; the file it leads to is still judged on the open descriptor.
    Follow,
}

/// Opens `path` as a regular file: a final symlink is refused (`O_NOFOLLOW`), a FIFO does not
/// block the open (`O_NONBLOCK`), and the type is checked on the descriptor itself.
/// Returns the file and its length at open time.
pub(crate) fn open_regular(path: &Path) -> Result<(File, u64), RunFileError> {
    open_guarded(path, FinalSymlink::Refuse)
}

/// The one guarded open: never blocks on a FIFO, never makes a terminal the controlling one,
/// and checks the type on the descriptor (no race between check and read). `symlink` says
/// whether a final symlink is followed.
pub(crate) fn open_guarded(path: &Path, symlink: FinalSymlink) -> Result<(File, u64), RunFileError> {
    let nofollow = match symlink {
        FinalSymlink::Refuse => libc::O_NOFOLLOW,
        FinalSymlink::Follow => 0,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nofollow | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path);
    let file = match file {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(RunFileError::Missing { path: path.to_owned() });
        }
        // ELOOP: the final component is a symlink.
        Err(err) if err.raw_os_error() == Some(libc::ELOOP) => {
            return Err(RunFileError::NotRegular {
                path: path.to_owned(),
                kind: "symlink",
            });
        }
        Err(err) => return Err(RunFileError::io(path)(err)),
    };
    let metadata = file.metadata().map_err(RunFileError::io(path))?;
    if !metadata.is_file() {
        return Err(RunFileError::NotRegular {
            path: path.to_owned(),
            kind: kind_of(metadata.file_type()),
        });
    }
    Ok((file, metadata.len()))
}

/// Reads a regular file of at most `limit` bytes (bounded twice: by its size at open, and by
/// the read itself, since the file may grow while it is read).
pub(crate) fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, RunFileError> {
    read_guarded(path, limit, FinalSymlink::Refuse)
}

/// [`read_bounded`] with the choice of following a final symlink (see [`FinalSymlink`]).
pub(crate) fn read_guarded(path: &Path, limit: u64, symlink: FinalSymlink) -> Result<Vec<u8>, RunFileError> {
    let (file, len) = open_guarded(path, symlink)?;
    if len > limit {
        return Err(RunFileError::TooLarge {
            path: path.to_owned(),
            limit,
        });
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(RunFileError::io(path))?;
    if bytes.len() as u64 > limit {
        return Err(RunFileError::TooLarge {
            path: path.to_owned(),
            limit,
        });
    }
    Ok(bytes)
}

/// [`read_bounded`] as UTF-8 text.
pub(crate) fn read_text(path: &Path, limit: u64) -> Result<String, RunFileError> {
    String::from_utf8(read_bounded(path, limit)?).map_err(|err| RunFileError::Io {
        path: path.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, err.utf8_error()),
    })
}

/// The last at most `max_lines` non-blank lines of a regular file, read from at most its last
/// `max_bytes` (a partial first line is dropped), lossily decoded, control characters escaped
/// so that Case cannot drive the terminal the harness prints to. Empty when the file is
/// missing, empty or not a regular file.
pub(crate) fn tail_lines(path: &Path, max_lines: usize, max_bytes: u64) -> Vec<String> {
    use std::io::{Seek, SeekFrom};
    let Ok((mut file, len)) = open_regular(path) else {
        return Vec::new();
    };
    let start = len.saturating_sub(max_bytes);
    if file.seek(SeekFrom::Start(start)).is_err() {
        return Vec::new();
    }
    let mut bytes = Vec::new();
    if file.take(max_bytes).read_to_end(&mut bytes).is_err() {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<&str> = text.lines().collect();
    if start > 0 && !lines.is_empty() {
        lines.remove(0);
    }
    let lines: Vec<String> = lines
        .into_iter()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            line.chars()
                .map(|c| {
                    if c.is_control() && c != '\t' {
                        c.escape_default().to_string()
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        })
        .collect();
    lines[lines.len().saturating_sub(max_lines)..].to_vec()
}

/// `path` relative to `root`, `/`-separated: how reports and attestations name a file.
pub(crate) fn relative_name(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .components()
        .map(|component| component.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// sha256 of a regular file, streamed in fixed-size chunks: memory use does not follow the
/// file's size, whatever Case wrote.
pub(crate) fn sha256_streamed(path: &Path) -> Result<String, RunFileError> {
    let (file, _) = open_regular(path)?;
    sha256_reader(file).map_err(RunFileError::io(path))
}

/// sha256 of everything `reader` yields, in 64 KiB chunks.
pub(crate) fn sha256_reader(mut reader: impl Read) -> std::io::Result<String> {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0; 64 * 1024];
    loop {
        match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => hasher.update(&buffer[..read]),
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mkfifo(path: &Path) {
        let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("no NUL");
        // SAFETY: mkfifo(3) on a NUL-terminated path in a temp folder this test owns.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("result.json");
        mkfifo(&fifo);
        let err = read_bounded(&fifo, MAX_SMALL_FILE_BYTES).expect_err("a FIFO is not a file");
        assert!(err.to_string().contains("is a FIFO, not a regular file"), "{err}");
        assert!(sha256_streamed(&fifo).is_err());
    }

    #[test]
    fn a_symlink_is_refused_even_to_a_regular_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("target"), b"{}").expect("write");
        std::os::unix::fs::symlink(dir.path().join("target"), dir.path().join("link")).expect("symlink");
        let err = read_bounded(&dir.path().join("link"), 10).expect_err("symlink");
        assert!(err.to_string().contains("is a symlink"), "{err}");
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero")).expect("symlink");
        assert!(sha256_streamed(&dir.path().join("zero")).is_err());
    }

    #[test]
    fn an_input_symlink_is_followed_but_what_it_leads_to_is_still_judged() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("record.json"), b"{}").expect("write");
        std::os::unix::fs::symlink(dir.path().join("record.json"), dir.path().join("link")).expect("symlink");
        let link = dir.path().join("link");
        assert_eq!(read_guarded(&link, 10, FinalSymlink::Follow).expect("followed"), b"{}");
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero")).expect("symlink");
        let err = read_guarded(&dir.path().join("zero"), 10, FinalSymlink::Follow).expect_err("device");
        assert!(matches!(err, RunFileError::NotRegular { kind: "device", .. }), "{err}");
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        std::os::unix::fs::symlink(&fifo, dir.path().join("to-fifo")).expect("symlink");
        let err = open_guarded(&dir.path().join("to-fifo"), FinalSymlink::Follow).expect_err("FIFO");
        assert!(matches!(err, RunFileError::NotRegular { kind: "FIFO", .. }), "{err}");
        let missing =
            std::io::Error::from(open_guarded(&dir.path().join("none"), FinalSymlink::Follow).expect_err("missing"));
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn the_tail_is_bounded_in_lines_and_bytes_and_escapes_control_characters() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("case-stderr.log");
        let mut text = String::new();
        for index in 0..30 {
            text.push_str(&format!("line {index}\n"));
        }
        text.push_str("\n  \nboom: \u{1b}[31mred\n");
        std::fs::write(&log, &text).expect("write");
        let tail = tail_lines(&log, 3, 2048);
        assert_eq!(tail, ["line 28", "line 29", "boom: \\u{1b}[31mred"]);
        // From the last 20 bytes only: the partial first line is dropped.
        let tail = tail_lines(&log, 10, 20);
        assert_eq!(tail, ["boom: \\u{1b}[31mred"]);
        assert!(tail_lines(&dir.path().join("missing"), 10, 2048).is_empty());
        assert!(tail_lines(Path::new("/dev/zero"), 10, 2048).is_empty());
    }

    #[test]
    fn a_device_is_refused_and_a_large_file_is_bounded() {
        let err = read_bounded(Path::new("/dev/zero"), MAX_SMALL_FILE_BYTES).expect_err("device");
        assert!(err.to_string().contains("is a device"), "{err}");
        let dir = tempfile::tempdir().expect("tempdir");
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; 2048]).expect("write");
        assert!(matches!(read_bounded(&big, 1024), Err(RunFileError::TooLarge { .. })));
        assert_eq!(read_bounded(&big, 2048).expect("fits").len(), 2048);
        assert_eq!(sha256_streamed(&big).expect("digest"), {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(vec![b'x'; 2048]))
        });
    }
}
