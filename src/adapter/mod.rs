//! (placeholder; the adapter server lands separately)
pub mod anthropic;
