//! Safety rules: the signals a clinician must see and decide on.
//!
//! Each rule lives in its own module, reads only the [`PatientFacts`] it is given,
//! and returns [`Finding`]s carrying the exact data that fired it. Storage decides
//! whether a finding opens a new alert or is the same condition as one already open
//! (see [`Recurrence`]); nothing here closes an alert — only a person does.

use std::collections::BTreeMap;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::ids::{
    AssessmentId, BatchId, DoseId, EcgId, LabResultId, MedicationId, OverdoseId, PlanId,
};
use crate::instrument::{Answer, Instrument};
use crate::medication::{MedicationClass, is_active_on};
use crate::medicines::{InteractionRow, Mechanism};
use crate::monitoring::MonitoringFacts;
use crate::patient::PregnancyStatus;
use crate::plan::PlanContent;
pub use crate::quality::Severity;
use crate::sleep::DiaryEntry;

pub mod cns_depressant_combination;
pub mod dose_above_plan;
pub mod dose_escalation;
pub mod dosing_frequency;
pub mod interaction;
pub mod legal_status;
pub mod liver_injury_signal;
pub mod missed_checkins;
pub mod naloxone_not_on_hand;
pub mod non_prescribed_opioid_use;
pub mod overdose_event;
pub mod phq9_item9;
pub mod pregnancy_exposure;
pub mod product_quality;
pub mod qt_prolongation;
pub mod red_flag_symptom;
pub mod withdrawal_after_step;
pub mod withdrawal_rising;

/// How far back a dose counts as "kratom is being logged" for the rules that
/// combine use with another fact (pregnancy, depressants, a flagged batch).
/// Two weeks covers several terminal half-lives of mitragynine (23–68 h;
/// pharmacology.md §6, "[derived]") with margin for patients who log irregularly.
pub const KRATOM_IN_USE_WINDOW: SignedDuration = SignedDuration::from_hours(14 * 24);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    Phq9Item9,
    RedFlagSymptom,
    PregnancyExposure,
    ProductQuality,
    DoseEscalation,
    DosingFrequency,
    WithdrawalRising,
    MissedCheckins,
    CnsDepressantCombination,
    DoseAbovePlan,
    WithdrawalAfterStep,
    LiverInjurySignal,
    QtProlongation,
    OverdoseEvent,
    NaloxoneNotOnHand,
    NonPrescribedOpioidUse,
    RacingHeartbeat,
    Interaction,
    LegalStatus,
    HydroxymitragynineEscalation,
}

/// Whether a new finding is the "same condition" as an earlier alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recurrence {
    /// A new event (a new answer) is folded into an alert only while it is still
    /// unread; once someone has acknowledged it, a new event opens a new alert.
    FoldWhileOpen,
    /// An ongoing state is one alert until someone resolves it, acknowledged or not.
    FoldUntilResolved,
    /// A condition that goes on for weeks (kratom use in pregnancy, frequent dosing) is
    /// raised when it starts, then stays one alert however long it lasts — even after
    /// someone resolved it — until it has not fired for `gap`; a return after that is a
    /// change, and a new alert.
    WhileContinuing { gap: SignedDuration },
}

/// How long a continuing condition must have stopped before its return counts as new:
/// long enough to ride over a server that was down for a weekend (the scheduled
/// re-check otherwise refreshes it at least daily).
pub const CONTINUITY_GAP: SignedDuration = SignedDuration::from_hours(3 * 24);

/// What a clinician reads beside an alert: what it means, what to weigh, and where the
/// rule comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Guidance {
    pub title: &'static str,
    pub consider: &'static str,
    pub source: &'static str,
    /// How strong the evidence behind the threshold is, in plain words.
    pub evidence: &'static str,
}

