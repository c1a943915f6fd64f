//! Column types shared by both backends. SQLite keeps times as fixed-width UTC
//! text (so they sort and compare as text); PostgreSQL uses its native types.

use jiff::Timestamp;
use jiff::civil::Date;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgTypeInfo, PgValueFormat, PgValueRef};
use sqlx::sqlite::{SqliteTypeInfo, SqliteValueRef};
use sqlx::{Database, Decode, Encode, Postgres, Sqlite, Type};

/// An instant, stored to the microsecond (the precision PostgreSQL keeps).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DbTime(pub Timestamp);

/// A calendar date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DbDate(pub Date);

impl DbTime {
    pub fn now() -> Self {
        Self(speciosa_core::audit::truncate_to_microseconds(
            Timestamp::now(),
        ))
    }

    fn to_text(self) -> String {
        self.0.strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string()
    }
}

impl From<Timestamp> for DbTime {
    fn from(at: Timestamp) -> Self {
        Self(speciosa_core::audit::truncate_to_microseconds(at))
    }
}

impl Type<Sqlite> for DbTime {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty)
    }
}

impl Encode<'_, Sqlite> for DbTime {
    fn encode_by_ref(
        &self,
        buf: &mut <Sqlite as Database>::ArgumentBuffer,
    ) -> Result<IsNull, BoxDynError> {
        // Never write what cannot be read back: the text form holds four-digit years only.
        let year = self.0.to_zoned_datetime(jiff::tz::TimeZone::UTC).year();
        if !(0..=9999).contains(&year) {
            return Err(format!("year {year} does not fit the stored time format").into());
        }
        <String as Encode<Sqlite>>::encode(self.to_text(), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for DbTime {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<Sqlite>>::decode(value)?;
        Ok(Self(text.parse()?))
    }
}

impl Type<Postgres> for DbTime {
    fn type_info() -> PgTypeInfo {
        <chrono::DateTime<chrono::Utc> as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for DbTime {
    fn encode_by_ref(
        &self,
        buf: &mut <Postgres as Database>::ArgumentBuffer,
    ) -> Result<IsNull, BoxDynError> {
        let micros = self.0.as_microsecond();
        let at = chrono::DateTime::<chrono::Utc>::from_timestamp_micros(micros)
            .ok_or("timestamp out of PostgreSQL's range")?;
        <chrono::DateTime<chrono::Utc> as Encode<Postgres>>::encode(at, buf)
    }
}

/// PostgreSQL's binary times count from 2000-01-01T00:00:00Z.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
const PG_EPOCH_DAYS: i32 = 10_957;

impl<'r> Decode<'r, Postgres> for DbTime {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        // Read the binary form ourselves: the chrono decoder panics on `infinity` and on
        // values beyond its range, and a panic here would take down every reader.
        if value.format() == PgValueFormat::Binary {
            let micros = <i64 as Decode<Postgres>>::decode(value)?;
            let unix = micros
                .checked_add(PG_EPOCH_MICROS)
                .ok_or("timestamp out of range")?;
            return Ok(Self(Timestamp::from_microsecond(unix)?));
        }
        let at = <chrono::DateTime<chrono::Utc> as Decode<Postgres>>::decode(value)?;
        Ok(Self(Timestamp::from_microsecond(at.timestamp_micros())?))
    }
}

impl Type<Sqlite> for DbDate {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty)
    }
}

impl Encode<'_, Sqlite> for DbDate {
    fn encode_by_ref(
        &self,
        buf: &mut <Sqlite as Database>::ArgumentBuffer,
    ) -> Result<IsNull, BoxDynError> {
        <String as Encode<Sqlite>>::encode(self.0.to_string(), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for DbDate {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<Sqlite>>::decode(value)?;
        Ok(Self(text.parse()?))
    }
}

impl Type<Postgres> for DbDate {
    fn type_info() -> PgTypeInfo {
        <chrono::NaiveDate as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for DbDate {
    fn encode_by_ref(
        &self,
        buf: &mut <Postgres as Database>::ArgumentBuffer,
    ) -> Result<IsNull, BoxDynError> {
        let date = chrono::NaiveDate::from_ymd_opt(
            self.0.year().into(),
            self.0.month().try_into()?,
            self.0.day().try_into()?,
        )
        .ok_or("date out of range")?;
        <chrono::NaiveDate as Encode<Postgres>>::encode(date, buf)
    }
}

impl<'r> Decode<'r, Postgres> for DbDate {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        use chrono::Datelike;
        if value.format() == PgValueFormat::Binary {
            let days = <i32 as Decode<Postgres>>::decode(value)?;
            let unix_days = days.checked_add(PG_EPOCH_DAYS).ok_or("date out of range")?;
            let date = jiff::civil::date(1970, 1, 1)
                .checked_add(jiff::Span::new().try_days(unix_days)?)?;
            return Ok(Self(date));
        }
        let date = <chrono::NaiveDate as Decode<Postgres>>::decode(value)?;
        Ok(Self(Date::new(
            i16::try_from(date.year())?,
            i8::try_from(date.month())?,
            i8::try_from(date.day())?,
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_as_text_that_reads_back() {
        let at: Timestamp = "2026-11-24T18:00:00.123456Z".parse().unwrap();
        let text = DbTime(at).to_text();
        assert_eq!(text, "2026-11-24T18:00:00.123456Z");
        assert_eq!(text.parse::<Timestamp>().unwrap(), at);
    }

    #[test]
    fn a_time_whose_text_could_not_be_read_back_is_not_written() {
        let at: Timestamp = "-009999-01-02T02:00:00Z".parse().unwrap();
        assert!(DbTime(at).to_text().parse::<Timestamp>().is_err());
        let mut buf = <Sqlite as Database>::ArgumentBuffer::default();
        assert!(<DbTime as Encode<Sqlite>>::encode_by_ref(&DbTime(at), &mut buf).is_err());
    }
}
