//! Assessments: validated instruments scored exactly as published (with an
//! organization's own bands where the instrument allows them), the history of a
//! patient's answers, and the safety alerts answers raise.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};
use speciosa_core::account::Role;
use speciosa_core::audit::Outcome;
use speciosa_core::ids::{OrganizationId, PatientId};
use speciosa_core::instrument::{Answer, Band, Instrument, Rater};
use speciosa_core::patient::SexAtBirth;
use speciosa_core::policy::{OrganizationAction, PatientAction};
use speciosa_core::safety::{self, AssessmentFact};
use speciosa_core::sleep::DiaryEntry;
use speciosa_core::time::ClinicalInstant;
use speciosa_store::{Alert, Assessment, AssessmentInsert, NewAssessment, Patient, StoreError};

use crate::{App, AppError, Caller, access, log_chain};

fn defect(what: &str) -> AppError {
    AppError::Internal(StoreError::Corrupt(what.to_owned()))
}

/// The instrument as the organization uses it: the shipped definition, with the
/// organization's own bands where the instrument allows them (SOWS).
pub async fn effective_instrument(
    app: &App,
    organization: OrganizationId,
    code: &str,
) -> Result<Option<Instrument>, AppError> {
    let Some(shipped) = app.knowledge.instruments.get(code) else {
        return Ok(None);
    };
    if !shipped.bands_configurable {
        return Ok(Some(shipped.clone()));
    }
    let Some(stored) = app.store.organization_bands(organization, code).await? else {
        return Ok(Some(shipped.clone()));
    };
    let bands: Vec<Band> = serde_json::from_value(stored).map_err(|error| {
        log_chain("reading an organization's instrument bands", &error);
        defect("instrument bands")
    })?;
    Ok(Some(shipped.with_bands(bands).map_err(|problem| {
        tracing::error!(%problem, "stored instrument bands no longer fit the instrument");
        defect("instrument bands")
    })?))
}

/// Every instrument as the caller's organization uses it.
pub async fn list_instruments(app: &App, caller: &Caller) -> Result<Vec<Instrument>, AppError> {
    let mut instruments = Vec::new();
    for instrument in app.knowledge.instruments.all() {
        let effective =
            effective_instrument(app, caller.actor.organization_id, &instrument.code).await?;
        instruments.extend(effective);
    }
    Ok(instruments)
}

/// One instrument as the caller's organization uses it.
pub async fn read_instrument(
    app: &App,
    caller: &Caller,
    code: &str,
) -> Result<Instrument, AppError> {
    effective_instrument(app, caller.actor.organization_id, code)
        .await?
        .ok_or(AppError::NotFound("instrument"))
}

/// Sets the organization's own bands for an instrument that allows them. Codes and
/// labels are trimmed; the bands must cover the instrument's range without gaps.
pub async fn set_bands(
    app: &App,
    caller: &Caller,
    code: &str,
    bands: Vec<Band>,
) -> Result<Instrument, AppError> {
    access::organization(
        app,
        caller,
        OrganizationAction::ConfigureInstruments,
        "instrument.bands.update",
        "instrument",
    )
    .await?;
    let shipped = app
        .knowledge
        .instruments
        .get(code)
        .ok_or(AppError::NotFound("instrument"))?;
    let bands: Vec<Band> = bands
        .into_iter()
        .map(|b| Band {
            code: b.code.trim().to_owned(),
            label: b.label.trim().to_owned(),
            ..b
        })
        .collect();
    if bands
        .iter()
        .any(|b| b.code.is_empty() || b.label.is_empty())
    {
        return Err(AppError::field(
            "bands",
            "every band needs a code and a label",
        ));
    }
    let configured = shipped
        .with_bands(bands.clone())
        .map_err(|problem| AppError::field("bands", problem))?;
    let stored = serde_json::to_value(&configured.bands).map_err(|_| defect("instrument bands"))?;
    let mut entry = caller.audit(
        "instrument.bands.update",
        "instrument",
        Some(code.to_owned()),
        None,
        Outcome::Success,
    );
    entry.detail = Some(
        bands
            .iter()
            .map(|b| format!("{} {}–{}", b.code, b.min, b.max))
            .collect::<Vec<_>>()
            .join(", "),
    );
    app.store
        .set_organization_bands(
            caller.actor.organization_id,
            code,
            &stored,
            caller.actor.user_id,
            entry,
        )
        .await?;
    Ok(configured)
}

