//! The value syntaxes RocketMQ's keys use — Java `int`/`long`/`boolean`, millisecond counts,
//! `deleteWhen` hour lists, `messageDelayLevel` duration lists — parsed strictly and written
//! back in the form RocketMQ reads. Parsers return `Err(expected)`: what a valid value looks
//! like, for [`ConfigError::InvalidValue`](super::ConfigError::InvalidValue).

use std::time::Duration;

/// `Err` holds the description of what was expected.
pub(crate) type Parsed<T> = Result<T, String>;

/// Largest Java `int`: RocketMQ's `int` keys cannot hold more, so neither do ours.
pub(crate) const JAVA_INT_MAX: u32 = i32::MAX as u32;
/// Largest Java `long`.
const JAVA_LONG_MAX: u64 = i64::MAX as u64;

/// `true` or `false`, any case. Stricter than Java's `Boolean.parseBoolean`, which turns every
/// other text (including `yes` or `true # comment`) into `false` without a word.
pub(crate) fn boolean(text: &str) -> Parsed<bool> {
    if text.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if text.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err("true or false".into())
    }
}

/// A non-negative Java `int`.
pub(crate) fn int(text: &str) -> Parsed<u32> {
    text.parse::<u32>()
        .ok()
        .filter(|n| *n <= JAVA_INT_MAX)
        .ok_or_else(|| format!("a whole number from 0 to {JAVA_INT_MAX}"))
}

/// A non-negative Java `long`.
pub(crate) fn long(text: &str) -> Parsed<u64> {
    text.parse::<u64>()
        .ok()
        .filter(|n| *n <= JAVA_LONG_MAX)
        .ok_or_else(|| format!("a whole number from 0 to {JAVA_LONG_MAX}"))
}

/// A TCP port (0 parses; range checks reject it with a clearer message).
pub(crate) fn port(text: &str) -> Parsed<u16> {
    text.parse::<u16>()
        .map_err(|_| "a port number from 1 to 65535".into())
}

/// A duration written as whole milliseconds, as all of RocketMQ's `*Interval`, `*Timeout` and
/// `*Mills` keys are.
pub(crate) fn millis(text: &str) -> Parsed<Duration> {
    long(text)
        .map(Duration::from_millis)
        .map_err(|_| "milliseconds as a whole number".into())
}

/// Wraps `parse` so that an empty value means unset, as RocketMQ writes unset optional keys
/// (`storePathCommitLog=`, `brokerIP1=`).
pub(crate) fn optional<T>(parse: impl FnOnce(&str) -> Parsed<T>) -> impl FnOnce(&str) -> Parsed<Option<T>> {
    move |text| {
        if text.is_empty() {
            Ok(None)
        } else {
            parse(text).map(Some)
        }
    }
}

/// A path as written to a file (lossy only for non-UTF-8 paths, which text cannot carry).
pub(crate) fn path_text(path: &std::path::Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Writes a duration as whole milliseconds.
pub(crate) fn format_millis(duration: Duration) -> String {
    duration.as_millis().to_string()
}

/// `deleteWhen`: hours of the day separated by `;` (`04`, `03;15`). Empty entries (a trailing
/// `;`) are skipped; at least one hour is required, since with none RocketMQ's cleaner fails on
/// every pass. Hours above 23 parse and are rejected by the range check.
pub(crate) fn hour_list(text: &str) -> Parsed<Vec<u8>> {
    let expected = || "hours of the day separated by `;`, like `04` or `03;15`".to_owned();
    let hours = text
        .split(';')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry
                .bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| entry.parse::<u8>().ok())
                .flatten()
                .ok_or_else(expected)
        })
        .collect::<Result<Vec<_>, _>>()?;
    if hours.is_empty() {
        return Err(expected());
    }
    Ok(hours)
}

/// Writes hours as RocketMQ's default spells them: two digits, `;`-separated.
pub(crate) fn format_hour_list(hours: &[u8]) -> String {
    hours
        .iter()
        .map(|h| format!("{h:02}"))
        .collect::<Vec<_>>()
        .join(";")
}

