//! Why a reconcile failed (and will be retried with backoff). A resource that cannot be
//! rendered is not one of these: that is the user's to fix, and is reported in status.

use crate::broker_admin::AdminError;

/// A failed reconcile.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// An API call failed.
    #[error("{action} {kind} {name}: {source}")]
    Api {
        /// What was being done (`apply`, `list`, `delete`, `patch status of`).
        action: &'static str,
        /// The object's kind.
        kind: &'static str,
        /// The object's name (or the selector of a list).
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// A broker admin call the restart cannot do without failed.
    #[error(transparent)]
    Admin(#[from] AdminError),
    /// The finalizer could not be added or removed.
    #[error("finalizer: {0}")]
    Finalizer(String),
    /// The resource lacks what the API server always sets.
    #[error("RocketMQCluster without {0}")]
    Metadata(&'static str),
}

impl ControllerError {
    /// An [`ControllerError::Api`] maker for `map_err`.
    pub fn api(
        action: &'static str,
        kind: &'static str,
        name: impl Into<String>,
    ) -> impl FnOnce(kube::Error) -> Self {
        let name = name.into();
        move |source| Self::Api {
            action,
            kind,
            name,
            source,
        }
    }
}