/// The label of an assessment's band: the shipped one, or for an organization's own
/// bands (SOWS, not in the shipped file) its code in words.
pub fn band_label(app: &App, assessment: &Assessment) -> Option<String> {
    app.knowledge
        .instruments
        .get(&assessment.instrument)
        .and_then(|i| {
            i.bands
                .iter()
                .find(|b| Some(&b.code) == assessment.band.as_ref())
        })
        .map(|b| b.label.clone())
        .or_else(|| assessment.band.as_ref().map(|code| code.replace('_', " ")))
}

/// A completed instrument as submitted.
#[derive(Clone, Debug)]
pub struct AssessmentSubmission {
    pub instrument: String,
    /// Item id → the item's published score, or text for diary times and notes.
    pub answers: BTreeMap<String, Answer>,
    /// RFC 3339; now when absent or blank. Future times are refused.
    pub completed_at: Option<String>,
}

/// Whether these alerts came from answers that call for crisis contacts now (PHQ-9
/// item 9, a red flag), rather than from the record's state (escalation, withdrawal).
pub fn needs_crisis_contacts(alerts: &[Alert]) -> bool {
    alerts.iter().any(|a| {
        safety::Rule::from_code(&a.rule).is_some_and(safety::Rule::calls_for_crisis_contacts)
    })
}

/// Scores a submission, stores it and opens an alert for every safety rule it fired,
/// all before returning.
pub async fn submit_assessment(
    app: &App,
    caller: &Caller,
    id: PatientId,
    submission: &AssessmentSubmission,
) -> Result<(Assessment, Vec<Alert>), AppError> {
    let (assessment, alerts, _) = submit_assessment_for(app, caller, id, submission).await?;
    Ok((assessment, alerts))
}

/// As [`submit_assessment`], also giving the patient (whose country names the crisis
/// contacts to offer).
pub async fn submit_assessment_for(
    app: &App,
    caller: &Caller,
    id: PatientId,
    submission: &AssessmentSubmission,
) -> Result<(Assessment, Vec<Alert>, Patient), AppError> {
    match submit_assessment_once(app, caller, id, submission, None).await? {
        AssessmentSubmitted::Created {
            assessment,
            alerts,
            patient,
        } => Ok((assessment, alerts, patient)),
        AssessmentSubmitted::Replayed {
            assessment,
            patient,
        } => Ok((assessment, Vec::new(), patient)),
    }
}

/// What submitting an assessment with an idempotency key came to.
#[derive(Clone, Debug)]
pub enum AssessmentSubmitted {
    /// Stored now, with the alerts its answers raised.
    Created {
        assessment: Assessment,
        alerts: Vec<Alert>,
        patient: Patient,
    },
    /// A retry with the same key and the same answers: the original, stored once.
    Replayed {
        assessment: Assessment,
        patient: Patient,
    },
}

/// The hex SHA-256 of what was submitted, with its patient: what a retried key must match.
fn fingerprint(patient: PatientId, submission: &AssessmentSubmission) -> String {
    let completed_at = submission
        .completed_at
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let canonical = serde_json::to_vec(&(
        patient,
        submission.instrument.trim(),
        &submission.answers,
        completed_at,
    ))
    .unwrap_or_default();
    hex::encode(Sha256::digest(canonical))
}

