//! `/admin/knowledge`: the organization's own drug-lexicon entries and interaction rows,
//! beside the shipped versions (which never change here). Admins only; every read and
//! change is audited; a revert brings the shipped version back.

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use speciosa_app::AppError;
use speciosa_app::legal::{self, CuratedRule};
use speciosa_app::medicines::{self, Curation};
use speciosa_core::legal::clinic::ClinicRuleFields;
use speciosa_core::legal::{
    LegalAnswer, LegalRule, LegalStatus, PartialDate, RuleOrigin, Source, SourceGrade,
    SubstanceScope,
};
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
    ("rule_id", "Rule id"),
    ("jurisdiction", "Jurisdiction"),
    ("substance_scope", "Substance scope"),
    ("status", "Status"),
    ("effective_from", "In force from"),
    ("effective_to", "In force until"),
    ("min_age", "Minimum age"),
    ("max_hydroxy_mg_per_serving", "7-OH limit per serving"),
    ("max_hydroxy_percent_w_w", "7-OH limit by weight"),
    ("source_url", "Source address"),
    ("source_title", "Source title"),
    ("source_grade", "Source grade"),
    ("source_published", "Source published"),
    ("last_verified", "Verified on"),
    ("notes", "Notes"),
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

/// The legal-row form, as typed (field names as `ClinicRuleFields`).
#[derive(Deserialize, Default, Clone)]
pub struct LegalForm {
    #[serde(default)]
    pub rule_id: String,
    #[serde(default)]
    pub jurisdiction: String,
    #[serde(default)]
    pub substance_scope: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub effective_from: String,
    #[serde(default)]
    pub effective_to: String,
    #[serde(default)]
    pub min_age: String,
    #[serde(default)]
    pub max_hydroxy_mg_per_serving: String,
    #[serde(default)]
    pub max_hydroxy_percent_w_w: String,
    #[serde(default)]
    pub source_url: String,
    #[serde(default)]
    pub source_title: String,
    #[serde(default)]
    pub source_grade: String,
    #[serde(default)]
    pub source_published: String,
    #[serde(default)]
    pub last_verified: String,
    #[serde(default)]
    pub notes: String,
    #[serde(default)]
    pub reason: String,
}

impl LegalForm {
    /// The form started from a rule in force (the clinic's own row, or the shipped one),
    /// for an override. The verification date is left for the admin to fill: an override
    /// says the clinic checked the source itself.
    fn from_rule(rule: &LegalRule, sources: &[Source]) -> Self {
        let source = sources.first();
        LegalForm {
            rule_id: rule.id.clone(),
            jurisdiction: rule.jurisdiction.clone(),
            substance_scope: rule.substance_scope.as_str().to_owned(),
            status: rule.status.as_str().to_owned(),
            effective_from: rule
                .effective_from
                .as_ref()
                .map(|d| d.text.clone())
                .unwrap_or_default(),
            effective_to: rule
                .effective_to
                .as_ref()
                .map(|d| d.text.clone())
                .unwrap_or_default(),
            min_age: rule
                .conditions
                .min_age
                .map(|a| a.to_string())
                .unwrap_or_default(),
            max_hydroxy_mg_per_serving: rule
                .conditions
                .max_hydroxy_mg_per_serving
                .map(|v| v.to_string())
                .unwrap_or_default(),
            max_hydroxy_percent_w_w: rule
                .conditions
                .max_hydroxy_w_w
                .map(|f| format!("{}", (f * 100.0 * 1e6).round() / 1e6))
                .unwrap_or_default(),
            source_url: source.map(|s| s.url.clone()).unwrap_or_default(),
            source_title: source.map(|s| s.title.clone()).unwrap_or_default(),
            source_grade: source
                .map(|s| s.grade.as_str().to_owned())
                .unwrap_or_default(),
            source_published: source.and_then(|s| s.published.clone()).unwrap_or_default(),
            last_verified: String::new(),
            notes: rule.notes.clone().unwrap_or_default(),
            reason: String::new(),
        }
    }
}

/// `/admin/knowledge?legal_jurisdiction=US-TN&override_rule=…`: look a place up, and
/// start an override from one of its rules.
#[derive(Deserialize, Default)]
pub struct LegalLookup {
    legal_jurisdiction: Option<String>,
    override_rule: Option<String>,
}

/// A clinic legal row in force, beside what it replaces.
pub struct LegalLine {
    pub key: String,
    pub added: bool,
    pub summary: String,
    pub conditions: String,
    pub source_title: String,
    pub source_url: String,
    pub last_verified: String,
    pub next_review: String,
    pub stale: bool,
    pub reason: String,
    pub at: String,
    pub refused: Option<String>,
    pub replaces: Option<String>,
}

/// One rule in force in the looked-up place.
pub struct LookupRule {
    pub id: String,
    pub summary: String,
    pub origin: &'static str,
    pub sources: String,
    pub last_verified: String,
    pub stale: bool,
    /// This page, with the override form started from the rule.
    pub override_href: String,
}

