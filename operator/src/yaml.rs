//! YAML output: the CRD file and the golden files of desired objects.

use serde::Serialize;

/// A value that cannot be written as YAML.
#[derive(Debug, thiserror::Error)]
#[error("cannot write YAML: {0}")]
pub struct YamlError(#[from] serde_saphyr::ser::Error);

/// One YAML document (no leading `---`).
pub fn document<T: Serialize>(value: &T) -> Result<String, YamlError> {
    Ok(serde_saphyr::to_string(value)?)
}

/// Several documents, each introduced by `---`, in the order given.
pub fn documents<T: Serialize>(values: &[T]) -> Result<String, YamlError> {
    let mut out = String::new();
    for value in values {
        out.push_str("---\n");
        out.push_str(&document(value)?);
    }
    Ok(out)
}
