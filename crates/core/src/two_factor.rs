//! Two-factor sign-in for staff: time-based one-time codes (RFC 6238: HMAC-SHA-1,
//! 6 digits, 30-second steps, one step of clock drift either way) and one-time
//! recovery codes, stored only as hashes.

use std::fmt;

use sha2::{Digest, Sha256};
use totp_rs::{Algorithm, Builder, Secret, Totp};

/// Shown by authenticator apps beside the account.
pub const ISSUER: &str = "Speciosa";
/// RFC 6238 §4 defaults, which every authenticator app supports.
pub const STEP_SECONDS: u64 = 30;
pub const DIGITS: u8 = 6;
/// RFC 6238 §5.2 recommends at most one step of allowed drift.
pub const ALLOWED_DRIFT_STEPS: u16 = 1;
/// RFC 4226 §4 recommends a 160-bit shared secret.
pub const SECRET_BYTES: usize = 20;
/// How many recovery codes an enrolment issues.
pub const RECOVERY_CODE_COUNT: usize = 10;
/// 80 random bits each: far beyond guessing, and beyond brute-forcing their SHA-256.
pub const RECOVERY_CODE_BYTES: usize = 10;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TwoFactorError {
    #[error("the stored two-factor secret is unreadable")]
    BadSecret,
    #[error("enter the 6-digit code from your authenticator app")]
    MalformedCode,
    #[error("enter a recovery code as it was shown (20 letters and digits)")]
    MalformedRecoveryCode,
}

/// The shared TOTP secret. Never printed: `Debug` redacts it.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Vec<u8>);

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

impl TotpSecret {
    /// A secret from fresh random bytes (the caller owns the randomness).
    pub fn from_random(bytes: [u8; SECRET_BYTES]) -> Self {
        Self(bytes.to_vec())
    }

    /// The RFC 4648 base32 text stored in the database and typed into apps.
    pub fn from_base32(text: &str) -> Result<Self, TwoFactorError> {
        let secret = Secret::try_from_base32(text.trim().to_ascii_uppercase())
            .map_err(|_| TwoFactorError::BadSecret)?;
        if secret.as_bytes().len() < 16 {
            return Err(TwoFactorError::BadSecret);
        }
        Ok(Self(secret.as_bytes().to_vec()))
    }

    pub fn to_base32(&self) -> String {
        Secret::from(self.0.as_slice()).to_base32()
    }

    fn totp(&self, account: &str) -> Result<Totp, TwoFactorError> {
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(DIGITS)
            .with_skew(ALLOWED_DRIFT_STEPS)
            .with_step_duration(STEP_SECONDS)
            .with_secret(self.0.clone())
            .with_issuer(Some(ISSUER))
            .with_account_name(account.replace(':', ""))
            .build()
            .map_err(|_| TwoFactorError::BadSecret)
    }

    /// The `otpauth://totp/…` URI authenticator apps read (from a QR code or pasted).
    pub fn otpauth_uri(&self, account: &str) -> Result<String, TwoFactorError> {
        self.totp(account)?
            .to_url()
            .map_err(|_| TwoFactorError::BadSecret)
    }

    /// The time step `code` belongs to at `unix_seconds` (± one step), provided it is
    /// later than `last_used_step`: a code is accepted once (RFC 6238 §5.2).
    pub fn verify(
        &self,
        code: &TotpCode,
        unix_seconds: u64,
        last_used_step: Option<i64>,
    ) -> Option<i64> {
        let step = self
            .totp("")
            .ok()?
            .check(&code.0, unix_seconds)
            .and_then(|step| i64::try_from(step).ok())?;
        match last_used_step {
            Some(last) if step <= last => None,
            _ => Some(step),
        }
    }

    /// The code an authenticator shows at `unix_seconds`.
    pub fn code_at(&self, unix_seconds: u64) -> Result<String, TwoFactorError> {
        Ok(self.totp("")?.generate(unix_seconds).to_string())
    }
}

/// Six digits as typed (spaces allowed, as apps show `123 456`).
#[derive(Clone, PartialEq, Eq)]
pub struct TotpCode(String);

impl fmt::Debug for TotpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpCode(<redacted>)")
    }
}

impl TotpCode {
    pub fn parse(raw: &str) -> Result<Self, TwoFactorError> {
        let digits: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
        if digits.len() == usize::from(DIGITS) && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(digits))
        } else {
            Err(TwoFactorError::MalformedCode)
        }
    }
}

/// A one-time recovery code: 20 hex digits, shown as `xxxx-xxxx-xxxx-xxxx-xxxx`.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(String);

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode(<redacted>)")
    }
}

