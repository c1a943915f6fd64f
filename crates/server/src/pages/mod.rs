//! Server-rendered pages: plain HTML forms that work at phone width, by keyboard
//! and without JavaScript. Each page handler extracts, authorizes through the same
//! service functions as the API, and renders an askama template.

use askama::Template;
use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use speciosa_core::FieldError;
use speciosa_core::account::Role;
use speciosa_core::ids::PatientId;

use crate::app::AppState;
use crate::error::{ApiError, PageError};
use crate::extract::{Authenticated, MaybePageUser};
use crate::problems::ProblemType;

mod account;
mod admin;
pub mod alerts;
mod appointments;
mod assessments;
mod calendar;
mod charts;
mod checkin;
mod dose_import;
mod doses;
mod home;
mod knowledge;
pub mod legal;
mod medications;
pub mod monitoring;
mod notifications;
pub mod offline;
mod organization;
mod patient_audit;
mod patients;
mod plans;
mod products;
mod roster;
mod sign_in;
pub(crate) mod sleep;
pub mod time;
mod timeline;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(start))
        .route("/login", get(sign_in::form).post(sign_in::submit))
        .route("/login/two-factor", post(sign_in::submit_second_factor))
        .route("/logout", post(sign_in::sign_out))
        .route("/patients", get(patients::list).post(patients::create))
        .route("/patients/new", get(patients::new_form))
        .route("/patients/{id}", get(patients::show))
        .route(
            "/patients/{id}/edit",
            get(patients::edit_form).post(patients::update),
        )
        .route("/patients/{id}/care-team", post(patients::save_care_team))
        .route("/patients/{id}/account", post(patients::create_login))
        .route("/patients/{id}/medications", post(medications::create))
        .route(
            "/patients/{id}/medications/{medication_id}",
            post(medications::update),
        )
        .route(
            "/patients/{id}/medications/{medication_id}/remove",
            post(medications::remove),
        )
        .route("/patients/{id}/appointments", post(appointments::create))
        .route("/appointments/{id}/cancel", post(appointments::cancel))
        .route("/patients/{id}/monitoring", get(monitoring::page))
        .route(
            "/patients/{id}/monitoring/naloxone",
            post(monitoring::save_naloxone),
        )
        .route(
            "/patients/{id}/monitoring/overdoses",
            post(monitoring::save_overdose),
        )
        .route(
            "/patients/{id}/monitoring/opioid-use",
            post(monitoring::save_opioid_use),
        )
        .route("/patients/{id}/monitoring/labs", post(monitoring::save_lab))
        .route("/patients/{id}/monitoring/ecgs", post(monitoring::save_ecg))
        .route("/patients/{id}/doses", get(doses::log).post(doses::create))
        .route("/patients/{id}/doses/new", get(doses::new_form))
        .route(
            "/patients/{id}/doses/import",
            get(dose_import::form).post(dose_import::submit),
        )
        .route(
            "/patients/{id}/doses/{dose_id}/edit",
            get(doses::edit_form).post(doses::correct),
        )
        .route("/patients/{id}/doses/{dose_id}/delete", post(doses::delete))
        .route(
            "/patients/{id}/checkin",
            get(checkin::form).post(checkin::submit),
        )
        .route("/patients/{id}/urgent", get(checkin::urgent))
        .route("/patients/{id}/timeline", get(timeline::show))
        .route("/patients/{id}/audit", get(patient_audit::show))
        .route("/patients/{id}/sleep", get(sleep::show))
        .route("/patients/{id}/sleep/window", post(sleep::save_window))
        .route("/patients/{id}/schedule", post(checkin::save_schedule))
        .route(
            "/patients/{id}/assessments",
            get(assessments::history).post(assessments::create),
        )
        .route("/patients/{id}/assessments/new", get(assessments::new_form))
        .route(
            "/patients/{id}/cows",
            get(assessments::cows).post(assessments::cows_submit),
        )
        .route(
            "/patients/{id}/plans",
            get(plans::history).post(plans::create),
        )
        .route("/patients/{id}/plans/new", get(plans::new_form))
        .route("/plans/{id}", get(plans::show).post(plans::update))
        .route("/plans/{id}/edit", get(plans::edit_form))
        .route("/plans/{id}/discard", post(plans::discard))
        .route("/plans/{id}/sign", post(plans::sign))
        .route("/plans/{id}/adjustments", post(plans::adjust))
        .route("/plans/{id}/diff", get(plans::diff))
        .route("/products", get(products::list).post(products::create))
        .route("/products/{id}", get(products::show).post(products::update))
        .route("/products/{id}/batches", post(products::create_batch))
        .route(
            "/batches/{id}",
            get(products::edit_batch_form).post(products::update_batch),
        )
        .route("/home", get(home::show))
        .route("/roster", get(roster::show))
        .route("/alerts", get(alerts::inbox))
        .route("/alerts/{id}", get(alerts::show))
        .route("/alerts/{id}/acknowledge", post(alerts::acknowledge))
        .route("/alerts/{id}/resolve", post(alerts::resolve))
        .route("/admin/users", get(admin::users).post(admin::create_user))
        .route("/admin/users/{id}/active", post(admin::set_user_active))
        .route("/admin/users/{id}/password", post(admin::set_user_password))
        .route(
            "/admin/organization/two-factor",
            post(admin::set_require_two_factor),
        )
        .route("/admin/audit", get(admin::audit))
        .route("/admin/notifications", get(notifications::admin))
        .route("/admin/notifications/retry", post(notifications::retry))
        .route("/admin/on-call", post(notifications::save_on_call))
        .route("/admin/webhook", post(notifications::save_webhook))
        .route("/admin/webhook/delete", post(notifications::remove_webhook))
        .route(
            "/admin/organization",
            get(organization::show).post(organization::update),
        )
        .route("/admin/knowledge", get(knowledge::show))
        .route("/admin/knowledge/lexicon", post(knowledge::save_entry))
        .route("/admin/knowledge/interactions", post(knowledge::save_row))
        .route("/admin/knowledge/legal", post(knowledge::save_legal))
        .route("/admin/knowledge/revert", post(knowledge::revert))
        .route("/account", get(account::show))
        .route(
            "/account/notifications",
            get(notifications::preferences).post(notifications::save_preferences),
        )
        .route("/account/password", post(account::change_password))
        .route(
            "/account/two-factor",
            get(account::two_factor).post(account::activate_two_factor),
        )
        .route(
            "/account/two-factor/disable",
            post(account::disable_two_factor),
        )
        .route("/account/calendar-feed", post(calendar::create))
        .route("/account/calendar-feed/revoke", post(calendar::revoke))
        // The feed itself: the secret address is the credential, so no session.
        .route("/calendar/{file}", get(calendar::feed))
        .route("/static/app.css", get(stylesheet))
        .route("/static/cows.js", get(cows_script))
        .route("/static/push.js", get(push_script))
        .route("/static/offline.js", get(offline::offline_script))
        .route("/static/icons/{name}", get(offline::icon))
        .route("/manifest.webmanifest", get(offline::manifest))
        .route("/sw.js", get(offline::service_worker))
        .route("/offline", get(offline::page))
        .route("/problems/{slug}", get(problem_page))
}

