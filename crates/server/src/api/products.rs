//! `/api/v1/products` and `/api/v1/batches`: the organization's product catalogue,
//! batch certificates of analysis and their quality flags. What a reader sees of a
//! patient's addition follows `speciosa_core::policy::product_visibility`.

use std::collections::HashSet;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use speciosa_core::FieldErrors;
use speciosa_core::account::Role;
use speciosa_core::audit::Outcome;
use speciosa_core::ids::{BatchId, PatientId, ProductId};
use speciosa_core::policy::{self, OrganizationAction, ProductOrigin, ProductVisibility};
use speciosa_core::product::{
    Alkaloids, Assay, HeavyMetals, Microbial, ProductDetails, ProductFields,
};
use speciosa_core::quality::{BatchFacts, QualityFlag};
use speciosa_core::time::CalendarDate;
use speciosa_store::{Batch, BatchContent, Product};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access;
use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiUser, Authenticated};

const PROBLEM: &str = "application/problem+json";

#[derive(Deserialize, ToSchema, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct ProductRequest {
    #[schema(example = "Green Malay leaf powder")]
    pub name: String,
    /// `leaf_powder`, `capsule`, `extract_powder`, `liquid`, `tablet` or `other`.
    #[schema(example = "leaf_powder")]
    pub form: String,
    pub vendor: Option<String>,
    /// Kept as information only: strain names predict little about content.
    pub labelled_strain: Option<String>,
    /// Fill mass of one capsule or tablet, g (required for those forms).
    pub unit_mass_g: Option<f64>,
    /// One labelled serving: g for powders, mL for liquids.
    pub serving_size: Option<f64>,
    /// Grams in one level teaspoon of this product, so patients can log teaspoons.
    pub teaspoon_g: Option<f64>,
    /// The label lists 7-OH, "7-OHMG", pseudoindoxyl or similar as an ingredient.
    #[serde(default)]
    pub labels_hydroxy_as_ingredient: bool,
    /// On update: mark a patient's "as labelled" addition as reviewed.
    #[serde(default)]
    pub reviewed: bool,
}

impl ProductRequest {
    pub fn parse(&self) -> Result<ProductDetails, FieldErrors> {
        ProductDetails::parse(&ProductFields {
            name: &self.name,
            form: &self.form,
            vendor: self.vendor.as_deref(),
            labelled_strain: self.labelled_strain.as_deref(),
            unit_mass_g: self.unit_mass_g,
            serving_size: self.serving_size,
            teaspoon_g: self.teaspoon_g,
            labels_hydroxy_as_ingredient: self.labels_hydroxy_as_ingredient,
        })
    }
}

#[derive(Deserialize, ToSchema, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct HeavyMetalsRequest {
    pub lead_ppm: Option<f64>,
    pub arsenic_ppm: Option<f64>,
    pub cadmium_ppm: Option<f64>,
    pub mercury_ppm: Option<f64>,
}

#[derive(Deserialize, ToSchema, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct MicrobialRequest {
    pub salmonella_detected: Option<bool>,
    pub e_coli_detected: Option<bool>,
    pub total_aerobic_cfu_per_g: Option<f64>,
    pub yeast_mold_cfu_per_g: Option<f64>,
}

/// A certificate of analysis. Contents are per gram (per mL for liquids); leave a
/// value out when the lab did not report it, send 0 when it reported "not detected".
#[derive(Deserialize, ToSchema, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct AssayRequest {
    pub lab: Option<String>,
    /// YYYY-MM-DD
    pub tested_on: Option<String>,
    #[schema(example = 19.5)]
    pub mitragynine_mg_per_g: Option<f64>,
    #[schema(example = 0.1)]
    pub hydroxymitragynine_mg_per_g: Option<f64>,
    pub paynantheine_mg_per_g: Option<f64>,
    pub speciogynine_mg_per_g: Option<f64>,
    pub speciociliatine_mg_per_g: Option<f64>,
    pub corynantheidine_mg_per_g: Option<f64>,
    pub mitragynine_pseudoindoxyl_mg_per_g: Option<f64>,
    /// The method's limit of quantitation for 7-OH, mg/g.
    pub hydroxymitragynine_loq_mg_per_g: Option<f64>,
    pub mitragynine_loq_mg_per_g: Option<f64>,
    #[serde(default)]
    pub heavy_metals: HeavyMetalsRequest,
    #[serde(default)]
    pub microbial: MicrobialRequest,
}

