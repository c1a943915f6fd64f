//! Users: the people who sign in.

use jiff::Timestamp;
use speciosa_core::account::{DisplayName, Email, Role};
use speciosa_core::audit::AuditEntry;
use speciosa_core::ids::{OrganizationId, PatientId, UserId};
use uuid::Uuid;

use crate::audit::AppendAudit;
use crate::{
    BeginWrite, DbTime, Result, Store, StoreError, conflict_on_unique, on_pool, parse_column,
};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub organization_id: OrganizationId,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub active: bool,
    pub created_at: Timestamp,
    /// An admin set a temporary password: nothing but changing it is allowed.
    pub password_change_required: bool,
    /// Two-factor sign-in (TOTP) is on.
    pub totp_enabled: bool,
    /// The user's organization requires staff to use two-factor sign-in.
    pub organization_requires_totp: bool,
}

impl User {
    /// Staff of an organization that requires two-factor sign-in must enrol before anything else.
    pub fn must_enrol_totp(&self) -> bool {
        self.role.is_staff() && self.organization_requires_totp && !self.totp_enabled
    }
}

/// What sign-in needs: the user, their password hash, and the patient record a
/// patient login is linked to.
#[derive(Clone, Debug)]
pub struct UserCredentials {
    pub user: User,
    pub password_hash: String,
    pub patient_id: Option<PatientId>,
    /// The base32 TOTP secret when two-factor sign-in is on. Never leaves the server.
    pub totp_secret: Option<String>,
    /// The last TOTP time step accepted; codes of that step or earlier are refused.
    pub totp_last_step: Option<i64>,
}

/// A user about to be created. The password arrives already hashed.
#[derive(Clone, Debug)]
pub struct NewUser {
    pub organization_id: OrganizationId,
    pub email: Email,
    pub display_name: DisplayName,
    pub role: Role,
    pub password_hash: String,
}

pub(crate) const USER_COLUMNS: &str = "u.id, u.organization_id, u.email, u.display_name, u.role, u.active, u.created_at, \
     u.password_change_required, (u.totp_secret IS NOT NULL) AS totp_enabled, \
     (SELECT o.require_staff_totp FROM organizations o WHERE o.id = u.organization_id) AS organization_requires_totp";

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: Uuid,
    organization_id: Uuid,
    email: String,
    display_name: String,
    role: String,
    active: bool,
    created_at: DbTime,
    password_change_required: bool,
    totp_enabled: bool,
    organization_requires_totp: bool,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;

    fn try_from(row: UserRow) -> Result<Self> {
        Ok(User {
            id: UserId::from_uuid(row.id),
            organization_id: OrganizationId::from_uuid(row.organization_id),
            email: row.email,
            display_name: row.display_name,
            role: parse_column("users.role", &row.role)?,
            active: row.active,
            created_at: row.created_at.0,
            password_change_required: row.password_change_required,
            totp_enabled: row.totp_enabled,
            organization_requires_totp: row.organization_requires_totp,
        })
    }
}

#[derive(sqlx::FromRow)]
struct CredentialRow {
    #[sqlx(flatten)]
    user: UserRow,
    password_hash: String,
    patient_id: Option<Uuid>,
    totp_secret: Option<String>,
    totp_last_step: Option<i64>,
}

impl TryFrom<CredentialRow> for UserCredentials {
    type Error = StoreError;

    fn try_from(row: CredentialRow) -> Result<Self> {
        Ok(UserCredentials {
            user: User::try_from(row.user)?,
            password_hash: row.password_hash,
            patient_id: row.patient_id.map(PatientId::from_uuid),
            totp_secret: row.totp_secret,
            totp_last_step: row.totp_last_step,
        })
    }
}

const CREDENTIAL_COLUMNS: &str =
    "u.password_hash, p.id AS patient_id, u.totp_secret, u.totp_last_step";

impl NewUser {
    pub(crate) fn into_user(self) -> (User, String) {
        let user = User {
            id: UserId::new(),
            organization_id: self.organization_id,
            email: self.email.as_str().to_owned(),
            display_name: self.display_name.into_string(),
            role: self.role,
            active: true,
            created_at: DbTime::now().0,
            password_change_required: false,
            totp_enabled: false,
            // Read back from the organization by `create_user`; patients are not staff.
            organization_requires_totp: false,
        };
        (user, self.password_hash)
    }
}

