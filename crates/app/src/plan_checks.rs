//! A dose measured against the patient's signed plan before it is saved: the pages ask
//! "is this right?" about a dose above the plan's per-dose or per-day maximum, then log it
//! as taken once confirmed. The truth is never refused (issue 12 item 5); the API accepts
//! such a dose without asking.

use jiff::civil::Date;
use speciosa_core::audit::Outcome;
use speciosa_core::dose::local_date;
use speciosa_core::ids::{PatientId, PlanId};
use speciosa_core::policy::PatientAction;
use speciosa_store::{Patient, PlanRecord};

use crate::doses::DoseInput;
use crate::{App, AppError, Caller, access};

/// Rounding slack: a dose exactly at a maximum is within it.
const SLACK_MG: f64 = 1e-6;

/// How a dose would go beyond the plan in force on its day.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanExcess {
    pub plan_id: PlanId,
    /// The dose's patient-local day.
    pub on: Date,
    /// The dose's mitragynine, mg.
    pub dose_mg: f64,
    pub per_dose_max_mg: f64,
    /// Mitragynine already logged on the dose's patient-local day, mg.
    pub logged_mg: f64,
    pub per_day_max_mg: f64,
    /// The plan's target for that day, mg.
    pub planned_mg: Option<f64>,
    pub over_dose: bool,
    pub over_day: bool,
}

impl PlanExcess {
    /// Judges a dose of `dose_mg` on a day with `logged_mg` already logged against the
    /// plan's maxima ([`beyond_maxima`]); `None` when it stays within both.
    pub fn judge(plan: &PlanRecord, on: Date, dose_mg: f64, logged_mg: f64) -> Option<Self> {
        let content = &plan.content;
        let (over_dose, over_day) = beyond_maxima(
            content.per_dose_max_mg,
            content.per_day_max_mg,
            dose_mg,
            logged_mg,
        );
        (over_dose || over_day).then(|| PlanExcess {
            plan_id: plan.id,
            on,
            dose_mg,
            per_dose_max_mg: content.per_dose_max_mg,
            logged_mg,
            per_day_max_mg: content.per_day_max_mg,
            planned_mg: content.planned_mg_on(on),
            over_dose,
            over_day,
        })
    }

    /// The day's total with this dose, mg.
    pub fn day_total_mg(&self) -> f64 {
        self.logged_mg + self.dose_mg
    }
}

/// Whether a dose goes beyond the per-dose maximum, and whether the day's total with it
/// goes beyond the per-day maximum. A maximum of zero or less is no maximum; a dose
/// exactly at a maximum is within it.
pub fn beyond_maxima(
    per_dose_max_mg: f64,
    per_day_max_mg: f64,
    dose_mg: f64,
    logged_mg: f64,
) -> (bool, bool) {
    let above = |value: f64, max: f64| max > 0.0 && value > max + SLACK_MG;
    (
        above(dose_mg, per_dose_max_mg),
        above(logged_mg + dose_mg, per_day_max_mg),
    )
}

/// Would a dose of `mitragynine_mg` taken on the patient-local day `on` go beyond the
/// maxima of the signed plan in force that day? `None` without a plan or within it.
/// Authorized as recording a dose; audited as `plan.dose_check` when a plan applies.
pub async fn dose_against_plan(
    app: &App,
    caller: &Caller,
    patient_id: PatientId,
    mitragynine_mg: f64,
    taken_at_local_date: Date,
) -> Result<Option<PlanExcess>, AppError> {
    access::patient(
        app,
        caller,
        patient_id,
        PatientAction::RecordDose,
        "plan.dose_check",
    )
    .await?;
    judge_on(app, caller, patient_id, mitragynine_mg, taken_at_local_date).await
}

