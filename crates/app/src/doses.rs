//! Doses: logging in milligrams of alkaloid, the unusual-amount question, retries,
//! corrections and deletions (soft, with a reason), CSV import, patient-local daily
//! totals, and each recently used batch judged at the patient's own intake.
//!
//! Inputs arrive as typed but unchecked fields and are checked once the caller is
//! allowed, against the patient's zone and the chosen batch.

use std::collections::BTreeMap;

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use sha2::{Digest, Sha256};
use speciosa_core::FieldErrors;
use speciosa_core::amount::AmountInput;
use speciosa_core::audit::Outcome;
use speciosa_core::dose::{
    self, DailyExposure, DoseEntry, DoseFields, DoseForDay, DoseProduct, Exposure, ExposureBasis,
    UNUSUAL_AMOUNT, UnusualAmount,
};
use speciosa_core::ids::{BatchId, DoseId, PatientId};
use speciosa_core::import::ImportError;
use speciosa_core::patient::TimeZoneName;
use speciosa_core::policy::PatientAction;
use speciosa_core::quality::QualityFlag;
use speciosa_core::time::{ClinicalDate, Era, start_of_utc_day};
use speciosa_store::{Batch, Dose, DoseInsert, NewDose, Patient, Product, StoreError};

use crate::products::organization_batch;
use crate::{App, AppError, Caller, access};

/// A dose as entered, from the API or the dose form.
///
/// Its JSON form is the fingerprint an idempotency key is bound to (with the patient's
/// id), so the fields keep the order and names of the API's request.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DoseInput {
    /// RFC 3339 with an offset; `None` means now. Future times are refused.
    pub taken_at: Option<String>,
    pub batch_id: BatchId,
    /// A number, or text as typed (`"1,5"`).
    pub amount: AmountInput,
    pub unit: String,
    pub contexts: Vec<String>,
    pub note: Option<String>,
    /// Required for a dose taken more than 7 days ago.
    pub confirm_backdated: bool,
    /// The IANA zone the patient was in; `None` means the patient's own zone.
    pub time_zone: Option<String>,
    /// The person confirms an amount far above the patient's usual dose.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub confirm_unusual_amount: bool,
}

/// Milligrams as read in a sentence: whole above 10 mg, one decimal below.
pub fn mg_text(mg: f64) -> String {
    if mg >= 10.0 {
        format!("{mg:.0}")
    } else {
        format!("{mg:.1}")
    }
}

/// An unconfirmed unusual amount, with what a question about it needs.
#[derive(Clone, Debug)]
pub struct Unusual {
    pub amount: f64,
    pub unit: String,
    pub check: UnusualAmount,
}

impl Unusual {
    fn of(new: &NewDose, check: UnusualAmount) -> Self {
        Unusual {
            amount: new.amount,
            unit: new.unit.clone(),
            check,
        }
    }

    /// `15 g is 292 mg mitragynine, more than 3 times the usual single dose of 53 mg …`.
    pub fn detail(&self) -> String {
        format!(
            "{} {} is {} mg mitragynine, more than {} times the patient's usual single dose of {} mg (the median over the last {} days)",
            self.amount,
            self.unit,
            mg_text(self.check.dose_mg),
            self.check.factor,
            mg_text(self.check.usual_mg),
            UNUSUAL_AMOUNT.window.as_hours() / 24,
        )
    }
}

/// Why a dose was not saved: an error, an amount far above the usual one that the input
/// did not confirm (the API refuses it, the pages ask), or an idempotency key already
/// used for a different dose.
#[derive(Debug)]
pub enum DoseRefusal {
    Error(AppError),
    Unusual(Unusual),
    KeyReused,
}

impl From<AppError> for DoseRefusal {
    fn from(error: AppError) -> Self {
        DoseRefusal::Error(error)
    }
}

impl From<FieldErrors> for DoseRefusal {
    fn from(errors: FieldErrors) -> Self {
        DoseRefusal::Error(errors.into())
    }
}

impl From<StoreError> for DoseRefusal {
    fn from(error: StoreError) -> Self {
        DoseRefusal::Error(error.into())
    }
}

/// A logged dose: new, or the original one returned for a retried key.
#[derive(Clone, Debug)]
pub enum DoseLogged {
    Created(Dose),
    Replayed(Dose),
}

