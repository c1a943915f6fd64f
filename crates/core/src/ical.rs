//! A small iCalendar (RFC 5545) writer for the calendar feeds: CRLF line ends, lines
//! folded at 75 octets, TEXT escaped, and a `VTIMEZONE` generated from the bundled tz
//! database for each zone an event names (§3.6.5 requires one per `TZID`). The
//! `icalendar` crate builds events and alarms but has no `VTIMEZONE`, hence this.
//! Rules quoted in plans-and-therapy.md §7.1.

use std::fmt::Write as _;

use jiff::civil::DateTime;
use jiff::tz::{Offset, TimeZone};
use jiff::{SignedDuration, Timestamp};

/// One event of a feed.
#[derive(Clone, Debug, PartialEq)]
pub struct FeedEvent {
    /// Stable across fetches (`<kind>-<id>@speciosa`), so calendars update in place.
    pub uid: String,
    pub summary: String,
    pub description: String,
    pub location: Option<String>,
    pub start: EventStart,
    pub duration: SignedDuration,
    pub repeat: Option<Repeat>,
    /// Bumped when what the event stands for changes (the plan's version).
    pub sequence: i64,
    /// Where in Speciosa it is shown.
    pub url: String,
    /// How long before the start the calendar reminds, and with what words.
    pub alarm_before: SignedDuration,
    pub alarm_text: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum EventStart {
    /// An instant, written in UTC.
    Utc(Timestamp),
    /// A wall-clock time in the feed's zone (`DTSTART;TZID=…`): daily events keep their
    /// local time across daylight-saving changes.
    Local(DateTime),
}

/// `RRULE:FREQ=DAILY`, until the instant of the last occurrence (UTC, as §3.3.10 requires
/// with a `TZID` start) or forever.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Repeat {
    pub until: Option<Timestamp>,
}

/// A whole feed.
#[derive(Clone, Debug)]
pub struct Feed {
    pub name: String,
    /// The zone `EventStart::Local` times are in, with its IANA name.
    pub zone: Option<(String, TimeZone)>,
    pub events: Vec<FeedEvent>,
    /// When the feed was made (`DTSTAMP`).
    pub stamp: Timestamp,
}

/// Observances are written from a year before the earliest local start to this many
/// years after the feed was made; calendars fetch the feed again long before then.
const ZONE_YEARS_AHEAD: i16 = 3;

impl Feed {
    /// The feed as `text/calendar` content.
    pub fn render(&self) -> String {
        let mut w = Writer::default();
        w.raw("BEGIN", "VCALENDAR");
        w.raw("VERSION", "2.0");
        w.raw("PRODID", "-//Speciosa//Calendar feed//EN");
        w.raw("CALSCALE", "GREGORIAN");
        w.raw("METHOD", "PUBLISH");
        w.text("X-WR-CALNAME", &self.name);
        // RFC 7986 and its older spelling: how often a subscriber should fetch again.
        w.raw("REFRESH-INTERVAL;VALUE=DURATION", "PT1H");
        w.raw("X-PUBLISHED-TTL", "PT1H");
        let local_starts: Vec<DateTime> = self
            .events
            .iter()
            .filter_map(|e| match e.start {
                EventStart::Local(at) => Some(at),
                EventStart::Utc(_) => None,
            })
            .collect();
        if let (Some((name, zone)), Some(earliest)) = (&self.zone, local_starts.iter().min()) {
            w.raw("X-WR-TIMEZONE", name);
            let from = earliest
                .date()
                .first_of_year()
                .saturating_sub(jiff::Span::new().years(1))
                .to_zoned_datetime(zone.clone())
                .map(|z| z.timestamp())
                .unwrap_or(self.stamp);
            let to_year = self
                .stamp
                .to_zoned_datetime(zone.clone())
                .year()
                .saturating_add(ZONE_YEARS_AHEAD);
            let to = jiff::civil::date(to_year, 12, 31)
                .to_zoned_datetime(zone.clone())
                .map(|z| z.timestamp())
                .unwrap_or(self.stamp);
            write_vtimezone(&mut w, name, zone, from, to);
        }
        for event in &self.events {
            self.write_event(&mut w, event);
        }
        w.raw("END", "VCALENDAR");
        w.out
    }

