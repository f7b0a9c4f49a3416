//! Case's view of the file system, built in the sandbox's private mount namespace before
//! Case starts: the whole host read-only, recursively (other mounts included); writable only
//! the folders the harness names (`case-output/`, `case-home/`, `--writable`), with any `.git`
//! inside them read-only (its hooks would run later as the user); a private, bounded `/tmp`
//! and `/dev/shm`; the hidden paths empty.
//!
//! The writable folders are cloned (`open_tree`) before the host is made read-only and put
//! back on top afterwards, so they keep their own writability; paths under `/tmp` that Case
//! needs (the run folder, its command's files) are cloned before the private `/tmp` covers
//! them and put back inside it. Everything uses the kernel's mount API through rustix, except
//! `mount_setattr(2)`, which rustix does not wrap yet (a raw syscall below).

use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::CWD;
use rustix::mount::{MountFlags, MountPropagationFlags, MoveMountFlags, OpenTreeFlags};

use super::control::Message;
use super::layers::Layer;

/// What the view is built from.
#[derive(Debug)]
pub(super) struct ViewSpec<'a> {
    /// The run folder.
    pub run_dir: &'a Path,
    /// Folders Case may write.
    pub writable: &'a [PathBuf],
    /// Paths Case must find empty.
    pub hidden: &'a [PathBuf],
    /// Paths under `/tmp` Case needs, carried into its private `/tmp`.
    pub kept_under_tmp: Vec<PathBuf>,
    /// Size of the private `/tmp` and `/dev/shm`.
    pub tmp_bytes: u64,
    /// Which layers to build (all but a control test's removed one).
    pub read_only_host: bool,
    /// See `read_only_host`.
    pub hide: bool,
}

/// Builds the view; returns the layers it put in place.
pub(super) fn build(spec: &ViewSpec<'_>) -> Result<Vec<Layer>, Message> {
    let mut layers = Vec::new();
    rustix::mount::mount_change("/", MountPropagationFlags::REC | MountPropagationFlags::PRIVATE)
        .map_err(failed("making / private", Path::new("/")))?;
    let writable = spec
        .writable
        .iter()
        .map(|path| Ok((path, clone_tree(path)?)))
        .collect::<Result<Vec<_>, Message>>()?;
    if spec.read_only_host {
        set_read_only(Path::new("/"))?;
        layers.push(Layer::ReadOnlyHost);
    } else {
        // The control without the layer: only the run folder is read-only, as before it.
        rustix::mount::mount_bind_recursive(spec.run_dir, spec.run_dir).map_err(failed("rbind", spec.run_dir))?;
        set_read_only(spec.run_dir)?;
    }
    for (path, tree) in &writable {
        attach(tree, path)?;
        let git = path.join(".git");
        if git.exists() {
            rustix::mount::mount_bind_recursive(&git, &git).map_err(failed("rbind", &git))?;
            set_read_only(&git)?;
        }
    }
    if spec.read_only_host {
        private_tmpfs(Path::new("/tmp"), spec.tmp_bytes, &spec.kept_under_tmp)?;
        if Path::new("/dev/shm").is_dir() {
            private_tmpfs(Path::new("/dev/shm"), spec.tmp_bytes, &[])?;
        }
    }
    if spec.hide {
        for path in spec.hidden {
            hide(path)?;
        }
        layers.push(Layer::HiddenPaths);
    }
    Ok(layers)
}

/// `/proc/sys` and `/proc/sysrq-trigger` read-only in the fresh `/proc` init mounted.
pub(super) fn proc_sys_read_only() -> Result<(), Message> {
    // `/proc/sysrq-trigger` exists only where the kernel shows it.
    for path in [Path::new("/proc/sys"), Path::new("/proc/sysrq-trigger")]
        .into_iter()
        .filter(|path| *path == Path::new("/proc/sys") || path.exists())
    {
        rustix::mount::mount_bind_recursive(path, path).map_err(failed("bind", path))?;
        set_read_only(path)?;
    }
    Ok(())
}

/// A detached copy of the mount tree at `path`, as it is now.
fn clone_tree(path: &Path) -> Result<OwnedFd, Message> {
    rustix::mount::open_tree(
        CWD,
        path,
        OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC | OpenTreeFlags::AT_RECURSIVE,
    )
    .map_err(failed("open_tree", path))
}