impl AssayRequest {
    pub fn parse(&self) -> Result<Assay, FieldErrors> {
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
        let assay = Assay {
            lab: self
                .lab
                .as_deref()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned),
            tested_on,
            alkaloids: Alkaloids {
                mitragynine_mg_per_g: self.mitragynine_mg_per_g,
                hydroxymitragynine_mg_per_g: self.hydroxymitragynine_mg_per_g,
                paynantheine_mg_per_g: self.paynantheine_mg_per_g,
                speciogynine_mg_per_g: self.speciogynine_mg_per_g,
                speciociliatine_mg_per_g: self.speciociliatine_mg_per_g,
                corynantheidine_mg_per_g: self.corynantheidine_mg_per_g,
                mitragynine_pseudoindoxyl_mg_per_g: self.mitragynine_pseudoindoxyl_mg_per_g,
            },
            hydroxymitragynine_loq_mg_per_g: self.hydroxymitragynine_loq_mg_per_g,
            mitragynine_loq_mg_per_g: self.mitragynine_loq_mg_per_g,
            heavy_metals: HeavyMetals {
                lead_ppm: self.heavy_metals.lead_ppm,
                arsenic_ppm: self.heavy_metals.arsenic_ppm,
                cadmium_ppm: self.heavy_metals.cadmium_ppm,
                mercury_ppm: self.heavy_metals.mercury_ppm,
            },
            microbial: Microbial {
                salmonella_detected: self.microbial.salmonella_detected,
                e_coli_detected: self.microbial.e_coli_detected,
                total_aerobic_cfu_per_g: self.microbial.total_aerobic_cfu_per_g,
                yeast_mold_cfu_per_g: self.microbial.yeast_mold_cfu_per_g,
            },
        };
        let today = Timestamp::now()
            .to_zoned_datetime(jiff::tz::TimeZone::fixed(jiff::tz::offset(14)))
            .date();
        assay.validate("assay.", today)?;
        Ok(assay)
    }
}

#[derive(Deserialize, ToSchema, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    #[schema(example = "K51-2026-03")]
    pub lot: String,
    pub assay: Option<AssayRequest>,
    #[serde(default)]
    pub recalled: bool,
    pub recall_reason: Option<String>,
}

