//! The clinician's alert inbox (`/alerts`) and one alert (`/alerts/{id}`): the
//! evidence that fired it, the source it cites, what to consider, and the forms that
//! record a human decision. Nothing leaves the inbox without one.

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use speciosa_app::alerts;
use speciosa_app::records::{Alert, AlertAction, Review};
use speciosa_core::account::Role;
use speciosa_core::ids::AlertId;
use speciosa_core::redirect::SafeReturnPath;
use speciosa_core::safety::Rule;

use crate::app::AppState;
use crate::error::{ApiError, PageError};
use crate::extract::{PageForm, PageUser};
use crate::pages::time::Clock;
use crate::pages::{FormErrors, Nav, humanize, render, require_role};

/// One alert as the pages show it.
pub struct AlertCard {
    pub id: String,
    pub patient_id: String,
    pub patient_name: String,
    pub rule: String,
    pub title: String,
    pub severity: String,
    pub status: String,
    pub summary: String,
    pub raised_at: String,
    pub occurrences: i64,
    pub last_fired_at: Option<String>,
    /// The exact data that fired the rule, as label/value lines.
    pub evidence: Vec<(String, String)>,
    pub last_evidence: Vec<(String, String)>,
    pub source_label: String,
    pub source_href: String,
    pub cites: String,
    pub evidence_strength: String,
    pub consider: String,
    pub acknowledged_at: Option<String>,
    pub resolved_at: Option<String>,
}

impl AlertCard {
    /// The card for `alert`, its times read on `clock`: the patient's zone on their record,
    /// the organization's in the inbox.
    pub fn new(alert: &Alert, patient_name: &str, clock: &Clock) -> Self {
        let guidance = Rule::from_code(&alert.rule).map(Rule::guidance);
        let patient = alert.patient_id;
        let (source_label, source_href) = match alert.source_type.as_str() {
            "assessment" => (
                "The check-in answers".to_owned(),
                format!("/patients/{patient}/assessments"),
            ),
            "dose" => (
                "The dose log".to_owned(),
                format!("/patients/{patient}/doses"),
            ),
            "medication" => (
                "The medication list".to_owned(),
                format!("/patients/{patient}#medications"),
            ),
            _ => (
                "The patient record".to_owned(),
                format!("/patients/{patient}"),
            ),
        };
        AlertCard {
            id: alert.id.to_string(),
            patient_id: patient.to_string(),
            patient_name: patient_name.to_owned(),
            rule: alert.rule.clone(),
            title: guidance.map_or_else(|| humanize(&alert.rule), |g| g.title.to_owned()),
            severity: alert.severity.clone(),
            status: alert.status.clone(),
            summary: if alert.summary.is_empty() {
                humanize(&alert.rule)
            } else {
                alert.summary.clone()
            },
            raised_at: clock.minute(alert.raised_at),
            occurrences: alert.occurrences,
            last_fired_at: alert
                .last_fired_at
                .filter(|_| alert.occurrences > 1)
                .map(|at| clock.minute(at)),
            evidence: evidence_lines(&alert.evidence, clock),
            last_evidence: alert
                .last_evidence
                .as_ref()
                .filter(|_| alert.occurrences > 1)
                .map(|e| evidence_lines(e, clock))
                .unwrap_or_default(),
            source_label,
            source_href,
            cites: guidance.map(|g| g.source.to_owned()).unwrap_or_default(),
            evidence_strength: guidance.map(|g| g.evidence.to_owned()).unwrap_or_default(),
            consider: guidance.map(|g| g.consider.to_owned()).unwrap_or_default(),
            acknowledged_at: alert.acknowledged_at.map(|at| clock.minute(at)),
            resolved_at: alert.resolved_at.map(|at| clock.minute(at)),
        }
    }

    pub fn is_open(&self) -> bool {
        self.status == "open"
    }

    pub fn is_resolved(&self) -> bool {
        self.status == "resolved"
    }
}

/// Evidence JSON as lines a person reads: identifiers are left out (the source link
/// leads to the record), nested lists become one line each.
pub fn evidence_lines(evidence: &serde_json::Value, clock: &Clock) -> Vec<(String, String)> {
    let Some(object) = evidence.as_object() else {
        return vec![("Evidence".into(), evidence.to_string())];
    };
    let mut lines = Vec::new();
    for (key, value) in object {
        if key.ends_with("_id") || value.is_null() {
            continue;
        }
        let label = humanize(key);
        match value {
            serde_json::Value::Array(items) => {
                for item in items {
                    lines.push((label.clone(), inline(item, clock)));
                }
            }
            other => lines.push((label, inline(other, clock))),
        }
    }
    lines
}