pub struct LookupView {
    pub code: String,
    pub name: String,
    pub date: String,
    pub rules: Vec<LookupRule>,
    pub pending: Vec<String>,
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
    legal_version: String,
    legal_compiled: String,
    legal_rows: Vec<LegalLine>,
    lookup: Option<LookupView>,
    lookup_code: String,
    lookup_error: Option<String>,
    legal: LegalForm,
    legal_errors: FormErrors,
    scopes: Vec<(String, String)>,
    statuses: Vec<(String, String)>,
    grades: Vec<(String, String)>,
    notice: Option<&'static str>,
}

/// What the page shows besides the shipped rows: the forms as typed, their errors, and a
/// looked-up place.
#[derive(Default)]
struct Forms {
    entry: EntryForm,
    entry_errors: Option<FormErrors>,
    row: RowForm,
    row_errors: Option<FormErrors>,
    legal: LegalForm,
    legal_errors: Option<FormErrors>,
    lookup: Option<LookupView>,
    lookup_code: String,
    lookup_error: Option<String>,
}

fn rule_summary(
    jurisdiction: &str,
    scope: SubstanceScope,
    status: LegalStatus,
    from: Option<&PartialDate>,
    to: Option<&PartialDate>,
) -> String {
    let mut text = format!("{jurisdiction} · {} · {}", scope.label(), status.label());
    if let Some(from) = from {
        text.push_str(&format!(" · from {}", from.text));
    }
    if let Some(to) = to {
        text.push_str(&format!(" · until {}", to.text));
    }
    text
}

fn legal_line(rule: &CuratedRule) -> LegalLine {
    let partial = |t: &Option<String>| t.as_deref().and_then(|t| PartialDate::parse(t).ok());
    let from = partial(&rule.rule.effective_from);
    let to = partial(&rule.rule.effective_to);
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date();
    let next_review = rule.next_review_due;
    LegalLine {
        key: rule.row.key.clone(),
        added: rule.replaces.is_none(),
        summary: rule_summary(
            &rule.rule.jurisdiction,
            rule.rule.substance_scope,
            rule.rule.status,
            from.as_ref(),
            to.as_ref(),
        ),
        conditions: rule.rule.conditions.describe().join("; "),
        source_title: rule.rule.source.title.clone(),
        source_url: rule.rule.source.url.clone(),
        last_verified: rule.rule.last_verified.to_string(),
        next_review: next_review.to_string(),
        stale: next_review < today,
        reason: rule.row.reason.clone(),
        at: rule
            .row
            .created_at
            .strftime("%Y-%m-%d %H:%M UTC")
            .to_string(),
        refused: rule.refused.clone(),
        replaces: rule.replaces.as_ref().map(|r| {
            format!(
                "{} (verified {})",
                rule_summary(
                    &r.jurisdiction,
                    r.substance_scope,
                    r.status,
                    r.effective_from.as_ref(),
                    r.effective_to.as_ref()
                ),
                r.last_verified
            )
        }),
    }
}

