//! The JSON API under `/api/v1`. Every error is RFC 9457 problem+json; the
//! OpenAPI 3.1 description is generated from these handlers' annotations.

use axum::Router;
use axum::routing::{delete, get, post, put};
use utoipa::OpenApi;

use crate::app::AppState;

pub mod account;
pub mod alerts;
pub mod appointments;
pub mod assessments;
pub mod audit_log;
pub mod calendar;
pub mod checkin;
pub mod doses;
pub mod fhir;
pub mod legal;
pub mod medications;
pub mod monitoring;
pub mod notifications;
pub mod organization;
pub mod patients;
pub mod plans;
pub mod predicted;
pub mod products;
pub mod push;
pub mod session;
pub mod sleep;
pub mod users;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/session",
            post(session::sign_in)
                .get(session::current)
                .delete(session::sign_out),
        )
        .route("/account/password", put(account::change_password))
        .route(
            "/account/totp",
            post(account::begin_totp).delete(account::disable_totp),
        )
        .route("/account/totp/activate", post(account::activate_totp))
        .route(
            "/account/push-subscriptions",
            post(push::subscribe).delete(push::unsubscribe),
        )
        .route("/push/vapid-public-key", get(push::vapid_public_key))
        .route(
            "/account/calendar-feed",
            post(calendar::create).delete(calendar::revoke),
        )
        .route(
            "/patients/{id}/appointments",
            get(appointments::list).post(appointments::create),
        )
        .route("/appointments/{id}", delete(appointments::cancel))
        .route("/patients/{id}/monitoring", get(monitoring::overview))
        .route(
            "/patients/{id}/lab-results",
            post(monitoring::create_lab_result),
        )
        .route("/patients/{id}/ecgs", post(monitoring::create_ecg))
        .route(
            "/patients/{id}/naloxone",
            get(monitoring::get_naloxone).put(monitoring::put_naloxone),
        )
        .route(
            "/patients/{id}/overdoses",
            post(monitoring::create_overdose),
        )
        .route(
            "/patients/{id}/opioid-use",
            post(monitoring::create_opioid_use),
        )
        .route(
            "/organization",
            get(organization::get_one).patch(organization::update),
        )
        .route(
            "/account/notification-preferences",
            get(notifications::get_preferences).put(notifications::put_preferences),
        )
        .route(
            "/organization/on-call",
            get(notifications::get_on_call).put(notifications::put_on_call),
        )
        .route(
            "/organization/webhook",
            get(notifications::get_webhook)
                .put(notifications::put_webhook)
                .delete(notifications::delete_webhook),
        )
        .route("/notifications", get(notifications::log))
        .route("/notifications/{id}/retry", post(notifications::retry))
        .route("/alerts/{id}/paging", get(notifications::paging))
        .route("/users", post(users::create).get(users::list))
        .route("/users/{id}", get(users::get_one).patch(users::update))
        .route("/users/{id}/password", put(users::set_password))
        .route("/clinicians", get(users::clinicians))
        .route("/patients", post(patients::create).get(patients::list))
        .route(
            "/patients/{id}",
            get(patients::get_one).put(patients::update),
        )
        .route(
            "/patients/{id}/care-team",
            get(patients::care_team).put(patients::replace_care_team),
        )
        .route("/patients/{id}/account", post(patients::create_account))
        .route("/products", post(products::create).get(products::list))
        .route(
            "/products/{id}",
            get(products::get_one).put(products::update),
        )
        .route("/products/{id}/batches", post(products::create_batch))
        .route(
            "/batches/{id}",
            get(products::get_batch)
                .put(products::update_batch)
                .patch(products::patch_batch),
        )
        .route("/patients/{id}/doses", post(doses::create).get(doses::list))
        .route(
            "/patients/{id}/doses/{dose_id}",
            put(doses::correct).delete(doses::delete),
        )
        .route("/patients/{id}/doses/import", post(doses::import))
        .route("/patients/{id}/exposure/daily", get(doses::daily))
        .route(
            "/patients/{id}/exposure/predicted",
            get(predicted::predicted),
        )
        .route("/patients/{id}/product-safety", get(doses::product_safety))
        .route("/instruments", get(assessments::list_instruments))
        .route("/instruments/{code}", get(assessments::get_instrument))
        .route("/instruments/{code}/bands", put(assessments::set_bands))
        .route(
            "/patients/{id}/assessments",
            post(assessments::create).get(assessments::history),
        )
        .route("/patients/{id}/alerts", get(assessments::alerts))
        .route("/alerts", get(alerts::inbox))
        .route("/alerts/{id}", get(alerts::get_one))
        .route("/alerts/{id}/acknowledge", post(alerts::acknowledge))
        .route("/alerts/{id}/resolve", post(alerts::resolve))
        .route(
            "/patients/{id}/medications",
            get(medications::list).post(medications::create),
        )
        .route(
            "/patients/{id}/medications/{medication_id}",
            put(medications::update).delete(medications::remove),
        )
        .route(
            "/patients/{id}/assessments/{assessment_id}/fhir",
            get(fhir::assessment_fhir),
        )
        .route(
            "/patients/{id}/schedule",
            get(checkin::get_schedule).put(checkin::put_schedule),
        )
        .route("/patients/{id}/plans", get(plans::list).post(plans::create))
        .route("/patients/{id}/plans/preview", post(plans::preview))
        .route("/patients/{id}/plans/current", get(plans::current))
        .route("/patients/{id}/plans/adherence", get(plans::adherence))
        .route(
            "/plans/{id}",
            get(plans::get_one)
                .patch(plans::update)
                .delete(plans::discard),
        )
        .route("/plans/{id}/sign", post(plans::sign))
        .route("/plans/{id}/adjustments", post(plans::adjust))
        .route("/plans/{id}/report", get(plans::report))
        .route("/audit-events", get(audit_log::list))
        .route("/patients/{id}/audit-events", get(audit_log::patient_trail))
        .route("/patients/{id}/sleep/nights", get(sleep::nights))
        .route(
            "/patients/{id}/sleep/bedtime-effect",
            get(sleep::bedtime_effect),
        )
        .route(
            "/patients/{id}/sleep/window",
            get(sleep::current_window).post(sleep::save_window),
        )
        .route("/patients/{id}/sleep/window/proposal", get(sleep::proposal))
        .route(
            "/organization/sleep-window-settings",
            get(sleep::get_settings).put(sleep::put_settings),
        )
        .route("/legal-status", get(legal::legal_status))
        .route("/openapi.json", get(openapi))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Speciosa API",
        description = "Supervised, measurement-based recovery care for people whose opioid recovery involves kratom. \
                       Speciosa supports medical supervision and never replaces it.\n\n\
                       Sign in with `POST /api/v1/session`; send the returned `csrf_token` in `X-CSRF-Token` \
                       on every state-changing request. Errors are `application/problem+json` (RFC 9457).",
        license(name = "MIT OR Apache-2.0")
    ),
    servers((url = "/", description = "This server")),
    paths(
        session::sign_in, session::current, session::sign_out,
        account::change_password, account::begin_totp, account::activate_totp, account::disable_totp,
        push::vapid_public_key, push::subscribe, push::unsubscribe,
        calendar::create, calendar::revoke,
        appointments::create, appointments::list, appointments::cancel,
        monitoring::overview, monitoring::create_lab_result, monitoring::create_ecg,
        monitoring::get_naloxone, monitoring::put_naloxone, monitoring::create_overdose,
        monitoring::create_opioid_use,
        users::create, users::list, users::get_one, users::update, users::set_password, users::clinicians,
        organization::get_one, organization::update,
        patients::create, patients::list, patients::get_one, patients::update,
        patients::care_team, patients::replace_care_team, patients::create_account,
        products::create, products::list, products::get_one, products::update,
        products::create_batch, products::get_batch, products::update_batch, products::patch_batch,
        doses::create, doses::list, doses::correct, doses::delete, doses::daily,
        doses::import, doses::product_safety,
        assessments::list_instruments, assessments::get_instrument, assessments::create,
        assessments::history, assessments::alerts,
        alerts::inbox, alerts::get_one, alerts::acknowledge, alerts::resolve,
        medications::list, medications::create, medications::update, medications::remove,
        plans::preview, plans::create, plans::list, plans::current, plans::adherence,
        plans::get_one, plans::update, plans::discard, plans::sign, plans::adjust, plans::report,
        checkin::get_schedule, checkin::put_schedule,
        fhir::assessment_fhir,
        assessments::set_bands,
        predicted::predicted,
        audit_log::list,
        audit_log::patient_trail,
        notifications::get_preferences, notifications::put_preferences,
        notifications::get_on_call, notifications::put_on_call,
        notifications::get_webhook, notifications::put_webhook, notifications::delete_webhook,
        notifications::log, notifications::retry, notifications::paging,
        sleep::nights, sleep::bedtime_effect, sleep::proposal, sleep::save_window,
        sleep::current_window, sleep::get_settings, sleep::put_settings,
        legal::legal_status,
    ),
    components(schemas(crate::api::Problem, crate::api::ProblemFieldError)),
    tags(
        (name = "session", description = "Signing in and out (with a two-factor code when the account has it on)"),
        (name = "account", description = "Your own password and two-factor sign-in (TOTP, RFC 6238)"),
        (name = "push", description = "Notifications on your own browsers (Web Push: RFC 8030, 8291, 8292)"),
        (name = "users", description = "Accounts, temporary passwords and the organization's sign-in settings (admins)"),
        (name = "patients", description = "Patient records and care teams (clinicians; patients see themselves)"),
        (name = "products", description = "The product catalogue, batch certificates of analysis and quality flags"),
        (name = "doses", description = "Doses in milligrams of mitragynine and 7-OH, and daily exposure"),
        (name = "assessments", description = "Validated instruments, scoring, history and safety alerts"),
        (name = "alerts", description = "Safety alerts: the clinician's inbox, acknowledgement and resolution"),
        (name = "medications", description = "The patient's medication list, read by the safety rules"),
        (name = "appointments", description = "Visits and therapy sessions: scheduled and cancelled by the care team, seen by the patient"),
        (name = "monitoring", description = "Liver tests and ECGs (LOINC-coded), naloxone on hand, overdoses and non-prescribed opioid use; every write runs the safety rules before it answers"),
        (name = "plans", description = "Individual plans and tapers: PK preview, drafts, electronic signatures, adherence"),
        (name = "notifications", description = "Reaching people: your channels, quiet hours and reminders; the on-call list, webhook and delivery log (admins); an alert's paging"),
        (name = "sleep", description = "Nights derived from doses and sleep diaries, sleep with and without a bedtime dose, and CBT-I's sleep window"),
        (name = "legal", description = "Kratom's legal status by jurisdiction and date, from a cited dataset compiled 2026-11-24 (re-verify before relying on it)"),
        (name = "audit", description = "The Merkle-sealed audit log: admins see who did what kind of thing, never clinical detail; a patient's care team reads the patient's own trail in full"),
    )
)]
pub struct ApiDoc;

async fn openapi() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}

/// RFC 9457 problem details, as every error is returned.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Problem {
    /// A stable URI reference naming the kind of problem; `GET` it for an explanation.
    #[schema(example = "/problems/validation")]
    r#type: String,
    title: String,
    status: u16,
    /// What went wrong, for a person.
    detail: String,
    /// For invalid input: each field and why.
    errors: Option<Vec<ProblemFieldError>>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ProblemFieldError {
    #[schema(example = "birth_date")]
    field: String,
    detail: String,
}
