//! The fake local model server both benchmarks measure against: an axum app on 127.0.0.1,
//! on its own thread and single-thread runtime (like a separate server process), with
//! `TCP_NODELAY` on every connection — without it a response written in two pieces can wait
//! ~40 ms for a delayed ACK and swamp the measurement. Included by `#[path]`.

use std::future::IntoFuture;
use std::net::SocketAddr;

use axum::body::Body;
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::Response;
use axum::serve::ListenerExt;
use tokio::sync::oneshot;

/// A server started by [`LoopbackServer::start`]; it serves until [`LoopbackServer::stop`].
pub struct LoopbackServer {
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl LoopbackServer {
    /// Serves `app` on a kernel-chosen port of 127.0.0.1.
    pub fn start(app: axum::Router) -> LoopbackServer {
        let listener = std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).expect("upstream binds");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let addr = listener.local_addr().expect("upstream address");
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("bench-upstream".to_owned())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("upstream runtime");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .expect("tokio listener")
                        .tap_io(|tcp| {
                            let _ = tcp.set_nodelay(true);
                        });
                    tokio::select! {
                        served = axum::serve(listener, app).into_future() => served.expect("upstream serves"),
                        _ = stopped => {}
                    }
                });
            })
            .expect("upstream thread");
        LoopbackServer { addr, stop, thread }
    }

    /// Stops serving and waits for the server's thread.
    pub fn stop(self) {
        let _ = self.stop.send(());
        self.thread.join().expect("upstream thread ends");
    }
}

/// A 200 with a fixed JSON body.
pub fn json_answer(body: &'static str) -> Response {
    let mut response = Response::new(Body::from(body));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