/// Scores and stores a submission as [`submit_assessment`] does; with `key` (a client's
/// idempotency key, already checked by the adapter) a retry of the same submission
/// returns the original instead of storing it twice, and the key used for different
/// answers is refused naming `Idempotency-Key`.
pub async fn submit_assessment_once(
    app: &App,
    caller: &Caller,
    id: PatientId,
    submission: &AssessmentSubmission,
    key: Option<String>,
) -> Result<AssessmentSubmitted, AppError> {
    let patient = access::patient_record(
        app,
        caller,
        id,
        PatientAction::SubmitAssessment,
        "assessment.create",
    )
    .await?;
    let effective =
        effective_instrument(app, patient.organization_id, submission.instrument.trim()).await?;
    let instrument = effective.as_ref().ok_or_else(|| {
        AppError::field(
            "instrument",
            format!(
                "{:?} is not an instrument Speciosa knows",
                submission.instrument
            ),
        )
    })?;
    if instrument.rater == Rater::Clinician && caller.actor.role == Role::Patient {
        return Err(AppError::Forbidden(format!(
            "{} is rated by a clinician",
            instrument.short_name
        )));
    }
    let now = Timestamp::now();
    let completed_at = match submission
        .completed_at
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        None => now,
        Some(text) => ClinicalInstant::parse(text)
            .map_err(|e| AppError::field("completed_at", e.to_string()))?
            .get(),
    };
    // Clock skew: a device a few minutes fast is not an answer from the future.
    if now
        .checked_add(SignedDuration::from_mins(5))
        .is_ok_and(|latest| completed_at > latest)
    {
        return Err(AppError::field(
            "completed_at",
            "an assessment cannot be completed in the future",
        ));
    }
    let sex = Some(patient.details.sex_at_birth).filter(|s| *s != SexAtBirth::Unknown);
    let scored = instrument.score(&submission.answers, sex)?;
    let metrics = diary_metrics(instrument, &submission.answers, &patient, completed_at)?;
    let new = NewAssessment {
        organization_id: patient.organization_id,
        patient_id: id,
        instrument: instrument.code.clone(),
        answers: submission.answers.clone(),
        total: scored.total,
        band: scored.band.map(|b| b.code),
        metrics,
        completed_at,
        entered_by: caller.actor.user_id,
    };
    let findings = |assessment_id| {
        let fact = AssessmentFact {
            id: assessment_id,
            instrument: instrument.code.clone(),
            answers: submission.answers.clone(),
            total: new.total,
            band: new.band.clone(),
            completed_at,
        };
        safety::evaluate_submission(instrument, &fact)
            .iter()
            .map(crate::safety::new_alert)
            .collect::<Vec<_>>()
    };
    let idempotency = key.map(|key| (key, fingerprint(id, submission)));
    let inserted = app
        .store
        .insert_assessment_once(&new, idempotency, findings, |assessment_id| {
            let mut entry = caller.audit(
                "assessment.create",
                "assessment",
                Some(assessment_id.to_string()),
                Some(id),
                Outcome::Success,
            );
            entry.detail = Some(instrument.code.clone());
            entry
        })
        .await?;
    match inserted {
        AssessmentInsert::Created(assessment, mut raised) => {
            // State rules that read this answer among others (COWS, SOWS, AUDIT-C) run now too.
            raised.extend(crate::safety::after_write(app, caller, &patient).await);
            Ok(AssessmentSubmitted::Created {
                assessment,
                alerts: raised,
                patient,
            })
        }
        AssessmentInsert::Replayed(assessment) => {
            let mut entry = caller.audit(
                "assessment.read",
                "assessment",
                Some(assessment.id.to_string()),
                Some(id),
                Outcome::Success,
            );
            entry.detail = Some("idempotent retry returned the original assessment".into());
            app.store.append_audit(entry).await?;
            Ok(AssessmentSubmitted::Replayed {
                assessment,
                patient,
            })
        }
        AssessmentInsert::KeyReused => Err(AppError::field(
            "Idempotency-Key",
            "this key was already used for a different assessment; use a new key for a new assessment",
        )),
    }
}