/// [`dose_against_plan`] for a dose as entered on a form: its milligrams come from the
/// batch, its day from its time and zone, as when it is logged. An input that cannot be
/// logged (or whose mitragynine is unknown) is not judged here; logging it reports why.
pub async fn dose_input_against_plan(
    app: &App,
    caller: &Caller,
    patient_id: PatientId,
    input: &DoseInput,
) -> Result<Option<PlanExcess>, AppError> {
    let patient: Patient = access::patient_record(
        app,
        caller,
        patient_id,
        PatientAction::RecordDose,
        "plan.dose_check",
    )
    .await?;
    let Ok(new) = crate::doses::prepare_dose(app, caller, &patient, input, None).await else {
        return Ok(None);
    };
    let Some(mg) = new.mitragynine_mg else {
        return Ok(None);
    };
    let zone = jiff::tz::db()
        .get(&new.time_zone)
        .unwrap_or(jiff::tz::TimeZone::UTC);
    let on = local_date(new.taken_at, &zone);
    judge_on(app, caller, patient_id, mg, on).await
}

/// The questions a page asks before logging a dose, both at once: the plan's maxima
/// (unless `plan_confirmed`) and an unusual amount (unless `unusual_confirmed`). Only the
/// plan's question makes this read the unusual one early; otherwise `log_dose` asks it.
pub struct DoseQuestions {
    pub plan: Option<PlanExcess>,
    pub unusual: Option<crate::doses::Unusual>,
}

pub async fn dose_questions(
    app: &App,
    caller: &Caller,
    patient_id: PatientId,
    input: &DoseInput,
    plan_confirmed: bool,
) -> Result<DoseQuestions, AppError> {
    let plan = if plan_confirmed {
        None
    } else {
        dose_input_against_plan(app, caller, patient_id, input).await?
    };
    let mut unusual = None;
    if plan.is_some() && !input.confirm_unusual_amount {
        let patient = access::patient_record(
            app,
            caller,
            patient_id,
            PatientAction::RecordDose,
            "dose.create",
        )
        .await?;
        if let Ok(new) = crate::doses::prepare_dose(app, caller, &patient, input, None).await {
            unusual = crate::doses::unusual_of(app, &new).await?;
        }
    }
    Ok(DoseQuestions { plan, unusual })
}

async fn judge_on(
    app: &App,
    caller: &Caller,
    patient_id: PatientId,
    dose_mg: f64,
    on: Date,
) -> Result<Option<PlanExcess>, AppError> {
    // Signed newest first: the first whose schedule had begun is in force (as adherence).
    let plans = app.store.signed_plans_starting_by(patient_id, on).await?;
    let Some(plan) = plans
        .iter()
        .find(|p| p.signature.is_some() && p.content.schedule.generator.start_date <= on)
    else {
        return Ok(None);
    };
    let logged_mg = app
        .store
        .day_totals(patient_id, on, on)
        .await?
        .first()
        .map_or(0.0, |t| t.mitragynine_mg);
    let excess = PlanExcess::judge(plan, on, dose_mg, logged_mg);
    let mut entry = caller.audit(
        "plan.dose_check",
        "plan",
        Some(plan.id.to_string()),
        Some(patient_id),
        Outcome::Success,
    );
    entry.detail = Some(match &excess {
        Some(e) => format!(
            "{on}: above the plan's {}",
            match (e.over_dose, e.over_day) {
                (true, true) => "per-dose and per-day maxima",
                (true, false) => "per-dose maximum",
                _ => "per-day maximum",
            }
        ),
        None => format!("{on}: within the plan's maxima"),
    });
    app.store.append_audit(entry).await?;
    Ok(excess)
}

#[cfg(test)]
mod tests {
    use super::beyond_maxima;

    #[test]
    fn a_dose_above_the_per_dose_maximum_is_beyond_it_and_one_at_it_is_not() {
        assert_eq!(beyond_maxima(50.0, 150.0, 50.0, 0.0), (false, false));
        assert_eq!(beyond_maxima(50.0, 150.0, 50.5, 0.0), (true, false));
    }

    #[test]
    fn a_dose_that_brings_the_day_over_its_maximum_is_beyond_it() {
        assert_eq!(beyond_maxima(50.0, 150.0, 40.0, 110.0), (false, false));
        assert_eq!(beyond_maxima(50.0, 150.0, 40.0, 120.0), (false, true));
        assert_eq!(beyond_maxima(50.0, 150.0, 60.0, 120.0), (true, true));
    }

    #[test]
    fn a_maximum_of_zero_is_no_maximum() {
        assert_eq!(beyond_maxima(0.0, 0.0, 500.0, 500.0), (false, false));
    }
}
