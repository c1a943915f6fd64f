//! Charts drawn on the server as SVG: no script, readable at phone width and in print.
//! Geometry lives here, markup in `templates/chart_macros.html`.
//!
//! Shapes are drawn in a box [`WIDTH`] units wide that the page stretches to its width
//! (`preserveAspectRatio="none"`), so x is a fraction of the width: every chart built on the
//! same [`DayAxis`] puts a day in the same column. Vertical units are CSS pixels, so nothing
//! is squashed vertically. Text stays in HTML beside the SVG so it never stretches, and dots
//! are zero-length strokes with `vector-effect="non-scaling-stroke"`, which stay round.

use jiff::civil::{Date, DateTime, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use speciosa_core::instrument::{Band, Instrument};
use speciosa_core::patient::SexAtBirth;

/// The width of every chart's drawing box, in SVG units.
pub const WIDTH: f64 = 1000.0;

/// `3` for 3.0, `4.33` for 4.333….
pub fn number_text(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        let text = format!("{value:.2}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// `Tue 12 May 2026, 07:45 CDT`, in the patient's zone.
pub fn local_time(at: Timestamp, zone: &TimeZone) -> String {
    crate::pages::time::Clock::of_zone(zone).day_time(at)
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

/// The instrument's bands that apply to this patient, lowest first. Bands that depend on sex
/// at birth apply only when it is known.
pub fn bands_for(instrument: &Instrument, sex: Option<SexAtBirth>) -> Vec<&Band> {
    let sexed = instrument.bands.iter().any(|b| b.sex.is_some());
    let mut bands: Vec<&Band> = instrument
        .bands
        .iter()
        .filter(|b| !sexed || (sex.is_some() && b.sex == sex))
        .collect();
    bands.sort_by(|a, b| a.min.total_cmp(&b.min));
    bands
}

/// The lower edges of the bands that apply to this patient, as chart thresholds.
pub fn band_thresholds(instrument: &Instrument, sex: Option<SexAtBirth>) -> Vec<(f64, String)> {
    let mut lines: Vec<(f64, String)> = bands_for(instrument, sex)
        .into_iter()
        .map(|b| (b.min, format!("{} from {}", b.label, number_text(b.min))))
        .collect();
    lines.dedup_by(|a, b| a.0 == b.0);
    lines
}

// ---------------------------------------------------------------------------
// Charts that share one axis of patient-local days (the timeline).

/// One column per patient-local day, `first` to `last` inclusive, across [`WIDTH`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DayAxis {
    first: Date,
    days: usize,
}

/// A labelled day on the shared axis.
#[derive(Clone, Debug, PartialEq)]
pub struct Tick {
    pub date: Date,
    pub text: String,
    /// Where the label's anchor sits, as a percentage of the plot width.
    pub percent: String,
    /// `start`, `middle` or `end`: labels at the edges grow inwards.
    pub align: &'static str,
    /// Left out on a phone, where half the labels fit.
    pub minor: bool,
    /// The x of the day's left edge, for a faint gridline.
    pub x: String,
}

impl DayAxis {
    /// The days from `first` to `last`; `None` when `last` is before `first`.
    pub fn new(first: Date, last: Date) -> Option<DayAxis> {
        let days = first.until(last).ok()?.get_days();
        (days >= 0).then(|| DayAxis {
            first,
            days: days as usize + 1,
        })
    }

    pub fn last(&self) -> Date {
        self.date(self.days - 1)
    }

    pub fn days(&self) -> usize {
        self.days
    }

    /// The date of column `index`.
    pub fn date(&self, index: usize) -> Date {
        self.first
            .checked_add((index as i64).days())
            .unwrap_or(self.first)
    }

    pub fn dates(&self) -> impl Iterator<Item = Date> + '_ {
        (0..self.days).map(|i| self.date(i))
    }

    /// The column of `date`, if it is on the axis.
    pub fn index(&self, date: Date) -> Option<usize> {
        let offset = self.first.until(date).ok()?.get_days();
        (0..self.days as i32)
            .contains(&offset)
            .then_some(offset as usize)
    }

    /// The width of one day's column.
    pub fn column(&self) -> f64 {
        WIDTH / self.days as f64
    }

    pub fn left(&self, index: usize) -> f64 {
        index as f64 * self.column()
    }

    pub fn centre(&self, index: usize) -> f64 {
        (index as f64 + 0.5) * self.column()
    }

    /// Where a local date and time falls: its day's column, in proportion to the time of day.
    pub fn x_at(&self, local: DateTime) -> Option<f64> {
        let index = self.index(local.date())?;
        let time = local.time();
        let hours = f64::from(time.hour())
            + f64::from(time.minute()) / 60.0
            + f64::from(time.second()) / 3600.0;
        Some(self.left(index) + self.column() * hours / 24.0)
    }

    /// [`Self::x_at`] for an instant seen from `zone`.
    pub fn x_of(&self, at: Timestamp, zone: &TimeZone) -> Option<f64> {
        self.x_at(at.to_zoned_datetime(zone.clone()).datetime())
    }

    /// A bar centred in its day's column, `fill` of the column wide: (x, width).
    pub fn bar(&self, index: usize, fill: f64) -> (f64, f64) {
        let width = self.column() * fill.clamp(0.05, 1.0);
        (self.centre(index) - width / 2.0, width)
    }

    /// How many days apart the labels are: at most 8 labels across a desktop.
    fn tick_step(&self) -> usize {
        [1, 2, 7, 14, 28, 56, 91]
            .into_iter()
            .find(|step| self.days.div_ceil(*step) <= 8)
            .unwrap_or(91)
    }

    /// The labelled days: every day or every other for short ranges, otherwise Mondays a
    /// week or more apart. Alternate labels are marked minor, for phones, when more than
    /// three would show.
    pub fn ticks(&self) -> Vec<Tick> {
        let step = self.tick_step();
        let start = if step >= 7 {
            (0..7)
                .find(|i| self.date(*i).weekday() == Weekday::Monday)
                .unwrap_or(0)
        } else {
            0
        };
        let indices: Vec<usize> = (start..self.days).step_by(step).collect();
        // A phone has room for about three dates across a chart.
        let crowded = indices.len() > 3;
        let year_changes = self.first.year() != self.last().year();
        indices
            .iter()
            .enumerate()
            .map(|(n, &index)| {
                let date = self.date(index);
                let percent = self.centre(index) / WIDTH * 100.0;
                // Across new year, the first label and the first of the new year say which.
                let new_year = n > 0 && self.date(indices[n - 1]).year() != date.year();
                let text = if year_changes && (n == 0 || new_year) {
                    date.strftime("%-d %b %Y").to_string()
                } else {
                    date.strftime("%-d %b").to_string()
                };
                Tick {
                    date,
                    text,
                    percent: format!("{percent:.2}"),
                    align: if percent < 6.0 {
                        "start"
                    } else if percent > 94.0 {
                        "end"
                    } else {
                        "middle"
                    },
                    minor: crowded && n % 2 == 1,
                    x: coordinate(self.left(index)),
                }
            })
            .collect()
    }
}

/// A vertical scale: `min` at the bottom of a box `height` units tall, `max` at the top,
/// with room at both ends so that dots at the extremes are not cut.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct YScale {
    pub min: f64,
    pub max: f64,
    pub height: f64,
}

/// Units kept clear at the top and bottom of a chart.
const HEADROOM: f64 = 6.0;

impl YScale {
    pub fn new(min: f64, max: f64, height: f64) -> YScale {
        YScale {
            min,
            max: if max > min { max } else { min + 1.0 },
            height,
        }
    }

    /// Where `value` is drawn; values outside the scale sit at its edge.
    pub fn y(&self, value: f64) -> f64 {
        let fraction = ((value - self.min) / (self.max - self.min)).clamp(0.0, 1.0);
        self.height - HEADROOM - fraction * (self.height - 2.0 * HEADROOM)
    }

    /// Where an HTML label for `value` goes, as a percentage from the top.
    pub fn percent(&self, value: f64) -> String {
        format!("{:.2}", self.y(value) / self.height * 100.0)
    }
}

/// The smallest 1, 2, 2.5 or 5 × 10ⁿ at or above `value`: a round top for a scale.
pub fn nice_ceiling(value: f64) -> f64 {
    if !value.is_finite() || value <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|top| *top >= value * (1.0 - 1e-12))
        .unwrap_or(10.0 * magnitude)
}

