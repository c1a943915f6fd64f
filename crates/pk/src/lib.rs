//! Speciosa's pharmacokinetic engine: pure numerics, no I/O.
//!
//! Mitragynine (MG) by mouth: first-order absorption (optional lag) into a
//! two-compartment disposition with central elimination, apparent parameters (divided by
//! bioavailability). 7-hydroxymitragynine (7-OH): one compartment, formed from MG as a
//! fraction of MG clearance and also absorbed directly when a product contains it.
//! Units: mg, L, h; concentrations mg/L (= µg/mL), reported as ng/mL.
//!
//! Two independent solution paths — closed-form superposition ([`closed_form`]) and a
//! numerical ODE solution ([`numerical`]) — are tested against each other.
#![forbid(unsafe_code)]

pub mod closed_form;
pub mod estimation;
pub mod model;
pub mod nca;
pub mod numerical;
pub mod plan;
pub mod population;
pub mod propagated;
pub mod regimen;
pub mod summary;

pub use model::{Dose, ModelError, Parameters, TypicalParameters, validate_doses};

/// Molar masses used to convert between mass and molar units (pharmacology.md, unit conversions).
pub const MG_MOLAR_MASS: f64 = 398.5;
pub const HYDROXY_MOLAR_MASS: f64 = 414.5;

/// ng/mL of mitragynine per nM.
pub fn mg_ng_ml_per_nm() -> f64 {
    MG_MOLAR_MASS / 1000.0
}
