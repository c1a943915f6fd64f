//! A patient's plan: what a clinician signs and the patient is measured against.
//!
//! A plan version holds a schedule (the generator's steps, the dose slots of the day,
//! the batch it assumes and the rounding unit), per-dose and per-day maxima, the
//! clinician's rationale and the hold/step-back thresholds. Versions are stored as the
//! canonical JSON of [`PlanContent`]; a signature covers the SHA-256 of exactly that text.
//!
//! Sources: `plans-and-therapy.md` §1 (taper shapes, rounding, pauses), §1.7 (hold and
//! step-back triggers: a design proposal with no published threshold) and §6 (naltrexone
//! starts).

use jiff::civil::{Date, Time};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::FieldErrors;
use crate::ids::BatchId;
use crate::taper::{Generator, GeneratorKind, MAX_DAILY_MG, Step};

/// What the plan is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanKind {
    /// A steady daily target.
    Maintenance,
    /// Steps down to an end dose.
    Taper,
    /// Towards buprenorphine, methadone or naltrexone.
    Transition,
}

impl PlanKind {
    pub const ALL: [PlanKind; 3] = [PlanKind::Maintenance, PlanKind::Taper, PlanKind::Transition];

    pub fn as_str(self) -> &'static str {
        match self {
            PlanKind::Maintenance => "maintenance",
            PlanKind::Taper => "taper",
            PlanKind::Transition => "transition",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            PlanKind::Maintenance => "Maintenance",
            PlanKind::Taper => "Taper",
            PlanKind::Transition => "Transition",
        }
    }

    pub fn parse(text: &str) -> Option<PlanKind> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text.trim())
    }
}

/// The medicine a transition plan leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransitionTo {
    Buprenorphine,
    Methadone,
    Naltrexone,
}

impl TransitionTo {
    pub const ALL: [TransitionTo; 3] = [
        TransitionTo::Buprenorphine,
        TransitionTo::Methadone,
        TransitionTo::Naltrexone,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TransitionTo::Buprenorphine => "buprenorphine",
            TransitionTo::Methadone => "methadone",
            TransitionTo::Naltrexone => "naltrexone",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            TransitionTo::Buprenorphine => "Buprenorphine",
            TransitionTo::Methadone => "Methadone",
            TransitionTo::Naltrexone => "Naltrexone",
        }
    }

    pub fn parse(text: &str) -> Option<TransitionTo> {
        Self::ALL.into_iter().find(|to| to.as_str() == text.trim())
    }
}

/// Where a version is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanStatus {
    /// Editable; seen only by the care team.
    Draft,
    /// The patient's active plan: immutable.
    Signed,
    /// Was signed; a later signed version replaced it. Still readable.
    Superseded,
    /// A draft the care team threw away.
    Discarded,
}

impl PlanStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PlanStatus::Draft => "draft",
            PlanStatus::Signed => "signed",
            PlanStatus::Superseded => "superseded",
            PlanStatus::Discarded => "discarded",
        }
    }

    pub fn parse(text: &str) -> Option<PlanStatus> {
        [
            PlanStatus::Draft,
            PlanStatus::Signed,
            PlanStatus::Superseded,
            PlanStatus::Discarded,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }

    /// Signed now or once: what a patient may see.
    pub fn was_signed(self) -> bool {
        matches!(self, PlanStatus::Signed | PlanStatus::Superseded)
    }
}

/// One dose time of the plan's day.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct DoseSlot {
    /// Local time of day, `HH:MM`.
    pub time: Time,
    /// The slot's share of the day's target; a plan's shares add up to 1.
    pub share: f64,
    /// The bedtime dose ("kratom before bed"); at most one slot.
    #[serde(default)]
    pub bedtime: bool,
}

/// The batch a plan assumes, so targets read in that product's units. Copied into the
/// version when it is drawn, so a later change to the catalogue cannot change what was
/// signed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AssumedBatch {
    pub batch_id: BatchId,
    /// Product name and lot, for people.
    pub label: String,
    /// `g`, `capsule`, `tablet` or `ml`.
    pub unit: String,
    /// Mitragynine in one unit, mg (from the batch's assay).
    pub mg_per_unit: f64,
}

/// After a step down, what makes Speciosa propose a hold or a step back. No guideline or
/// study gives a number (`plans-and-therapy.md` §1.7, "What is not published"): each
/// default is an anchor from the instrument's own bands, set per plan by the clinician.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct HoldSettings {
    /// Days after a step down that are watched (§1.7: "the next 7–14 days").
    pub within_days: u32,
    /// A SOWS this many points above the last one before the step (SOWS has no bands).
    pub sows_rise: f64,
    /// A COWS at or above this (13: start of the "moderate" band, Wesson & Ling 2003).
    pub cows_at_least: f64,
    /// Craving (0–10) this many points above the mean of the week before the step.
    pub craving_rise: f64,
    /// Sleep efficiency this many percentage points below the week before the step.
    pub sleep_efficiency_drop: f64,
}

impl Default for HoldSettings {
    fn default() -> Self {
        Self {
            within_days: 14,
            sows_rise: 10.0,
            cows_at_least: 13.0,
            craving_rise: 3.0,
            sleep_efficiency_drop: 10.0,
        }
    }
}