/// As [`nice_ceiling`], in finer steps (110 → 120 rather than 200), for a chart whose
/// height is precious.
pub fn fine_ceiling(value: f64) -> f64 {
    if !value.is_finite() || value <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(value.log10().floor());
    [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|top| *top >= value * (1.0 - 1e-12))
        .unwrap_or(10.0 * magnitude)
}

/// The span each band covers on a continuous scale, `scale_min` to `scale_max`. Bands of
/// whole-number scores meet halfway between one band's top and the next one's bottom
/// (12 | 13 meet at 12.5), so every possible score lies inside its own band's shading.
pub fn band_edges(bands: &[(f64, f64)], scale_min: f64, scale_max: f64) -> Vec<(f64, f64)> {
    let lower = |i: usize| -> f64 {
        if i == 0 {
            return scale_min;
        }
        let (previous_max, min) = (bands[i - 1].1, bands[i].0);
        if min > previous_max && min - previous_max <= 1.0 {
            (previous_max + min) / 2.0
        } else {
            min
        }
    };
    (0..bands.len())
        .map(|i| {
            let upper = if i + 1 == bands.len() {
                scale_max
            } else {
                lower(i + 1)
            };
            (lower(i), upper)
        })
        .collect()
}

/// How strongly to shade band `index` of `count`, from 0 (none) to 4.
pub fn band_level(index: usize, count: usize) -> usize {
    if count <= 1 {
        0
    } else {
        ((index as f64 * 4.0) / (count - 1) as f64).round() as usize
    }
}

