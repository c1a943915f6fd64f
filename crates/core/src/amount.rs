//! Dose amounts as people type them: `1.5` and `1,5` are both one and a half. A
//! browser's number input silently drops a decimal comma ("1,5" became 15), so forms
//! send the text and it is read here. Digit grouping is refused rather than guessed:
//! "1,500" is 1.5 in Berlin and 1500 in Boston.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a typed amount could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("enter the amount taken, such as 1.5 or 1,5")]
    Empty,
    #[error(
        "{0:?} is not a number; type only the number, such as 1.5 or 1,5 (the unit is chosen separately)"
    )]
    NotANumber(String),
    #[error("amount must be a positive number")]
    Negative,
    #[error(
        "{0:?} has more than one separator; use a decimal point or comma, no thousands separators (for example 1.5, 1,5 or 1500)"
    )]
    Grouped(String),
    #[error(
        "{text:?} could mean {decimal} or {thousands}; use a decimal point or comma, no thousands separators (write {decimal} or {thousands})"
    )]
    Ambiguous {
        text: String,
        decimal: String,
        thousands: String,
    },
}

/// Longest amount text read; anything longer is not a dose someone typed.
const MAX_LENGTH: usize = 32;

/// Reads a typed amount: digits with at most one decimal mark, a point or a comma.
///
/// Refused: spaces or apostrophes between digits (`1 500`, `1'500`), more than one
/// separator (`1.500,5`, `1,500.5`, `1.2.3`), and one separator followed by exactly
/// three digits after a non-zero whole part (`1,500`, `1.500`), which reads as a
/// thousands separator in some languages and a decimal mark in others. `0,125` is not
/// ambiguous (nobody groups a leading zero) and four or more decimals cannot be grouping.
pub fn parse_amount(raw: &str) -> Result<f64, AmountError> {
    let text = raw.trim_matches(|c: char| c.is_whitespace());
    if text.is_empty() {
        return Err(AmountError::Empty);
    }
    if text.chars().count() > MAX_LENGTH {
        return Err(AmountError::NotANumber(shorten(text)));
    }
    let unsigned = match text.strip_prefix('-') {
        Some(rest) if looks_numeric(rest) => return Err(AmountError::Negative),
        _ => text,
    };
    let is_separator = |c: char| c == '.' || c == ',';
    let is_grouping_mark = |c: char| c.is_whitespace() || matches!(c, '\'' | '’' | '_');
    if !unsigned
        .chars()
        .all(|c| c.is_ascii_digit() || is_separator(c) || is_grouping_mark(c))
        || !unsigned.chars().any(|c| c.is_ascii_digit())
    {
        return Err(AmountError::NotANumber(text.to_owned()));
    }
    let separators = unsigned.chars().filter(|c| is_separator(*c)).count();
    if separators > 1 || unsigned.chars().any(is_grouping_mark) {
        return Err(AmountError::Grouped(text.to_owned()));
    }
    let (whole, fraction) = match unsigned.split_once(is_separator) {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    if let Some(fraction) = fraction {
        if fraction.is_empty() {
            return Err(AmountError::NotANumber(text.to_owned()));
        }
        if fraction.len() == 3 && whole.chars().any(|c| c != '0') {
            let whole_value = whole.trim_start_matches('0');
            return Err(AmountError::Ambiguous {
                text: text.to_owned(),
                decimal: format!("{whole_value}.{}", fraction.trim_end_matches('0'))
                    .trim_end_matches('.')
                    .to_owned(),
                thousands: format!("{whole_value}{fraction}"),
            });
        }
    }
    let canonical = match fraction {
        Some(fraction) => format!("{}.{fraction}", if whole.is_empty() { "0" } else { whole }),
        None => whole.to_owned(),
    };
    canonical
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| AmountError::NotANumber(text.to_owned()))
}

fn looks_numeric(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == ',')
}

fn shorten(text: &str) -> String {
    let mut short: String = text.chars().take(MAX_LENGTH).collect();
    short.push('…');
    short
}

/// An amount as written back into a form field, so that sending the form again
/// reads the same value: `1.125` would read as ambiguous, so it becomes `1.1250`.
pub fn input_text(amount: f64) -> String {
    let text = format!("{amount}");
    match text.split_once('.') {
        Some((whole, fraction))
            if fraction.len() == 3 && !whole.trim_start_matches('0').is_empty() =>
        {
            format!("{text}0")
        }
        _ => text,
    }
}

/// An amount from the JSON API: a number, or text as a person typed it (`"1,5"`).
#[derive(Clone, Debug, PartialEq)]
pub enum AmountInput {
    Number(f64),
    Text(String),
}

impl Default for AmountInput {
    fn default() -> Self {
        AmountInput::Number(f64::NAN)
    }
}

impl AmountInput {
    /// The amount, with text read by [`parse_amount`]. Numbers are checked later
    /// (positive, plausible) like every other amount.
    pub fn value(&self) -> Result<f64, AmountError> {
        match self {
            AmountInput::Number(value) => Ok(*value),
            AmountInput::Text(text) => parse_amount(text),
        }
    }
}

