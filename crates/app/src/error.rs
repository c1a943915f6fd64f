//! What a use case can answer besides success. The adapters map each variant to their
//! surface: problem+json for the API, a readable page for the web, an exit status for
//! the CLI. Storage failures are classified here so no adapter needs to know the store.

use speciosa_core::FieldErrors;
use speciosa_core::ids::UserId;
use speciosa_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The input is well-formed but not acceptable; each error names its field.
    #[error("invalid input")]
    Invalid(FieldErrors),
    /// The caller may see the resource but not do this (already audited as denied).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Nothing of this kind with that id is visible to the caller.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The write conflicts with the current state (a duplicate, a stale version).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database cannot be reached right now.
    #[error("the database is unavailable")]
    Unavailable(#[source] StoreError),
    /// Anything else: a defect or a damaged record. Logged by the adapter, shown generically.
    #[error("internal failure")]
    Internal(#[source] StoreError),
    /// A defect outside storage (a bundled file, a worker thread): logged, shown generically.
    #[error("internal failure: {0}")]
    Defect(String),
    /// Sign-in: the email or password did not match an active account.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Too many failed sign-ins for the account or from the address.
    #[error("too many failed sign-ins")]
    SignInThrottled { retry_after_seconds: u64 },
    /// The password was right; the account also needs a TOTP or recovery code.
    #[error("a second factor is required")]
    SecondFactorRequired { user_id: UserId },
    /// The second factor was wrong, expired or already used.
    #[error("invalid second factor")]
    InvalidSecondFactor,
    /// A page sign-in's second step came too late (or its challenge is unknown).
    #[error("the sign-in challenge expired")]
    ChallengeExpired,
    /// Too many wrong re-entered passwords for a signed-in account.
    #[error("too many wrong passwords")]
    PasswordThrottled { retry_after_seconds: u64 },
}

impl From<FieldErrors> for AppError {
    fn from(errors: FieldErrors) -> Self {
        AppError::Invalid(errors)
    }
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(detail) => AppError::Conflict(detail),
            StoreError::NotFound(what) => AppError::NotFound(what),
            unavailable if unavailable.is_unavailable() => AppError::Unavailable(unavailable),
            other => AppError::Internal(other),
        }
    }
}

impl AppError {
    /// One field's error, as a use case's own validation reports it.
    pub fn field(field: &str, detail: impl Into<String>) -> Self {
        AppError::Invalid(FieldErrors::single(field, detail))
    }

    /// Whether the failure is one stored record that cannot be read (so a page listing
    /// many patients can show that one as damaged and go on).
    pub fn is_unreadable_record(&self) -> bool {
        matches!(
            self,
            AppError::Internal(StoreError::Unreadable { .. } | StoreError::Corrupt(_))
        )
    }
}

/// Logs an error with every cause, since the `Display` of the top alone rarely says enough.
pub fn log_chain(context: &str, error: &dyn std::error::Error) {
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    tracing::error!(error = %chain, "{context}");
}
