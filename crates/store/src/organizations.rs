//! Organizations: the clinics that are Speciosa's tenants.

use jiff::Timestamp;
use speciosa_core::ids::OrganizationId;
use uuid::Uuid;

use crate::{BeginWrite, DbTime, Result, Store, conflict_on_unique, on_pool};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Organization {
    pub id: OrganizationId,
    pub name: String,
    pub created_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct OrganizationRow {
    id: Uuid,
    name: String,
    created_at: DbTime,
}

impl From<OrganizationRow> for Organization {
    fn from(row: OrganizationRow) -> Self {
        Organization {
            id: OrganizationId::from_uuid(row.id),
            name: row.name,
            created_at: row.created_at.0,
        }
    }
}

impl Store {
    pub async fn create_organization(&self, name: &str) -> Result<Organization> {
        let organization = Organization {
            id: OrganizationId::new(),
            name: name.to_owned(),
            created_at: DbTime::now().0,
        };
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)")
                .bind(organization.id.as_uuid())
                .bind(&organization.name)
                .bind(DbTime(organization.created_at))
                .execute(&mut *tx)
                .await
                .map_err(conflict_on_unique("an organization with this name already exists"))?;
            tx.commit().await?;
        });
        Ok(organization)
    }

    pub async fn find_organization_by_name(&self, name: &str) -> Result<Option<Organization>> {
        on_pool!(self, pool => {
            let row: Option<OrganizationRow> =
                sqlx::query_as("SELECT id, name, created_at FROM organizations WHERE name = $1")
                    .bind(name)
                    .fetch_optional(pool)
                    .await?;
            Ok(row.map(Organization::from))
        })
    }

    pub async fn get_organization(&self, id: OrganizationId) -> Result<Option<Organization>> {
        on_pool!(self, pool => {
            let row: Option<OrganizationRow> =
                sqlx::query_as("SELECT id, name, created_at FROM organizations WHERE id = $1")
                    .bind(id.as_uuid())
                    .fetch_optional(pool)
                    .await?;
            Ok(row.map(Organization::from))
        })
    }
}
