//! The secret as a type: [`SecretValue`] cannot be printed, is not `Serialize`, and hands
//! out its bytes only through [`SecretValue::expose`].

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
    pub(crate) fn matches(&self, presented: &[u8]) -> bool {
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

/// A named secret to look for (the name is what reports show; the value never is).
#[derive(Debug, Clone)]
pub(crate) struct NamedSecret {
    /// What the secret is, e.g. `upstream_api_key`, `case_token`, `canary`.
    pub name: String,
    /// The value.
    pub value: SecretValue,
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