/// Inserts a user inside a caller's transaction.
macro_rules! insert_user {
    ($tx:expr, $user:expr, $password_hash:expr) => {
        sqlx::query(
            "INSERT INTO users (id, organization_id, email, display_name, role, password_hash, active, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind($user.id.as_uuid())
        .bind($user.organization_id.as_uuid())
        .bind(&$user.email)
        .bind(&$user.display_name)
        .bind($user.role.as_str())
        .bind($password_hash)
        .bind($user.active)
        .bind(DbTime($user.created_at))
        .execute(&mut *$tx)
        .await
        .map_err(conflict_on_unique("this email address is already in use"))
    };
}
pub(crate) use insert_user;

impl Store {
    /// Creates a user and records `audit` in the same transaction.
    pub async fn create_user(
        &self,
        new: NewUser,
        audit: impl FnOnce(&User) -> AuditEntry,
    ) -> Result<User> {
        let (user, password_hash) = new.into_user();
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            insert_user!(tx, user, &password_hash)?;
            tx.append_audit(audit(&user)).await?;
            tx.commit().await?;
        });
        self.get_user(user.id)
            .await?
            .ok_or(StoreError::NotFound("user"))
    }

    pub async fn find_credentials(&self, email: &str) -> Result<Option<UserCredentials>> {
        on_pool!(self, pool => {
            let row: Option<CredentialRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {USER_COLUMNS}, {CREDENTIAL_COLUMNS} \
                 FROM users u LEFT JOIN patients p ON p.user_id = u.id WHERE u.email = $1"
            )))
            .bind(email)
            .fetch_optional(pool)
            .await?;
            row.map(UserCredentials::try_from).transpose()
        })
    }

    /// A signed-in user's credentials, for checks that ask for the password again.
    pub async fn credentials_of(&self, id: UserId) -> Result<Option<UserCredentials>> {
        on_pool!(self, pool => {
            let row: Option<CredentialRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {USER_COLUMNS}, {CREDENTIAL_COLUMNS} \
                 FROM users u LEFT JOIN patients p ON p.user_id = u.id WHERE u.id = $1"
            )))
            .bind(id.as_uuid())
            .fetch_optional(pool)
            .await?;
            row.map(UserCredentials::try_from).transpose()
        })
    }

    pub async fn get_user(&self, id: UserId) -> Result<Option<User>> {
        on_pool!(self, pool => {
            let row: Option<UserRow> =
                sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1")))
                    .bind(id.as_uuid())
                    .fetch_optional(pool)
                    .await?;
            row.map(User::try_from).transpose()
        })
    }

    /// The organization's users, optionally of one role, by name.
    pub async fn list_users(
        &self,
        organization: OrganizationId,
        role: Option<Role>,
    ) -> Result<Vec<User>> {
        on_pool!(self, pool => {
            let rows: Vec<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {USER_COLUMNS} FROM users u WHERE u.organization_id = $1 \
                 AND ($2 IS NULL OR u.role = $2) ORDER BY u.display_name, u.email"
            )))
            .bind(organization.as_uuid())
            .bind(role.map(Role::as_str))
            .fetch_all(pool)
            .await?;
            rows.into_iter().map(User::try_from).collect()
        })
    }

    /// Activates or deactivates a user; deactivation also ends their sessions.
    pub async fn set_user_active(
        &self,
        organization: OrganizationId,
        id: UserId,
        active: bool,
        audit: AuditEntry,
    ) -> Result<User> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let updated = sqlx::query("UPDATE users SET active = $1 WHERE id = $2 AND organization_id = $3")
                .bind(active)
                .bind(id.as_uuid())
                .bind(organization.as_uuid())
                .execute(&mut *tx)
                .await?;
            if updated.rows_affected() == 0 {
                return Err(StoreError::NotFound("user"));
            }
            if !active {
                sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id.as_uuid()).execute(&mut *tx).await?;
            }
            tx.append_audit(audit).await?;
            tx.commit().await?;
        });
        self.get_user(id).await?.ok_or(StoreError::NotFound("user"))
    }

    /// Replaces a user's own password, lifts any must-change requirement, and ends
    /// every session of theirs except `keep_session` (the one asking), together.
    pub async fn change_password(
        &self,
        id: UserId,
        password_hash: &str,
        keep_session: &str,
        audit: AuditEntry,
    ) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let updated = sqlx::query(
                "UPDATE users SET password_hash = $1, password_change_required = FALSE WHERE id = $2 AND active",
            )
            .bind(password_hash)
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() == 0 {
                return Err(StoreError::NotFound("user"));
            }
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2")
                .bind(id.as_uuid())
                .bind(keep_session)
                .execute(&mut *tx)
                .await?;
            tx.append_audit(audit).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Gives a user of `organization` a temporary password that must be changed at
    /// their next sign-in, and ends all their sessions, together.
    pub async fn set_temporary_password(
        &self,
        organization: OrganizationId,
        id: UserId,
        password_hash: &str,
        audit: AuditEntry,
    ) -> Result<User> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let updated = sqlx::query(
                "UPDATE users SET password_hash = $1, password_change_required = TRUE \
                 WHERE id = $2 AND organization_id = $3",
            )
            .bind(password_hash)
            .bind(id.as_uuid())
            .bind(organization.as_uuid())
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() == 0 {
                return Err(StoreError::NotFound("user"));
            }
            sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id.as_uuid()).execute(&mut *tx).await?;
            tx.append_audit(audit).await?;
            tx.commit().await?;
        });
        self.get_user(id).await?.ok_or(StoreError::NotFound("user"))
    }
}
