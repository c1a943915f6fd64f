//! `/api/v1/products` and `/api/v1/batches`: the organization's product catalogue,
//! batch certificates of analysis and their quality flags. What a reader sees of a
//! patient's addition follows `speciosa_core::policy::product_visibility`.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use speciosa_app::products::{AssayFields, BatchFields, BatchPatch};
use speciosa_app::records::{Batch, Product};
use speciosa_core::ids::{BatchId, ProductId};
use speciosa_core::product::{Alkaloids, AsPrinted, Assay, HeavyMetals, Microbial, ProductFields};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiUser};
use crate::views::QualityFlagView;

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
    pub fn fields(&self) -> ProductFields<'_> {
        ProductFields {
            name: &self.name,
            form: &self.form,
            vendor: self.vendor.as_deref(),
            labelled_strain: self.labelled_strain.as_deref(),
            unit_mass_g: self.unit_mass_g,
            serving_size: self.serving_size,
            teaspoon_g: self.teaspoon_g,
            labels_hydroxy_as_ingredient: self.labels_hydroxy_as_ingredient,
        }
    }
}

#[derive(Deserialize, ToSchema, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct HeavyMetalsRequest {
    pub lead_ppm: Option<f64>,
    pub arsenic_ppm: Option<f64>,
    pub cadmium_ppm: Option<f64>,
    pub mercury_ppm: Option<f64>,
    /// The same metals in parts per billion (µg/kg), as some certificates print them;
    /// give each metal one way only.
    pub lead_ppb: Option<f64>,
    pub arsenic_ppb: Option<f64>,
    pub cadmium_ppb: Option<f64>,
    pub mercury_ppb: Option<f64>,
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
    /// Mitragynine as a certificate prints it, % w/w (1.6 reads back as 16 mg/g). Give
    /// each alkaloid one way only.
    #[schema(example = 1.6)]
    pub mitragynine_percent_w_w: Option<f64>,
    pub hydroxymitragynine_percent_w_w: Option<f64>,
    /// mg per capsule or tablet (divided by the product's `unit_mass_g`), or per mL for liquids.
    pub mitragynine_mg_per_unit: Option<f64>,
    pub hydroxymitragynine_mg_per_unit: Option<f64>,
    /// Values that look implausible (a % typed as mg/g, more 7-OH than mitragynine,
    /// alkaloids over 100 %) are refused with 422 naming the field unless this is true.
    #[serde(default)]
    pub confirm_implausible: bool,
    #[serde(default)]
    pub heavy_metals: HeavyMetalsRequest,
    #[serde(default)]
    pub microbial: MicrobialRequest,
}

impl From<&AssayRequest> for AssayFields {
    fn from(request: &AssayRequest) -> Self {
        AssayFields {
            lab: request.lab.clone(),
            tested_on: request.tested_on.clone(),
            alkaloids: Alkaloids {
                mitragynine_mg_per_g: request.mitragynine_mg_per_g,
                hydroxymitragynine_mg_per_g: request.hydroxymitragynine_mg_per_g,
                paynantheine_mg_per_g: request.paynantheine_mg_per_g,
                speciogynine_mg_per_g: request.speciogynine_mg_per_g,
                speciociliatine_mg_per_g: request.speciociliatine_mg_per_g,
                corynantheidine_mg_per_g: request.corynantheidine_mg_per_g,
                mitragynine_pseudoindoxyl_mg_per_g: request.mitragynine_pseudoindoxyl_mg_per_g,
            },
            hydroxymitragynine_loq_mg_per_g: request.hydroxymitragynine_loq_mg_per_g,
            mitragynine_loq_mg_per_g: request.mitragynine_loq_mg_per_g,
            heavy_metals: HeavyMetals {
                lead_ppm: request.heavy_metals.lead_ppm,
                arsenic_ppm: request.heavy_metals.arsenic_ppm,
                cadmium_ppm: request.heavy_metals.cadmium_ppm,
                mercury_ppm: request.heavy_metals.mercury_ppm,
            },
            microbial: Microbial {
                salmonella_detected: request.microbial.salmonella_detected,
                e_coli_detected: request.microbial.e_coli_detected,
                total_aerobic_cfu_per_g: request.microbial.total_aerobic_cfu_per_g,
                yeast_mold_cfu_per_g: request.microbial.yeast_mold_cfu_per_g,
            },
            printed: AsPrinted {
                mitragynine_percent_w_w: request.mitragynine_percent_w_w,
                hydroxymitragynine_percent_w_w: request.hydroxymitragynine_percent_w_w,
                mitragynine_mg_per_unit: request.mitragynine_mg_per_unit,
                hydroxymitragynine_mg_per_unit: request.hydroxymitragynine_mg_per_unit,
                lead_ppb: request.heavy_metals.lead_ppb,
                arsenic_ppb: request.heavy_metals.arsenic_ppb,
                cadmium_ppb: request.heavy_metals.cadmium_ppb,
                mercury_ppb: request.heavy_metals.mercury_ppb,
            },
            confirm_implausible: request.confirm_implausible,
        }
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

impl From<&BatchRequest> for BatchFields {
    fn from(request: &BatchRequest) -> Self {
        BatchFields {
            lot: request.lot.clone(),
            assay: request.assay.as_ref().map(AssayFields::from),
            recalled: request.recalled,
            recall_reason: request.recall_reason.clone(),
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
            flags: speciosa_app::products::batch_flags(&state.app, product, batch)
                .into_iter()
                .map(QualityFlagView::from)
                .collect(),
            created_at: batch.created_at.to_string(),
            updated_at: batch.updated_at.to_string(),
        }
    }
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
    let (product, batches) =
        speciosa_app::products::add_product(&state.app, &user, &request.fields()).await?;
    let location = format!("/api/v1/products/{}", product.id);
    let view = ProductView::new(&state, &product, &batches);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(view),
    )
        .into_response())
}

