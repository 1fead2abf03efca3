//! Reads typed values out of parsed properties by RocketMQ key name, remembering where each
//! value came from, and refuses keys a config does not know.

use super::{
    error::{ConfigError, Location},
    properties::{Entry, Properties},
    values,
};

/// The keys one kind of config file may contain.
#[derive(Debug)]
pub(crate) struct KeySet {
    /// Keys the config reads.
    pub known: &'static [&'static str],
    /// Old spellings: `(alias, key)`.
    pub aliases: &'static [(&'static str, &'static str)],
    /// RocketMQ keys that load but have no effect (yet).
    pub accepted_unused: &'static [&'static str],
    /// RocketMQ feature switches Apogee lacks: `(key, why)`. `false` loads; `true` is refused,
    /// because ignoring it would quietly run without the feature the file asks for.
    pub off_only: &'static [(&'static str, &'static str)],
}

impl KeySet {
    /// Every key a user could have meant, for "did you mean" suggestions.
    fn candidates(&self) -> Vec<&'static str> {
        let switches = self.off_only.iter().map(|(key, _)| *key);
        self.known
            .iter()
            .chain(self.accepted_unused)
            .copied()
            .chain(switches)
            .collect()
    }
}

/// Where each key read so far was set.
#[derive(Debug, Default)]
pub(crate) struct Locations(Vec<(&'static str, Location)>);

impl Locations {
    /// Where `key` was set, if it was.
    pub fn get(&self, key: &str) -> Option<Location> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, at)| at.clone())
    }
}

/// Typed access to one file's properties.
#[derive(Debug)]
pub(crate) struct KeyReader<'a> {
    properties: &'a Properties,
    file: &'a str,
    keys: &'a KeySet,
    locations: Locations,
}

impl<'a> KeyReader<'a> {
    /// Checks every key in the file against `keys` (first offender in file order) and returns
    /// a reader for the known ones.
    pub fn new(properties: &'a Properties, file: &'a str, keys: &'a KeySet) -> Result<Self, ConfigError> {
        let reader = Self {
            properties,
            file,
            keys,
            locations: Locations::default(),
        };
        for entry in properties.entries() {
            reader.check_key(entry)?;
        }
        Ok(reader)
    }

    fn location(&self, entry: &Entry) -> Location {
        Location::Line {
            file: self.file.to_owned(),
            line: entry.line,
        }
    }

    fn check_key(&self, entry: &Entry) -> Result<(), ConfigError> {
        let key = entry.key.as_str();
        let keys = self.keys;
        if keys.known.contains(&key)
            || keys.accepted_unused.contains(&key)
            || keys.aliases.iter().any(|(alias, _)| *alias == key)
        {
            return Ok(());
        }
        let Some((switch, why)) = keys.off_only.iter().find(|(k, _)| *k == key) else {
            return Err(ConfigError::unknown_key(
                key,
                self.location(entry),
                &keys.candidates(),
            ));
        };
        let value = entry.value.trim();
        match values::boolean(value) {
            Ok(false) => Ok(()),
            Ok(true) => Err(ConfigError::Unsupported {
                key: key.to_owned(),
                at: Some(self.location(entry)),
                value: value.to_owned(),
                reason: (*why).to_owned(),
            }),
            Err(expected) => Err(ConfigError::InvalidValue {
                key: switch,
                at: Some(self.location(entry)),
                expected,
                got: value.to_owned(),
            }),
        }
    }

