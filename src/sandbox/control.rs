//! The control channel between the harness and its sandbox: a `SOCK_SEQPACKET` socket pair,
//! so every message arrives whole, and file descriptors (the in-namespace listener, a pidfd
//! of the namespace's init) travel with `SCM_RIGHTS`.
//!
//! Messages are one tag byte plus optional UTF-8 text; see [`Message`].

use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer, SendAncillaryMessage,
    SendFlags, SocketFlags, SocketType,
};

/// Longest message text; longer texts are cut.
const MAX_MESSAGE: usize = 4096;

/// One message on the control channel.
#[derive(Debug)]
pub(crate) enum Message {
    /// Sandbox → harness: the namespaces and mounts are in place; carries the listening
    /// socket bound inside the network namespace.
    Listener(OwnedFd),
    /// Harness → sandbox: start Case.
    Go,
    /// Sandbox → harness: the namespace's init is running; carries its pidfd.
    Init(OwnedFd),
    /// Init → harness: Case exited with this code.
    Exited(i32),
    /// Init → harness: Case was killed by this signal.
    Signaled(i32),
    /// The kernel refused to create the namespaces (the text says why).
    Unavailable(String),
    /// Anything else that went wrong (the text says what).
    Failed(String),
    /// The confinement's layers in force, comma-separated (sandbox → harness, before `Listener`).
    Layers(String),
    /// Case passed a bound and the namespace was ended (`BoundHit::encode`'s text).
    BoundHit(String),
}

impl Message {
    fn tag(&self) -> u8 {
        match self {
            Message::Listener(_) => b'L',
            Message::Go => b'G',
            Message::Init(_) => b'P',
            Message::Exited(_) => b'X',
            Message::Signaled(_) => b'S',
            Message::Unavailable(_) => b'U',
            Message::Failed(_) => b'E',
            Message::Layers(_) => b'Y',
            Message::BoundHit(_) => b'B',
        }
    }
}

/// A connected pair: `(harness end, sandbox end)`, both close-on-exec.
pub(crate) fn pair() -> std::io::Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?)
}

/// Sends one message (blocking).
pub(crate) fn send(socket: BorrowedFd<'_>, message: &Message) -> std::io::Result<()> {
    let text = match message {
        Message::Exited(code) | Message::Signaled(code) => code.to_string(),
        Message::Unavailable(text) | Message::Failed(text) | Message::Layers(text) | Message::BoundHit(text) => {
            text.chars().take(MAX_MESSAGE - 8).collect()
        }
        Message::Listener(_) | Message::Go | Message::Init(_) => String::new(),
    };
    let mut bytes = Vec::with_capacity(1 + text.len());
    bytes.push(message.tag());
    bytes.extend_from_slice(text.as_bytes());
    let fd = match message {
        Message::Listener(fd) | Message::Init(fd) => Some(fd.as_fd()),
        _ => None,
    };
    let fds: Vec<BorrowedFd<'_>> = fd.into_iter().collect();
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(std::io::Error::other("control message too large"));
    }
    rustix::net::sendmsg(socket, &[IoSlice::new(&bytes)], &mut control, SendFlags::NOSIGNAL)?;
    Ok(())
}

/// Receives one message (blocking); `None` when every other end is closed.
pub(crate) fn receive(socket: BorrowedFd<'_>) -> std::io::Result<Option<Message>> {
    let mut bytes = vec![0u8; MAX_MESSAGE];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let received = rustix::net::recvmsg(
        socket,
        &mut [IoSliceMut::new(&mut bytes)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    let mut fd = None;
    for ancillary in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = ancillary {
            for received_fd in fds {
                fd.get_or_insert(received_fd);
            }
        }
    }
    if received.bytes == 0 {
        return Ok(None);
    }
    let text = String::from_utf8_lossy(&bytes[1..received.bytes]).into_owned();
    let number = || {
        text.parse::<i32>()
            .map_err(|_| std::io::Error::other(format!("malformed control message {text:?}")))
    };
    let missing_fd = || std::io::Error::other("control message without its file descriptor");
    Ok(Some(match bytes[0] {
        b'L' => Message::Listener(fd.ok_or_else(missing_fd)?),
        b'G' => Message::Go,
        b'P' => Message::Init(fd.ok_or_else(missing_fd)?),
        b'X' => Message::Exited(number()?),
        b'S' => Message::Signaled(number()?),
        b'U' => Message::Unavailable(text),
        b'E' => Message::Failed(text),
        b'Y' => Message::Layers(text),
        b'B' => Message::BoundHit(text),
        other => {
            return Err(std::io::Error::other(format!(
                "unknown control message tag {other:#04x}"
            )));
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_descriptors_cross_the_pair() {
        let (harness, sandbox) = pair().expect("socketpair");
        let (file, _) = pair().expect("a descriptor to pass");
        send(sandbox.as_fd(), &Message::Listener(file)).expect("send listener");
        send(sandbox.as_fd(), &Message::Exited(3)).expect("send exit");
        send(sandbox.as_fd(), &Message::Failed("no such file".to_owned())).expect("send failure");
        assert!(matches!(receive(harness.as_fd()), Ok(Some(Message::Listener(_)))));
        assert!(matches!(receive(harness.as_fd()), Ok(Some(Message::Exited(3)))));
        assert!(matches!(receive(harness.as_fd()), Ok(Some(Message::Failed(text))) if text == "no such file"));
        drop(sandbox);
        assert!(matches!(receive(harness.as_fd()), Ok(None)));
    }
}
