//! Why a `broker.conf` / `namesrv.conf` was refused. Every error names the RocketMQ key and, when
//! the value came from a file or the environment, where: `broker.conf:12: unknown key …`.

use std::{fmt, io, path::PathBuf};

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A line of a properties file.
    Line {
        /// The file as the user named it.
        file: String,
        /// 1-based line the key starts on.
        line: usize,
    },
    /// An environment variable (e.g. `NAMESRV_ADDR` standing in for `namesrvAddr`).
    EnvVar(&'static str),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Line { file, line } => write!(f, "{file}:{line}"),
            Self::EnvVar(name) => write!(f, "environment variable {name}"),
        }
    }
}

/// `"broker.conf:12: "` when the location is known, nothing otherwise.
fn prefix(at: &Option<Location>) -> String {
    at.as_ref().map(|at| format!("{at}: ")).unwrap_or_default()
}

fn did_you_mean(suggestion: &Option<&'static str>) -> String {
    suggestion
        .map(|key| format!(" (did you mean `{key}`?)"))
        .unwrap_or_default()
}

/// The JDK keeps `# …` after a value as part of it; say so when that is the likely mistake.
fn comment_hint(got: &str) -> &'static str {
    if got.contains(" #") || got.contains("\t#") {
        " (properties files have no end-of-line comments: `#` starts a comment only at the \
         beginning of a line)"
    } else {
        ""
    }
}

/// A configuration file or value that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The properties text itself is malformed (a bad `\uXXXX` escape).
    #[error("{at}: malformed properties: {reason}")]
    Syntax {
        /// The offending line.
        at: Location,
        /// What is wrong.
        reason: String,
    },
    /// A key that is neither supported nor on the accepted-but-unused list.
    #[error("{}unknown key `{key}`{}", prefix(at), did_you_mean(suggestion))]
    UnknownKey {
        /// The key as written.
        key: String,
        /// Where it was written.
        at: Option<Location>,
        /// The closest known key, when one is close enough to be a likely typo.
        suggestion: Option<&'static str>,
    },
    /// A value that does not parse as the key's type.
    #[error(
        "{}invalid value for `{key}`: expected {expected}, got `{got}`{}",
        prefix(at),
        comment_hint(got)
    )]
    InvalidValue {
        /// The key.
        key: &'static str,
        /// Where the value came from.
        at: Option<Location>,
        /// The type or the allowed values.
        expected: String,
        /// The value as written.
        got: String,
    },
    /// A value of the right type outside the range the broker can work with.
    #[error("{}`{key}` is out of range: expected {allowed}, got {got}", prefix(at))]
    OutOfRange {
        /// The key.
        key: &'static str,
        /// Where the value came from.
        at: Option<Location>,
        /// The allowed range, and why when it is not obvious.
        allowed: String,
        /// The value.
        got: String,
    },
    /// A setting with no value and no usable default.
    #[error("missing required `{key}`: {reason}")]
    MissingRequired {
        /// The key.
        key: &'static str,
        /// Why no default applies.
        reason: String,
    },
    /// Two settings that cannot hold together.
    #[error("{}`{key}` conflicts with `{other}`: {reason}", prefix(at))]
    Conflict {
        /// The key blamed (its location is shown).
        key: &'static str,
        /// The key it conflicts with.
        other: &'static str,
        /// Where `key` (or, if it was defaulted, `other`) was set.
        at: Option<Location>,
        /// Both values and the rule.
        reason: String,
    },
    /// A RocketMQ setting Apogee recognises but cannot honour yet; loading on would silently
    /// behave differently from what the file asks for.
    #[error("{}`{key}={value}` is not supported yet: {reason}", prefix(at))]
    Unsupported {
        /// The key.
        key: String,
        /// Where it was set.
        at: Option<Location>,
        /// The value asked for.
        value: String,
        /// What Apogee does instead, or what to do.
        reason: String,
    },
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl ConfigError {
    /// The RocketMQ key the error is about (`None` for unreadable or malformed files).
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::UnknownKey { key, .. } | Self::Unsupported { key, .. } => Some(key),
            Self::InvalidValue { key, .. }
            | Self::OutOfRange { key, .. }
            | Self::MissingRequired { key, .. }
            | Self::Conflict { key, .. } => Some(key),
            Self::Syntax { .. } | Self::Io { .. } => None,
        }
    }

    /// Fills in where the blamed key was set, for errors found after parsing (range and
    /// cross-field checks run on the typed settings, which no longer know their lines).
    pub(crate) fn locate(mut self, locate: impl Fn(&str) -> Option<Location>) -> Self {
        match &mut self {
            Self::InvalidValue { key, at, .. } | Self::OutOfRange { key, at, .. } if at.is_none() => {
                *at = locate(key);
            }
            Self::Conflict { key, other, at, .. } if at.is_none() => {
                *at = locate(key).or_else(|| locate(other));
            }
            Self::Unsupported { key, at, .. } if at.is_none() => *at = locate(key),
            _ => {}
        }
        self
    }

    /// An unknown-key error suggesting the closest of `candidates`.
    pub(crate) fn unknown_key(key: &str, at: Location, candidates: &[&'static str]) -> Self {
        Self::UnknownKey {
            key: key.to_owned(),
            at: Some(at),
            suggestion: closest_key(key, candidates),
        }
    }
}