    /// The entry for `key` or one of its old spellings (both at once is an error), recording
    /// where it was set.
    fn entry(&mut self, key: &'static str) -> Result<Option<&'a Entry>, ConfigError> {
        let mut found = self.properties.get(key).map(|entry| (key, entry));
        for (alias, _) in self.keys.aliases.iter().filter(|(_, k)| *k == key) {
            if let Some(entry) = self.properties.get(alias) {
                if let Some((_, first)) = found {
                    let later = if first.line > entry.line { first } else { entry };
                    return Err(ConfigError::Conflict {
                        key,
                        other: alias,
                        at: Some(self.location(later)),
                        reason: format!("`{alias}` is the RocketMQ 4.x spelling of `{key}`; set only one"),
                    });
                }
                found = Some((alias, entry));
            }
        }
        let Some((_, entry)) = found else {
            return Ok(None);
        };
        self.locations.0.push((key, self.location(entry)));
        Ok(Some(entry))
    }

    /// The trimmed text of `key` (RocketMQ trims values before using them), if set.
    pub fn text(&mut self, key: &'static str) -> Result<Option<&'a str>, ConfigError> {
        Ok(self.entry(key)?.map(|entry| entry.value.trim()))
    }

    /// The value of `key` parsed with `parse`, if set.
    pub fn parsed<T>(
        &mut self,
        key: &'static str,
        parse: impl FnOnce(&str) -> values::Parsed<T>,
    ) -> Result<Option<T>, ConfigError> {
        let Some(entry) = self.entry(key)? else {
            return Ok(None);
        };
        let got = entry.value.trim();
        parse(got)
            .map(Some)
            .map_err(|expected| ConfigError::InvalidValue {
                key,
                at: Some(self.location(entry)),
                expected,
                got: got.to_owned(),
            })
    }

    /// The value of `key` parsed with `parse`, or `default` when absent.
    pub fn or<T>(
        &mut self,
        key: &'static str,
        default: T,
        parse: impl FnOnce(&str) -> values::Parsed<T>,
    ) -> Result<T, ConfigError> {
        Ok(self.parsed(key, parse)?.unwrap_or(default))
    }

    /// Records that `key`'s value came from an environment variable.
    pub fn set_from_env(&mut self, key: &'static str, var: &'static str) {
        self.locations.0.push((key, Location::EnvVar(var)));
    }

    /// Where each key read was set, to locate errors found by validation.
    pub fn into_locations(self) -> Locations {
        self.locations
    }
}

/// Parses `text` with `parse`, blaming `key` at `var` on failure (for values taken from the
/// environment rather than the file).
pub(crate) fn parse_env<T>(
    key: &'static str,
    var: &'static str,
    text: &str,
    parse: impl FnOnce(&str) -> values::Parsed<T>,
) -> Result<T, ConfigError> {
    let got = text.trim();
    parse(got).map_err(|expected| ConfigError::InvalidValue {
        key,
        at: Some(Location::EnvVar(var)),
        expected,
        got: got.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: KeySet = KeySet {
        known: &["listenPort", "mappedFileSizeCommitLog"],
        aliases: &[("mapedFileSizeCommitLog", "mappedFileSizeCommitLog")],
        accepted_unused: &["rocketmqHome"],
        off_only: &[("aclEnable", "no access control yet")],
    };

    fn properties(text: &str) -> Properties {
        Properties::parse(text, "b.conf").unwrap()
    }

    #[test]
    fn reads_typed_values_trimmed_and_records_lines() {
        let props = properties("# c\nlistenPort = 10911  \nrocketmqHome=/opt/mq\n");
        let mut reader = KeyReader::new(&props, "b.conf", &KEYS).unwrap();
        assert_eq!(reader.or("listenPort", 1, values::port).unwrap(), 10911);
        assert_eq!(reader.or("mappedFileSizeCommitLog", 7, values::int).unwrap(), 7);
        let locations = reader.into_locations();
        assert_eq!(
            locations.get("listenPort"),
            Some(Location::Line {
                file: "b.conf".into(),
                line: 2
            })
        );
        assert_eq!(locations.get("mappedFileSizeCommitLog"), None);
    }

    #[test]
    fn invalid_values_name_key_line_and_expectation() {
        let props = properties("listenPort=abc\n");
        let mut reader = KeyReader::new(&props, "b.conf", &KEYS).unwrap();
        let err = reader.or("listenPort", 1, values::port).unwrap_err().to_string();
        assert_eq!(
            err,
            "b.conf:1: invalid value for `listenPort`: expected a port number from 1 to 65535, got `abc`"
        );
    }

    #[test]
    fn old_spelling_reads_as_the_new_key_but_not_both() {
        let props = properties("mapedFileSizeCommitLog=4096\n");
        let mut reader = KeyReader::new(&props, "b.conf", &KEYS).unwrap();
        assert_eq!(
            reader.or("mappedFileSizeCommitLog", 0, values::int).unwrap(),
            4096
        );

        let props = properties("mappedFileSizeCommitLog=8192\nmapedFileSizeCommitLog=4096\n");
        let mut reader = KeyReader::new(&props, "b.conf", &KEYS).unwrap();
        let err = reader
            .or("mappedFileSizeCommitLog", 0, values::int)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("b.conf:2: `mappedFileSizeCommitLog` conflicts with `mapedFileSizeCommitLog`"),
            "{err}"
        );
    }

    #[test]
    fn unknown_keys_are_refused_with_a_suggestion() {
        let props = properties("listenPort=1\nlistenport=2\n");
        let err = KeyReader::new(&props, "b.conf", &KEYS).unwrap_err().to_string();
        assert_eq!(
            err,
            "b.conf:2: unknown key `listenport` (did you mean `listenPort`?)"
        );
    }

    #[test]
    fn off_only_switches_load_when_false_and_refuse_when_true() {
        assert!(KeyReader::new(&properties("aclEnable=false\n"), "b.conf", &KEYS).is_ok());
        let err = KeyReader::new(&properties("aclEnable = TRUE\n"), "b.conf", &KEYS)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "b.conf:1: `aclEnable=TRUE` is not supported yet: no access control yet"
        );
        let err = KeyReader::new(&properties("aclEnable=maybe\n"), "b.conf", &KEYS)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("invalid value for `aclEnable`: expected true or false"),
            "{err}"
        );
    }

    #[test]
    fn environment_values_are_blamed_on_the_variable() {
        let err = parse_env("listenPort", "PORT", " x ", values::port)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "environment variable PORT: invalid value for `listenPort`: expected a port number from 1 to \
             65535, got `x`"
        );
        assert_eq!(parse_env("listenPort", "PORT", "80", values::port).unwrap(), 80);
    }
}
