//! Volume sizes: Kubernetes quantities compared by the bytes they mean, and what a broker
//! PVC needs when `spec.broker.storage.size` grows (pure; the reconciler does the I/O).

/// The bytes a quantity (`100Gi`, `1.5T`, `500M`, `1e9`) stands for; `None` if it is not one.
pub fn bytes(quantity: &str) -> Option<f64> {
    let text = quantity.trim();
    const SUFFIXES: [(&str, f64); 13] = [
        ("Ki", 1024.0),
        ("Mi", 1_048_576.0),
        ("Gi", 1_073_741_824.0),
        ("Ti", 1_099_511_627_776.0),
        ("Pi", 1_125_899_906_842_624.0),
        ("Ei", 1_152_921_504_606_846_976.0),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
        ("m", 1e-3),
    ];
    let (number, scale) = SUFFIXES
        .iter()
        .find_map(|(suffix, scale)| text.strip_suffix(suffix).map(|n| (n, *scale)))
        .unwrap_or((text, 1.0));
    let value: f64 = number.parse().ok()?;
    (value.is_finite() && value >= 0.0).then_some(value * scale)
}

/// What one PVC needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resize {
    /// It already asks for at least the wanted size.
    None,
    /// It must grow to the wanted size.
    Grow,
}

/// Whether a PVC requesting `current` must grow to `wanted`. Unreadable sizes are left alone
/// (the CRD's rules refuse a malformed size; a claim is never shrunk).
pub fn resize(current: &str, wanted: &str) -> Resize {
    match (bytes(current), bytes(wanted)) {
        (Some(have), Some(want)) if want > have => Resize::Grow,
        _ => Resize::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_mean_bytes() {
        assert_eq!(bytes("1Gi"), Some(1_073_741_824.0));
        assert_eq!(bytes("1.5Ki"), Some(1536.0));
        assert_eq!(bytes("500M"), Some(5e8));
        assert_eq!(bytes("1e9"), Some(1e9));
        assert_eq!(bytes("12"), Some(12.0));
        assert_eq!(bytes("lots"), None);
        assert_eq!(bytes("-1Gi"), None);
    }

    #[test]
    fn claims_only_grow() {
        assert_eq!(resize("1Gi", "2Gi"), Resize::Grow);
        assert_eq!(
            resize("1Gi", "1024Mi"),
            Resize::None,
            "the same size in other units"
        );
        assert_eq!(resize("2Gi", "1Gi"), Resize::None);
        assert_eq!(resize("1G", "1Gi"), Resize::Grow, "1 GB is less than 1 GiB");
        assert_eq!(resize("?", "1Gi"), Resize::None);
    }
}