    fn write_event(&self, w: &mut Writer, event: &FeedEvent) {
        w.raw("BEGIN", "VEVENT");
        w.raw("UID", &event.uid);
        w.raw("DTSTAMP", &utc(self.stamp));
        match (&event.start, &self.zone) {
            (EventStart::Local(at), Some((name, _))) => {
                w.raw(&format!("DTSTART;TZID={name}"), &local(*at));
            }
            // Without a zone a local time would float; never written (see `render`).
            (EventStart::Local(at), None) => w.raw("DTSTART", &local(*at)),
            (EventStart::Utc(at), _) => w.raw("DTSTART", &utc(*at)),
        }
        w.raw("DURATION", &duration(event.duration));
        if let Some(repeat) = event.repeat {
            let rule = match repeat.until {
                Some(until) => format!("FREQ=DAILY;UNTIL={}", utc(until)),
                None => "FREQ=DAILY".to_owned(),
            };
            w.raw("RRULE", &rule);
        }
        w.raw("SEQUENCE", &event.sequence.max(0).to_string());
        w.text("SUMMARY", &event.summary);
        w.text("DESCRIPTION", &event.description);
        if let Some(location) = &event.location {
            w.text("LOCATION", location);
        }
        w.raw("URL", &event.url);
        w.raw("STATUS", "CONFIRMED");
        w.raw("TRANSP", "TRANSPARENT");
        w.raw("BEGIN", "VALARM");
        w.raw("ACTION", "DISPLAY");
        w.text("DESCRIPTION", &event.alarm_text);
        w.raw("TRIGGER", &format!("-{}", duration(event.alarm_before)));
        w.raw("END", "VALARM");
        w.raw("END", "VEVENT");
    }
}

/// Content lines, each folded and ended with CRLF.
#[derive(Default)]
struct Writer {
    out: String,
}

impl Writer {
    /// A property whose value is written as given (dates, numbers, URIs, codes).
    fn raw(&mut self, name: &str, value: &str) {
        fold_into(&mut self.out, &format!("{name}:{value}"));
    }

    /// A TEXT property, escaped (§3.3.11).
    fn text(&mut self, name: &str, value: &str) {
        self.raw(name, &escape_text(value));
    }
}

/// Escapes backslash, semicolon, comma and line breaks in a TEXT value (§3.3.11).
pub fn escape_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends `line` folded so no line exceeds 75 octets (§3.1), never splitting a UTF-8
/// character; continuation lines begin with one space.
fn fold_into(out: &mut String, line: &str) {
    let mut width = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    out.push_str("\r\n");
}

fn utc(at: Timestamp) -> String {
    at.strftime("%Y%m%dT%H%M%SZ").to_string()
}

fn local(at: DateTime) -> String {
    at.strftime("%Y%m%dT%H%M%S").to_string()
}

/// A positive duration as `PT…` (§3.3.6), to the second.
fn duration(d: SignedDuration) -> String {
    let total = d.as_secs().max(0);
    let (h, m, s) = (total / 3600, total % 3600 / 60, total % 60);
    let mut out = String::from("PT");
    if h > 0 {
        let _ = write!(out, "{h}H");
    }
    if m > 0 {
        let _ = write!(out, "{m}M");
    }
    if s > 0 || total == 0 {
        let _ = write!(out, "{s}S");
    }
    out
}

fn utc_offset(offset: Offset) -> String {
    let seconds = offset.seconds();
    let sign = if seconds < 0 { '-' } else { '+' };
    let abs = seconds.unsigned_abs();
    let (h, m, s) = (abs / 3600, abs % 3600 / 60, abs % 60);
    if s == 0 {
        format!("{sign}{h:02}{m:02}")
    } else {
        format!("{sign}{h:02}{m:02}{s:02}")
    }
}

/// A `VTIMEZONE` with one observance per transition between `from` and `to`, plus the
/// observance in force at `from`. Each observance starts at the transition's local time
/// before it (§3.6.5: `DTSTART` in the offset being left).
fn write_vtimezone(w: &mut Writer, name: &str, zone: &TimeZone, from: Timestamp, to: Timestamp) {
    w.raw("BEGIN", "VTIMEZONE");
    w.raw("TZID", name);
    let current = zone.to_offset_info(from);
    let (start, offset_before) = match zone.preceding(from).next() {
        Some(previous) => {
            let before = zone.to_offset(previous.timestamp() - SignedDuration::from_secs(1));
            (before.to_datetime(previous.timestamp()), before)
        }
        None => (
            jiff::civil::date(1970, 1, 1).at(0, 0, 0, 0),
            current.offset(),
        ),
    };
    observance(
        w,
        current.dst().is_dst(),
        start,
        offset_before,
        current.offset(),
        current.abbreviation(),
    );
    let mut previous = current.offset();
    for transition in zone.following(from) {
        if transition.timestamp() > to {
            break;
        }
        observance(
            w,
            transition.dst().is_dst(),
            previous.to_datetime(transition.timestamp()),
            previous,
            transition.offset(),
            transition.abbreviation(),
        );
        previous = transition.offset();
    }
    w.raw("END", "VTIMEZONE");
}

fn observance(
    w: &mut Writer,
    daylight: bool,
    start: DateTime,
    from: Offset,
    to: Offset,
    abbreviation: &str,
) {
    let kind = if daylight { "DAYLIGHT" } else { "STANDARD" };
    w.raw("BEGIN", kind);
    w.raw("DTSTART", &local(start));
    w.raw("TZOFFSETFROM", &utc_offset(from));
    w.raw("TZOFFSETTO", &utc_offset(to));
    if !abbreviation.is_empty() {
        w.text("TZNAME", abbreviation);
    }
    w.raw("END", kind);
}