impl DoseLogged {
    pub fn dose(&self) -> &Dose {
        match self {
            DoseLogged::Created(dose) | DoseLogged::Replayed(dose) => dose,
        }
    }

    pub fn into_dose(self) -> Dose {
        match self {
            DoseLogged::Created(dose) | DoseLogged::Replayed(dose) => dose,
        }
    }
}

fn zone_named(name: &str) -> jiff::tz::TimeZone {
    jiff::tz::db().get(name).unwrap_or(jiff::tz::TimeZone::UTC)
}

/// The hex SHA-256 of the input with its patient: what a retried key must match.
fn fingerprint(patient: PatientId, input: &DoseInput) -> String {
    let canonical = serde_json::to_vec(&(patient, input)).unwrap_or_default();
    hex::encode(Sha256::digest(canonical))
}

/// Turns an input into a dose with its milligrams computed from the batch.
pub(crate) async fn prepare_dose(
    app: &App,
    caller: &Caller,
    patient: &Patient,
    input: &DoseInput,
    idempotency_key: Option<String>,
) -> Result<NewDose, FieldErrors> {
    let (product, batch) = organization_batch(app, caller, input.batch_id)
        .await
        .map_err(|_| {
            FieldErrors::single(
                "batch_id",
                "no batch with this id in your organization's catalogue",
            )
        })?;
    build_dose(
        app,
        caller,
        patient,
        input,
        &product,
        &batch,
        idempotency_key,
    )
}

/// The dose for `input` against an already resolved batch.
fn build_dose(
    app: &App,
    caller: &Caller,
    patient: &Patient,
    input: &DoseInput,
    product: &Product,
    batch: &Batch,
    idempotency_key: Option<String>,
) -> Result<NewDose, FieldErrors> {
    let entry = DoseEntry::parse(
        &DoseFields {
            taken_at: input.taken_at.as_deref(),
            amount: input.amount.clone(),
            unit: &input.unit,
            contexts: &input.contexts,
            note: input.note.as_deref(),
            confirm_backdated: input.confirm_backdated,
        },
        Timestamp::now(),
    )?;
    let zone_name = match input.time_zone.as_deref() {
        Some(raw) => TimeZoneName::parse(raw).map_err(|e| FieldErrors::single("time_zone", e))?,
        None => patient.details.time_zone.clone(),
    };
    let material = DoseProduct {
        form: product.details.form,
        unit_mass_g: product.details.unit_mass_g,
        teaspoon_g: product.details.teaspoon_g,
    }
    .material(entry.amount, entry.unit)
    .map_err(|e| {
        let field = if matches!(
            e,
            dose::DoseError::NotPositive | dose::DoseError::TooLarge { .. }
        ) {
            "amount"
        } else {
            "unit"
        };
        FieldErrors::single(field, e.to_string())
    })?;
    let exposure = Exposure::of(
        &material,
        product.details.form,
        batch.assay.as_ref(),
        &app.knowledge.standards,
    );
    let local_time = entry.taken_at.to_zoned_datetime(zone_name.to_zone()).time();
    let bedtime = dose::is_bedtime_dose(
        local_time,
        patient.details.usual_bedtime,
        app.settings.bedtime_window,
    );
    let request_hash = idempotency_key
        .as_ref()
        .map(|_| fingerprint(patient.id, input));
    Ok(NewDose {
        organization_id: patient.organization_id,
        patient_id: patient.id,
        batch_id: batch.id,
        taken_at: entry.taken_at,
        time_zone: zone_name.as_str().to_owned(),
        amount: entry.amount,
        unit: entry.unit.as_str().to_owned(),
        grams: material.grams,
        millilitres: material.millilitres,
        mitragynine_mg: exposure.mitragynine_mg,
        hydroxymitragynine_mg: exposure.hydroxymitragynine_mg,
        exposure_basis: exposure.basis,
        mitragynine_mg_low: exposure.mitragynine_mg_low,
        mitragynine_mg_high: exposure.mitragynine_mg_high,
        hydroxymitragynine_mg_low: exposure.hydroxymitragynine_mg_low,
        hydroxymitragynine_mg_high: exposure.hydroxymitragynine_mg_high,
        contexts: entry.contexts,
        bedtime,
        note: entry.note,
        entered_by: caller.actor.user_id,
        idempotency: idempotency_key.zip(request_hash),
    })
}

