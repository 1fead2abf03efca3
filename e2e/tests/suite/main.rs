//! End-to-end suites: real processes, real files, real signals.

mod reference_store;
mod store_crash;
