//! Running the domain's safety rules against stored records: after every write that
//! can change what they see (before its response is sent) and on a schedule, since
//! the passing of time alone can make a rule fire (no check-in for 3 days).

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use speciosa_core::audit::{AuditEntry, Outcome};
use speciosa_core::dose;
use speciosa_core::ids::{BatchId, PatientId};
use speciosa_core::quality::{BatchDayIntake, BatchMetals, DailyAmount};
use speciosa_core::safety::{
    self, AssessmentFact, BatchConcern, DayTotal, DoseFact, Finding, MedicationFact, PatientFacts,
    PlanFacts, Recurrence, withdrawal_after_step,
};
use speciosa_store::{AlertChange, NewAlert, Patient, StoreError};

use crate::{App, Caller};

/// Metric names this module records (described and bucketed by the server's exporter).
pub const RULE_RUN: &str = "speciosa_safety_rule_run_seconds";
pub const SCHEDULER_RUN: &str = "speciosa_scheduler_run_seconds";
pub const SCHEDULER_LAST_RUN: &str = "speciosa_scheduler_last_run_timestamp_seconds";
pub const SCHEDULER_PATIENTS_CHECKED: &str = "speciosa_scheduler_patients_checked_total";
pub const SCHEDULER_PATIENTS_UNREADABLE: &str = "speciosa_scheduler_patients_unreadable_total";

/// How far back the rules read individual doses (at most `safety::RECENT_DOSES` of
/// them): the in-use window, which also holds the two weeks dose escalation compares.
const DOSE_HISTORY: SignedDuration = safety::KRATOM_IN_USE_WINDOW;

/// The stored form of a finding.
pub fn new_alert(finding: &Finding) -> NewAlert {
    NewAlert {
        rule: finding.rule.code().to_owned(),
        severity: finding.severity().as_str().to_owned(),
        scope: finding.scope.clone(),
        episode: finding.episode.clone(),
        summary: finding.summary.clone(),
        evidence: finding.evidence.clone(),
        source_type: finding.source.kind().to_owned(),
        source_id: finding.source.id().unwrap_or_default(),
        fold_into_acknowledged: finding.rule.recurrence() != Recurrence::FoldWhileOpen,
        continues_within: match finding.rule.recurrence() {
            Recurrence::WhileContinuing { gap } => Some(gap),
            _ => None,
        },
    }
}

