//! The product catalogue: products and their batches with certificates of analysis.

use jiff::Timestamp;
use speciosa_core::audit::AuditEntry;
use speciosa_core::ids::{BatchId, OrganizationId, PatientId, ProductId, UserId};
use speciosa_core::product::{Assay, ProductDetails};
use sqlx::types::Json;
use uuid::Uuid;

use crate::audit::AppendAudit;
use crate::{
    BeginWrite, DbTime, Result, Store, StoreError, conflict_on_unique, on_pool, parse_column,
};

#[derive(Clone, Debug, PartialEq)]
pub struct Product {
    pub id: ProductId,
    pub organization_id: OrganizationId,
    pub details: ProductDetails,
    /// `reviewed`, or `pending_review` for a product a patient added as labelled.
    pub review_status: String,
    pub added_by_patient_id: Option<PatientId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub id: BatchId,
    pub product_id: ProductId,
    pub organization_id: OrganizationId,
    pub lot: String,
    pub assay: Option<Assay>,
    pub recalled: bool,
    pub recall_reason: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A batch's contents as a clinician records them.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchContent {
    pub lot: String,
    pub assay: Option<Assay>,
    pub recalled: bool,
    pub recall_reason: Option<String>,
}

const PRODUCT_COLUMNS: &str = "id, organization_id, name, vendor, form, labelled_strain, unit_mass_g, serving_size, \
    teaspoon_g, labels_hydroxy_as_ingredient, review_status, added_by_patient_id, created_at, updated_at";
const BATCH_COLUMNS: &str =
    "id, product_id, organization_id, lot, assay, recalled, recall_reason, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct ProductRow {
    id: Uuid,
    organization_id: Uuid,
    name: String,
    vendor: Option<String>,
    form: String,
    labelled_strain: Option<String>,
    unit_mass_g: Option<f64>,
    serving_size: Option<f64>,
    teaspoon_g: Option<f64>,
    labels_hydroxy_as_ingredient: bool,
    review_status: String,
    added_by_patient_id: Option<Uuid>,
    created_at: DbTime,
    updated_at: DbTime,
}

impl TryFrom<ProductRow> for Product {
    type Error = StoreError;

    fn try_from(row: ProductRow) -> Result<Self> {
        Ok(Product {
            id: ProductId::from_uuid(row.id),
            organization_id: OrganizationId::from_uuid(row.organization_id),
            details: ProductDetails {
                name: row.name,
                vendor: row.vendor,
                form: parse_column("products.form", &row.form)?,
                labelled_strain: row.labelled_strain,
                unit_mass_g: row.unit_mass_g,
                serving_size: row.serving_size,
                teaspoon_g: row.teaspoon_g,
                labels_hydroxy_as_ingredient: row.labels_hydroxy_as_ingredient,
            },
            review_status: row.review_status,
            added_by_patient_id: row.added_by_patient_id.map(PatientId::from_uuid),
            created_at: row.created_at.0,
            updated_at: row.updated_at.0,
        })
    }
}

#[derive(sqlx::FromRow)]
struct BatchRow {
    id: Uuid,
    product_id: Uuid,
    organization_id: Uuid,
    lot: String,
    assay: Option<Json<Assay>>,
    recalled: bool,
    recall_reason: Option<String>,
    created_at: DbTime,
    updated_at: DbTime,
}

impl From<BatchRow> for Batch {
    fn from(row: BatchRow) -> Self {
        Batch {
            id: BatchId::from_uuid(row.id),
            product_id: ProductId::from_uuid(row.product_id),
            organization_id: OrganizationId::from_uuid(row.organization_id),
            lot: row.lot,
            assay: row.assay.map(|json| json.0),
            recalled: row.recalled,
            recall_reason: row.recall_reason,
            created_at: row.created_at.0,
            updated_at: row.updated_at.0,
        }
    }
}

/// Binds the product detail columns as `$1`..`$8`, in the order INSERT and UPDATE list them.
macro_rules! bind_product {
    ($query:expr, $details:expr) => {
        $query
            .bind(&$details.name)
            .bind(&$details.vendor)
            .bind($details.form.as_str())
            .bind(&$details.labelled_strain)
            .bind($details.unit_mass_g)
            .bind($details.serving_size)
            .bind($details.teaspoon_g)
            .bind($details.labels_hydroxy_as_ingredient)
    };
}

const LOT_IN_USE: &str = "this product already has a batch with that lot code";

