//! Safety alerts: the clinician's inbox across their patients, one alert with its
//! history, and the human decisions (acknowledge, resolve) that are the only way an
//! alert closes.

use speciosa_core::account::Role;
use speciosa_core::audit::Outcome;
use speciosa_core::ids::AlertId;
use speciosa_core::policy::{OrganizationAction, PatientAction};
use speciosa_store::{Alert, AlertAction, InboxAlert, Patient, Review, ReviewOutcome};

use crate::{App, AppError, Caller, access};

/// The statuses a `status` filter names (`open` when none is given).
pub fn statuses_for(filter: Option<&str>) -> Result<&'static [&'static str], AppError> {
    Ok(match filter.map(str::trim).unwrap_or("open") {
        "open" => &["open"],
        "acknowledged" => &["acknowledged"],
        "resolved" => &["resolved"],
        "unresolved" => &["open", "acknowledged"],
        "all" => &[],
        other => {
            return Err(AppError::field(
                "status",
                format!(
                    "{other:?} is not a status; use open, acknowledged, resolved, unresolved or all"
                ),
            ));
        }
    })
}

/// The clinician's alerts in the given status filter (at most `limit`), audited.
pub async fn read_inbox(
    app: &App,
    caller: &Caller,
    status: Option<&str>,
    limit: Option<i64>,
) -> Result<Vec<InboxAlert>, AppError> {
    access::organization(
        app,
        caller,
        OrganizationAction::ReviewAlerts,
        "alert.inbox",
        "alert",
    )
    .await?;
    let statuses = statuses_for(status)?;
    let alerts = app
        .store
        .alerts_for_clinician(caller.actor.user_id, statuses, limit)
        .await?;
    let mut entry = caller.audit("alert.inbox", "alert", None, None, Outcome::Success);
    entry.detail = Some(format!(
        "{} alerts ({})",
        alerts.len(),
        status.unwrap_or("open")
    ));
    app.store.append_audit(entry).await?;
    Ok(alerts)
}

/// One alert and its history, for anyone who may read the patient's record; audited.
pub async fn read_alert(
    app: &App,
    caller: &Caller,
    id: AlertId,
) -> Result<(Alert, Vec<AlertAction>), AppError> {
    let alert = app
        .store
        .get_alert(id)
        .await?
        .ok_or(AppError::NotFound("alert"))?;
    access::patient(
        app,
        caller,
        alert.patient_id,
        PatientAction::Read,
        "alert.read",
    )
    .await?;
    let actions = app.store.alert_actions(id).await?;
    app.store
        .append_audit(caller.audit(
            "alert.read",
            "alert",
            Some(id.to_string()),
            Some(alert.patient_id),
            Outcome::Success,
        ))
        .await?;
    Ok((alert, actions))
}

/// As [`read_alert`], with the patient it concerns (for their name and time zone).
pub async fn read_alert_with_patient(
    app: &App,
    caller: &Caller,
    id: AlertId,
) -> Result<(Alert, Vec<AlertAction>, Option<Patient>), AppError> {
    let (alert, actions) = read_alert(app, caller, id).await?;
    let patient = app.store.get_patient(alert.patient_id).await?;
    Ok((alert, actions, patient))
}

const MAX_COMMENT: usize = 2000;

/// Records a human decision on an alert: only a clinician on the patient's care team
/// may; resolving needs a comment saying what was done.
pub async fn review(
    app: &App,
    caller: &Caller,
    id: AlertId,
    review: Review,
    comment: &str,
) -> Result<Alert, AppError> {
    let audit_action = match review {
        Review::Acknowledge => "alert.acknowledge",
        Review::Resolve => "alert.resolve",
    };
    let alert = app.store.get_alert(id).await?;
    // Reviewing alerts is a clinician's duty: any other role is refused outright,
    // whoever the alert concerns.
    if caller.actor.role != Role::Clinician {
        app.store
            .append_audit(
                caller.audit(
                    audit_action,
                    "alert",
                    Some(id.to_string()),
                    alert
                        .as_ref()
                        .filter(|a| a.organization_id == caller.actor.organization_id)
                        .map(|a| a.patient_id),
                    Outcome::Denied,
                ),
            )
            .await?;
        return Err(AppError::Forbidden(format!(
            "Your role ({}) does not allow reviewing alerts: only clinicians on the patient's care team can.",
            caller.actor.role
        )));
    }
    let alert = alert.ok_or(AppError::NotFound("alert"))?;
    access::patient(
        app,
        caller,
        alert.patient_id,
        PatientAction::ReviewAlerts,
        audit_action,
    )
    .await?;
    let comment = comment.trim();
    if review == Review::Resolve && comment.is_empty() {
        return Err(AppError::field(
            "comment",
            "say what was done or decided before resolving",
        ));
    }
    if comment.chars().count() > MAX_COMMENT {
        return Err(AppError::field(
            "comment",
            format!("keep the comment under {MAX_COMMENT} characters"),
        ));
    }
    let mut entry = caller.audit(
        audit_action,
        "alert",
        Some(id.to_string()),
        Some(alert.patient_id),
        Outcome::Success,
    );
    entry.detail = Some(alert.rule.clone());
    match app
        .store
        .review_alert(id, review, comment, caller.actor.user_id, entry)
        .await?
    {
        ReviewOutcome::Changed(alert) | ReviewOutcome::AlreadyDone(alert) => Ok(alert),
        ReviewOutcome::Refused(alert) => Err(AppError::Conflict(format!(
            "This alert is already {}{}.",
            alert.status,
            match alert.status.as_str() {
                "acknowledged" => " by another clinician; you can still resolve it",
                _ => "; a resolved alert cannot change",
            }
        ))),
    }
}
