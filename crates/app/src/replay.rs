//! Alert volume: how many alerts today's rules would have raised over a clinic's
//! recent records, replayed day by day as if the rules had run live. An operator's
//! tool for tuning rules (a rule that fires on a steady state trains clinicians to
//! ignore it); it reads only, writes nothing, and reports counts by rule, never a
//! patient.

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::{Date, Time};
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use speciosa_core::safety::{self, Finding};
use speciosa_store::StoreError;

use crate::App;

/// The evening hour each replayed day is evaluated at, in the patient's zone: late
/// enough that the day's doses and check-ins are in, as a clinician's evening review.
const EVALUATED_AT: Time = Time::constant(21, 0, 0, 0);

/// Submissions of one instrument read per patient-day (check-ins are at most a few).
const SUBMISSIONS_PER_DAY: usize = 32;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RuleVolume {
    /// Distinct alerts (rule, scope and episode) the replay saw raised: what a
    /// clinician who keeps alerts open until the condition ends would read.
    pub alerts: u64,
    /// Days on which the rule was firing for a patient: what a clinician who resolves
    /// every alert each evening would see re-raised.
    pub alert_days: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReplayReport {
    pub days: i64,
    pub patients: u64,
    /// Patients whose records could not be read (counted, skipped; never fatal).
    pub unreadable: u64,
    pub rules: BTreeMap<String, RuleVolume>,
}

impl ReplayReport {
    pub fn total_alerts(&self) -> u64 {
        self.rules.values().map(|v| v.alerts).sum()
    }

    pub fn total_alert_days(&self) -> u64 {
        self.rules.values().map(|v| v.alert_days).sum()
    }
}

/// Replays the last `days` patient-local days (today included, up to `now`) for every
/// patient: each evening the state rules run on the records as they were then, and
/// the submission rules on that day's check-ins.
pub async fn alert_volume(app: &App, days: i64, now: Timestamp) -> ReplayReport {
    let mut report = ReplayReport {
        days,
        ..ReplayReport::default()
    };
    let patients = match app.store.all_patient_ids().await {
        Ok(ids) => ids,
        Err(error) => {
            crate::log_chain("listing patients for the alert replay", &error);
            return report;
        }
    };
    for (_, id) in patients {
        report.patients += 1;
        match replay_patient(app, id, days, now).await {
            Ok(findings) => {
                let mut alerts = BTreeSet::new();
                let mut alert_days = BTreeSet::new();
                for (day, finding) in findings {
                    let rule = finding.rule.code().to_owned();
                    let volume = report.rules.entry(rule).or_default();
                    if alerts.insert((finding.rule, finding.scope.clone(), finding.episode.clone()))
                    {
                        volume.alerts += 1;
                    }
                    if alert_days.insert((finding.rule, finding.scope.clone(), day)) {
                        volume.alert_days += 1;
                    }
                }
            }
            Err(error) => {
                report.unreadable += 1;
                crate::log_chain("replaying a patient's alerts", &error);
            }
        }
    }
    report
}

async fn replay_patient(
    app: &App,
    id: speciosa_core::ids::PatientId,
    days: i64,
    now: Timestamp,
) -> Result<Vec<(Date, Finding)>, StoreError> {
    let Some(patient) = app.store.get_patient(id).await? else {
        return Ok(Vec::new());
    };
    let zone = patient.details.time_zone.to_zone();
    let today = now.to_zoned_datetime(zone.clone()).date();
    let mut found = Vec::new();
    let mut previous: Option<Timestamp> = None;
    for back in (0..days).rev() {
        let Ok(day) = today.checked_sub(jiff::Span::new().days(back)) else {
            continue;
        };
        let Ok(evening) = zone
            .to_ambiguous_timestamp(day.to_datetime(EVALUATED_AT))
            .compatible()
        else {
            continue;
        };
        let at = evening.min(now);
        if at < patient.created_at {
            previous = Some(at);
            continue;
        }
        let mut facts = crate::safety::patient_facts(app, &patient, at).await?;
        // The maintained summary holds the latest check-in, which may be after `at`.
        let mut last = None;
        let since = previous.unwrap_or(at - SignedDuration::from_hours(24));
        for instrument in app.knowledge.instruments.all() {
            let latest = app
                .store
                .latest_assessments(patient.id, &instrument.code, at, 1)
                .await?;
            if let Some(a) = latest.first() {
                last = last.max(Some(a.completed_at));
            }
            for submitted in app
                .store
                .assessments_between(patient.id, &instrument.code, since, at, SUBMISSIONS_PER_DAY)
                .await?
            {
                if submitted.completed_at <= since {
                    continue;
                }
                let fact = crate::safety::assessment_fact(submitted);
                found.extend(
                    safety::evaluate_submission(instrument, &fact)
                        .into_iter()
                        .map(|f| (day, f)),
                );
            }
        }
        facts.last_check_in = last;
        found.extend(safety::evaluate_state(&facts).into_iter().map(|f| (day, f)));
        previous = Some(at);
    }
    Ok(found)
}
