//! Organizations: the clinics that are Speciosa's tenants.

use jiff::Timestamp;
use speciosa_core::audit::AuditEntry;
use speciosa_core::ids::OrganizationId;
use speciosa_core::patient::TimeZoneName;
use uuid::Uuid;

use crate::audit::AppendAudit;
use crate::{BeginWrite, DbTime, Result, Store, StoreError, conflict_on_unique, on_pool};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Organization {
    pub id: OrganizationId,
    pub name: String,
    pub created_at: Timestamp,
    /// Staff (admins, clinicians, researchers) must sign in with two factors.
    pub require_staff_totp: bool,
    /// The zone the organization's staff pages read times in (UTC until an admin sets one).
    pub time_zone: TimeZoneName,
}

#[derive(sqlx::FromRow)]
struct OrganizationRow {
    id: Uuid,
    name: String,
    created_at: DbTime,
    require_staff_totp: bool,
    time_zone: String,
}

impl From<OrganizationRow> for Organization {
    fn from(row: OrganizationRow) -> Self {
        Organization {
            id: OrganizationId::from_uuid(row.id),
            name: row.name,
            created_at: row.created_at.0,
            require_staff_totp: row.require_staff_totp,
            // A name the tz database no longer knows reads as UTC rather than failing.
            time_zone: TimeZoneName::parse(&row.time_zone).unwrap_or_else(|_| utc()),
        }
    }
}

fn utc() -> TimeZoneName {
    TimeZoneName::parse("UTC").expect("UTC is in every tz database")
}

const ORGANIZATION_COLUMNS: &str = "id, name, created_at, require_staff_totp, time_zone";

impl Store {
    pub async fn create_organization(&self, name: &str) -> Result<Organization> {
        let organization = Organization {
            id: OrganizationId::new(),
            name: name.to_owned(),
            created_at: DbTime::now().0,
            require_staff_totp: false,
            time_zone: utc(),
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
                sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {ORGANIZATION_COLUMNS} FROM organizations WHERE name = $1")))
                    .bind(name)
                    .fetch_optional(pool)
                    .await?;
            Ok(row.map(Organization::from))
        })
    }

    pub async fn get_organization(&self, id: OrganizationId) -> Result<Option<Organization>> {
        on_pool!(self, pool => {
            let row: Option<OrganizationRow> =
                sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {ORGANIZATION_COLUMNS} FROM organizations WHERE id = $1")))
                    .bind(id.as_uuid())
                    .fetch_optional(pool)
                    .await?;
            Ok(row.map(Organization::from))
        })
    }

    /// Turns the staff two-factor requirement on or off and records it, together.
    pub async fn set_require_staff_totp(
        &self,
        id: OrganizationId,
        required: bool,
        audit: AuditEntry,
    ) -> Result<Organization> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let updated = sqlx::query("UPDATE organizations SET require_staff_totp = $1 WHERE id = $2")
                .bind(required)
                .bind(id.as_uuid())
                .execute(&mut *tx)
                .await?;
            if updated.rows_affected() == 0 {
                return Err(StoreError::NotFound("organization"));
            }
            tx.append_audit(audit).await?;
            tx.commit().await?;
        });
        self.get_organization(id)
            .await?
            .ok_or(StoreError::NotFound("organization"))
    }

    /// Sets the zone the organization's staff pages use, with its audit event.
    pub async fn set_organization_time_zone(
        &self,
        id: OrganizationId,
        time_zone: &TimeZoneName,
        audit: AuditEntry,
    ) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let updated = sqlx::query("UPDATE organizations SET time_zone = $1 WHERE id = $2")
                .bind(time_zone.as_str())
                .bind(id.as_uuid())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if updated == 0 {
                return Err(StoreError::NotFound("organization"));
            }
            tx.append_audit(audit).await?;
            tx.commit().await?;
        });
        Ok(())
    }
}