/// For sleep diaries: the night's metrics, or a 422 explaining why the diary is impossible.
fn diary_metrics(
    instrument: &Instrument,
    answers: &BTreeMap<String, Answer>,
    patient: &Patient,
    completed_at: Timestamp,
) -> Result<Option<serde_json::Value>, AppError> {
    if instrument.code != "sleep_diary" {
        return Ok(None);
    }
    let zone = patient.details.time_zone.to_zone();
    let morning = completed_at.to_zoned_datetime(zone.clone()).date();
    let Some(entry) = DiaryEntry::from_answers(answers, morning) else {
        return Err(AppError::field(
            "answers",
            "the sleep diary needs items 1 to 7",
        ));
    };
    let metrics = entry
        .metrics(&zone)
        .map_err(|e| AppError::field("answers", e.to_string()))?;
    Ok(serde_json::to_value(metrics).ok())
}

/// A patient's assessments, oldest first, optionally of one instrument; audited.
pub async fn read_history(
    app: &App,
    caller: &Caller,
    id: PatientId,
    instrument: Option<&str>,
) -> Result<Vec<Assessment>, AppError> {
    access::patient(app, caller, id, PatientAction::Read, "assessment.list").await?;
    if let Some(code) = instrument
        && app.knowledge.instruments.get(code).is_none()
    {
        return Err(AppError::field(
            "instrument",
            format!("{code:?} is not an instrument Speciosa knows"),
        ));
    }
    let assessments = app.store.list_assessments(id, instrument).await?;
    let mut entry = caller.audit(
        "assessment.list",
        "assessment",
        None,
        Some(id),
        Outcome::Success,
    );
    entry.detail = Some(format!("{} assessments", assessments.len()));
    app.store.append_audit(entry).await?;
    Ok(assessments)
}

/// Most check-ins of one instrument read per day of the window: a patient may repeat a
/// check-in, never this often.
const CHECKINS_PER_DAY_READ: usize = 8;

/// A patient's own check-ins (instruments the patient rates) completed in the last
/// `days` days through `now`, oldest first; audited. One bounded, indexed read per
/// instrument, so the cost follows the window and not the patient's history.
pub async fn read_recent_checkins(
    app: &App,
    caller: &Caller,
    id: PatientId,
    now: jiff::Timestamp,
    days: i64,
) -> Result<Vec<Assessment>, AppError> {
    access::patient(app, caller, id, PatientAction::Read, "assessment.list").await?;
    let from = now - jiff::SignedDuration::from_hours(24 * days.max(1));
    let limit = usize::try_from(days.max(1))
        .unwrap_or(usize::MAX)
        .saturating_mul(CHECKINS_PER_DAY_READ);
    let mut found = Vec::new();
    for instrument in app
        .knowledge
        .instruments
        .all()
        .iter()
        .filter(|i| i.rater == speciosa_core::instrument::Rater::Patient)
    {
        found.extend(
            app.store
                .assessments_between(id, &instrument.code, from, now, limit)
                .await?,
        );
    }
    found.sort_by_key(|a| a.completed_at);
    let mut entry = caller.audit(
        "assessment.list",
        "assessment",
        None,
        Some(id),
        Outcome::Success,
    );
    entry.detail = Some(format!(
        "{} check-ins from the last {days} days",
        found.len()
    ));
    app.store.append_audit(entry).await?;
    Ok(found)
}

/// A patient's alerts (unresolved first, most urgent, newest), audited.
pub async fn read_patient_alerts(
    app: &App,
    caller: &Caller,
    id: PatientId,
) -> Result<Vec<Alert>, AppError> {
    access::patient(app, caller, id, PatientAction::Read, "alert.list").await?;
    let alerts = app.store.list_alerts(id).await?;
    let mut entry = caller.audit("alert.list", "alert", None, Some(id), Outcome::Success);
    entry.detail = Some(format!("{} alerts", alerts.len()));
    app.store.append_audit(entry).await?;
    Ok(alerts)
}
