//! Field-level validation errors, collected so a form or API client hears about
//! every problem at once rather than one per round trip.

use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The request field, as the client spelled it (`birth_date`, `care_team.clinician_ids[1]`).
    pub field: String,
    /// A sentence a person can act on.
    pub detail: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{} field(s) are invalid", .errors.len())]
pub struct FieldErrors {
    pub errors: Vec<FieldError>,
}

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn single(field: impl Into<String>, detail: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.push(field, detail);
        errors
    }

    pub fn push(&mut self, field: impl Into<String>, detail: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.into(),
            detail: detail.into(),
        });
    }

    /// Records the error of `result` under `field` and returns its value, if any.
    pub fn check<T, E: std::fmt::Display>(
        &mut self,
        field: &str,
        result: Result<T, E>,
    ) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.push(field, error.to_string());
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// `Ok(value)` when nothing was recorded.
    pub fn into_result<T>(self, value: impl FnOnce() -> T) -> Result<T, FieldErrors> {
        if self.is_empty() {
            Ok(value())
        } else {
            Err(self)
        }
    }
}
