//! The operator's integration tests in one binary (one link, not five): admission rules
//! evaluated with CEL, the committed CRD file, properties of the desired objects, golden files,
//! the example manifests.

mod admission;
mod crd_file;
mod desired;
mod examples;
mod golden;
