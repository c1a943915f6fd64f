//! Products and batches: the organization's catalogue, batch certificates of analysis and
//! what the quality limits say about each batch. What a reader sees of a patient's
//! addition follows `speciosa_core::policy::product_visibility`.
//!
//! Inputs arrive as typed but unchecked fields and are checked once the caller is
//! allowed, so a refused caller is told only that they are refused.

use std::collections::HashSet;

use jiff::Timestamp;
use speciosa_core::FieldErrors;
use speciosa_core::account::Role;
use speciosa_core::audit::Outcome;
use speciosa_core::ids::{BatchId, PatientId, ProductId};
use speciosa_core::policy::{self, OrganizationAction, ProductOrigin, ProductVisibility};
use speciosa_core::product::{
    Alkaloids, AsPrinted, Assay, HeavyMetals, Microbial, ProductDetails, ProductFacts,
    ProductFields,
};
use speciosa_core::quality::{BatchFacts, QualityFlag};
use speciosa_core::time::CalendarDate;
use speciosa_store::{Batch, BatchContent, Product};

use crate::{App, AppError, Caller, access};

/// The quality flags for one batch of a product (`data/product-quality.toml`).
pub fn batch_flags(app: &App, product: &Product, batch: &Batch) -> Vec<QualityFlag> {
    let facts = product.details.facts();
    app.knowledge.standards.batch_flags(&BatchFacts {
        product: &facts,
        assay: batch.assay.as_ref(),
        recalled: batch.recalled,
        recall_reason: batch.recall_reason.as_deref(),
    })
}

/// A certificate of analysis as typed. Contents are per gram (per mL for liquids);
/// `None` is "not reported", 0 is "not detected".
#[derive(Clone, Debug, Default)]
pub struct AssayFields {
    pub lab: Option<String>,
    /// YYYY-MM-DD.
    pub tested_on: Option<String>,
    pub alkaloids: Alkaloids,
    pub hydroxymitragynine_loq_mg_per_g: Option<f64>,
    pub mitragynine_loq_mg_per_g: Option<f64>,
    pub heavy_metals: HeavyMetals,
    pub microbial: Microbial,
    /// Values as the certificate prints them (% w/w, mg per unit, ppb), converted on parse.
    pub printed: AsPrinted,
    /// Save values that look implausible (a % typed as mg/g, more 7-OH than mitragynine,
    /// alkaloids over 100 %) after the person has checked them.
    pub confirm_implausible: bool,
}

impl AssayFields {
    /// The checked certificate for a batch of `product`; errors name fields `assay.…`.
    /// Printed values are converted to mg/g and ppm; implausible values are refused
    /// unless confirmed, each naming its field.
    pub fn parse(&self, product: &ProductFacts) -> Result<Assay, FieldErrors> {
        let tested_on = match self
            .tested_on
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())
        {
            None => None,
            Some(raw) => Some(
                CalendarDate::parse(raw)
                    .map_err(|e| FieldErrors::single("assay.tested_on", e.to_string()))?
                    .get(),
            ),
        };
        let mut assay = Assay {
            lab: self
                .lab
                .as_deref()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned),
            tested_on,
            alkaloids: self.alkaloids.clone(),
            hydroxymitragynine_loq_mg_per_g: self.hydroxymitragynine_loq_mg_per_g,
            mitragynine_loq_mg_per_g: self.mitragynine_loq_mg_per_g,
            heavy_metals: self.heavy_metals.clone(),
            microbial: self.microbial.clone(),
        };
        // The latest calendar date anywhere on Earth: a lab's date is never "tomorrow".
        let today = Timestamp::now()
            .to_zoned_datetime(jiff::tz::TimeZone::fixed(jiff::tz::offset(14)))
            .date();
        self.printed.apply(&mut assay, product, "assay.")?;
        assay.validate("assay.", today)?;
        if !self.confirm_implausible {
            let typed_in_mg_per_g = self.alkaloids.mitragynine_mg_per_g.is_some();
            let mut errors = FieldErrors::new();
            let concentrated = product.usually_concentrated_hydroxy();
            for found in assay.implausible("assay.", typed_in_mg_per_g, concentrated) {
                errors.push(
                    found.field,
                    format!(
                        "{}; if the certificate says so, confirm to save anyway",
                        found.detail
                    ),
                );
            }
            if !errors.is_empty() {
                return Err(errors);
            }
        }
        Ok(assay)
    }
}

/// A batch as typed: its lot, certificate and recall.
#[derive(Clone, Debug, Default)]
pub struct BatchFields {
    pub lot: String,
    pub assay: Option<AssayFields>,
    pub recalled: bool,
    pub recall_reason: Option<String>,
}