impl HoldSettings {
    /// Where the defaults come from, for the editor.
    pub const EVIDENCE: &'static str = "No published threshold exists for pausing a taper on withdrawal, craving or \
         sleep (plans-and-therapy.md §1.7). These defaults are a design proposal anchored on \
         the instruments' own bands (COWS 13 = moderate); set them for this patient.";

    fn check(&self, errors: &mut FieldErrors) {
        if !(1..=56).contains(&self.within_days) {
            errors.push("holds.within_days", "watch from 1 to 56 days after a step");
        }
        let mut range = |field: &str, value: f64, max: f64| {
            if !(value.is_finite() && value > 0.0 && value <= max) {
                errors.push(field, format!("must be above 0 and at most {max}"));
            }
        };
        range("holds.sows_rise", self.sows_rise, 64.0);
        range("holds.cows_at_least", self.cows_at_least, 48.0);
        range("holds.craving_rise", self.craving_rise, 10.0);
        range(
            "holds.sleep_efficiency_drop",
            self.sleep_efficiency_drop,
            100.0,
        );
    }
}

/// The schedule part of a plan: what the preview draws.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub generator: GeneratorParams,
    /// The generator's steps, unrounded mg of mitragynine.
    pub steps: Vec<ExactStep>,
    pub slots: Vec<DoseSlot>,
    pub batch: Option<AssumedBatch>,
    /// The rounding unit, in the batch's units (mg without a batch).
    pub round_to: Option<f64>,
    /// Holds and step-backs a clinician signed into this version, in order; `steps`
    /// already has them applied.
    #[serde(default)]
    pub adjustments: Vec<Adjustment>,
}

/// A change to a running taper after a step down went badly (`plans-and-therapy.md` §1.7:
/// pause, or return to the last tolerated dose, then resume). Never automatic: a clinician
/// draws it into a new version and signs it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Adjustment {
    /// Stay on the step in force on `on` for `days` more days; every later step moves
    /// `days` later.
    Hold { on: Date, days: u32, reason: String },
    /// From `on`, return to the previous step's target for `days` days; then the step that
    /// was in force on `on` starts again, and every later step moves with it.
    StepBack { on: Date, days: u32, reason: String },
}

impl Adjustment {
    pub fn kind(&self) -> &'static str {
        match self {
            Adjustment::Hold { .. } => "hold",
            Adjustment::StepBack { .. } => "step_back",
        }
    }

    pub fn on(&self) -> Date {
        match self {
            Adjustment::Hold { on, .. } | Adjustment::StepBack { on, .. } => *on,
        }
    }

    pub fn days(&self) -> u32 {
        match self {
            Adjustment::Hold { days, .. } | Adjustment::StepBack { days, .. } => *days,
        }
    }

    pub fn reason(&self) -> &str {
        match self {
            Adjustment::Hold { reason, .. } | Adjustment::StepBack { reason, .. } => reason,
        }
    }

    /// Parses one adjustment a client sends; `index` names it in errors.
    pub fn parse(
        index: usize,
        kind: &str,
        on: &str,
        days: Option<i64>,
        reason: &str,
    ) -> Result<Adjustment, FieldErrors> {
        let mut errors = FieldErrors::new();
        let field = |name: &str| format!("adjustments[{index}].{name}");
        let on = errors.check(
            &field("on"),
            crate::time::parse_date(on, crate::time::Era::Clinical),
        );
        let days = match days {
            Some(d) if (1..=90).contains(&d) => Some(d as u32),
            _ => {
                errors.push(field("days"), "give from 1 to 90 days");
                None
            }
        };
        let reason = reason.trim().to_owned();
        if reason.chars().count() > MAX_RATIONALE {
            errors.push(field("reason"), "keep the reason shorter");
        }
        let kind = match kind.trim() {
            "hold" => Some(true),
            "step_back" => Some(false),
            _ => {
                errors.push(field("kind"), "kind must be hold or step_back");
                None
            }
        };
        let (Some(on), Some(days), Some(hold)) = (on, days, kind) else {
            return Err(errors);
        };
        Ok(if hold {
            Adjustment::Hold { on, days, reason }
        } else {
            Adjustment::StepBack { on, days, reason }
        })
    }
}

