//! Property tests of the base-URL gate: nothing that names a non-loopback host is ever
//! accepted as local, whichever of the URL standard's spellings hides it (decimal, octal or
//! hex IPv4, IPv4-mapped IPv6, user-info, trailing dots, IDN, percent-encoding).

use proptest::prelude::*;

use super::LocalBaseUrl;
use super::oracle::names_loopback;

/// Any IPv4 address outside 127.0.0.0/8.
fn remote_ipv4() -> impl Strategy<Value = [u8; 4]> {
    any::<[u8; 4]>().prop_filter("not 127/8", |octets| octets[0] != 127)
}

/// The spellings of one IPv4 address that WHATWG URL parsers accept as that address.
fn ipv4_spellings(o: [u8; 4]) -> Vec<String> {
    let n = u32::from_be_bytes(o);
    vec![
        format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3]),
        format!("{n}"),
        format!("0x{n:x}"),
        format!("0X{n:X}"),
        format!("0{n:o}"),
        format!("0{:o}.0{:o}.0{:o}.0{:o}", o[0], o[1], o[2], o[3]),
        format!("0x{:x}.0x{:x}.0x{:x}.0x{:x}", o[0], o[1], o[2], o[3]),
        format!("{}.{}.{}", o[0], o[1], u16::from_be_bytes([o[2], o[3]])),
        format!("{}.{}", o[0], n & 0x00ff_ffff),
        format!("{}.{}.{}.{}.", o[0], o[1], o[2], o[3]),
        format!("[::ffff:{}.{}.{}.{}]", o[0], o[1], o[2], o[3]),
        format!("[::ffff:{:x}:{:x}]", n >> 16, n & 0xffff),
        format!("[::{}.{}.{}.{}]", o[0], o[1], o[2], o[3]),
        format!("[64:ff9b::{}.{}.{}.{}]", o[0], o[1], o[2], o[3]),
        // Full-width digits and dots: IDNA maps them to ASCII before the IPv4 parser runs.
        format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3])
            .chars()
            .map(|c| match c {
                '0'..='9' => char::from_u32(c as u32 - '0' as u32 + 0xFF10).unwrap_or(c),
                '.' => '\u{FF0E}',
                other => other,
            })
            .collect(),
        // Percent-encoded host bytes: decoded before the host is parsed.
        format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3])
            .bytes()
            .map(|b| format!("%{b:02X}"))
            .collect(),
    ]
}

/// Host names that are not exactly `localhost`, however close.
fn near_localhost() -> impl Strategy<Value = String> {
    let label = "[a-z0-9-]{1,12}";
    prop_oneof![
        label.prop_map(|l| format!("localhost.{l}")),
        label.prop_map(|l| format!("{l}.localhost")),
        Just("localhost.".to_owned()),
        Just("localhost..".to_owned()),
        Just("l\u{043E}calhost".to_owned()), // Cyrillic о
        Just("xn--lcalhost-5za".to_owned()),
        Just("localhost\u{3002}".to_owned()), // ideographic full stop
        Just("%6c%6f%63%61%6c%68%6f%73%74%2e%65%76%69%6c".to_owned()), // localhost.evil
        label.prop_map(|l| format!("{l}.127.0.0.1.nip.io")),
        label.prop_map(|l| format!("127.0.0.1.{l}")),
    ]
}

fn scheme() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("http"), Just("https"), Just("HTTP"), Just("hTtPs")]
}

fn refused(url: &str) -> Result<(), TestCaseError> {
    match LocalBaseUrl::parse(url) {
        Err(_) => Ok(()),
        Ok(parsed) => Err(TestCaseError::fail(format!(
            "{url:?} accepted as local (as {})",
            parsed.as_str()
        ))),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn no_spelling_of_a_remote_ipv4_address_is_local(ip in remote_ipv4(), scheme in scheme(), port in 1u16..) {
        for host in ipv4_spellings(ip) {
            refused(&format!("{scheme}://{host}:{port}/v1"))?;
            refused(&format!("{scheme}://{host}/v1"))?;
            // Loopback in the user-info part, the remote host after `@`.
            refused(&format!("{scheme}://127.0.0.1:{port}@{host}/v1"))?;
            refused(&format!("{scheme}://localhost@{host}/v1"))?;
        }
    }

    #[test]
    fn any_remote_ipv6_address_is_not_local(segments in any::<[u16; 8]>(), scheme in scheme()) {
        let ip = std::net::Ipv6Addr::from(segments);
        prop_assume!(!ip.is_loopback());
        refused(&format!("{scheme}://[{ip}]:8080/v1"))?;
    }

    #[test]
    fn names_that_merely_resemble_localhost_are_not_local(host in near_localhost(), scheme in scheme()) {
        refused(&format!("{scheme}://{host}:8080/v1"))?;
    }

    #[test]
    fn user_info_is_refused_even_in_front_of_loopback(
        user in "[a-zA-Z0-9%._~-]{1,12}", password in proptest::option::of("[a-zA-Z0-9%._~-]{0,12}"),
    ) {
        let info = match password { Some(p) => format!("{user}:{p}"), None => user };
        refused(&format!("http://{info}@127.0.0.1:8080/v1"))?;
    }

    /// Whatever the gate accepts, an independent reading of what it will connect to (the
    /// standard library's address parser on the serialised URL) finds loopback.
    #[test]
    fn whatever_is_accepted_names_loopback(text in "(https?|HTTP)://[0-9a-fx.:%\\[\\]@A-Za-z\u{FF10}-\u{FF19}\u{FF0E}-]{1,40}(/[a-z0-9%]{0,10})?") {
        if let Ok(parsed) = LocalBaseUrl::parse(&text) {
            prop_assert!(names_loopback(parsed.as_str()), "{text:?} accepted as {}", parsed.as_str());
        }
    }
}

#[test]
fn loopback_spellings_are_still_accepted() {
    // The properties above must not pass by refusing everything.
    for url in [
        "http://127.0.0.1:8080/v1",
        "http://2130706433:8080/v1",
        "http://0x7f.1:8080/v1",
        "http://[::1]:8080/v1",
        "http://localhost:8080/v1",
        "http://127.9.9.9/v1",
    ] {
        assert!(LocalBaseUrl::parse(url).is_ok(), "{url}");
    }
}
