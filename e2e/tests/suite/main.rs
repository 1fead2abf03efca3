//! End-to-end suites: real processes, real files, real signals.

mod store_crash;