/// The patient's current single doses' mitragynine over the unusual-amount window
/// (leaving out `except`, a dose being corrected).
async fn recent_mitragynine(
    app: &App,
    patient: PatientId,
    except: Option<DoseId>,
) -> Result<Vec<f64>, StoreError> {
    let since = Timestamp::now() - UNUSUAL_AMOUNT.window;
    app.store
        .recent_single_dose_mitragynine(patient, since, except)
        .await
}

/// Refuses an unconfirmed unusual amount; says in the audit detail when one was confirmed.
async fn judge_amount(
    app: &App,
    new: &NewDose,
    except: Option<DoseId>,
    confirmed: bool,
) -> Result<Option<&'static str>, DoseRefusal> {
    let recent = recent_mitragynine(app, new.patient_id, except).await?;
    match UNUSUAL_AMOUNT.check(new.mitragynine_mg, &recent) {
        Some(check) if !confirmed => Err(DoseRefusal::Unusual(Unusual::of(new, check))),
        Some(_) => Ok(Some("unusual amount confirmed")),
        None => Ok(None),
    }
}

/// Whether a dose about to be logged is an unusual amount (the question `log_dose` would
/// ask), without logging it: a page that has another question asks both at once.
pub(crate) async fn unusual_of(app: &App, new: &NewDose) -> Result<Option<Unusual>, AppError> {
    let recent = recent_mitragynine(app, new.patient_id, None).await?;
    Ok(UNUSUAL_AMOUNT
        .check(new.mitragynine_mg, &recent)
        .map(|check| Unusual::of(new, check)))
}

/// Logs a dose, or returns the original for a retried `key` (a client's idempotency key,
/// already checked by the adapter).
pub async fn log_dose(
    app: &App,
    caller: &Caller,
    id: PatientId,
    input: &DoseInput,
    key: Option<String>,
) -> Result<DoseLogged, DoseRefusal> {
    let patient =
        access::patient_record(app, caller, id, PatientAction::RecordDose, "dose.create").await?;
    let new = prepare_dose(app, caller, &patient, input, key).await?;
    let note = judge_amount(app, &new, None, input.confirm_unusual_amount).await?;
    let inserted = app
        .store
        .insert_dose(&new, |dose_id| {
            let mut entry = caller.audit(
                "dose.create",
                "dose",
                Some(dose_id.to_string()),
                Some(id),
                Outcome::Success,
            );
            entry.detail = note.map(str::to_owned);
            entry
        })
        .await?;
    match inserted {
        DoseInsert::Created(dose) => {
            crate::safety::after_write(app, caller, &patient).await;
            Ok(DoseLogged::Created(dose))
        }
        DoseInsert::Replayed(dose) => {
            let mut entry = caller.audit(
                "dose.read",
                "dose",
                Some(dose.id.to_string()),
                Some(id),
                Outcome::Success,
            );
            entry.detail = Some("idempotent retry returned the original dose".into());
            app.store.append_audit(entry).await?;
            Ok(DoseLogged::Replayed(dose))
        }
        DoseInsert::KeyReused => Err(DoseRefusal::KeyReused),
    }
}

/// The patient a dose is being logged for, once the caller may log one.
pub async fn dose_patient(app: &App, caller: &Caller, id: PatientId) -> Result<Patient, AppError> {
    access::patient_record(app, caller, id, PatientAction::RecordDose, "dose.create").await
}

/// The dose form for a patient: the patient, and their last current dose so its product
/// and unit can be preselected (the amount never is).
pub async fn dose_form(
    app: &App,
    caller: &Caller,
    id: PatientId,
) -> Result<(Patient, Option<Dose>), AppError> {
    let patient = dose_patient(app, caller, id).await?;
    let last = app.store.last_dose(patient.id).await?;
    Ok((patient, last))
}

/// The patient's last current dose, offered on the dose form to log again (audited as
/// a read).
pub async fn repeat_offer(
    app: &App,
    caller: &Caller,
    id: PatientId,
) -> Result<Option<Dose>, AppError> {
    access::patient(app, caller, id, PatientAction::RecordDose, "dose.create").await?;
    let Some(dose) = app.store.last_dose(id).await? else {
        return Ok(None);
    };
    let mut entry = caller.audit(
        "dose.read",
        "dose",
        Some(dose.id.to_string()),
        Some(id),
        Outcome::Success,
    );
    entry.detail = Some("last dose, offered to repeat".into());
    app.store.append_audit(entry).await?;
    Ok(Some(dose))
}

