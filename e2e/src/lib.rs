//! Shared helpers for Apogee's end-to-end suites and benchmark tools.

pub mod control_plane;
pub mod event_process;
pub mod java_tools;
