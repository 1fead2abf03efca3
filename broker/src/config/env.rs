//! What defaults depend on outside the file: environment variables (`HOME`, `NAMESRV_ADDR`) and
//! the machine's host name. Loading takes them as a [`ConfigEnv`] so tests (and the operator,
//! which renders files for other machines) get deterministic results.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use super::error::ConfigError;

/// Source of environment-dependent defaults.
pub trait ConfigEnv {
    /// The variable's value; unset and empty both count as absent.
    fn var(&self, name: &str) -> Option<String>;
    /// This machine's host name, if it can be found.
    fn host_name(&self) -> Option<String>;
}

/// The running process's environment and the kernel's host name.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl ConfigEnv for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|value| !value.is_empty())
    }

    fn host_name(&self) -> Option<String> {
        // The kernel's UTS name is what `hostname` prints (a pod's name under Kubernetes);
        // /etc/hostname covers systems without procfs. Neither needs a libc call or a crate.
        ["/proc/sys/kernel/hostname", "/etc/hostname"]
            .into_iter()
            .filter_map(|path| std::fs::read_to_string(path).ok())
            .map(|name| name.trim().to_owned())
            .find(|name| !name.is_empty())
    }
}

/// A fixed environment: only the variables and host name given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FixedEnv {
    vars: BTreeMap<String, String>,
    host_name: Option<String>,
}

impl FixedEnv {
    /// No variables, no host name.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a variable.
    pub fn with_var(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.vars.insert(name.into(), value.into());
        self
    }

    /// Sets the host name.
    pub fn with_host_name(mut self, name: impl Into<String>) -> Self {
        self.host_name = Some(name.into());
        self
    }
}

impl ConfigEnv for FixedEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).filter(|value| !value.is_empty()).cloned()
    }

    fn host_name(&self) -> Option<String> {
        self.host_name.clone()
    }
}

/// `$HOME/<below>`, the default of RocketMQ's path keys (Java's `user.home`). Without `HOME`
/// there is no sensible default, so `key` becomes required.
pub(crate) fn home_dir(env: &dyn ConfigEnv, key: &'static str, below: &str) -> Result<PathBuf, ConfigError> {
    env.var("HOME")
        .map(|home| Path::new(&home).join(below))
        .ok_or_else(|| ConfigError::MissingRequired {
            key,
            reason: format!("it defaults to $HOME/{below}, and HOME is not set"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_env_returns_only_what_it_was_given() {
        let env = FixedEnv::new()
            .with_var("HOME", "/home/mq")
            .with_var("EMPTY", "")
            .with_host_name("node-1");
        assert_eq!(env.var("HOME").as_deref(), Some("/home/mq"));
        assert_eq!(env.var("EMPTY"), None);
        assert_eq!(env.var("PATH"), None);
        assert_eq!(env.host_name().as_deref(), Some("node-1"));
        assert_eq!(FixedEnv::new().host_name(), None);
    }

    #[test]
    fn home_dir_defaults_below_home_or_requires_the_key() {
        let env = FixedEnv::new().with_var("HOME", "/home/mq");
        assert_eq!(
            home_dir(&env, "storePathRootDir", "store").unwrap(),
            PathBuf::from("/home/mq/store")
        );
        let err = home_dir(&FixedEnv::new(), "storePathRootDir", "store").unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing required `storePathRootDir`: it defaults to $HOME/store, and HOME is not set"
        );
    }

    #[test]
    fn process_host_name_is_trimmed() {
        // Whatever the machine is called, the trailing newline of the proc file must be gone.
        if let Some(name) = ProcessEnv.host_name() {
            assert!(!name.is_empty());
            assert_eq!(name, name.trim());
        }
        assert_eq!(ProcessEnv.var("APOGEE_CONFIG_TEST_SURELY_UNSET_VARIABLE"), None);
    }
}