/// A label beside the plot.
pub struct AxisLabel {
    pub text: String,
    /// From the top, as a percentage of the plot's height.
    pub percent: String,
}

/// A band's shading across the plot.
pub struct Shade {
    pub y: String,
    pub height: String,
    pub level: usize,
    pub label: String,
}

/// A horizontal reference line.
pub struct Rule {
    pub y: String,
    pub class: &'static str,
    pub label: String,
}

/// A bar with its tooltip.
pub struct Bar {
    pub x: String,
    pub y: String,
    pub width: String,
    pub height: String,
    pub class: String,
    pub label: String,
}

/// A dot (round) or square mark with its tooltip and, for alerts, a link.
pub struct Mark {
    pub x: String,
    pub y: String,
    pub class: String,
    pub label: String,
    pub href: Option<String>,
}

pub struct Line {
    pub points: String,
    pub class: &'static str,
}

/// A vertical range (an estimate's low to high) in a day's column.
pub struct Whisker {
    pub x: String,
    pub low: String,
    pub high: String,
    pub label: String,
}

/// An entry of a chart's key: a sample of the mark and what it means.
pub struct Key {
    pub swatch: String,
    pub text: String,
}

/// One table cell; the first of each row is its header.
pub struct Cell {
    pub text: String,
    pub href: Option<String>,
}