/// Renders a template, turning a rendering failure into a logged 500 page.
pub fn render(template: &impl Template) -> Result<Html<String>, PageError> {
    template.render().map(Html).map_err(|error| {
        crate::error::log_chain("rendering a page", &error);
        PageError::Problem(ApiError::internal())
    })
}

/// Where each role starts.
pub fn home_path(role: Role) -> &'static str {
    match role {
        Role::Clinician => "/roster",
        Role::Patient => "/home",
        Role::Admin => "/admin/users",
        Role::Researcher => "/account",
    }
}

async fn start(MaybePageUser(user): MaybePageUser) -> Redirect {
    match user {
        Some(user) => Redirect::to(home_path(user.actor.role)),
        None => Redirect::to("/login"),
    }
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../../../web/static/app.css"),
    )
        .into_response()
}

/// The COWS screen's live total: progressive enhancement, the page works without it.
async fn cows_script() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                "application/javascript; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../../../web/static/cows.js"),
    )
        .into_response()
}

/// Turning notifications on this device on and off (Web Push); the page says what to do
/// without it.
async fn push_script() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                "application/javascript; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../../../web/static/push.js"),
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "problem_type.html")]
struct ProblemTypePage {
    problem: ProblemType,
}

async fn problem_page(Path(slug): Path<String>) -> Result<Html<String>, PageError> {
    let problem = ProblemType::by_slug(&slug).ok_or_else(|| ApiError::not_found("problem type"))?;
    render(&ProblemTypePage { problem })
}

/// Shared navigation data every signed-in page's template receives.
pub struct Nav {
    pub display_name: String,
    pub role: Role,
    pub csrf_token: String,
    /// The navigation link of the section being shown, marked `aria-current`.
    pub current: &'static str,
    /// Clinicians: open urgent alerts across their patients.
    pub open_urgent_alerts: Option<i64>,
}

impl Nav {
    pub fn for_user(user: &Authenticated) -> Self {
        Nav {
            display_name: user.session.user.display_name.clone(),
            role: user.actor.role,
            csrf_token: user.session.csrf_token.clone(),
            current: "",
            open_urgent_alerts: user.open_urgent_alerts,
        }
    }

