//! Clinical monitoring (issue 15): liver tests and ECGs, naloxone on hand, overdoses,
//! non-prescribed opioid use and breastfeeding. Every write is authorized, audited and
//! followed by the safety rules before the use case returns, so the response already
//! knows the alerts it raised.

use jiff::Timestamp;
use speciosa_core::audit::Outcome;
use speciosa_core::checkin::Frequency;
use speciosa_core::ids::PatientId;
use speciosa_core::instrument::Rater;
use speciosa_core::monitoring::{
    BreastfeedingStatus, EcgFact, EcgFields, LAB_WINDOW, LABS_PER_TEST, LabFact, LabResultFields,
    LabTest, MonitoringFacts, NaloxoneFact, NaloxoneFields, NaloxoneStatus, NewEcg, NewLabResult,
    NewOpioidUse, NewOverdose, OPIOID_USE_WINDOW, OVERDOSE_ALERT_WINDOW, OVERDOSE_HISTORY,
    OVERDOSES_READ, OpioidUseFact, OpioidUseFields, OverdoseFact, OverdoseFields,
};
use speciosa_core::policy::PatientAction;
use speciosa_store::{
    Alert, Ecg, LabResult, MONITORING_READ_LIMIT, NaloxoneRecord, OpioidUse, Overdose, Patient,
    StoreError,
};

use crate::medications::patient_today;
use crate::{App, AppError, Caller, access};

/// A write as stored, with the alerts the rules raised or folded into.
pub struct Recorded<T> {
    pub patient: Patient,
    pub record: T,
    pub alerts: Vec<Alert>,
}

/// Everything the record page and the API's overview show, each a bounded read.
pub struct MonitoringOverview {
    pub labs: Vec<LabResult>,
    pub ecgs: Vec<Ecg>,
    pub naloxone: Option<NaloxoneRecord>,
    pub overdoses: Vec<Overdose>,
    pub opioid_use: Vec<OpioidUse>,
    pub breastfeeding: BreastfeedingStatus,
}

/// How many of each the overview lists.
pub const OVERVIEW_ROWS: usize = 20;

fn audit_success(
    caller: &Caller,
    action: &str,
    resource: &str,
    id: Option<String>,
    patient: PatientId,
    detail: Option<String>,
) -> speciosa_core::audit::AuditEntry {
    let mut entry = caller.audit(action, resource, id, Some(patient), Outcome::Success);
    entry.detail = detail;
    entry
}

pub async fn record_lab_result(
    app: &App,
    caller: &Caller,
    id: PatientId,
    fields: &LabResultFields<'_>,
) -> Result<Recorded<LabResult>, AppError> {
    let patient = access::patient_record(
        app,
        caller,
        id,
        PatientAction::RecordClinicalMeasures,
        "lab_result.create",
    )
    .await?;
    let result = NewLabResult::parse(fields, Timestamp::now())?;
    let record = app
        .store
        .insert_lab_result(
            patient.organization_id,
            id,
            &result,
            caller.actor.user_id,
            |lab| {
                audit_success(
                    caller,
                    "lab_result.create",
                    "lab_result",
                    Some(lab.to_string()),
                    id,
                    Some(result.test.code().to_owned()),
                )
            },
        )
        .await?;
    let alerts = crate::safety::after_write(app, caller, &patient).await;
    Ok(Recorded {
        patient,
        record,
        alerts,
    })
}

pub async fn record_ecg(
    app: &App,
    caller: &Caller,
    id: PatientId,
    fields: &EcgFields<'_>,
) -> Result<Recorded<Ecg>, AppError> {
    let patient = access::patient_record(
        app,
        caller,
        id,
        PatientAction::RecordClinicalMeasures,
        "ecg.create",
    )
    .await?;
    let ecg = NewEcg::parse(fields, Timestamp::now())?;
    let record = app
        .store
        .insert_ecg(
            patient.organization_id,
            id,
            &ecg,
            caller.actor.user_id,
            |e| audit_success(caller, "ecg.create", "ecg", Some(e.to_string()), id, None),
        )
        .await?;
    let alerts = crate::safety::after_write(app, caller, &patient).await;
    Ok(Recorded {
        patient,
        record,
        alerts,
    })
}