/// Initials for a name that leaves the protected system ("Dana Reyes" → "D. R.").
pub fn initials(name: &str) -> String {
    name.split_whitespace()
        .filter_map(|part| part.chars().find(|c| c.is_alphabetic()))
        .flat_map(char::to_uppercase)
        .map(|c| format!("{c}."))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp() -> Timestamp {
        "2026-12-02T12:00:00Z".parse().unwrap()
    }

    fn event(start: EventStart, repeat: Option<Repeat>) -> FeedEvent {
        FeedEvent {
            uid: "checkin-1@speciosa".into(),
            summary: "Daily check-in".into(),
            description: "How are you today? Fill in your check-in, please; it takes a minute."
                .into(),
            location: None,
            start,
            duration: SignedDuration::from_mins(10),
            repeat,
            sequence: 0,
            url: "https://clinic.example/home".into(),
            alarm_before: SignedDuration::from_mins(15),
            alarm_text: "Check-in".into(),
        }
    }

    fn new_york_feed() -> String {
        Feed {
            name: "Speciosa".into(),
            zone: Some((
                "America/New_York".into(),
                TimeZone::get("America/New_York").unwrap(),
            )),
            events: vec![event(
                EventStart::Local(jiff::civil::date(2026, 12, 2).at(9, 0, 0, 0)),
                Some(Repeat { until: None }),
            )],
            stamp: stamp(),
        }
        .render()
    }

    #[test]
    fn every_line_ends_in_crlf_and_fits_75_octets() {
        let mut long = String::new();
        fold_into(&mut long, &format!("DESCRIPTION:{}", "é".repeat(80)));
        for line in long.split_terminator("\r\n") {
            assert!(line.len() <= 75, "{} octets: {line}", line.len());
        }
        let unfolded = long.replace("\r\n ", "");
        assert_eq!(unfolded, format!("DESCRIPTION:{}\r\n", "é".repeat(80)));
        let feed = new_york_feed();
        assert!(feed.ends_with("END:VCALENDAR\r\n"));
        assert!(!feed.replace("\r\n", "").contains('\n'));
    }

    #[test]
    fn text_values_escape_commas_semicolons_backslashes_and_newlines() {
        assert_eq!(escape_text("a,b;c\\d\ne"), "a\\,b\\;c\\\\d\\ne");
    }

    #[test]
    fn a_daily_event_in_a_zone_carries_its_tzid_and_a_vtimezone_with_both_changes() {
        let feed = new_york_feed();
        assert!(feed.contains("DTSTART;TZID=America/New_York:20261202T090000\r\n"));
        assert!(feed.contains("RRULE:FREQ=DAILY\r\n"));
        assert!(feed.contains("BEGIN:VTIMEZONE\r\nTZID:America/New_York\r\n"));
        // The spring change of 2027: 02:00 EST becomes 03:00 EDT.
        assert!(feed.contains(
            "BEGIN:DAYLIGHT\r\nDTSTART:20270314T020000\r\nTZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\nTZNAME:EDT\r\n"
        ));
        assert!(feed.contains(
            "BEGIN:STANDARD\r\nDTSTART:20271107T020000\r\nTZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nTZNAME:EST\r\n"
        ));
        assert!(feed.contains("TRIGGER:-PT15M\r\n"));
    }

    #[test]
    fn a_zone_without_changes_has_one_standard_observance() {
        let feed = Feed {
            name: "Speciosa".into(),
            zone: Some(("Asia/Tokyo".into(), TimeZone::get("Asia/Tokyo").unwrap())),
            events: vec![event(
                EventStart::Local(jiff::civil::date(2026, 12, 2).at(9, 0, 0, 0)),
                Some(Repeat { until: None }),
            )],
            stamp: stamp(),
        }
        .render();
        assert_eq!(feed.matches("BEGIN:STANDARD").count(), 1);
        assert!(feed.contains("TZOFFSETTO:+0900"));
        assert!(!feed.contains("BEGIN:DAYLIGHT"));
    }

    #[test]
    fn an_until_is_written_in_utc() {
        let until: Timestamp = "2027-01-05T14:00:00Z".parse().unwrap();
        let feed = Feed {
            name: "Speciosa".into(),
            zone: None,
            events: vec![event(
                EventStart::Utc(stamp()),
                Some(Repeat { until: Some(until) }),
            )],
            stamp: stamp(),
        }
        .render();
        assert!(feed.contains("RRULE:FREQ=DAILY;UNTIL=20270105T140000Z\r\n"));
        assert!(!feed.contains("VTIMEZONE"));
    }

    #[test]
    fn durations_are_written_in_hours_minutes_and_seconds() {
        assert_eq!(duration(SignedDuration::from_mins(90)), "PT1H30M");
        assert_eq!(duration(SignedDuration::from_mins(15)), "PT15M");
        assert_eq!(duration(SignedDuration::ZERO), "PT0S");
    }

    #[test]
    fn initials_keep_one_letter_per_name() {
        assert_eq!(initials("Dana Reyes"), "D. R.");
        assert_eq!(initials("  émile  de la Cruz "), "É. D. L. C.");
    }
}
