//! Where a page may send someone afterwards (`/login?next=`, an alert form's
//! `return_to`): only a path on this site, judged the way browsers read URLs.
//!
//! Browsers strip tabs and newlines from URLs, treat `\` as `/`, and read `//host`
//! as another site (WHATWG URL Standard, "URL parsing"); proxies and frameworks may
//! percent-decode once more. So anything that could become another origin under any
//! of those readings is refused, and the caller falls back to the role's home.

use std::fmt;

/// A same-origin absolute path (with optional query and fragment), safe for a
/// `Location` header and an HTML attribute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SafeReturnPath(String);

/// Longer than any address Speciosa makes; keeps headers and hidden fields small.
const MAX_LEN: usize = 2048;
/// Percent-decoding rounds checked: enough for double encoding by one proxy and one framework.
const DECODE_ROUNDS: usize = 3;

impl SafeReturnPath {
    /// `Some` only for a path that stays on this origin however it is decoded.
    pub fn parse(raw: &str) -> Option<Self> {
        if raw.is_empty() || raw.len() > MAX_LEN {
            return None;
        }
        // Printable ASCII only: no controls (tab, CR, LF, NUL), spaces, backslashes
        // or look-alike Unicode slashes. Every address Speciosa makes qualifies.
        if !raw.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') {
            return None;
        }
        let mut text = raw.to_owned();
        for _ in 0..=DECODE_ROUNDS {
            if !is_local_path(&text) {
                return None;
            }
            match percent_decode(&text) {
                Some(decoded) if decoded == text => break,
                Some(decoded) => text = decoded,
                // Not valid UTF-8 once decoded: nothing we made.
                None => return None,
            }
        }
        Some(Self(raw.to_owned()))
    }

    /// [`parse`](Self::parse) for an optional value, e.g. an absent query parameter.
    pub fn parse_opt(raw: Option<&str>) -> Option<Self> {
        raw.and_then(Self::parse)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SafeReturnPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One reading of the candidate: starts with a single `/` (never `//` or `/\`), and
/// its path holds only printable ASCII without backslashes, and no `.`/`..` segment
/// that a resolver could fold into a `//` prefix. (What follows `?` or `#` cannot
/// change the origin.)
fn is_local_path(text: &str) -> bool {
    let mut chars = text.chars();
    if chars.next() != Some('/') || matches!(chars.next(), Some('/' | '\\')) {
        return false;
    }
    let path = text.split(['?', '#']).next().unwrap_or(text);
    path.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
        && !path
            .split('/')
            .any(|segment| segment == "." || segment == "..")
}

/// `%XX` → byte; `None` when the result is not UTF-8. A `%` not followed by two hex
/// digits is kept as is, as browsers do.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(high), Some(low)) = (
                bytes.get(i + 1).and_then(|b| hex_value(*b)),
                bytes.get(i + 2).and_then(|b| hex_value(*b)),
            )
        {
            out.push(high * 16 + low);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_on_this_site_are_kept_exactly() {
        for path in [
            "/",
            "/roster",
            "/patients/0193a2b4-0000-7000-8000-000000000001",
            "/alerts?status=open&tab=all",
            "/patients/1/doses?from=2026-11-01&to=2026-11-07#main",
            "/products?q=red%20vein",
            "/search?q=100%",
            "/a/.well-known",
            "/a/...",
            "/patients?q=%E2%9C%93%20ok",
        ] {
            assert_eq!(
                SafeReturnPath::parse(path).map(|p| p.as_str().to_owned()),
                Some(path.to_owned()),
                "{path:?} was refused"
            );
        }
    }

    #[test]
    fn anything_that_could_leave_the_site_is_refused() {
        let hostile = [
            // Empty, relative and absolute URLs.
            "",
            "roster",
            "evil.example",
            "https://evil.example",
            "http://evil.example/x",
            "HTTPS://evil.example",
            "//evil.example",
            "//evil.example/x",
            "///evil.example",
            "////evil.example",
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox(1)",
            "mailto:x@evil.example",
            // Backslashes, which browsers read as slashes.
            "/\\evil.example",
            "\\\\evil.example",
            "\\/evil.example",
            "/\\/evil.example",
            "/x\\..\\..\\/evil.example",
            // Control characters and whitespace that browsers strip.
            "/\t/evil.example/x",
            "/\n/evil.example",
            "/\r/evil.example",
            "/\r\n/evil.example",
            "\t//evil.example",
            " //evil.example",
            "/ /evil.example",
            "/\u{0}/evil.example",
            "/\u{7f}/evil.example",
            "/\u{b}/evil.example",
            "/\u{c}/evil.example",
            "/roster\nLocation: https://evil.example",
            // Percent-encoded forms of the above.
            "/%2F%2Fevil.example",
            "/%2fevil.example",
            "/%2F/evil.example",
            "%2F%2Fevil.example",
            "/%5Cevil.example",
            "/%5cevil.example",
            "/%09/evil.example",
            "/%0A/evil.example",
            "/%0d%0a/evil.example",
            "/%00/evil.example",
            "/%20/evil.example",
            "/roster%0D%0ALocation:%20https://evil.example",
            // Double and triple encoding.
            "/%252F%252Fevil.example",
            "/%25252F%25252Fevil.example",
            "/%255Cevil.example",
            "/%2509/evil.example",
            // Dot segments that resolve into a `//` prefix.
            "/..//evil.example",
            "/.//evil.example",
            "/a/../..//evil.example",
            "/%2e%2e//evil.example",
            "/%2E%2E/%2Fevil.example",
            // Look-alike slashes and other non-ASCII.
            "/\u{ff0f}evil.example",
            "/\u{2215}evil.example",
            "/\u{3002}evil.example",
            "/\u{200b}/evil.example",
            "/%EF%BC%8Fevil.example",
            // Invalid UTF-8 once decoded.
            "/%ff%fe",
        ];
        for raw in hostile {
            assert_eq!(SafeReturnPath::parse(raw), None, "{raw:?} was accepted");
        }
    }

    #[test]
    fn overlong_addresses_are_refused() {
        let long = format!("/{}", "a".repeat(MAX_LEN));
        assert_eq!(SafeReturnPath::parse(&long), None);
        assert!(SafeReturnPath::parse(&long[..MAX_LEN]).is_some());
    }

    #[test]
    fn an_absent_value_has_no_path() {
        assert_eq!(SafeReturnPath::parse_opt(None), None);
        assert!(SafeReturnPath::parse_opt(Some("/home")).is_some());
    }
}
