//! The timeline's summary panel: weekly comparisons, latest scores, flagged products
//! and medications, in the reader's words.

use super::*;
use crate::pages::mg_per_day_text;
use speciosa_core::progress;

/// Headings and sentences in the reader's words: clinical for staff, plain for the patient.
pub(super) struct Words {
    pub(super) for_self: bool,
}

impl Words {
    pub(super) fn new(for_self: bool) -> Words {
        Words { for_self }
    }

    pub(super) fn pick(&self, clinician: &str, patient: &str) -> String {
        if self.for_self { patient } else { clinician }.to_owned()
    }
}

// ---------------------------------------------------------------------------
// The summary.

/// Totals over the 7 days ending `last`, counting days without doses as zero.
#[derive(Debug, PartialEq)]
pub(super) struct Week {
    pub(super) mg_per_day: f64,
    pub(super) hydroxy_per_day: f64,
    pub(super) doses_per_day: f64,
    pub(super) bedtime_days: usize,
    pub(super) estimated: bool,
}

pub(super) fn week_ending(days: &[DailyExposure], last: Date) -> Week {
    let first = last.checked_sub(6.days()).unwrap_or(last);
    let week: Vec<&DailyExposure> = days
        .iter()
        .filter(|d| first <= d.date && d.date <= last)
        .collect();
    let daily: Vec<(Date, f64)> = days.iter().map(|d| (d.date, d.mitragynine_mg)).collect();
    Week {
        mg_per_day: progress::mg_per_day(&daily, last),
        hydroxy_per_day: week.iter().map(|d| d.hydroxymitragynine_mg).sum::<f64>() / 7.0,
        doses_per_day: week.iter().map(|d| f64::from(d.dose_count)).sum::<f64>() / 7.0,
        bedtime_days: week.iter().filter(|d| d.bedtime_dose).count(),
        estimated: week.iter().any(|d| d.includes_estimates),
    }
}

/// `+12 %`, `−8 %`, `no change`; empty when there is nothing to compare with.
pub(super) fn change_text(now: f64, before: f64) -> String {
    if before <= 0.0 {
        return String::new();
    }
    let percent = ((now - before) / before * 100.0).round();
    if percent == 0.0 {
        "no change".into()
    } else if percent > 0.0 {
        format!("+{percent:.0}\u{a0}%")
    } else {
        format!("−{:.0}\u{a0}%", -percent)
    }
}

pub(super) fn mg(value: f64) -> String {
    crate::pages::mg_text(value)
}

pub(super) fn days_ago(days: i64) -> String {
    match days {
        i64::MIN..=0 => "today".into(),
        1 => "yesterday".into(),
        n => format!("{n} days ago"),
    }
}

