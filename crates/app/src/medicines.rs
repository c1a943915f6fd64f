//! Medicine knowledge as an organization sees it: the shipped lexicon and interaction
//! table with the organization's own rows (curated on `/admin/knowledge`, audited), the
//! resolver the medication forms use, and the start-up data migrations (entries made before
//! the lexicon, and the retired free-text "Other medications" field).

use std::sync::Arc;

use jiff::Timestamp;
use speciosa_core::audit::{AuditEntry, Outcome};
use speciosa_core::ids::OrganizationId;
use speciosa_core::medication::{MedicationEntry, MedicationFields};
use speciosa_core::medicines::{
    InteractionRow, LexiconEntry, MedicineKnowledge, MedicinesError, Resolution, split_free_text,
};
use speciosa_core::policy::OrganizationAction;
use speciosa_store::{KnowledgeOverride, Medication};

use crate::{App, AppError, Caller, access};

pub const LEXICON: &str = "lexicon";
pub const INTERACTION: &str = "interaction";

/// The knowledge the organization's patients are checked against: the shipped files with
/// the organization's overrides. An override that no longer fits the shipped files (a
/// name now shipped for another ingredient) is logged and left out rather than blocking
/// every medication page.
pub async fn knowledge_for(
    app: &App,
    organization: OrganizationId,
) -> Result<Arc<MedicineKnowledge>, speciosa_store::StoreError> {
    let overrides = app.store.current_knowledge_overrides(organization).await?;
    Ok(knowledge_from(app, organization, &overrides))
}

/// As [`knowledge_for`], from overrides already read (the rules read them once for both
/// the medicines and the legal dataset).
pub(crate) fn knowledge_from(
    app: &App,
    organization: OrganizationId,
    overrides: &[KnowledgeOverride],
) -> Arc<MedicineKnowledge> {
    if !overrides
        .iter()
        .any(|o| o.kind == LEXICON || o.kind == INTERACTION)
    {
        return app.knowledge.medicines.clone();
    }
    let (entries, rows) = decode(overrides);
    match app.knowledge.medicines.with_overrides(&entries, &rows) {
        Ok(merged) => Arc::new(merged),
        Err(error) => {
            tracing::warn!(%organization, %error, "an organization's medicine overrides do not fit the shipped data; using the shipped data");
            app.knowledge.medicines.clone()
        }
    }
}

fn decode(overrides: &[KnowledgeOverride]) -> (Vec<LexiconEntry>, Vec<InteractionRow>) {
    let mut entries = Vec::new();
    let mut rows = Vec::new();
    for o in overrides {
        match o.kind.as_str() {
            LEXICON => match serde_json::from_str(&o.body) {
                Ok(entry) => entries.push(entry),
                Err(error) => tracing::warn!(key = %o.key, %error, "unreadable lexicon override"),
            },
            INTERACTION => match serde_json::from_str(&o.body) {
                Ok(row) => rows.push(row),
                Err(error) => {
                    tracing::warn!(key = %o.key, %error, "unreadable interaction override")
                }
            },
            // Legal rows are read by `legal::dataset_for`.
            _ => {}
        }
    }
    (entries, rows)
}

/// The interaction rows that apply to one listed medication.
pub fn rows_for(knowledge: &MedicineKnowledge, medication: &Medication) -> Vec<InteractionRow> {
    knowledge.rows_for(medication.ingredient.as_deref(), medication.class)
}

/// What the caller's organization's lexicon makes of a typed name (the confirm step).
/// Reads no patient data.
pub async fn resolve_name(app: &App, caller: &Caller, name: &str) -> Result<Resolution, AppError> {
    let knowledge = knowledge_for(app, caller.actor.organization_id).await?;
    Ok(knowledge.resolve(name))
}

/// The curation page: shipped rows with their version, the organization's overrides in
/// force beside them, and the reverted ones.
pub struct Curation {
    pub shipped: Arc<MedicineKnowledge>,
    pub lexicon: Vec<(KnowledgeOverride, LexiconEntry)>,
    pub interactions: Vec<(KnowledgeOverride, InteractionRow)>,
    /// The organization's legal rows, beside the shipped legal dataset.
    pub legal: crate::legal::LegalCuration,
    pub reverted: Vec<KnowledgeOverride>,
}

pub(crate) async fn curate(app: &App, caller: &Caller, audit_action: &str) -> Result<(), AppError> {
    access::organization(
        app,
        caller,
        OrganizationAction::ConfigureOrganization,
        audit_action,
        "knowledge",
    )
    .await
}