impl BatchFields {
    pub fn parse(&self, product: &ProductFacts) -> Result<BatchContent, FieldErrors> {
        let mut errors = FieldErrors::new();
        let lot = self.lot.trim();
        if lot.is_empty() || lot.chars().count() > 100 || lot.chars().any(char::is_control) {
            errors.push("lot", "the lot code is required (at most 100 characters)");
        }
        let assay = match &self.assay {
            None => None,
            Some(fields) => match fields.parse(product) {
                Ok(assay) => Some(assay),
                Err(assay_errors) => {
                    errors.errors.extend(assay_errors.errors);
                    None
                }
            },
        };
        let recall_reason = self
            .recall_reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty());
        if recall_reason.is_some_and(|r| r.chars().count() > 500) {
            errors.push("recall_reason", "at most 500 characters");
        }
        errors.into_result(|| BatchContent {
            lot: lot.to_owned(),
            assay,
            recalled: self.recalled,
            recall_reason: recall_reason.map(str::to_owned),
        })
    }
}

/// A partial change to a batch: only what is `Some` changes.
#[derive(Clone, Debug, Default)]
pub struct BatchPatch {
    pub lot: Option<String>,
    /// A new certificate, replacing the old one.
    pub assay: Option<AssayFields>,
    pub recalled: Option<bool>,
    pub recall_reason: Option<String>,
}

/// The organization's product, or 404, whoever may see it: for recording doses against
/// batches already chosen. Catalogue reads go through [`visible_product`].
async fn organization_product(
    app: &App,
    caller: &Caller,
    id: ProductId,
) -> Result<Product, AppError> {
    app.store
        .get_product(id)
        .await?
        .filter(|p| p.organization_id == caller.actor.organization_id)
        .ok_or(AppError::NotFound("product"))
}

/// The organization's batch with its product, or 404 (see [`organization_product`]).
pub(crate) async fn organization_batch(
    app: &App,
    caller: &Caller,
    id: BatchId,
) -> Result<(Product, Batch), AppError> {
    let batch = app
        .store
        .get_batch(id)
        .await?
        .filter(|b| b.organization_id == caller.actor.organization_id)
        .ok_or(AppError::NotFound("batch"))?;
    let product = organization_product(app, caller, batch.product_id).await?;
    Ok((product, batch))
}

/// `product` as `caller` may see it (`policy::product_visibility`): `None` when hidden,
/// without the adding patient when the reader is not theirs to know.
fn as_seen_by(caller: &Caller, mut product: Product, on_care_team: bool) -> Option<Product> {
    let origin = ProductOrigin {
        added_by_patient: product.added_by_patient_id,
        reviewed: product.review_status == "reviewed",
        actor_on_care_team: on_care_team,
    };
    match policy::product_visibility(&caller.actor, &origin) {
        ProductVisibility::Full => Some(product),
        ProductVisibility::WithoutOrigin => {
            product.added_by_patient_id = None;
            Some(product)
        }
        ProductVisibility::Hidden => None,
    }
}

/// Whether `caller` is a clinician on the care team of the patient who added `product`.
async fn on_adders_care_team(
    app: &App,
    caller: &Caller,
    product: &Product,
) -> Result<bool, AppError> {
    let Some(patient) = product.added_by_patient_id else {
        return Ok(false);
    };
    if caller.actor.role != Role::Clinician {
        return Ok(false);
    }
    let scope = app
        .store
        .patient_scope(patient, caller.actor.user_id)
        .await?;
    Ok(matches!(scope, Some((org, true)) if org == caller.actor.organization_id))
}

/// The organization's product as `caller` may see it, or 404.
async fn visible_product(app: &App, caller: &Caller, id: ProductId) -> Result<Product, AppError> {
    let product = organization_product(app, caller, id).await?;
    let on_team = on_adders_care_team(app, caller, &product).await?;
    as_seen_by(caller, product, on_team).ok_or(AppError::NotFound("product"))
}

/// The organization's batch with its product, both as `caller` may see them, or 404.
async fn visible_batch(
    app: &App,
    caller: &Caller,
    id: BatchId,
) -> Result<(Product, Batch), AppError> {
    let (product, batch) = organization_batch(app, caller, id).await?;
    let on_team = on_adders_care_team(app, caller, &product).await?;
    let product = as_seen_by(caller, product, on_team).ok_or(AppError::NotFound("batch"))?;
    Ok((product, batch))
}

