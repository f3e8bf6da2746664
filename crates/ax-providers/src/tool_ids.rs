//! Tool-call ids that carry what a later turn must send back, so that a client of one
//! format can hand a provider of another format its own opaque tokens again, without
//! the gateway keeping any state.
//!
//! Two things must survive a round trip through a client that has no field for them:
//! - Gemini's `thoughtSignature` on a `functionCall` part: Gemini 3 rejects a later
//!   turn whose calls come back without it ("Function call is missing a
//!   thought_signature");
//! - Anthropic `thinking` signatures (and `redacted_thinking` data) before a `tool_use`,
//!   for OpenAI Chat Completions clients: Anthropic wants them replayed before the call
//!   in the next turn, and Chat Completions only has `reasoning_content` (the text).
//!
//! Every client keeps the call id it was given (it must, to answer the call), so the
//! token rides in the id: `<id>` + `__ax` + a kind letter + `_` + a base64url payload
//! (no padding). The alphabet keeps the id inside Anthropic's `tool_use.id` pattern
//! `^[a-zA-Z0-9_-]+$`; neither Anthropic nor Chat Completions documents a length limit
//! for ids a *client* holds, and OpenAI's own 40-character limit on
//! `messages[].tool_calls[].id` only applies upstream, where ids are sent without the
//! attachment ([`base`]). Kinds:
//! - `g`: a Gemini thought signature, as its bytes (the API sends protobuf `bytes` as
//!   standard base64; it comes back in that form);
//! - `r`: reasoning blocks that preceded the call in an answer to an OpenAI client:
//!   each a signed thinking block (its text is a byte range of the answer's
//!   `reasoning_content`, which the client sends back, and its signature) or a redacted
//!   block (its data).
//!
//! An id carries at most one attachment. A mark followed by something that does not
//! decode (a client mangled the id) carries nothing, and upstreams get the text before
//! the mark, as for any id: the call and its result still match (their ids go through
//! the same function), the upstream just misses what the attachment held — what it
//! would have missed without ax's help — and nothing panics. The
//! rejected alternative was a table of call id → signature in the gateway: it breaks
//! with several replicas, restarts and eviction, and needs a store on the request path.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::Value;

/// What every attachment starts with.
const MARK: &str = "__ax";
/// Kind letter of a Gemini thought signature.
const KIND_GEMINI: u8 = b'g';
/// Kind letter of reasoning blocks.
const KIND_REASONING: u8 = b'r';

/// Block tags of a reasoning payload: the token stored as the bytes of its canonical
/// standard base64 (the usual case, a third shorter) or as its UTF-8 text.
const TAG_THINKING_B64: u8 = 0;
const TAG_THINKING_TEXT: u8 = 1;
const TAG_REDACTED_B64: u8 = 2;
const TAG_REDACTED_TEXT: u8 = 3;

/// What a tool-call id carries besides the id itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attachment {
    /// Gemini's `thoughtSignature` for the call, in standard base64 with padding.
    ThoughtSignature(String),
    /// Signed or redacted reasoning that preceded the call, for an OpenAI Chat
    /// Completions client (see [`ReasoningBlock`]).
    Reasoning(Vec<ReasoningBlock>),
}

/// One reasoning block carried in a call id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReasoningBlock {
    /// A signed thinking block whose text is the bytes `start..start + len` of the
    /// assistant message's `reasoning_content`.
    Thinking {
        /// Byte offset of the text in `reasoning_content`.
        start: usize,
        /// Byte length of the text.
        len: usize,
        /// The provider's signature, unchanged.
        signature: String,
    },
    /// A redacted thinking block (Anthropic `redacted_thinking.data`), opaque.
    Redacted {
        /// The block's data, unchanged.
        data: String,
    },
}

/// `id` with `attachment` appended. `id` itself is returned when it already carries an
/// attachment (one per id), when there is nothing to carry (no blocks), or when a
/// thought signature is not base64 (Gemini could not take it anyway).
pub fn attach(id: &str, attachment: &Attachment) -> String {
    if find_mark(id).is_some() {
        // A second one would be read as part of the first.
        return id.to_owned();
    }
    let (kind, payload) = match attachment {
        Attachment::ThoughtSignature(sig) => match signature_bytes(sig) {
            Some(bytes) if !bytes.is_empty() => (KIND_GEMINI, bytes),
            _ => return id.to_owned(),
        },
        Attachment::Reasoning(blocks) if blocks.is_empty() => return id.to_owned(),
        Attachment::Reasoning(blocks) => (KIND_REASONING, reasoning_payload(blocks)),
    };
    let mut out = String::with_capacity(id.len() + MARK.len() + 2 + payload.len() * 4 / 3 + 4);
    out.push_str(id);
    out.push_str(MARK);
    out.push(char::from(kind));
    out.push('_');
    URL_SAFE_NO_PAD.encode_string(payload, &mut out);
    out
}

