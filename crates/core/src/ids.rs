//! Typed identifiers, so a patient id can never be passed where a user id is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered (UUIDv7) identifier.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// A clinic: the tenant every patient record belongs to.
    OrganizationId
);
id_type!(
    /// A person who signs in.
    UserId
);
id_type!(
    /// A patient record (which may or may not have its own sign-in).
    PatientId
);

id_type!(
    /// A product in an organization's catalogue.
    ProductId
);
id_type!(
    /// One batch (lot) of a product.
    BatchId
);
id_type!(
    /// One logged dose.
    DoseId
);

id_type!(
    /// One completed instrument.
    AssessmentId
);
id_type!(
    /// A safety signal raised for a patient.
    AlertId
);

id_type!(
    /// One entry on a patient's medication list.
    MedicationId
);

id_type!(
    /// One version of a patient's plan (drafts and signed versions alike).
    PlanId
);

id_type!(
    /// A visit or therapy session.
    AppointmentId
);

id_type!(
    /// One laboratory result (liver tests, INR).
    LabResultId
);

id_type!(
    /// One ECG reading (its corrected QT interval).
    EcgId
);

id_type!(
    /// One overdose event.
    OverdoseId
);

id_type!(
    /// One record of non-prescribed or illicit opioid use.
    OpioidUseId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_round_trips_through_its_text_form() {
        let id = PatientId::new();
        assert_eq!(id.to_string().parse::<PatientId>().unwrap(), id);
    }

    #[test]
    fn text_that_is_not_a_uuid_is_refused() {
        assert!("not-an-id".parse::<UserId>().is_err());
    }
}