pub(super) fn summary_stats(
    records: &Records,
    patient: &Patient,
    range: Range,
    today: Date,
    words: &Words,
) -> Vec<Stat> {
    // The day under way is never counted: the same figure as the roster's.
    let last = if range.to >= today {
        progress::last_full_day(today)
    } else {
        range.to
    };
    let now = week_ending(&records.days, last);
    let before = week_ending(&records.days, last.checked_sub(7.days()).unwrap_or(last));
    let change = change_text(now.mg_per_day, before.mg_per_day);
    let window = if range.to >= today {
        "last 7 full days, to yesterday".to_owned()
    } else {
        format!("7 days to {}", short_date(last))
    };
    let mut stats = vec![
        Stat {
            label: words.pick("Mitragynine, daily mean", "Mitragynine"),
            value: mg_per_day_text(now.mg_per_day),
            detail: format!(
                "{window}{}; previous 7 days {}{}",
                if now.estimated {
                    ", includes estimates"
                } else {
                    ""
                },
                mg_per_day_text(before.mg_per_day),
                if change.is_empty() {
                    String::new()
                } else {
                    format!(" ({change})")
                }
            ),
            tone: "",
            href: Some("#doses".into()),
        },
        Stat {
            label: words.pick("7-OH, daily mean", "7-OH"),
            value: mg_per_day_text(now.hydroxy_per_day),
            detail: format!(
                "{window}; previous 7 days {}",
                mg_per_day_text(before.hydroxy_per_day)
            ),
            tone: "",
            href: Some("#hydroxy".into()),
        },
        Stat {
            label: words.pick("Doses per day", "Doses a day"),
            value: format!("{:.1}", now.doses_per_day),
            detail: format!("{window}; bedtime doses on {} of 7 days", now.bedtime_days),
            tone: "",
            href: Some("#dose-times".into()),
        },
    ];
    // A check-in is anything the patient answered themself.
    let last_checkin = records
        .assessments
        .iter()
        .filter(|a| patient.user_id.is_some_and(|u| a.entered_by == u))
        .map(|a| a.completed_at)
        .max();
    let zone = patient.details.time_zone.to_zone();
    stats.push(Stat {
        label: words.pick("Last check-in", "Your last check-in"),
        value: match last_checkin {
            Some(at) => {
                let date = at.to_zoned_datetime(zone.clone()).date();
                days_ago(date.until(today).map(|s| s.get_days()).unwrap_or(0).into())
            }
            None => "never".into(),
        },
        detail: last_checkin
            .map(|at| short_date(at.to_zoned_datetime(zone.clone()).date()))
            .unwrap_or_else(|| {
                if patient.user_id.is_none() {
                    "no patient login".into()
                } else {
                    "no answers yet".into()
                }
            }),
        tone: match last_checkin {
            Some(at)
                if at
                    .to_zoned_datetime(zone.clone())
                    .date()
                    .until(today)
                    .map(|s| s.get_days())
                    .unwrap_or(0)
                    >= 3 =>
            {
                "warning"
            }
            _ => "",
        },
        href: None,
    });
    let open: Vec<&Alert> = records
        .alerts
        .iter()
        .filter(|a| a.status == "open")
        .collect();
    let acknowledged = records
        .alerts
        .iter()
        .filter(|a| a.status == "acknowledged")
        .count();
    let count = |severity: &str| open.iter().filter(|a| a.severity == severity).count();
    let (urgent, warning, info) = (count("urgent"), count("warning"), count("info"));
    stats.push(Stat {
        label: words.pick("Open alerts", "Safety checks"),
        value: if words.for_self {
            if open.is_empty() {
                "none open".into()
            } else {
                format!("{} open", open.len())
            }
        } else {
            open.len().to_string()
        },
        detail: if words.for_self {
            if open.is_empty() {
                "nothing waiting for your care team".into()
            } else {
                "your care team has been notified".into()
            }
        } else {
            let mut parts: Vec<String> = [(urgent, "urgent"), (warning, "warning"), (info, "info")]
                .iter()
                .filter(|(n, _)| *n > 0)
                .map(|(n, s)| format!("{n} {s}"))
                .collect();
            if acknowledged > 0 {
                parts.push(format!("{acknowledged} acknowledged"));
            }
            if parts.is_empty() {
                "none open or acknowledged".into()
            } else {
                parts.join(", ")
            }
        },
        // The patient is told calmly; the care team sees the severity.
        tone: if words.for_self {
            ""
        } else if urgent > 0 {
            "urgent"
        } else if warning > 0 {
            "warning"
        } else {
            ""
        },
        href: Some("#signals".into()),
    });
    // Safety first: the alerts lead the summary.
    stats.rotate_right(1);
    stats
}

/// The latest result of each instrument, as of the end of the range.
pub(super) fn latest_results(
    state: &AppState,
    assessments: &[Assessment],
    end: Timestamp,
    zone: &TimeZone,
) -> Vec<Latest> {
    state
        .app
        .knowledge()
        .instruments
        .all()
        .iter()
        .filter_map(|instrument| {
            let last = assessments
                .iter()
                .filter(|a| a.instrument == instrument.code && a.completed_at < end)
                .max_by_key(|a| a.completed_at)?;
            let (value, band) = if instrument.code == "sleep_diary" {
                let metrics = last.metrics.as_ref()?;
                let efficiency = metrics.get("sleep_efficiency_pct")?.as_f64()?;
                let sleep = metrics.get("total_sleep_time_min")?.as_f64()?;
                (
                    format!("{efficiency:.0} %"),
                    format!("{} h asleep", number_text((sleep / 6.0).round() / 10.0)),
                )
            } else {
                (
                    number_text(last.total?),
                    band_label(instrument, last.band.as_deref()),
                )
            };
            Some(Latest {
                name: instrument.short_name.clone(),
                value,
                band,
                when: last
                    .completed_at
                    .to_zoned_datetime(zone.clone())
                    .strftime("%-d %b")
                    .to_string(),
                href: format!("#{}", section_of(&instrument.code)),
            })
        })
        .collect()
}