/// Audited as `knowledge.read`; admins of the organization only.
pub async fn read_curation(app: &App, caller: &Caller) -> Result<Curation, AppError> {
    curate(app, caller, "knowledge.read").await?;
    let organization = caller.actor.organization_id;
    let current = app.store.current_knowledge_overrides(organization).await?;
    let mut lexicon = Vec::new();
    let mut interactions = Vec::new();
    let legal = crate::legal::curation(&app.knowledge.legal, &current);
    for o in current {
        if o.kind == crate::legal::LEGAL {
            continue;
        }
        if o.kind == LEXICON {
            if let Ok(entry) = serde_json::from_str(&o.body) {
                lexicon.push((o, entry));
            }
        } else if let Ok(row) = serde_json::from_str(&o.body) {
            interactions.push((o, row));
        }
    }
    let reverted = app.store.reverted_knowledge_overrides(organization).await?;
    app.store
        .append_audit(caller.audit("knowledge.read", "knowledge", None, None, Outcome::Success))
        .await?;
    Ok(Curation {
        shipped: app.knowledge.medicines.clone(),
        lexicon,
        interactions,
        legal,
        reverted,
    })
}

/// Checks that the organization's overrides with this one still form valid knowledge.
async fn check_fits(
    app: &App,
    organization: OrganizationId,
    entry: Option<&LexiconEntry>,
    row: Option<&InteractionRow>,
) -> Result<(), AppError> {
    let current = app.store.current_knowledge_overrides(organization).await?;
    let (mut entries, mut rows) = decode(&current);
    if let Some(entry) = entry {
        entries.retain(|e| e.ingredient != entry.ingredient);
        entries.push(entry.clone());
    }
    if let Some(row) = row {
        rows.retain(|r| r.id != row.id);
        rows.push(row.clone());
    }
    app.knowledge
        .medicines
        .with_overrides(&entries, &rows)
        .map(|_| ())
        .map_err(|error| {
            let message = match &error {
                MedicinesError::Syntax { message, .. }
                | MedicinesError::Invalid { message, .. } => message.clone(),
            };
            let field = if entry.is_some() {
                if message.contains("name") {
                    "brands"
                } else {
                    "ingredient"
                }
            } else if message.contains("drug") {
                "drug"
            } else if message.contains("source") {
                "source"
            } else if message.contains("two") {
                "mechanism"
            } else {
                "id"
            };
            AppError::field(field, message)
        })
}

pub(crate) fn reason_of(reason: &str) -> Result<String, AppError> {
    let reason = reason.split_whitespace().collect::<Vec<_>>().join(" ");
    if reason.is_empty() {
        return Err(AppError::field(
            "reason",
            "say why the clinic adds or changes this (e.g. a local brand name)",
        ));
    }
    if reason.chars().count() > 500 {
        return Err(AppError::field(
            "reason",
            "keep the reason under 500 characters",
        ));
    }
    Ok(reason)
}

/// Adds or replaces a lexicon entry for the organization. Audited as `knowledge.override`.
pub async fn save_lexicon_entry(
    app: &App,
    caller: &Caller,
    entry: &LexiconEntry,
    reason: &str,
) -> Result<(), AppError> {
    curate(app, caller, "knowledge.override").await?;
    let reason = reason_of(reason)?;
    let organization = caller.actor.organization_id;
    check_fits(app, organization, Some(entry), None).await?;
    let body = serde_json::to_string(entry)
        .map_err(|e| AppError::Defect(format!("serialising a lexicon entry: {e}")))?;
    save(app, caller, LEXICON, &entry.ingredient, &body, &reason).await
}

/// Adds or replaces an interaction row for the organization. Audited as `knowledge.override`.
pub async fn save_interaction_row(
    app: &App,
    caller: &Caller,
    row: &InteractionRow,
    reason: &str,
) -> Result<(), AppError> {
    curate(app, caller, "knowledge.override").await?;
    let reason = reason_of(reason)?;
    let organization = caller.actor.organization_id;
    check_fits(app, organization, None, Some(row)).await?;
    let body = serde_json::to_string(row)
        .map_err(|e| AppError::Defect(format!("serialising an interaction row: {e}")))?;
    save(app, caller, INTERACTION, &row.id, &body, &reason).await
}

pub(crate) async fn save(
    app: &App,
    caller: &Caller,
    kind: &str,
    key: &str,
    body: &str,
    reason: &str,
) -> Result<(), AppError> {
    let mut audit = caller.audit(
        "knowledge.override",
        "knowledge",
        Some(format!("{kind}:{key}")),
        None,
        Outcome::Success,
    );
    audit.detail = Some(format!("reason: {reason}"));
    app.store
        .save_knowledge_override(
            caller.actor.organization_id,
            kind,
            key,
            body,
            reason,
            caller.actor.user_id,
            audit,
        )
        .await?;
    Ok(())
}

