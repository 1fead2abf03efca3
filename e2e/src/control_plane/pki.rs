//! Certificates and keys for one control plane, made with the `openssl` command-line tool
//! (Debian's `openssl` package): a CA, the API server's serving certificate, one client
//! certificate per identity, and the service-account signing key pair.
//!
//! TLS keys are P-256 (generated in milliseconds, unlike RSA); the service-account key is RSA,
//! the algorithm every token consumer supports. `-config /dev/null` keeps the machine's
//! openssl.cnf (whose `req` defaults add CA extensions to every certificate) out of it.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Result, bail};

/// Names the API server's serving certificate must cover: the loopback address clients use,
/// and the in-cluster names and Service IP pods would use.
const SERVING_SANS: &str = "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,\
DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,\
DNS:kubernetes.default.svc.cluster.local";

/// A certificate and its private key, as PEM files.
#[derive(Debug, Clone)]
pub(crate) struct KeyPair {
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
}

/// The control plane's key material, under one directory.
#[derive(Debug)]
pub(crate) struct Pki {
    dir: PathBuf,
    pub(crate) ca: KeyPair,
    pub(crate) serving: KeyPair,
    /// Service-account token signing key (private) and its public half.
    pub(crate) service_account_key: PathBuf,
    pub(crate) service_account_pub: PathBuf,
}

impl Pki {
    /// Creates the CA, the serving certificate and the service-account keys in `dir`.
    pub(crate) fn create(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let ca = KeyPair {
            cert: dir.join("ca.crt"),
            key: dir.join("ca.key"),
        };
        let mut req = ec_req(&ca, "/CN=apogee-test-ca");
        req.args(["-addext", "basicConstraints=critical,CA:TRUE"])
            .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
        run(req)?;

        let pki = Self {
            dir: dir.to_owned(),
            serving: KeyPair {
                cert: dir.join("apiserver.crt"),
                key: dir.join("apiserver.key"),
            },
            service_account_key: dir.join("sa.key"),
            service_account_pub: dir.join("sa.pub"),
            ca,
        };
        let mut req = pki.signed_req(&pki.serving, "/CN=kube-apiserver");
        req.args(["-addext", "extendedKeyUsage=serverAuth"])
            .args(["-addext", SERVING_SANS]);
        run(req)?;

        let mut genpkey = openssl();
        genpkey
            .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])
            .arg("-out")
            .arg(&pki.service_account_key);
        run(genpkey)?;
        let mut public = openssl();
        public
            .args(["pkey", "-pubout", "-in"])
            .arg(&pki.service_account_key)
            .arg("-out")
            .arg(&pki.service_account_pub);
        run(public)?;
        Ok(pki)
    }

    /// A client certificate for user `user` in group `group` (Kubernetes reads the CN as the
    /// user name and each O as a group), signed by the CA.
    pub(crate) fn client(&self, file: &str, user: &str, group: Option<&str>) -> Result<KeyPair> {
        let pair = KeyPair {
            cert: self.dir.join(format!("{file}.crt")),
            key: self.dir.join(format!("{file}.key")),
        };
        let subject = match group {
            Some(group) => format!("/O={group}/CN={user}"),
            None => format!("/CN={user}"),
        };
        let mut req = self.signed_req(&pair, &subject);
        req.args(["-addext", "extendedKeyUsage=clientAuth"]);
        run(req)?;
        Ok(pair)
    }

    /// `openssl req` for a new leaf certificate signed by the CA.
    fn signed_req(&self, pair: &KeyPair, subject: &str) -> Command {
        let mut req = ec_req(pair, subject);
        req.arg("-CA")
            .arg(&self.ca.cert)
            .arg("-CAkey")
            .arg(&self.ca.key)
            .args(["-addext", "basicConstraints=critical,CA:FALSE"]);
        req
    }
}

/// `openssl req -x509` for a new P-256 key and a ten-year certificate (self-signed unless the
/// caller adds `-CA`).
fn ec_req(pair: &KeyPair, subject: &str) -> Command {
    let mut req = openssl();
    req.args(["req", "-x509", "-config", "/dev/null", "-nodes", "-days", "3650"])
        .args(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
        .args(["-subj", subject])
        .arg("-keyout")
        .arg(&pair.key)
        .arg("-out")
        .arg(&pair.cert);
    req
}

fn openssl() -> Command {
    Command::new("openssl")
}

fn run(mut command: Command) -> Result<()> {
    let out = command.output().map_err(|e| {
        anyhow::anyhow!(
            "cannot run openssl ({e}); the control plane makes its certificates with the openssl \
             command-line tool (Debian package openssl)"
        )
    })?;
    if !out.status.success() {
        bail!(
            "{command:?} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    /// The chain verifies, and the serving certificate names the loopback address.
    #[test]
    fn serving_and_client_certificates_verify_against_the_ca() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let pki = Pki::create(dir.path())?;
        let client = pki.client("admin", "admin", Some("system:masters"))?;
        for cert in [&pki.serving.cert, &client.cert] {
            let mut verify = openssl();
            verify.arg("verify").arg("-CAfile").arg(&pki.ca.cert).arg(cert);
            run(verify).context("verify")?;
        }
        let text = Command::new("openssl")
            .args(["x509", "-noout", "-ext", "subjectAltName,extendedKeyUsage", "-in"])
            .arg(&pki.serving.cert)
            .output()?;
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(text.contains("IP Address:127.0.0.1"), "{text}");
        assert!(text.contains("TLS Web Server Authentication"), "{text}");
        let subject = Command::new("openssl")
            .args(["x509", "-noout", "-subject", "-in"])
            .arg(&client.cert)
            .output()?;
        let subject = String::from_utf8_lossy(&subject.stdout);
        assert!(subject.contains("O = system:masters, CN = admin"), "{subject}");
        Ok(())
    }
}