/// Applies `adjustments` in order to a schedule's steps (each read against the steps as
/// the previous ones left them), recording them in the schedule.
pub fn adjust(mut schedule: Schedule, adjustments: &[Adjustment]) -> Result<Schedule, FieldErrors> {
    let mut errors = FieldErrors::new();
    for (index, adjustment) in adjustments.iter().enumerate() {
        let steps = &mut schedule.steps;
        let on = adjustment.on();
        let Some(current) = steps.iter().rposition(|s| s.from <= on) else {
            errors.push(
                format!("adjustments[{index}].on"),
                "the plan has not begun on this day",
            );
            continue;
        };
        let shift = |date: Date, days: i64| date.checked_add(jiff::Span::new().days(days)).ok();
        match adjustment {
            Adjustment::Hold { days, .. } => {
                for step in steps.iter_mut().skip(current + 1) {
                    match shift(step.from, i64::from(*days)) {
                        Some(date) => step.from = date,
                        None => errors.push(format!("adjustments[{index}].days"), "too far"),
                    }
                }
            }
            Adjustment::StepBack { days, .. } => {
                if current == 0 {
                    errors.push(
                        format!("adjustments[{index}].on"),
                        "there is no earlier step to return to on this day",
                    );
                    continue;
                }
                let previous = steps[current - 1].daily_mg;
                let resumed = steps[current].daily_mg;
                let Some(resume_on) = shift(on, i64::from(*days)) else {
                    errors.push(format!("adjustments[{index}].days"), "too far");
                    continue;
                };
                let delta = i64::from((resume_on - steps[current].from).get_days());
                for step in steps.iter_mut().skip(current + 1) {
                    match shift(step.from, delta) {
                        Some(date) => step.from = date,
                        None => errors.push(format!("adjustments[{index}].days"), "too far"),
                    }
                }
                let mut insert = vec![
                    ExactStep {
                        from: on,
                        daily_mg: previous,
                    },
                    ExactStep {
                        from: resume_on,
                        daily_mg: resumed,
                    },
                ];
                if steps[current].from == on {
                    // Stepping back on the step's first day replaces it for those days.
                    steps.remove(current);
                    steps.splice(current..current, insert.drain(..));
                } else {
                    steps.splice(current + 1..current + 1, insert.drain(..));
                }
            }
        }
    }
    schedule.adjustments.extend(adjustments.iter().cloned());
    errors.into_result(|| schedule)
}

/// The generator's parameters as stored with the version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GeneratorParams {
    pub kind: String,
    pub start_mg: f64,
    pub percent: Option<f64>,
    pub amount_mg: Option<f64>,
    pub interval_days: u32,
    pub min_mg: Option<f64>,
    pub end_mg: Option<f64>,
    pub start_date: Date,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExactStep {
    pub from: Date,
    pub daily_mg: f64,
}

/// A step as the patient is told it: the exact target and what they measure.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlannedStep {
    pub from: Date,
    /// The generator's unrounded target, mg.
    pub exact_mg: f64,
    /// The target after rounding, mg (what adherence is measured against).
    pub planned_mg: f64,
    /// In the batch's units, before rounding.
    pub exact_units: f64,
    /// In the batch's units (mg without a batch), rounded.
    pub units: f64,
}

impl Schedule {
    pub fn unit(&self) -> &str {
        self.batch.as_ref().map_or("mg", |b| b.unit.as_str())
    }

    pub fn mg_per_unit(&self) -> f64 {
        self.batch.as_ref().map_or(1.0, |b| b.mg_per_unit)
    }

    /// The steps rounded to `round_to` of the batch's units, nearest, never above the
    /// previous step, with steps that round equal merged into the earlier one
    /// ([`crate::taper::round_steps`]). Without a rounding unit the exact targets stand.
    pub fn planned_steps(&self) -> Vec<PlannedStep> {
        let per_unit = self.mg_per_unit();
        let steps: Vec<Step> = self
            .steps
            .iter()
            .map(|s| Step {
                from: s.from,
                daily_mg: s.daily_mg,
            })
            .collect();
        match self.round_to {
            Some(round_to) => crate::taper::round_steps(&steps, per_unit, round_to)
                .into_iter()
                .map(|r| PlannedStep {
                    from: r.from,
                    exact_mg: r.daily_mg,
                    planned_mg: r.daily_units * per_unit,
                    exact_units: r.exact_units,
                    units: r.daily_units,
                })
                .collect(),
            None => steps
                .iter()
                .map(|s| PlannedStep {
                    from: s.from,
                    exact_mg: s.daily_mg,
                    planned_mg: s.daily_mg,
                    exact_units: s.daily_mg / per_unit,
                    units: s.daily_mg / per_unit,
                })
                .collect(),
        }
    }

    /// The bedtime slot's local time, if the plan has one.
    pub fn bedtime(&self) -> Option<Time> {
        self.slots.iter().find(|s| s.bedtime).map(|s| s.time)
    }

    /// Splits a day's units over the slots by their shares, each a multiple of
    /// `round_to` when there is one (largest remainders first), so the slots add up to the
    /// day exactly.
    pub fn slot_units(&self, daily_units: f64) -> Vec<f64> {
        split_by_shares(daily_units, &self.slots, self.round_to)
    }
}