/// The patient and their current dose `dose_id`, opened on the correction form (audited
/// as a read). A dose already corrected or deleted is a conflict.
pub async fn dose_to_correct(
    app: &App,
    caller: &Caller,
    id: PatientId,
    dose_id: DoseId,
) -> Result<(Patient, Dose), AppError> {
    let patient =
        access::patient_record(app, caller, id, PatientAction::RecordDose, "dose.correct").await?;
    let dose = patient_dose(app, id, dose_id).await?;
    if !dose.is_current() {
        return Err(AppError::Conflict(
            "this dose was already corrected or deleted; the dose log shows the current entry"
                .into(),
        ));
    }
    let mut entry = caller.audit(
        "dose.read",
        "dose",
        Some(dose_id.to_string()),
        Some(id),
        Outcome::Success,
    );
    entry.detail = Some("opened for correction".into());
    app.store.append_audit(entry).await?;
    Ok((patient, dose))
}

/// A range of patient-local dates as asked for, checked against the patient's calendar
/// once the caller is allowed: empty ends default to the 30 days ending today.
#[derive(Clone, Debug, Default)]
pub struct DateRange {
    /// First date, YYYY-MM-DD (inclusive).
    pub from: Option<String>,
    /// Last date, YYYY-MM-DD (inclusive).
    pub to: Option<String>,
    /// Also list corrected and deleted doses.
    pub include_history: bool,
}

/// The inclusive local date range, checked: at most two years, `from` not after `to`.
pub fn date_range(range: &DateRange, patient: &Patient) -> Result<(Date, Date), FieldErrors> {
    let mut errors = FieldErrors::new();
    let parse = |errors: &mut FieldErrors, field: &str, raw: &Option<String>| {
        raw.as_deref()
            .filter(|r| !r.trim().is_empty())
            .and_then(|r| errors.check(field, ClinicalDate::parse(r)))
            .map(ClinicalDate::get)
    };
    let today = Timestamp::now()
        .to_zoned_datetime(patient.details.time_zone.to_zone())
        .date();
    let to = parse(&mut errors, "to", &range.to);
    let from = parse(&mut errors, "from", &range.from);
    if !errors.is_empty() {
        return Err(errors);
    }
    let to = to.unwrap_or(today);
    let from = from.unwrap_or_else(|| {
        Era::Clinical.clamp(to.checked_sub(jiff::Span::new().days(29)).unwrap_or(to))
    });
    if from > to {
        return Err(FieldErrors::single("from", "from must not be after to"));
    }
    if from.until(to).map_or(i32::MAX, |s| s.get_days()) > 731 {
        return Err(FieldErrors::single(
            "from",
            "ask for at most two years at a time",
        ));
    }
    Ok((from, to))
}

/// Current doses whose patient-local date is within `from..=to`. Each dose keeps the
/// zone it was taken in, so the search window is padded by a day on each side.
async fn doses_between(
    app: &App,
    patient: &Patient,
    from: Date,
    to: Date,
    include_history: bool,
) -> Result<Vec<Dose>, AppError> {
    // Checked: the dates were bounded, but arithmetic near the calendar's ends panics.
    let start = start_of_utc_day(from)
        .and_then(|t| t.checked_sub(SignedDuration::from_hours(26)).ok())
        .ok_or_else(|| AppError::field("from", "date out of range"))?;
    let end = start_of_utc_day(to)
        .and_then(|t| t.checked_add(SignedDuration::from_hours(24 + 26)).ok())
        .ok_or_else(|| AppError::field("to", "date out of range"))?;
    let doses = app
        .store
        .list_doses(patient.id, start, end, include_history)
        .await?;
    Ok(doses
        .into_iter()
        .filter(|d| {
            let date = dose::local_date(d.taken_at, &zone_named(&d.time_zone));
            from <= date && date <= to
        })
        .collect())
}

