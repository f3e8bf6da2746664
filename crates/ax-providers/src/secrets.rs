//! Secret masking for text that came from an upstream: the one function every provider
//! kind uses before an upstream's words reach a client, a log row, a log line or the
//! admin API.
//!
//! The first line of defence is the provider's own configured key: an upstream that
//! echoes the `Authorization`, `x-api-key` or `x-goog-api-key` header it got (or the
//! key in a URL) shows exactly that value, whatever its shape — Azure hex keys, Groq
//! `gsk_…` keys, vLLM tokens — so the value itself is replaced, also percent-encoded
//! and also when an upstream cut it short at the end of its message. The second line
//! is shape-based: `sk-…`, `gsk_…` and `AIza…` keys and `Bearer`/`Basic` credentials
//! are masked even when they are not ours (a proxy in between echoing its own key).
//! Shape alone was rejected as the only defence: most keys have no recognisable shape.
//!
//! Invariant (tested by a property): after [`mask_secrets`], no configured secret of
//! one byte or more occurs in the result, as long as it contains no `*` (the mask).

use std::fmt::{self, Write as _};
use std::sync::Arc;

use ax_core::GatewayError;
use bytes::Bytes;
use secrecy::{ExposeSecret, SecretString};

/// What a masked secret is replaced with.
pub const MASK: &str = "***";

/// The longest upstream text copied into an error message.
pub(crate) const MAX_MESSAGE: usize = 1000;

/// The shortest token masked after `Bearer ` or `Basic `.
const MIN_SCHEME_TOKEN: usize = 8;

/// The shortest tail of a message that is masked as a cut-off secret.
const MIN_PARTIAL: usize = 4;

/// Returns `text` with every value in `secrets` masked (exactly, percent-encoded, and a
/// cut-off start of one at the very end of `text`), then every credential-shaped token
/// (`sk-…`, `gsk_…`, `AIza…`, `Bearer …`, `Basic …`). Empty secrets are ignored; short
/// ones are still masked wherever they occur exactly.
pub fn mask_secrets(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    let mut by_length: Vec<&str> = secrets.iter().copied().filter(|s| !s.is_empty()).collect();
    // The longest first, so a key that contains another is masked whole.
    by_length.sort_unstable_by_key(|s| std::cmp::Reverse(s.len()));
    for secret in &by_length {
        replace_all(&mut out, secret);
        let encoded = percent_encode(secret);
        if encoded != *secret {
            replace_all(&mut out, &encoded);
        }
    }
    for secret in &by_length {
        mask_cut_off(&mut out, secret);
    }
    mask_shapes(&out)
}

/// Shape-based masking and a bound on the length: for upstream text decoded by a
/// protocol module, which does not know the provider's key (the HTTP client masks that
/// afterwards with [`Secrets::scrub`]).
pub(crate) fn clean_upstream_text(text: &str) -> String {
    bound(mask_shapes(text))
}

