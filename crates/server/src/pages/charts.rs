//! Charts drawn on the server as SVG: no script, readable at phone width and in print.
//! Geometry lives here, markup in `templates/chart_macros.html`.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use speciosa_core::instrument::Instrument;
use speciosa_core::patient::SexAtBirth;

/// `3` for 3.0, `4.33` for 4.333….
pub fn number_text(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        let text = format!("{value:.2}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// `Tue 12 May 2026, 07:45`, in the patient's zone.
pub fn local_time(at: Timestamp, zone: &TimeZone) -> String {
    at.to_zoned_datetime(zone.clone())
        .strftime("%a %-d %b %Y, %H:%M")
        .to_string()
}

/// An SVG coordinate, to a tenth of a unit.
fn coordinate(value: f64) -> String {
    format!("{value:.1}")
}

// ---------------------------------------------------------------------------
// The small line chart of one instrument's results (assessment history, COWS screen).

/// Faint horizontal line at a band's lower edge.
pub struct Threshold {
    pub y: String,
    pub label: String,
}

/// A point with its tooltip.
pub struct Dot {
    pub x: String,
    pub y: String,
    pub label: String,
}

/// A small line chart drawn on the server as SVG (coordinates in a 0–1000 × 0–100 box
/// stretched to the page width; strokes do not scale).
pub struct Chart {
    pub description: String,
    pub points: String,
    pub dots: Vec<Dot>,
    pub thresholds: Vec<Threshold>,
    pub y_max: String,
    pub y_min: String,
    pub x_start: String,
    pub x_end: String,
}

/// Draws `values` (instant, value; oldest first) between `min` and `max`.
pub fn chart(
    title: String,
    unit: &str,
    values: &[(Timestamp, f64)],
    min: f64,
    max: f64,
    thresholds: &[(f64, String)],
    zone: &TimeZone,
) -> Option<Chart> {
    let (first, last) = (values.first()?, values.last()?);
    let span = (last.0.as_second() - first.0.as_second()) as f64;
    let range = (max - min).max(f64::EPSILON);
    let x = |t: Timestamp| {
        if span <= 0.0 {
            500.0
        } else {
            20.0 + 960.0 * (t.as_second() - first.0.as_second()) as f64 / span
        }
    };
    // 4 units of headroom top and bottom so dots at the extremes are not cut.
    let y = |v: f64| 96.0 - 92.0 * ((v - min) / range).clamp(0.0, 1.0);
    let day = |t: Timestamp| {
        t.to_zoned_datetime(zone.clone())
            .strftime("%-d %b %Y")
            .to_string()
    };
    let dots: Vec<Dot> = values
        .iter()
        .map(|(t, v)| Dot {
            x: coordinate(x(*t)),
            y: coordinate(y(*v)),
            label: format!("{}: {}{unit}", local_time(*t, zone), number_text(*v)),
        })
        .collect();
    let points = dots
        .iter()
        .map(|d| format!("{},{}", d.x, d.y))
        .collect::<Vec<_>>()
        .join(" ");
    let latest = number_text(last.1);
    Some(Chart {
        description: format!(
            "{title}: {} {} from {} to {}; latest {latest}{unit}.",
            values.len(),
            if values.len() == 1 {
                "result"
            } else {
                "results"
            },
            day(first.0),
            day(last.0)
        ),
        points,
        dots,
        thresholds: thresholds
            .iter()
            .filter(|(v, _)| *v > min && *v <= max)
            .map(|(v, label)| Threshold {
                y: coordinate(y(*v)),
                label: label.clone(),
            })
            .collect(),
        y_max: format!("{}{unit}", number_text(max)),
        y_min: format!("{}{unit}", number_text(min)),
        x_start: day(first.0),
        x_end: day(last.0),
    })
}

/// The lower edges of the bands that apply to this patient, as chart thresholds.
pub fn band_thresholds(instrument: &Instrument, sex: Option<SexAtBirth>) -> Vec<(f64, String)> {
    let sexed = instrument.bands.iter().any(|b| b.sex.is_some());
    let mut lines: Vec<(f64, String)> = instrument
        .bands
        .iter()
        .filter(|b| !sexed || (sex.is_some() && b.sex == sex))
        .map(|b| (b.min, format!("{} from {}", b.label, number_text(b.min))))
        .collect();
    lines.sort_by(|a, b| a.0.total_cmp(&b.0));
    lines.dedup_by(|a, b| a.0 == b.0);
    lines
}