impl BatchRequest {
    pub fn parse(&self) -> Result<BatchContent, FieldErrors> {
        let mut errors = FieldErrors::new();
        let lot = self.lot.trim();
        if lot.is_empty() || lot.chars().count() > 100 || lot.chars().any(char::is_control) {
            errors.push("lot", "the lot code is required (at most 100 characters)");
        }
        let assay = match &self.assay {
            None => None,
            Some(request) => match request.parse() {
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

#[derive(Serialize, ToSchema)]
pub struct QualityFlagView {
    /// Stable code, e.g. `no_assay`, `hydroxy_fraction_over_2pct`, `recalled`.
    pub code: String,
    /// `info`, `warning` or `urgent`.
    pub severity: String,
    /// What was found and why it matters, in plain words.
    pub explanation: String,
    /// The standard the rule applies.
    pub standard: String,
    pub reference: String,
    /// How strong the evidence behind the rule is.
    pub evidence: String,
}

impl From<QualityFlag> for QualityFlagView {
    fn from(flag: QualityFlag) -> Self {
        QualityFlagView {
            code: flag.code.to_owned(),
            severity: serde_json::to_value(flag.severity)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            explanation: flag.explanation,
            standard: flag.standard,
            reference: flag.reference,
            evidence: flag.evidence,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct BatchView {
    pub id: Uuid,
    pub product_id: Uuid,
    pub lot: String,
    /// The certificate of analysis, as recorded (per g, or per mL for liquids).
    #[schema(value_type = Option<Object>)]
    pub assay: Option<Assay>,
    pub recalled: bool,
    pub recall_reason: Option<String>,
    /// Recomputed from the current data on every read, most severe first.
    pub flags: Vec<QualityFlagView>,
    pub created_at: String,
    pub updated_at: String,
}

impl BatchView {
    pub fn new(state: &AppState, product: &Product, batch: &Batch) -> Self {
        BatchView {
            id: batch.id.as_uuid(),
            product_id: batch.product_id.as_uuid(),
            lot: batch.lot.clone(),
            assay: batch.assay.clone(),
            recalled: batch.recalled,
            recall_reason: batch.recall_reason.clone(),
            flags: batch_flags(state, product, batch)
                .into_iter()
                .map(QualityFlagView::from)
                .collect(),
            created_at: batch.created_at.to_string(),
            updated_at: batch.updated_at.to_string(),
        }
    }
}

pub fn batch_flags(state: &AppState, product: &Product, batch: &Batch) -> Vec<QualityFlag> {
    let facts = product.details.facts();
    state.app.knowledge().standards.batch_flags(&BatchFacts {
        product: &facts,
        assay: batch.assay.as_ref(),
        recalled: batch.recalled,
        recall_reason: batch.recall_reason.as_deref(),
    })
}

#[derive(Serialize, ToSchema)]
pub struct ProductView {
    pub id: Uuid,
    pub name: String,
    pub vendor: Option<String>,
    pub form: String,
    pub labelled_strain: Option<String>,
    pub unit_mass_g: Option<f64>,
    pub serving_size: Option<f64>,
    pub teaspoon_g: Option<f64>,
    pub labels_hydroxy_as_ingredient: bool,
    /// `reviewed`, or `pending_review` for a patient's addition "as labelled".
    pub review_status: String,
    /// The patient who added it; shown only to that patient and their care team.
    pub added_by_patient_id: Option<Uuid>,
    pub batches: Vec<BatchView>,
    pub created_at: String,
    pub updated_at: String,
}

impl ProductView {
    pub fn new(state: &AppState, product: &Product, batches: &[Batch]) -> Self {
        let d = &product.details;
        ProductView {
            id: product.id.as_uuid(),
            name: d.name.clone(),
            vendor: d.vendor.clone(),
            form: d.form.as_str().to_owned(),
            labelled_strain: d.labelled_strain.clone(),
            unit_mass_g: d.unit_mass_g,
            serving_size: d.serving_size,
            teaspoon_g: d.teaspoon_g,
            labels_hydroxy_as_ingredient: d.labels_hydroxy_as_ingredient,
            review_status: product.review_status.clone(),
            added_by_patient_id: product.added_by_patient_id.map(|p| p.as_uuid()),
            batches: batches
                .iter()
                .filter(|b| b.product_id == product.id)
                .map(|b| BatchView::new(state, product, b))
                .collect(),
            created_at: product.created_at.to_string(),
            updated_at: product.updated_at.to_string(),
        }
    }
}

/// The organization's product, or 404, whoever may see it: for recording doses against
/// batches already chosen. Catalogue reads go through [`visible_product`].
pub async fn organization_product(
    state: &AppState,
    user: &Authenticated,
    id: ProductId,
) -> Result<Product, ApiError> {
    state
        .store
        .get_product(id)
        .await?
        .filter(|p| p.organization_id == user.actor.organization_id)
        .ok_or_else(|| ApiError::not_found("product"))
}

/// The organization's batch with its product, or 404 (see [`organization_product`]).
pub async fn organization_batch(
    state: &AppState,
    user: &Authenticated,
    id: BatchId,
) -> Result<(Product, Batch), ApiError> {
    let batch = state
        .store
        .get_batch(id)
        .await?
        .filter(|b| b.organization_id == user.actor.organization_id)
        .ok_or_else(|| ApiError::not_found("batch"))?;
    let product = organization_product(state, user, batch.product_id).await?;
    Ok((product, batch))
}

/// `product` as `user` may see it (`policy::product_visibility`): `None` when hidden,
/// without the adding patient when the reader is not theirs to know.
fn as_seen_by(user: &Authenticated, mut product: Product, on_care_team: bool) -> Option<Product> {
    let origin = ProductOrigin {
        added_by_patient: product.added_by_patient_id,
        reviewed: product.review_status == "reviewed",
        actor_on_care_team: on_care_team,
    };
    match policy::product_visibility(&user.actor, &origin) {
        ProductVisibility::Full => Some(product),
        ProductVisibility::WithoutOrigin => {
            product.added_by_patient_id = None;
            Some(product)
        }
        ProductVisibility::Hidden => None,
    }
}

/// Whether `user` is a clinician on the care team of the patient who added `product`.
async fn on_adders_care_team(
    state: &AppState,
    user: &Authenticated,
    product: &Product,
) -> Result<bool, ApiError> {
    let Some(patient) = product.added_by_patient_id else {
        return Ok(false);
    };
    if user.actor.role != Role::Clinician {
        return Ok(false);
    }
    let scope = state
        .store
        .patient_scope(patient, user.actor.user_id)
        .await?;
    Ok(matches!(scope, Some((org, true)) if org == user.actor.organization_id))
}

/// The organization's product as `user` may see it, or 404.
pub async fn visible_product(
    state: &AppState,
    user: &Authenticated,
    id: ProductId,
) -> Result<Product, ApiError> {
    let product = organization_product(state, user, id).await?;
    let on_team = on_adders_care_team(state, user, &product).await?;
    as_seen_by(user, product, on_team).ok_or_else(|| ApiError::not_found("product"))
}

/// The organization's batch with its product, both as `user` may see them, or 404.
pub async fn visible_batch(
    state: &AppState,
    user: &Authenticated,
    id: BatchId,
) -> Result<(Product, Batch), ApiError> {
    let (product, batch) = organization_batch(state, user, id).await?;
    let on_team = on_adders_care_team(state, user, &product).await?;
    let product = as_seen_by(user, product, on_team).ok_or_else(|| ApiError::not_found("batch"))?;
    Ok((product, batch))
}

#[utoipa::path(post, path = "/api/v1/products", tag = "products", request_body = ProductRequest,
    responses(
        (status = 201, description = "Added to the catalogue (a patient's addition waits for review)", body = ProductView),
        (status = 422, description = "Invalid fields", body = crate::api::Problem, content_type = PROBLEM),
    ))]
pub async fn create(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiJson(request): ApiJson<ProductRequest>,
) -> Result<Response, ApiError> {
    let (product, batches) = add_product(&state, &user, &request).await?;
    let location = format!("/api/v1/products/{}", product.id);
    let view = ProductView::new(&state, &product, &batches);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(view),
    )
        .into_response())
}

/// Adds a product: a clinician's goes straight into the catalogue; a patient's is
/// recorded "as labelled" for review. Shared with the pages.
pub async fn add_product(
    state: &AppState,
    user: &Authenticated,
    request: &ProductRequest,
) -> Result<(Product, Vec<Batch>), ApiError> {
    let action = if user.actor.role == Role::Patient {
        OrganizationAction::SuggestProduct
    } else {
        OrganizationAction::ManageCatalog
    };
    access::organization(state, user, action, "product.create", "product").await?;
    let details = request.parse()?;
    let added_by_patient = user
        .actor
        .own_patient_id
        .filter(|_| user.actor.role == Role::Patient);
    let product = state
        .store
        .create_product(
            user.actor.organization_id,
            &details,
            user.actor.user_id,
            added_by_patient,
            |id| {
                user.audit(
                    "product.create",
                    "product",
                    Some(id.to_string()),
                    added_by_patient,
                    Outcome::Success,
                )
            },
        )
        .await?;
    let batches = state.store.list_batches(user.actor.organization_id).await?;
    Ok((product, batches))
}

#[utoipa::path(get, path = "/api/v1/products", tag = "products",
    responses((status = 200, description = "The organization's catalogue with batches and their flags", body = [ProductView])))]
pub async fn list(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
) -> Result<Json<Vec<ProductView>>, ApiError> {
    let (products, batches) = catalogue(&state, &user).await?;
    Ok(Json(
        products
            .iter()
            .map(|p| ProductView::new(&state, p, &batches))
            .collect(),
    ))
}

pub async fn catalogue(
    state: &AppState,
    user: &Authenticated,
) -> Result<(Vec<Product>, Vec<Batch>), ApiError> {
    access::organization(
        state,
        user,
        OrganizationAction::ReadCatalog,
        "product.list",
        "product",
    )
    .await?;
    let products = state
        .store
        .list_products(user.actor.organization_id)
        .await?;
    let needs_team = user.actor.role == Role::Clinician
        && products.iter().any(|p| p.added_by_patient_id.is_some());
    let team: HashSet<PatientId> = if needs_team {
        state
            .store
            .list_care_team_patients(user.actor.organization_id, user.actor.user_id)
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
            as_seen_by(user, p, on_team)
        })
        .collect();
    let batches = state
        .store
        .list_batches(user.actor.organization_id)
        .await?
        .into_iter()
        .filter(|b| products.iter().any(|p| p.id == b.product_id))
        .collect();
    Ok((products, batches))
}