/// The chart an instrument is drawn in.
pub(super) fn section_of(code: &str) -> &str {
    match code {
        "pain_nrs" | "peg3" => "pain",
        "sleep_diary" => "sleep",
        "auditc" | "red_flags" => "summary",
        other => other,
    }
}

pub(super) fn band_label(instrument: &Instrument, code: Option<&str>) -> String {
    code.map(|c| {
        instrument
            .bands
            .iter()
            .find(|b| b.code == c)
            .map(|b| b.label.clone())
            .unwrap_or_else(|| humanize(c))
    })
    .unwrap_or_default()
}

/// Every flag of every batch in the dose log: the batch's own flags, with heavy metals judged
/// at the patient's own intake where the product-safety view has done so (last 14 days).
pub(super) fn batch_flag_views(
    state: &AppState,
    products: &BTreeMap<BatchId, (Product, Batch)>,
    safety: Vec<BatchSafetyView>,
) -> BTreeMap<BatchId, Vec<QualityFlagView>> {
    let mut judged: BTreeMap<uuid::Uuid, Vec<QualityFlagView>> =
        safety.into_iter().map(|s| (s.batch_id, s.flags)).collect();
    products
        .iter()
        .map(|(id, (product, batch))| {
            let flags = match judged.remove(&id.as_uuid()) {
                Some(flags) => flags,
                None => speciosa_app::products::batch_flags(&state.app, product, batch)
                    .into_iter()
                    .map(Into::into)
                    .collect(),
            };
            (*id, flags)
        })
        .collect()
}

pub(super) fn severity_rank(severity: &str) -> u8 {
    match severity {
        "urgent" => 3,
        "warning" => 2,
        "info" => 1,
        _ => 0,
    }
}

pub(super) fn worst<'a>(flags: impl IntoIterator<Item = &'a QualityFlagView>) -> &'a str {
    flags
        .into_iter()
        .map(|f| f.severity.as_str())
        .max_by_key(|s| severity_rank(s))
        .unwrap_or("")
}

pub(super) fn product_name(records: &Records, batch: BatchId) -> String {
    records
        .products
        .get(&batch)
        .map(|(p, b)| format!("{} (lot {})", p.details.name, b.lot))
        .unwrap_or_else(|| "a product no longer in the catalogue".into())
}

/// What the patient took in the 7 days ending `last`, most used first.
pub(super) fn products_used(
    records: &Records,
    flags: &BTreeMap<BatchId, Vec<QualityFlagView>>,
    last: Date,
    words: &Words,
) -> Vec<String> {
    let first = last.checked_sub(6.days()).unwrap_or(last);
    let mut days: BTreeMap<BatchId, std::collections::BTreeSet<Date>> = BTreeMap::new();
    for dose in &records.doses {
        let date = dose_local(dose).date();
        if first <= date && date <= last {
            days.entry(dose.batch_id).or_default().insert(date);
        }
    }
    let mut used: Vec<(BatchId, usize)> = days.iter().map(|(b, d)| (*b, d.len())).collect();
    used.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    used.into_iter()
        .map(|(batch, n)| {
            let flagged = flags
                .get(&batch)
                .map(|f| f.iter().filter(|f| severity_rank(&f.severity) >= 2).count())
                .unwrap_or(0);
            format!(
                "{}: {n} of 7 days{}",
                product_name(records, batch),
                match (flagged, words.for_self) {
                    (0, _) => String::new(),
                    (_, true) => " · has a quality warning".into(),
                    (1, false) => " · 1 quality flag".into(),
                    (n, false) => format!(" · {n} quality flags"),
                }
            )
        })
        .collect()
}

/// The current medication list, kept short.
pub(super) fn medication_lines(records: &Records, today: Date) -> (Vec<String>, String) {
    let current: Vec<String> = records
        .medications
        .iter()
        .filter(|m| speciosa_core::medication::is_active_on(m.started_on, m.stopped_on, today))
        .map(|m| {
            let mut line = m.name.clone();
            if let Some(dose) = &m.dose_text {
                line.push_str(&format!(" {dose}"));
            }
            if m.class.is_cns_depressant() {
                line.push_str(" (CNS depressant)");
            }
            line
        })
        .collect();
    (current, String::new())
}
