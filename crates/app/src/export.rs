//! Export to the clinical world. FHIR R4 mapping of assessments: a QuestionnaireResponse
//! (the answers, with their provenance) and, for scored instruments, a score Observation
//! (category `survey`, LOINC-coded where the instrument has a code, `derivedFrom` the
//! response). Our own JSON, validated in tests against an independent implementation
//! (PyPI `fhir.resources`).

use serde_json::{Value, json};
use speciosa_core::account::Role;
use speciosa_core::audit::Outcome;
use speciosa_core::ids::{AssessmentId, PatientId};
use speciosa_core::instrument::{Answer, EntryKind, Instrument, Response as ItemResponse};
use speciosa_core::policy::PatientAction;
use speciosa_store::Assessment;
use uuid::Uuid;

use crate::{App, AppError, Caller, access};

/// One assessment as a FHIR R4 Bundle (its QuestionnaireResponse and score Observation),
/// audited as `assessment.fhir`.
pub async fn assessment_fhir(
    app: &App,
    caller: &Caller,
    id: PatientId,
    assessment_id: AssessmentId,
) -> Result<Value, AppError> {
    access::patient(app, caller, id, PatientAction::Read, "assessment.fhir").await?;
    let assessment = app
        .store
        .get_assessment(assessment_id)
        .await?
        .filter(|a| a.patient_id == id)
        .ok_or(AppError::NotFound("assessment"))?;
    let instrument = app
        .knowledge
        .instruments
        .get(&assessment.instrument)
        .ok_or(AppError::NotFound("instrument"))?;
    let author = match app.store.get_user(assessment.entered_by).await? {
        Some(entered_by) if entered_by.role == Role::Patient => {
            json!({"reference": format!("Patient/{id}")})
        }
        Some(entered_by) => {
            json!({"reference": format!("Practitioner/{}", entered_by.id), "display": entered_by.display_name})
        }
        None => json!({"display": "unknown"}),
    };
    let bundle = assessment_bundle(instrument, &assessment, author);
    app.store
        .append_audit(caller.audit(
            "assessment.fhir",
            "assessment",
            Some(assessment_id.to_string()),
            Some(id),
            Outcome::Success,
        ))
        .await?;
    Ok(bundle)
}

const LOINC: &str = "http://loinc.org";

fn instrument_system(instrument: &Instrument) -> String {
    format!("urn:speciosa:instrument:{}", instrument.code)
}

/// The answer to one item as a FHIR `QuestionnaireResponse.item.answer` value.
fn answer_value(instrument: &Instrument, item_id: &str, answer: &Answer) -> Value {
    let item = instrument.item(item_id);
    match (item.map(|i| &i.response), answer) {
        (Some(ItemResponse::Options(options)), Answer::Number(value)) => {
            let display = options
                .iter()
                .find(|o| o.value == *value)
                .map(|o| o.label.clone())
                .unwrap_or_default();
            json!({"valueCoding": {
                "system": format!("{}:item:{item_id}", instrument_system(instrument)),
                "code": format_number(*value),
                "display": display,
            }})
        }
        (Some(ItemResponse::Entry(EntryKind::ClockTime)), Answer::Text(text)) => {
            json!({"valueTime": format!("{}:00", text.trim())})
        }
        (Some(ItemResponse::Entry(EntryKind::Text)), Answer::Text(text)) => {
            json!({"valueString": text})
        }
        (_, Answer::Number(value)) if value.fract() == 0.0 => {
            json!({"valueInteger": *value as i64})
        }
        (_, Answer::Number(value)) => json!({"valueDecimal": value}),
        (_, Answer::Text(text)) => json!({"valueString": text}),
    }
}

fn format_number(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        value.to_string()
    }
}

/// The assessment as a FHIR R4 `collection` Bundle.
fn assessment_bundle(instrument: &Instrument, assessment: &Assessment, author: Value) -> Value {
    let response_id = assessment.id.as_uuid();
    let patient = json!({"reference": format!("Patient/{}", assessment.patient_id)});
    let questionnaire = match instrument.loinc.as_ref().and_then(|l| l.panel.as_ref()) {
        Some(panel) => format!("http://loinc.org/q/{panel}"),
        None => instrument_system(instrument),
    };
    let items: Vec<Value> = instrument
        .items
        .iter()
        .filter_map(|item| {
            let answer = assessment.answers.get(&item.id)?;
            Some(json!({"linkId": item.id, "text": item.text, "answer": [answer_value(instrument, &item.id, answer)]}))
        })
        .collect();
    let mut entries = vec![json!({
        "fullUrl": format!("urn:uuid:{response_id}"),
        "resource": {
            "resourceType": "QuestionnaireResponse",
            "id": response_id.to_string(),
            "questionnaire": questionnaire,
            "status": "completed",
            "subject": patient,
            "authored": assessment.completed_at.to_string(),
            "author": author,
            "item": items,
        }
    })];
    if let Some(total) = assessment.total {
        let observation_id = Uuid::now_v7();
        let code = match instrument.loinc.as_ref().and_then(|l| l.total.as_ref()) {
            Some(loinc) => {
                json!({"coding": [{"system": LOINC, "code": loinc, "display": format!("{} total score", instrument.short_name)}], "text": format!("{} total score", instrument.short_name)})
            }
            None => {
                json!({"coding": [{"system": instrument_system(instrument), "code": "total", "display": format!("{} total score", instrument.short_name)}], "text": format!("{} total score", instrument.short_name)})
            }
        };
        let mut observation = json!({
            "resourceType": "Observation",
            "id": observation_id.to_string(),
            "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "survey", "display": "Survey"}]}],
            "code": code,
            "subject": patient,
            "effectiveDateTime": assessment.completed_at.to_string(),
            "valueQuantity": {"value": total, "unit": "{score}", "system": "http://unitsofmeasure.org", "code": "{score}"},
            "derivedFrom": [{"reference": format!("urn:uuid:{response_id}")}],
        });
        if let Some(band) = assessment
            .band
            .as_ref()
            .and_then(|code| instrument.bands.iter().find(|b| &b.code == code))
        {
            observation["interpretation"] = json!([{"coding": [{"system": format!("{}:band", instrument_system(instrument)), "code": band.code, "display": band.label}], "text": band.label}]);
        }
        entries.push(
            json!({"fullUrl": format!("urn:uuid:{observation_id}"), "resource": observation}),
        );
    }
    json!({"resourceType": "Bundle", "type": "collection", "timestamp": jiff::Timestamp::now().to_string(), "entry": entries})
}