/// `id` without its attachment, and the attachment. An id without one is returned
/// whole with `None`; so is the text before the mark when what follows it does not
/// decode (see the module docs).
pub fn split(id: &str) -> (&str, Option<Attachment>) {
    match find_mark(id) {
        Some((at, kind)) => (
            &id[..at],
            id.get(at + MARK.len() + 2..).and_then(|p| decode(kind, p)),
        ),
        None => (id, None),
    }
}

/// Where the first attachment mark (`__ax`, a known kind, `_`) starts, and its kind.
fn find_mark(id: &str) -> Option<(usize, u8)> {
    id.match_indices(MARK).find_map(|(at, _)| {
        match id.as_bytes().get(at + MARK.len()..at + MARK.len() + 2)? {
            [kind @ (KIND_GEMINI | KIND_REASONING), b'_'] => Some((at, *kind)),
            _ => None,
        }
    })
}

/// `id` without its attachment: what an upstream is sent (every upstream, whatever it
/// is: a signature of one provider means nothing to another, and OpenAI refuses ids
/// longer than 40 characters).
pub fn base(id: &str) -> &str {
    split(id).0
}

/// `id` without its attachment, and the Gemini thought signature it carries, if any.
pub fn thought_signature(id: &str) -> (&str, Option<String>) {
    match split(id) {
        (base, Some(Attachment::ThoughtSignature(sig))) => (base, Some(sig)),
        (base, _) => (base, None),
    }
}

/// Whether a body may hold an attachment anywhere: a cheap scan that lets the
/// same-format fast paths forward the client's bytes untouched in the usual case.
pub(crate) fn may_carry(bytes: &[u8]) -> bool {
    memchr::memmem::find(bytes, MARK.as_bytes()).is_some()
}

/// Replaces the string at `v[key]` by its [`base`]; whether it changed.
pub(crate) fn strip_field(v: &mut Value, key: &str) -> bool {
    let Some(Value::String(id)) = v.get_mut(key) else {
        return false;
    };
    let stripped = base(id).len();
    if stripped == id.len() {
        return false;
    }
    id.truncate(stripped);
    true
}

/// The bytes of a base64 signature (standard or URL-safe alphabet, padded or not).
fn signature_bytes(sig: &str) -> Option<Vec<u8>> {
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    GeneralPurpose::new(&base64::alphabet::STANDARD, config)
        .decode(sig)
        .or_else(|_| GeneralPurpose::new(&base64::alphabet::URL_SAFE, config).decode(sig))
        .ok()
}

/// The bytes of `token` when standard base64 gives `token` back exactly.
fn canonical_bytes(token: &str) -> Option<Vec<u8>> {
    let bytes = STANDARD.decode(token).ok()?;
    (STANDARD.encode(&bytes) == token).then_some(bytes)
}

fn reasoning_payload(blocks: &[ReasoningBlock]) -> Vec<u8> {
    let mut out = Vec::new();
    for block in blocks {
        let (token, range, (tag_b64, tag_text)) = match block {
            ReasoningBlock::Thinking {
                start,
                len,
                signature,
            } => (
                signature,
                Some((*start, *len)),
                (TAG_THINKING_B64, TAG_THINKING_TEXT),
            ),
            ReasoningBlock::Redacted { data } => {
                (data, None, (TAG_REDACTED_B64, TAG_REDACTED_TEXT))
            }
        };
        let (tag, bytes) = match canonical_bytes(token) {
            Some(b) => (tag_b64, b),
            None => (tag_text, token.as_bytes().to_vec()),
        };
        out.push(tag);
        if let Some((start, len)) = range {
            put_varint(&mut out, start);
            put_varint(&mut out, len);
        }
        put_varint(&mut out, bytes.len());
        out.extend_from_slice(&bytes);
    }
    out
}

