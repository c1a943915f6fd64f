//! Reading a dose history from CSV (date, time, product, amount, unit; optionally lot,
//! contexts, note). Rows are checked one by one so every bad row can be reported with
//! its line number before anything is written. Amounts may use a decimal comma (quoted,
//! `"1,5"`, or in a file separated by semicolons, as spreadsheets in such locales save it).

use jiff::civil::{DateTime, Time};

use crate::time::{ClinicalDate, EARLIEST_CLINICAL_DATE, LATEST_DATE, TimeError};

use crate::amount::parse_amount;

/// A row that parsed; product and lot are resolved against the catalogue later.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportRow {
    /// The line in the file (the header is line 1).
    pub line: u64,
    pub taken_local: DateTime,
    pub product: String,
    pub lot: Option<String>,
    pub amount: f64,
    pub unit: String,
    pub contexts: Vec<String>,
    pub note: Option<String>,
}

/// A row that could not be read, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ImportError {
    pub line: u64,
    pub reason: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParsedImport {
    pub rows: Vec<ImportRow>,
    pub errors: Vec<ImportError>,
}

/// At most this many rows per import; larger histories can be split.
pub const MAX_ROWS: usize = 5000;

const REQUIRED: [&str; 5] = ["date", "time", "product", "amount", "unit"];

/// Parses the whole file. A missing or wrong header is one error on line 1.
pub fn parse_csv(text: &str) -> ParsedImport {
    let mut parsed = ParsedImport::default();
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter(text))
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = match reader.headers() {
        Ok(headers) => headers
            .iter()
            .map(|h| h.trim_start_matches('\u{feff}').to_ascii_lowercase())
            .collect(),
        Err(error) => {
            parsed.errors.push(ImportError {
                line: 1,
                reason: format!("the header row cannot be read: {error}"),
            });
            return parsed;
        }
    };
    let column = |name: &str| headers.iter().position(|h| h == name);
    let missing: Vec<&str> = REQUIRED
        .into_iter()
        .filter(|name| column(name).is_none())
        .collect();
    if !missing.is_empty() {
        parsed.errors.push(ImportError {
            line: 1,
            reason: format!(
                "the header must name the columns date, time, product, amount, unit (missing: {})",
                missing.join(", ")
            ),
        });
        return parsed;
    }
    let [date, time, product, amount, unit] = REQUIRED.map(|name| column(name).unwrap_or_default());
    let (lot, contexts, note) = (
        column("lot"),
        column("contexts").or(column("context")),
        column("note"),
    );

    for (index, record) in reader.records().enumerate() {
        // Counted from the byte offset: the csv crate's own line count skips blank lines.
        // A record's offset can point at blank lines before it; skip them.
        let line_of = |byte: u64| {
            let bytes = text.as_bytes();
            let mut at = (byte as usize).min(bytes.len());
            while at < bytes.len() && matches!(bytes[at], b'\n' | b'\r') {
                at += 1;
            }
            bytes[..at].iter().filter(|b| **b == b'\n').count() as u64 + 1
        };
        let line = match &record {
            Ok(r) => r.position().map(|p| line_of(p.byte())),
            Err(e) => e.position().map(|p| line_of(p.byte())),
        }
        .unwrap_or(index as u64 + 2);
        if parsed.rows.len() + parsed.errors.len() >= MAX_ROWS {
            parsed.errors.push(ImportError {
                line,
                reason: format!("at most {MAX_ROWS} rows per import; split the file"),
            });
            break;
        }
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                parsed.errors.push(ImportError {
                    line,
                    reason: format!("the row cannot be read: {error}"),
                });
                continue;
            }
        };
        if record.iter().all(str::is_empty) {
            continue;
        }
        // PostgreSQL cannot store NUL in text, so neither backend accepts it.
        if let Some(column) = record.iter().position(|cell| cell.contains('\0')) {
            let name = headers.get(column).map(String::as_str).unwrap_or("a");
            parsed.errors.push(ImportError {
                line,
                reason: format!("the {name} column contains a NUL character"),
            });
            continue;
        }
        // An unquoted decimal comma splits the amount into two columns.
        if record.iter().skip(headers.len()).any(|v| !v.is_empty()) {
            parsed.errors.push(ImportError {
                line,
                reason: "the row has more values than the header has columns; write a decimal comma inside quotes (\"1,5\"), or separate the columns with semicolons".to_owned(),
            });
            continue;
        }
        let field = |i: usize| record.get(i).unwrap_or("").trim();
        let optional = |i: Option<usize>| i.map(field).filter(|v| !v.is_empty()).map(str::to_owned);
        let mut reasons = Vec::new();
        let parsed_date = match ClinicalDate::parse(field(date)) {
            Ok(day) => Ok(day.get()),
            Err(TimeError::OutOfRange { .. }) => Err(format!(
                "date {:?} is out of range: dates must be between {EARLIEST_CLINICAL_DATE} and {LATEST_DATE}",
                field(date)
            )),
            Err(_) => Err(format!(
                "date {:?} is not a real date (YYYY-MM-DD)",
                field(date)
            )),
        };
        let parsed_time = Time::strptime("%H:%M", field(time))
            .or_else(|_| Time::strptime("%H:%M:%S", field(time)))
            .map_err(|_| {
                format!(
                    "time {:?} is not a time of day (HH:MM, 24-hour)",
                    field(time)
                )
            });
        let parsed_amount = match parse_amount(field(amount)) {
            Ok(a) if a > 0.0 => Ok(a),
            Ok(_) => Err(format!(
                "amount {:?} is not a positive number",
                field(amount)
            )),
            Err(error) => Err(format!("amount: {error}")),
        };
        if field(product).is_empty() {
            reasons.push("the product is missing".to_owned());
        }
        if field(unit).is_empty() {
            reasons.push("the unit is missing".to_owned());
        }
        let (date_value, time_value, amount_value) = (
            parsed_date.map_err(|e| reasons.push(e)).ok(),
            parsed_time.map_err(|e| reasons.push(e)).ok(),
            parsed_amount.map_err(|e| reasons.push(e)).ok(),
        );
        match (date_value, time_value, amount_value) {
            (Some(d), Some(t), Some(a)) if reasons.is_empty() => parsed.rows.push(ImportRow {
                line,
                taken_local: d.to_datetime(t),
                product: field(product).to_owned(),
                lot: optional(lot),
                amount: a,
                unit: field(unit).to_ascii_lowercase(),
                contexts: optional(contexts)
                    .map(|c| {
                        c.split(['|', ';'])
                            .map(|s| s.trim().to_ascii_lowercase())
                            .filter(|s| !s.is_empty())
                            .collect()
                    })
                    .unwrap_or_default(),
                note: optional(note),
            }),
            _ => parsed.errors.push(ImportError {
                line,
                reason: reasons.join("; "),
            }),
        }
    }
    parsed
}