impl Rule {
    pub const ALL: [Rule; 20] = [
        Rule::Phq9Item9,
        Rule::RedFlagSymptom,
        Rule::PregnancyExposure,
        Rule::ProductQuality,
        Rule::DoseEscalation,
        Rule::DosingFrequency,
        Rule::WithdrawalRising,
        Rule::MissedCheckins,
        Rule::CnsDepressantCombination,
        Rule::DoseAbovePlan,
        Rule::WithdrawalAfterStep,
        Rule::LiverInjurySignal,
        Rule::QtProlongation,
        Rule::OverdoseEvent,
        Rule::NaloxoneNotOnHand,
        Rule::NonPrescribedOpioidUse,
        Rule::RacingHeartbeat,
        Rule::Interaction,
        Rule::LegalStatus,
        Rule::HydroxymitragynineEscalation,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Rule::Phq9Item9 => "phq9_item9",
            Rule::RedFlagSymptom => "red_flag_symptom",
            Rule::PregnancyExposure => "pregnancy_exposure",
            Rule::ProductQuality => "product_quality",
            Rule::DoseEscalation => "dose_escalation",
            Rule::DosingFrequency => "dosing_frequency",
            Rule::WithdrawalRising => "withdrawal_rising",
            Rule::MissedCheckins => "missed_checkins",
            Rule::CnsDepressantCombination => "cns_depressant_combination",
            Rule::DoseAbovePlan => "dose_above_plan",
            Rule::WithdrawalAfterStep => "withdrawal_after_step",
            Rule::LiverInjurySignal => "liver_injury_signal",
            Rule::QtProlongation => "qt_prolongation",
            Rule::OverdoseEvent => "overdose_event",
            Rule::NaloxoneNotOnHand => "naloxone_not_on_hand",
            Rule::NonPrescribedOpioidUse => "non_prescribed_opioid_use",
            Rule::RacingHeartbeat => "racing_heartbeat",
            Rule::Interaction => "interaction",
            Rule::LegalStatus => "legal_status",
            Rule::HydroxymitragynineEscalation => "hydroxymitragynine_escalation",
        }
    }

    pub fn from_code(code: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.code() == code)
    }

    pub fn severity(self) -> Severity {
        match self {
            Rule::Phq9Item9
            | Rule::RedFlagSymptom
            | Rule::PregnancyExposure
            | Rule::LiverInjurySignal
            | Rule::OverdoseEvent => Severity::Urgent,
            Rule::MissedCheckins => Severity::Info,
            Rule::ProductQuality
            | Rule::DoseEscalation
            | Rule::DosingFrequency
            | Rule::WithdrawalRising
            | Rule::CnsDepressantCombination
            | Rule::DoseAbovePlan
            | Rule::WithdrawalAfterStep
            | Rule::QtProlongation
            | Rule::NaloxoneNotOnHand
            | Rule::NonPrescribedOpioidUse
            | Rule::RacingHeartbeat
            | Rule::Interaction
            | Rule::LegalStatus
            | Rule::HydroxymitragynineEscalation => Severity::Warning,
        }
    }

    pub fn recurrence(self) -> Recurrence {
        match self {
            Rule::Phq9Item9 | Rule::RedFlagSymptom | Rule::RacingHeartbeat => {
                Recurrence::FoldWhileOpen
            }
            Rule::PregnancyExposure | Rule::DosingFrequency => Recurrence::WhileContinuing {
                gap: CONTINUITY_GAP,
            },
            _ => Recurrence::FoldUntilResolved,
        }
    }

    /// Whether the patient who gave the answer should be shown crisis contacts at once:
    /// suicidality and red-flag symptoms (liver symptoms among them), which they
    /// reported themselves just now.
    pub fn calls_for_crisis_contacts(self) -> bool {
        matches!(
            self,
            Rule::Phq9Item9 | Rule::RedFlagSymptom | Rule::LiverInjurySignal
        )
    }

    /// Whether the rule looks at the state of the record (and so is re-checked on a
    /// schedule) rather than at one submitted answer.
    pub fn is_time_based(self) -> bool {
        !matches!(
            self,
            Rule::Phq9Item9 | Rule::RedFlagSymptom | Rule::RacingHeartbeat
        )
    }

    pub fn guidance(self) -> Guidance {
        match self {
            Rule::Phq9Item9 => phq9_item9::GUIDANCE,
            Rule::RedFlagSymptom => red_flag_symptom::GUIDANCE,
            Rule::PregnancyExposure => pregnancy_exposure::GUIDANCE,
            Rule::ProductQuality => product_quality::GUIDANCE,
            Rule::DoseEscalation => dose_escalation::GUIDANCE,
            Rule::DosingFrequency => dosing_frequency::GUIDANCE,
            Rule::WithdrawalRising => withdrawal_rising::GUIDANCE,
            Rule::MissedCheckins => missed_checkins::GUIDANCE,
            Rule::CnsDepressantCombination => cns_depressant_combination::GUIDANCE,
            Rule::DoseAbovePlan => dose_above_plan::GUIDANCE,
            Rule::WithdrawalAfterStep => withdrawal_after_step::GUIDANCE,
            Rule::LiverInjurySignal => liver_injury_signal::GUIDANCE,
            Rule::QtProlongation => qt_prolongation::GUIDANCE,
            Rule::OverdoseEvent => overdose_event::GUIDANCE,
            Rule::NaloxoneNotOnHand => naloxone_not_on_hand::GUIDANCE,
            Rule::NonPrescribedOpioidUse => non_prescribed_opioid_use::GUIDANCE,
            Rule::RacingHeartbeat => red_flag_symptom::RACING_GUIDANCE,
            Rule::Interaction => interaction::GUIDANCE,
            Rule::LegalStatus => legal_status::GUIDANCE,
            Rule::HydroxymitragynineEscalation => dose_escalation::HYDROXY_GUIDANCE,
        }
    }
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Urgent => "urgent",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }

    pub fn parse(text: &str) -> Option<Severity> {
        [Severity::Urgent, Severity::Warning, Severity::Info]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// The record a rule fired on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Assessment(AssessmentId),
    Dose(DoseId),
    Medication(MedicationId),
    LabResult(LabResultId),
    Ecg(EcgId),
    Overdose(OverdoseId),
    /// The patient's own details (e.g. pregnancy status) or the absence of data.
    Patient,
}