/// Puts a tree from [`clone_tree`] at `path`.
fn attach(tree: &OwnedFd, path: &Path) -> Result<(), Message> {
    rustix::mount::move_mount(tree, "", CWD, path, MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH)
        .map_err(failed("move_mount", path))
}

/// A fresh tmpfs at `at` (mode 1777, bounded), with the `kept` paths under it carried over
/// from the host's view (each read-only unless it is, or holds, a writable folder).
fn private_tmpfs(at: &Path, bytes: u64, kept: &[PathBuf]) -> Result<(), Message> {
    let trees = outermost(kept)
        .into_iter()
        .filter(|path| path.starts_with(at) && path != at)
        .map(|path| {
            let is_dir = std::fs::metadata(&path).is_ok_and(|metadata| metadata.is_dir());
            Ok((path.clone(), is_dir, clone_tree(&path)?))
        })
        .collect::<Result<Vec<_>, Message>>()?;
    let options =
        CString::new(format!("size={bytes},mode=1777")).map_err(|_| Message::Failed("tmpfs options".to_owned()))?;
    rustix::mount::mount(
        "tmpfs",
        at,
        "tmpfs",
        MountFlags::NOSUID | MountFlags::NODEV,
        Some(options.as_c_str()),
    )
    .map_err(failed("mounting a private tmpfs on", at))?;
    for (path, is_dir, tree) in &trees {
        mount_point(path, *is_dir)?;
        attach(tree, path)?;
    }
    Ok(())
}

/// The paths of `paths` that no other of them contains.
fn outermost(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut sorted: Vec<PathBuf> = paths.to_vec();
    sorted.sort();
    sorted.dedup();
    let mut kept: Vec<PathBuf> = Vec::new();
    for path in sorted {
        if !kept.iter().any(|outer| path.starts_with(outer)) {
            kept.push(path);
        }
    }
    kept
}

/// Creates an empty folder or file at `path` (and its parents, mode 0755) to mount on,
/// matching what the host has there.
fn mount_point(path: &Path, is_dir: bool) -> Result<(), Message> {
    let io = |error: std::io::Error| Message::Failed(format!("mount point {}: {error}", path.display()));
    if is_dir {
        std::fs::create_dir_all(path).map_err(io)
    } else {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::File::create(path).map(drop).map_err(io)
    }
}

/// An empty read-only tmpfs over a folder; `/dev/null` over a file; nothing for a missing path.
fn hide(path: &Path) -> Result<(), Message> {
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.is_dir() => rustix::mount::mount(
            "tmpfs",
            path,
            "tmpfs",
            MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
            None,
        )
        .map_err(failed("hiding", path)),
        Ok(_) => rustix::mount::mount_bind("/dev/null", path).map_err(failed("hiding", path)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(Message::Failed(format!("hiding {}: {error}", path.display()))),
    }
}

/// The mount at `path` and every mount below it read-only and `nosuid`, in one
/// `mount_setattr(2)` (Linux 5.12; rustix has no wrapper for it yet).
fn set_read_only(path: &Path) -> Result<(), Message> {
    /// `struct mount_attr` of <linux/mount.h>.
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    const MOUNT_ATTR_RDONLY: u64 = 0x1;
    const MOUNT_ATTR_NOSUID: u64 = 0x2;
    const AT_RECURSIVE: libc::c_int = 0x8000;
    let name = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Message::Failed(format!("{}: a path with a NUL byte", path.display())))?;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: a valid C string and a `mount_attr` of the size passed, both outliving the call.
    let result = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            name.as_ptr(),
            AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(Message::Failed(format!(
            "making {} read-only (mount_setattr): {}",
            path.display(),
            std::io::Error::last_os_error()
        )))
    }
}

fn failed<'a>(what: &'a str, path: &'a Path) -> impl Fn(rustix::io::Errno) -> Message + 'a {
    move |error| Message::Failed(format!("{what} {}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_outermost_kept_paths_are_carried() {
        let paths = [
            PathBuf::from("/tmp/run"),
            PathBuf::from("/tmp/run/case-output"),
            PathBuf::from("/tmp/other"),
            PathBuf::from("/tmp/run"),
        ];
        assert_eq!(
            outermost(&paths),
            vec![PathBuf::from("/tmp/other"), PathBuf::from("/tmp/run")]
        );
    }
}