fn inline(value: &serde_json::Value, clock: &Clock) -> String {
    match value {
        // Instants read as the rest of the card shows them.
        serde_json::Value::String(text) => text
            .parse::<jiff::Timestamp>()
            .map(|at| clock.minute(at))
            .unwrap_or_else(|_| text.clone()),
        serde_json::Value::Number(n) => n
            .as_f64()
            .map(|v| {
                if v.fract() == 0.0 {
                    format!("{v:.0}")
                } else {
                    format!("{v:.1}")
                }
            })
            .unwrap_or_else(|| n.to_string()),
        serde_json::Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        serde_json::Value::Null => "—".into(),
        serde_json::Value::Array(items) => items
            .iter()
            .map(|i| inline(i, clock))
            .collect::<Vec<_>>()
            .join(", "),
        // A quality flag: its explanation says what was found.
        serde_json::Value::Object(map) if map.contains_key("explanation") => {
            inline(&map["explanation"], clock)
        }
        // An instrument item: its wording, then the answer.
        serde_json::Value::Object(map)
            if map.contains_key("text") && map.contains_key("answer") =>
        {
            let answer = map
                .get("answer_label")
                .filter(|l| !l.is_null())
                .map(|l| format!("{} ({})", inline(l, clock), inline(&map["answer"], clock)))
                .unwrap_or_else(|| inline(&map["answer"], clock));
            format!("{}: {answer}", inline(&map["text"], clock))
        }
        serde_json::Value::Object(map) => map
            .iter()
            .filter(|(k, v)| !k.ends_with("_id") && !v.is_null())
            .map(|(k, v)| format!("{}: {}", humanize(k), inline(v, clock)))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// How many alerts the resolved and all tabs show.
const HISTORY_LIMIT: usize = 200;

/// The inbox's status tabs: query value and label.
const TABS: [(&str, &str); 4] = [
    ("open", "Open"),
    ("acknowledged", "Acknowledged"),
    ("resolved", "Resolved"),
    ("all", "All"),
];

#[derive(Template)]
#[template(path = "alerts.html")]
struct InboxPage {
    nav: Nav,
    tab: String,
    tabs: Vec<(&'static str, &'static str)>,
    alerts: Vec<AlertCard>,
    /// The history tab holds more than it shows.
    truncated: Option<usize>,
    urgent: usize,
    notice: Option<&'static str>,
}

#[derive(Deserialize, Default)]
pub struct InboxQuery {
    status: Option<String>,
    saved: Option<String>,
}

fn saved_notice(saved: Option<&str>) -> Option<&'static str> {
    match saved {
        Some("acknowledged") => {
            Some("Alert acknowledged. It stays on the patient's record until someone resolves it.")
        }
        Some("resolved") => {
            Some("Alert resolved. The decision and your comment are in the audit log.")
        }
        _ => None,
    }
}

const REFUSAL: &str = "The alert inbox is for clinicians: it lists safety alerts for the patients whose care team you are on.";

pub async fn inbox(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    query: Result<Query<InboxQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    require_role(
        &state,
        &user,
        Role::Clinician,
        "alert.inbox",
        "alert",
        REFUSAL,
    )
    .await?;
    let query = query.map(|q| q.0).unwrap_or_default();
    let tab = query
        .status
        .as_deref()
        .filter(|s| TABS.iter().any(|(value, _)| value == s))
        .unwrap_or("open")
        .to_owned();
    // Unresolved alerts are never cut short; the history tabs show the latest ones.
    let limit = matches!(tab.as_str(), "resolved" | "all").then_some(HISTORY_LIMIT);
    let alerts =
        alerts::read_inbox(&state.app, &user, Some(&tab), limit.map(|l| l as i64 + 1)).await?;
    let truncated = limit.is_some_and(|l| alerts.len() > l);
    let alerts = &alerts[..alerts.len().min(limit.unwrap_or(usize::MAX))];
    // Alerts across patients read in the organization's zone.
    let clock = Clock::organization(&state, &user).await?;
    let cards: Vec<AlertCard> = alerts
        .iter()
        .map(|a| AlertCard::new(&a.alert, &a.patient_name, &clock))
        .collect();
    let page = InboxPage {
        nav: Nav::for_user(&user).at("/alerts"),
        urgent: cards
            .iter()
            .filter(|c| c.severity == "urgent" && c.is_open())
            .count(),
        tab,
        tabs: TABS.to_vec(),
        alerts: cards,
        truncated: truncated.then_some(HISTORY_LIMIT),
        notice: saved_notice(query.saved.as_deref()),
    };
    Ok(render(&page)?.into_response())
}

#[derive(Template)]
#[template(path = "alert.html")]
struct AlertPage {
    nav: Nav,
    alert: AlertCard,
    /// For a hold or step-back proposal: the form that draws it into a draft plan.
    plan_change: Option<PlanChangeOffer>,
    actions: Vec<ActionRow>,
    paging: Option<PagingLines>,
    errors: FormErrors,
    comment: String,
    return_to: String,
    notice: Option<&'static str>,
}

/// Who an urgent alert paged, how and when ("Notified Dr Okafor by e-mail 01:12").
struct PagingLines {
    lines: Vec<PagingLine>,
    /// "Escalates to the on-call list at 01:27 unless acknowledged", or why it stopped.
    state: String,
}

struct PagingLine {
    text: String,
    status: String,
    /// Why it has not been delivered (failed or dead).
    problem: String,
}

impl PagingLines {
    fn new(history: &speciosa_app::notify::PagingHistory, clock: &Clock) -> Option<Self> {
        let paging = history.paging.as_ref()?;
        let lines = history
            .messages
            .iter()
            .map(|m| {
                let channel = m
                    .channel
                    .parse::<speciosa_core::notify::Channel>()
                    .map_or(m.channel.clone(), |c| c.label().to_owned());
                let verb = if m.kind == "urgent_escalation" {
                    "Escalated to"
                } else {
                    "Notified"
                };
                let when = match (m.status.as_str(), m.sent_at) {
                    ("sent", Some(at)) => clock.minute(at),
                    _ => format!("queued {}", clock.minute(m.created_at)),
                };
                PagingLine {
                    text: format!("{verb} {} by {channel}, {when}", m.recipient_name),
                    status: m.status.clone(),
                    problem: m.last_error.clone().unwrap_or_default(),
                }
            })
            .collect();
        let state = match (&paging.stopped_at, &paging.stop_reason) {
            (Some(at), reason) => format!(
                "Paging stopped {}{}.",
                clock.minute(*at),
                reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ),
            (None, _) => format!(
                "Unless someone acknowledges it, the on-call list (or, without one, the care team again) is paged at {} and every {} after.",
                clock.minute(paging.next_round_at),
                match paging.interval.as_mins() {
                    1 => "minute".to_owned(),
                    n => format!("{n} minutes"),
                }
            ),
        };
        Some(PagingLines { lines, state })
    }
}

struct ActionRow {
    action: String,
    by: String,
    at: String,
    comment: String,
}

impl ActionRow {
    fn new(a: &AlertAction, clock: &Clock) -> Self {
        ActionRow {
            action: match a.action.as_str() {
                "acknowledge" => "Acknowledged".into(),
                "resolve" => "Resolved".into(),
                other => humanize(other),
            },
            by: a.acted_by_name.clone(),
            at: clock.minute(a.acted_at),
            comment: a.comment.clone(),
        }
    }
}

fn alert_id(raw: &str) -> Result<AlertId, PageError> {
    raw.parse().map_err(|_| ApiError::not_found("alert").into())
}

pub async fn show(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(id): Path<String>,
    query: Result<Query<InboxQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    // The page speaks to clinicians (risk assessment, what to consider); patients hear
    // about their alerts in plain words on their own pages.
    require_role(
        &state,
        &user,
        Role::Clinician,
        "alert.read",
        "alert",
        REFUSAL,
    )
    .await?;
    let id = alert_id(&id)?;
    let saved = query.ok().and_then(|q| q.0.saved);
    alert_page(
        &state,
        &user,
        id,
        FormErrors::none(),
        String::new(),
        saved_notice(saved.as_deref()),
    )
    .await
}

async fn alert_page(
    state: &AppState,
    user: &crate::extract::Authenticated,
    id: AlertId,
    errors: FormErrors,
    comment: String,
    notice: Option<&'static str>,
) -> Result<Response, PageError> {
    let (alert, actions, patient) = alerts::read_alert_with_patient(&state.app, user, id).await?;
    let patient_name = patient
        .as_ref()
        .map(|p| p.details.display_name.as_str().to_owned())
        .unwrap_or_default();
    // An alert on a patient's record reads in the patient's zone.
    let clock = patient.as_ref().map_or_else(Clock::utc, Clock::patient);
    let status = errors.status;
    let plan_change = PlanChangeOffer::of(&alert, &clock);
    let history = speciosa_app::notify::paging_history(&state.app, user, id).await?;
    let page = AlertPage {
        paging: PagingLines::new(&history, &clock),
        nav: Nav::for_user(user).at("/alerts"),
        plan_change,
        alert: AlertCard::new(&alert, &patient_name, &clock),
        actions: actions.iter().map(|a| ActionRow::new(a, &clock)).collect(),
        errors,
        comment,
        return_to: format!("/alerts/{id}"),
        notice,
    };
    Ok((status, render(&page)?).into_response())
}

/// A `withdrawal_after_step` alert proposes a hold or a step back of a signed plan; the
/// page offers to draw it into a new draft (signed separately: nothing changes before).
struct PlanChangeOffer {
    plan_id: String,
    /// `hold` or `step_back`.
    proposal: String,
    /// Today in the patient's zone: the default first day of the change.
    today: String,
    reason: String,
}

impl PlanChangeOffer {
    fn of(alert: &Alert, clock: &Clock) -> Option<PlanChangeOffer> {
        if alert.rule != Rule::WithdrawalAfterStep.code() || alert.status == "resolved" {
            return None;
        }
        let evidence = alert.last_evidence.as_ref().unwrap_or(&alert.evidence);
        Some(PlanChangeOffer {
            plan_id: evidence["plan_id"].as_str()?.to_owned(),
            proposal: evidence["proposal"].as_str().unwrap_or("hold").to_owned(),
            today: clock.at(jiff::Timestamp::now()).date().to_string(),
            reason: alert.summary.chars().take(300).collect(),
        })
    }
}

#[derive(Deserialize)]
pub struct ReviewForm {
    #[serde(default)]
    comment: String,
    /// Where to go afterwards: a path on this site (the inbox, a timeline).
    #[serde(default)]
    return_to: String,
}

const REVIEW_LABELS: &[(&str, &str)] = &[("comment", "Comment")];

pub async fn acknowledge(
    State(state): State<AppState>,
    Path(id): Path<String>,
    submitted: PageForm<ReviewForm>,
) -> Result<Response, PageError> {
    decide(&state, &id, submitted, Review::Acknowledge).await
}

pub async fn resolve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    submitted: PageForm<ReviewForm>,
) -> Result<Response, PageError> {
    decide(&state, &id, submitted, Review::Resolve).await
}

