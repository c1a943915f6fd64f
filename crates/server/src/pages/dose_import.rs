//! Importing a dose history from CSV: paste it, preview every row (bad rows with their
//! line numbers and reasons), then confirm to write the valid rows. Rows with an unusual
//! amount (far above the patient's usual dose) are listed with a box each and written
//! only when ticked. The preview writes nothing; confirming twice writes nothing twice.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use speciosa_app::doses::{ImportInput, mg_text};
use speciosa_core::dose::ExposureBasis;

use crate::app::AppState;
use crate::error::PageError;
use crate::extract::{PageForm, PageUser};
use crate::pages::doses::amount_text;
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
    unusual_confirmed: bool,
}

/// A row whose amount is far above the patient's usual dose, to be ticked if right.
struct UnusualLine {
    line: u64,
    amount: String,
    mitragynine_mg: String,
    usual_mg: String,
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
    unusual: Vec<UnusualLine>,
    /// "more than 3 times"; from the rule, so the page and the check agree.
    unusual_factor: String,
    imported: usize,
    already_present: usize,
}

fn mg(value: Option<f64>) -> String {
    value
        .map(|v| format!("{v:.1}"))
        .unwrap_or_else(|| "unknown".to_owned())
}

fn basis_label(basis: ExposureBasis) -> &'static str {
    match basis {
        ExposureBasis::Assay => "lab certificate",
        ExposureBasis::Estimate => "estimate (no certificate)",
        ExposureBasis::Unknown => "unknown",
    }
}

pub async fn form(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    Path(raw_id): Path<String>,
) -> Result<Response, PageError> {
    let id = patient_id(&raw_id)?;
    let (patient, _) = speciosa_app::patients::read_patient(&state.app, &user, id).await?;
    let page = ImportPage {
        nav: Nav::for_user(&user),
        patient_id: id.to_string(),
        patient_name: patient.details.display_name.as_str().to_owned(),
        csv: String::new(),
        previewed: false,
        committed: false,
        rows: Vec::new(),
        errors: Vec::new(),
        unusual: Vec::new(),
        unusual_factor: unusual_factor(),
        imported: 0,
        already_present: 0,
    };
    Ok(render(&page)?.into_response())
}

fn unusual_factor() -> String {
    format!("{}", speciosa_core::dose::UNUSUAL_AMOUNT.factor)
}

#[derive(Deserialize)]
pub struct ImportForm {
    csv: String,
    /// `preview` or `commit`.
    action: String,
}

/// The ticked `confirm_line` boxes: lines whose unusual amounts are right.
fn confirmed_lines(pairs: &[(String, String)]) -> Vec<u64> {
    pairs
        .iter()
        .filter(|(name, _)| name == "confirm_line")
        .filter_map(|(_, value)| value.trim().parse().ok())
        .collect()
}

pub async fn submit(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    submitted: PageForm<ImportForm>,
) -> Result<Response, PageError> {
    let id = patient_id(&raw_id)?;
    let user = &submitted.user;
    let commit = submitted.form.action == "commit";
    // Only the commit form carries the boxes: a fresh preview asks again.
    let confirmed = if commit {
        confirmed_lines(&submitted.pairs)
    } else {
        Vec::new()
    };
    let input = ImportInput {
        csv: submitted.form.csv.clone(),
        commit,
        confirm_unusual_lines: confirmed,
    };
    let result = speciosa_app::doses::import_doses(&state.app, user, id, &input).await?;
    let (patient, _) = speciosa_app::patients::read_patient(&state.app, user, id).await?;
    let zone = patient.details.time_zone.to_zone();
    let rows = result
        .rows
        .iter()
        .map(|row| RowLine {
            line: row.line,
            local_time: crate::pages::time::Clock::of_zone(&zone).minute(row.taken_at),
            product: row.product.clone(),
            lot: row.lot.clone(),
            amount: format!("{} {}", row.amount, row.unit),
            mitragynine_mg: mg(row.mitragynine_mg),
            hydroxymitragynine_mg: mg(row.hydroxymitragynine_mg),
            basis: basis_label(row.exposure_basis),
            unusual_confirmed: row.unusual_amount_confirmed,
        })
        .collect();
    let unusual = result
        .unusual
        .iter()
        .map(|row| UnusualLine {
            line: row.line,
            amount: amount_text(row.amount, &row.unit),
            mitragynine_mg: mg_text(row.mitragynine_mg),
            usual_mg: mg_text(row.usual_mitragynine_mg),
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
        unusual,
        unusual_factor: unusual_factor(),
        imported: result.imported,
        already_present: result.already_present,
    };
    Ok(render(&page)?.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ticked_line_numbers_confirm_unusual_rows() {
        let pairs = [
            ("csv".to_owned(), "date,time".to_owned()),
            ("confirm_line".to_owned(), "4".to_owned()),
            ("confirm_line".to_owned(), "x".to_owned()),
            ("confirm_line".to_owned(), " 9 ".to_owned()),
        ];
        assert_eq!(confirmed_lines(&pairs), [4, 9]);
    }
}
