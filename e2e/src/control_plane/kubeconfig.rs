//! Kubeconfig files for the control plane's users. Certificates and keys are embedded
//! (`*-data`, base64) rather than referenced by path, so a file stays valid on its own for any
//! client: kubectl, helm, client-go programs, kube-rs.

use std::{fs, path::Path};

use anyhow::{Context, Result};

/// How a kubeconfig's user authenticates.
#[derive(Debug)]
pub(crate) enum Credential<'a> {
    /// A client certificate and key (PEM files).
    ClientCertificate { cert: &'a Path, key: &'a Path },
    /// A bearer token (a ServiceAccount's, from `kubectl create token`).
    Token(&'a str),
}

/// How a kubeconfig's client verifies the server.
#[derive(Debug)]
pub(crate) enum Trust<'a> {
    /// Against this CA certificate (PEM file).
    Ca(&'a Path),
    /// Not at all: for the health probes of the controller manager and scheduler, whose
    /// serving certificates are self-signed at start-up, on loopback.
    Insecure,
}

/// Writes a kubeconfig at `path` for `server`, verifying it as `trust` says, authenticating
/// as `credential`, with `namespace` as the default namespace.
pub(crate) fn write(
    path: &Path,
    server: &str,
    trust: Trust<'_>,
    credential: Credential<'_>,
    namespace: &str,
) -> Result<()> {
    let trust = match trust {
        Trust::Ca(ca) => format!("certificate-authority-data: {}", base64_file(ca)?),
        Trust::Insecure => "insecure-skip-tls-verify: true".to_owned(),
    };
    let user = match credential {
        Credential::ClientCertificate { cert, key } => format!(
            "  user:\n    client-certificate-data: {}\n    client-key-data: {}",
            base64_file(cert)?,
            base64_file(key)?
        ),
        Credential::Token(token) => format!("  user:\n    token: {token}"),
    };
    let text = format!(
        "apiVersion: v1
kind: Config
clusters:
- name: apogee-test
  cluster:
    server: {server}
    {trust}
users:
- name: apogee-test
{user}
contexts:
- name: apogee-test
  context:
    cluster: apogee-test
    user: apogee-test
    namespace: {namespace}
current-context: apogee-test
"
    );
    fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn base64_file(path: &Path) -> Result<String> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(base64(&bytes))
}

/// Standard base64 with padding (RFC 4648 section 4), what kubeconfig `*-data` fields hold.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_test_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain:?}");
        }
        assert_eq!(base64(&[0xfb, 0xff, 0xbf]), "+/+/");
    }
}
