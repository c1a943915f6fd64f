//! `speciosa data check`: every data file under `data/` parsed and checked as Speciosa
//! checks it at start-up (schema, versions and dates, sources, duplicate keys), read from
//! disk so a clinic's edit is checked before it is built in.

use std::path::Path;

use speciosa_core::checkin::{CheckInDefaults, CrisisDirectory};
use speciosa_core::instrument::Instrument;
use speciosa_core::medicines::MedicineKnowledge;
use speciosa_core::quality::QualityStandards;
use speciosa_pk::model::TypicalParameters;

/// One checked file: its path under the data directory and the problem, if any.
pub struct Checked {
    pub file: String,
    pub problem: Option<String>,
}

fn read(dir: &Path, file: &str) -> Result<String, String> {
    std::fs::read_to_string(dir.join(file)).map_err(|e| format!("cannot read it: {e}"))
}

fn checked<T, E: std::fmt::Display>(
    file: &str,
    text: Result<String, String>,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Checked {
    let problem = match text {
        Ok(text) => parse(&text).err().map(|e| e.to_string()),
        Err(problem) => Some(problem),
    };
    Checked {
        file: file.to_owned(),
        problem,
    }
}

/// Checks every file Speciosa knows under `dir`.
pub fn check(dir: &Path) -> Vec<Checked> {
    let mut results = vec![
        checked(
            "product-quality.toml",
            read(dir, "product-quality.toml"),
            QualityStandards::parse,
        ),
        checked(
            "check-in.toml",
            read(dir, "check-in.toml"),
            CheckInDefaults::parse,
        ),
        checked(
            "crisis-resources.toml",
            read(dir, "crisis-resources.toml"),
            CrisisDirectory::parse,
        ),
        checked(
            "pk/typical.toml",
            read(dir, "pk/typical.toml"),
            TypicalParameters::parse,
        ),
        checked(
            "legal/status.toml",
            read(dir, "legal/status.toml"),
            speciosa_core::legal::LegalDataset::parse,
        ),
    ];
    let lexicon = read(dir, "medicines/lexicon.toml");
    let interactions = read(dir, "medicines/interactions.toml");
    let medicines = match (lexicon, interactions) {
        (Ok(lexicon), Ok(interactions)) => MedicineKnowledge::parse(&lexicon, &interactions)
            .err()
            .map(|e| e.to_string()),
        (Err(problem), _) => Some(format!("lexicon.toml: {problem}")),
        (_, Err(problem)) => Some(format!("interactions.toml: {problem}")),
    };
    results.push(Checked {
        file: "medicines/lexicon.toml + medicines/interactions.toml".into(),
        problem: medicines,
    });
    let instruments = dir.join("instruments");
    match std::fs::read_dir(&instruments) {
        Ok(entries) => {
            let mut files: Vec<String> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.ends_with(".toml"))
                .collect();
            files.sort();
            for name in files {
                let file = format!("instruments/{name}");
                results.push(checked(&file, read(dir, &file), |text| {
                    let instrument = Instrument::parse(&name, text).map_err(|e| e.to_string())?;
                    if name.trim_end_matches(".toml") != instrument.code {
                        return Err(format!(
                            "the file name does not match its code {:?}",
                            instrument.code
                        ));
                    }
                    Ok(())
                }));
            }
        }
        Err(error) => results.push(Checked {
            file: "instruments/".into(),
            problem: Some(format!("cannot read it: {error}")),
        }),
    }
    results
}