/// Gathers what the rules read about one patient: the maintained summaries and bounded
/// windows, so its cost does not grow with the patient's history. Daily totals for
/// the last `safety::DAY_TOTALS_READ` days; the latest `safety::RECENT_DOSES` doses and
/// the latest dose of each batch used in the in-use window; the latest assessments of
/// `safety::ASSESSMENTS_READ`; the last check-in from the patient's summary; the active
/// signed plan and, while one of its step downs is watched, the assessments around it.
pub async fn patient_facts(
    app: &App,
    patient: &Patient,
    now: Timestamp,
) -> Result<PatientFacts, StoreError> {
    let store = &app.store;
    let zone = patient.details.time_zone.to_zone();
    let today = now.to_zoned_datetime(zone.clone()).date();
    // A day of slack either side: doses are dated in the zone they were logged in.
    let first_day = today
        .checked_sub(jiff::Span::new().days(safety::DAY_TOTALS_READ))
        .unwrap_or(today);
    let last_day = today.tomorrow().unwrap_or(today);
    let day_totals = store
        .day_totals(patient.id, first_day, last_day)
        .await?
        .into_iter()
        .map(|d| DayTotal {
            date: d.day,
            mitragynine_mg: d.mitragynine_mg,
            hydroxymitragynine_mg: d.hydroxymitragynine_mg,
            doses: usize::try_from(d.doses).unwrap_or_default(),
            doses_without_mitragynine: usize::try_from(d.doses_without_mitragynine)
                .unwrap_or_default(),
        })
        .collect();
    let mut doses = store
        .recent_doses(patient.id, now - DOSE_HISTORY, now, safety::RECENT_DOSES)
        .await?;
    // Batches used on the local days the in-use window touches, with the heaviest day's
    // grams (or mL): heavy metals are judged at the patient's own intake (USP <2232>
    // daily limits), per batch and summed over every batch taken on each day.
    let since = now - safety::KRATOM_IN_USE_WINDOW;
    let since_day = since.to_zoned_datetime(zone.clone()).date();
    let mut per_batch: BTreeMap<BatchId, (DailyAmount, usize)> = BTreeMap::new();
    let mut intakes = Vec::new();
    for day in store
        .batch_days(
            patient.id,
            since_day.yesterday().unwrap_or(since_day),
            last_day,
        )
        .await?
    {
        let amount = DailyAmount {
            grams: day.grams,
            millilitres: day.millilitres,
        };
        let entry = per_batch.entry(day.batch_id).or_default();
        if amount.grams_for_metals() > entry.0.grams_for_metals() {
            entry.0 = amount;
        }
        if day.day >= since_day && day.day <= today {
            entry.1 += usize::try_from(day.doses).unwrap_or_default();
        }
        if day.day >= since_day {
            intakes.push(BatchDayIntake {
                day: day.day,
                batch_id: day.batch_id,
                amount,
            });
        }
    }
    let mut batch_concerns = Vec::new();
    let mut batch_scopes = Vec::new();
    let mut batch_metals = BTreeMap::new();
    for (batch_id, (heaviest, doses_in_window)) in per_batch {
        // The batch's own latest dose, so a batch used early in the window is judged even
        // when many doses of another came since.
        if !doses.iter().any(|d| d.batch_id == batch_id)
            && let Some(latest) = store
                .latest_dose_of_batch(patient.id, batch_id, since, now)
                .await?
        {
            doses.push(latest);
        }
        let Some(batch) = store.get_batch(batch_id).await? else {
            continue;
        };
        let Some(product) = store.get_product(batch.product_id).await? else {
            continue;
        };
        let mut flags = crate::products::batch_flags(app, &product, &batch);
        batch_scopes.push(safety::legal_status::BatchScopes {
            batch_id,
            product_name: product.details.name.clone(),
            scopes: crate::legal::product_scopes(&product, &batch, &flags),
            hydroxy: safety::legal_status::HydroxyContent::of(
                &product.details.facts(),
                batch.assay.as_ref(),
            ),
        });
        if let Some(assay) = &batch.assay {
            flags.extend(
                app.knowledge
                    .standards
                    .heavy_metal_flags_for(assay, heaviest),
            );
        }
        batch_metals.insert(
            batch_id,
            BatchMetals {
                product_name: product.details.name.clone(),
                lot: batch.lot.clone(),
                metals: batch.assay.as_ref().map(|a| a.heavy_metals.clone()),
            },
        );
        batch_concerns.push(BatchConcern {
            batch_id,
            product_name: product.details.name.clone(),
            lot: batch.lot.clone(),
            doses_in_window,
            flags: flags
                .into_iter()
                .map(|f| (f.code.to_owned(), f.explanation))
                .collect(),
        });
    }
    let heavy_metal_days = app
        .knowledge
        .standards
        .daily_heavy_metal_excesses(&intakes, &batch_metals);
    let dose_facts: Vec<DoseFact> = doses
        .iter()
        .map(|d| {
            let zone = jiff::tz::db()
                .get(&d.time_zone)
                .unwrap_or(jiff::tz::TimeZone::UTC);
            DoseFact {
                id: d.id,
                batch_id: d.batch_id,
                taken_at: d.taken_at,
                local_date: dose::local_date(d.taken_at, &zone),
                mitragynine_mg: d.mitragynine_mg,
                hydroxymitragynine_mg: d.hydroxymitragynine_mg,
                basis: d.exposure_basis,
                product_amount: d.grams.or(d.millilitres),
            }
        })
        .collect();
    let mut assessments = Vec::new();
    for (instrument, count) in safety::ASSESSMENTS_READ {
        for a in store
            .latest_assessments(patient.id, instrument, now, count)
            .await?
            .into_iter()
            .rev()
        {
            assessments.push(assessment_fact(a));
        }
    }
    let plan = store.active_plan(patient.id).await?.map(|p| PlanFacts {
        plan_id: p.id,
        content: p.content,
    });
    let plan_assessments = plan_assessments(app, patient.id, plan.as_ref(), &zone, now).await?;
    let last_check_in = store.patient_summary(patient.id).await?.last_check_in_at;
    // One read of the organization's own knowledge rows serves the medicines and the law.
    let overrides = store
        .current_knowledge_overrides(patient.organization_id)
        .await?;
    let medicines = crate::medicines::knowledge_from(app, patient.organization_id, &overrides);
    let medications = store
        .list_medications(patient.id)
        .await?
        .into_iter()
        .map(|m| MedicationFact {
            interactions: crate::medicines::rows_for(&medicines, &m),
            id: m.id,
            name: m.name,
            class: m.class,
            ingredient: m.ingredient,
            started_on: m.started_on,
            stopped_on: m.stopped_on,
        })
        .collect();
    let alcohol_interactions = medicines.alcohol_rows();
    let dataset = crate::legal::dataset_from(app, patient.organization_id, &overrides);
    Ok(PatientFacts {
        now,
        zone,
        enrolled_at: patient.created_at,
        pregnancy: patient.details.pregnancy_status,
        doses: dose_facts,
        day_totals,
        assessments,
        last_check_in,
        medications,
        alcohol_interactions,
        batch_concerns,
        heavy_metal_days,
        plan,
        plan_assessments,
        monitoring: crate::monitoring::facts(app, patient, now).await?,
        legal: patient.details.jurisdiction.as_ref().and_then(|j| {
            let known = dataset.resolve_patient(j.code())?;
            Some(safety::legal_status::LegalFacts {
                jurisdiction: known.id.clone(),
                answer: dataset.rules_in_force(&known.id, today)?,
                batches: batch_scopes,
            })
        }),
    })
}