#[utoipa::path(get, path = "/api/v1/products/{id}", tag = "products", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The product with its batches", body = ProductView)))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<ProductId>,
) -> Result<Json<ProductView>, ApiError> {
    access::organization(
        &state,
        &user,
        OrganizationAction::ReadCatalog,
        "product.read",
        "product",
    )
    .await?;
    let product = visible_product(&state, &user, id).await?;
    let batches = state.store.list_batches(user.actor.organization_id).await?;
    Ok(Json(ProductView::new(&state, &product, &batches)))
}

#[utoipa::path(put, path = "/api/v1/products/{id}", tag = "products", params(("id" = Uuid, Path)), request_body = ProductRequest,
    responses((status = 200, description = "Updated; flags recomputed", body = ProductView)))]
pub async fn update(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<ProductId>,
    ApiJson(request): ApiJson<ProductRequest>,
) -> Result<Json<ProductView>, ApiError> {
    let product = edit_product(&state, &user, id, &request).await?;
    let batches = state.store.list_batches(user.actor.organization_id).await?;
    Ok(Json(ProductView::new(&state, &product, &batches)))
}

pub async fn edit_product(
    state: &AppState,
    user: &Authenticated,
    id: ProductId,
    request: &ProductRequest,
) -> Result<Product, ApiError> {
    access::organization(
        state,
        user,
        OrganizationAction::ManageCatalog,
        "product.update",
        "product",
    )
    .await?;
    let current = organization_product(state, user, id).await?;
    let on_team = on_adders_care_team(state, user, &current).await?;
    as_seen_by(user, current, on_team).ok_or_else(|| ApiError::not_found("product"))?;
    let details = request.parse()?;
    let action = if request.reviewed {
        "product.review"
    } else {
        "product.update"
    };
    let updated = state
        .store
        .update_product(
            id,
            &details,
            request.reviewed,
            user.audit(
                action,
                "product",
                Some(id.to_string()),
                None,
                Outcome::Success,
            ),
        )
        .await?;
    as_seen_by(user, updated, on_team).ok_or_else(|| ApiError::not_found("product"))
}