fn decode(kind: u8, payload: &str) -> Option<Attachment> {
    if payload.is_empty() {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    match kind {
        KIND_GEMINI if !bytes.is_empty() => {
            Some(Attachment::ThoughtSignature(STANDARD.encode(bytes)))
        }
        KIND_REASONING => decode_reasoning(&bytes).map(Attachment::Reasoning),
        _ => None,
    }
}

fn decode_reasoning(mut bytes: &[u8]) -> Option<Vec<ReasoningBlock>> {
    let mut blocks = Vec::new();
    while let Some((&tag, rest)) = bytes.split_first() {
        bytes = rest;
        let range = match tag {
            TAG_THINKING_B64 | TAG_THINKING_TEXT => {
                let start = take_varint(&mut bytes)?;
                let len = take_varint(&mut bytes)?;
                start.checked_add(len)?;
                Some((start, len))
            }
            TAG_REDACTED_B64 | TAG_REDACTED_TEXT => None,
            _ => return None,
        };
        let n = take_varint(&mut bytes)?;
        let token_bytes = bytes.get(..n)?;
        bytes = bytes.get(n..)?;
        let token = match tag {
            TAG_THINKING_B64 | TAG_REDACTED_B64 => STANDARD.encode(token_bytes),
            _ => String::from_utf8(token_bytes.to_vec()).ok()?,
        };
        blocks.push(match range {
            Some((start, len)) => ReasoningBlock::Thinking {
                start,
                len,
                signature: token,
            },
            None => ReasoningBlock::Redacted { data: token },
        });
    }
    (!blocks.is_empty()).then_some(blocks)
}

/// LEB128.
fn put_varint(out: &mut Vec<u8>, mut v: usize) {
    loop {
        let low = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(low);
            return;
        }
        out.push(low | 0x80);
    }
}

