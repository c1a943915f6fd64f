//! The timeline's charts, one function per section, all on the shared day axis.

use super::*;

/// The dose's local date and time, in the zone it was taken in.
pub(super) fn dose_local(dose: &Dose) -> DateTime {
    dose_clock(dose).at(dose.taken_at).datetime()
}

/// The zone a dose was taken in (its own when travelling).
pub(super) fn dose_clock(dose: &Dose) -> Clock {
    Clock::named(&dose.time_zone)
}

pub(super) fn day_label(date: Date) -> String {
    date.strftime("%a %-d %b %Y").to_string()
}

pub(super) fn mg_section(
    records: &Records,
    axis: DayAxis,
    state: &AppState,
    patient: &Patient,
    words: &Words,
) -> Section {
    let days: Vec<&DailyExposure> = records
        .days
        .iter()
        .filter(|d| axis.index(d.date).is_some())
        .collect();
    let ranges = estimate_ranges(&records.doses);
    let top = nice_ceiling(
        days.iter()
            .map(|d| d.mitragynine_mg)
            .chain(ranges.values().map(|(_, high)| *high))
            .chain([super::plan::highest_target(&records.plan_days)])
            .fold(0.0, f64::max)
            // Room above the tallest bar for its bedtime mark.
            * 1.1,
    );
    let mut chart = DayChart::new(
        "doses",
        words.pick(
            "Mitragynine (MG), mg per day",
            "How much mitragynine you took each day (mg)",
        ),
        Size::Tall,
        axis,
        0.0,
        top,
    );
    chart.label_y(&[0.0, top / 2.0, top], "");
    let mut rows = Vec::new();
    for day in &days {
        let Some(index) = axis.index(day.date) else {
            continue;
        };
        let range = ranges.get(&day.date).filter(|_| day.includes_estimates);
        let mut label = exposure_label(day);
        if let Some((low, high)) = range {
            label.push_str(&format!(", range {}–{} mg", mg(*low), mg(*high)));
        }
        if day.mitragynine_mg > 0.0 {
            let class = if day.includes_estimates {
                "mg est"
            } else {
                "mg"
            };
            chart.bar(index, day.mitragynine_mg, class, label.clone());
        }
        if let Some((low, high)) = range {
            chart.whisker(index, *low, *high, label.clone());
        }
        if day.bedtime_dose {
            chart.mark_over_bar(index, day.mitragynine_mg, "bedtime", label.clone());
        }
        if day.includes_unknown {
            chart.mark(
                axis.centre(index),
                0.0,
                "unknown",
                format!(
                    "{}: some doses' milligrams are unknown",
                    day_label(day.date)
                ),
                None,
            );
        }
        rows.push(vec![
            Cell::from(day_label(day.date)),
            Cell::from(mg(day.mitragynine_mg)),
            Cell::from(mg(day.hydroxymitragynine_mg)),
            Cell::from(day.dose_count.to_string()),
            Cell::from(if day.bedtime_dose { "Yes" } else { "" }),
            Cell::from(match range {
                Some((low, high)) => {
                    format!("{} ({}–{} mg)", basis_text(day, words), mg(*low), mg(*high))
                }
                None => basis_text(day, words),
            }),
        ]);
    }
    let planned = !records.plan_days.is_empty();
    if planned {
        super::plan::draw_target(&mut chart, &records.plan_days, axis, top);
    }
    let total: f64 = days.iter().map(|d| d.mitragynine_mg).sum();
    chart.description = format!(
        "Bar chart of mitragynine per day: doses on {} of {} days, mean {} mg per day over the range{}.",
        days.len(),
        axis.days(),
        mg(total / axis.days() as f64),
        if days.iter().any(|d| d.bedtime_dose) {
            format!(
                "; bedtime doses on {} days",
                days.iter().filter(|d| d.bedtime_dose).count()
            )
        } else {
            String::new()
        }
    );
    chart.key(
        "mg",
        words.pick("Assayed (batch certificate)", "From the batch's lab test"),
    );
    chart.key(
        "mg est",
        words.pick(
            "Estimate: no assay, natural-leaf range",
            "Estimate: the batch was not lab tested",
        ),
    );
    if !ranges.is_empty() {
        chart.key(
            "whisker",
            words.pick(
                "Estimate's low–high range",
                "How far off the estimate could be",
            ),
        );
    }
    let window = state.config.bedtime_window.as_mins();
    chart.key(
        "bedtime",
        match patient.details.usual_bedtime {
            Some(time) => format!(
                "{} {} h of usual bedtime ({})",
                words.pick("Bedtime dose: within", "A dose within"),
                number_text(window as f64 / 60.0),
                time.strftime("%H:%M")
            ),
            None => words.pick(
                "Bedtime dose (no usual bedtime recorded)",
                "A dose near bedtime",
            ),
        },
    );
    if days.iter().any(|d| d.includes_unknown) {
        chart.key(
            "unknown",
            words.pick("Some doses' mg unknown", "Some amounts unknown"),
        );
    }
    if planned {
        super::plan::target_keys(&mut chart, words);
        chart
            .description
            .push_str(" The signed plan's daily target is drawn as a step line.");
    }
    let nothing = words.pick(
        "No doses logged in this range.",
        "You have not logged any doses in this range.",
    );
    if days.is_empty() && !planned {
        chart.empty = Some(nothing);
    } else if days.is_empty() {
        // The plan's target is still drawn.
        chart.note(nothing);
    }
    chart.table = Table {
        caption: words.pick("Milligrams per day, days with doses", "Your daily totals"),
        head: if words.for_self {
            [
                "Day",
                "Mitragynine (mg)",
                "7-OH (mg)",
                "Doses",
                "Near bedtime",
                "Worked out from",
            ]
        } else {
            ["Day", "MG mg", "7-OH mg", "Doses", "Bedtime dose", "Basis"]
        }
        .map(String::from)
        .to_vec(),
        rows,
    };
    Section {
        chart,
        intro: words.pick(
            "Daily totals in the patient's local days, from each batch's assay or, without one, a natural-leaf estimate.",
            "Each bar is one day's total, worked out from the product and batch you chose.",
        ),
        sources: Vec::new(),
    }
}

