//! The scanner finds every accidental encoding of a token (findings 4 and issue 22).

use super::*;
use crate::secrets::SecretValue;

pub(super) fn token_scanner() -> (SecretScanner, String) {
    let token = SecretValue::random("chc-token-");
    let raw = token.expose().to_owned();
    let scanner = SecretScanner::new(&[NamedSecret {
        name: "case_token".to_owned(),
        value: token,
    }])
    .expect("scanner");
    (scanner, raw)
}

/// Red-team finding 4: each form an accidental leak of the token takes is found.
#[test]
fn finding_4_scan_gaps_every_accidental_encoding_of_the_token_is_found() {
    use base64::Engine;
    let (scanner, token) = token_scanner();
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let url_b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let mut leaks = vec![
        ("upper case", token.to_uppercase()),
        ("hex", hex::encode(&token)),
        ("upper-case hex", hex::encode_upper(&token)),
        (
            "basic auth",
            format!("Authorization: Basic {}", b64(format!("user:{token}").as_bytes())),
        ),
        (
            "json \\u escapes",
            token.chars().map(|c| format!("\\u{:04x}", c as u32)).collect(),
        ),
        (
            "full percent-encoding",
            token.bytes().map(|b| format!("%{b:02X}")).collect(),
        ),
        ("partial percent-encoding", format!("GET /v1/%63{}", &token[1..])),
        ("split across lines", format!("{}\n{}", &token[..12], &token[12..])),
        (
            "split with CRLF and indent",
            format!("{}\r\n    {}", &token[..5], &token[5..]),
        ),
        (
            "wrapped base64",
            b64(format!("{token}{token}").as_bytes())
                .as_bytes()
                .chunks(20)
                .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
                .collect::<Vec<_>>()
                .join("\n"),
        ),
    ];
    for offset in 0..3 {
        let prefix = "x".repeat(offset + 3);
        leaks.push(("base64 at an offset", b64(format!("{prefix}{token}!").as_bytes())));
        leaks.push((
            "url-safe base64 at an offset",
            url_b64(format!("{prefix}{token}").as_bytes()),
        ));
    }
    for (form, text) in leaks {
        assert_eq!(scanner.find(text.as_bytes()), vec!["case_token"], "{form}: not found");
        let mut hits = Vec::new();
        scanner.scan_reader("c", "f", text.as_bytes(), &mut hits).expect("read");
        assert_eq!(hits.len(), 1, "{form}: not found when streamed");
    }
    // A prefix of the token is not the token.
    assert!(scanner.find(&token.as_bytes()[..token.len() - 1]).is_empty());
    assert!(scanner.find(b"plain text with 100% of nothing \\u12 in it").is_empty());
}

/// A reader that hands out `step` bytes at a time: every chunk boundary a stream can have.
struct Trickle<'a> {
    bytes: &'a [u8],
    step: usize,
}

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let count = self.step.min(buf.len()).min(self.bytes.len());
        buf[..count].copy_from_slice(&self.bytes[..count]);
        self.bytes = &self.bytes[count..];
        Ok(count)
    }
}

fn utf16(text: &str, little_endian: bool) -> Vec<u8> {
    text.encode_utf16()
        .flat_map(|unit| {
            if little_endian {
                unit.to_le_bytes()
            } else {
                unit.to_be_bytes()
            }
        })
        .collect()
}

fn percent_twice(text: &str) -> String {
    text.bytes().map(|byte| format!("%25{byte:02X}")).collect()
}

fn entities_mixed(text: &str) -> String {
    text.bytes()
        .enumerate()
        .map(|(index, byte)| match index % 3 {
            0 => format!("&#{byte};"),
            1 => format!("&#x{byte:x};"),
            _ => format!("&#X{byte:04X};"),
        })
        .collect()
}

/// RFC 4648 base32 with `=` padding, as most encoders write it.
fn base32_padded(bytes: &[u8]) -> String {
    let mut text = String::from_utf8(base32::encode(bytes)).expect("ASCII");
    while !text.len().is_multiple_of(8) {
        text.push('=');
    }
    text
}