#[utoipa::path(post, path = "/api/v1/products/{id}/batches", tag = "products", params(("id" = Uuid, Path)), request_body = BatchRequest,
    responses(
        (status = 201, description = "The batch with its quality flags", body = BatchView),
        (status = 409, description = "The product already has a batch with this lot code", body = crate::api::Problem, content_type = PROBLEM),
    ))]
pub async fn create_batch(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<ProductId>,
    ApiJson(request): ApiJson<BatchRequest>,
) -> Result<Response, ApiError> {
    let (product, batch) = add_batch(&state, &user, id, &request).await?;
    let location = format!("/api/v1/batches/{}", batch.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(BatchView::new(&state, &product, &batch)),
    )
        .into_response())
}

pub async fn add_batch(
    state: &AppState,
    user: &Authenticated,
    product_id: ProductId,
    request: &BatchRequest,
) -> Result<(Product, Batch), ApiError> {
    access::organization(
        state,
        user,
        OrganizationAction::ManageCatalog,
        "batch.create",
        "batch",
    )
    .await?;
    let product = visible_product(state, user, product_id).await?;
    let content = request.parse()?;
    let batch = state
        .store
        .create_batch(&product, &content, user.actor.user_id, |id| {
            user.audit(
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

#[utoipa::path(get, path = "/api/v1/batches/{id}", tag = "products", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The batch with its quality flags", body = BatchView)))]
pub async fn get_batch(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<BatchId>,
) -> Result<Json<BatchView>, ApiError> {
    access::organization(
        &state,
        &user,
        OrganizationAction::ReadCatalog,
        "batch.read",
        "batch",
    )
    .await?;
    let (product, batch) = visible_batch(&state, &user, id).await?;
    Ok(Json(BatchView::new(&state, &product, &batch)))
}

#[utoipa::path(put, path = "/api/v1/batches/{id}", tag = "products", params(("id" = Uuid, Path)), request_body = BatchRequest,
    responses((status = 200, description = "Updated; flags recomputed", body = BatchView)))]
pub async fn update_batch(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<BatchId>,
    ApiJson(request): ApiJson<BatchRequest>,
) -> Result<Json<BatchView>, ApiError> {
    let (product, batch) = edit_batch(&state, &user, id, &request).await?;
    Ok(Json(BatchView::new(&state, &product, &batch)))
}

pub async fn edit_batch(
    state: &AppState,
    user: &Authenticated,
    id: BatchId,
    request: &BatchRequest,
) -> Result<(Product, Batch), ApiError> {
    access::organization(
        state,
        user,
        OrganizationAction::ManageCatalog,
        "batch.update",
        "batch",
    )
    .await?;
    let (product, _) = visible_batch(state, user, id).await?;
    let content = request.parse()?;
    let action = if content.recalled {
        "batch.recall"
    } else {
        "batch.update"
    };
    let batch = state
        .store
        .update_batch(
            id,
            &content,
            user.audit(
                action,
                "batch",
                Some(id.to_string()),
                None,
                Outcome::Success,
            ),
        )
        .await?;
    speciosa_app::safety::after_batch_change(&state.app, id).await;
    Ok((product, batch))
}

/// A partial change to a batch: only the fields sent change (e.g. `{"recalled": true,
/// "recall_reason": "Salmonella"}`).
#[derive(Deserialize, ToSchema, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct BatchPatchRequest {
    pub lot: Option<String>,
    /// A new certificate of analysis, replacing the old one.
    pub assay: Option<AssayRequest>,
    pub recalled: Option<bool>,
    pub recall_reason: Option<String>,
}

#[utoipa::path(patch, path = "/api/v1/batches/{id}", tag = "products", params(("id" = Uuid, Path)), request_body = BatchPatchRequest,
    responses((status = 200, description = "Updated; flags recomputed", body = BatchView)))]