#[utoipa::path(get, path = "/api/v1/products", tag = "products",
    responses((status = 200, description = "The organization's catalogue with batches and their flags", body = [ProductView])))]
pub async fn list(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
) -> Result<Json<Vec<ProductView>>, ApiError> {
    let (products, batches) = speciosa_app::products::catalogue(&state.app, &user).await?;
    Ok(Json(
        products
            .iter()
            .map(|p| ProductView::new(&state, p, &batches))
            .collect(),
    ))
}

#[utoipa::path(get, path = "/api/v1/products/{id}", tag = "products", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The product with its batches", body = ProductView)))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<ProductId>,
) -> Result<Json<ProductView>, ApiError> {
    let (product, batches) = speciosa_app::products::read_product(&state.app, &user, id).await?;
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
    let (product, batches) = speciosa_app::products::edit_product(
        &state.app,
        &user,
        id,
        &request.fields(),
        request.reviewed,
    )
    .await?;
    Ok(Json(ProductView::new(&state, &product, &batches)))
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
    let (product, batch) =
        speciosa_app::products::add_batch(&state.app, &user, id, &(&request).into()).await?;
    let location = format!("/api/v1/batches/{}", batch.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(BatchView::new(&state, &product, &batch)),
    )
        .into_response())
}

#[utoipa::path(get, path = "/api/v1/batches/{id}", tag = "products", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The batch with its quality flags", body = BatchView)))]
pub async fn get_batch(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<BatchId>,
) -> Result<Json<BatchView>, ApiError> {
    let (product, batch) = speciosa_app::products::read_batch(&state.app, &user, id).await?;
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
    let (product, batch) =
        speciosa_app::products::edit_batch(&state.app, &user, id, &(&request).into()).await?;
    Ok(Json(BatchView::new(&state, &product, &batch)))
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

impl From<&BatchPatchRequest> for BatchPatch {
    fn from(request: &BatchPatchRequest) -> Self {
        BatchPatch {
            lot: request.lot.clone(),
            assay: request.assay.as_ref().map(AssayFields::from),
            recalled: request.recalled,
            recall_reason: request.recall_reason.clone(),
        }
    }
}

#[utoipa::path(patch, path = "/api/v1/batches/{id}", tag = "products", params(("id" = Uuid, Path)), request_body = BatchPatchRequest,
    responses((status = 200, description = "Updated; flags recomputed", body = BatchView)))]
pub async fn patch_batch(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<BatchId>,
    ApiJson(patch): ApiJson<BatchPatchRequest>,
) -> Result<Json<BatchView>, ApiError> {
    let (product, batch) =
        speciosa_app::products::patch_batch(&state.app, &user, id, &(&patch).into()).await?;
    Ok(Json(BatchView::new(&state, &product, &batch)))
}