/// For each local day with estimated doses, the day's mitragynine from every dose's low and
/// high bound (an assayed dose counts as its own value at both ends).
pub(super) fn estimate_ranges(doses: &[Dose]) -> BTreeMap<Date, (f64, f64)> {
    let mut days: BTreeMap<Date, (f64, f64, bool)> = BTreeMap::new();
    for dose in doses {
        let Some(typical) = dose.mitragynine_mg else {
            continue;
        };
        let day = days.entry(dose_local(dose).date()).or_default();
        day.0 += dose.mitragynine_mg_low.unwrap_or(typical);
        day.1 += dose.mitragynine_mg_high.unwrap_or(typical);
        day.2 |= dose.exposure_basis == ExposureBasis::Estimate;
    }
    days.into_iter()
        .filter(|(_, (_, _, estimated))| *estimated)
        .map(|(date, (low, high, _))| (date, (low, high)))
        .collect()
}

pub(super) fn basis_text(day: &DailyExposure, words: &Words) -> String {
    match (day.includes_estimates, day.includes_unknown) {
        (false, false) => words.pick("Assay", "Lab test"),
        (true, false) => "Includes estimates".into(),
        (false, true) => "Some unknown".into(),
        (true, true) => "Estimates and unknown".into(),
    }
}

/// `Fri 20 Nov 2026: MG 312 mg, 7-OH 4.1 mg, 6 doses; bedtime dose; includes estimates`.
pub(super) fn exposure_label(day: &DailyExposure) -> String {
    let mut label = format!(
        "{}: MG {} mg, 7-OH {} mg, {} {}",
        day_label(day.date),
        mg(day.mitragynine_mg),
        mg(day.hydroxymitragynine_mg),
        day.dose_count,
        if day.dose_count == 1 { "dose" } else { "doses" }
    );
    if day.bedtime_dose {
        label.push_str("; bedtime dose");
    }
    if day.includes_estimates {
        label.push_str("; includes estimates (no assay)");
    }
    if day.includes_unknown {
        label.push_str("; some doses' mg unknown");
    }
    label
}

pub(super) fn hydroxy_section(records: &Records, axis: DayAxis, words: &Words) -> Section {
    let days: Vec<&DailyExposure> = records
        .days
        .iter()
        .filter(|d| axis.index(d.date).is_some())
        .collect();
    let top = nice_ceiling(
        days.iter()
            .map(|d| d.hydroxymitragynine_mg)
            .fold(0.0, f64::max),
    );
    let mut chart = DayChart::new(
        "hydroxy",
        words.pick(
            "7-hydroxymitragynine (7-OH), mg per day",
            "How much 7-OH you took each day (mg)",
        ),
        Size::Medium,
        axis,
        0.0,
        top,
    );
    chart.label_y(&[0.0, top], "");
    for day in &days {
        if let Some(index) = axis.index(day.date)
            && day.hydroxymitragynine_mg > 0.0
        {
            let class = if day.includes_estimates {
                "oh est"
            } else {
                "oh"
            };
            chart.bar(index, day.hydroxymitragynine_mg, class, exposure_label(day));
        }
    }
    chart.key("oh", words.pick("Assayed", "From the lab test"));
    chart.key("oh est", words.pick("Estimate (no assay)", "Estimate"));
    chart.description = format!(
        "Bar chart of 7-OH per day; the most on one day was {} mg.",
        mg(days
            .iter()
            .map(|d| d.hydroxymitragynine_mg)
            .fold(0.0, f64::max))
    );
    if days.is_empty() {
        chart.empty = Some(words.pick("No doses logged in this range.", "No doses logged."));
    }
    // The numbers are in the table of the chart above.
    Section {
        chart,
        intro: words.pick(
            "Natural leaf holds very little 7-OH; products above natural-leaf levels are flagged under safety signals, each flag with its standard.",
            "Natural kratom leaf has very little 7-OH. Products with more than natural leaf are marked in the safety section above.",
        ),
        sources: Vec::new(),
    }
}