pub async fn patch_batch(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<BatchId>,
    ApiJson(patch): ApiJson<BatchPatchRequest>,
) -> Result<Json<BatchView>, ApiError> {
    access::organization(
        &state,
        &user,
        OrganizationAction::ManageCatalog,
        "batch.update",
        "batch",
    )
    .await?;
    let (_, current) = visible_batch(&state, &user, id).await?;
    let assay = match &patch.assay {
        Some(request) => Some(request.parse()?),
        None => current.assay.clone(),
    };
    let content = BatchContent {
        lot: patch.lot.clone().unwrap_or(current.lot.clone()),
        assay,
        recalled: patch.recalled.unwrap_or(current.recalled),
        recall_reason: patch
            .recall_reason
            .clone()
            .or(current.recall_reason.clone()),
    };
    let request = BatchRequest {
        lot: content.lot.clone(),
        assay: None,
        recalled: content.recalled,
        recall_reason: content.recall_reason.clone(),
    };
    // Lot and recall reason are checked as a full update would check them.
    let checked = BatchContent {
        assay: content.assay,
        ..request.parse()?
    };
    let action = if checked.recalled && !current.recalled {
        "batch.recall"
    } else {
        "batch.update"
    };
    let batch = state
        .store
        .update_batch(
            id,
            &checked,
            user.audit(
                action,
                "batch",
                Some(id.to_string()),
                None,
                Outcome::Success,
            ),
        )
        .await?;
    speciosa_app::safety::after_batch_change(&state.app, id).await;
    let (product, _) = visible_batch(&state, &user, id).await?;
    Ok(Json(BatchView::new(&state, &product, &batch)))
}
