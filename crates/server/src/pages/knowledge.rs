//! `/admin/knowledge`: the organization's own drug-lexicon entries and interaction rows,
//! beside the shipped versions (which never change here). Admins only; every read and
//! change is audited; a revert brings the shipped version back.

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use speciosa_app::AppError;
use speciosa_app::medicines::{self, Curation};
use speciosa_core::medication::MedicationClass;
use speciosa_core::medicines::{
    EntryFields, EvidenceGrade, InteractionRow, InteractionSeverity, LexiconEntry, Mechanism,
    RowFields,
};

use crate::app::AppState;
use crate::error::PageError;
use crate::extract::{Authenticated, PageForm, PageUser};
use crate::pages::{FormErrors, Nav, Notice, render};

const LABELS: &[(&str, &str)] = &[
    ("ingredient", "Ingredient"),
    ("class", "Class"),
    ("brands", "Brand names"),
    ("misspellings", "Misspellings"),
    ("id", "Row key"),
    ("drug", "Ingredient"),
    ("mechanism", "Mechanism"),
    ("severity", "Severity"),
    ("evidence", "Evidence"),
    ("effect", "Effect"),
    ("consider", "What to consider"),
    ("source", "Source"),
    ("reason", "Reason"),
];

/// A shipped row with the organization's override beside it, if any.
pub struct ShippedLine {
    pub key: String,
    pub text: String,
    pub overridden: Option<String>,
}

/// An override in force (also one with no shipped counterpart).
pub struct OverrideLine {
    pub kind: String,
    pub key: String,
    pub text: String,
    pub reason: String,
    pub at: String,
    pub added: bool,
}

#[derive(Deserialize, Default, Clone)]
pub struct EntryForm {
    #[serde(default)]
    pub ingredient: String,
    #[serde(default)]
    pub class: String,
    pub oud_medicine: Option<String>,
    #[serde(default)]
    pub brands: String,
    #[serde(default)]
    pub misspellings: String,
    #[serde(default)]
    pub reason: String,
}

#[derive(Deserialize, Default, Clone)]
pub struct RowForm {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub drug: String,
    #[serde(default)]
    pub class: String,
    #[serde(default)]
    pub mechanism: String,
    #[serde(default)]
    pub severity: String,
    #[serde(default)]
    pub evidence: String,
    #[serde(default)]
    pub effect: String,
    #[serde(default)]
    pub consider: String,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub reason: String,
}

#[derive(Deserialize, Default)]
pub struct RevertForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    key: String,
}

#[derive(Template)]
#[template(path = "admin_knowledge.html")]
struct KnowledgePage {
    nav: Nav,
    lexicon_version: String,
    lexicon_date: String,
    interactions_version: String,
    interactions_date: String,
    lexicon: Vec<ShippedLine>,
    rows: Vec<ShippedLine>,
    overrides: Vec<OverrideLine>,
    reverted: Vec<OverrideLine>,
    classes: Vec<String>,
    mechanisms: Vec<String>,
    severities: Vec<String>,
    evidence: Vec<String>,
    entry: EntryForm,
    entry_errors: FormErrors,
    row: RowForm,
    row_errors: FormErrors,
    notice: Option<&'static str>,
}

fn entry_text(e: &LexiconEntry) -> String {
    let mut text = format!("{} ({})", e.ingredient, e.class.as_str());
    if !e.brands.is_empty() {
        text.push_str(&format!(" · brands: {}", e.brands.join(", ")));
    }
    if !e.misspellings.is_empty() {
        text.push_str(&format!(" · misspellings: {}", e.misspellings.join(", ")));
    }
    if e.oud_medicine {
        text.push_str(" · OUD medicine");
    }
    text
}

fn row_text(r: &InteractionRow) -> String {
    format!(
        "{} · {} · {} · evidence: {} · {} Consider: {} Source: {}",
        r.subject(),
        r.mechanism.as_str(),
        r.severity.as_str(),
        r.evidence.as_str(),
        r.effect,
        r.consider,
        r.source
    )
}