pub(super) fn hour_of(time: Time) -> f64 {
    f64::from(time.hour()) + f64::from(time.minute()) / 60.0
}

/// The dose-time chart's day runs from 04:00 to 04:00, so a late-evening dose, an
/// after-midnight dose and a bedtime after midnight sit together at the bottom
/// instead of at opposite edges.
pub(super) const CHART_DAY_STARTS: f64 = 4.0;

/// Height on the dose-time chart (24 at the top, 04:00; 0 at the bottom, 04:00 next day).
pub(super) fn clock_height(hour: f64) -> f64 {
    let since_start = (hour - CHART_DAY_STARTS).rem_euclid(24.0);
    24.0 - since_start
}

pub(super) fn dose_times_section(
    records: &Records,
    axis: DayAxis,
    patient: &Patient,
    words: &Words,
) -> Section {
    // Morning at the top, as on a calendar; the night after each day at its bottom.
    let mut chart = DayChart::new(
        "dose-times",
        words.pick(
            "Dose times (local time of day)",
            "What time you took each dose",
        ),
        Size::Tall,
        axis,
        0.0,
        24.0,
    );
    for hour in [4.0, 10.0, 16.0, 22.0] {
        chart.label_at(clock_height(hour), &format!("{hour:02}:00"));
    }
    chart.label_at(0.0, "04:00");
    for hour in [10.0, 16.0, 22.0] {
        chart.rule(clock_height(hour), "hour", String::new());
    }
    if let Some(bedtime) = patient.details.usual_bedtime {
        chart.rule(
            clock_height(hour_of(bedtime)),
            "bedtime",
            format!("Usual bedtime {}", bedtime.strftime("%H:%M")),
        );
    }
    let mut rows = Vec::new();
    let mut shown = 0;
    for dose in &records.doses {
        let local = dose_local(dose);
        let Some(index) = axis.index(local.date()) else {
            continue;
        };
        shown += 1;
        let label = format!(
            "{}: {}, {} {} = MG {}, 7-OH {}{}",
            dose_clock(dose).day_time(dose.taken_at),
            product_name(records, dose.batch_id),
            number_text(dose.amount),
            dose.unit,
            dose.mitragynine_mg
                .map(|m| format!("{} mg", mg(m)))
                .unwrap_or_else(|| "unknown".into()),
            dose.hydroxymitragynine_mg
                .map(|m| format!("{} mg", mg(m)))
                .unwrap_or_else(|| "unknown".into()),
            if dose.bedtime { "; bedtime dose" } else { "" }
        );
        chart.mark(
            axis.centre(index),
            clock_height(hour_of(local.time())),
            if dose.bedtime { "dose bedtime" } else { "dose" },
            label,
            None,
        );
        rows.push(vec![
            Cell::from(dose_clock(dose).day_time(dose.taken_at)),
            Cell::from(product_name(records, dose.batch_id)),
            Cell::from(format!("{} {}", number_text(dose.amount), dose.unit)),
            Cell::from(
                dose.mitragynine_mg
                    .map(|m| {
                        format!(
                            "{}{}",
                            mg(m),
                            if dose.exposure_basis == ExposureBasis::Estimate {
                                " (estimate)"
                            } else {
                                ""
                            }
                        )
                    })
                    .unwrap_or_else(|| "Unknown".into()),
            ),
            Cell::from(if dose.bedtime { "Yes" } else { "" }),
        ]);
    }
    chart.key("dose", words.pick("Dose", "A dose"));
    chart.key(
        "dose bedtime",
        words.pick("Bedtime dose", "A dose near bedtime"),
    );
    if patient.details.usual_bedtime.is_some() {
        chart.key(
            "bedtime-rule",
            words.pick("Usual bedtime", "Your usual bedtime"),
        );
    }
    chart.description = format!(
        "Dot chart of {shown} doses by day and time of day, from 04:00 at the top to 04:00 the next morning at the bottom."
    );
    if shown == 0 {
        chart.empty = Some(words.pick("No doses logged in this range.", "No doses logged."));
    }
    chart.table = Table {
        caption: words.pick("Every dose in the range", "Your doses"),
        head: if words.for_self {
            [
                "Taken",
                "Product",
                "Amount",
                "Mitragynine (mg)",
                "Near bedtime",
            ]
        } else {
            ["Taken", "Product", "Amount", "MG mg", "Bedtime"]
        }
        .map(String::from)
        .to_vec(),
        rows,
    };
    Section {
        chart,
        intro: words.pick(
            "One dot per dose, at the local time it was taken (its own time zone when travelling).",
            "One dot for each dose, at the time you took it.",
        ),
        sources: Vec::new(),
    }
}

