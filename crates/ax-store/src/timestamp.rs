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
    // Hand-rolled rather than `t.format(FORMAT)`: infallible and allocation-light on the
    // log writer's path.
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
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
    fn text_order_is_time_order() {
        let a = format(datetime!(2025-01-01 09:59:59.999 UTC));
        let b = format(datetime!(2025-01-01 10:00:00.000 UTC));
        assert!(a < b);
    }
}
