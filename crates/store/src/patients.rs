//! Patient records and care teams.

use jiff::Timestamp;
use jiff::civil::Time;
use speciosa_core::account::DisplayName;
use speciosa_core::audit::AuditEntry;
use speciosa_core::ids::{OrganizationId, PatientId, UserId};
use speciosa_core::patient::{Jurisdiction, PatientDetails, TimeZoneName};
use sqlx::types::Json;
use sqlx::{FromRow, Row};
use uuid::Uuid;

use crate::audit::AppendAudit;
use crate::users::insert_user;
use crate::{
    BeginWrite, DbDate, DbTime, NewUser, Result, Store, StoreError, User, conflict_on_unique,
    on_pool, parse_column, reading,
};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Patient {
    pub id: PatientId,
    pub organization_id: OrganizationId,
    /// The patient's own sign-in, if one was created.
    pub user_id: Option<UserId>,
    pub login_email: Option<String>,
    pub details: PatientDetails,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A patient whose stored record could not be read, named by id (and by name when that
/// much could be read), so a list can say so in its place.
#[derive(Debug)]
pub struct UnreadablePatient {
    pub id: PatientId,
    pub display_name: Option<String>,
    pub error: StoreError,
}

/// A row of the clinician's patient list.
pub type PatientSummary = Patient;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CareTeamMember {
    pub clinician_id: UserId,
    pub display_name: String,
    pub email: String,
    pub added_at: Timestamp,
}

pub(crate) const PATIENT_COLUMNS: &str = "p.id, p.organization_id, p.user_id, lu.email AS login_email, p.display_name, \
    p.birth_date, p.sex_at_birth, p.time_zone, p.usual_bedtime, p.jurisdiction_country, \
    p.jurisdiction_subdivision, p.pregnancy_status, p.research_consent_date, p.breastfeeding_status, \
    p.created_at, p.updated_at";
pub(crate) const PATIENT_FROM: &str = "patients p LEFT JOIN users lu ON lu.id = p.user_id";

#[derive(sqlx::FromRow)]
pub(crate) struct PatientRow {
    id: Uuid,
    organization_id: Uuid,
    user_id: Option<Uuid>,
    login_email: Option<String>,
    display_name: String,
    birth_date: DbDate,
    sex_at_birth: String,
    time_zone: String,
    usual_bedtime: Option<String>,
    jurisdiction_country: Option<String>,
    jurisdiction_subdivision: Option<String>,
    pregnancy_status: String,
    breastfeeding_status: String,
    research_consent_date: Option<DbDate>,
    created_at: DbTime,
    updated_at: DbTime,
}

impl TryFrom<PatientRow> for Patient {
    type Error = StoreError;

    fn try_from(row: PatientRow) -> Result<Self> {
        let corrupt = |column: &str, error: String| {
            StoreError::Corrupt(format!("patients.{column}: {error}"))
        };
        let jurisdiction = match (row.jurisdiction_subdivision, row.jurisdiction_country) {
            (Some(code), _) | (None, Some(code)) => {
                Some(Jurisdiction::parse(&code).map_err(|e| corrupt("jurisdiction", e))?)
            }
            (None, None) => None,
        };
        let usual_bedtime = row
            .usual_bedtime
            .map(|text| {
                Time::strptime("%H:%M", &text).map_err(|e| corrupt("usual_bedtime", e.to_string()))
            })
            .transpose()?;
        Ok(Patient {
            id: PatientId::from_uuid(row.id),
            organization_id: OrganizationId::from_uuid(row.organization_id),
            user_id: row.user_id.map(UserId::from_uuid),
            login_email: row.login_email,
            details: PatientDetails {
                display_name: DisplayName::parse(&row.display_name)
                    .map_err(|e| corrupt("display_name", e.to_string()))?,
                birth_date: row.birth_date.0,
                time_zone: TimeZoneName::parse(&row.time_zone)
                    .map_err(|e| corrupt("time_zone", e))?,
                sex_at_birth: parse_column("patients.sex_at_birth", &row.sex_at_birth)?,
                usual_bedtime,
                jurisdiction,
                pregnancy_status: parse_column("patients.pregnancy_status", &row.pregnancy_status)?,
                breastfeeding_status: speciosa_core::monitoring::BreastfeedingStatus::parse(
                    &row.breastfeeding_status,
                )
                .ok_or_else(|| corrupt("breastfeeding_status", row.breastfeeding_status.clone()))?,
                research_consent_date: row.research_consent_date.map(|d| d.0),
            },
            created_at: row.created_at.0,
            updated_at: row.updated_at.0,
        })
    }
}

/// Binds the ten detail columns as `$1`..`$10`, in the order both INSERT and UPDATE list them.
macro_rules! bind_details {
    ($query:expr, $details:expr) => {
        $query
            .bind($details.display_name.as_str())
            .bind(DbDate($details.birth_date))
            .bind($details.sex_at_birth.as_str())
            .bind($details.time_zone.as_str())
            .bind(bedtime_text($details))
            .bind($details.jurisdiction.as_ref().map(|j| j.country.clone()))
            .bind(
                $details
                    .jurisdiction
                    .as_ref()
                    .and_then(|j| j.subdivision.clone()),
            )
            .bind($details.pregnancy_status.as_str())
            .bind($details.research_consent_date.map(DbDate))
            .bind($details.breastfeeding_status.as_str())
    };
}

fn bedtime_text(details: &PatientDetails) -> Option<String> {
    details
        .usual_bedtime
        .map(|t| t.strftime("%H:%M").to_string())
}

impl Store {
    /// Registers a patient with `created_by` as the first member of the care team.
    pub async fn create_patient(
        &self,
        organization: OrganizationId,
        details: &PatientDetails,
        created_by: UserId,
        registered_at: Timestamp,
        audit: impl FnOnce(PatientId) -> AuditEntry,
    ) -> Result<Patient> {
        let id = PatientId::new();
        let at = DbTime::from(registered_at);
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            bind_details!(
                sqlx::query(
                    "INSERT INTO patients (display_name, birth_date, sex_at_birth, time_zone, usual_bedtime, \
                     jurisdiction_country, jurisdiction_subdivision, pregnancy_status, research_consent_date, \
                     breastfeeding_status, id, organization_id, created_by, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)",
                ),
                details
            )
            .bind(id.as_uuid())
            .bind(organization.as_uuid())
            .bind(created_by.as_uuid())
            .bind(at)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO care_team_members (patient_id, clinician_id, organization_id, added_by, added_at) \
                 VALUES ($1, $2, $3, $2, $4)",
            )
            .bind(id.as_uuid())
            .bind(created_by.as_uuid())
            .bind(organization.as_uuid())
            .bind(at)
            .execute(&mut *tx)
            .await?;
            // A new patient's time-based rules are due at once.
            sqlx::query("INSERT INTO patient_checks (patient_id, next_check_at) VALUES ($1, $2)")
                .bind(id.as_uuid())
                .bind(at)
                .execute(&mut *tx)
                .await?;
            tx.append_audit(audit(id)).await?;
            tx.commit().await?;
        });
        self.get_patient(id)
            .await?
            .ok_or(StoreError::NotFound("patient"))
    }

    /// Patients whose retired free-text "Other medications" still holds text, for the
    /// start-up migration into list entries: `(organization, patient, created_by, lines)`.
    pub async fn patients_with_concomitant_text(
        &self,
        limit: i64,
    ) -> Result<Vec<(OrganizationId, PatientId, UserId, Vec<String>)>> {
        on_pool!(self, pool => {
            let rows: Vec<(Uuid, Uuid, Uuid, Json<Vec<String>>)> = sqlx::query_as(
                "SELECT organization_id, id, created_by, concomitant_medications FROM patients \
                 WHERE concomitant_medications <> '[]' ORDER BY id LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await
            .map_err(reading("patients"))?;
            Ok(rows
                .into_iter()
                .map(|(org, id, by, lines)| {
                    (
                        OrganizationId::from_uuid(org),
                        PatientId::from_uuid(id),
                        UserId::from_uuid(by),
                        lines.0,
                    )
                })
                .collect())
        })
    }

    /// Adds the entries made from a patient's old free text and empties it, in one
    /// transaction, so a crash cannot add them twice.
    pub async fn move_concomitant_to_list(
        &self,
        organization: OrganizationId,
        patient: PatientId,
        by: UserId,
        entries: &[speciosa_core::medication::MedicationEntry],
        audit: AuditEntry,
    ) -> Result<()> {
        let now = DbTime::now();
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            for entry in entries {
                sqlx::query(
                    "INSERT INTO medications (id, organization_id, patient_id, name, class, dose_text, \
                     entered_by, entered_at, updated_by, updated_at, ingredient, recognised, strength_text) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $7, $8, $9, $10, $11)",
                )
                .bind(speciosa_core::ids::MedicationId::new().as_uuid())
                .bind(organization.as_uuid())
                .bind(patient.as_uuid())
                .bind(&entry.name)
                .bind(entry.class.as_str())
                .bind(&entry.dose_text)
                .bind(by.as_uuid())
                .bind(now)
                .bind(&entry.ingredient)
                .bind(entry.recognised)
                .bind(&entry.strength)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query("UPDATE patients SET concomitant_medications = '[]' WHERE id = $1")
                .bind(patient.as_uuid())
                .execute(&mut *tx)
                .await?;
            tx.append_audit(audit).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Writes text into the retired "Other medications" column, as a database from before
    /// its retirement holds: for tests of the start-up migration only.
    #[doc(hidden)]
    pub async fn seed_retired_concomitant_text(
        &self,
        patient: PatientId,
        lines: &[String],
    ) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("UPDATE patients SET concomitant_medications = $1 WHERE id = $2")
                .bind(Json(lines))
                .bind(patient.as_uuid())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn update_patient(
        &self,
        id: PatientId,
        details: &PatientDetails,
        audit: AuditEntry,
    ) -> Result<Patient> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let updated = bind_details!(
                sqlx::query(
                    "UPDATE patients SET display_name = $1, birth_date = $2, sex_at_birth = $3, time_zone = $4, \
                     usual_bedtime = $5, jurisdiction_country = $6, jurisdiction_subdivision = $7, \
                     pregnancy_status = $8, research_consent_date = $9, breastfeeding_status = $10, \
                     updated_at = $11 WHERE id = $12",
                ),
                details
            )
            .bind(DbTime::now())
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() == 0 {
                return Err(StoreError::NotFound("patient"));
            }
            tx.append_audit(audit).await?;
            tx.commit().await?;
        });
        self.get_patient(id)
            .await?
            .ok_or(StoreError::NotFound("patient"))
    }

    pub async fn get_patient(&self, id: PatientId) -> Result<Option<Patient>> {
        on_pool!(self, pool => {
            let row: Option<PatientRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {PATIENT_COLUMNS} FROM {PATIENT_FROM} WHERE p.id = $1"
            )))
            .bind(id.as_uuid())
            .fetch_optional(pool)
            .await
            .map_err(reading("patients"))?;
            row.map(Patient::try_from).transpose()
        })
    }

    /// The patient record a patient's sign-in is linked to.
    pub async fn patient_of_user(&self, user: UserId) -> Result<Option<Patient>> {
        on_pool!(self, pool => {
            let row: Option<PatientRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {PATIENT_COLUMNS} FROM {PATIENT_FROM} WHERE p.user_id = $1"
            )))
            .bind(user.as_uuid())
            .fetch_optional(pool)
            .await
            .map_err(reading("patients"))?;
            row.map(Patient::try_from).transpose()
        })
    }

    /// What the policy needs to decide on a patient: its organization and whether
    /// `user` is on its care team. `None` when no such patient exists.
    pub async fn patient_scope(
        &self,
        id: PatientId,
        user: UserId,
    ) -> Result<Option<(OrganizationId, bool)>> {
        on_pool!(self, pool => {
            let row: Option<(Uuid, bool)> = sqlx::query_as(
                "SELECT p.organization_id, EXISTS (SELECT 1 FROM care_team_members c \
                 WHERE c.patient_id = p.id AND c.clinician_id = $2) FROM patients p WHERE p.id = $1",
            )
            .bind(id.as_uuid())
            .bind(user.as_uuid())
            .fetch_optional(pool)
            .await
            .map_err(reading("patients"))?;
            Ok(row.map(|(org, on_team)| (OrganizationId::from_uuid(org), on_team)))
        })
    }

    /// The distinct jurisdiction codes (subdivision, else country) where an organization's
    /// patients live, in code order, at most `limit`: no names, no counts.
    pub async fn patient_jurisdictions(
        &self,
        organization: OrganizationId,
        limit: i64,
    ) -> Result<Vec<String>> {
        on_pool!(self, pool => {
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT DISTINCT COALESCE(jurisdiction_subdivision, jurisdiction_country) AS code \
                 FROM patients WHERE organization_id = $1 AND jurisdiction_country IS NOT NULL \
                 ORDER BY code LIMIT $2",
            )
            .bind(organization.as_uuid())
            .bind(limit)
            .fetch_all(pool)
            .await
            .map_err(reading("patients"))?;
            Ok(rows.into_iter().map(|(code,)| code).collect())
        })
    }

    /// The patients on `clinician`'s care teams, by name. Each row is decoded on its own,
    /// so one unreadable record is reported in its place while the others are listed.
    pub async fn list_care_team_patients(
        &self,
        organization: OrganizationId,
        clinician: UserId,
    ) -> Result<Vec<Result<Patient, UnreadablePatient>>> {
        on_pool!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {PATIENT_COLUMNS} FROM {PATIENT_FROM} \
                 JOIN care_team_members c ON c.patient_id = p.id AND c.clinician_id = $2 \
                 WHERE p.organization_id = $1 ORDER BY p.display_name, p.id"
            )))
            .bind(organization.as_uuid())
            .bind(clinician.as_uuid())
            .fetch_all(pool)
            .await
            .map_err(reading("patients"))?;
            Ok(rows
                .iter()
                .map(|row| {
                    PatientRow::from_row(row)
                        .map_err(reading("patients"))
                        .and_then(Patient::try_from)
                        .map_err(|error| UnreadablePatient {
                            id: PatientId::from_uuid(row.try_get("id").unwrap_or_default()),
                            display_name: row.try_get("display_name").ok(),
                            error,
                        })
                })
                .collect())
        })
    }

    pub async fn care_team(&self, patient: PatientId) -> Result<Vec<CareTeamMember>> {
        on_pool!(self, pool => {
            let rows: Vec<(Uuid, String, String, DbTime)> = sqlx::query_as(
                "SELECT u.id, u.display_name, u.email, c.added_at FROM care_team_members c \
                 JOIN users u ON u.id = c.clinician_id WHERE c.patient_id = $1 ORDER BY u.display_name",
            )
            .bind(patient.as_uuid())
            .fetch_all(pool)
            .await
            .map_err(reading("care_team_members"))?;
            Ok(rows
                .into_iter()
                .map(|(id, display_name, email, added_at)| CareTeamMember {
                    clinician_id: UserId::from_uuid(id),
                    display_name,
                    email,
                    added_at: added_at.0,
                })
                .collect())
        })
    }

    /// Replaces the care team with `clinicians` (already checked to be the
    /// organization's active clinicians), keeping when existing members joined.
    pub async fn replace_care_team(
        &self,
        patient: PatientId,
        organization: OrganizationId,
        clinicians: &[UserId],
        changed_by: UserId,
        audit: AuditEntry,
    ) -> Result<Vec<CareTeamMember>> {
        let now = DbTime::now();
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let current: Vec<(Uuid,)> = sqlx::query_as("SELECT clinician_id FROM care_team_members WHERE patient_id = $1")
                .bind(patient.as_uuid())
                .fetch_all(&mut *tx)
                .await?;
            for (member,) in &current {
                if !clinicians.iter().any(|c| c.as_uuid() == *member) {
                    sqlx::query("DELETE FROM care_team_members WHERE patient_id = $1 AND clinician_id = $2")
                        .bind(patient.as_uuid())
                        .bind(member)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            for clinician in clinicians {
                if !current.iter().any(|(member,)| *member == clinician.as_uuid()) {
                    sqlx::query(
                        "INSERT INTO care_team_members (patient_id, clinician_id, organization_id, added_by, added_at) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(patient.as_uuid())
                    .bind(clinician.as_uuid())
                    .bind(organization.as_uuid())
                    .bind(changed_by.as_uuid())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            tx.append_audit(audit).await?;
            tx.commit().await?;
        });
        self.care_team(patient).await
    }

    /// Creates the patient's own sign-in and links it; refuses if one exists.
    pub async fn create_patient_login(
        &self,
        patient: PatientId,
        new: NewUser,
        audit: AuditEntry,
    ) -> Result<User> {
        let (user, password_hash) = new.into_user();
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            insert_user!(tx, user, &password_hash)?;
            let linked = sqlx::query("UPDATE patients SET user_id = $1, updated_at = $2 WHERE id = $3 AND user_id IS NULL")
                .bind(user.id.as_uuid())
                .bind(DbTime::now())
                .bind(patient.as_uuid())
                .execute(&mut *tx)
                .await
                .map_err(conflict_on_unique("this login is already linked to another patient"))?;
            if linked.rows_affected() == 0 {
                // Dropping the transaction rolls back the new user too.
                return Err(StoreError::Conflict("this patient already has a login".into()));
            }
            tx.append_audit(audit).await?;
            tx.commit().await?;
        });
        Ok(user)
    }
}