pub(super) fn pk_section(
    prediction: &Prediction,
    axis: DayAxis,
    zone: &TimeZone,
    words: &Words,
) -> (Section, PkFigures) {
    let points: Vec<(f64, f64, f64, f64)> = prediction
        .points
        .iter()
        .filter_map(|p| {
            Some((
                axis.x_of(p.at, zone)?,
                p.mitragynine,
                p.mitragynine_p5,
                p.mitragynine_p95,
            ))
        })
        .collect();
    // A finer top than the other charts' so the curve, not empty space, fills a phone's plot.
    let top = fine_ceiling(points.iter().map(|p| p.3).fold(0.0, f64::max));
    let mut chart = DayChart::new(
        "predicted",
        words.pick(
            "Predicted mitragynine in plasma (ng/mL), model",
            "Estimated mitragynine level in your blood (ng/mL)",
        ),
        Size::Tall,
        axis,
        0.0,
        top,
    );
    chart.label_y(&[0.0, top / 2.0, top], "");
    chart.area(
        &points
            .iter()
            .map(|(x, _, low, high)| (*x, *low, *high))
            .collect::<Vec<_>>(),
    );
    chart.line(
        &points
            .iter()
            .map(|(x, c, _, _)| (*x, *c))
            .collect::<Vec<_>>(),
        "typical",
    );
    let mut rows = Vec::new();
    for (_, at, level) in &prediction.bedtime {
        // Bedtimes with nothing on board are left unmarked.
        if let Some(x) = axis.x_of(*at, zone).filter(|_| *level >= 0.5) {
            chart.mark(
                x,
                *level,
                "bedtime",
                if words.for_self {
                    format!(
                        "{}: about {} ng/mL at your bedtime (a typical person)",
                        Clock::of_zone(zone).day_time(*at),
                        number_text(level.round())
                    )
                } else {
                    format!(
                        "{}: predicted {} ng/mL at usual bedtime (typical patient)",
                        Clock::of_zone(zone).day_time(*at),
                        number_text(level.round())
                    )
                },
                None,
            );
        }
    }
    // A row per day: the typical curve's range, the band's top and the bedtime level.
    for date in axis.dates() {
        let day: Vec<_> = prediction
            .points
            .iter()
            .filter(|p| p.at.to_zoned_datetime(zone.clone()).date() == date)
            .collect();
        if day.is_empty() {
            continue;
        }
        let high = day.iter().map(|p| p.mitragynine).fold(0.0, f64::max);
        let low = day
            .iter()
            .map(|p| p.mitragynine)
            .fold(f64::INFINITY, f64::min);
        let band = day.iter().map(|p| p.mitragynine_p95).fold(0.0, f64::max);
        let bedtime = prediction
            .bedtime
            .iter()
            .find(|(d, _, _)| *d == date)
            .map(|(_, _, level)| number_text(level.round()))
            .unwrap_or_default();
        rows.push(vec![
            Cell::from(day_label(date)),
            Cell::from(number_text(high.round())),
            Cell::from(number_text(low.round())),
            Cell::from(number_text(band.round())),
            Cell::from(bedtime),
        ]);
    }
    chart.key("typical", words.pick("Typical patient", "A typical person"));
    chart.key(
        "band",
        words.pick(
            "Model's 5–95 % range under assumed variability (100 virtual patients)",
            "The model's range if people differ as it assumes",
        ),
    );
    if !prediction.bedtime.is_empty() {
        chart.key("bedtime", words.pick("At usual bedtime", "At your bedtime"));
    }
    let peak = points.iter().map(|p| p.1).fold(0.0, f64::max);
    chart.description = if words.for_self {
        format!(
            "Line chart of the estimated level in a typical person's blood, with a shaded band for the model's range if people differ as much as it assumes (not measured); the highest typical level is {} ng/mL.",
            number_text(peak.round())
        )
    } else {
        format!(
            "Line chart of predicted mitragynine for a typical patient with a shaded band: the model's 5th to 95th percentile under assumed between-person variability; highest typical level {} ng/mL.",
            number_text(peak.round())
        )
    };
    if prediction.doses_used == 0 {
        chart.empty = Some(words.pick(
            "No doses with known milligrams to predict from.",
            "No doses to estimate from.",
        ));
    }
    chart.table = Table {
        caption: words.pick(
            "Predicted mitragynine per day, ng/mL",
            "Estimated levels per day, ng/mL",
        ),
        head: if words.for_self {
            [
                "Day",
                "Highest (typical person)",
                "Lowest (typical person)",
                "Top of the model's range",
                "At your bedtime",
            ]
        } else {
            [
                "Day",
                "Typical highest",
                "Typical lowest",
                "Model 95th percentile highest",
                "At usual bedtime",
            ]
        }
        .map(String::from)
        .to_vec(),
        rows,
    };
    let figures = PkFigures {
        steady_state: prediction
            .steady_state_average_ng_ml
            .map(|v| format!("{} ng/mL", number_text(v.round())))
            .unwrap_or_else(|| "—".into()),
        trough: prediction
            .trough_ng_ml
            .map(|v| format!("{} ng/mL", number_text(v.round())))
            .unwrap_or_else(|| "—".into()),
        to_steady_state: format!(
            "about {} days",
            number_text((prediction.time_to_90pct_steady_state_h / 24.0 * 10.0).round() / 10.0)
        ),
        source: prediction.model_source.clone(),
        variability: prediction.variability_note.clone(),
        caution: prediction.caution.clone(),
        citation: prediction
            .model_source
            .split(" — ")
            .next()
            .unwrap_or_default()
            .trim_end_matches('.')
            .to_owned(),
        doses: if words.for_self {
            format!(
                "Worked out from the {} doses you logged, including those in the 2 weeks before these days{}.",
                prediction.doses_used,
                match prediction.doses_excluded {
                    0 => String::new(),
                    1 => "; 1 dose whose amount of mitragynine is unknown is left out".into(),
                    n => format!("; {n} doses whose amount of mitragynine is unknown are left out"),
                }
            )
        } else {
            format!(
                "From {} logged doses, including those in the 14 days before the range{}.",
                prediction.doses_used,
                match prediction.doses_excluded {
                    0 => String::new(),
                    1 => "; 1 dose with unknown milligrams is left out".into(),
                    n => format!("; {n} doses with unknown milligrams are left out"),
                }
            )
        },
    };
    // The patient's page says this in its own words beside the figures.
    if !words.for_self {
        chart.note(
            "Evidence is limited: the model is reconstructed from one small study (n = 5) and its population band rests on assumed variability.",
        );
    }
    if let Some(caution) = &prediction.hydroxymitragynine_caution {
        if words.for_self {
            chart.note(
                "Some of your doses were 7-OH products. This estimate cannot show what 7-OH taken that way does, so do not read it as covering them.",
            );
        } else {
            chart.note(caution);
        }
    }
    (
        Section {
            chart,
            intro: words.pick(
                "The PK model applied to the logged doses: the typical-patient curve and the model's 5–95 % range under assumed variability.",
                "What the doses you logged would do in a typical person's blood over time.",
            ),
            sources: Vec::new(),
        },
        figures,
    )
}

