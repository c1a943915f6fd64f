//! Kratom's legal status where a patient lives: the bundled, cited dataset
//! (`data/legal/status.toml`, read by `speciosa_core::legal`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use jiff::civil::Date;
use speciosa_core::FieldErrors;
use speciosa_core::ids::OrganizationId;
use speciosa_core::legal::clinic::{ClinicRule, ClinicRuleFields};
use speciosa_core::legal::{
    LegalAnswer, LegalDataError, LegalDataset, ProductScopeFacts, RuleOrigin, SubstanceScope,
};
use speciosa_core::quality::QualityFlag;
use speciosa_store::{Batch, KnowledgeOverride, Product, StoreError};
use uuid::Uuid;

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
    caller: &Caller,
    jurisdiction: &str,
    date: Date,
) -> Result<LegalAnswer, AppError> {
    dataset_for(app, caller.actor.organization_id)
        .await?
        .rules_in_force(jurisdiction, date)
        .ok_or(AppError::NotFound("jurisdiction"))
}

/// Organizations' merged datasets, each with the ids of the overrides it was built from:
/// a save or a revert changes the ids, so the next read rebuilds it.
#[derive(Debug, Default)]
pub struct DatasetCache(Mutex<HashMap<OrganizationId, Built>>);

/// A merged dataset and the ids of the overrides it was built from.
type Built = (Vec<Uuid>, Arc<LegalDataset>);

/// The legal dataset an organization's patients are checked against: the shipped file
/// with the organization's own rows (curated on `/admin/knowledge`, audited). Costs one
/// indexed read of the organization's current overrides; the merge is cached.
pub async fn dataset_for(
    app: &App,
    organization: OrganizationId,
) -> Result<Arc<LegalDataset>, StoreError> {
    let overrides = app.store.current_knowledge_overrides(organization).await?;
    Ok(dataset_from(app, organization, &overrides))
}

/// As [`dataset_for`], from the organization's overrides already read.
pub(crate) fn dataset_from(
    app: &App,
    organization: OrganizationId,
    overrides: &[KnowledgeOverride],
) -> Arc<LegalDataset> {
    let overrides: Vec<&KnowledgeOverride> = overrides.iter().filter(|o| o.kind == LEGAL).collect();
    if overrides.is_empty() {
        return app.knowledge.legal.clone();
    }
    let ids: Vec<Uuid> = overrides.iter().map(|o| o.id).collect();
    let cache = &app.knowledge.legal_by_organization.0;
    if let Some((built_from, dataset)) = cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&organization)
        && *built_from == ids
    {
        return dataset.clone();
    }
    let owned: Vec<KnowledgeOverride> = overrides.into_iter().cloned().collect();
    let (dataset, refused) = merge(&app.knowledge.legal, &decode(&owned));
    for (id, error) in refused {
        tracing::warn!(%organization, rule = %id, %error, "a clinic legal row no longer fits the shipped dataset; left out");
    }
    let dataset = Arc::new(dataset);
    cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(organization, (ids, dataset.clone()));
    dataset
}

fn decode(overrides: &[KnowledgeOverride]) -> Vec<(KnowledgeOverride, ClinicRule)> {
    overrides
        .iter()
        .filter(|o| o.kind == LEGAL)
        .filter_map(|o| match serde_json::from_str(&o.body) {
            Ok(rule) => Some((o.clone(), rule)),
            Err(error) => {
                tracing::warn!(key = %o.key, %error, "unreadable legal override");
                None
            }
        })
        .collect()
}

/// Applies the rows one at a time, so a row that no longer fits (the shipped dataset
/// changed under it) is left out alone rather than taking the others with it.
fn merge(
    shipped: &LegalDataset,
    rows: &[(KnowledgeOverride, ClinicRule)],
) -> (LegalDataset, Vec<(String, LegalDataError)>) {
    let mut merged = shipped.clone();
    let mut refused = Vec::new();
    for (_, row) in rows {
        match merged.with_clinic_rules(std::slice::from_ref(row)) {
            Ok(next) => merged = next,
            Err(error) => refused.push((row.id.clone(), error)),
        }
    }
    let applied = rows.len() - refused.len();
    if applied > 0 {
        merged.version = format!(
            "{} with {applied} clinic row{}",
            shipped.version,
            if applied == 1 { "" } else { "s" }
        );
    }
    (merged, refused)
}

pub const LEGAL: &str = "legal";

/// A rule as the organization sees it (its own row if it has one), with the documents it
/// cites, to start an override from. Reference data: admins of the organization only, as
/// the curation page is.
pub async fn rule_for_curation(
    app: &App,
    caller: &Caller,
    id: &str,
) -> Result<
    Option<(
        speciosa_core::legal::LegalRule,
        Vec<speciosa_core::legal::Source>,
    )>,
    AppError,
> {
    crate::medicines::curate(app, caller, "knowledge.read").await?;
    let dataset = dataset_for(app, caller.actor.organization_id).await?;
    Ok(dataset.rules.iter().find(|r| r.id == id).map(|rule| {
        let sources = rule
            .sources
            .iter()
            .filter_map(|link| dataset.sources.get(&link.source).cloned())
            .collect();
        (rule.clone(), sources)
    }))
}

/// The organization's legal rows for the curation page: those in force (with whether
/// they still fit the shipped dataset) and what each replaces.
pub struct LegalCuration {
    pub shipped: Arc<LegalDataset>,
    pub rows: Vec<CuratedRule>,
}

