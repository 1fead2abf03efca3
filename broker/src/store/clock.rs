//! Wall-clock helpers: epoch milliseconds, UTC hour and the `yyyyMMddHHmmssSSS` file names of
//! index files, without a date-time dependency.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Civil date (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `yyyyMMddHHmmssSSS` in UTC, the name format of index files.
pub fn file_stamp(millis: i64) -> String {
    let secs = millis.div_euclid(1000);
    let ms = millis.rem_euclid(1000);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    format!(
        "{y:04}{mo:02}{d:02}{:02}{:02}{:02}{ms:03}",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// Hour of day (0–23, UTC) of an epoch-millisecond time. Containers run in UTC; `deleteWhen`
/// hours are therefore UTC hours.
pub fn hour_of_day(millis: i64) -> u8 {
    (millis.div_euclid(1000).rem_euclid(86_400) / 3600) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps() {
        assert_eq!(file_stamp(0), "19700101000000000");
        // 2024-02-29T23:59:58.765Z
        assert_eq!(file_stamp(1_709_251_198_765), "20240229235958765");
        assert_eq!(hour_of_day(1_709_251_198_765), 23);
        assert_eq!(hour_of_day(4 * 3_600_000 + 5), 4);
    }
}
