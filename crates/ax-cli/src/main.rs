//! The `ax` binary.
fn main() {}