impl Source {
    pub fn kind(&self) -> &'static str {
        match self {
            Source::Assessment(_) => "assessment",
            Source::Dose(_) => "dose",
            Source::Medication(_) => "medication",
            Source::LabResult(_) => "lab_result",
            Source::Ecg(_) => "ecg",
            Source::Overdose(_) => "overdose",
            Source::Patient => "patient",
        }
    }

    pub fn id(&self) -> Option<String> {
        match self {
            Source::Assessment(id) => Some(id.to_string()),
            Source::Dose(id) => Some(id.to_string()),
            Source::Medication(id) => Some(id.to_string()),
            Source::LabResult(id) => Some(id.to_string()),
            Source::Ecg(id) => Some(id.to_string()),
            Source::Overdose(id) => Some(id.to_string()),
            Source::Patient => None,
        }
    }
}

/// A rule that fired, with the exact data behind it.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub rule: Rule,
    /// What the condition is about, when a patient can have several at once
    /// (a batch, a medication); empty otherwise.
    pub scope: String,
    /// Identifies this occurrence of the condition (an assessment, a week, a gap in
    /// check-ins), so a re-check does not raise again what someone already resolved.
    pub episode: String,
    /// One line for lists: what happened, with the numbers.
    pub summary: String,
    pub evidence: serde_json::Value,
    pub source: Source,
}

impl Finding {
    /// The rule's severity; a `legal_status` finding about a jurisdiction where kratom
    /// is regulated or unclear, rather than banned, says `"severity": "info"` in its evidence.
    pub fn severity(&self) -> Severity {
        match self.evidence.get("severity").and_then(|s| s.as_str()) {
            Some("info") if self.rule == Rule::LegalStatus => Severity::Info,
            _ => self.rule.severity(),
        }
    }
}

