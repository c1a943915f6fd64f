//! Importing a dose history from CSV: paste it, preview every row (bad rows with their
//! line numbers and reasons), then confirm to write the valid rows. The preview writes
//! nothing; confirming twice writes nothing twice.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::Deserialize;

use crate::api::doses::{ImportResult, import_doses};
use crate::api::patients::read_patient;
use crate::app::AppState;
use crate::error::PageError;
use crate::extract::{PageForm, PageUser};
use crate::pages::{Nav, patient_id, render};

/// One previewed row, with its time shown in the patient's zone.
struct RowLine {
    line: u64,
    local_time: String,
    product: String,
    lot: String,
    amount: String,
    mitragynine_mg: String,
    hydroxymitragynine_mg: String,
    basis: &'static str,
}

#[derive(Template)]
#[template(path = "dose_import.html")]
struct ImportPage {
    nav: Nav,
    patient_id: String,
    patient_name: String,
    csv: String,
    previewed: bool,
    committed: bool,
    rows: Vec<RowLine>,
    errors: Vec<(u64, String)>,
    imported: usize,
    already_present: usize,
}

fn mg(value: Option<f64>) -> String {
    value
        .map(|v| format!("{v:.1}"))
        .unwrap_or_else(|| "unknown".to_owned())
}

fn basis_label(basis: &str) -> &'static str {
    match basis {
        "assay" => "lab certificate",
        "estimate" => "estimate (no certificate)",
        _ => "unknown",
    }
}

pub async fn form(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(raw_id): Path<String>,
) -> Result<Response, PageError> {
    let id = patient_id(&raw_id)?;
    let (patient, _) = read_patient(&state, &user, id).await?;
    let page = ImportPage {
        nav: Nav::for_user(&user),
        patient_id: id.to_string(),
        patient_name: patient.details.display_name.as_str().to_owned(),
        csv: String::new(),
        previewed: false,
        committed: false,
        rows: Vec::new(),
        errors: Vec::new(),
        imported: 0,
        already_present: 0,
    };
    Ok(render(&page)?.into_response())
}

#[derive(Deserialize)]
pub struct ImportForm {
    csv: String,
    /// `preview` or `commit`.
    action: String,
}

pub async fn submit(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    submitted: PageForm<ImportForm>,
) -> Result<Response, PageError> {
    let id = patient_id(&raw_id)?;
    let user = &submitted.user;
    let commit = submitted.form.action == "commit";
    let result: ImportResult = import_doses(&state, user, id, &submitted.form.csv, commit).await?;
    let (patient, _) = read_patient(&state, user, id).await?;
    let zone = patient.details.time_zone.to_zone();
    let rows = result
        .rows
        .iter()
        .map(|row| RowLine {
            line: row.line,
            local_time: row
                .taken_at
                .parse::<Timestamp>()
                .map(|t| crate::pages::time::Clock::of_zone(&zone).minute(t))
                .unwrap_or_else(|_| row.taken_at.clone()),
            product: row.product.clone(),
            lot: row.lot.clone(),
            amount: format!("{} {}", row.amount, row.unit),
            mitragynine_mg: mg(row.mitragynine_mg),
            hydroxymitragynine_mg: mg(row.hydroxymitragynine_mg),
            basis: basis_label(&row.exposure_basis),
        })
        .collect();
    let page = ImportPage {
        nav: Nav::for_user(user),
        patient_id: id.to_string(),
        patient_name: patient.details.display_name.as_str().to_owned(),
        csv: submitted.form.csv.clone(),
        previewed: true,
        committed: result.committed,
        rows,
        errors: result
            .errors
            .iter()
            .map(|e| (e.line, e.reason.clone()))
            .collect(),
        imported: result.imported,
        already_present: result.already_present,
    };
    Ok(render(&page)?.into_response())
}