/// The patient's doses in `range`, oldest first as stored, audited as `dose.list`.
pub async fn read_doses(
    app: &App,
    caller: &Caller,
    id: PatientId,
    range: &DateRange,
) -> Result<Vec<Dose>, AppError> {
    let patient = access::patient_record(app, caller, id, PatientAction::Read, "dose.list").await?;
    let (from, to) = date_range(range, &patient)?;
    let doses = doses_between(app, &patient, from, to, range.include_history).await?;
    let mut entry = caller.audit("dose.list", "dose", None, Some(id), Outcome::Success);
    entry.detail = Some(format!("{from}..{to}: {} doses", doses.len()));
    app.store.append_audit(entry).await?;
    Ok(doses)
}

/// Totals per patient-local day in `range` with at least one dose, audited as
/// `exposure.read`. (`range.include_history` is ignored: totals count current doses.)
pub async fn daily_exposure(
    app: &App,
    caller: &Caller,
    id: PatientId,
    range: &DateRange,
) -> Result<Vec<DailyExposure>, AppError> {
    let patient =
        access::patient_record(app, caller, id, PatientAction::Read, "exposure.read").await?;
    let (from, to) = date_range(range, &patient)?;
    let doses = doses_between(app, &patient, from, to, false).await?;
    let for_days: Vec<DoseForDay> = doses
        .iter()
        .map(|d| DoseForDay {
            taken_at: d.taken_at,
            time_zone: zone_named(&d.time_zone),
            grams: d.grams,
            millilitres: d.millilitres,
            mitragynine_mg: d.mitragynine_mg,
            hydroxymitragynine_mg: d.hydroxymitragynine_mg,
            estimated: d.exposure_basis == ExposureBasis::Estimate,
            bedtime: d.bedtime,
        })
        .collect();
    let mut entry = caller.audit(
        "exposure.read",
        "exposure",
        None,
        Some(id),
        Outcome::Success,
    );
    entry.detail = Some(format!("{from}..{to}"));
    app.store.append_audit(entry).await?;
    Ok(dose::daily_exposure(&for_days, from, to))
}

fn reason(raw: &str) -> Result<String, FieldErrors> {
    let reason = raw.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        Err(FieldErrors::single(
            "reason",
            "a reason (at most 500 characters) is required",
        ))
    } else {
        Ok(reason.to_owned())
    }
}

/// The patient's dose `dose_id`, or 404.
async fn patient_dose(app: &App, patient: PatientId, dose_id: DoseId) -> Result<Dose, AppError> {
    app.store
        .get_dose(dose_id)
        .await?
        .filter(|d| d.patient_id == patient)
        .ok_or(AppError::NotFound("dose"))
}

/// Replaces a current dose with `input`, keeping the original marked superseded with
/// the reason. The replaced dose is not part of the usual amount the new one is judged
/// against.
pub async fn correct_dose(
    app: &App,
    caller: &Caller,
    id: PatientId,
    dose_id: DoseId,
    input: &DoseInput,
    raw_reason: &str,
) -> Result<Dose, DoseRefusal> {
    let patient =
        access::patient_record(app, caller, id, PatientAction::RecordDose, "dose.correct").await?;
    patient_dose(app, id, dose_id).await?;
    let reason = reason(raw_reason)?;
    let corrected = prepare_dose(app, caller, &patient, input, None).await?;
    let note = judge_amount(app, &corrected, Some(dose_id), input.confirm_unusual_amount).await?;
    let mut entry = caller.audit(
        "dose.correct",
        "dose",
        Some(dose_id.to_string()),
        Some(id),
        Outcome::Success,
    );
    entry.detail = Some(match note {
        Some(note) => format!("reason: {reason}; {note}"),
        None => format!("reason: {reason}"),
    });
    let dose = app
        .store
        .correct_dose(dose_id, &corrected, &reason, entry)
        .await?;
    crate::safety::after_write(app, caller, &patient).await;
    Ok(dose)
}

/// Marks a current dose deleted, keeping it with the reason.
pub async fn delete_dose(
    app: &App,
    caller: &Caller,
    id: PatientId,
    dose_id: DoseId,
    raw_reason: &str,
) -> Result<Dose, AppError> {
    let patient =
        access::patient_record(app, caller, id, PatientAction::RecordDose, "dose.delete").await?;
    patient_dose(app, id, dose_id).await?;
    let reason = reason(raw_reason)?;
    let mut entry = caller.audit(
        "dose.delete",
        "dose",
        Some(dose_id.to_string()),
        Some(id),
        Outcome::Success,
    );
    entry.detail = Some(format!("reason: {reason}"));
    let dose = app.store.delete_dose(dose_id, &reason, entry).await?;
    // Removing a dose can end a condition but never closes an alert: only a person does.
    crate::safety::after_write(app, caller, &patient).await;
    Ok(dose)
}