impl Store {
    /// Adds a product. A patient's addition (`added_by_patient`) waits for a clinician's
    /// review and gets an unassayed batch "as labelled" so doses can be logged against it.
    pub async fn create_product(
        &self,
        organization: OrganizationId,
        details: &ProductDetails,
        created_by: UserId,
        added_by_patient: Option<PatientId>,
        audit: impl FnOnce(ProductId) -> AuditEntry,
    ) -> Result<Product> {
        let id = ProductId::new();
        let now = DbTime::now();
        let review_status = if added_by_patient.is_some() {
            "pending_review"
        } else {
            "reviewed"
        };
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            bind_product!(
                sqlx::query(
                    "INSERT INTO products (name, vendor, form, labelled_strain, unit_mass_g, serving_size, teaspoon_g, \
                     labels_hydroxy_as_ingredient, id, organization_id, review_status, added_by_patient_id, created_by, \
                     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)",
                ),
                details
            )
            .bind(id.as_uuid())
            .bind(organization.as_uuid())
            .bind(review_status)
            .bind(added_by_patient.map(|p| p.as_uuid()))
            .bind(created_by.as_uuid())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if added_by_patient.is_some() {
                sqlx::query(
                    "INSERT INTO batches (id, product_id, organization_id, lot, recalled, created_by, created_at, updated_at) \
                     VALUES ($1, $2, $3, 'as labelled', FALSE, $4, $5, $5)",
                )
                .bind(BatchId::new().as_uuid())
                .bind(id.as_uuid())
                .bind(organization.as_uuid())
                .bind(created_by.as_uuid())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.append_audit(audit(id)).await?;
            tx.commit().await?;
        });
        self.get_product(id)
            .await?
            .ok_or(StoreError::NotFound("product"))
    }

    /// Edits a product; `mark_reviewed` records a clinician's review of a patient's addition.
    pub async fn update_product(
        &self,
        id: ProductId,
        details: &ProductDetails,
        mark_reviewed: bool,
        audit: AuditEntry,
    ) -> Result<Product> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let updated = bind_product!(
                sqlx::query(
                    "UPDATE products SET name = $1, vendor = $2, form = $3, labelled_strain = $4, unit_mass_g = $5, \
                     serving_size = $6, teaspoon_g = $7, labels_hydroxy_as_ingredient = $8, updated_at = $9, \
                     review_status = CASE WHEN $10 THEN 'reviewed' ELSE review_status END WHERE id = $11",
                ),
                details
            )
            .bind(DbTime::now())
            .bind(mark_reviewed)
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() == 0 {
                return Err(StoreError::NotFound("product"));
            }
            tx.append_audit(audit).await?;
            tx.commit().await?;
        });
        self.get_product(id)
            .await?
            .ok_or(StoreError::NotFound("product"))
    }

    pub async fn get_product(&self, id: ProductId) -> Result<Option<Product>> {
        on_pool!(self, pool => {
            let row: Option<ProductRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {PRODUCT_COLUMNS} FROM products WHERE id = $1"
            )))
            .bind(id.as_uuid())
            .fetch_optional(pool)
            .await?;
            row.map(Product::try_from).transpose()
        })
    }

    pub async fn list_products(&self, organization: OrganizationId) -> Result<Vec<Product>> {
        on_pool!(self, pool => {
            let rows: Vec<ProductRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {PRODUCT_COLUMNS} FROM products WHERE organization_id = $1 ORDER BY name, id"
            )))
            .bind(organization.as_uuid())
            .fetch_all(pool)
            .await?;
            rows.into_iter().map(Product::try_from).collect()
        })
    }

    pub async fn create_batch(
        &self,
        product: &Product,
        content: &BatchContent,
        created_by: UserId,
        audit: impl FnOnce(BatchId) -> AuditEntry,
    ) -> Result<Batch> {
        let id = BatchId::new();
        let now = DbTime::now();
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO batches (id, product_id, organization_id, lot, assay, recalled, recall_reason, created_by, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
            )
            .bind(id.as_uuid())
            .bind(product.id.as_uuid())
            .bind(product.organization_id.as_uuid())
            .bind(&content.lot)
            .bind(content.assay.as_ref().map(Json))
            .bind(content.recalled)
            .bind(&content.recall_reason)
            .bind(created_by.as_uuid())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(conflict_on_unique(LOT_IN_USE))?;
            tx.append_audit(audit(id)).await?;
            tx.commit().await?;
        });
        self.get_batch(id)
            .await?
            .ok_or(StoreError::NotFound("batch"))
    }

    /// Replaces a batch's lot, certificate and recall status.
    pub async fn update_batch(
        &self,
        id: BatchId,
        content: &BatchContent,
        audit: AuditEntry,
    ) -> Result<Batch> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let updated = sqlx::query(
                "UPDATE batches SET lot = $1, assay = $2, recalled = $3, recall_reason = $4, updated_at = $5 WHERE id = $6",
            )
            .bind(&content.lot)
            .bind(content.assay.as_ref().map(Json))
            .bind(content.recalled)
            .bind(&content.recall_reason)
            .bind(DbTime::now())
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(conflict_on_unique(LOT_IN_USE))?;
            if updated.rows_affected() == 0 {
                return Err(StoreError::NotFound("batch"));
            }
            tx.append_audit(audit).await?;
            tx.commit().await?;
        });
        self.get_batch(id)
            .await?
            .ok_or(StoreError::NotFound("batch"))
    }

    pub async fn get_batch(&self, id: BatchId) -> Result<Option<Batch>> {
        on_pool!(self, pool => {
            let row: Option<BatchRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {BATCH_COLUMNS} FROM batches WHERE id = $1"
            )))
            .bind(id.as_uuid())
            .fetch_optional(pool)
            .await?;
            Ok(row.map(Batch::from))
        })
    }

    /// Every batch of the organization's products, newest first within each product.
    pub async fn list_batches(&self, organization: OrganizationId) -> Result<Vec<Batch>> {
        on_pool!(self, pool => {
            let rows: Vec<BatchRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {BATCH_COLUMNS} FROM batches WHERE organization_id = $1 ORDER BY product_id, created_at DESC, id"
            )))
            .bind(organization.as_uuid())
            .fetch_all(pool)
            .await?;
            Ok(rows.into_iter().map(Batch::from).collect())
        })
    }
}
