//! The one timestamp format of the store: UTC, RFC 3339 with milliseconds,
//! `YYYY-MM-DDTHH:MM:SS.sssZ`. Fixed width, so text order is time order and SQL can
//! compare columns with `strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-7 days')`.

use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset, format_description::FormatItem};

const FORMAT: &[FormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
);

/// Formats `t` as stored: converted to UTC, truncated to milliseconds.
pub fn format(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    // Written digit by digit rather than with `format!` or `t.format(FORMAT)`: two
    // timestamps per log record, on the writer's path, at several times the cost.
    // Years outside 0..=9999 (never a clock reading) fall back to `format!`.
    let year = t.year();
    if !(0..=9999).contains(&year) {
        return format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            year,
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        );
    }
    let mut out = [0u8; 24];
    let mut put = |at: usize, width: usize, mut n: u32| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(0, 4, year.unsigned_abs());
    put(5, 2, u32::from(u8::from(t.month())));
    put(8, 2, u32::from(t.day()));
    put(11, 2, u32::from(t.hour()));
    put(14, 2, u32::from(t.minute()));
    put(17, 2, u32::from(t.second()));
    put(20, 3, u32::from(t.millisecond()));
    for (at, sep) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (23, b'Z'),
    ] {
        out[at] = sep;
    }
    out.iter().map(|&b| char::from(b)).collect()
}

/// Parses a stored timestamp; `None` if it is not in the store's format.
pub fn parse(s: &str) -> Option<OffsetDateTime> {
    PrimitiveDateTime::parse(s, FORMAT)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

/// The current time, as stored.
pub fn now() -> String {
    format(OffsetDateTime::now_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn formats_utc_with_millis_and_round_trips() {
        let t = datetime!(2025-03-04 05:06:07.891234 +02:00);
        let s = format(t);
        assert_eq!(s, "2025-03-04T03:06:07.891Z");
        assert_eq!(parse(&s), Some(datetime!(2025-03-04 03:06:07.891 UTC)));
        assert_eq!(
            format(datetime!(2025-01-01 00:00:00 UTC)),
            "2025-01-01T00:00:00.000Z"
        );
        assert_eq!(parse("2025-01-01 00:00:00"), None);
    }

    #[test]
    fn digit_writer_matches_the_formatting_machinery() {
        let mut t = datetime!(1970-01-01 00:00:00 UTC);
        // ~10k instants from 1970 to ~2200, every field taking many values, offsets too.
        for i in 0..10_000i64 {
            t += time::Duration::milliseconds(719_087_311 + i * 7);
            let local = t.to_offset(time::UtcOffset::from_hms((i % 27 - 13) as i8, 0, 0).unwrap());
            let u = local.to_offset(UtcOffset::UTC);
            let expected = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                u.year(),
                u8::from(u.month()),
                u.day(),
                u.hour(),
                u.minute(),
                u.second(),
                u.millisecond()
            );
            assert_eq!(format(local), expected);
        }
    }

    #[test]
    fn text_order_is_time_order() {
        let a = format(datetime!(2025-01-01 09:59:59.999 UTC));
        let b = format(datetime!(2025-01-01 10:00:00.000 UTC));
        assert!(a < b);
    }
}
