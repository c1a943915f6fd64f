//! Kratom's legal status where a patient lives: the bundled, cited dataset
//! (`data/legal/status.toml`, read by `speciosa_core::legal`).

use std::sync::Arc;

use jiff::civil::Date;
use speciosa_core::FieldErrors;
use speciosa_core::ids::OrganizationId;
use speciosa_core::legal::{LegalAnswer, LegalDataset, ProductScopeFacts, SubstanceScope};
use speciosa_core::quality::QualityFlag;
use speciosa_store::{Batch, Product, StoreError};

use crate::{App, AppError, Caller};

/// Parses the API's and pages' `jurisdiction` and `date` inputs: the date defaults to
/// today (UTC) and must be a calendar date.
pub fn parse_query(
    jurisdiction: Option<&str>,
    date: Option<&str>,
) -> Result<(String, Date), AppError> {
    let mut errors = FieldErrors::new();
    let code = jurisdiction.map(str::trim).filter(|c| !c.is_empty());
    if code.is_none() {
        errors.push(
            "jurisdiction",
            "give an ISO 3166 code such as \"US-AL\" or \"TH\", or a locality code such as \"US-CA:city:san-diego\"",
        );
    }
    let date = match date.map(str::trim).filter(|d| !d.is_empty()) {
        None => Some(
            jiff::Timestamp::now()
                .to_zoned_datetime(jiff::tz::TimeZone::UTC)
                .date(),
        ),
        Some(text) => errors.check(
            "date",
            text.parse::<Date>()
                .map_err(|_| format!("{text:?} is not a date of the form YYYY-MM-DD")),
        ),
    };
    match (code, date) {
        (Some(code), Some(date)) if errors.is_empty() => Ok((code.to_owned(), date)),
        _ => Err(AppError::Invalid(errors)),
    }
}

/// What applies in a jurisdiction on a date. Reference data, open to every signed-in user;
/// not patient data, so not audited.
pub async fn legal_status(
    app: &App,
    caller: &Caller,
    jurisdiction: &str,
    date: Date,
) -> Result<LegalAnswer, AppError> {
    dataset_for(app, caller.actor.organization_id)
        .await?
        .rules_in_force(jurisdiction, date)
        .ok_or(AppError::NotFound("jurisdiction"))
}

/// The legal dataset an organization's patients are checked against: the shipped file
/// with the organization's own rows (curated on `/admin/knowledge`, audited).
pub async fn dataset_for(
    app: &App,
    _organization: OrganizationId,
) -> Result<Arc<LegalDataset>, StoreError> {
    Ok(app.knowledge.legal.clone())
}

/// What applies where a patient lives today, for their record (the caller has already
/// been allowed to read the patient); `None` without a jurisdiction the dataset knows.
pub async fn for_patient(
    app: &App,
    patient: &speciosa_store::Patient,
) -> Result<Option<LegalAnswer>, AppError> {
    let Some(code) = patient
        .details
        .jurisdiction
        .as_ref()
        .map(|j| j.code().to_owned())
    else {
        return Ok(None);
    };
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(patient.details.time_zone.to_zone())
        .date();
    let dataset = dataset_for(app, patient.organization_id).await?;
    Ok(dataset
        .resolve_patient(&code)
        .and_then(|known| dataset.rules_in_force(&known.id, today)))
}

/// The legal scopes a batch falls under: concentrated 7-OH when its product usually
/// carries it (tablet, liquid, labelled 7-OH) or its flags say enriched; pseudoindoxyl
/// when assayed; extract for anything but leaf powder and capsules.
pub fn product_scopes(
    product: &Product,
    batch: &Batch,
    flags: &[QualityFlag],
) -> Vec<SubstanceScope> {
    let facts = product.details.facts();
    let flagged = |code: &str| flags.iter().any(|f| f.code == code);
    speciosa_core::legal::product_scopes(ProductScopeFacts {
        extract: !matches!(
            facts.form,
            speciosa_core::product::ProductForm::LeafPowder
                | speciosa_core::product::ProductForm::Capsule
        ),
        concentrated_hydroxy: facts.usually_concentrated_hydroxy()
            || flagged("hydroxy_over_0_04pct_weight")
            || flagged("hydroxy_per_serving_2mg_or_more")
            || flagged("hydroxy_fraction_over_2pct"),
        pseudoindoxyl: batch
            .assay
            .as_ref()
            .and_then(|a| a.alkaloids.mitragynine_pseudoindoxyl_mg_per_g)
            .is_some_and(|mp| mp > 0.0),
        semi_synthetic: flagged("semi_synthetic_suspected"),
    })
}