/// Cuts `text` to [`MAX_MESSAGE`] bytes on a char boundary, marking the cut with `…`.
fn bound(mut text: String) -> String {
    if text.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

fn replace_all(text: &mut String, needle: &str) {
    if text.contains(needle) {
        *text = text.replace(needle, MASK);
    }
}

/// A secret cut short at the end of `text` (an upstream, or our own length bound, may
/// cut a message in the middle of an echoed key): a tail of at least [`MIN_PARTIAL`]
/// bytes, before an optional `…`, that is a start of `secret`.
fn mask_cut_off(text: &mut String, secret: &str) {
    let body_len = text.strip_suffix('…').unwrap_or(text).len();
    let longest = secret.len().saturating_sub(1).min(body_len);
    for n in (MIN_PARTIAL..=longest).rev() {
        let start = body_len - n;
        if text.is_char_boundary(start)
            && secret.is_char_boundary(n)
            && text[start..body_len] == secret[..n]
        {
            text.replace_range(start..body_len, MASK);
            return;
        }
    }
}

/// `secret` as it would appear in a URL query or path (RFC 3986 unreserved kept).
fn percent_encode(secret: &str) -> String {
    percent_encode_bytes(secret.as_bytes())
}

fn percent_encode_bytes(secret: &[u8]) -> String {
    let mut out = String::with_capacity(secret.len());
    for &b in secret {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Prefixes after which the rest of the token is a credential. `word` prefixes must
/// start a word (so `task-list` keeps its `sk-`); scheme prefixes match any case and
/// only before a token of [`MIN_SCHEME_TOKEN`] bytes or more (so prose such as "Bearer
/// token missing" is left alone).
const SHAPES: &[(&str, bool)] = &[
    ("sk-", true),
    ("gsk_", true),
    ("AIza", true),
    ("bearer ", false),
    ("basic ", false),
];

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | '+' | '/' | '=' | '*')
}

/// Masks the token after every credential-shaped prefix, keeping the prefix.
fn mask_shapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let bytes = text.as_bytes();
    while i < text.len() {
        let at_word_start = i == 0 || !text[..i].ends_with(|c: char| c.is_ascii_alphanumeric());
        let hit = SHAPES.iter().find_map(|&(prefix, word)| {
            let end = i + prefix.len();
            let candidate = bytes.get(i..end)?;
            let matches = at_word_start
                && if word {
                    candidate == prefix.as_bytes()
                } else {
                    candidate.eq_ignore_ascii_case(prefix.as_bytes())
                };
            if !matches {
                return None;
            }
            let token_len = text[end..]
                .find(|c: char| !is_token_char(c))
                .unwrap_or(text.len() - end);
            let long_enough = if word {
                token_len > 0
            } else {
                token_len >= MIN_SCHEME_TOKEN
            };
            long_enough.then_some((end, token_len))
        });
        match hit {
            Some((end, token_len)) => {
                out.push_str(&text[i..end]);
                out.push_str(MASK);
                i = end + token_len;
            }
            None => {
                // `i` is always on a char boundary: it moves by whole chars or prefixes.
                let c = text[i..].chars().next().unwrap_or_default();
                out.push(c);
                i += c.len_utf8().max(1);
            }
        }
    }
    out
}

/// The secrets of one provider (its API key), kept secret, and applied to every error
/// its upstream produces. Cheap to clone.
#[derive(Clone, Default)]
pub struct Secrets(Arc<[SecretString]>);

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secrets([redacted; {}])", self.0.len())
    }
}