/// The patient's current doses on one patient-local day (the day in the zone each
/// dose was logged in), from the maintained daily totals.
#[derive(Clone, Debug, PartialEq)]
pub struct DayTotal {
    pub date: Date,
    pub mitragynine_mg: f64,
    pub hydroxymitragynine_mg: f64,
    pub doses: usize,
    /// Doses whose mitragynine could not be computed (no assay, no estimate).
    pub doses_without_mitragynine: usize,
}

/// How many of the patient's most recent current doses the rules read one by one (the
/// latest dose, the latest of each heavy day): everything else comes from day totals.
/// The dosing-frequency rule needs the newest dose of its latest heavy day, and at most
/// 6 lighter days of fewer than 5 doses follow it in its week, so 64 always reaches it.
pub const RECENT_DOSES: usize = 64;
const _: () = assert!(RECENT_DOSES > 6 * (dosing_frequency::DOSES_PER_DAY - 1));

/// How many days of daily totals the rules read: two weeks compared with the two
/// before, and a day either side for patients logging in other time zones.
pub const DAY_TOTALS_READ: i64 = 30;

/// The assessments the state rules read, newest first: `(instrument, how many)`. The
/// latest AUDIT-C and COWS, and the latest two SOWS (a rise is measured between them).
/// The last check-in comes from the patient's summary.
pub const ASSESSMENTS_READ: [(&str, usize); 4] = [
    ("auditc", 1),
    ("cows", 1),
    ("sows", 2),
    // A week of daily red-flag checklists: liver symptoms count for 7 days.
    ("red_flags", 7),
];

/// A logged dose as the rules see it (only current doses: not deleted, not superseded).
#[derive(Clone, Debug, PartialEq)]
pub struct DoseFact {
    pub id: DoseId,
    pub batch_id: BatchId,
    pub taken_at: Timestamp,
    /// The patient-local date it was taken on, in the zone the patient was in.
    pub local_date: Date,
    pub mitragynine_mg: Option<f64>,
    pub hydroxymitragynine_mg: Option<f64>,
    /// Where its milligrams come from: the batch's assay or a natural-leaf estimate.
    pub basis: crate::dose::ExposureBasis,
    /// How much product it was: grams, or mL for liquids (`None` when unknown).
    pub product_amount: Option<f64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AssessmentFact {
    pub id: AssessmentId,
    pub instrument: String,
    pub answers: BTreeMap<String, Answer>,
    pub total: Option<f64>,
    pub band: Option<String>,
    pub completed_at: Timestamp,
}

impl AssessmentFact {
    pub fn answer(&self, item: &str) -> Option<f64> {
        match self.answers.get(item) {
            Some(Answer::Number(value)) => Some(*value),
            _ => None,
        }
    }

    /// The patient-local date it was completed on.
    pub fn local_date(&self, zone: &TimeZone) -> Date {
        self.completed_at.to_zoned_datetime(zone.clone()).date()
    }

    /// A craving rating (`data/instruments/craving.toml`, item "1", 0–10), else `None`.
    pub fn craving(&self) -> Option<f64> {
        if self.instrument != "craving" {
            return None;
        }
        self.answer("1").or(self.total)
    }

    /// A sleep diary's night and its sleep efficiency (%). The diary describes the night
    /// before the morning it was completed on; the night is dated by the evening it
    /// began, so the night of a step's first day is the first night on the new dose.
    pub fn sleep_night(&self, zone: &TimeZone) -> Option<(Date, f64)> {
        if self.instrument != "sleep_diary" {
            return None;
        }
        let morning = self.local_date(zone);
        let metrics = DiaryEntry::from_answers(&self.answers, morning)?
            .metrics(zone)
            .ok()?;
        Some((morning.yesterday().ok()?, metrics.sleep_efficiency_pct))
    }
}

/// The patient's active plan (the signed version in force), as the plan rules read it.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanFacts {
    pub plan_id: PlanId,
    pub content: PlanContent,
}

/// How many assessments of each plan instrument ([`PLAN_INSTRUMENTS`]) the rules read
/// around a step down: the watched days (at most 56) and the week before them (63 days),
/// with room for twice-daily entries.
pub const PLAN_ASSESSMENTS_READ: usize = 128;

