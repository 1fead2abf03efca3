//! The configuration hash on pod templates.

/// A short, stable digest of `text`: 64-bit FNV-1a as 16 hex digits. It only has to tell two
/// configurations apart and stay the same across operator versions and platforms (which
/// std's hasher does not promise); it is not a security boundary.
pub fn config_hash(text: &str) -> String {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = text
        .bytes()
        .fold(OFFSET, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(PRIME));
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_fnv1a_reference_values() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(config_hash(""), "cbf29ce484222325");
        assert_eq!(config_hash("a"), "af63dc4c8601ec8c");
        assert_eq!(config_hash("foobar"), "85944171f73967e8");
        assert_ne!(
            config_hash("listenPort=10911\n"),
            config_hash("listenPort=10912\n")
        );
    }
}