/// A chart of instrument totals, with the bands shaded where the instrument has them.
pub(super) fn score_section(
    id: &str,
    instruments: &[Instrument],
    assessments: &[Assessment],
    axis: DayAxis,
    zone: &TimeZone,
    sex: Option<SexAtBirth>,
    words: &Words,
) -> Section {
    let first = &instruments[0];
    let (min, max) = (
        instruments
            .iter()
            .map(|i| i.scoring.min)
            .fold(f64::INFINITY, f64::min),
        instruments
            .iter()
            .map(|i| i.scoring.max)
            .fold(0.0, f64::max),
    );
    let (title, plain) = match id {
        "cows" => (
            "COWS total (clinician-rated withdrawal)",
            "Withdrawal signs your clinician rated (COWS)",
        ),
        "sows" => (
            "SOWS total (self-rated withdrawal)",
            "Withdrawal symptoms you reported (SOWS)",
        ),
        "craving" => ("Craving (0–10)", "Cravings (0–10)"),
        "phq9" => ("PHQ-9 total (depression)", "Mood (PHQ-9)"),
        "gad7" => ("GAD-7 total (anxiety)", "Worry and anxiety (GAD-7)"),
        "pain" => ("Pain: NRS and PEG-3 (0–10)", "Pain (0–10)"),
        _ => (first.short_name.as_str(), first.short_name.as_str()),
    };
    let mut chart = DayChart::new(id, words.pick(title, plain), Size::Medium, axis, min, max);
    chart.label_y(&[min, ((min + max) / 2.0).round(), max], "");
    let mut sources = Vec::new();
    let mut rows = Vec::new();
    let mut counts = Vec::new();
    let shapes = ["score", "score square"];
    for (n, instrument) in instruments.iter().enumerate() {
        let bands = bands_for(instrument, sex);
        // Shading only for a single instrument with bands (two scales cannot share shading).
        if instruments.len() == 1 && !bands.is_empty() {
            let spans: Vec<(f64, f64, String)> = bands
                .iter()
                .map(|b| (b.min, b.max, b.label.clone()))
                .collect();
            chart.shade_bands(&spans);
            for (i, b) in bands.iter().enumerate() {
                chart.key(
                    &format!("shade-{}", crate::pages::charts::band_level(i, bands.len())),
                    format!("{} {}–{}", b.label, number_text(b.min), number_text(b.max)),
                );
            }
        }
        let results: Vec<(f64, f64, &Assessment)> = assessments
            .iter()
            .filter(|a| a.instrument == instrument.code)
            .filter_map(|a| Some((axis.x_of(a.completed_at, zone)?, a.total?, a)))
            .collect();
        counts.push(format!("{} {}", results.len(), instrument.short_name));
        let class = shapes[n % shapes.len()];
        for (x, total, a) in &results {
            let band = band_label(instrument, a.band.as_deref());
            let when = Clock::of_zone(zone).day_time(a.completed_at);
            chart.mark(
                *x,
                *total,
                class,
                format!(
                    "{when}: {} {}{}",
                    instrument.short_name,
                    number_text(*total),
                    if band.is_empty() {
                        String::new()
                    } else {
                        format!(" ({band})")
                    }
                ),
                None,
            );
            rows.push((
                a.completed_at,
                vec![
                    Cell::from(when),
                    Cell::from(instrument.short_name.clone()),
                    Cell::from(number_text(*total)),
                    Cell::from(band),
                ],
            ));
        }
        chart.line(
            &results.iter().map(|(x, v, _)| (*x, *v)).collect::<Vec<_>>(),
            if n == 0 { "score" } else { "score second" },
        );
        if instruments.len() > 1 {
            chart.key(class, instrument.short_name.clone());
        }
        let evidence = instrument.evidence.clone().unwrap_or_default();
        // Citations stay on the care team's page; the patient reads what the chart means.
        if words.for_self {
            let shaded = instruments.len() == 1 && !bands.is_empty();
            chart.note(match (shaded, instrument.bands_configurable) {
                (true, true) => format!(
                    "{}: the shaded ranges were set by your clinic. Lower numbers are better; what matters most is how yours change over time.",
                    instrument.short_name
                ),
                (true, false) => format!(
                    "{}: the shading shows the usual ranges for this questionnaire. Lower numbers are better.",
                    instrument.short_name
                ),
                (false, _) => format!(
                    "{}: lower numbers are better. What matters most is how yours change over time.",
                    instrument.short_name
                ),
            });
            continue;
        }
        chart.note(if instrument.bands_configurable && !bands.is_empty() {
            format!(
                "{}: the bands shaded are your organization's own; the instrument has no published severity bands. {evidence}",
                instrument.short_name
            )
        } else if instrument.bands_configurable {
            format!(
                "{}: no published severity bands, so none are shaded; read the change over time. {evidence}",
                instrument.short_name
            )
        } else if evidence.is_empty() {
            format!("{}: {}", instrument.short_name, instrument.attribution)
        } else {
            format!("{}: {evidence}", instrument.short_name)
        });
        sources.push((instrument.short_name.clone(), instrument.source.clone()));
    }
    rows.sort_by_key(|(at, _)| *at);
    chart.description = format!("{} over the range: {}.", chart.title, counts.join(", "));
    if chart.marks.is_empty() {
        chart.empty = Some(words.pick(
            "Nothing recorded in this range.",
            "Nothing recorded in these days.",
        ));
    }
    chart.table = Table {
        caption: chart.title.clone(),
        head: ["Completed", "Instrument", "Total", "Band"]
            .map(String::from)
            .to_vec(),
        rows: rows.into_iter().map(|(_, r)| r).collect(),
    };
    Section {
        chart,
        intro: String::new(),
        sources,
    }
}