/// Adds a product: a clinician's goes straight into the catalogue; a patient's is
/// recorded "as labelled" for review. Returns it with the organization's batches.
pub async fn add_product(
    app: &App,
    caller: &Caller,
    fields: &ProductFields<'_>,
) -> Result<(Product, Vec<Batch>), AppError> {
    let action = if caller.actor.role == Role::Patient {
        OrganizationAction::SuggestProduct
    } else {
        OrganizationAction::ManageCatalog
    };
    access::organization(app, caller, action, "product.create", "product").await?;
    let details = ProductDetails::parse(fields)?;
    let added_by_patient = caller
        .actor
        .own_patient_id
        .filter(|_| caller.actor.role == Role::Patient);
    let product = app
        .store
        .create_product(
            caller.actor.organization_id,
            &details,
            caller.actor.user_id,
            added_by_patient,
            |id| {
                caller.audit(
                    "product.create",
                    "product",
                    Some(id.to_string()),
                    added_by_patient,
                    Outcome::Success,
                )
            },
        )
        .await?;
    let batches = app.store.list_batches(caller.actor.organization_id).await?;
    Ok((product, batches))
}

/// The organization's catalogue as `caller` may see it, with the batches of those products.
pub async fn catalogue(app: &App, caller: &Caller) -> Result<(Vec<Product>, Vec<Batch>), AppError> {
    access::organization(
        app,
        caller,
        OrganizationAction::ReadCatalog,
        "product.list",
        "product",
    )
    .await?;
    let products = app
        .store
        .list_products(caller.actor.organization_id)
        .await?;
    let needs_team = caller.actor.role == Role::Clinician
        && products.iter().any(|p| p.added_by_patient_id.is_some());
    let team: HashSet<PatientId> = if needs_team {
        app.store
            .list_care_team_patients(caller.actor.organization_id, caller.actor.user_id)
            .await?
            .into_iter()
            // An unreadable record still names its patient, so the team stays whole.
            .map(|p| p.map_or_else(|unreadable| unreadable.id, |p| p.id))
            .collect()
    } else {
        HashSet::new()
    };
    let products: Vec<Product> = products
        .into_iter()
        .filter_map(|p| {
            let on_team = p.added_by_patient_id.is_some_and(|a| team.contains(&a));
            as_seen_by(caller, p, on_team)
        })
        .collect();
    let batches = app
        .store
        .list_batches(caller.actor.organization_id)
        .await?
        .into_iter()
        .filter(|b| products.iter().any(|p| p.id == b.product_id))
        .collect();
    Ok((products, batches))
}

/// One product as `caller` may see it, with the organization's batches.
pub async fn read_product(
    app: &App,
    caller: &Caller,
    id: ProductId,
) -> Result<(Product, Vec<Batch>), AppError> {
    access::organization(
        app,
        caller,
        OrganizationAction::ReadCatalog,
        "product.read",
        "product",
    )
    .await?;
    let product = visible_product(app, caller, id).await?;
    let batches = app.store.list_batches(caller.actor.organization_id).await?;
    Ok((product, batches))
}

/// Changes a product's details; with `reviewed`, marks a patient's addition reviewed.
/// Returns it with the organization's batches.
pub async fn edit_product(
    app: &App,
    caller: &Caller,
    id: ProductId,
    fields: &ProductFields<'_>,
    reviewed: bool,
) -> Result<(Product, Vec<Batch>), AppError> {
    access::organization(
        app,
        caller,
        OrganizationAction::ManageCatalog,
        "product.update",
        "product",
    )
    .await?;
    let current = organization_product(app, caller, id).await?;
    let on_team = on_adders_care_team(app, caller, &current).await?;
    as_seen_by(caller, current, on_team).ok_or(AppError::NotFound("product"))?;
    let details = ProductDetails::parse(fields)?;
    let action = if reviewed {
        "product.review"
    } else {
        "product.update"
    };
    let updated = app
        .store
        .update_product(
            id,
            &details,
            reviewed,
            caller.audit(
                action,
                "product",
                Some(id.to_string()),
                None,
                Outcome::Success,
            ),
        )
        .await?;
    let updated = as_seen_by(caller, updated, on_team).ok_or(AppError::NotFound("product"))?;
    let batches = app.store.list_batches(caller.actor.organization_id).await?;
    Ok((updated, batches))
}