/// LEB128, refusing values that do not fit a `usize` and encodings that never end.
fn take_varint(bytes: &mut &[u8]) -> Option<usize> {
    let mut v: usize = 0;
    let mut shift = 0u32;
    loop {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        let part = usize::from(b & 0x7f);
        if shift >= usize::BITS || (part << shift) >> shift != part {
            return None;
        }
        v |= part << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
        shift += 7;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A Gemini thought signature as the API sends it (recorded, shortened).
    const GEMINI_SIG: &str = "CiIBVKhc7vB+vaaq6rA/KC79Ts7iXagIOA4EBOyBFDpl+pxPCmcBVKhc7gYyIw6X";
    /// An Anthropic thinking signature shape (standard base64).
    const ANTHROPIC_SIG: &str = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYd";

    fn anthropic_charset(id: &str) -> bool {
        !id.is_empty()
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    }

    #[test]
    fn a_thought_signature_round_trips() {
        let sig = STANDARD.encode(b"opaque signature bytes \x00\xff\xfe");
        let id = attach("call_gx0_1f2e", &Attachment::ThoughtSignature(sig.clone()));
        assert!(id.starts_with("call_gx0_1f2e__axg_"), "{id}");
        assert!(anthropic_charset(&id), "{id}");
        assert_eq!(
            split(&id),
            (
                "call_gx0_1f2e",
                Some(Attachment::ThoughtSignature(sig.clone()))
            )
        );
        assert_eq!(thought_signature(&id), ("call_gx0_1f2e", Some(sig)));
        assert_eq!(base(&id), "call_gx0_1f2e");
    }

    #[test]
    fn url_safe_or_unpadded_signatures_come_back_as_standard_base64() {
        let sig = STANDARD.encode([0xfb_u8, 0xff, 0x01, 0x02]);
        assert_eq!(sig, "+/8BAg==");
        for given in ["-_8BAg", "-_8BAg==", "+/8BAg"] {
            let id = attach("x", &Attachment::ThoughtSignature(given.into()));
            assert_eq!(
                thought_signature(&id).1.as_deref(),
                Some("+/8BAg=="),
                "{given}"
            );
        }
    }

    #[test]
    fn ids_without_an_attachment_are_untouched() {
        for id in [
            "call_abc123",
            "toolu_01A09q90qw90lq917835lq9",
            "gmid_x1",
            "",
            "__ax",
            "a__ax",
            "a__axg",
            "a__axgame",
            "a__axq_AAAA",
            "ünïcode__ax",
        ] {
            assert_eq!(split(id), (id, None), "{id:?}");
            assert_eq!(base(id), id);
            assert_eq!(
                attach(id, &Attachment::ThoughtSignature("AAAA".into())),
                format!("{id}__axg_AAAA")
            );
        }
    }

    #[test]
    fn a_garbage_suffix_is_ignored() {
        for suffix in [
            "__axg_",
            "__axg_!!!",
            "__axg_A",                // one base64 character cannot end a payload
            "__axg_AB",               // non-canonical trailing bits
            "__axg_AAAA====",         // padding is not part of the form
            "__axr_AAAA",             // tag 0, then a truncated block
            "__axr_BQ",               // unknown tag 5
            "__axr_AP____________8P", // a varint that overflows
            "__axg_ab cd",
            "__axg_ünï",
        ] {
            let id = format!("call_1{suffix}");
            // Nothing is carried; upstreams get the id before the mark.
            assert_eq!(split(&id), ("call_1", None), "{id:?}");
            assert_eq!(base(&id), "call_1");
            // And nothing more is added to it.
            assert_eq!(
                attach(&id, &Attachment::ThoughtSignature("AAAA".into())),
                id
            );
        }
    }

    #[test]
    fn nothing_to_carry_leaves_the_id_alone() {
        assert_eq!(attach("c", &Attachment::Reasoning(Vec::new())), "c");
        assert_eq!(
            attach("c", &Attachment::ThoughtSignature("not base64!".into())),
            "c"
        );
        assert_eq!(
            attach("c", &Attachment::ThoughtSignature(String::new())),
            "c"
        );
        // One attachment per id: a second is not added.
        let once = attach("c", &Attachment::ThoughtSignature(GEMINI_SIG.into()));
        let twice = attach(
            &once,
            &Attachment::Reasoning(vec![ReasoningBlock::Redacted { data: "x".into() }]),
        );
        assert_eq!(once, twice);
    }

    #[test]
    fn reasoning_blocks_round_trip_canonical_or_not() {
        let blocks = vec![
            ReasoningBlock::Thinking {
                start: 0,
                len: 31,
                signature: ANTHROPIC_SIG.into(),
            },
            ReasoningBlock::Redacted {
                data: "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP".into(),
            },
            ReasoningBlock::Thinking {
                start: 31,
                len: 300_000,
                // Not canonical base64: kept as text.
                signature: "sig with spaces, not base64".into(),
            },
        ];
        let id = attach("toolu_01", &Attachment::Reasoning(blocks.clone()));
        assert!(id.starts_with("toolu_01__axr_"), "{id}");
        assert!(anthropic_charset(&id), "{id}");
        assert_eq!(
            split(&id),
            ("toolu_01", Some(Attachment::Reasoning(blocks)))
        );
        // Not a thought signature: Gemini gets none from it.
        assert_eq!(thought_signature(&id), ("toolu_01", None));
    }

    #[test]
    fn a_signature_as_long_as_real_ones_fits() {
        // Real signatures run to kilobytes; an id grows by 4/3 of the bytes.
        let sig = STANDARD.encode(vec![0xa5_u8; 6000]);
        let id = attach("gmid_8f2b", &Attachment::ThoughtSignature(sig.clone()));
        assert_eq!(id.len(), "gmid_8f2b__axg_".len() + 8000);
        assert_eq!(thought_signature(&id), ("gmid_8f2b", Some(sig)));
    }

    #[test]
    fn the_mark_inside_an_id_does_not_confuse_the_split() {
        // An upstream id that happens to contain the mark, then a real attachment.
        let id = attach(
            "odd__axgame",
            &Attachment::ThoughtSignature(GEMINI_SIG.into()),
        );
        assert_eq!(
            split(&id),
            (
                "odd__axgame",
                Some(Attachment::ThoughtSignature(GEMINI_SIG.into()))
            )
        );
    }

    #[test]
    fn stripping_a_json_field() {
        let id = attach("call_1", &Attachment::ThoughtSignature(GEMINI_SIG.into()));
        let mut v = serde_json::json!({"id": id, "n": 1});
        assert!(may_carry(v.to_string().as_bytes()));
        assert!(strip_field(&mut v, "id"));
        assert_eq!(v, serde_json::json!({"id": "call_1", "n": 1}));
        assert!(!strip_field(&mut v, "id"));
        assert!(!strip_field(&mut v, "n"));
        assert!(!strip_field(&mut v, "absent"));
        assert!(!may_carry(v.to_string().as_bytes()));
    }

    proptest! {
        #[test]
        fn any_signature_round_trips(bytes in prop::collection::vec(any::<u8>(), 1..600),
                                     id in "[A-Za-z0-9_-]{0,40}") {
            let sig = STANDARD.encode(&bytes);
            let carried = attach(&id, &Attachment::ThoughtSignature(sig.clone()));
            prop_assert!(anthropic_charset(&carried));
            // An id that already has a mark keeps what it has.
            if find_mark(&id).is_none() {
                prop_assert_eq!(thought_signature(&carried), (id.as_str(), Some(sig)));
            }
        }

        #[test]
        fn any_suffix_is_safe(id in "\\PC{0,80}") {
            let (base, _) = split(&id);
            prop_assert!(id.starts_with(base));
        }

        #[test]
        fn any_blocks_round_trip(blocks in prop::collection::vec(
            (any::<bool>(), any::<usize>(), 0usize..1 << 40, "[ -~]{0,40}"), 1..6)) {
            let blocks: Vec<ReasoningBlock> = blocks
                .into_iter()
                .map(|(thinking, start, len, token)| if thinking {
                    ReasoningBlock::Thinking { start: start / 2, len, signature: token }
                } else {
                    ReasoningBlock::Redacted { data: token }
                })
                .collect();
            let id = attach("call_9", &Attachment::Reasoning(blocks.clone()));
            prop_assert_eq!(split(&id), ("call_9", Some(Attachment::Reasoning(blocks))));
        }
    }
}