pub async fn set_naloxone(
    app: &App,
    caller: &Caller,
    id: PatientId,
    fields: &NaloxoneFields<'_>,
) -> Result<Recorded<NaloxoneRecord>, AppError> {
    let patient = access::patient_record(
        app,
        caller,
        id,
        PatientAction::UpdateNaloxone,
        "naloxone.update",
    )
    .await?;
    let status = NaloxoneStatus::parse(fields, patient_today(&patient))?;
    let record = app
        .store
        .set_naloxone(
            id,
            &status,
            caller.actor.user_id,
            audit_success(
                caller,
                "naloxone.update",
                "naloxone",
                None,
                id,
                Some(
                    if status.on_hand {
                        "on hand"
                    } else {
                        "not on hand"
                    }
                    .to_owned(),
                ),
            ),
        )
        .await?;
    let alerts = crate::safety::after_write(app, caller, &patient).await;
    Ok(Recorded {
        patient,
        record,
        alerts,
    })
}

pub async fn record_overdose(
    app: &App,
    caller: &Caller,
    id: PatientId,
    fields: &OverdoseFields<'_>,
) -> Result<Recorded<Overdose>, AppError> {
    let patient = access::patient_record(
        app,
        caller,
        id,
        PatientAction::ReportOverdose,
        "overdose.create",
    )
    .await?;
    let overdose = NewOverdose::parse(fields, Timestamp::now())?;
    let by_patient = caller.actor.own_patient_id == Some(id);
    let record = app
        .store
        .insert_overdose(
            patient.organization_id,
            id,
            &overdose,
            caller.actor.user_id,
            by_patient,
            |o| {
                audit_success(
                    caller,
                    "overdose.create",
                    "overdose",
                    Some(o.to_string()),
                    id,
                    None,
                )
            },
        )
        .await?;
    let alerts = crate::safety::after_write(app, caller, &patient).await;
    Ok(Recorded {
        patient,
        record,
        alerts,
    })
}

pub async fn record_opioid_use(
    app: &App,
    caller: &Caller,
    id: PatientId,
    fields: &OpioidUseFields<'_>,
) -> Result<Recorded<OpioidUse>, AppError> {
    let patient = access::patient_record(
        app,
        caller,
        id,
        PatientAction::RecordClinicalMeasures,
        "opioid_use.create",
    )
    .await?;
    let record = NewOpioidUse::parse(fields, patient_today(&patient))?;
    let stored = app
        .store
        .insert_opioid_use(
            patient.organization_id,
            id,
            &record,
            caller.actor.user_id,
            |u| {
                audit_success(
                    caller,
                    "opioid_use.create",
                    "opioid_use",
                    Some(u.to_string()),
                    id,
                    Some(record.source.as_str().to_owned()),
                )
            },
        )
        .await?;
    let alerts = crate::safety::after_write(app, caller, &patient).await;
    Ok(Recorded {
        patient,
        record: stored,
        alerts,
    })
}

/// The monitoring record of one patient, audited as `monitoring.read`.
pub async fn overview(
    app: &App,
    caller: &Caller,
    id: PatientId,
) -> Result<(Patient, MonitoringOverview), AppError> {
    let patient =
        access::patient_record(app, caller, id, PatientAction::Read, "monitoring.read").await?;
    let overview = load_overview(app, &patient).await?;
    app.store
        .append_audit(caller.audit(
            "monitoring.read",
            "patient",
            Some(id.to_string()),
            Some(id),
            Outcome::Success,
        ))
        .await?;
    Ok((patient, overview))
}

async fn load_overview(app: &App, patient: &Patient) -> Result<MonitoringOverview, StoreError> {
    let store = &app.store;
    let now = Timestamp::now();
    // The clinical era's start and a day ahead (clocks drift): bounds both databases take.
    let earliest =
        speciosa_core::time::start_of_utc_day(speciosa_core::time::Era::Clinical.earliest())
            .unwrap_or(now);
    let latest = now + jiff::SignedDuration::from_hours(24);
    Ok(MonitoringOverview {
        labs: store
            .lab_results(patient.id, None, earliest, latest, OVERVIEW_ROWS)
            .await?,
        ecgs: store.ecgs(patient.id, latest, OVERVIEW_ROWS).await?,
        naloxone: store.naloxone(patient.id).await?,
        overdoses: store
            .recent_overdoses(patient.id, earliest, earliest, OVERVIEW_ROWS)
            .await?,
        opioid_use: store
            .opioid_use_since(
                patient.id,
                speciosa_core::time::Era::Clinical.earliest(),
                OVERVIEW_ROWS,
            )
            .await?,
        breastfeeding: patient.details.breastfeeding_status,
    })
}