/// A CSV import as asked for.
#[derive(Clone, Debug, Default)]
pub struct ImportInput {
    /// CSV text with a header naming `date`, `time`, `product`, `amount`, `unit` (and
    /// optionally `lot`, `contexts`, `note`), in the patient's local time.
    pub csv: String,
    /// Write the valid rows; otherwise only preview.
    pub commit: bool,
    /// Lines whose unusual amounts are right.
    pub confirm_unusual_lines: Vec<u64>,
}

/// A row that will be (or was) written.
#[derive(Clone, Debug)]
pub struct ImportRow {
    pub line: u64,
    pub taken_at: Timestamp,
    pub product: String,
    pub lot: String,
    pub batch_id: BatchId,
    pub amount: f64,
    pub unit: String,
    pub mitragynine_mg: Option<f64>,
    pub hydroxymitragynine_mg: Option<f64>,
    pub exposure_basis: ExposureBasis,
    /// The amount was unusual and its line was confirmed.
    pub unusual_amount_confirmed: bool,
}

/// A row whose mitragynine is more than 3 times the patient's usual single dose (the
/// median of their last 14 days, once there are at least 3 doses): more often a typing
/// error than a real dose, so it is imported only when its line is confirmed.
#[derive(Clone, Debug)]
pub struct ImportUnusual {
    pub line: u64,
    pub amount: f64,
    pub unit: String,
    pub mitragynine_mg: f64,
    /// The patient's median single dose over the last 14 days.
    pub usual_mitragynine_mg: f64,
    pub reason: String,
}

/// What an import previewed or wrote.
#[derive(Clone, Debug)]
pub struct ImportOutcome {
    pub rows: Vec<ImportRow>,
    /// Every row that cannot be imported, by line.
    pub errors: Vec<ImportError>,
    /// Rows with an unusual amount, not imported unless their lines are confirmed.
    pub unusual: Vec<ImportUnusual>,
    pub committed: bool,
    /// Doses written by this request.
    pub imported: usize,
    /// Rows already imported by an earlier commit of the same file.
    pub already_present: usize,
}