/// The candidate a mistyped key most likely meant: smallest edit distance (ignoring case, with
/// swapped neighbours counting as one edit), if it is within a quarter of the key's length (at
/// least 2) — far enough for typos, near enough not to suggest unrelated keys.
pub(crate) fn closest_key(key: &str, candidates: &[&'static str]) -> Option<&'static str> {
    let key_lower: Vec<char> = key.to_lowercase().chars().collect();
    let limit = (key_lower.len() / 4).max(2);
    candidates
        .iter()
        .map(|candidate| {
            let lower: Vec<char> = candidate.to_lowercase().chars().collect();
            (edit_distance(&key_lower, &lower), *candidate)
        })
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Optimal-string-alignment distance: insertions, deletions, substitutions and transpositions of
/// adjacent characters each cost one.
fn edit_distance(a: &[char], b: &[char]) -> usize {
    // rows[i][j] = distance between a[..i] and b[..j]; three rows suffice for transpositions.
    let width = b.len() + 1;
    let mut before_previous = vec![0; width];
    let mut previous: Vec<usize> = (0..width).collect();
    let mut current = vec![0; width];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let substitution = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + substitution);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before_previous[j - 2] + 1);
            }
            current[j] = best;
        }
        std::mem::swap(&mut before_previous, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn distance(a: &str, b: &str) -> usize {
        let a: Vec<char> = a.chars().collect();
        let b: Vec<char> = b.chars().collect();
        edit_distance(&a, &b)
    }

    #[test]
    fn edit_distance_counts_typos() {
        assert_eq!(distance("", ""), 0);
        assert_eq!(distance("abc", ""), 3);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("brokerName", "brokerName"), 0);
        assert_eq!(distance("brokerNmae", "brokerName"), 1);
        assert_eq!(distance("brokerNam", "brokerName"), 1);
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn suggestions_are_close_and_case_insensitive() {
        let keys = [
            "brokerName",
            "brokerId",
            "brokerRole",
            "listenPort",
            "haListenPort",
        ];
        assert_eq!(closest_key("brokerNmae", &keys), Some("brokerName"));
        assert_eq!(closest_key("brokername", &keys), Some("brokerName"));
        assert_eq!(closest_key("listenport", &keys), Some("listenPort"));
        assert_eq!(closest_key("haListenPrt", &keys), Some("haListenPort"));
        assert_eq!(closest_key("somethingElse", &keys), None);
        assert_eq!(closest_key("", &keys), None);
    }

    #[test]
    fn messages_name_key_location_and_suggestion() {
        let at = Location::Line {
            file: "broker.conf".into(),
            line: 12,
        };
        let err = ConfigError::unknown_key("brokerNmae", at.clone(), &["brokerName"]);
        assert_eq!(
            err.to_string(),
            "broker.conf:12: unknown key `brokerNmae` (did you mean `brokerName`?)"
        );
        assert_eq!(err.key(), Some("brokerNmae"));

        let err = ConfigError::InvalidValue {
            key: "autoCreateTopicEnable",
            at: Some(at),
            expected: "true or false".into(),
            got: "true # create topics".into(),
        };
        let text = err.to_string();
        assert!(
            text.starts_with(
                "broker.conf:12: invalid value for `autoCreateTopicEnable`: expected true or false, \
                 got `true # create topics` (properties files have no end-of-line comments"
            ),
            "{text}"
        );

        let err = ConfigError::OutOfRange {
            key: "listenPort",
            at: Some(Location::EnvVar("X")),
            allowed: "1..=65535".into(),
            got: "0".into(),
        };
        assert_eq!(
            err.to_string(),
            "environment variable X: `listenPort` is out of range: expected 1..=65535, got 0"
        );
    }

    #[test]
    fn locate_fills_only_missing_locations_and_falls_back_to_the_other_key() {
        let at = |line| Location::Line {
            file: "b.conf".into(),
            line,
        };
        let conflict = ConfigError::Conflict {
            key: "brokerId",
            other: "brokerRole",
            at: None,
            reason: "r".into(),
        };
        let located = conflict.locate(|key| (key == "brokerRole").then(|| at(7)));
        assert_eq!(
            located.to_string(),
            "b.conf:7: `brokerId` conflicts with `brokerRole`: r"
        );

        let already = ConfigError::OutOfRange {
            key: "k",
            at: Some(at(1)),
            allowed: "a".into(),
            got: "b".into(),
        };
        assert!(
            already
                .locate(|_| Some(at(9)))
                .to_string()
                .starts_with("b.conf:1:")
        );

        let missing = ConfigError::MissingRequired {
            key: "storePathRootDir",
            reason: "HOME is not set".into(),
        };
        assert_eq!(
            missing.locate(|_| Some(at(3))).to_string(),
            "missing required `storePathRootDir`: HOME is not set"
        );
    }
}
