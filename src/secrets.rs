//! Secret values and the scanner that proves none of them was written anywhere.
//!
//! A secret is a type, not a string: [`SecretValue`] cannot be printed (its `Debug` and
//! `Display` say `[redacted]`), is not `Serialize`, and hands out its bytes only through
//! [`SecretValue::expose`], so every place that touches the raw value is greppable.

mod base32;
mod normalise;
mod scanner;
mod search;
mod value;

pub(crate) use normalise::normalise;
pub(crate) use scanner::{ScanError, SecretScanner};
pub(crate) use value::NamedSecret;
pub use value::SecretValue;

pub use crate::output::SecretHit;