/// Previews a CSV dose history or, with `commit`, writes its valid rows. Each row's
/// idempotency key comes from its content and line, so committing the same file
/// twice writes nothing new. Every row's amount is judged against the patient's usual
/// single dose of the last 14 days as logged; rows above it need their line confirmed.
pub async fn import_doses(
    app: &App,
    caller: &Caller,
    id: PatientId,
    import: &ImportInput,
) -> Result<ImportOutcome, AppError> {
    let patient =
        access::patient_record(app, caller, id, PatientAction::RecordDose, "dose.import").await?;
    let parsed = speciosa_core::import::parse_csv(&import.csv);
    let products = app.store.list_products(patient.organization_id).await?;
    let batches = app.store.list_batches(patient.organization_id).await?;
    let zone = patient.details.time_zone.to_zone();
    let mut errors: Vec<ImportError> = parsed.errors;
    let mut ready: Vec<(ImportRow, NewDose)> = Vec::new();
    let mut unusual: Vec<ImportUnusual> = Vec::new();
    let recent = recent_mitragynine(app, id, None).await?;
    for row in parsed.rows {
        let Some(product) = products
            .iter()
            .find(|p| p.details.name.eq_ignore_ascii_case(&row.product))
        else {
            errors.push(ImportError {
                line: row.line,
                reason: format!(
                    "no product named {:?} in the catalogue; add it first",
                    row.product
                ),
            });
            continue;
        };
        // Batches are listed newest first: without a lot, the newest batch is assumed.
        let batch = batches
            .iter()
            .filter(|b| b.product_id == product.id)
            .find(|b| {
                row.lot
                    .as_deref()
                    .is_none_or(|lot| b.lot.eq_ignore_ascii_case(lot))
            });
        let Some(batch) = batch else {
            errors.push(ImportError {
                line: row.line,
                reason: format!(
                    "{:?} has no batch{}",
                    row.product,
                    row.lot
                        .as_deref()
                        .map(|l| format!(" with lot {l:?}"))
                        .unwrap_or_default()
                ),
            });
            continue;
        };
        let taken_at = match row.taken_local.to_zoned_datetime(zone.clone()) {
            Ok(zoned) => zoned.timestamp(),
            Err(_) => {
                errors.push(ImportError {
                    line: row.line,
                    reason: "the date and time cannot be placed in the patient's time zone".into(),
                });
                continue;
            }
        };
        let input = DoseInput {
            taken_at: Some(taken_at.to_string()),
            batch_id: batch.id,
            amount: row.amount.into(),
            unit: row.unit.clone(),
            contexts: row.contexts.clone(),
            note: row.note.clone(),
            // Confirming the previewed import is the confirmation that old dates are right.
            confirm_backdated: true,
            time_zone: None,
            // Judged below, per row.
            confirm_unusual_amount: false,
        };
        let key = format!("import:{}:{}", row.line, fingerprint(id, &input));
        match build_dose(app, caller, &patient, &input, product, batch, Some(key)) {
            Ok(new) => {
                let check = UNUSUAL_AMOUNT.check(new.mitragynine_mg, &recent);
                let confirmed = check.is_some() && import.confirm_unusual_lines.contains(&row.line);
                if let (Some(check), false) = (check, confirmed) {
                    let found = Unusual::of(&new, check);
                    unusual.push(ImportUnusual {
                        line: row.line,
                        amount: new.amount,
                        unit: new.unit.clone(),
                        mitragynine_mg: check.dose_mg,
                        usual_mitragynine_mg: check.usual_mg,
                        reason: format!(
                            "amount: {}; if it is right, confirm line {}",
                            found.detail(),
                            row.line
                        ),
                    });
                    continue;
                }
                ready.push((
                    ImportRow {
                        line: row.line,
                        taken_at,
                        product: product.details.name.clone(),
                        lot: batch.lot.clone(),
                        batch_id: batch.id,
                        amount: row.amount,
                        unit: new.unit.clone(),
                        mitragynine_mg: new.mitragynine_mg,
                        hydroxymitragynine_mg: new.hydroxymitragynine_mg,
                        exposure_basis: new.exposure_basis,
                        unusual_amount_confirmed: confirmed,
                    },
                    new,
                ))
            }
            Err(invalid) => {
                let reason = invalid
                    .errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.detail))
                    .collect::<Vec<_>>()
                    .join("; ");
                errors.push(ImportError {
                    line: row.line,
                    reason,
                });
            }
        }
    }
    errors.sort_by_key(|e| e.line);

    let (mut imported, mut already_present) = (0, 0);
    if import.commit {
        for (row, new) in &ready {
            let inserted = app
                .store
                .insert_dose(new, |dose_id| {
                    let mut entry = caller.audit(
                        "dose.create",
                        "dose",
                        Some(dose_id.to_string()),
                        Some(id),
                        Outcome::Success,
                    );
                    entry.detail = Some(if row.unusual_amount_confirmed {
                        "imported from CSV; unusual amount confirmed".into()
                    } else {
                        "imported from CSV".into()
                    });
                    entry
                })
                .await?;
            match inserted {
                DoseInsert::Created(_) => imported += 1,
                DoseInsert::Replayed(_) | DoseInsert::KeyReused => already_present += 1,
            }
        }
        if imported > 0 {
            crate::safety::after_write(app, caller, &patient).await;
        }
    }
    let mut entry = caller.audit("dose.import", "dose", None, Some(id), Outcome::Success);
    entry.detail = Some(format!(
        "{}: {} valid rows, {} errors, {} unusual unconfirmed, {imported} written",
        if import.commit { "commit" } else { "preview" },
        ready.len(),
        errors.len(),
        unusual.len()
    ));
    app.store.append_audit(entry).await?;
    Ok(ImportOutcome {
        rows: ready.into_iter().map(|(row, _)| row).collect(),
        errors,
        unusual,
        committed: import.commit,
        imported,
        already_present,
    })
}