/// The instruments the hold/step-back rule reads after a step down.
pub const PLAN_INSTRUMENTS: [&str; 4] = ["sows", "cows", "craving", "sleep_diary"];

/// The days before a step down whose craving and sleep are the baseline.
pub const BASELINE_DAYS: i64 = 7;

#[derive(Clone, Debug, PartialEq)]
pub struct MedicationFact {
    pub id: MedicationId,
    pub name: String,
    pub class: MedicationClass,
    /// The lexicon's ingredient, when the name was recognised.
    pub ingredient: Option<String>,
    pub started_on: Option<Date>,
    pub stopped_on: Option<Date>,
    /// The interaction rows that apply to it (by ingredient and class, with the
    /// organization's own rows), from [`crate::medicines::MedicineKnowledge::rows_for`].
    pub interactions: Vec<InteractionRow>,
}

/// A batch the patient used, with the quality flags that apply to it at this
/// patient's own intake (heavy metals are judged per patient).
#[derive(Clone, Debug, PartialEq)]
pub struct BatchConcern {
    pub batch_id: BatchId,
    pub product_name: String,
    pub lot: String,
    /// Current doses of the batch on the patient-local days the in-use window touches.
    pub doses_in_window: usize,
    /// `(code, explanation)` for every flag the batch carries.
    pub flags: Vec<(String, String)>,
}

/// Everything the rules read about one patient, gathered by the caller.
#[derive(Clone, Debug)]
pub struct PatientFacts {
    pub now: Timestamp,
    pub zone: TimeZone,
    pub enrolled_at: Timestamp,
    pub pregnancy: PregnancyStatus,
    /// The most recent current doses (at most [`RECENT_DOSES`], taken by `now`), plus
    /// the latest dose of each batch used in the in-use window.
    pub doses: Vec<DoseFact>,
    /// Daily totals for the last [`DAY_TOTALS_READ`] patient-local days.
    pub day_totals: Vec<DayTotal>,
    /// The latest assessments the rules need ([`ASSESSMENTS_READ`]).
    pub assessments: Vec<AssessmentFact>,
    /// When the patient last completed any assessment.
    pub last_check_in: Option<Timestamp>,
    pub medications: Vec<MedicationFact>,
    /// The interaction rows for alcohol (the AUDIT-C part of the CNS-depressant rule).
    pub alcohol_interactions: Vec<InteractionRow>,
    pub batch_concerns: Vec<BatchConcern>,
    /// The days in the in-use window whose heavy metals from every batch together are
    /// over a daily limit, none alone ([`crate::quality::QualityStandards::daily_heavy_metal_excesses`]).
    pub heavy_metal_days: Vec<crate::quality::DailyMetalExcess>,
    /// The active signed plan, if any.
    pub plan: Option<PlanFacts>,
    /// For the latest step down of the plan still watched: the [`PLAN_INSTRUMENTS`]
    /// completed from [`BASELINE_DAYS`] before it through `now` (at most
    /// [`PLAN_ASSESSMENTS_READ`] of each), and the last SOWS before it however old.
    pub plan_assessments: Vec<AssessmentFact>,
    /// Labs, ECGs, naloxone, overdoses, opioid use and the check-in rhythm.
    pub monitoring: MonitoringFacts,
    /// Kratom's legal status where the patient lives, today, and the legal scopes of the
    /// batches they used in the in-use window; `None` without a known jurisdiction.
    pub legal: Option<legal_status::LegalFacts>,
}

impl PatientFacts {
    pub fn today(&self) -> Date {
        self.now.to_zoned_datetime(self.zone.clone()).date()
    }

    /// Current doses taken in `(now - window, now]`, oldest first.
    pub fn doses_within(&self, window: SignedDuration) -> Vec<&DoseFact> {
        let since = self.now - window;
        let mut doses: Vec<&DoseFact> = self
            .doses
            .iter()
            .filter(|d| d.taken_at > since && d.taken_at <= self.now)
            .collect();
        doses.sort_by_key(|d| d.taken_at);
        doses
    }