impl From<String> for Cell {
    fn from(text: String) -> Cell {
        Cell { text, href: None }
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Cell {
        Cell::from(text.to_owned())
    }
}

/// The chart's values as a table, for screen readers, keyboards and anyone who wants numbers.
#[derive(Default)]
pub struct Table {
    pub caption: String,
    pub head: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

/// How tall a chart is drawn, in SVG units and CSS pixels alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    Strip,
    Medium,
    Tall,
}

impl Size {
    pub fn units(self) -> f64 {
        match self {
            Size::Strip => 56.0,
            Size::Medium => 88.0,
            Size::Tall => 120.0,
        }
    }

    pub fn class(self) -> &'static str {
        match self {
            Size::Strip => "strip",
            Size::Medium => "medium",
            Size::Tall => "tall",
        }
    }
}

/// A chart on the shared day axis: bars, dots, lines, a shaded range and bands, all placed by
/// [`DayAxis`] and [`YScale`] so that charts stacked on one page line up day for day.
pub struct DayChart {
    pub id: String,
    pub title: String,
    /// One sentence for screen readers: what is shown and the gist of it.
    pub description: String,
    pub size: Size,
    pub y_labels: Vec<AxisLabel>,
    pub shades: Vec<Shade>,
    pub grid: Vec<String>,
    pub rules: Vec<Rule>,
    pub areas: Vec<String>,
    pub bars: Vec<Bar>,
    pub lines: Vec<Line>,
    pub whiskers: Vec<Whisker>,
    pub marks: Vec<Mark>,
    pub keys: Vec<Key>,
    /// Sources, cautions and what is missing, shown under the chart.
    pub notes: Vec<String>,
    pub table: Table,
    /// Why nothing is drawn, when nothing is.
    pub empty: Option<String>,
    /// The lanes of a strip chart are links (alerts), so it is a group, not an image.
    pub interactive: bool,
    axis: DayAxis,
    scale: YScale,
}

impl DayChart {
    pub fn new(
        id: &str,
        title: impl Into<String>,
        size: Size,
        axis: DayAxis,
        min: f64,
        max: f64,
    ) -> DayChart {
        let scale = YScale::new(min, max, size.units());
        DayChart {
            id: id.to_owned(),
            title: title.into(),
            description: String::new(),
            size,
            y_labels: Vec::new(),
            shades: Vec::new(),
            grid: axis.ticks().into_iter().map(|t| t.x).collect(),
            rules: Vec::new(),
            areas: Vec::new(),
            bars: Vec::new(),
            lines: Vec::new(),
            whiskers: Vec::new(),
            marks: Vec::new(),
            keys: Vec::new(),
            notes: Vec::new(),
            table: Table::default(),
            empty: None,
            interactive: false,
            axis,
            scale,
        }
    }

    #[cfg(test)]
    fn scale(&self) -> &YScale {
        &self.scale
    }

    /// The view box height.
    pub fn height(&self) -> String {
        number_text(self.size.units())
    }

    /// Labels `values` on the y axis, each followed by `unit`.
    pub fn label_y(&mut self, values: &[f64], unit: &str) {
        self.y_labels = values
            .iter()
            .map(|v| AxisLabel {
                text: format!("{}{unit}", number_text(*v)),
                percent: self.scale.percent(*v),
            })
            .collect();
    }

    /// A label at an arbitrary height (lane names of a strip).
    pub fn label_at(&mut self, value: f64, text: &str) {
        self.y_labels.push(AxisLabel {
            text: text.to_owned(),
            percent: self.scale.percent(value),
        });
    }

    /// A bar from the scale's minimum up to `value` in the day's column.
    pub fn bar(&mut self, index: usize, value: f64, class: &str, label: String) {
        let (x, width) = self.axis.bar(index, 0.72);
        let (top, bottom) = (self.scale.y(value), self.scale.y(self.scale.min));
        self.bars.push(Bar {
            x: coordinate(x),
            y: coordinate(top),
            width: coordinate(width),
            height: coordinate((bottom - top).max(1.0)),
            class: class.to_owned(),
            label,
        });
    }

