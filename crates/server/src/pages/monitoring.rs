//! `/patients/{id}/monitoring`: overdose prevention (naloxone on hand, overdoses,
//! non-prescribed opioid use) and liver tests and ECGs. The patient sees where their
//! naloxone is, how to use it and the emergency number, and can report an overdose;
//! the care team also records labs, ECGs and observed opioid use. Every save runs the
//! safety rules before the page answers and says which alerts it raised.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::civil::DateTime;
use speciosa_app::monitoring::{self, MonitoringOverview};
use speciosa_app::records::{Alert, Patient};
use speciosa_core::account::Role;
use speciosa_core::amount::parse_amount;
use speciosa_core::monitoring::{
    EcgFields, LabFact, LabResultFields, LabTest, NaloxoneFields, NaloxoneForm, OVERDOSE_STEPS,
    OpioidUseFields, OpioidUseSource, OverdoseFields,
};
use speciosa_core::validation::FieldErrors;

use crate::app::AppState;
use crate::error::{ApiError, PageError};
use crate::extract::{Authenticated, PageForm, PageUser};
use crate::pages::time::Clock;
use crate::pages::{FormErrors, Nav, NoFields, patient_id, render};

const LABELS: &[(&str, &str)] = &[
    ("on_hand", "Naloxone on hand"),
    ("form", "Kind of naloxone"),
    ("obtained_on", "Obtained on"),
    ("expires_on", "Expires on"),
    ("location", "Where it is kept"),
    ("occurred_at", "When it happened"),
    ("substances", "What was taken"),
    ("naloxone_used", "Naloxone used"),
    ("notes", "Notes"),
    ("used_on", "Date used"),
    ("substance", "Substance"),
    ("source", "How we know"),
    ("loinc", "Test"),
    ("value", "Result"),
    ("unit", "Unit"),
    ("reference_high", "Upper limit of normal"),
    ("reference_low", "Lower limit of normal"),
    ("observed_at", "Sample taken"),
    ("qtc_ms", "QTc"),
    ("recorded_at", "ECG taken"),
    ("heart_rate_bpm", "Heart rate"),
];

/// The form as typed, to show again with its errors.
#[derive(Default)]
struct Typed(BTreeMap<String, String>);

impl Typed {
    fn of(pairs: &[(String, String)]) -> Self {
        Typed(
            pairs
                .iter()
                .map(|(k, v)| (k.clone(), v.trim().to_owned()))
                .collect(),
        )
    }

    fn v(&self, name: &str) -> &str {
        self.0.get(name).map_or("", String::as_str)
    }

    fn is(&self, name: &str, value: &str) -> bool {
        self.v(name) == value
    }
}