async fn decide(
    state: &AppState,
    raw_id: &str,
    submitted: PageForm<ReviewForm>,
    decision: Review,
) -> Result<Response, PageError> {
    let id = alert_id(raw_id)?;
    let PageForm { user, form, .. } = submitted;
    match alerts::review(&state.app, &user, id, decision, &form.comment).await {
        Ok(_) => {
            let saved = match decision {
                Review::Acknowledge => "acknowledged",
                Review::Resolve => "resolved",
            };
            // Only clinicians decide alerts; their inbox is where a decision belongs.
            let back = local_path(&form.return_to).unwrap_or_else(|| "/alerts".to_owned());
            let separator = if back.contains('?') { '&' } else { '?' };
            Ok(Redirect::to(&format!("{back}{separator}saved={saved}")).into_response())
        }
        Err(error) => {
            let errors = FormErrors::from_api(error.into(), REVIEW_LABELS)?;
            alert_page(state, &user, id, errors, form.comment, None).await
        }
    }
}

/// Only a path on this site, however a browser reads it (see `SafeReturnPath`).
fn local_path(path: &str) -> Option<String> {
    SafeReturnPath::parse(path).map(|p| p.as_str().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn evidence_reads_as_labelled_lines_without_identifiers() {
        let lines = evidence_lines(
            &json!({
                "assessment_id": "0193",
                "instrument": "red_flags",
                "items": [{"item": "2", "text": "A seizure (fit)", "answer": 1.0}],
                "total": 13.0,
                "band": null,
            }),
            &Clock::utc(),
        );
        assert_eq!(
            lines,
            [
                ("Instrument".to_owned(), "red_flags".to_owned()),
                ("Items".to_owned(), "A seizure (fit): 1".to_owned()),
                ("Total".to_owned(), "13".to_owned()),
            ]
        );
    }

    #[test]
    fn only_paths_on_this_site_are_followed_after_a_decision() {
        assert_eq!(
            local_path("/alerts?status=open").as_deref(),
            Some("/alerts?status=open")
        );
        assert_eq!(local_path("//evil.example/x"), None);
        assert_eq!(local_path("/\t/evil.example/x"), None);
        assert_eq!(local_path("/%2F%2Fevil.example"), None);
        assert_eq!(local_path("https://evil.example"), None);
        assert_eq!(local_path(""), None);
    }
}
