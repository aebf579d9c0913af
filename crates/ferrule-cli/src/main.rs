//! The `ferrule` command line.
fn main() {}
