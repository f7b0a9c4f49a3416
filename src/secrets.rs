//! Secret values and the scanner that proves none of them was written anywhere.
//!
//! A secret is a type, not a string: [`SecretValue`] cannot be printed (its `Debug` and
//! `Display` say `[redacted]`), is not `Serialize`, and hands out its bytes only through
//! [`SecretValue::expose`], so every place that touches the raw value is greppable.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// A secret (upstream API key, per-run token, canary). Never printed, never serialized.
#[derive(Clone)]
pub struct SecretValue(SecretString);

impl SecretValue {
    /// Wraps a raw value. The caller should drop its own copy.
    pub fn new(value: String) -> Self {
        SecretValue(SecretString::from(value))
    }

    /// A fresh random value of 32 bytes of OS randomness, hex-encoded, with a recognisable prefix.
    pub fn random(prefix: &str) -> Self {
        let bytes: [u8; 32] = rand::random();
        SecretValue::new(format!("{prefix}{}", hex::encode(bytes)))
    }

    /// The raw value. Call only where the value must leave this type (an HTTP header, a
    /// comparison, a scan); never format it into a message.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Constant-time comparison with a presented value.
    pub fn matches(&self, presented: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        self.expose().as_bytes().ct_eq(presented).into()
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue([redacted])")
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_its_value() {
        let secret = SecretValue::new("canary-3f9a".to_owned());
        assert!(!format!("{secret:?} {secret} {:?}", Some(&secret)).contains("canary-3f9a"));
        assert_eq!(secret.expose(), "canary-3f9a");
    }

    #[test]
    fn compares_exactly() {
        let secret = SecretValue::random("t-");
        assert!(secret.matches(secret.expose().as_bytes()));
        assert!(!secret.matches(b"t-"));
        assert!(!secret.matches(format!("{}x", secret.expose()).as_bytes()));
    }
}