pub(crate) fn assessment_fact(a: speciosa_store::Assessment) -> AssessmentFact {
    AssessmentFact {
        id: a.id,
        instrument: a.instrument,
        answers: a.answers,
        total: a.total,
        band: a.band,
        completed_at: a.completed_at,
    }
}

/// What the hold/step-back rule reads, only while a step down of `plan` is watched: each
/// of `safety::PLAN_INSTRUMENTS` completed from the baseline week before the step through
/// `now` (at most `safety::PLAN_ASSESSMENTS_READ` of each, newest kept), and the last
/// SOWS before the step however old, since a SOWS rise is measured from it.
async fn plan_assessments(
    app: &App,
    patient: PatientId,
    plan: Option<&PlanFacts>,
    zone: &jiff::tz::TimeZone,
    now: Timestamp,
) -> Result<Vec<AssessmentFact>, StoreError> {
    let today = now.to_zoned_datetime(zone.clone()).date();
    let Some(step) = plan.and_then(|p| withdrawal_after_step::watched_step(&p.content, today))
    else {
        return Ok(Vec::new());
    };
    let start_of = |day: jiff::civil::Date| {
        zone.to_ambiguous_timestamp(day.to_datetime(jiff::civil::Time::midnight()))
            .compatible()
            .unwrap_or(now)
    };
    let from = start_of(withdrawal_after_step::baseline_start(step.on));
    let mut found = Vec::new();
    for instrument in safety::PLAN_INSTRUMENTS {
        found.extend(
            app.store
                .assessments_between(
                    patient,
                    instrument,
                    from,
                    now,
                    safety::PLAN_ASSESSMENTS_READ,
                )
                .await?
                .into_iter()
                .map(assessment_fact),
        );
    }
    let step_start = start_of(step.on);
    let has_baseline_sows = found
        .iter()
        .any(|a| a.instrument == "sows" && a.completed_at < step_start);
    if !has_baseline_sows {
        // Times are stored to the microsecond: this is the last instant before the step.
        let before_step = step_start - SignedDuration::from_micros(1);
        found.extend(
            app.store
                .latest_assessments(patient, "sows", before_step, 1)
                .await?
                .into_iter()
                .map(assessment_fact),
        );
    }
    Ok(found)
}

/// Runs the state rules for one patient and records what they found. `trigger` is the
/// audit event prototype: the user whose write prompted the run, or the scheduler.
pub async fn check_patient(
    app: &App,
    patient: &Patient,
    trigger: &AuditEntry,
) -> Result<Vec<AlertChange>, StoreError> {
    let started = std::time::Instant::now();
    let facts = patient_facts(app, patient, Timestamp::now()).await?;
    let findings: Vec<NewAlert> = safety::evaluate_state(&facts)
        .iter()
        .map(new_alert)
        .collect();
    let changes = app
        .store
        .record_findings(patient.organization_id, patient.id, &findings, trigger)
        .await;
    metrics::histogram!(RULE_RUN).record(started.elapsed().as_secs_f64());
    changes
}