impl Secrets {
    /// The non-empty values of `secrets`.
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a SecretString>) -> Self {
        Self(
            secrets
                .into_iter()
                .filter(|s| !s.expose_secret().is_empty())
                .cloned()
                .collect(),
        )
    }

    /// [`mask_secrets`] with these secrets.
    pub fn mask(&self, text: &str) -> String {
        let values: Vec<&str> = self.0.iter().map(|s| s.expose_secret()).collect();
        mask_secrets(text, &values)
    }

    /// An upstream body with these secrets masked (as [`mask_secrets`], read as UTF-8
    /// with invalid bytes replaced); the body itself when none of them occurs.
    pub(crate) fn mask_body(&self, body: Bytes) -> Bytes {
        let found = self.0.iter().any(|s| {
            let s = s.expose_secret().as_bytes();
            memchr::memmem::find(&body, s).is_some()
                || memchr::memmem::find(&body, percent_encode_bytes(s).as_bytes()).is_some()
        });
        if found {
            Bytes::from(self.mask(&String::from_utf8_lossy(&body)))
        } else {
            body
        }
    }

    /// `error` with its message and parameter masked and bounded.
    pub fn scrub(&self, mut error: GatewayError) -> GatewayError {
        error.message = bound(self.mask(&error.message));
        if let Some(p) = error.param.take() {
            error.param = Some(self.mask(&p));
        }
        error
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn configured_keys_of_any_shape_are_masked() {
        let keys = [
            "plainTESTSECRETkey99",
            "0123456789abcdef0123456789abcdef",
            "gsk_A1b2C3",
            "tok",
        ];
        for key in keys {
            let text = format!("Invalid key {key}; Authorization: Bearer {key} (key={key})");
            let out = mask_secrets(&text, &[key]);
            assert!(!out.contains(key), "{out}");
            assert!(out.starts_with("Invalid key ***"), "{out}");
        }
    }

    #[test]
    fn percent_encoded_and_cut_off_keys_are_masked() {
        let key = "a/b+c=d secret";
        let out = mask_secrets("GET /x?key=a%2Fb%2Bc%3Dd%20secret failed", &[key]);
        assert_eq!(out, "GET /x?key=*** failed");
        let out = mask_secrets("the key plainTESTSEC…", &["plainTESTSECRETkey99"]);
        assert_eq!(out, "the key ***…");
        let out = mask_secrets("the key plainTESTSEC", &["plainTESTSECRETkey99"]);
        assert_eq!(out, "the key ***");
        // A shorter tail is left alone: three letters are not a key.
        assert_eq!(mask_secrets("a pla", &["plainTEST"]), "a pla");
    }

    #[test]
    fn a_key_containing_another_is_masked_whole() {
        let out = mask_secrets("x abcdefgh y", &["abc", "abcdefgh"]);
        assert_eq!(out, "x *** y");
    }

    #[test]
    fn shaped_keys_are_masked_without_configuration() {
        let cases = [
            (
                "Incorrect API key provided: sk-proj-abc123XYZ.",
                "Incorrect API key provided: sk-***",
            ),
            (
                "invalid x-api-key sk-ant-api03-abcDEF123_x",
                "invalid x-api-key sk-***",
            ),
            (
                "API key AIzaSyA-secret_123 not valid",
                "API key AIza*** not valid",
            ),
            ("groq gsk_abcDEF123 refused", "groq gsk_*** refused"),
            ("header was Bearer abc.def-ghi", "header was Bearer ***"),
            (
                "authorization: basic dXNlcjprZXk=",
                "authorization: basic ***",
            ),
            (
                "a task-list and desk-top stay",
                "a task-list and desk-top stay",
            ),
            ("sk-", "sk-"),
            ("Bearer token missing", "Bearer token missing"),
        ];
        for (text, want) in cases {
            assert_eq!(mask_secrets(text, &[]), want, "{text}");
        }
    }

    #[test]
    fn messages_are_bounded_on_a_char_boundary() {
        let long = "é".repeat(5000);
        let out = clean_upstream_text(&long);
        assert!(out.len() <= MAX_MESSAGE + '…'.len_utf8());
        assert!(out.ends_with('…'));
    }

    #[test]
    fn a_key_cut_by_the_bound_is_masked() {
        let key = "plainTESTSECRETkey99";
        let text = format!("{}{key}", "x".repeat(MAX_MESSAGE - 10));
        let cut = clean_upstream_text(&text);
        assert!(cut.contains("plainTEST"), "the bound cut inside the key");
        let secrets = Secrets::new([&SecretString::from(key)]);
        let e = secrets.scrub(GatewayError::invalid(cut));
        assert!(!e.message.contains("plainTEST"), "{}", e.message);
    }

    #[test]
    fn bodies_are_masked_only_when_a_secret_occurs() {
        let secrets = Secrets::new([&SecretString::from("k/ey-123456")]);
        let clean = Bytes::from_static(b"{\"error\":\"nothing here\"}");
        assert_eq!(secrets.mask_body(clean.clone()).as_ptr(), clean.as_ptr());
        for body in [&b"{\"e\":\"bad k/ey-123456\"}"[..], b"?key=k%2Fey-123456 x"] {
            let out = secrets.mask_body(Bytes::copy_from_slice(body));
            let out = String::from_utf8(out.to_vec()).unwrap();
            assert!(out.contains(MASK) && !out.contains("ey-123456"), "{out}");
        }
    }

    #[test]
    fn secrets_do_not_show_in_debug_and_scrub_errors() {
        let key = SecretString::from("vllm-token-1");
        let secrets = Secrets::new([&key, &SecretString::from("")]);
        assert_eq!(format!("{secrets:?}"), "Secrets([redacted; 1])");
        let e = GatewayError::invalid("bad token vllm-token-1").with_param("vllm-token-1");
        let e = secrets.scrub(e);
        assert_eq!(e.message, "bad token ***");
        assert_eq!(e.param.as_deref(), Some("***"));
    }

    proptest! {
        #[test]
        fn a_random_key_in_random_text_never_survives(
            key in "[A-Za-z0-9_.~+/=-]{1,48}",
            before in any::<String>(),
            after in any::<String>(),
            bearer in any::<bool>(),
            encoded in any::<bool>(),
        ) {
            let shown = if encoded { percent_encode(&key) } else { key.clone() };
            let middle = if bearer { format!("Bearer {shown}") } else { shown };
            let text = format!("{before}{middle}{after}");
            let out = mask_secrets(&text, &[&key]);
            prop_assert!(!out.contains(&key), "{:?} -> {:?}", text, out);
            if key.len() > MIN_PARTIAL {
                // Also when the text is cut inside the key.
                let cut = format!("{before}{}", &key[..key.len() - 1]);
                let out = mask_secrets(&cut, &[&key]);
                prop_assert!(!out.ends_with(&key[..key.len() - 1]), "{:?}", out);
            }
        }
    }
}