/// A batch the patient used recently, judged at their own intake.
#[derive(Clone, Debug)]
pub struct BatchSafety {
    pub product: Product,
    pub batch: Batch,
    /// The most the patient took of this batch on any one day in the window, g.
    pub max_grams_per_day: f64,
    pub days_used: usize,
    /// The batch's own flags plus heavy-metal limits judged at this patient's intake,
    /// most severe first.
    pub flags: Vec<QualityFlag>,
}

/// Days of use the product-safety view looks back over.
const SAFETY_WINDOW_DAYS: i64 = 14;

/// For each batch used in the last 14 days: heavy metals are judged against USP <2232>
/// daily limits at the patient's own heaviest day, since a batch that passes at 3 g/day
/// can fail at 30 g/day.
pub async fn batch_safety(
    app: &App,
    caller: &Caller,
    id: PatientId,
) -> Result<Vec<BatchSafety>, AppError> {
    let patient =
        access::patient_record(app, caller, id, PatientAction::Read, "product_safety.read").await?;
    let to = Timestamp::now()
        .to_zoned_datetime(patient.details.time_zone.to_zone())
        .date();
    let from = to
        .checked_sub(jiff::Span::new().days(SAFETY_WINDOW_DAYS - 1))
        .unwrap_or(to);
    let doses = doses_between(app, &patient, from, to, false).await?;
    let mut per_batch: BTreeMap<BatchId, BTreeMap<Date, f64>> = BTreeMap::new();
    for d in &doses {
        *per_batch
            .entry(d.batch_id)
            .or_default()
            .entry(dose::local_date(d.taken_at, &zone_named(&d.time_zone)))
            .or_default() += d.grams.unwrap_or(0.0);
    }
    let mut judged = Vec::new();
    for (batch_id, days) in per_batch {
        let (product, batch) = organization_batch(app, caller, batch_id).await?;
        let max_grams_per_day = days.values().copied().fold(0.0, f64::max);
        let mut flags = crate::products::batch_flags(app, &product, &batch);
        if let Some(assay) = &batch.assay {
            flags.extend(
                app.knowledge
                    .standards
                    .heavy_metal_flags(assay, max_grams_per_day),
            );
        }
        flags.sort_by_key(|f| std::cmp::Reverse(f.severity));
        judged.push(BatchSafety {
            product,
            batch,
            max_grams_per_day,
            days_used: days.len(),
            flags,
        });
    }
    let mut entry = caller.audit(
        "product_safety.read",
        "dose",
        None,
        Some(id),
        Outcome::Success,
    );
    entry.detail = Some(format!("{} batches", judged.len()));
    app.store.append_audit(entry).await?;
    Ok(judged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dose_fingerprint_reads_the_input_as_the_api_sent_it() {
        // The JSON the API's request serialized to before the use case moved here: keys
        // already stored with their hashes keep matching their retries.
        let input = DoseInput {
            taken_at: Some("2026-11-24T21:30:00-06:00".into()),
            batch_id: BatchId::from_uuid(uuid::Uuid::nil()),
            amount: AmountInput::Text("1,5".into()),
            unit: "g".into(),
            contexts: vec!["pain".into()],
            note: None,
            confirm_backdated: false,
            time_zone: None,
            confirm_unusual_amount: false,
        };
        assert_eq!(
            serde_json::to_string(&input).unwrap(),
            r#"{"taken_at":"2026-11-24T21:30:00-06:00","batch_id":"00000000-0000-0000-0000-000000000000","amount":"1,5","unit":"g","contexts":["pain"],"note":null,"confirm_backdated":false,"time_zone":null}"#
        );
        let confirmed = DoseInput {
            confirm_unusual_amount: true,
            ..input
        };
        assert!(
            serde_json::to_string(&confirmed)
                .unwrap()
                .ends_with(r#""time_zone":null,"confirm_unusual_amount":true}"#)
        );
    }

    #[test]
    fn milligrams_read_whole_above_ten_and_to_a_decimal_below() {
        assert_eq!(mg_text(292.4), "292");
        assert_eq!(mg_text(5.24), "5.2");
    }

    #[test]
    fn a_reason_is_required_and_bounded() {
        assert_eq!(reason("  entered twice ").unwrap(), "entered twice");
        assert!(reason("   ").is_err());
        assert!(reason(&"x".repeat(501)).is_err());
    }
}