/// The encoded forms of `text` that the scan must find (issue 22).
fn issue_22_leaks(text: &str) -> Vec<(String, Vec<u8>)> {
    let mut leaks = vec![
        ("utf-16le".to_owned(), utf16(&format!("token={text}"), true)),
        (
            "utf-16le with BOM, upper case".to_owned(),
            [&[0xff, 0xfe][..], &utf16(&text.to_uppercase(), true)].concat(),
        ),
        ("utf-16be".to_owned(), utf16(&format!("token={text}\n"), false)),
        (
            "utf-16be with BOM".to_owned(),
            [&[0xfe, 0xff][..], &utf16(text, false)].concat(),
        ),
        ("double percent".to_owned(), percent_twice(text).into_bytes()),
        (
            "double percent, lower-case hex, partial".to_owned(),
            format!("GET /v1/?k={}{}", percent_twice(&text[..4]).to_lowercase(), &text[4..]).into_bytes(),
        ),
        (
            "triple percent".to_owned(),
            percent_twice(text).replace('%', "%25").into_bytes(),
        ),
        (
            "decimal entities".to_owned(),
            text.bytes()
                .map(|byte| format!("&#{byte};"))
                .collect::<String>()
                .into_bytes(),
        ),
        (
            "hex entities".to_owned(),
            text.bytes()
                .map(|byte| format!("&#x{byte:x};"))
                .collect::<String>()
                .into_bytes(),
        ),
        (
            "mixed entities".to_owned(),
            format!("<p>{}</p>", entities_mixed(text)).into_bytes(),
        ),
    ];
    for offset in 0..5 {
        let prefix = "u".repeat(offset + 5);
        let stream = format!("{prefix}{text}!?");
        leaks.push((
            format!("base32 at {offset}, padded"),
            base32_padded(stream.as_bytes()).into_bytes(),
        ));
        leaks.push((
            format!("base32 at {offset}, lower case, no padding"),
            String::from_utf8(base32::encode(stream.as_bytes()))
                .expect("ASCII")
                .to_lowercase()
                .into_bytes(),
        ));
        leaks.push((
            format!("base32 at {offset}, wrapped"),
            base32_padded(stream.as_bytes())
                .as_bytes()
                .chunks(16)
                .collect::<Vec<_>>()
                .join(&b'\n'),
        ));
    }
    leaks
}

/// Issue 22: UTF-16 (LE, BE), percent-encoding applied twice, numeric HTML entities and
/// base32 are found, in one piece and streamed a few bytes at a time.
#[test]
fn issue_22_every_further_accidental_encoding_of_the_token_is_found() {
    let (scanner, token) = token_scanner();
    for (form, bytes) in issue_22_leaks(&token) {
        assert_eq!(scanner.find(&bytes), vec!["case_token"], "{form}: not found");
        for step in [1, 3, 7, 64] {
            let mut hits = Vec::new();
            scanner
                .scan_reader("c", "f", Trickle { bytes: &bytes, step }, &mut hits)
                .expect("read");
            assert_eq!(hits.len(), 1, "{form}: not found when streamed {step} bytes at a time");
        }
    }
    // The same encodings of all but the token's last character are not the token (base32
    // leaves out: its last character carries only some bits of the last byte, so a
    // different byte after the prefix may share them).
    for (form, bytes) in issue_22_leaks(&token[..token.len() - 1]) {
        if !form.starts_with("base32") {
            assert!(scanner.find(&bytes).is_empty(), "{form}: a prefix is not the token");
        }
    }
}

/// Base32 as Python's `base64.b32encode` writes it (an encoder other than this crate's), at
/// two alignments, upper case padded and lower case.
#[test]
fn issue_22_base32_from_another_encoder_is_found() {
    let scanner = SecretScanner::new(&[NamedSecret {
        name: "case_token".to_owned(),
        value: SecretValue::new("chc-token-5e1f0c2a9b7d3e4f".to_owned()),
    }])
    .expect("scanner");
    // b32encode(b"id:" + token) and b32encode(b"ab" + token + b"!").lower().
    for encoded in [
        "NFSDUY3IMMWXI33LMVXC2NLFGFTDAYZSME4WEN3EGNSTIZQ=",
        "mfrgg2ddfv2g623fnywtkzjrmyyggmtbhfrdozbtmu2gmii=",
    ] {
        assert_eq!(scanner.find(encoded.as_bytes()), vec!["case_token"], "{encoded}");
    }
    assert!(
        scanner.find(b"NFSDUY3IMMWXI33LMVXC2NLFGFTDAYZSME4WEN3EGNST").is_empty(),
        "cut short"
    );
}
