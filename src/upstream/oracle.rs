//! An independent reading of "this URL names loopback" (the standard library's address
//! parser, not the gate's code): the oracle the `base_url` fuzz target and `upstream`'s
//! property tests both hold `LocalBaseUrl` to. It lives beside what it judges so that the
//! property tests need not import the fuzz targets above them.

/// True when an absolute URL's host is 127.0.0.0/8, ::1 or exactly `localhost`, judged by
/// an independent reading (the standard library's address parser, not the gate's code).
pub fn names_loopback(url: &str) -> bool {
    let Ok(url) = url::Url::parse(url) else {
        return false;
    };
    let Some(host) = url.host_str() else {
        return false;
    };
    if host == "localhost" {
        return true;
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}