fn split_by_shares(total: f64, slots: &[DoseSlot], round_to: Option<f64>) -> Vec<f64> {
    let Some(unit) = round_to.filter(|u| *u > 0.0) else {
        return slots.iter().map(|s| total * s.share).collect();
    };
    let whole = (total / unit).round() as i64;
    let exact: Vec<f64> = slots.iter().map(|s| total * s.share / unit).collect();
    let mut counts: Vec<i64> = exact.iter().map(|e| e.floor() as i64).collect();
    let mut left = whole - counts.iter().sum::<i64>();
    let mut order: Vec<usize> = (0..slots.len()).collect();
    order.sort_by(|&a, &b| {
        let ra = exact[a] - exact[a].floor();
        let rb = exact[b] - exact[b].floor();
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for index in order.iter().cycle().take(slots.len() * 2) {
        if left <= 0 {
            break;
        }
        counts[*index] += 1;
        left -= 1;
    }
    counts.iter().map(|c| *c as f64 * unit).collect()
}

/// One version's whole content: the canonical text of this is what a signature covers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanContent {
    pub kind: PlanKind,
    pub transition_to: Option<TransitionTo>,
    pub schedule: Schedule,
    pub per_dose_max_mg: f64,
    pub per_day_max_mg: f64,
    pub rationale: String,
    pub holds: HoldSettings,
}

impl PlanContent {
    /// The canonical text stored and signed (fields in declaration order, no whitespace).
    pub fn canonical_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The planned mg on a patient-local day, `None` before the plan begins.
    pub fn planned_mg_on(&self, date: Date) -> Option<f64> {
        self.schedule
            .planned_steps()
            .iter()
            .rev()
            .find(|s| s.from <= date)
            .map(|s| s.planned_mg)
    }

    /// The days the planned target went down, with the targets either side.
    pub fn step_downs(&self) -> Vec<StepDown> {
        self.schedule
            .planned_steps()
            .windows(2)
            .filter(|w| w[1].planned_mg < w[0].planned_mg)
            .map(|w| StepDown {
                on: w[1].from,
                from_mg: w[0].planned_mg,
                to_mg: w[1].planned_mg,
            })
            .collect()
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepDown {
    pub on: Date,
    pub from_mg: f64,
    pub to_mg: f64,
}

/// SHA-256 of a version's canonical text, lower-case hex: what a signature affirms.
pub fn content_digest(canonical_json: &str) -> String {
    let digest = Sha256::digest(canonical_json.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The statement the signing dialog pre-fills (21 CFR 11.50's "meaning" of a signature).
pub const STANDARD_STATEMENT: &str = "I have reviewed this plan with the patient and approve it as their \
     individual plan of care.";

/// The raw generator fields as a client sends them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GeneratorInput {
    pub kind: String,
    pub start_mg: Option<f64>,
    pub percent: Option<f64>,
    pub amount_mg: Option<f64>,
    pub interval_days: Option<i64>,
    pub min_mg: Option<f64>,
    pub end_mg: Option<f64>,
    pub start_date: String,
}

/// One slot as a client sends it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SlotInput {
    pub time: String,
    pub share: Option<f64>,
    pub bedtime: bool,
}

/// Default days between steps when a client leaves it out.
pub const DEFAULT_INTERVAL_DAYS: u32 = 7;
/// The most dose slots in one day.
pub const MAX_SLOTS: usize = 8;
/// Every version is previewed over at least this many days after its last step.
pub const LAST_STEP_DAYS: u32 = 14;

/// Parses and checks the schedule a preview or a draft describes; the caller resolves the
/// batch. Every problem is reported under its field (`generator.percent`, `slots[1].time`).
pub fn parse_schedule(
    generator: &GeneratorInput,
    slots: Option<&[SlotInput]>,
    batch: Option<AssumedBatch>,
    round_to: Option<f64>,
) -> Result<Schedule, FieldErrors> {
    let mut errors = FieldErrors::new();
    let kind = GeneratorKind::from_code(generator.kind.trim());
    if kind.is_none() {
        errors.push(
            "generator.kind",
            "kind must be one of constant, percent_of_original, percent_of_current, fixed_amount, cdc_short_term, occupancy",
        );
    }
    let start_mg = generator.start_mg;
    if start_mg.is_none() {
        errors.push(
            "generator.start_mg",
            "give the starting daily dose in mg of mitragynine",
        );
    }
    let start_date = errors.check(
        "generator.start_date",
        crate::time::parse_date(&generator.start_date, crate::time::Era::Clinical),
    );
    let interval_days = match generator.interval_days {
        None => Some(DEFAULT_INTERVAL_DAYS),
        Some(days) if (1..=365).contains(&days) => Some(days as u32),
        Some(_) => {
            errors.push(
                "generator.interval_days",
                "days between steps must be from 1 to 365",
            );
            None
        }
    };
    if let Some(unit) = round_to
        && !(unit.is_finite() && unit > 0.0 && unit <= 1000.0)
    {
        errors.push(
            "round_to",
            "the rounding unit must be above 0 (e.g. 0.25 g or 1 capsule)",
        );
    }
    let slots = parse_slots(slots, &mut errors);
    let Some(kind) = kind else {
        return Err(errors);
    };
    // Check the generator even when another field failed, with stand-ins for the
    // fields already reported, so a client hears about every field at once.
    let min_mg = generator
        .min_mg
        .or_else(|| default_floor(kind, start_mg, generator.end_mg, batch.as_ref(), round_to));
    let generator = Generator {
        kind,
        start_mg: start_mg.unwrap_or(MAX_DAILY_MG),
        percent: generator.percent,
        amount_mg: generator.amount_mg,
        interval_days: interval_days.unwrap_or(DEFAULT_INTERVAL_DAYS),
        min_mg,
        end_mg: generator.end_mg,
        start_date: start_date.unwrap_or(crate::time::EARLIEST_CLINICAL_DATE),
    };
    let steps = match generator.steps() {
        Ok(steps) => steps,
        Err(more) => {
            let reported: Vec<String> = errors.errors.iter().map(|e| e.field.clone()).collect();
            errors.errors.extend(
                more.errors
                    .into_iter()
                    .filter(|e| !reported.contains(&e.field)),
            );
            Vec::new()
        }
    };
    let (Some(start_mg), Some(start_date), Some(interval_days)) =
        (start_mg, start_date, interval_days)
    else {
        return Err(errors);
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Schedule {
        generator: GeneratorParams {
            kind: kind.code().into(),
            start_mg,
            percent: generator.percent,
            amount_mg: generator.amount_mg,
            interval_days,
            min_mg: generator.min_mg,
            end_mg: generator.end_mg,
            start_date,
        },
        steps: steps
            .iter()
            .map(|s| ExactStep {
                from: s.from,
                daily_mg: s.daily_mg,
            })
            .collect(),
        slots,
        batch,
        round_to,
        adjustments: Vec::new(),
    })
}

/// The share of the starting dose below which a shape that never reaches zero by itself
/// stops, when neither `min_mg` nor a rounding unit says otherwise.
pub const DEFAULT_FLOOR_FRACTION: f64 = 0.10;

/// For the shapes that never reach zero by themselves (exponential, CDC's second phase), the
/// floor when the client gives none and the taper ends at zero: the smallest amount the
/// patient can measure (one rounding unit; CDC 2022: "once the smallest available dose is
/// reached", plans-and-therapy.md §1.1), else 10 % of the starting dose. Stored with the
/// version, so the preview and the signature show it.
fn default_floor(
    kind: GeneratorKind,
    start_mg: Option<f64>,
    end_mg: Option<f64>,
    batch: Option<&AssumedBatch>,
    round_to: Option<f64>,
) -> Option<f64> {
    if !kind.needs_floor() || end_mg.is_some_and(|end| end > 0.0) {
        return None;
    }
    let start = start_mg.filter(|s| s.is_finite() && *s > 0.0)?;
    let per_unit = batch.map_or(1.0, |b| b.mg_per_unit);
    let unit_mg = round_to
        .filter(|r| r.is_finite() && *r > 0.0)
        .map(|r| r * per_unit)
        .filter(|mg| *mg < start);
    Some(unit_mg.unwrap_or(start * DEFAULT_FLOOR_FRACTION))
}

fn parse_slots(slots: Option<&[SlotInput]>, errors: &mut FieldErrors) -> Vec<DoseSlot> {
    let Some(slots) = slots.filter(|s| !s.is_empty()) else {
        return vec![DoseSlot {
            time: Time::constant(8, 0, 0, 0),
            share: 1.0,
            bedtime: false,
        }];
    };
    if slots.len() > MAX_SLOTS {
        errors.push("slots", format!("at most {MAX_SLOTS} dose times a day"));
        return Vec::new();
    }
    let given = slots.iter().filter(|s| s.share.is_some()).count();
    if given != 0 && given != slots.len() {
        errors.push(
            "slots",
            "give every slot a share, or none (the day is then split evenly)",
        );
    }
    let mut parsed = Vec::with_capacity(slots.len());
    for (index, slot) in slots.iter().enumerate() {
        let time = Time::strptime("%H:%M", slot.time.trim()).ok();
        if time.is_none() {
            errors.push(format!("slots[{index}].time"), "give the time as HH:MM");
        }
        let share = slot.share.unwrap_or(1.0 / slots.len() as f64);
        if !(share.is_finite() && share > 0.0 && share <= 1.0) {
            errors.push(
                format!("slots[{index}].share"),
                "a share must be above 0 and at most 1",
            );
        }
        if let Some(time) = time {
            if parsed.iter().any(|s: &DoseSlot| s.time == time) {
                errors.push(
                    format!("slots[{index}].time"),
                    "two slots have the same time",
                );
            }
            parsed.push(DoseSlot {
                time,
                share,
                bedtime: slot.bedtime,
            });
        }
    }
    let total: f64 = slots.iter().map(|s| s.share.unwrap_or(0.0)).sum();
    if given == slots.len() && (total - 1.0).abs() > 0.005 {
        errors.push(
            "slots",
            format!("the slots' shares add up to {total:.3}; they must add up to 1"),
        );
    }
    if slots.iter().filter(|s| s.bedtime).count() > 1 {
        errors.push("slots", "only one slot can be the bedtime dose");
    }
    parsed.sort_by_key(|s| s.time);
    parsed
}

/// The rest of a version, as a client sends it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlanFieldsInput {
    pub kind: String,
    pub transition_to: Option<String>,
    pub per_dose_max_mg: Option<f64>,
    pub per_day_max_mg: Option<f64>,
    pub rationale: String,
    pub holds: Option<HoldSettings>,
}

/// The longest rationale kept.
pub const MAX_RATIONALE: usize = 4000;

/// Checks a whole version around its parsed schedule.
pub fn parse_content(
    fields: &PlanFieldsInput,
    schedule: Schedule,
) -> Result<PlanContent, FieldErrors> {
    let mut errors = FieldErrors::new();
    let kind = PlanKind::parse(&fields.kind);
    if kind.is_none() {
        errors.push("kind", "kind must be one of maintenance, taper, transition");
    }
    let transition_to = match (kind, fields.transition_to.as_deref().map(str::trim)) {
        (Some(PlanKind::Transition), Some(text)) if !text.is_empty() => {
            let to = TransitionTo::parse(text);
            if to.is_none() {
                errors.push(
                    "transition_to",
                    "transition_to must be one of buprenorphine, methadone, naltrexone",
                );
            }
            to
        }
        (Some(PlanKind::Transition), _) => {
            errors.push(
                "transition_to",
                "say what the patient transitions to: buprenorphine, methadone or naltrexone",
            );
            None
        }
        _ => None,
    };
    let planned = schedule.planned_steps();
    let highest_day = planned.iter().map(|s| s.planned_mg).fold(0.0, f64::max);
    let highest_dose = planned
        .iter()
        .flat_map(|s| {
            schedule
                .slot_units(s.units)
                .into_iter()
                .map(|u| u * schedule.mg_per_unit())
        })
        .fold(0.0, f64::max);
    let mut max = |field: &str, value: Option<f64>, floor: f64, what: &str| match value {
        None => errors.push(field, format!("give the {what} in mg of mitragynine")),
        Some(v) if !(v.is_finite() && v > 0.0 && v <= MAX_DAILY_MG) => errors.push(
            field,
            format!("must be above 0 and at most {MAX_DAILY_MG} mg"),
        ),
        Some(v) if v + 1e-9 < floor => errors.push(
            field,
            format!("the plan itself asks for {floor:.1} mg; the {what} cannot be lower"),
        ),
        Some(_) => {}
    };
    max(
        "per_dose_max_mg",
        fields.per_dose_max_mg,
        highest_dose,
        "per-dose maximum",
    );
    max(
        "per_day_max_mg",
        fields.per_day_max_mg,
        highest_day,
        "per-day maximum",
    );
    if let (Some(dose), Some(day)) = (fields.per_dose_max_mg, fields.per_day_max_mg)
        && dose > day
    {
        errors.push(
            "per_dose_max_mg",
            "a single dose's maximum cannot exceed the day's",
        );
    }
    let rationale = fields.rationale.trim();
    if rationale.chars().count() > MAX_RATIONALE {
        errors.push(
            "rationale",
            format!("keep the rationale under {MAX_RATIONALE} characters"),
        );
    }
    if kind == Some(PlanKind::Maintenance) && schedule.generator.kind != "constant" {
        errors.push(
            "generator.kind",
            "a maintenance plan holds a steady target: use the constant generator",
        );
    }
    if kind == Some(PlanKind::Taper) && schedule.generator.kind == "constant" {
        errors.push(
            "generator.kind",
            "a taper steps down: choose a taper shape, or make this a maintenance plan",
        );
    }
    let holds = fields.holds.unwrap_or_default();
    holds.check(&mut errors);
    let Some(kind) = kind else {
        return Err(errors);
    };
    errors.into_result(|| PlanContent {
        kind,
        transition_to,
        schedule,
        per_dose_max_mg: fields.per_dose_max_mg.unwrap_or_default(),
        per_day_max_mg: fields.per_day_max_mg.unwrap_or_default(),
        rationale: rationale.to_owned(),
        holds,
    })
}

/// How a patient-local day compared with the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DayStatus {
    /// Within ±10 % of the planned mg.
    OnPlan,
    Over,
    Under,
    /// Nothing logged on a day with a target above zero.
    NoLog,
}

impl DayStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DayStatus::OnPlan => "on_plan",
            DayStatus::Over => "over",
            DayStatus::Under => "under",
            DayStatus::NoLog => "no_log",
        }
    }
}