/// Semicolons when the header row uses them and no commas: the way spreadsheets save
/// CSV where the comma is the decimal mark.
fn delimiter(text: &str) -> u8 {
    let header = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    if header.contains(';') && !header.contains(',') {
        b';'
    } else {
        b','
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_rows_are_read_and_bad_rows_reported_with_their_line_numbers() {
        let csv = "Date,Time,Product,Amount,Unit,Lot,Contexts\n\
                   2026-11-01,08:30,Red Bali,3.5,g,RB-1,withdrawal_relief|pain\n\
                   2026-02-30,09:00,Red Bali,3,g,,\n\
                   2026-11-02,25:00,Red Bali,-1,g,,\n\
                   \n\
                   2026-11-03,21:45,\"Caps, green\",6,capsule,,sleep\n\
                   2026-11-04,07:00,,2,,,\n";
        let parsed = parse_csv(csv);
        assert_eq!(parsed.rows.len(), 2);
        assert_eq!(parsed.rows[0].line, 2);
        assert_eq!(parsed.rows[0].contexts, ["withdrawal_relief", "pain"]);
        assert_eq!(parsed.rows[0].lot.as_deref(), Some("RB-1"));
        assert_eq!(parsed.rows[1].product, "Caps, green");
        assert_eq!(parsed.rows[1].line, 6);
        let errors: Vec<(u64, bool)> = parsed
            .errors
            .iter()
            .map(|e| (e.line, !e.reason.is_empty()))
            .collect();
        assert_eq!(errors, [(3, true), (4, true), (7, true)]);
        assert!(
            parsed.errors[1].reason.contains("time") && parsed.errors[1].reason.contains("amount")
        );
        assert!(
            parsed.errors[2].reason.contains("product") && parsed.errors[2].reason.contains("unit")
        );
    }

    #[test]
    fn dates_outside_1990_to_2100_and_nul_characters_are_row_errors() {
        let csv = "date,time,product,amount,unit,note\n\
                   1989-12-31,08:00,Red Bali,3,g,\n\
                   2101-01-01,08:00,Red Bali,3,g,\n\
                   2026-11-01,08:00,Red Bali,3,g,a\0b\n\
                   1990-01-01,08:00,Red Bali,3,g,\n";
        let parsed = parse_csv(csv);
        assert_eq!(parsed.rows.len(), 1);
        assert_eq!(parsed.rows[0].line, 5);
        let reasons: Vec<&str> = parsed.errors.iter().map(|e| e.reason.as_str()).collect();
        assert!(reasons[0].contains("out of range"), "{reasons:?}");
        assert!(reasons[1].contains("out of range"), "{reasons:?}");
        assert_eq!(reasons[2], "the note column contains a NUL character");
    }

    #[test]
    fn a_file_without_the_required_columns_is_one_clear_error() {
        let parsed = parse_csv("when,what\n2026-11-01,kratom\n");
        assert!(parsed.rows.is_empty());
        assert_eq!(parsed.errors.len(), 1);
        assert!(
            parsed.errors[0]
                .reason
                .contains("missing: date, time, product, amount, unit")
        );
    }

    #[test]
    fn decimal_commas_are_read_when_quoted_or_in_a_semicolon_file_and_grouping_is_refused() {
        let quoted = parse_csv(
            "date,time,product,amount,unit\n\
             2026-11-01,08:30,Leaf,\"1,5\",g\n\
             2026-11-01,09:30,Leaf,\"1,500\",g\n\
             2026-11-01,10:30,Leaf,\"1.500,5\",g\n\
             2026-11-01,11:30,Leaf,1,5,g\n",
        );
        assert_eq!(quoted.rows.len(), 1, "{quoted:?}");
        assert_eq!(quoted.rows[0].amount, 1.5);
        let lines: Vec<u64> = quoted.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [3, 4, 5]);
        for error in &quoted.errors[..2] {
            assert!(
                error.reason.starts_with("amount: ")
                    && error.reason.contains("no thousands separators"),
                "{error:?}"
            );
        }
        assert!(
            quoted.errors[2]
                .reason
                .contains("decimal comma inside quotes"),
            "{:?}",
            quoted.errors[2]
        );

        let semicolons = parse_csv(
            "date;time;product;amount;unit;contexts\n\
             2026-11-01;08:30;Leaf;2,5;g;pain|sleep\n",
        );
        assert!(semicolons.errors.is_empty(), "{semicolons:?}");
        assert_eq!(semicolons.rows[0].amount, 2.5);
        assert_eq!(semicolons.rows[0].contexts, ["pain", "sleep"]);
    }
}
