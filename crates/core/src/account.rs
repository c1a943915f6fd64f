//! Accounts: roles, email addresses, passwords and display names.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a user is in the clinic. The authorization policy (`crate::policy`) decides
/// what each role may reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Clinician,
    Patient,
    Researcher,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Admin,
        Role::Clinician,
        Role::Patient,
        Role::Researcher,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Clinician => "clinician",
            Role::Patient => "patient",
            Role::Researcher => "researcher",
        }
    }

    /// Staff sign out after a shorter idle time than patients, who check in from
    /// their own phones; both are configurable.
    pub fn is_staff(self) -> bool {
        !matches!(self, Role::Patient)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("role must be one of admin, clinician, patient, researcher")]
pub struct UnknownRole;

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or(UnknownRole)
    }
}

/// A syntactically valid email address, stored lower-cased so sign-in is
/// case-insensitive.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EmailError {
    #[error("email is required")]
    Empty,
    #[error("email is longer than 254 characters")]
    TooLong,
    #[error("email must look like name@example.org")]
    Malformed,
}

impl Email {
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let email = raw.trim();
        if email.is_empty() {
            return Err(EmailError::Empty);
        }
        if email.len() > 254 {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = email.rsplit_once('@').ok_or(EmailError::Malformed)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if local_ok && domain_ok {
            Ok(Self(email.to_ascii_lowercase()))
        } else {
            Err(EmailError::Malformed)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A new password, checked only for length (NIST SP 800-63B §5.1.1.2 advises
/// against composition rules; 12 is this project's minimum).
#[derive(Clone, PartialEq, Eq)]
pub struct NewPassword(String);

pub const MIN_PASSWORD_CHARS: usize = 12;
/// Bounds the work argon2 does on attacker-supplied input.
pub const MAX_PASSWORD_CHARS: usize = 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error("password must be at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("password must be at most {MAX_PASSWORD_CHARS} characters")]
    TooLong,
}

impl NewPassword {
    pub fn parse(raw: &str) -> Result<Self, PasswordError> {
        let chars = raw.chars().count();
        if chars < MIN_PASSWORD_CHARS {
            Err(PasswordError::TooShort)
        } else if chars > MAX_PASSWORD_CHARS {
            Err(PasswordError::TooLong)
        } else {
            Ok(Self(raw.to_owned()))
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(<redacted>)")
    }
}

/// A person's or organization's name as shown in the interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct DisplayName(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DisplayNameError {
    #[error("name is required")]
    Empty,
    #[error("name must be at most 200 characters")]
    TooLong,
    #[error("name must not contain control characters")]
    ControlCharacters,
}

impl DisplayName {
    pub fn parse(raw: &str) -> Result<Self, DisplayNameError> {
        let name = raw.trim();
        if name.is_empty() {
            Err(DisplayNameError::Empty)
        } else if name.chars().count() > 200 {
            Err(DisplayNameError::TooLong)
        } else if name.chars().any(char::is_control) {
            Err(DisplayNameError::ControlCharacters)
        } else {
            Ok(Self(name.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_from_their_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert_eq!("superuser".parse::<Role>(), Err(UnknownRole));
    }

    #[test]
    fn emails_on_test_domains_are_accepted_and_lower_cased() {
        let email = Email::parse(" Dana.Reyes+clinic@Demo.Speciosa.TEST ").unwrap();
        assert_eq!(email.as_str(), "dana.reyes+clinic@demo.speciosa.test");
    }

    #[test]
    fn malformed_emails_are_refused() {
        for raw in [
            "",
            "dana",
            "dana@",
            "@x.org",
            "dana@x",
            "da na@x.org",
            "dana@-x.org",
            "a..b@x.org",
        ] {
            assert!(Email::parse(raw).is_err(), "{raw:?} was accepted");
        }
    }

    #[test]
    fn passwords_shorter_than_twelve_characters_are_refused() {
        assert_eq!(
            NewPassword::parse("elevenchars"),
            Err(PasswordError::TooShort)
        );
        assert!(NewPassword::parse("twelve chars").is_ok());
        // Counted in characters, not bytes.
        assert_eq!(
            NewPassword::parse("ééééééééééé"),
            Err(PasswordError::TooShort)
        );
    }

    #[test]
    fn password_debug_output_never_shows_the_secret() {
        let password = NewPassword::parse("correct horse battery").unwrap();
        assert!(!format!("{password:?}").contains("horse"));
    }

    #[test]
    fn display_names_are_trimmed_and_must_not_be_blank() {
        assert_eq!(
            DisplayName::parse("  Dana Reyes ").unwrap().as_str(),
            "Dana Reyes"
        );
        assert_eq!(DisplayName::parse("   "), Err(DisplayNameError::Empty));
        assert_eq!(
            DisplayName::parse("a\u{7}b"),
            Err(DisplayNameError::ControlCharacters)
        );
    }
}

/// Sign-in throttling. Every password check (and every two-factor code) first takes
/// a slot for its account and its client address, atomically in the database; once
/// [`SignInThrottle::MAX_FAILURES_PER_ACCOUNT`] slots for an account, or
/// [`SignInThrottle::MAX_FAILURES_PER_ADDRESS`] for an address, were taken within
/// [`SignInThrottle::WINDOW_SECONDS`] and not given back by a success, further attempts
/// are refused without checking anything, however many arrive at once. Counting per
/// account slows guessing one password; per address slows spraying many accounts
/// (OWASP Authentication Cheat Sheet, "Protect against automated attacks").
pub struct SignInThrottle;

impl SignInThrottle {
    pub const WINDOW_SECONDS: i64 = 15 * 60;
    pub const MAX_FAILURES_PER_ACCOUNT: i64 = 5;
    pub const MAX_FAILURES_PER_ADDRESS: i64 = 20;

    pub fn is_throttled(failures_for_account: i64, failures_from_address: i64) -> bool {
        failures_for_account >= Self::MAX_FAILURES_PER_ACCOUNT
            || failures_from_address >= Self::MAX_FAILURES_PER_ADDRESS
    }
}

#[cfg(test)]
mod throttle_tests {
    use super::SignInThrottle;

    #[test]
    fn the_fifth_failure_for_an_account_or_twentieth_from_an_address_throttles() {
        assert!(!SignInThrottle::is_throttled(4, 19));
        assert!(SignInThrottle::is_throttled(5, 0));
        assert!(SignInThrottle::is_throttled(0, 20));
    }
}