/// Sleep efficiency and total sleep time from the sleep diary's metrics, by the morning of.
pub(super) fn sleep_sections(
    diary: &Instrument,
    assessments: &[Assessment],
    axis: DayAxis,
    zone: &TimeZone,
    words: &Words,
) -> Vec<Section> {
    let nights: Vec<(Date, usize, f64, f64)> = assessments
        .iter()
        .filter(|a| a.instrument == diary.code)
        .filter_map(|a| {
            let date = a.completed_at.to_zoned_datetime(zone.clone()).date();
            let metrics = a.metrics.as_ref()?;
            Some((
                date,
                axis.index(date)?,
                metrics.get("sleep_efficiency_pct")?.as_f64()?,
                metrics.get("total_sleep_time_min")?.as_f64()? / 60.0,
            ))
        })
        .collect();
    let mut efficiency = DayChart::new(
        "sleep",
        words.pick(
            "Sleep efficiency (%)",
            "How much of your time in bed you slept (%)",
        ),
        Size::Medium,
        axis,
        0.0,
        100.0,
    );
    efficiency.label_y(&[0.0, 50.0, 100.0], "");
    let top = nice_ceiling(nights.iter().map(|n| n.3).fold(10.0, f64::max));
    let mut hours = DayChart::new(
        "sleep-time",
        words.pick("Total sleep time (h)", "Hours asleep"),
        Size::Medium,
        axis,
        0.0,
        top,
    );
    hours.label_y(&[0.0, top / 2.0, top], "");
    let mut rows = Vec::new();
    for (date, index, pct, asleep) in &nights {
        let label = format!(
            "Morning of {}: slept {} h, efficiency {:.0} %",
            day_label(*date),
            number_text((asleep * 10.0).round() / 10.0),
            pct
        );
        efficiency.mark(axis.centre(*index), *pct, "score", label.clone(), None);
        hours.bar(*index, *asleep, "sleep", label);
        rows.push(vec![
            Cell::from(day_label(*date)),
            Cell::from(number_text((asleep * 10.0).round() / 10.0)),
            Cell::from(format!("{pct:.0}")),
        ]);
    }
    efficiency.line(
        &nights
            .iter()
            .map(|(_, i, pct, _)| (axis.centre(*i), *pct))
            .collect::<Vec<_>>(),
        "score",
    );
    efficiency.description = format!(
        "Sleep efficiency from {} sleep diaries, by the morning they were written.",
        nights.len()
    );
    hours.description = format!(
        "Bar chart of total sleep time from {} sleep diaries.",
        nights.len()
    );
    if nights.is_empty() {
        let none = words.pick(
            "No sleep diary in this range.",
            "No sleep diary in these days.",
        );
        efficiency.empty = Some(none.clone());
        hours.empty = Some(none);
    }
    efficiency.note(if words.for_self {
        "The share of your time in bed that you were asleep, from your sleep diary.".to_owned()
    } else {
        format!(
            "Time asleep ÷ time in bed, from the consensus sleep diary. {}",
            diary.evidence.clone().unwrap_or_default()
        )
    });
    efficiency.table = Table {
        caption: words.pick("Sleep diary, by morning", "Your sleep diary"),
        head: ["Morning of", "Total sleep (h)", "Efficiency (%)"]
            .map(String::from)
            .to_vec(),
        rows,
    };
    vec![
        Section {
            chart: efficiency,
            intro: String::new(),
            sources: if words.for_self {
                Vec::new()
            } else {
                vec![(diary.short_name.clone(), diary.source.clone())]
            },
        },
        Section {
            chart: hours,
            intro: String::new(),
            sources: Vec::new(),
        },
    ]
}