    /// Marks which navigation link this page belongs to.
    pub fn at(mut self, section: &'static str) -> Self {
        self.current = section;
        self
    }

    pub fn is(&self, role: &str) -> bool {
        self.role.as_str() == role
    }
}

/// Milligrams to three significant figures, without trailing zeros: `312`, `58.5`, `4.1`.
pub fn mg_text(value: f64) -> String {
    let scale = if value >= 100.0 {
        1.0
    } else if value >= 10.0 {
        10.0
    } else {
        100.0
    };
    charts::number_text((value * scale).round() / scale)
}

/// The unit every page gives mitragynine per day in
/// ([`speciosa_core::progress::mg_per_day`]): the roster, the timeline, the patient's home.
pub const MG_PER_DAY: &str = "mg per day";

/// `58.5 mg per day`.
pub fn mg_per_day_text(value: f64) -> String {
    format!("{} {MG_PER_DAY}", mg_text(value))
}

/// A patient's "Need help now?" bar, at the top of their home page and of any error page
/// they meet: the urgent-help page, and the first crisis line with a number to call.
pub struct HelpBar {
    pub patient_id: String,
    pub call: Option<checkin::ResourceView>,
}

impl HelpBar {
    pub fn for_patient(state: &AppState, patient: &speciosa_app::records::Patient) -> HelpBar {
        HelpBar {
            patient_id: patient.id.to_string(),
            call: checkin::crisis_view(state, patient)
                .resources
                .into_iter()
                .find(|r| r.tel.is_some()),
        }
    }
}

/// The page for an address that names nothing (outside `/api`, which answers problem+json).
pub async fn not_found() -> PageError {
    PageError::Problem(ApiError::new(
        crate::problems::NOT_FOUND,
        "there is no page at this address. Check the address, or use the links above to find your way.",
    ))
}

/// Refuses a page made for one role, recording the refusal as the policy's own refusals are.
/// Used where the service would allow the read but the page makes no sense for the role
/// (a patient's list of patients is only themself; their page is `/home`).
pub async fn require_role(
    state: &AppState,
    user: &Authenticated,
    role: Role,
    audit_action: &str,
    resource_type: &str,
    detail: &str,
) -> Result<(), PageError> {
    Ok(speciosa_app::access::require_role(
        &state.app,
        user,
        role,
        audit_action,
        resource_type,
        detail,
    )
    .await?)
}

/// A patient id from the address; anything that is not one names nothing (404).
pub fn patient_id(raw: &str) -> Result<PatientId, PageError> {
    raw.parse()
        .map_err(|_| ApiError::not_found("patient").into())
}

/// A `<select>` option: the submitted value and what people read.
pub struct Choice {
    pub value: &'static str,
    pub label: String,
}

impl Choice {
    /// Options for stored codes, labelled by humanizing the code.
    pub fn from_codes(codes: impl IntoIterator<Item = &'static str>) -> Vec<Choice> {
        codes
            .into_iter()
            .map(|value| Choice {
                value,
                label: humanize(value),
            })
            .collect()
    }
}

/// A form with nothing but its CSRF token (and, for checkbox groups, repeated fields
/// read from `PageForm::pairs`).
#[derive(serde::Deserialize)]
pub struct NoFields {}

/// A one-off confirmation after a redirect (`?saved=details`), never carrying data.
#[derive(serde::Deserialize, Default)]
pub struct Notice {
    pub saved: Option<String>,
}

impl Notice {
    pub fn read(
        query: Result<axum::extract::Query<Notice>, axum::extract::rejection::QueryRejection>,
    ) -> Notice {
        query.map(|q| q.0).unwrap_or_default()
    }
}

/// `not_pregnant` → `Not pregnant`, for showing stored codes to people.
pub fn humanize(code: &str) -> String {
    sentence(&code.replace('_', " "))
}

/// Starts a message with a capital letter.
pub fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// One line of a form's error summary, linking to the field it is about.
pub struct ErrorItem {
    pub label: String,
    pub anchor: String,
    pub detail: String,
}

/// What was wrong with a submitted form, kept so the form can be shown again with
/// each message beside its field and a summary at the top.
pub struct FormErrors {
    pub status: StatusCode,
    /// A problem with the form as a whole (a conflict, such as an email in use).
    pub general: Option<String>,
    pub fields: Vec<FieldError>,
    /// Field name → label, for the summary.
    labels: &'static [(&'static str, &'static str)],
}

impl FormErrors {
    pub fn none() -> Self {
        FormErrors {
            status: StatusCode::OK,
            general: None,
            fields: Vec::new(),
            labels: &[],
        }
    }