/// Runs the state rules after a write by `user`, before its response is sent. Returns
/// the alerts the run raised or folded into. A failure here does not undo the
/// write (it is already committed); it is logged, and the scheduled check, which
/// re-runs every rule for every patient, records the finding on its next pass.
pub async fn after_write(
    app: &App,
    caller: &Caller,
    patient: &Patient,
) -> Vec<speciosa_store::Alert> {
    let trigger = caller.audit(
        "alert.check",
        "alert",
        None,
        Some(patient.id),
        Outcome::Success,
    );
    let changes = match check_patient(app, patient, &trigger).await {
        Ok(changes) => changes,
        Err(error) => {
            crate::log_chain("checking safety rules after a write", &error);
            return Vec::new();
        }
    };
    let mut alerts = Vec::new();
    for change in changes {
        if matches!(change, AlertChange::Unchanged(_)) {
            continue;
        }
        if let Ok(Some(alert)) = app.store.get_alert(change.alert_id()).await {
            alerts.push(alert);
        }
    }
    alerts
}

/// Re-checks the patients who used a batch in the last 14 days after the batch changed
/// (a recall, a new certificate), so a product-quality alert does not wait for the
/// schedule. The changes are recorded as the system's, naming the batch: the person
/// editing the catalogue may not be on those patients' care teams.
pub async fn after_batch_change(app: &App, batch: BatchId) {
    let since = Timestamp::now() - safety::KRATOM_IN_USE_WINDOW;
    let patients = match app.store.patients_dosing_batch_since(batch, since).await {
        Ok(patients) => patients,
        Err(error) => {
            crate::log_chain("finding the patients a batch change concerns", &error);
            return;
        }
    };
    for id in patients {
        let Ok(Some(patient)) = app.store.get_patient(id).await else {
            continue;
        };
        let mut trigger = scheduler_entry(&patient);
        trigger.detail = Some(format!("rule check after batch {batch} changed"));
        if let Err(error) = check_patient(app, &patient, &trigger).await {
            crate::log_chain("checking safety rules after a batch change", &error);
        }
    }
}

/// The audit prototype for changes the scheduler makes: no user acted.
fn scheduler_entry(patient: &Patient) -> AuditEntry {
    AuditEntry {
        actor_user_id: None,
        actor_role: None,
        organization_id: Some(patient.organization_id),
        action: "alert.check".into(),
        resource_type: "alert".into(),
        resource_id: None,
        patient_id: Some(patient.id),
        outcome: Outcome::Success,
        client_addr: None,
        detail: Some("scheduled rule check".into()),
    }
}

/// What one scheduled pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckSummary {
    /// Patients whose rules ran.
    pub checked: usize,
    /// Patients skipped because their records could not be read (or checking them failed).
    pub unreadable: usize,
    /// Alerts raised or folded.
    pub changed: usize,
}

/// Logs a patient whose records could not be read: the id and where, never the values.
pub fn log_unreadable(context: &str, patient: PatientId, error: &StoreError) {
    tracing::error!(
        patient.id = %patient,
        error = %error,
        "{context}: the patient's record could not be read"
    );
}

/// How many due patients one claim leases: a bound on the work a server takes at once.
pub const CHECK_BATCH: u32 = 64;

/// How long a claimed patient stays leased to the server checking it. A server that dies
/// mid-check loses the lease after this, and another server checks the patient.
const CHECK_LEASE: SignedDuration = SignedDuration::from_mins(5);

