//! End-to-end tests: the built binaries, driven as an operator drives them.

mod cli;