impl RecoveryCode {
    pub fn from_random(bytes: [u8; RECOVERY_CODE_BYTES]) -> Self {
        Self(hex::encode(bytes))
    }

    /// Case, spaces and dashes are ignored.
    pub fn parse(raw: &str) -> Result<Self, TwoFactorError> {
        let code: String = raw
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect::<String>()
            .to_ascii_lowercase();
        if code.len() == RECOVERY_CODE_BYTES * 2 && code.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(code))
        } else {
            Err(TwoFactorError::MalformedRecoveryCode)
        }
    }

    /// For showing once, in groups of four.
    pub fn display(&self) -> String {
        self.0
            .as_bytes()
            .chunks(4)
            .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
            .collect::<Vec<_>>()
            .join("-")
    }

    /// What is stored. The code carries 80 random bits, so a fast hash suffices.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

/// The second step of a sign-in for an account with two-factor sign-in on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecondFactor {
    Totp(TotpCode),
    Recovery(RecoveryCode),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B's SHA-1 key, "12345678901234567890".
    fn rfc_secret() -> TotpSecret {
        TotpSecret(b"12345678901234567890".to_vec())
    }

    #[test]
    fn codes_match_the_rfc_6238_test_vectors() {
        // Appendix B lists 8-digit codes; 6-digit codes are their last six digits.
        for (time, eight_digits) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
        ] {
            assert_eq!(rfc_secret().code_at(time).unwrap(), &eight_digits[2..]);
        }
    }

    #[test]
    fn a_code_from_the_step_before_or_after_is_accepted_but_not_two_away() {
        let secret = rfc_secret();
        let now = 1_234_567_890;
        let step = (now / STEP_SECONDS) as i64;
        for (offset, expected) in [
            (0, Some(step)),
            (-30, Some(step - 1)),
            (30, Some(step + 1)),
            (-60, None),
            (60, None),
        ] {
            let code =
                TotpCode::parse(&secret.code_at((now as i64 + offset) as u64).unwrap()).unwrap();
            assert_eq!(secret.verify(&code, now, None), expected, "{offset}");
        }
    }

    #[test]
    fn a_code_is_not_accepted_again_in_its_step_or_after_a_later_one() {
        let secret = rfc_secret();
        let now = 1_234_567_890;
        let code = TotpCode::parse(&secret.code_at(now).unwrap()).unwrap();
        let step = secret.verify(&code, now, None).unwrap();
        assert_eq!(secret.verify(&code, now + 1, Some(step)), None);
        assert_eq!(secret.verify(&code, now, Some(step + 1)), None);
        let next = TotpCode::parse(&secret.code_at(now + 30).unwrap()).unwrap();
        assert_eq!(secret.verify(&next, now + 30, Some(step)), Some(step + 1));
    }

    #[test]
    fn the_secret_round_trips_through_base32_and_the_uri_names_the_account() {
        let secret = TotpSecret::from_random([7; SECRET_BYTES]);
        let text = secret.to_base32();
        assert_eq!(text.len(), 32);
        assert_eq!(
            TotpSecret::from_base32(&text.to_lowercase()).unwrap(),
            secret
        );
        let uri = secret.otpauth_uri("dana@clinic.test").unwrap();
        assert!(
            uri.starts_with("otpauth://totp/Speciosa:dana%40clinic.test?"),
            "{uri}"
        );
        assert!(uri.contains(&format!("secret={text}")) && uri.contains("issuer=Speciosa"));
        assert!(!format!("{secret:?}").contains(&text));
        assert_eq!(
            TotpSecret::from_base32("not base32!"),
            Err(TwoFactorError::BadSecret)
        );
    }

    #[test]
    fn codes_are_six_digits_with_spaces_allowed() {
        assert!(TotpCode::parse("123 456").is_ok());
        for bad in ["", "12345", "1234567", "12345a", "+12345", "١٢٣٤٥٦"] {
            assert_eq!(
                TotpCode::parse(bad),
                Err(TwoFactorError::MalformedCode),
                "{bad}"
            );
        }
    }

    #[test]
    fn recovery_codes_read_back_however_they_are_typed_and_hash_stably() {
        let code = RecoveryCode::from_random([0xab; RECOVERY_CODE_BYTES]);
        let shown = code.display();
        assert_eq!(shown, "abab-abab-abab-abab-abab");
        let typed = RecoveryCode::parse(" ABAB ABAB-abab-ABAB-abab ").unwrap();
        assert_eq!(typed, code);
        assert_eq!(typed.hash(), code.hash());
        assert_eq!(code.hash().len(), 64);
        assert!(RecoveryCode::parse("abab-abab").is_err());
        assert!(RecoveryCode::parse("zzzz-abab-abab-abab-abab").is_err());
    }
}