#[allow(clippy::too_many_arguments)]
fn page(
    user: &Authenticated,
    curation: Curation,
    entry: EntryForm,
    entry_errors: FormErrors,
    row: RowForm,
    row_errors: FormErrors,
    notice: Option<&'static str>,
) -> Result<Response, PageError> {
    let status = entry_errors.status.max(row_errors.status);
    let shipped = &curation.shipped;
    let lexicon = shipped
        .entries()
        .iter()
        .map(|e| ShippedLine {
            key: e.ingredient.clone(),
            text: entry_text(e),
            overridden: curation
                .lexicon
                .iter()
                .find(|(_, o)| o.ingredient == e.ingredient)
                .map(|(_, o)| entry_text(o)),
        })
        .collect();
    let rows = shipped
        .rows()
        .iter()
        .map(|r| ShippedLine {
            key: r.id.clone(),
            text: row_text(r),
            overridden: curation
                .interactions
                .iter()
                .find(|(_, o)| o.id == r.id)
                .map(|(_, o)| row_text(o)),
        })
        .collect();
    let mut overrides: Vec<OverrideLine> = curation
        .lexicon
        .iter()
        .map(|(o, e)| OverrideLine {
            kind: o.kind.clone(),
            key: o.key.clone(),
            text: entry_text(e),
            reason: o.reason.clone(),
            at: o.created_at.strftime("%Y-%m-%d %H:%M UTC").to_string(),
            added: shipped.entry(&e.ingredient).is_none(),
        })
        .collect();
    overrides.extend(curation.interactions.iter().map(|(o, r)| OverrideLine {
        kind: o.kind.clone(),
        key: o.key.clone(),
        text: row_text(r),
        reason: o.reason.clone(),
        at: o.created_at.strftime("%Y-%m-%d %H:%M UTC").to_string(),
        added: shipped.row(&r.id).is_none(),
    }));
    let reverted = curation
        .reverted
        .iter()
        .map(|o| OverrideLine {
            kind: o.kind.clone(),
            key: o.key.clone(),
            text: o.body.clone(),
            reason: o.reason.clone(),
            at: o
                .reverted_at
                .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_default(),
            added: false,
        })
        .collect();
    let page = KnowledgePage {
        nav: Nav::for_user(user).at("/admin/knowledge"),
        lexicon_version: shipped.lexicon_version.clone(),
        lexicon_date: shipped.lexicon_date.to_string(),
        interactions_version: shipped.interactions_version.clone(),
        interactions_date: shipped.interactions_date.to_string(),
        lexicon,
        rows,
        overrides,
        reverted,
        classes: MedicationClass::ALL
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect(),
        mechanisms: Mechanism::ALL
            .iter()
            .map(|m| m.as_str().to_owned())
            .collect(),
        severities: InteractionSeverity::ALL
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect(),
        evidence: EvidenceGrade::ALL
            .iter()
            .map(|e| e.as_str().to_owned())
            .collect(),
        entry,
        entry_errors,
        row,
        row_errors,
        notice,
    };
    Ok((status, render(&page)?).into_response())
}

pub async fn show(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    notice: Result<Query<Notice>, QueryRejection>,
) -> Result<Response, PageError> {
    let curation = medicines::read_curation(&state.app, &user).await?;
    let notice = match Notice::read(notice).saved.as_deref() {
        Some("lexicon") => Some("Lexicon entry saved for this organization."),
        Some("interaction") => Some("Interaction row saved for this organization."),
        Some("reverted") => Some("Override reverted: the shipped version applies again."),
        _ => None,
    };
    page(
        &user,
        curation,
        EntryForm::default(),
        FormErrors::none(),
        RowForm::default(),
        FormErrors::none(),
        notice,
    )
}

async fn refused(
    state: &AppState,
    user: &Authenticated,
    error: AppError,
    entry: Option<EntryForm>,
    row: Option<RowForm>,
) -> Result<Response, PageError> {
    let errors = match error {
        AppError::Invalid(errors) => FormErrors::from_api(errors.into(), LABELS)?,
        other => return Err(other.into()),
    };
    let curation = medicines::read_curation(&state.app, user).await?;
    match (entry, row) {
        (Some(entry), _) => page(
            user,
            curation,
            entry,
            errors,
            RowForm::default(),
            FormErrors::none(),
            None,
        ),
        (None, row) => page(
            user,
            curation,
            EntryForm::default(),
            FormErrors::none(),
            row.unwrap_or_default(),
            errors,
            None,
        ),
    }
}

pub async fn save_entry(
    State(state): State<AppState>,
    submitted: PageForm<EntryForm>,
) -> Result<Response, PageError> {
    let PageForm { user, form, .. } = submitted;
    let fields = EntryFields {
        ingredient: &form.ingredient,
        class: &form.class,
        oud_medicine: form.oud_medicine.is_some(),
        brands: &form.brands,
        misspellings: &form.misspellings,
    };
    let result = match LexiconEntry::from_fields(&fields) {
        Ok(entry) => medicines::save_lexicon_entry(&state.app, &user, &entry, &form.reason).await,
        Err(errors) => Err(AppError::Invalid(errors)),
    };
    match result {
        Ok(()) => Ok(Redirect::to("/admin/knowledge?saved=lexicon").into_response()),
        Err(error) => refused(&state, &user, error, Some(form), None).await,
    }
}

pub async fn save_row(
    State(state): State<AppState>,
    submitted: PageForm<RowForm>,
) -> Result<Response, PageError> {
    let PageForm { user, form, .. } = submitted;
    let fields = RowFields {
        id: &form.id,
        drug: &form.drug,
        class: &form.class,
        mechanism: &form.mechanism,
        severity: &form.severity,
        evidence: &form.evidence,
        effect: &form.effect,
        consider: &form.consider,
        source: &form.source,
    };
    let result = match InteractionRow::from_fields(&fields) {
        Ok(row) => medicines::save_interaction_row(&state.app, &user, &row, &form.reason).await,
        Err(errors) => Err(AppError::Invalid(errors)),
    };
    match result {
        Ok(()) => Ok(Redirect::to("/admin/knowledge?saved=interaction").into_response()),
        Err(error) => refused(&state, &user, error, None, Some(form)).await,
    }
}

pub async fn revert(
    State(state): State<AppState>,
    submitted: PageForm<RevertForm>,
) -> Result<Response, PageError> {
    let PageForm { user, form, .. } = submitted;
    medicines::revert_override(&state.app, &user, &form.kind, &form.key).await?;
    Ok(Redirect::to("/admin/knowledge?saved=reverted").into_response())
}