    /// A block across the whole of a day's column between two values (a lane of a strip).
    pub fn block(&mut self, index: usize, low: f64, high: f64, class: &str, label: String) {
        let (x, width) = self.axis.bar(index, 1.0);
        let (top, bottom) = (self.scale.y(high), self.scale.y(low));
        self.bars.push(Bar {
            x: coordinate(x),
            y: coordinate(top),
            width: coordinate(width),
            height: coordinate((bottom - top).max(1.0)),
            class: class.to_owned(),
            label,
        });
    }

    pub fn mark(&mut self, x: f64, value: f64, class: &str, label: String, href: Option<String>) {
        self.marks.push(Mark {
            x: coordinate(x),
            y: coordinate(self.scale.y(value)),
            class: class.to_owned(),
            label,
            href,
        });
    }

    /// A mark just above a bar of `value` in the day's column, annotating it.
    pub fn mark_over_bar(&mut self, index: usize, value: f64, class: &str, label: String) {
        let y = (self.scale.y(value) - 7.0).max(4.0);
        self.marks.push(Mark {
            x: coordinate(self.axis.centre(index)),
            y: coordinate(y),
            class: class.to_owned(),
            label,
            href: None,
        });
    }

    /// The range `low` to `high` drawn across the middle of a day's column.
    pub fn whisker(&mut self, index: usize, low: f64, high: f64, label: String) {
        self.whiskers.push(Whisker {
            x: coordinate(self.axis.centre(index)),
            low: coordinate(self.scale.y(low)),
            high: coordinate(self.scale.y(high)),
            label,
        });
    }

    /// A line through (x, value) points, oldest first.
    pub fn line(&mut self, points: &[(f64, f64)], class: &'static str) {
        if points.len() > 1 {
            self.lines.push(Line {
                points: self.points(points.iter().copied()),
                class,
            });
        }
    }

    /// The region between two curves given at the same x positions (a percentile band).
    pub fn area(&mut self, points: &[(f64, f64, f64)]) {
        if points.len() > 1 {
            let upper = points.iter().map(|(x, _, high)| (*x, *high));
            let lower = points.iter().rev().map(|(x, low, _)| (*x, *low));
            self.areas.push(self.points(upper.chain(lower)));
        }
    }

