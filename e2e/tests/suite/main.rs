//! End-to-end suites: real processes, real files, real signals.

mod mqadmin;
mod reference_store;
mod store_crash;