    /// Daily totals for local days in `from..=to`, oldest first.
    pub fn days_between(&self, from: Date, to: Date) -> Vec<&DayTotal> {
        let mut days: Vec<&DayTotal> = self
            .day_totals
            .iter()
            .filter(|d| d.date >= from && d.date <= to)
            .collect();
        days.sort_by_key(|d| d.date);
        days
    }

    /// Current doses on the patient-local days the in-use window touches (from the
    /// local date of its start, in the patient's zone, through today).
    pub fn doses_in_use_window(&self) -> usize {
        let first = (self.now - KRATOM_IN_USE_WINDOW)
            .to_zoned_datetime(self.zone.clone())
            .date();
        self.days_between(first, self.today())
            .iter()
            .map(|d| d.doses)
            .sum()
    }

    /// The most recent dose in the kratom-in-use window, if kratom is being logged.
    pub fn latest_dose_in_use(&self) -> Option<&DoseFact> {
        self.doses_within(KRATOM_IN_USE_WINDOW).last().copied()
    }

    /// Assessments of one instrument, oldest first.
    pub fn assessments_of(&self, instrument: &str) -> Vec<&AssessmentFact> {
        let mut found: Vec<&AssessmentFact> = self
            .assessments
            .iter()
            .filter(|a| a.instrument == instrument && a.completed_at <= self.now)
            .collect();
        found.sort_by_key(|a| a.completed_at);
        found
    }

    /// Medications taken today (by their dates) with a row of this mechanism, each with
    /// that row: what the interaction rules, and the QT rule, read.
    pub fn active_medications_with(
        &self,
        mechanism: Mechanism,
    ) -> Vec<(&MedicationFact, &InteractionRow)> {
        let today = self.today();
        self.medications
            .iter()
            .filter(|m| is_active_on(m.started_on, m.stopped_on, today))
            .flat_map(|m| {
                m.interactions
                    .iter()
                    .filter(move |r| r.mechanism == mechanism)
                    .map(move |r| (m, r))
            })
            .collect()
    }

    /// ISO week of the patient's today, e.g. `2026-W48`: the episode of a weekly review.
    pub fn iso_week(&self) -> String {
        let week = self.today().iso_week_date();
        format!("{}-W{:02}", week.year(), week.week())
    }
}

