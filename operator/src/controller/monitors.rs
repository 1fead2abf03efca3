//! The cluster's prometheus-operator monitors: applied while `spec.metrics` asks for them,
//! deleted once it no longer does. Their kinds exist only where prometheus-operator's CRDs
//! are installed; without them (or without the RBAC to write them) the cluster is still
//! reconciled and the Warning condition says what is missing (reason `MonitorsUnavailable`).

use kube::{
    Api,
    api::{DeleteParams, DynamicObject, Patch, PatchParams},
    core::{ApiResource, GroupVersionKind},
};

use super::{context::Context, context::FIELD_MANAGER, error::ControllerError};
use crate::desired::{
    Monitor, MonitorKind, Names,
    monitors::{self, API_VERSION},
};

/// The Warning condition's reason when a monitor asked for cannot be made.
pub const UNAVAILABLE: &str = "MonitorsUnavailable";

fn api(ctx: &Context, names: &Names, kind: MonitorKind) -> Api<DynamicObject> {
    let (group, version) = API_VERSION.split_once('/').unwrap_or(("", API_VERSION));
    let resource =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind.kind()), kind.plural());
    Api::namespaced_with(ctx.client.clone(), names.namespace(), &resource)
}

/// Why a monitor asked for was not made, in words, or `None` for an error to retry.
fn unavailable(kind: MonitorKind, error: &kube::Error) -> Option<String> {
    let kube::Error::Api(status) = error else {
        return None;
    };
    let what = format!("{} is true but", kind.field());
    match status.code {
        // An apply creates a missing object, so a 404 means the kind itself is unknown.
        404 => Some(format!(
            "{what} the API server does not serve {API_VERSION} {}: install prometheus-operator's CRDs",
            kind.kind()
        )),
        403 => Some(format!(
            "{what} the operator may not write {} ({}): grant it in its RBAC",
            kind.plural(),
            status.message
        )),
        _ => None,
    }
}

/// Applies `wanted` and deletes the cluster's monitors of the other kinds; returns the
/// warnings for status (`(reason, message)`).
pub async fn reconcile(
    ctx: &Context,
    names: &Names,
    wanted: &[Monitor],
) -> Result<Vec<(String, String)>, ControllerError> {
    let mut warnings = Vec::new();
    let name = monitors::name(names);
    for kind in MonitorKind::ALL {
        let api = api(ctx, names, kind);
        match wanted.iter().find(|m| m.kind == kind) {
            Some(monitor) => {
                let params = PatchParams::apply(FIELD_MANAGER).force();
                match api.patch(&name, &params, &Patch::Apply(&monitor.object)).await {
                    Ok(_) => {}
                    Err(error) => match unavailable(kind, &error) {
                        Some(why) => warnings.push((UNAVAILABLE.to_owned(), why)),
                        None => {
                            return Err(ControllerError::api("apply", kind.kind(), name)(error));
                        }
                    },
                }
            }
            None => match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => tracing::info!(kind = kind.kind(), %name, "monitor no longer asked for: deleted"),
                // Not there, its kind not installed, or not ours to touch: nothing to undo.
                Err(kube::Error::Api(status)) if matches!(status.code, 403 | 404) => {}
                Err(error) => return Err(ControllerError::api("delete", kind.kind(), name)(error)),
            },
        }
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use kube::core::Status;

    use super::*;

    fn api_error(code: u16) -> kube::Error {
        kube::Error::Api(Box::new(Status::failure("refused", "Reason").with_code(code)))
    }

    #[test]
    fn a_missing_kind_or_permission_is_a_warning_other_errors_retry() {
        let missing = unavailable(MonitorKind::ServiceMonitor, &api_error(404)).expect("warning");
        assert!(
            missing.starts_with("spec.metrics.serviceMonitor is true but"),
            "{missing}"
        );
        assert!(
            missing.contains("monitoring.coreos.com/v1 ServiceMonitor"),
            "{missing}"
        );
        let forbidden = unavailable(MonitorKind::PodMonitor, &api_error(403)).expect("warning");
        assert!(forbidden.contains("may not write podmonitors"), "{forbidden}");
        assert_eq!(unavailable(MonitorKind::PodMonitor, &api_error(500)), None);
        assert_eq!(unavailable(MonitorKind::PodMonitor, &api_error(409)), None);
    }
}