/// Alerts and product-quality flags on the shared axis, with the alerts listed.
pub(super) fn signals_section(
    records: &Records,
    flags: &BTreeMap<BatchId, Vec<QualityFlagView>>,
    axis: DayAxis,
    zone: &TimeZone,
    words: &Words,
) -> (Section, Vec<AlertRow>, Vec<FlaggedBatch>) {
    let mut chart = DayChart::new(
        "signals",
        words.pick(
            "Safety signals: alerts and product quality flags",
            "Safety checks and product warnings",
        ),
        Size::Strip,
        axis,
        0.0,
        1.0,
    );
    chart.interactive = true;
    chart.label_at(0.78, words.pick("Alerts", "Checks").as_str());
    chart.label_at(0.22, "Products");
    let mut rows = Vec::new();
    let mut in_range = 0;
    let mut alerts: Vec<&Alert> = records.alerts.iter().collect();
    alerts.sort_by_key(|a| std::cmp::Reverse(a.raised_at));
    for alert in alerts {
        let when = Clock::of_zone(zone).day_time(alert.raised_at);
        let x = axis.x_of(alert.raised_at, zone);
        let standing = alert.status != "resolved";
        // Alerts outside the range are listed only while someone still has to act on them.
        if x.is_none() && !standing {
            continue;
        }
        let guidance = Rule::from_code(&alert.rule).map(|r| r.guidance());
        let text = if words.for_self {
            "A safety check was flagged; your care team has been notified.".to_owned()
        } else {
            alert.summary.clone()
        };
        let href = (!words.for_self).then(|| format!("/alerts/{}", alert.id));
        if let Some(x) = x {
            in_range += 1;
            chart.mark(
                x,
                0.78,
                &format!(
                    "alert {} {}",
                    alert.severity,
                    if standing { "standing" } else { "resolved" }
                ),
                format!(
                    "{when} · {} · {}: {}{}",
                    alert.severity,
                    alert.status,
                    text,
                    match (&guidance, words.for_self) {
                        (Some(g), false) => format!(" ({})", g.title),
                        _ => String::new(),
                    }
                ),
                href.clone(),
            );
        }
        rows.push(AlertRow {
            when,
            severity: alert.severity.clone(),
            status: alert.status.clone(),
            text,
            guidance: match (&guidance, words.for_self) {
                (Some(g), false) => format!("{} Source: {}", g.consider, g.source),
                _ => String::new(),
            },
            href,
            emphasised: standing,
        });
    }
    // Where alerts coincide, the most severe is drawn last, on top.
    chart.marks.sort_by_key(|m| {
        ["urgent", "warning", "info"]
            .iter()
            .position(|s| m.class.contains(s))
            .map_or(0, |p| 3 - p)
    });
    // Product flags: a block on each day the patient used a flagged batch.
    let mut flagged: BTreeMap<BatchId, std::collections::BTreeSet<Date>> = BTreeMap::new();
    for dose in &records.doses {
        let date = dose_local(dose).date();
        if axis.index(date).is_some() && flags.get(&dose.batch_id).is_some_and(|f| !f.is_empty()) {
            flagged.entry(dose.batch_id).or_default().insert(date);
        }
    }
    let mut per_day: BTreeMap<Date, Vec<BatchId>> = BTreeMap::new();
    for (batch, dates) in &flagged {
        for date in dates {
            per_day.entry(*date).or_default().push(*batch);
        }
    }
    for (date, batches) in &per_day {
        let Some(index) = axis.index(*date) else {
            continue;
        };
        let all: Vec<&QualityFlagView> = batches
            .iter()
            .flat_map(|b| flags.get(b).into_iter().flatten())
            .collect();
        let label = format!(
            "{}: {}",
            day_label(*date),
            batches
                .iter()
                .map(|b| {
                    format!(
                        "{} — {}",
                        product_name(records, *b),
                        match (words.for_self, flags.get(b)) {
                            (true, _) => "has a quality warning".to_owned(),
                            (false, Some(f)) => f
                                .iter()
                                .map(|f| format!("{} ({})", humanize(&f.code), f.severity))
                                .collect::<Vec<_>>()
                                .join(", "),
                            (false, None) => String::new(),
                        }
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        );
        chart.block(index, 0.06, 0.38, &format!("flag {}", worst(all)), label);
    }
    let batches: Vec<FlaggedBatch> = flagged
        .iter()
        .map(|(batch, dates)| {
            let list = flags.get(batch).map(Vec::as_slice).unwrap_or_default();
            FlaggedBatch {
                name: product_name(records, *batch),
                severity: worst(list).to_owned(),
                days: dates.len(),
                flags: list
                    .iter()
                    .map(|f| FlagLine {
                        explanation: f.explanation.clone(),
                        standard: f.standard.clone(),
                        evidence: f.evidence.clone(),
                    })
                    .collect(),
            }
        })
        .collect();
    for (level, text) in [
        ("urgent", "Urgent"),
        ("warning", "Warning"),
        ("info", "Information"),
    ] {
        chart.key(&format!("alert {level} standing"), text);
    }
    chart.key(
        "alert info resolved",
        words.pick("Resolved (faded)", "Dealt with"),
    );
    chart.key(
        "flag warning",
        words.pick(
            "Flagged product used that day",
            "Product with a warning used that day",
        ),
    );
    chart.description = format!(
        "{in_range} alerts raised in the range and {} days of use of flagged products.",
        per_day.len()
    );
    if words.for_self {
        chart.note("When a safety check is flagged, your care team is told straight away and will follow up with you.");
    } else {
        chart.note("Open and acknowledged alerts are solid; resolved ones are smaller and faded. Each links to the alert's evidence and guidance.");
    }
    (
        Section {
            chart,
            intro: String::new(),
            sources: Vec::new(),
        },
        rows,
        batches,
    )
}