/// The tolerance around the planned mg that still counts as on plan.
pub const ON_PLAN_TOLERANCE: f64 = 0.10;

/// A day's status from its planned mg and what was logged (`None`: nothing logged). A
/// day whose target is zero and has nothing logged is on plan: that is the target.
pub fn day_status(planned_mg: f64, taken_mg: Option<f64>) -> DayStatus {
    let Some(taken) = taken_mg else {
        return if planned_mg <= 0.0 {
            DayStatus::OnPlan
        } else {
            DayStatus::NoLog
        };
    };
    let band = planned_mg * ON_PLAN_TOLERANCE;
    if taken > planned_mg + band + 1e-9 {
        DayStatus::Over
    } else if taken + 1e-9 < planned_mg - band {
        DayStatus::Under
    } else {
        DayStatus::OnPlan
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    fn generator(kind: &str) -> GeneratorInput {
        GeneratorInput {
            kind: kind.into(),
            start_mg: Some(100.0),
            percent: Some(25.0),
            amount_mg: None,
            interval_days: Some(7),
            min_mg: None,
            end_mg: None,
            start_date: "2026-12-07".into(),
        }
    }

    fn batch(mg_per_unit: f64, unit: &str) -> AssumedBatch {
        AssumedBatch {
            batch_id: BatchId::new(),
            label: "Test leaf, lot 1".into(),
            unit: unit.into(),
            mg_per_unit,
        }
    }

    #[test]
    fn a_linear_taper_reads_in_capsules_rounded_to_the_nearest_capsule() {
        // 100 mg, -25 mg a week: 100, 75, 50, 25, 0 mg; 12 mg a capsule:
        // 8.33→8, 6.25→6, 4.17→4, 2.08→2, 0.
        let schedule = parse_schedule(
            &generator("percent_of_original"),
            None,
            Some(batch(12.0, "capsule")),
            Some(1.0),
        )
        .unwrap();
        let units: Vec<f64> = schedule.planned_steps().iter().map(|s| s.units).collect();
        assert_eq!(units, vec![8.0, 6.0, 4.0, 2.0, 0.0]);
        let planned: Vec<f64> = schedule
            .planned_steps()
            .iter()
            .map(|s| s.planned_mg)
            .collect();
        assert_eq!(planned, vec![96.0, 72.0, 48.0, 24.0, 0.0]);
        assert_eq!(schedule.steps[1].daily_mg, 75.0);
    }

    #[test]
    fn an_exponential_taper_without_a_floor_stops_at_the_smallest_measurable_unit() {
        // 100 mg, -25 % of the current dose a week, 12 mg capsules rounded to 1: the floor is
        // one capsule. 100, 75, 56.25, 42.19, 31.64, 23.73, 17.80, 13.35; 10.01 < 12 → 0.
        let mut input = generator("percent_of_current");
        input.min_mg = None;
        let schedule =
            parse_schedule(&input, None, Some(batch(12.0, "capsule")), Some(1.0)).unwrap();
        assert_eq!(schedule.generator.min_mg, Some(12.0));
        let targets: Vec<f64> = schedule.steps.iter().map(|s| s.daily_mg).collect();
        assert_eq!(targets.len(), 9);
        assert_eq!(targets.last(), Some(&0.0));
        assert!((targets[7] - 100.0 * 0.75_f64.powi(7)).abs() < 1e-9);
        // Without a rounding unit: 10 % of the starting dose.
        let plain = parse_schedule(&input, None, None, None).unwrap();
        assert_eq!(plain.generator.min_mg, Some(10.0));
    }

    #[test]
    fn slots_split_a_day_into_whole_units_that_add_up_to_the_day() {
        let slots = [
            SlotInput {
                time: "08:00".into(),
                share: Some(2.0 / 3.0),
                bedtime: false,
            },
            SlotInput {
                time: "21:30".into(),
                share: Some(1.0 / 3.0),
                bedtime: true,
            },
        ];
        let schedule = parse_schedule(
            &generator("constant"),
            Some(&slots),
            Some(batch(25.0, "capsule")),
            Some(1.0),
        )
        .unwrap();
        assert_eq!(schedule.slot_units(4.0), vec![3.0, 1.0]);
        assert_eq!(schedule.slot_units(3.0), vec![2.0, 1.0]);
        assert_eq!(schedule.bedtime(), Some(Time::constant(21, 30, 0, 0)));
    }

    #[test]
    fn slot_shares_that_do_not_add_up_to_one_are_refused() {
        let slots = [
            SlotInput {
                time: "08:00".into(),
                share: Some(0.5),
                bedtime: false,
            },
            SlotInput {
                time: "8pm".into(),
                share: Some(0.6),
                bedtime: false,
            },
        ];
        let errors = parse_schedule(&generator("constant"), Some(&slots), None, None).unwrap_err();
        let fields: Vec<&str> = errors.errors.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"slots"), "{fields:?}");
    }

    #[test]
    fn a_per_day_maximum_below_the_plans_own_target_is_refused() {
        let schedule = parse_schedule(&generator("constant"), None, None, None).unwrap();
        let fields = PlanFieldsInput {
            kind: "maintenance".into(),
            per_dose_max_mg: Some(100.0),
            per_day_max_mg: Some(80.0),
            ..Default::default()
        };
        let errors = parse_content(&fields, schedule).unwrap_err();
        assert!(errors.errors.iter().any(|e| e.field == "per_day_max_mg"));
        assert!(errors.errors.iter().any(|e| e.field == "per_dose_max_mg"));
    }

    #[test]
    fn a_transition_plan_says_what_it_leads_to() {
        let schedule = parse_schedule(&generator("percent_of_original"), None, None, None).unwrap();
        let fields = PlanFieldsInput {
            kind: "transition".into(),
            per_dose_max_mg: Some(100.0),
            per_day_max_mg: Some(100.0),
            ..Default::default()
        };
        let errors = parse_content(&fields, schedule.clone()).unwrap_err();
        assert!(errors.errors.iter().any(|e| e.field == "transition_to"));
        let fields = PlanFieldsInput {
            transition_to: Some("naltrexone".into()),
            ..fields
        };
        let content = parse_content(&fields, schedule).unwrap();
        assert_eq!(content.transition_to, Some(TransitionTo::Naltrexone));
    }

    #[test]
    fn the_digest_covers_the_canonical_text_and_changes_with_any_figure() {
        let schedule = parse_schedule(&generator("percent_of_original"), None, None, None).unwrap();
        let fields = PlanFieldsInput {
            kind: "taper".into(),
            per_dose_max_mg: Some(100.0),
            per_day_max_mg: Some(100.0),
            ..Default::default()
        };
        let content = parse_content(&fields, schedule).unwrap();
        let text = content.canonical_json();
        let back: PlanContent = serde_json::from_str(&text).unwrap();
        assert_eq!(back.canonical_json(), text);
        let mut changed = content.clone();
        changed.per_day_max_mg = 101.0;
        assert_ne!(
            content_digest(&text),
            content_digest(&changed.canonical_json())
        );
        assert_eq!(content_digest("abc").len(), 64);
        assert_eq!(
            content_digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn the_planned_target_and_step_downs_follow_the_rounded_steps() {
        let schedule = parse_schedule(&generator("percent_of_original"), None, None, None).unwrap();
        let fields = PlanFieldsInput {
            kind: "taper".into(),
            per_dose_max_mg: Some(100.0),
            per_day_max_mg: Some(100.0),
            ..Default::default()
        };
        let content = parse_content(&fields, schedule).unwrap();
        assert_eq!(content.planned_mg_on(date(2026, 12, 6)), None);
        assert_eq!(content.planned_mg_on(date(2026, 12, 13)), Some(100.0));
        assert_eq!(content.planned_mg_on(date(2026, 12, 14)), Some(75.0));
        let downs = content.step_downs();
        assert_eq!(downs.len(), 4);
        assert_eq!(downs[0].on, date(2026, 12, 14));
        assert_eq!((downs[0].from_mg, downs[0].to_mg), (100.0, 75.0));
    }

    fn dates_and_targets(schedule: &Schedule) -> Vec<(Date, f64)> {
        schedule
            .steps
            .iter()
            .map(|s| (s.from, s.daily_mg))
            .collect()
    }

    #[test]
    fn a_hold_keeps_the_current_step_longer_and_moves_every_later_step() {
        // 100, 75, 50, 25, 0 weekly from 7 December; hold 7 days on 16 December (on 75).
        let schedule = parse_schedule(&generator("percent_of_original"), None, None, None).unwrap();
        let hold = Adjustment::Hold {
            on: date(2026, 12, 16),
            days: 7,
            reason: "SOWS up 12".into(),
        };
        let held = adjust(schedule, &[hold.clone()]).unwrap();
        assert_eq!(
            dates_and_targets(&held),
            vec![
                (date(2026, 12, 7), 100.0),
                (date(2026, 12, 14), 75.0),
                (date(2026, 12, 28), 50.0),
                (date(2027, 1, 4), 25.0),
                (date(2027, 1, 11), 0.0),
            ]
        );
        assert_eq!(held.adjustments, vec![hold]);
    }

    #[test]
    fn a_step_back_returns_to_the_previous_target_then_restarts_the_step() {
        // On 23 December (3rd day of the 50 mg step) back to 75 mg for 7 days; 50 mg then
        // starts again on 30 December for a full week.
        let schedule = parse_schedule(&generator("percent_of_original"), None, None, None).unwrap();
        let back = Adjustment::StepBack {
            on: date(2026, 12, 23),
            days: 7,
            reason: "COWS 26".into(),
        };
        let adjusted = adjust(schedule, &[back]).unwrap();
        let planned: Vec<f64> = adjusted
            .planned_steps()
            .iter()
            .map(|s| s.planned_mg)
            .collect();
        assert_eq!(planned, vec![100.0, 75.0, 50.0, 75.0, 50.0, 25.0, 0.0]);
        assert_eq!(
            dates_and_targets(&adjusted),
            vec![
                (date(2026, 12, 7), 100.0),
                (date(2026, 12, 14), 75.0),
                (date(2026, 12, 21), 50.0),
                (date(2026, 12, 23), 75.0),
                (date(2026, 12, 30), 50.0),
                (date(2027, 1, 6), 25.0),
                (date(2027, 1, 13), 0.0),
            ]
        );
        let first_step = Adjustment::StepBack {
            on: date(2026, 12, 8),
            days: 7,
            reason: String::new(),
        };
        let schedule = parse_schedule(&generator("percent_of_original"), None, None, None).unwrap();
        let errors = adjust(schedule, &[first_step]).unwrap_err();
        assert_eq!(errors.errors[0].field, "adjustments[0].on");
    }

    #[test]
    fn a_day_within_ten_percent_of_the_plan_is_on_plan() {
        assert_eq!(day_status(100.0, Some(110.0)), DayStatus::OnPlan);
        assert_eq!(day_status(100.0, Some(90.0)), DayStatus::OnPlan);
        assert_eq!(day_status(100.0, Some(111.0)), DayStatus::Over);
        assert_eq!(day_status(100.0, Some(89.0)), DayStatus::Under);
        assert_eq!(day_status(100.0, None), DayStatus::NoLog);
        assert_eq!(day_status(0.0, None), DayStatus::OnPlan);
        assert_eq!(day_status(0.0, Some(5.0)), DayStatus::Over);
    }
}