    fn points(&self, points: impl Iterator<Item = (f64, f64)>) -> String {
        points
            .map(|(x, v)| format!("{},{}", coordinate(x), coordinate(self.scale.y(v))))
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn rule(&mut self, value: f64, class: &'static str, label: String) {
        self.rules.push(Rule {
            y: coordinate(self.scale.y(value)),
            class,
            label,
        });
    }

    /// Shades each band (min, max, label), lowest first, more strongly as they rise.
    pub fn shade_bands(&mut self, bands: &[(f64, f64, String)]) {
        let spans: Vec<(f64, f64)> = bands.iter().map(|(min, max, _)| (*min, *max)).collect();
        let edges = band_edges(&spans, self.scale.min, self.scale.max);
        self.shades = bands
            .iter()
            .zip(edges)
            .enumerate()
            .map(|(i, ((min, max, label), (low, high)))| {
                let (top, bottom) = (self.scale.y(high), self.scale.y(low));
                // The outermost bands reach the plot's edges, past the headroom.
                let top = if i + 1 == bands.len() { 0.0 } else { top };
                let bottom = if i == 0 { self.scale.height } else { bottom };
                Shade {
                    y: coordinate(top),
                    height: coordinate(bottom - top),
                    level: band_level(i, bands.len()),
                    label: format!("{label}: {}–{}", number_text(*min), number_text(*max)),
                }
            })
            .collect();
    }

    pub fn key(&mut self, swatch: &str, text: impl Into<String>) {
        self.keys.push(Key {
            swatch: swatch.to_owned(),
            text: text.into(),
        });
    }

    pub fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn november() -> DayAxis {
        DayAxis::new(date(2026, 11, 1), date(2026, 11, 30)).unwrap()
    }

    #[test]
    fn a_range_of_dates_has_one_column_per_day_including_both_ends() {
        let axis = november();
        assert_eq!(axis.days(), 30);
        assert_eq!(axis.last(), date(2026, 11, 30));
        assert_eq!(axis.index(date(2026, 11, 1)), Some(0));
        assert_eq!(axis.index(date(2026, 11, 30)), Some(29));
        assert_eq!(axis.index(date(2026, 10, 31)), None);
        assert_eq!(axis.index(date(2026, 12, 1)), None);
        assert!(DayAxis::new(date(2026, 11, 2), date(2026, 11, 1)).is_none());
        assert_eq!(
            DayAxis::new(date(2026, 11, 1), date(2026, 11, 1))
                .unwrap()
                .days(),
            1
        );
    }

    #[test]
    fn the_columns_tile_the_full_width_with_no_padding_at_either_end() {
        let axis = november();
        assert_eq!(axis.left(0), 0.0);
        assert!((axis.left(29) + axis.column() - WIDTH).abs() < 1e-9);
        assert!((axis.centre(0) - axis.column() / 2.0).abs() < 1e-9);
    }

    #[test]
    fn a_time_of_day_is_placed_within_its_days_column_in_proportion() {
        let axis = november();
        let column = axis.column();
        let noon = date(2026, 11, 3).at(12, 0, 0, 0);
        assert!((axis.x_at(noon).unwrap() - (2.5 * column)).abs() < 1e-9);
        let midnight = date(2026, 11, 3).at(0, 0, 0, 0);
        assert!((axis.x_at(midnight).unwrap() - axis.left(2)).abs() < 1e-9);
        assert!(axis.x_at(date(2026, 12, 3).at(1, 0, 0, 0)).is_none());
    }

    #[test]
    fn charts_built_on_one_axis_put_the_same_day_at_the_same_x_whatever_their_height() {
        let axis = november();
        let mut doses = DayChart::new("mg", "MG", Size::Tall, axis, 0.0, 500.0);
        let mut cows = DayChart::new("cows", "COWS", Size::Medium, axis, 0.0, 48.0);
        doses.bar(9, 300.0, "mg", String::new());
        cows.bar(9, 12.0, "score", String::new());
        assert_eq!(doses.bars[0].x, cows.bars[0].x);
        assert_eq!(doses.bars[0].width, cows.bars[0].width);
        let at = date(2026, 11, 10).at(8, 30, 0, 0);
        let x = axis.x_at(at).unwrap();
        doses.mark(x, 1.0, "dot", String::new(), None);
        cows.mark(x, 1.0, "dot", String::new(), None);
        assert_eq!(doses.marks[0].x, cows.marks[0].x);
        assert_eq!(doses.grid, cows.grid);
        // The dot lies inside the bar's day column.
        let left: f64 = doses.bars[0].x.parse().unwrap();
        let width: f64 = doses.bars[0].width.parse().unwrap();
        let dot: f64 = doses.marks[0].x.parse().unwrap();
        assert!(axis.left(9) <= dot && dot <= axis.left(10));
        assert!(axis.left(9) <= left && left + width <= axis.left(10));
    }

    #[test]
    fn a_bar_reaches_from_the_baseline_to_its_value() {
        let axis = november();
        let mut chart = DayChart::new("mg", "MG", Size::Tall, axis, 0.0, 400.0);
        chart.bar(0, 200.0, "mg", String::new());
        let scale = chart.scale();
        let bar = &chart.bars[0];
        let top: f64 = bar.y.parse().unwrap();
        let height: f64 = bar.height.parse().unwrap();
        assert!((top - scale.y(200.0)).abs() < 0.06);
        assert!((top + height - scale.y(0.0)).abs() < 0.06);
    }

    #[test]
    fn an_estimates_range_spans_its_low_to_its_high_in_the_days_column() {
        let axis = november();
        let mut chart = DayChart::new("mg", "MG", Size::Tall, axis, 0.0, 200.0);
        chart.whisker(3, 60.0, 140.0, String::new());
        let w = &chart.whiskers[0];
        let scale = chart.scale();
        assert_eq!(w.x, coordinate(axis.centre(3)));
        assert_eq!(w.low, coordinate(scale.y(60.0)));
        assert_eq!(w.high, coordinate(scale.y(140.0)));
    }

    #[test]
    fn the_scale_puts_its_minimum_at_the_bottom_and_clamps_values_beyond_it() {
        let scale = YScale::new(0.0, 24.0, 120.0);
        assert_eq!(scale.y(0.0), 120.0 - HEADROOM);
        assert_eq!(scale.y(24.0), HEADROOM);
        assert_eq!(scale.y(30.0), HEADROOM);
        assert_eq!(scale.y(-5.0), 120.0 - HEADROOM);
        assert!((scale.y(12.0) - 60.0).abs() < 1e-9);
        assert_eq!(scale.percent(12.0), "50.00");
    }

    #[test]
    fn a_flat_scale_is_widened_rather_than_dividing_by_zero() {
        let scale = YScale::new(5.0, 5.0, 100.0);
        assert!(scale.y(5.0).is_finite());
    }

    #[test]
    fn scale_tops_are_round_numbers_at_or_above_the_largest_value() {
        assert_eq!(nice_ceiling(312.0), 500.0);
        assert_eq!(nice_ceiling(180.0), 200.0);
        assert_eq!(nice_ceiling(200.0), 200.0);
        assert_eq!(nice_ceiling(21.0), 25.0);
        assert_eq!(nice_ceiling(4.1), 5.0);
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(f64::NAN), 1.0);
    }

