//! Prometheus metrics and health endpoints of a broker: the text format, the latency histogram
//! the send path feeds, the page a broker renders from its counters (its replication part in
//! its own module), and the HTTP listener (`metricsExporterType=PROM`, `metricsPromExporterPort`,
//! 5557 by default).

pub mod broker_page;
pub mod exposition;
pub mod http;
pub mod latency;
pub mod replication_page;