fn lookup_view(answer: &LegalAnswer) -> LookupView {
    LookupView {
        code: answer.jurisdiction.clone(),
        name: answer.name.clone(),
        date: answer.date.to_string(),
        rules: answer
            .rules
            .iter()
            .map(|r| LookupRule {
                id: r.id.clone(),
                summary: rule_summary(
                    &r.jurisdiction,
                    r.substance_scope,
                    r.status,
                    r.effective_from.as_ref(),
                    r.effective_to.as_ref(),
                ),
                origin: match r.origin {
                    RuleOrigin::Shipped => "shipped",
                    RuleOrigin::Clinic => "your clinic's row",
                    RuleOrigin::ClinicOverride => "your clinic's override",
                },
                sources: r
                    .sources
                    .iter()
                    .map(|s| s.title.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
                last_verified: r.last_verified.to_string(),
                stale: r.stale,
                override_href: format!(
                    "/admin/knowledge?{}#legal-form-heading",
                    form_urlencoded::Serializer::new(String::new())
                        .append_pair("legal_jurisdiction", &answer.jurisdiction)
                        .append_pair("override_rule", &r.id)
                        .finish()
                ),
            })
            .collect(),
        pending: answer
            .pending_bills
            .iter()
            .map(|b| format!("{}: {}", b.jurisdiction, b.citation))
            .collect(),
    }
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

fn page(
    user: &Authenticated,
    curation: Curation,
    forms: Forms,
    notice: Option<&'static str>,
) -> Result<Response, PageError> {
    let entry_errors = forms.entry_errors.unwrap_or_else(FormErrors::none);
    let row_errors = forms.row_errors.unwrap_or_else(FormErrors::none);
    let legal_errors = forms.legal_errors.unwrap_or_else(FormErrors::none);
    let status = entry_errors
        .status
        .max(row_errors.status)
        .max(legal_errors.status);
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
        entry: forms.entry,
        entry_errors,
        row: forms.row,
        row_errors,
        legal_version: curation.legal.shipped.version.clone(),
        legal_compiled: curation.legal.shipped.compiled.to_string(),
        legal_rows: curation.legal.rows.iter().map(legal_line).collect(),
        lookup: forms.lookup,
        lookup_code: forms.lookup_code,
        lookup_error: forms.lookup_error,
        legal: forms.legal,
        legal_errors,
        scopes: SubstanceScope::ALL
            .iter()
            .map(|s| (s.as_str().to_owned(), s.label().to_owned()))
            .collect(),
        statuses: LegalStatus::ALL
            .iter()
            .map(|s| (s.as_str().to_owned(), s.label().to_owned()))
            .collect(),
        grades: SourceGrade::ALL
            .iter()
            .map(|g| (g.as_str().to_owned(), g.as_str().replace('_', " ")))
            .collect(),
        notice,
    };
    Ok((status, render(&page)?).into_response())
}

pub async fn show(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    notice: Result<Query<Notice>, QueryRejection>,
    lookup: Result<Query<LegalLookup>, QueryRejection>,
) -> Result<Response, PageError> {
    let curation = medicines::read_curation(&state.app, &user).await?;
    let notice = match Notice::read(notice).saved.as_deref() {
        Some("lexicon") => Some("Lexicon entry saved for this organization."),
        Some("interaction") => Some("Interaction row saved for this organization."),
        Some("legal") => Some(
            "Legal row saved for this organization: your patients' records, alerts and dose pages use it from now on.",
        ),
        Some("reverted") => Some("Override reverted: the shipped version applies again."),
        _ => None,
    };
    let lookup = lookup.map(|q| q.0).unwrap_or_default();
    let mut forms = Forms::default();
    if let Some(id) = lookup
        .override_rule
        .as_deref()
        .map(str::trim)
        .filter(|i| !i.is_empty())
    {
        match legal::rule_for_curation(&state.app, &user, id).await? {
            Some((rule, sources)) => forms.legal = LegalForm::from_rule(&rule, &sources),
            None => {
                forms.lookup_error = Some(format!(
                    "No rule {id:?} is in the dataset; look the place up again."
                ))
            }
        }
    }
    if let Some(code) = lookup
        .legal_jurisdiction
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        forms.lookup_code = code.to_owned();
        match legal::parse_query(Some(code), None) {
            Ok((code, date)) => match legal::legal_status(&state.app, &user, &code, date).await {
                Ok(answer) => forms.lookup = Some(lookup_view(&answer)),
                Err(AppError::NotFound(_)) => {
                    forms.lookup_error = Some(format!(
                        "{code:?} is not in the legal dataset. Codes look like US-TN, TH or US-CA:city:san-diego."
                    ))
                }
                Err(other) => return Err(other.into()),
            },
            Err(_) => {
                forms.lookup_error =
                    Some("Give a code such as US-TN, TH or US-CA:city:san-diego.".into())
            }
        }
    }
    page(&user, curation, forms, notice)
}

async fn refused(
    state: &AppState,
    user: &Authenticated,
    error: AppError,
    mut forms: Forms,
) -> Result<Response, PageError> {
    let errors = match error {
        AppError::Invalid(errors) => FormErrors::from_api(errors.into(), LABELS)?,
        other => return Err(other.into()),
    };
    if forms.legal_errors.is_some() {
        forms.legal_errors = Some(errors);
    } else if forms.row_errors.is_some() {
        forms.row_errors = Some(errors);
    } else {
        forms.entry_errors = Some(errors);
    }
    let curation = medicines::read_curation(&state.app, user).await?;
    page(user, curation, forms, None)
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
        Err(error) => {
            let forms = Forms {
                entry: form,
                entry_errors: Some(FormErrors::none()),
                ..Forms::default()
            };
            refused(&state, &user, error, forms).await
        }
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
        Err(error) => {
            let forms = Forms {
                row: form,
                row_errors: Some(FormErrors::none()),
                ..Forms::default()
            };
            refused(&state, &user, error, forms).await
        }
    }
}

pub async fn save_legal(
    State(state): State<AppState>,
    submitted: PageForm<LegalForm>,
) -> Result<Response, PageError> {
    let PageForm { user, form, .. } = submitted;
    let fields = ClinicRuleFields {
        id: &form.rule_id,
        jurisdiction: &form.jurisdiction,
        substance_scope: &form.substance_scope,
        status: &form.status,
        effective_from: &form.effective_from,
        effective_to: &form.effective_to,
        min_age: &form.min_age,
        max_hydroxy_mg_per_serving: &form.max_hydroxy_mg_per_serving,
        max_hydroxy_percent_w_w: &form.max_hydroxy_percent_w_w,
        source_url: &form.source_url,
        source_title: &form.source_title,
        source_grade: &form.source_grade,
        source_published: &form.source_published,
        last_verified: &form.last_verified,
        notes: &form.notes,
    };
    match legal::save_clinic_rule(&state.app, &user, &fields, &form.reason).await {
        Ok(_) => Ok(Redirect::to("/admin/knowledge?saved=legal#legal-heading").into_response()),
        Err(error) => {
            let forms = Forms {
                legal: form,
                legal_errors: Some(FormErrors::none()),
                ..Forms::default()
            };
            refused(&state, &user, error, forms).await
        }
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
