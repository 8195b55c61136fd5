//! End-to-end tests: the built binaries, driven as an operator drives them, against real
//! upstream servers and real files on loopback.

mod bypass;
mod cli;
mod forwarding;
mod hardening;
mod hostile_rows;
mod operations;
mod reload;
mod system;
mod systemd;
