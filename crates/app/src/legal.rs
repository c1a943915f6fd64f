//! Kratom's legal status where a patient lives: the bundled, cited dataset
//! (`data/legal/status.toml`, read by `speciosa_core::legal`).

use jiff::civil::Date;
use speciosa_core::FieldErrors;
use speciosa_core::legal::LegalAnswer;

use crate::{App, AppError, Caller};

/// Parses the API's and pages' `jurisdiction` and `date` inputs: the date defaults to
/// today (UTC) and must be a calendar date.
pub fn parse_query(
    jurisdiction: Option<&str>,
    date: Option<&str>,
) -> Result<(String, Date), AppError> {
    let mut errors = FieldErrors::new();
    let code = jurisdiction.map(str::trim).filter(|c| !c.is_empty());
    if code.is_none() {
        errors.push(
            "jurisdiction",
            "give an ISO 3166 code such as \"US-AL\" or \"TH\", or a locality code such as \"US-CA:city:san-diego\"",
        );
    }
    let date = match date.map(str::trim).filter(|d| !d.is_empty()) {
        None => Some(
            jiff::Timestamp::now()
                .to_zoned_datetime(jiff::tz::TimeZone::UTC)
                .date(),
        ),
        Some(text) => errors.check(
            "date",
            text.parse::<Date>()
                .map_err(|_| format!("{text:?} is not a date of the form YYYY-MM-DD")),
        ),
    };
    match (code, date) {
        (Some(code), Some(date)) if errors.is_empty() => Ok((code.to_owned(), date)),
        _ => Err(AppError::Invalid(errors)),
    }
}

/// What applies in a jurisdiction on a date. Reference data, open to every signed-in user;
/// not patient data, so not audited.
pub async fn legal_status(
    app: &App,
    _caller: &Caller,
    jurisdiction: &str,
    date: Date,
) -> Result<LegalAnswer, AppError> {
    app.knowledge
        .legal
        .rules_in_force(jurisdiction, date)
        .ok_or(AppError::NotFound("jurisdiction"))
}