    #[test]
    fn a_fine_scale_top_leaves_less_empty_space_above_the_largest_value() {
        assert_eq!(fine_ceiling(110.0), 120.0);
        assert_eq!(fine_ceiling(72.0), 80.0);
        assert_eq!(fine_ceiling(130.0), 150.0);
        assert_eq!(fine_ceiling(0.0), 1.0);
    }

    fn cows_bands() -> Vec<(f64, f64)> {
        vec![
            (0.0, 4.0),
            (5.0, 12.0),
            (13.0, 24.0),
            (25.0, 36.0),
            (37.0, 48.0),
        ]
    }

    #[test]
    fn cows_band_shading_meets_halfway_so_12_is_mild_and_13_moderate() {
        let edges = band_edges(&cows_bands(), 0.0, 48.0);
        assert_eq!(
            edges,
            vec![
                (0.0, 4.5),
                (4.5, 12.5),
                (12.5, 24.5),
                (24.5, 36.5),
                (36.5, 48.0)
            ]
        );
        let band_of = |score: f64| {
            edges
                .iter()
                .position(|(lo, hi)| lo <= &score && score < *hi)
        };
        assert_eq!(band_of(4.0), Some(0));
        assert_eq!(band_of(5.0), Some(1));
        assert_eq!(band_of(12.0), Some(1));
        assert_eq!(band_of(13.0), Some(2));
        assert_eq!(band_of(24.0), Some(2));
        assert_eq!(band_of(25.0), Some(3));
        assert_eq!(band_of(36.0), Some(3));
        assert_eq!(band_of(37.0), Some(4));
    }

    #[test]
    fn bands_of_a_mean_score_meet_at_the_published_edge() {
        // Edges more than one point apart, or overlapping, are kept as published.
        let edges = band_edges(&[(0.0, 3.4), (3.5, 10.0)], 0.0, 10.0);
        assert_eq!(edges, vec![(0.0, 3.45), (3.45, 10.0)]);
        let gapped = band_edges(&[(0.0, 2.0), (5.0, 10.0)], 0.0, 10.0);
        assert_eq!(gapped, vec![(0.0, 5.0), (5.0, 10.0)]);
    }

