//! (placeholder; the adapter server lands separately)
