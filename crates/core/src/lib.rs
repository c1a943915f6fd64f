//! Speciosa's domain: the types and rules every other layer builds on.
//!
//! Nothing here performs I/O. Values are parsed at the edge into the newtypes
//! below, so the rest of the system never handles raw, unchecked strings.
#![forbid(unsafe_code)]

pub mod account;
pub mod amount;
pub mod appointment;
pub mod audit;
pub mod bedtime_effect;
pub mod checkin;
pub mod checkpoint;
pub mod dose;
pub mod ical;
pub mod ids;
pub mod import;
pub mod instrument;
pub mod legal;
pub mod medication;
pub mod medicines;
pub mod merkle;
pub mod monitoring;
pub mod nights;
pub mod notify;
pub mod patient;
pub mod plan;
pub mod plan_report;
pub mod policy;
pub mod product;
pub mod progress;
pub mod quality;
pub mod redirect;
pub mod roster;
pub mod safety;
pub mod sleep;
pub mod sleep_window;
pub mod taper;
pub mod time;
pub mod two_factor;
pub mod validation;

pub use validation::{FieldError, FieldErrors};