/// Adds a batch (with its certificate, if any) to a product.
pub async fn add_batch(
    app: &App,
    caller: &Caller,
    product_id: ProductId,
    fields: &BatchFields,
) -> Result<(Product, Batch), AppError> {
    access::organization(
        app,
        caller,
        OrganizationAction::ManageCatalog,
        "batch.create",
        "batch",
    )
    .await?;
    let product = visible_product(app, caller, product_id).await?;
    let content = fields.parse(&product.details.facts())?;
    let batch = app
        .store
        .create_batch(&product, &content, caller.actor.user_id, |id| {
            caller.audit(
                "batch.create",
                "batch",
                Some(id.to_string()),
                None,
                Outcome::Success,
            )
        })
        .await?;
    Ok((product, batch))
}

/// One batch with its product, as `caller` may see them.
pub async fn read_batch(
    app: &App,
    caller: &Caller,
    id: BatchId,
) -> Result<(Product, Batch), AppError> {
    access::organization(
        app,
        caller,
        OrganizationAction::ReadCatalog,
        "batch.read",
        "batch",
    )
    .await?;
    visible_batch(app, caller, id).await
}

/// One batch with its product, for someone who may change it (the batch form).
pub async fn batch_to_edit(
    app: &App,
    caller: &Caller,
    id: BatchId,
) -> Result<(Product, Batch), AppError> {
    access::organization(
        app,
        caller,
        OrganizationAction::ManageCatalog,
        "batch.update",
        "batch",
    )
    .await?;
    visible_batch(app, caller, id).await
}

/// Replaces a batch's lot, certificate and recall, then re-checks the patients using it.
pub async fn edit_batch(
    app: &App,
    caller: &Caller,
    id: BatchId,
    fields: &BatchFields,
) -> Result<(Product, Batch), AppError> {
    let (product, _) = batch_to_edit(app, caller, id).await?;
    let content = fields.parse(&product.details.facts())?;
    let action = if content.recalled {
        "batch.recall"
    } else {
        "batch.update"
    };
    let batch = app
        .store
        .update_batch(
            id,
            &content,
            caller.audit(
                action,
                "batch",
                Some(id.to_string()),
                None,
                Outcome::Success,
            ),
        )
        .await?;
    crate::safety::after_batch_change(app, id).await;
    Ok((product, batch))
}

/// Changes the fields `patch` names (e.g. a recall with its reason), then re-checks the
/// patients using the batch.
pub async fn patch_batch(
    app: &App,
    caller: &Caller,
    id: BatchId,
    patch: &BatchPatch,
) -> Result<(Product, Batch), AppError> {
    let (product, current) = batch_to_edit(app, caller, id).await?;
    let facts = product.details.facts();
    let assay = match &patch.assay {
        Some(fields) => Some(fields.parse(&facts)?),
        None => current.assay.clone(),
    };
    let merged = BatchFields {
        lot: patch.lot.clone().unwrap_or(current.lot.clone()),
        assay: None,
        recalled: patch.recalled.unwrap_or(current.recalled),
        recall_reason: patch
            .recall_reason
            .clone()
            .or(current.recall_reason.clone()),
    };
    // Lot and recall reason are checked as a full update would check them.
    let checked = BatchContent {
        assay,
        ..merged.parse(&facts)?
    };
    let action = if checked.recalled && !current.recalled {
        "batch.recall"
    } else {
        "batch.update"
    };
    let batch = app
        .store
        .update_batch(
            id,
            &checked,
            caller.audit(
                action,
                "batch",
                Some(id.to_string()),
                None,
                Outcome::Success,
            ),
        )
        .await?;
    crate::safety::after_batch_change(app, id).await;
    let (product, _) = visible_batch(app, caller, id).await?;
    Ok((product, batch))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf() -> ProductFacts {
        ProductFacts {
            form: speciosa_core::product::ProductForm::LeafPowder,
            unit_mass_g: None,
            serving_size: None,
            labels_hydroxy_as_ingredient: false,
        }
    }

    #[test]
    fn a_batch_without_a_lot_names_the_lot_and_every_bad_assay_field() {
        let fields = BatchFields {
            lot: "  ".into(),
            assay: Some(AssayFields {
                tested_on: Some("2026-02-30".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let errors = fields.parse(&leaf()).unwrap_err();
        let named: Vec<&str> = errors.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(named, ["lot", "assay.tested_on"]);
    }

    #[test]
    fn a_recall_reason_is_trimmed_and_an_empty_one_is_none() {
        let fields = BatchFields {
            lot: " K51 ".into(),
            recalled: true,
            recall_reason: Some("   ".into()),
            ..Default::default()
        };
        let content = fields.parse(&leaf()).expect("valid");
        assert_eq!(content.lot, "K51");
        assert_eq!(content.recall_reason, None);
        assert!(content.recalled);
    }
}
