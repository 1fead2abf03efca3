//! The operator's integration tests in one binary (one link, not four): admission rules
//! evaluated with CEL, the committed CRD file, properties of the desired objects, golden files.

mod admission;
mod crd_file;
mod desired;
mod golden;
