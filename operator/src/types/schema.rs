//! Schema shapes the derive cannot infer: free-form string maps with a size bound, quantities
//! held as strings, and list merge keys for server-side apply.

use schemars::{Schema, SchemaGenerator, json_schema};

/// Most keys a `broker.conf` map may hold: comfortably above the ~70 keys the broker knows,
/// and low enough to keep the cost of the key rules (which scan the map) well inside the API
/// server's CEL budget.
const MAX_BROKER_CONFIG_KEYS: u32 = 128;
/// The same bound for `namesrv.conf` (it has 15 keys).
const MAX_NAMESRV_CONFIG_KEYS: u32 = 32;
/// Longest value accepted in either file.
const MAX_CONFIG_VALUE_LENGTH: u32 = 4096;

fn string_map(max_keys: u32) -> Schema {
    json_schema!({
        "type": "object",
        "maxProperties": max_keys,
        "additionalProperties": {"type": "string", "maxLength": MAX_CONFIG_VALUE_LENGTH},
    })
}

/// `spec.broker.config`: `broker.conf` keys to string values.
pub(super) fn broker_config(_: &mut SchemaGenerator) -> Schema {
    string_map(MAX_BROKER_CONFIG_KEYS)
}

/// `spec.nameServer.config`: `namesrv.conf` keys to string values.
pub(super) fn namesrv_config(_: &mut SchemaGenerator) -> Schema {
    string_map(MAX_NAMESRV_CONFIG_KEYS)
}

/// A quantity written as a string (`100Gi`). k8s-openapi's `Quantity` schema is int-or-string;
/// a volume size is never a bare number, and a plain string keeps the CEL quantity rules
/// simple (`quantity(self)` needs a string).
pub(super) fn quantity_string(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "maxLength": 64})
}

fn list_map(schema: &mut Schema, key: &str) {
    schema.insert("x-kubernetes-list-type".into(), "map".into());
    schema.insert("x-kubernetes-list-map-keys".into(), serde_json::json!([key]));
}

/// A list whose items are identified by `type` (conditions), so server-side apply merges
/// items rather than replacing the list.
pub(super) fn list_map_by_type(schema: &mut Schema) {
    list_map(schema, "type");
}

/// A list whose items are identified by `name`.
pub(super) fn list_map_by_name(schema: &mut Schema) {
    list_map(schema, "name");
}

/// Drops a type's own description. kube's handling of `Option<Enum>` lets the enum type's
/// description replace the field's, and the field's says what the values mean where it is
/// used; so enums keep their doc comments for Rust readers only.
pub(super) fn without_description(schema: &mut Schema) {
    schema.remove("description");
}