/// Reverts the organization's override of `(kind, key)`; the shipped version (if any)
/// applies again. Audited as `knowledge.revert`.
pub async fn revert_override(
    app: &App,
    caller: &Caller,
    kind: &str,
    key: &str,
) -> Result<(), AppError> {
    curate(app, caller, "knowledge.revert").await?;
    if kind != LEXICON && kind != INTERACTION && kind != crate::legal::LEGAL {
        return Err(AppError::NotFound("knowledge override"));
    }
    let audit = caller.audit(
        "knowledge.revert",
        "knowledge",
        Some(format!("{kind}:{key}")),
        None,
        Outcome::Success,
    );
    app.store
        .revert_knowledge_override(
            caller.actor.organization_id,
            kind,
            key,
            caller.actor.user_id,
            audit,
        )
        .await?;
    Ok(())
}

/// What the start-up data migration did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DataMigration {
    /// Entries made before the lexicon, now resolved.
    pub resolved: usize,
    /// Patients whose "Other medications" text became list entries.
    pub patients_moved: usize,
    /// The list entries made from that text.
    pub entries_moved: usize,
}

const BATCH: i64 = 500;

/// Brings older data up to the lexicon: resolves list entries made before it, and moves
/// each patient's retired free-text "Other medications" into list entries (one per
/// comma, semicolon or line; recognised or kept as typed). Idempotent: each step works only
/// on rows not yet migrated, so running it at every start costs one query each.
pub async fn migrate_data(app: &App) -> Result<DataMigration, AppError> {
    let mut report = DataMigration::default();
    loop {
        let unresolved = app.store.unresolved_medications(BATCH).await?;
        if unresolved.is_empty() {
            break;
        }
        for (id, organization, name) in unresolved {
            let knowledge = knowledge_for(app, organization).await?;
            let resolution = knowledge.resolve(&name);
            let ingredient = resolution
                .recognised
                .as_ref()
                .map(|r| r.ingredient.as_str());
            app.store
                .set_medication_resolution(
                    id,
                    ingredient,
                    resolution.recognised.is_some(),
                    resolution.strength.as_deref(),
                )
                .await?;
            report.resolved += 1;
        }
    }
    loop {
        let patients = app.store.patients_with_concomitant_text(BATCH).await?;
        if patients.is_empty() {
            break;
        }
        for (organization, patient, created_by, lines) in patients {
            let knowledge = knowledge_for(app, organization).await?;
            let today = Timestamp::now()
                .to_zoned_datetime(jiff::tz::TimeZone::UTC)
                .date();
            let entries: Vec<MedicationEntry> = split_free_text(&lines)
                .iter()
                .filter_map(|piece| entry_from_text(piece, today, &knowledge))
                .collect();
            let audit = AuditEntry {
                actor_user_id: None,
                actor_role: None,
                organization_id: Some(organization),
                action: "medication.migrate".into(),
                resource_type: "patient".into(),
                resource_id: Some(patient.to_string()),
                patient_id: Some(patient),
                outcome: Outcome::Success,
                client_addr: None,
                detail: Some(format!(
                    "{} entries from the retired \"Other medications\" text",
                    entries.len()
                )),
            };
            app.store
                .move_concomitant_to_list(organization, patient, created_by, &entries, audit)
                .await?;
            report.patients_moved += 1;
            report.entries_moved += entries.len();
        }
    }
    Ok(report)
}

/// One piece of the old text as a list entry: too long a piece keeps its start as the
/// name and the whole text (to 200 characters) as the dose text, so nothing is lost.
fn entry_from_text(
    piece: &str,
    today: jiff::civil::Date,
    knowledge: &MedicineKnowledge,
) -> Option<MedicationEntry> {
    let long = piece.chars().count() > 120;
    let name: String = if long {
        piece.chars().take(119).chain(['…']).collect()
    } else {
        piece.to_owned()
    };
    let dose: String = piece.chars().take(200).collect();
    let fields = MedicationFields {
        name: &name,
        class: "",
        dose_text: long.then_some(dose.as_str()),
        started_on: None,
        stopped_on: None,
    };
    match MedicationEntry::parse(&fields, today, knowledge) {
        Ok(entry) => Some(entry),
        Err(error) => {
            tracing::warn!(
                ?error,
                "a piece of the old medication text could not be kept"
            );
            None
        }
    }
}