impl From<f64> for AmountInput {
    fn from(value: f64) -> Self {
        AmountInput::Number(value)
    }
}

impl Serialize for AmountInput {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            AmountInput::Number(value) => serializer.serialize_f64(*value),
            AmountInput::Text(text) => serializer.serialize_str(text),
        }
    }
}

impl<'de> Deserialize<'de> for AmountInput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AmountVisitor;

        impl Visitor<'_> for AmountVisitor {
            type Value = AmountInput;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number, or a string such as \"1.5\" or \"1,5\"")
            }

            fn visit_f64<E: de::Error>(self, value: f64) -> Result<AmountInput, E> {
                Ok(AmountInput::Number(value))
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<AmountInput, E> {
                Ok(AmountInput::Number(value as f64))
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<AmountInput, E> {
                Ok(AmountInput::Number(value as f64))
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<AmountInput, E> {
                Ok(AmountInput::Text(value.to_owned()))
            }
        }

        deserializer.deserialize_any(AmountVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decimal_comma_and_a_decimal_point_read_the_same() {
        for (text, value) in [
            ("1,5", 1.5),
            ("1.5", 1.5),
            (" 2,25 ", 2.25),
            ("0,5", 0.5),
            (",5", 0.5),
            (".5", 0.5),
            ("3", 3.0),
            ("1500", 1500.0),
            ("007", 7.0),
            ("0,125", 0.125),
            ("0.125", 0.125),
            ("1,1250", 1.125),
            ("12,5", 12.5),
        ] {
            assert_eq!(parse_amount(text), Ok(value), "{text:?}");
        }
    }

    #[test]
    fn digit_grouping_is_refused_with_a_message_about_separators() {
        for text in [
            "1 500",
            "1\u{a0}500",
            "1\u{202f}500",
            "1'500",
            "1_500",
            "1.500,5",
            "1,500.5",
            "1,000,000",
            "1.2.3",
        ] {
            let error = parse_amount(text).unwrap_err();
            assert!(
                matches!(error, AmountError::Grouped(_)),
                "{text:?}: {error:?}"
            );
            assert!(
                error.to_string().contains("no thousands separators"),
                "{error}"
            );
        }
    }

    #[test]
    fn a_separator_before_exactly_three_digits_is_ambiguous() {
        for (text, decimal, thousands) in [
            ("1,500", "1.5", "1500"),
            ("1.500", "1.5", "1500"),
            ("12,345", "12.345", "12345"),
            ("2,000", "2", "2000"),
        ] {
            let error = parse_amount(text).unwrap_err();
            assert_eq!(
                error,
                AmountError::Ambiguous {
                    text: text.into(),
                    decimal: decimal.into(),
                    thousands: thousands.into()
                }
            );
            let message = error.to_string();
            assert!(
                message.contains("use a decimal point or comma, no thousands separators")
                    && message.contains(decimal)
                    && message.contains(thousands),
                "{message}"
            );
        }
    }

    #[test]
    fn empty_negative_and_non_numeric_text_is_refused() {
        assert_eq!(parse_amount("  "), Err(AmountError::Empty));
        assert_eq!(parse_amount("-1,5"), Err(AmountError::Negative));
        for text in [
            "1,5 g", "1e3", "NaN", "inf", "abc", ",", "1,", "+1", "½", "١٫٥", "--1",
        ] {
            assert!(
                matches!(parse_amount(text), Err(AmountError::NotANumber(_))),
                "{text:?}: {:?}",
                parse_amount(text)
            );
        }
        let long = "1".repeat(40);
        assert!(matches!(
            parse_amount(&long),
            Err(AmountError::NotANumber(_))
        ));
    }

    #[test]
    fn amounts_written_back_into_a_form_read_the_same() {
        for value in [
            1.5, 2.0, 0.125, 1.125, 12.345, 0.3333, 100.0, 2.75, 1500.0, 0.05,
        ] {
            let text = input_text(value);
            assert_eq!(parse_amount(&text), Ok(value), "{value} → {text:?}");
        }
        assert_eq!(input_text(1.125), "1.1250");
        assert_eq!(input_text(2.5), "2.5");
    }

    #[test]
    fn the_api_takes_a_number_or_text() {
        let number: AmountInput = serde_json::from_str("3.5").unwrap();
        assert_eq!(number.value(), Ok(3.5));
        let integer: AmountInput = serde_json::from_str("6").unwrap();
        assert_eq!(integer.value(), Ok(6.0));
        let text: AmountInput = serde_json::from_str("\"1,5\"").unwrap();
        assert_eq!(text.value(), Ok(1.5));
        let grouped: AmountInput = serde_json::from_str("\"1,500\"").unwrap();
        assert!(grouped.value().is_err());
        let wrong = serde_json::from_str::<AmountInput>("true").unwrap_err();
        assert!(
            wrong.to_string().contains("a number, or a string"),
            "{wrong}"
        );
        assert_eq!(serde_json::to_string(&number).unwrap(), "3.5");
        assert_eq!(serde_json::to_string(&text).unwrap(), "\"1,5\"");
    }
}