    /// Invalid fields (422) and conflicts (409) go back to the form; any other failure
    /// (refused, not found, internal) becomes the error page.
    pub fn from_api(
        error: ApiError,
        labels: &'static [(&'static str, &'static str)],
    ) -> Result<Self, PageError> {
        let status = error.kind.status;
        if status != StatusCode::UNPROCESSABLE_ENTITY && status != StatusCode::CONFLICT {
            return Err(error.into());
        }
        let general = error.errors.is_empty().then(|| sentence(&error.detail));
        Ok(FormErrors {
            status,
            general,
            fields: error.errors,
            labels,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.general.is_none() && self.fields.is_empty()
    }

    /// The messages for a field (and its indexed entries, `name[2]`), as one sentence.
    pub fn text(&self, name: &str) -> Option<String> {
        let messages: Vec<String> = self
            .fields
            .iter()
            .filter(|e| base_field(&e.field) == name)
            .map(|e| {
                let detail = sentence(&e.detail);
                match index_of(&e.field) {
                    Some(i) => format!("Entry {}: {detail}", i + 1),
                    None => detail,
                }
            })
            .collect();
        (!messages.is_empty()).then(|| join_sentences(&messages))
    }

    pub fn has(&self, name: &str) -> bool {
        self.fields.iter().any(|e| base_field(&e.field) == name)
    }

    /// The ids for a field's `aria-describedby`: its hint, if it has one, and its error message.
    pub fn described(&self, name: &str, hint: &str) -> String {
        let error = self.has(name).then(|| format!("{name}-error"));
        [Some(hint.to_owned()).filter(|h| !h.is_empty()), error]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Every message, with the field's label and a link to it.
    pub fn items(&self) -> Vec<ErrorItem> {
        self.fields
            .iter()
            .map(|e| {
                let base = base_field(&e.field);
                let label = self
                    .labels
                    .iter()
                    .find(|(name, _)| *name == base)
                    .map(|(_, l)| (*l).to_owned());
                let label = match (label, index_of(&e.field)) {
                    (Some(l), Some(i)) => format!("{l} (entry {})", i + 1),
                    (Some(l), None) => l,
                    (None, _) => humanize(base),
                };
                ErrorItem {
                    label,
                    anchor: base.to_owned(),
                    detail: sentence(&e.detail),
                }
            })
            .collect()
    }
}

fn base_field(field: &str) -> &str {
    field.split('[').next().unwrap_or(field)
}

fn index_of(field: &str) -> Option<usize> {
    field.split_once('[')?.1.strip_suffix(']')?.parse().ok()
}

fn join_sentences(messages: &[String]) -> String {
    messages
        .iter()
        .map(|m| {
            if m.ends_with('.') {
                m.clone()
            } else {
                format!("{m}.")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_messages_gather_indexed_entries_under_their_field() {
        let errors = FormErrors {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            general: None,
            fields: vec![
                FieldError {
                    field: "birth_date".into(),
                    detail: "date is required (YYYY-MM-DD)".into(),
                },
                FieldError {
                    field: "concomitant_medications[1]".into(),
                    detail: "too long".into(),
                },
            ],
            labels: &[
                ("birth_date", "Birth date"),
                ("concomitant_medications", "Medications"),
            ],
        };
        assert_eq!(
            errors.text("birth_date").as_deref(),
            Some("Date is required (YYYY-MM-DD).")
        );
        assert_eq!(
            errors.text("concomitant_medications").as_deref(),
            Some("Entry 2: Too long.")
        );
        assert!(errors.has("concomitant_medications") && !errors.has("time_zone"));
        let items = errors.items();
        assert_eq!(items[1].label, "Medications (entry 2)");
        assert_eq!(items[1].anchor, "concomitant_medications");
    }

    #[test]
    fn every_rule_in_the_stylesheet_is_closed() {
        // A lost `}` silently swallows every rule after it (merged sections once did).
        let css = include_str!("../../../../web/static/app.css");
        let mut depth = 0i32;
        let mut in_comment = false;
        let bytes = css.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match (in_comment, bytes[i], bytes.get(i + 1)) {
                (false, b'/', Some(b'*')) => (in_comment, i) = (true, i + 1),
                (true, b'*', Some(b'/')) => (in_comment, i) = (false, i + 1),
                (false, b'{', _) => depth += 1,
                (false, b'}', _) => {
                    depth -= 1;
                    assert!(depth >= 0, "an extra '}}' near byte {i}");
                }
                _ => {}
            }
            i += 1;
        }
        assert_eq!(depth, 0, "a block in app.css is never closed");
    }

    #[test]
    fn codes_read_as_words() {
        assert_eq!(humanize("not_pregnant"), "Not pregnant");
        assert_eq!(sentence(""), "");
    }
}