/// Runs the rules that look at one submitted assessment (PHQ-9 item 9, red flags).
pub fn evaluate_submission(instrument: &Instrument, assessment: &AssessmentFact) -> Vec<Finding> {
    [
        phq9_item9::evaluate(instrument, assessment),
        red_flag_symptom::evaluate(instrument, assessment),
        red_flag_symptom::evaluate_racing_heartbeat(instrument, assessment),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Runs every rule that looks at the state of the record. Called after each write
/// that can change it and on a schedule, since time alone can make them fire.
pub fn evaluate_state(facts: &PatientFacts) -> Vec<Finding> {
    let mut findings = Vec::new();
    findings.extend(pregnancy_exposure::evaluate(facts));
    findings.extend(product_quality::evaluate(facts));
    findings.extend(dose_escalation::evaluate(facts));
    findings.extend(dosing_frequency::evaluate(facts));
    findings.extend(withdrawal_rising::evaluate(facts));
    findings.extend(missed_checkins::evaluate(facts));
    findings.extend(cns_depressant_combination::evaluate(facts));
    findings.extend(dose_above_plan::evaluate(facts));
    findings.extend(withdrawal_after_step::evaluate(facts));
    findings.extend(liver_injury_signal::evaluate(facts));
    findings.extend(qt_prolongation::evaluate(facts));
    findings.extend(overdose_event::evaluate(facts));
    findings.extend(naloxone_not_on_hand::evaluate(facts));
    findings.extend(non_prescribed_opioid_use::evaluate(facts));
    findings.extend(interaction::evaluate(facts));
    findings.extend(legal_status::evaluate(facts));
    findings.extend(dose_escalation::evaluate_hydroxy(facts));
    findings
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use jiff::tz::TimeZone;

    pub fn now() -> Timestamp {
        "2026-11-24T18:00:00Z".parse().unwrap()
    }

    pub fn facts() -> PatientFacts {
        PatientFacts {
            now: now(),
            zone: TimeZone::UTC,
            enrolled_at: "2026-09-01T09:00:00Z".parse().unwrap(),
            pregnancy: PregnancyStatus::NotPregnant,
            doses: Vec::new(),
            day_totals: Vec::new(),
            assessments: Vec::new(),
            last_check_in: None,
            medications: Vec::new(),
            alcohol_interactions: crate::medicines::MedicineKnowledge::bundled()
                .unwrap()
                .alcohol_rows(),
            batch_concerns: Vec::new(),
            heavy_metal_days: Vec::new(),
            plan: None,
            plan_assessments: Vec::new(),
            monitoring: MonitoringFacts::default(),
            legal: None,
        }
    }

    pub fn dose_at(taken_at: Timestamp, mg: f64) -> DoseFact {
        DoseFact {
            id: DoseId::new(),
            batch_id: BatchId::from_uuid(uuid::Uuid::nil()),
            taken_at,
            local_date: taken_at.to_zoned_datetime(TimeZone::UTC).date(),
            mitragynine_mg: Some(mg),
            hydroxymitragynine_mg: Some(mg / 100.0),
            basis: crate::dose::ExposureBasis::Assay,
            product_amount: Some(mg / 16.0),
        }
    }

    /// The daily totals of `doses`, as the store keeps them.
    pub fn day_totals_of(doses: &[DoseFact]) -> Vec<DayTotal> {
        let mut days: BTreeMap<Date, DayTotal> = BTreeMap::new();
        for dose in doses {
            let day = days.entry(dose.local_date).or_insert(DayTotal {
                date: dose.local_date,
                mitragynine_mg: 0.0,
                hydroxymitragynine_mg: 0.0,
                doses: 0,
                doses_without_mitragynine: 0,
            });
            day.mitragynine_mg += dose.mitragynine_mg.unwrap_or(0.0);
            day.hydroxymitragynine_mg += dose.hydroxymitragynine_mg.unwrap_or(0.0);
            day.doses += 1;
            day.doses_without_mitragynine += usize::from(dose.mitragynine_mg.is_none());
        }
        days.into_values().collect()
    }

    /// Facts holding `doses`, one by one and as daily totals.
    pub fn with_doses(mut facts: PatientFacts, doses: Vec<DoseFact>) -> PatientFacts {
        facts.day_totals = day_totals_of(&doses);
        facts.doses = doses;
        facts
    }

    pub fn hours_ago(hours: i64) -> Timestamp {
        now() - SignedDuration::from_hours(hours)
    }

    /// A signed plan of `steps` (`from`, mg a day), unrounded, one slot a day.
    pub fn plan(steps: &[(Date, f64)], per_dose_max_mg: f64, per_day_max_mg: f64) -> PlanFacts {
        use crate::plan::{DoseSlot, ExactStep, GeneratorParams, HoldSettings, PlanKind, Schedule};
        let start = steps
            .first()
            .map_or(jiff::civil::date(2026, 11, 1), |s| s.0);
        PlanFacts {
            plan_id: PlanId::new(),
            content: PlanContent {
                kind: PlanKind::Taper,
                transition_to: None,
                schedule: Schedule {
                    generator: GeneratorParams {
                        kind: "fixed_amount".into(),
                        start_mg: steps.first().map_or(0.0, |s| s.1),
                        percent: None,
                        amount_mg: Some(10.0),
                        interval_days: 7,
                        min_mg: None,
                        end_mg: None,
                        start_date: start,
                    },
                    steps: steps
                        .iter()
                        .map(|&(from, daily_mg)| ExactStep { from, daily_mg })
                        .collect(),
                    slots: vec![DoseSlot {
                        time: jiff::civil::time(8, 0, 0, 0),
                        share: 1.0,
                        bedtime: false,
                    }],
                    batch: None,
                    round_to: None,
                    adjustments: Vec::new(),
                },
                per_dose_max_mg,
                per_day_max_mg,
                rationale: "Test plan".into(),
                holds: HoldSettings::default(),
            },
        }
    }

    pub fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    pub fn craving(value: f64, completed_at: &str) -> AssessmentFact {
        let mut a = assessment("craving", value, at(completed_at));
        a.answers.insert("1".into(), Answer::Number(value));
        a
    }

    /// A diary completed at `completed_at` for 8 h in bed (22:00–06:00) with `awake_min`
    /// minutes awake: sleep efficiency (480 − awake) / 480.
    pub fn diary(completed_at: &str, awake_min: f64) -> AssessmentFact {
        let text = |t: &str| Answer::Text(t.into());
        let answers = BTreeMap::from([
            ("1".to_owned(), text("22:00")),
            ("2".to_owned(), text("22:00")),
            ("3".to_owned(), Answer::Number(0.0)),
            ("4".to_owned(), Answer::Number(1.0)),
            ("5".to_owned(), Answer::Number(awake_min)),
            ("6".to_owned(), text("06:00")),
            ("7".to_owned(), text("06:00")),
        ]);
        AssessmentFact {
            id: AssessmentId::new(),
            instrument: "sleep_diary".into(),
            answers,
            total: None,
            band: None,
            completed_at: at(completed_at),
        }
    }

    pub fn assessment(instrument: &str, total: f64, completed_at: Timestamp) -> AssessmentFact {
        AssessmentFact {
            id: AssessmentId::new(),
            instrument: instrument.into(),
            answers: BTreeMap::new(),
            total: Some(total),
            band: None,
            completed_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_code_round_trips_and_matches_the_acceptance_names() {
        let codes: Vec<_> = Rule::ALL.iter().map(|r| r.code()).collect();
        assert_eq!(
            codes,
            [
                "phq9_item9",
                "red_flag_symptom",
                "pregnancy_exposure",
                "product_quality",
                "dose_escalation",
                "dosing_frequency",
                "withdrawal_rising",
                "missed_checkins",
                "cns_depressant_combination",
                "dose_above_plan",
                "withdrawal_after_step",
                "liver_injury_signal",
                "qt_prolongation",
                "overdose_event",
                "naloxone_not_on_hand",
                "non_prescribed_opioid_use",
                "racing_heartbeat",
                "interaction",
                "legal_status",
                "hydroxymitragynine_escalation"
            ]
        );
        for rule in Rule::ALL {
            assert_eq!(Rule::from_code(rule.code()), Some(rule));
        }
    }

    #[test]
    fn every_rule_cites_a_shared_reference_and_says_what_to_consider() {
        for rule in Rule::ALL {
            let guidance = rule.guidance();
            assert!(
                guidance.source.contains(".md"),
                "{} must cite shared/reference",
                rule.code()
            );
            assert!(!guidance.consider.is_empty() && !guidance.evidence.is_empty());
        }
    }

    #[test]
    fn urgent_rules_are_suicidality_red_flags_pregnancy_liver_injury_and_overdose() {
        let urgent: Vec<_> = Rule::ALL
            .into_iter()
            .filter(|r| r.severity() == Severity::Urgent)
            .map(Rule::code)
            .collect();
        assert_eq!(
            urgent,
            [
                "phq9_item9",
                "red_flag_symptom",
                "pregnancy_exposure",
                "liver_injury_signal",
                "overdose_event"
            ]
        );
        assert_eq!(Rule::MissedCheckins.severity(), Severity::Info);
    }

    #[test]
    fn the_in_use_window_includes_a_dose_just_inside_fourteen_days_only() {
        let mut facts = test_support::facts();
        facts.doses = vec![test_support::dose_at(
            test_support::hours_ago(14 * 24),
            10.0,
        )];
        assert!(facts.latest_dose_in_use().is_none());
        facts.doses = vec![test_support::dose_at(
            test_support::hours_ago(14 * 24) + SignedDuration::from_secs(1),
            10.0,
        )];
        assert!(facts.latest_dose_in_use().is_some());
    }
}