/// The naloxone answer alone, for the patient's home page.
pub async fn naloxone(
    app: &App,
    caller: &Caller,
    id: PatientId,
) -> Result<Option<NaloxoneRecord>, AppError> {
    access::patient(app, caller, id, PatientAction::Read, "naloxone.read").await?;
    let record = app.store.naloxone(id).await?;
    app.store
        .append_audit(caller.audit(
            "naloxone.read",
            "naloxone",
            None,
            Some(id),
            Outcome::Success,
        ))
        .await?;
    Ok(record)
}

/// What the monitoring rules read about one patient at `now`: bounded windows only.
pub(crate) async fn facts(
    app: &App,
    patient: &Patient,
    now: Timestamp,
) -> Result<MonitoringFacts, StoreError> {
    let store = &app.store;
    let zone = patient.details.time_zone.to_zone();
    let mut labs = Vec::new();
    for test in [LabTest::Alt, LabTest::Ast, LabTest::TotalBilirubin] {
        labs.extend(
            store
                .lab_results(patient.id, Some(test), now - LAB_WINDOW, now, LABS_PER_TEST)
                .await?
                .into_iter()
                .map(|r| LabFact {
                    id: r.id,
                    test: r.test,
                    value: r.value,
                    unit: r.unit,
                    reference_high: r.reference_high,
                    observed_at: r.observed_at,
                }),
        );
    }
    let ecgs = store
        .ecgs(patient.id, now, 2)
        .await?
        .into_iter()
        .map(|e| EcgFact {
            id: e.id,
            qtc_ms: e.qtc_ms,
            recorded_at: e.recorded_at,
        })
        .collect();
    let naloxone = store.naloxone(patient.id).await?.map(|n| NaloxoneFact {
        status: n.status,
        updated_at: n.updated_at,
    });
    let overdoses = store
        .recent_overdoses(
            patient.id,
            now - OVERDOSE_HISTORY,
            now - OVERDOSE_ALERT_WINDOW,
            OVERDOSES_READ,
        )
        .await?
        .into_iter()
        .filter(|o| o.recorded_at <= now)
        .map(|o| OverdoseFact {
            id: o.id,
            occurred_at: o.occurred_at,
            recorded_at: o.recorded_at,
            substances: o.substances,
            naloxone_used: o.naloxone_used,
            emergency_care: o.emergency_care,
            reported_by_patient: o.reported_by_patient,
        })
        .collect();
    let use_since = (now - OPIOID_USE_WINDOW).to_zoned_datetime(zone).date();
    let opioid_use = store
        .opioid_use_since(patient.id, use_since, MONITORING_READ_LIMIT.min(20))
        .await?
        .into_iter()
        .map(|u| OpioidUseFact {
            id: u.id,
            used_on: u.used_on,
            substance: u.substance,
        })
        .collect();
    let reported_opioid_use = store
        .latest_positive_assessment(patient.id, "opioid_use", now - OPIOID_USE_WINDOW, now)
        .await?;
    Ok(MonitoringFacts {
        labs,
        ecgs,
        naloxone,
        overdoses,
        opioid_use,
        reported_opioid_use,
        checkin_rhythm: checkin_rhythm(app, patient).await?,
        sex_at_birth: patient.details.sex_at_birth,
        breastfeeding: patient.details.breastfeeding_status,
    })
}

/// The most frequent of the patient's scheduled self-report instruments.
async fn checkin_rhythm(app: &App, patient: &Patient) -> Result<Frequency, StoreError> {
    let overrides = app.store.schedule_overrides(patient.id).await?;
    let mut rhythm = Frequency::Off;
    for instrument in app.knowledge.instruments.all() {
        if instrument.rater != Rater::Patient {
            continue;
        }
        let frequency = overrides
            .get(&instrument.code)
            .and_then(|f| f.parse().ok())
            .unwrap_or_else(|| app.knowledge.checkin_defaults.frequency(&instrument.code));
        rhythm = match (rhythm, frequency) {
            (_, Frequency::Daily) | (Frequency::Daily, _) => Frequency::Daily,
            (_, Frequency::Weekly) | (Frequency::Weekly, _) => Frequency::Weekly,
            _ => Frequency::Off,
        };
    }
    Ok(rhythm)
}