pub struct CuratedRule {
    pub row: KnowledgeOverride,
    pub rule: ClinicRule,
    /// Why the row is left out of the organization's dataset, if it is.
    pub refused: Option<String>,
    /// The shipped rule it replaces.
    pub replaces: Option<speciosa_core::legal::LegalRule>,
    /// When the row is due for re-verification (the dataset's review interval).
    pub next_review_due: Date,
}

pub(crate) fn curation(
    shipped: &Arc<LegalDataset>,
    overrides: &[KnowledgeOverride],
) -> LegalCuration {
    let rows = decode(overrides);
    let (merged, refused) = merge(shipped, &rows);
    LegalCuration {
        shipped: shipped.clone(),
        rows: rows
            .into_iter()
            .map(|(row, rule)| CuratedRule {
                refused: refused
                    .iter()
                    .find(|(id, _)| *id == rule.id)
                    .map(|(_, e)| e.to_string()),
                replaces: shipped.rules.iter().find(|r| r.id == rule.id).cloned(),
                next_review_due: merged
                    .rules
                    .iter()
                    .find(|r| r.id == rule.id && r.origin != RuleOrigin::Shipped)
                    .map(|r| r.next_review_due)
                    .unwrap_or_else(|| {
                        rule.last_verified
                            .checked_add(jiff::Span::new().days(shipped.review_interval_days))
                            .unwrap_or(rule.last_verified)
                    }),
                row,
                rule,
            })
            .collect(),
    }
}

/// Checks the curation form against the organization's dataset (so an override keeps a
/// shipped rule's place) and saves it. Audited as `knowledge.override`; admins only.
pub async fn save_clinic_rule(
    app: &App,
    caller: &Caller,
    fields: &ClinicRuleFields<'_>,
    reason: &str,
) -> Result<ClinicRule, AppError> {
    crate::medicines::curate(app, caller, "knowledge.override").await?;
    let organization = caller.actor.organization_id;
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date();
    // Every mistake at once: the form's and the reason's.
    let (rule, reason) = match (
        ClinicRule::from_fields(fields, &app.knowledge.legal, today),
        crate::medicines::reason_of(reason),
    ) {
        (Ok(rule), Ok(reason)) => (rule, reason),
        (rule, reason) => {
            let mut errors = rule.err().unwrap_or_default();
            if let Err(AppError::Invalid(more)) = reason {
                errors.errors.extend(more.errors);
            }
            return Err(AppError::Invalid(errors));
        }
    };
    // The organization's other rows plus this one must still fit the shipped dataset.
    let current = app.store.current_knowledge_overrides(organization).await?;
    let mut rows: Vec<ClinicRule> = decode(&current)
        .into_iter()
        .map(|(_, r)| r)
        .filter(|r| r.id != rule.id)
        .collect();
    rows.push(rule.clone());
    app.knowledge
        .legal
        .with_clinic_rules(&rows)
        .map_err(|error| AppError::field("substance_scope", error.to_string()))?;
    let body = serde_json::to_string(&rule)
        .map_err(|e| AppError::Defect(format!("serialising a legal rule: {e}")))?;
    crate::medicines::save(app, caller, LEGAL, &rule.id, &body, &reason).await?;
    Ok(rule)
}

/// What applies where a patient lives today, for their record (the caller has already
/// been allowed to read the patient); `None` without a jurisdiction the dataset knows.
pub async fn for_patient(
    app: &App,
    patient: &speciosa_store::Patient,
) -> Result<Option<LegalAnswer>, AppError> {
    let Some(code) = patient
        .details
        .jurisdiction
        .as_ref()
        .map(|j| j.code().to_owned())
    else {
        return Ok(None);
    };
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(patient.details.time_zone.to_zone())
        .date();
    let dataset = dataset_for(app, patient.organization_id).await?;
    Ok(dataset
        .resolve_patient(&code)
        .and_then(|known| dataset.rules_in_force(&known.id, today)))
}

/// The legal scopes a batch falls under: concentrated 7-OH when its product usually
/// carries it (tablet, liquid, labelled 7-OH) or its flags say enriched; pseudoindoxyl
/// when assayed; extract for anything but leaf powder and capsules.
pub fn product_scopes(
    product: &Product,
    batch: &Batch,
    flags: &[QualityFlag],
) -> Vec<SubstanceScope> {
    let facts = product.details.facts();
    let flagged = |code: &str| flags.iter().any(|f| f.code == code);
    speciosa_core::legal::product_scopes(ProductScopeFacts {
        extract: !matches!(
            facts.form,
            speciosa_core::product::ProductForm::LeafPowder
                | speciosa_core::product::ProductForm::Capsule
        ),
        concentrated_hydroxy: facts.usually_concentrated_hydroxy()
            || flagged("hydroxy_over_0_04pct_weight")
            || flagged("hydroxy_per_serving_2mg_or_more")
            || flagged("hydroxy_fraction_over_2pct"),
        pseudoindoxyl: batch
            .assay
            .as_ref()
            .and_then(|a| a.alkaloids.mitragynine_pseudoindoxyl_mg_per_g)
            .is_some_and(|mp| mp > 0.0),
        semi_synthetic: flagged("semi_synthetic_suspected"),
    })
}