    #[test]
    fn band_shades_cover_the_plot_from_bottom_to_top_without_gaps() {
        let axis = november();
        let mut chart = DayChart::new("cows", "COWS", Size::Medium, axis, 0.0, 48.0);
        let bands: Vec<(f64, f64, String)> = cows_bands()
            .into_iter()
            .map(|(lo, hi)| (lo, hi, format!("{lo}")))
            .collect();
        chart.shade_bands(&bands);
        let spans: Vec<(f64, f64)> = chart
            .shades
            .iter()
            .map(|s| {
                let y: f64 = s.y.parse().unwrap();
                (y, y + s.height.parse::<f64>().unwrap())
            })
            .collect();
        assert_eq!(spans.first().unwrap().1, Size::Medium.units());
        assert_eq!(spans.last().unwrap().0, 0.0);
        for pair in spans.windows(2) {
            assert!((pair[0].0 - pair[1].1).abs() < 0.11, "{spans:?}");
        }
        let levels: Vec<usize> = chart.shades.iter().map(|s| s.level).collect();
        assert_eq!(levels, vec![0, 1, 2, 3, 4]);
        assert_eq!(chart.shades[1].label, "5: 5–12");
    }

    #[test]
    fn shading_grows_with_severity_whatever_the_number_of_bands() {
        assert_eq!(
            (0..4).map(|i| band_level(i, 4)).collect::<Vec<_>>(),
            vec![0, 1, 3, 4]
        );
        assert_eq!(band_level(0, 1), 0);
    }

    #[test]
    fn a_month_is_labelled_on_mondays_and_two_weeks_every_other_day() {
        let ticks = november().ticks();
        assert!(ticks.iter().all(|t| t.date.weekday() == Weekday::Monday));
        assert_eq!(ticks[0].date, date(2026, 11, 2));
        assert_eq!(ticks[0].text, "2 Nov");
        let fortnight = DayAxis::new(date(2026, 11, 1), date(2026, 11, 14))
            .unwrap()
            .ticks();
        assert_eq!(fortnight.len(), 7);
        assert_eq!(fortnight.iter().filter(|t| !t.minor).count(), 4);
        assert_eq!(fortnight[0].align, "start");
    }

    #[test]
    fn no_range_gets_more_than_eight_labels_or_more_than_four_on_a_phone() {
        for days in 1..=366 {
            let first = date(2026, 1, 1);
            let axis = DayAxis::new(first, first.checked_add((days - 1).days()).unwrap()).unwrap();
            let ticks = axis.ticks();
            assert!(
                !ticks.is_empty() && ticks.len() <= 8,
                "{days}: {}",
                ticks.len()
            );
            assert!(ticks.iter().filter(|t| !t.minor).count() <= 4, "{days}");
        }
    }

    #[test]
    fn a_range_across_new_year_names_the_year() {
        let axis = DayAxis::new(date(2026, 12, 20), date(2027, 1, 20)).unwrap();
        let ticks = axis.ticks();
        assert!(ticks[0].text.ends_with("2026"), "{:?}", ticks[0].text);
        assert!(ticks.iter().any(|t| t.text.ends_with("2027")));
    }

    #[test]
    fn a_percentile_band_is_one_closed_outline_upper_then_lower() {
        let axis = november();
        let mut chart = DayChart::new("pk", "PK", Size::Tall, axis, 0.0, 100.0);
        chart.area(&[(0.0, 10.0, 50.0), (10.0, 20.0, 100.0)]);
        let scale = chart.scale();
        let expected = format!(
            "0.0,{:.1} 10.0,{:.1} 10.0,{:.1} 0.0,{:.1}",
            scale.y(50.0),
            scale.y(100.0),
            scale.y(20.0),
            scale.y(10.0)
        );
        assert_eq!(chart.areas[0], expected);
    }
}