/// Delay-level units and their length in seconds, largest first (the writer picks the largest
/// unit that divides a level exactly, so `3600s` is written back as `1h`).
const DELAY_UNITS: [(char, u64); 4] = [('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)];

/// `messageDelayLevel`: whitespace-separated durations, each a positive whole number followed by
/// `s`, `m`, `h` or `d` — the units RocketMQ's schedule service knows.
pub(crate) fn delay_levels(text: &str) -> Parsed<Vec<Duration>> {
    let expected = |detail: String| {
        format!("durations separated by spaces, like `1s 5m 2h`, each with unit s, m, h or d ({detail})")
    };
    let levels = text
        .split_whitespace()
        .map(|level| {
            let unit_char = level.chars().last().unwrap_or(' ');
            let unit = DELAY_UNITS.iter().find(|(c, _)| *c == unit_char).map(|(_, s)| *s);
            let Some(seconds_per_unit) = unit else {
                return Err(expected(format!("`{level}` has no known unit")));
            };
            let count = &level[..level.len() - unit_char.len_utf8()];
            count
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .and_then(|n| n.checked_mul(seconds_per_unit))
                .map(Duration::from_secs)
                .ok_or_else(|| expected(format!("`{level}` needs a positive whole number")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if levels.is_empty() {
        return Err(expected("there are none".into()));
    }
    Ok(levels)
}

/// Writes delay levels in the largest exact unit each (`1s 5s … 1h 2h`).
pub(crate) fn format_delay_levels(levels: &[Duration]) -> String {
    levels
        .iter()
        .map(|level| {
            let secs = level.as_secs();
            let (unit, size) = DELAY_UNITS
                .iter()
                .copied()
                .find(|(_, size)| secs > 0 && secs % size == 0)
                .unwrap_or(('s', 1));
            format!("{}{unit}", secs / size)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_are_strict_but_case_insensitive() {
        assert_eq!(boolean("true"), Ok(true));
        assert_eq!(boolean("TRUE"), Ok(true));
        assert_eq!(boolean("False"), Ok(false));
        assert_eq!(boolean("yes"), Err("true or false".to_owned()));
        assert!(boolean("true # comment").is_err());
        assert!(boolean("").is_err());
    }

    #[test]
    fn ints_and_longs_follow_java_ranges_without_negatives() {
        assert_eq!(int("0"), Ok(0));
        assert_eq!(int("2147483647"), Ok(JAVA_INT_MAX));
        assert!(int("2147483648").unwrap_err().contains("0 to 2147483647"));
        assert!(int("-1").is_err());
        assert!(int("1.5").is_err());
        assert!(int("").is_err());
        assert_eq!(long("9223372036854775807"), Ok(JAVA_LONG_MAX));
        assert!(long("9223372036854775808").is_err());
        assert_eq!(port("10911"), Ok(10911));
        assert!(port("65536").is_err());
        assert_eq!(millis("500"), Ok(Duration::from_millis(500)));
        assert_eq!(millis("5s"), Err("milliseconds as a whole number".to_owned()));
        assert_eq!(format_millis(Duration::from_millis(30_000)), "30000");
        assert_eq!(optional(port)(""), Ok(None));
        assert_eq!(optional(port)("80"), Ok(Some(80)));
        assert!(optional(port)("x").is_err());
    }

    #[test]
    fn hour_lists_parse_and_format() {
        assert_eq!(hour_list("04"), Ok(vec![4]));
        assert_eq!(hour_list("03; 15;"), Ok(vec![3, 15]));
        assert_eq!(hour_list("99"), Ok(vec![99]));
        for bad in ["", ";", "4am", "-1", "+4", "1000"] {
            assert!(hour_list(bad).unwrap_err().contains("separated by `;`"), "{bad}");
        }
        assert_eq!(format_hour_list(&[4]), "04");
        assert_eq!(format_hour_list(&[3, 15]), "03;15");
    }

    #[test]
    fn delay_levels_parse_units_and_format_back() {
        let reference = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h";
        let levels = delay_levels(reference).unwrap();
        assert_eq!(levels.len(), 18);
        assert_eq!(levels[0], Duration::from_secs(1));
        assert_eq!(levels[4], Duration::from_secs(60));
        assert_eq!(levels[17], Duration::from_secs(7200));
        assert_eq!(format_delay_levels(&levels), reference);
        assert_eq!(delay_levels("1d  90s\t3600s").unwrap().len(), 3);
        assert_eq!(
            format_delay_levels(&delay_levels("1d 90s 3600s").unwrap()),
            "1d 90s 1h"
        );
    }

    #[test]
    fn delay_levels_reject_unknown_units_and_non_positive_counts() {
        let err = delay_levels("1s 5x").unwrap_err();
        assert!(err.contains("`5x` has no known unit"), "{err}");
        assert!(err.contains("unit s, m, h or d"), "{err}");
        assert!(delay_levels("0s").unwrap_err().contains("`0s` needs a positive"));
        assert!(delay_levels("s").unwrap_err().contains("`s` needs a positive"));
        assert!(delay_levels("1.5m").is_err());
        assert!(delay_levels("1ms").is_err());
        assert!(delay_levels("  ").unwrap_err().contains("there are none"));
    }
}