/// A table row: each cell with its column's label (the header, and the label a phone
/// shows beside the value).
struct Row {
    cells: Vec<(&'static str, String)>,
}

struct Choice {
    value: &'static str,
    label: &'static str,
}

#[derive(Template)]
#[template(path = "monitoring.html")]
struct MonitoringPage {
    nav: Nav,
    patient_id: String,
    patient_name: String,
    is_patient: bool,
    zone: String,
    notice: Option<String>,
    errors: FormErrors,
    /// Which form the errors belong to.
    failed: &'static str,
    typed: Typed,
    naloxone_summary: String,
    naloxone_ok: bool,
    naloxone_location: Option<String>,
    steps: Vec<&'static str>,
    form_steps: Vec<&'static str>,
    emergency: Vec<(String, String)>,
    forms: Vec<Choice>,
    sources: Vec<Choice>,
    tests: Vec<(String, String)>,
    overdoses: Vec<Row>,
    opioid_use: Vec<Row>,
    labs: Vec<Row>,
    ecgs: Vec<Row>,
}

fn page_of(
    state: &AppState,
    user: &Authenticated,
    patient: &Patient,
    overview: &MonitoringOverview,
    typed: Typed,
    errors: FormErrors,
    failed: &'static str,
    notice: Option<String>,
) -> MonitoringPage {
    let clock = Clock::patient(patient);
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(patient.details.time_zone.to_zone())
        .date();
    let (naloxone_summary, naloxone_ok, naloxone_location, form_steps) = match &overview.naloxone {
        None => ("Not recorded yet.".to_owned(), false, None, Vec::new()),
        Some(n) if !n.status.on_hand => (
            format!("Not on hand (as of {}).", clock.day_time(n.updated_at)),
            false,
            None,
            Vec::new(),
        ),
        Some(n) => {
            let kind = n.status.form.map_or("Naloxone", NaloxoneForm::label);
            let expiry = match n.status.expires_on {
                Some(e) if e < today => format!(" It expired on {e}: replace it."),
                Some(e) => format!(" Good until {e}."),
                None => " Expiry date not recorded.".to_owned(),
            };
            (
                format!("{kind} on hand.{expiry}"),
                n.status.usable_on(today),
                n.status.location.clone(),
                n.status
                    .form
                    .map(|f| f.how_to_use().to_vec())
                    .unwrap_or_default(),
            )
        }
    };
    let (_, crisis) = speciosa_app::checkin::crisis_resources(&state.app, patient);
    let emergency = crisis
        .resources
        .iter()
        .filter(|r| r.name.contains("Emergency") || r.name.contains("Poison"))
        .map(|r| (r.name.clone(), r.contact.clone()))
        .collect();
    let yes_no = |b: Option<bool>| match b {
        Some(true) => "yes",
        Some(false) => "no",
        None => "not known",
    };
    MonitoringPage {
        nav: Nav::for_user(user).at(if user.actor.role == Role::Patient {
            "/home"
        } else {
            "/patients"
        }),
        patient_id: patient.id.to_string(),
        patient_name: patient.details.display_name.as_str().to_owned(),
        is_patient: user.actor.role == Role::Patient,
        zone: clock.zone_name().to_owned(),
        notice,
        errors,
        failed,
        typed,
        naloxone_summary,
        naloxone_ok,
        naloxone_location,
        steps: OVERDOSE_STEPS.to_vec(),
        form_steps,
        emergency,
        forms: NaloxoneForm::ALL
            .iter()
            .map(|f| Choice {
                value: f.as_str(),
                label: f.label(),
            })
            .collect(),
        sources: OpioidUseSource::ALL
            .iter()
            .map(|s| Choice {
                value: s.as_str(),
                label: s.label(),
            })
            .collect(),
        tests: LabTest::ALL
            .iter()
            .map(|t| {
                (
                    t.loinc().to_owned(),
                    format!("{} ({})", t.name(), t.accepted_units().join(", ")),
                )
            })
            .collect(),
        overdoses: overview
            .overdoses
            .iter()
            .map(|o| Row {
                cells: vec![
                    ("When", clock.day_time(o.occurred_at)),
                    (
                        "What was taken",
                        if o.substances.is_empty() {
                            "Not known".to_owned()
                        } else {
                            o.substances.join(", ")
                        },
                    ),
                    ("Naloxone used", yes_no(Some(o.naloxone_used)).to_owned()),
                    ("Emergency care", yes_no(o.emergency_care).to_owned()),
                    (
                        "Reported by",
                        if o.reported_by_patient {
                            "Patient".to_owned()
                        } else {
                            "Care team".to_owned()
                        },
                    ),
                ],
            })
            .collect(),
        opioid_use: overview
            .opioid_use
            .iter()
            .map(|u| Row {
                cells: vec![
                    ("Date", u.used_on.to_string()),
                    ("Substance", u.substance.clone()),
                    ("How we know", u.source.label().to_owned()),
                ],
            })
            .collect(),
        labs: overview
            .labs
            .iter()
            .map(|r| {
                let fact = LabFact {
                    id: r.id,
                    test: r.test,
                    value: r.value,
                    unit: r.unit.clone(),
                    reference_high: r.reference_high,
                    observed_at: r.observed_at,
                };
                Row {
                    cells: vec![
                        ("Sample taken", clock.day_time(r.observed_at)),
                        ("Test", format!("{} (LOINC {})", r.test.name(), r.loinc)),
                        (
                            "Result",
                            format!("{} {}", crate::pages::charts::number_text(r.value), r.unit),
                        ),
                        (
                            "× upper limit",
                            format!(
                                "{:.1} ×{}",
                                fact.times_upper_limit(),
                                if fact.uses_typical_limit() {
                                    " (typical limit; none entered)"
                                } else {
                                    ""
                                }
                            ),
                        ),
                    ],
                }
            })
            .collect(),
        ecgs: overview
            .ecgs
            .iter()
            .map(|e| Row {
                cells: vec![
                    ("Taken", clock.day_time(e.recorded_at)),
                    ("QTc", format!("{} ms", e.qtc_ms)),
                    (
                        "Correction",
                        e.formula.map_or("—", |f| f.as_str()).to_owned(),
                    ),
                    (
                        "Heart rate",
                        e.heart_rate_bpm
                            .map_or("—".to_owned(), |h| format!("{h} /min")),
                    ),
                ],
            })
            .collect(),
    }
}

/// The patient's home card: where their naloxone is, how to use it, and the number to
/// call, before anything else is needed.
pub struct NaloxoneCard {
    pub summary: String,
    pub ok: bool,
    pub location: Option<String>,
    pub steps: Vec<&'static str>,
    pub emergency: Vec<(String, String)>,
}

pub async fn home_card(
    state: &AppState,
    user: &Authenticated,
    patient: &Patient,
) -> Result<NaloxoneCard, PageError> {
    let record = monitoring::naloxone(&state.app, user, patient.id).await?;
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(patient.details.time_zone.to_zone())
        .date();
    let (summary, ok) = match &record {
        None => (
            "You have not told us whether you have naloxone.".to_owned(),
            false,
        ),
        Some(n) if !n.status.on_hand => ("You told us you have no naloxone.".to_owned(), false),
        Some(n) => match n.status.expires_on {
            Some(e) if e < today => (
                format!("Your naloxone expired on {e}: get a new one."),
                false,
            ),
            Some(e) => (format!("You have naloxone, good until {e}."), true),
            None => ("You have naloxone.".to_owned(), true),
        },
    };
    let mut steps: Vec<&'static str> = vec![OVERDOSE_STEPS[0]];
    match record.as_ref().and_then(|n| n.status.form) {
        Some(form) => steps.extend(form.how_to_use()),
        None => steps.push(OVERDOSE_STEPS[1]),
    }
    steps.extend(&OVERDOSE_STEPS[2..]);
    let (_, crisis) = speciosa_app::checkin::crisis_resources(&state.app, patient);
    Ok(NaloxoneCard {
        summary,
        ok,
        location: record.and_then(|n| n.status.location),
        steps,
        emergency: crisis
            .resources
            .iter()
            .filter(|r| r.name.contains("Emergency"))
            .map(|r| (r.name.clone(), r.contact.clone()))
            .collect(),
    })
}

fn notice_text(saved: Option<&str>, alerts: Option<&str>) -> Option<String> {
    let what = match saved? {
        "naloxone" => "Naloxone saved.",
        "overdose" => {
            "Overdose recorded. It is at the top of your care team's alert list, marked urgent."
        }
        "overdose-team" => "Overdose recorded, with an urgent alert for the care team.",
        "opioid-use" => "Opioid use recorded.",
        "lab" => "Result saved.",
        "ecg" => "ECG saved.",
        _ => return None,
    };
    Some(match alerts.filter(|a| !a.is_empty()) {
        Some(rules) => format!(
            "{what} Alerts raised or updated: {}.",
            rules.replace(',', ", ")
        ),
        None => what.to_owned(),
    })
}

#[derive(serde::Deserialize, Default)]
pub struct SavedQuery {
    saved: Option<String>,
    alerts: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(id): Path<String>,
    query: Result<Query<SavedQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let id = patient_id(&id)?;
    let query = query.map(|q| q.0).unwrap_or_default();
    let (patient, overview) = monitoring::overview(&state.app, &user, id).await?;
    let notice = notice_text(query.saved.as_deref(), query.alerts.as_deref());
    // The naloxone form starts from the current answer.
    let mut typed = Typed::default();
    if let Some(n) = &overview.naloxone {
        let s = &n.status;
        for (name, value) in [
            (
                "on_hand",
                Some(if s.on_hand { "yes" } else { "no" }.to_owned()),
            ),
            ("form", s.form.map(|f| f.as_str().to_owned())),
            ("expires_on", s.expires_on.map(|d| d.to_string())),
            ("location", s.location.clone()),
        ] {
            if let Some(value) = value {
                typed.0.insert(name.to_owned(), value);
            }
        }
    }
    Ok(render(&page_of(
        &state,
        &user,
        &patient,
        &overview,
        typed,
        FormErrors::none(),
        "",
        notice,
    ))?
    .into_response())
}

/// A number as typed on a phone (a decimal comma is a decimal point).
fn number(typed: &Typed, name: &str, errors: &mut FieldErrors) -> Option<f64> {
    let raw = typed.v(name);
    if raw.is_empty() {
        return None;
    }
    match parse_amount(raw) {
        Ok(v) => Some(v),
        Err(e) => {
            errors.push(name, e.to_string());
            None
        }
    }
}

/// A `datetime-local` value read in the patient's zone (or an RFC 3339 instant as is).
fn instant(typed: &Typed, name: &str, patient: &Patient) -> String {
    let raw = typed.v(name);
    match raw.parse::<DateTime>() {
        Ok(local) => local
            .to_zoned_datetime(patient.details.time_zone.to_zone())
            .map(|z| z.timestamp().to_string())
            .unwrap_or_else(|_| raw.to_owned()),
        Err(_) => raw.to_owned(),
    }
}

fn yes_no(typed: &Typed, name: &str) -> Option<bool> {
    match typed.v(name) {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

fn alerts_query(alerts: &[Alert]) -> String {
    let mut rules: Vec<&str> = alerts.iter().map(|a| a.rule.as_str()).collect();
    rules.dedup();
    rules.join(",")
}

macro_rules! form_route {
    ($($name:ident => $which:literal),+ $(,)?) => {$(
        pub async fn $name(
            State(state): State<AppState>,
            Path(id): Path<String>,
            submitted: PageForm<NoFields>,
        ) -> Result<Response, PageError> {
            save(state, &id, $which, submitted).await
        }
    )+};
}

form_route!(
    save_naloxone => "naloxone",
    save_overdose => "overdoses",
    save_opioid_use => "opioid-use",
    save_lab => "labs",
    save_ecg => "ecgs",
);

async fn save(
    state: AppState,
    id: &str,
    which: &str,
    submitted: PageForm<NoFields>,
) -> Result<Response, PageError> {
    let id = patient_id(id)?;
    let PageForm { user, pairs, .. } = submitted;
    let typed = Typed::of(&pairs);
    let (patient, _) = monitoring::overview(&state.app, &user, id).await?;
    let mut early = FieldErrors::new();
    let result: Result<(Vec<Alert>, &'static str), ApiError> = match which {
        "naloxone" => monitoring::set_naloxone(
            &state.app,
            &user,
            id,
            &NaloxoneFields {
                on_hand: yes_no(&typed, "on_hand"),
                form: Some(typed.v("form")),
                obtained_on: Some(typed.v("obtained_on")),
                expires_on: Some(typed.v("expires_on")),
                location: Some(typed.v("location")),
            },
        )
        .await
        .map(|r| (r.alerts, "naloxone"))
        .map_err(ApiError::from),
        "overdoses" => {
            let substances: Vec<String> = typed
                .v("substances")
                .split([',', ';', '\n'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            let occurred_at = instant(&typed, "occurred_at", &patient);
            monitoring::record_overdose(
                &state.app,
                &user,
                id,
                &OverdoseFields {
                    occurred_at: &occurred_at,
                    substances: Some(&substances),
                    naloxone_used: yes_no(&typed, "naloxone_used"),
                    emergency_care: yes_no(&typed, "emergency_care"),
                    notes: Some(typed.v("notes")),
                },
            )
            .await
            .map(|r| {
                let saved = if user.actor.role == Role::Patient {
                    "overdose"
                } else {
                    "overdose-team"
                };
                (r.alerts, saved)
            })
            .map_err(ApiError::from)
        }
        "opioid-use" => monitoring::record_opioid_use(
            &state.app,
            &user,
            id,
            &OpioidUseFields {
                used_on: typed.v("used_on"),
                substance: typed.v("substance"),
                source: typed.v("source"),
                notes: Some(typed.v("notes")),
            },
        )
        .await
        .map(|r| (r.alerts, "opioid-use"))
        .map_err(ApiError::from),
        "labs" => {
            let value = number(&typed, "value", &mut early);
            let reference_high = number(&typed, "reference_high", &mut early);
            let observed_at = instant(&typed, "observed_at", &patient);
            if early.is_empty() {
                monitoring::record_lab_result(
                    &state.app,
                    &user,
                    id,
                    &LabResultFields {
                        loinc: typed.v("loinc"),
                        value,
                        unit: typed.v("unit"),
                        reference_low: None,
                        reference_high,
                        observed_at: &observed_at,
                    },
                )
                .await
                .map(|r| (r.alerts, "lab"))
                .map_err(ApiError::from)
            } else {
                Err(ApiError::from(speciosa_app::AppError::Invalid(
                    std::mem::take(&mut early),
                )))
            }
        }
        "ecgs" => {
            let qtc_ms = number(&typed, "qtc_ms", &mut early);
            let heart_rate_bpm = number(&typed, "heart_rate_bpm", &mut early);
            let recorded_at = instant(&typed, "recorded_at", &patient);
            if early.is_empty() {
                monitoring::record_ecg(
                    &state.app,
                    &user,
                    id,
                    &EcgFields {
                        qtc_ms,
                        recorded_at: &recorded_at,
                        heart_rate_bpm,
                        formula: Some(typed.v("formula")),
                    },
                )
                .await
                .map(|r| (r.alerts, "ecg"))
                .map_err(ApiError::from)
            } else {
                Err(ApiError::from(speciosa_app::AppError::Invalid(
                    std::mem::take(&mut early),
                )))
            }
        }
        _ => return Err(ApiError::from(speciosa_app::AppError::NotFound("page")).into()),
    };
    match result {
        Ok((alerts, saved)) => {
            let anchor = match saved {
                "overdose" | "overdose-team" => "overdoses",
                "lab" => "labs",
                "ecg" => "ecgs",
                other => other,
            };
            Ok(Redirect::to(&format!(
                "/patients/{id}/monitoring?saved={saved}&alerts={}#{anchor}",
                alerts_query(&alerts)
            ))
            .into_response())
        }
        Err(error) => {
            let errors = FormErrors::from_api(error, LABELS)?;
            let failed = match which {
                "naloxone" => "naloxone",
                "overdoses" => "overdoses",
                "opioid-use" => "opioid-use",
                "labs" => "labs",
                _ => "ecgs",
            };
            let (patient, overview) = monitoring::overview(&state.app, &user, id).await?;
            let status = errors.status;
            Ok((
                status,
                render(&page_of(
                    &state, &user, &patient, &overview, typed, errors, failed, None,
                ))?,
            )
                .into_response())
        }
    }
}