/// Checks every patient whose check is due, in leased batches of [`CHECK_BATCH`], and
/// sets each one's next check `interval` after this pass began. Each patient is checked
/// in a task of its own, so an unreadable record or a defect that panics costs that
/// patient's check only: it is logged, counted and retried at its next due time, and
/// every other patient is still checked. Only an unreachable database ends the pass early.
/// Several servers sharing one database each claim different patients.
pub async fn check_due_patients(
    app: &App,
    worker: uuid::Uuid,
    interval: SignedDuration,
) -> Result<CheckSummary, StoreError> {
    let mut summary = CheckSummary::default();
    let pass_started = Timestamp::now();
    let next_at = pass_started + interval;
    loop {
        let due = app
            .store
            .claim_due_checks(worker, pass_started, CHECK_LEASE, CHECK_BATCH)
            .await?;
        let claimed = due.len();
        for patient_id in due {
            let task_app = app.clone();
            let outcome = tokio::spawn(async move {
                let Some(patient) = task_app.store.get_patient(patient_id).await? else {
                    return Ok(None);
                };
                check_patient(&task_app, &patient, &scheduler_entry(&patient))
                    .await
                    .map(Some)
            })
            .await;
            let failed = match outcome {
                Ok(Ok(None)) => false,
                Ok(Ok(Some(changes))) => {
                    summary.checked += 1;
                    summary.changed += changes
                        .iter()
                        .filter(|c| !matches!(c, AlertChange::Unchanged(_)))
                        .count();
                    false
                }
                Ok(Err(error)) if error.is_unavailable() => return Err(error),
                Ok(Err(error)) => {
                    summary.unreadable += 1;
                    log_unreadable("scheduled safety check", patient_id, &error);
                    true
                }
                Err(_) => {
                    summary.unreadable += 1;
                    tracing::error!(
                        patient.id = %patient_id,
                        "scheduled safety check: checking the patient panicked"
                    );
                    true
                }
            };
            app.store
                .finish_check(worker, patient_id, Timestamp::now(), next_at, failed)
                .await?;
        }
        if claimed < CHECK_BATCH as usize {
            break;
        }
    }
    Ok(summary)
}

/// How far behind the scheduler is: the wait of the longest-overdue check (0 when none).
pub const SCHEDULER_LAG: &str = "speciosa_scheduler_lag_seconds";
/// Checks due now and not yet done.
pub const SCHEDULER_DUE: &str = "speciosa_scheduler_due_patients";

async fn record_lag(app: &App) {
    let now = Timestamp::now();
    match app.store.check_queue(now).await {
        Ok(queue) => {
            let lag = queue
                .oldest_due_at
                .map_or(0.0, |due| (now - due).as_secs_f64().max(0.0));
            metrics::gauge!(SCHEDULER_LAG).set(lag);
            metrics::gauge!(SCHEDULER_DUE).set(queue.due as f64);
        }
        Err(error) => crate::log_chain("reading the scheduler's queue", &error),
    }
}

/// Exposes a pass on `/metrics`: its length, when it last finished, whom it checked.
fn record_pass(pass: &Result<CheckSummary, StoreError>, took: std::time::Duration) {
    metrics::histogram!(SCHEDULER_RUN).record(took.as_secs_f64());
    if let Ok(summary) = pass {
        metrics::gauge!(SCHEDULER_LAST_RUN).set(Timestamp::now().as_millisecond() as f64 / 1000.0);
        metrics::counter!(SCHEDULER_PATIENTS_CHECKED).increment(summary.checked as u64);
        metrics::counter!(SCHEDULER_PATIENTS_UNREADABLE).increment(summary.unreadable as u64);
    }
}

/// Runs the time-based rules for the patients due at start-up and then every `interval`;
/// each patient is re-checked `interval` after its last check.
pub async fn check_periodically(app: App, interval: std::time::Duration) {
    let worker = uuid::Uuid::now_v7();
    let every = SignedDuration::try_from(interval).unwrap_or(SignedDuration::from_mins(5));
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        record_lag(&app).await;
        let started = std::time::Instant::now();
        let pass = check_due_patients(&app, worker, every).await;
        record_pass(&pass, started.elapsed());
        match pass {
            Ok(summary) if summary.unreadable > 0 => tracing::warn!(
                checked = summary.checked,
                unreadable = summary.unreadable,
                changed = summary.changed,
                "scheduled safety check finished; some patients could not be checked"
            ),
            Ok(summary) => tracing::info!(
                checked = summary.checked,
                unreadable = summary.unreadable,
                changed = summary.changed,
                "scheduled safety check finished"
            ),
            Err(error) => crate::log_chain("scheduled safety check", &error),
        }
    }
}
