//! Tenancy domain model (no I/O): tenant status and its legal transitions, quotas,
//! slugs and the model patterns a gateway key may use.
//!
//! The status machine is an explicit table, [`TRANSITIONS`]; everything else
//! ([`TenantStatus::can_transition_to`], [`TenantStatus::transition_to`]) reads it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The lifecycle status of a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantStatus {
    /// Created, not serving traffic yet.
    Provisioning,
    /// Serving traffic.
    Active,
    /// Temporarily refused (403); can be re-activated.
    Suspended,
    /// Permanently retired (403); terminal.
    Decommissioned,
}

/// Every legal `(from, to)` status change. Anything not listed is refused.
pub const TRANSITIONS: [(TenantStatus, TenantStatus); 6] = [
    (TenantStatus::Provisioning, TenantStatus::Active),
    (TenantStatus::Provisioning, TenantStatus::Decommissioned),
    (TenantStatus::Active, TenantStatus::Suspended),
    (TenantStatus::Active, TenantStatus::Decommissioned),
    (TenantStatus::Suspended, TenantStatus::Active),
    (TenantStatus::Suspended, TenantStatus::Decommissioned),
];

/// A status change that [`TRANSITIONS`] does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a tenant cannot go from {from} to {to}")]
pub struct IllegalTransition {
    /// The current status.
    pub from: TenantStatus,
    /// The status asked for.
    pub to: TenantStatus,
}

/// A status name that is not one of the four.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown tenant status `{0}` (provisioning, active, suspended, decommissioned)")]
pub struct UnknownStatus(pub String);

impl TenantStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [TenantStatus; 4] = [
        Self::Provisioning,
        Self::Active,
        Self::Suspended,
        Self::Decommissioned,
    ];

    /// The lower-case name stored in `tenants.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provisioning => "provisioning",
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Decommissioned => "decommissioned",
        }
    }

    /// Whether the table allows going from `self` to `to`.
    pub fn can_transition_to(self, to: TenantStatus) -> bool {
        TRANSITIONS.contains(&(self, to))
    }

    /// `to` if the change is legal, else the typed error.
    pub fn transition_to(self, to: TenantStatus) -> Result<TenantStatus, IllegalTransition> {
        if self.can_transition_to(to) {
            Ok(to)
        } else {
            Err(IllegalTransition { from: self, to })
        }
    }

    /// Whether the tenant's keys may make requests (only when active).
    pub fn serves_traffic(self) -> bool {
        self == Self::Active
    }

    /// Whether no transition leaves this status.
    pub fn is_terminal(self) -> bool {
        !TRANSITIONS.iter().any(|(from, _)| *from == self)
    }
}

impl fmt::Display for TenantStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TenantStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// A tenant's limits; `None` means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Quotas {
    /// Requests per minute.
    pub rpm: Option<u64>,
    /// Tokens (input + output) per minute.
    pub tpm: Option<u64>,
    /// Tokens (input + output) per UTC day.
    pub tpd: Option<u64>,
    /// Spend per calendar month (UTC), US dollars.
    pub monthly_budget_usd: Option<f64>,
}

/// A slug that is not 1–64 characters of `a-z`, `0-9` and `-` starting with a letter
/// or digit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid tenant slug `{0}`: use 1-64 characters a-z, 0-9 and '-', starting with a letter or digit"
)]
pub struct InvalidSlug(pub String);

/// Longest tenant slug.
pub const MAX_SLUG_LEN: usize = 64;

/// Checks a tenant slug.
pub fn validate_slug(slug: &str) -> Result<(), InvalidSlug> {
    let ok = !slug.is_empty()
        && slug.len() <= MAX_SLUG_LEN
        && slug.as_bytes()[0].is_ascii_alphanumeric()
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(InvalidSlug(slug.to_owned()))
    }
}

/// A model pattern that cannot be used (empty, or with characters other than model
/// name characters and `*`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid model pattern `{0}`: use model names with `*` as a wildcard")]
pub struct InvalidPattern(pub String);

/// Checks one allowed-model pattern (`gpt-*`, `mock/*`, `claude-3-5-sonnet-20241022`).
pub fn validate_pattern(pattern: &str) -> Result<(), InvalidPattern> {
    let ok = !pattern.is_empty()
        && pattern.len() <= 256
        && pattern.chars().all(|c| c.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(InvalidPattern(pattern.to_owned()))
    }
}

pub use crate::pattern::glob_match;

/// One target of a plan as a key's allow-list sees it: the provider it calls and the
/// model that goes upstream.
#[derive(Debug, Clone, Copy)]
pub struct PlannedTarget<'a> {
    /// The provider's configured name (`openai`, `claude`, a name from `ax.toml`).
    pub provider: &'a str,
    /// The provider's kind.
    pub kind: crate::ProviderKind,
    /// The upstream model name (provider prefix already stripped).
    pub model: &'a str,
    /// Whether `provider` is where a request for the bare `model` would be routed:
    /// its `models` patterns claim it (the first by priority), it is its default
    /// model, or it is the mock serving every bare name in mock-only mode.
    pub serves_bare_model: bool,
}

/// Whether a key whose allow-list is `patterns` may call `target`.
///
/// - A pattern with a `/` (`openai/*`, `claude/claude-3-5-*`, `anthropic/*`) matches
///   `provider/model`, where `provider` is the provider's name or its kind.
/// - A pattern without `/` (`gpt-*`) matches the upstream model name, and only at the
///   provider that serves that name as a bare model: `gpt-*` allows `gpt-4o` at
///   `openai`, never `gpt-4o` sent to `claude` (`claude/gpt-4o`) or a route named
///   `gpt-smart` whose target is Claude.
pub fn target_allowed(patterns: &[String], target: &PlannedTarget<'_>) -> bool {
    patterns.iter().any(|p| match p.split_once('/') {
        Some((provider_pattern, model_pattern)) => {
            (glob_match(provider_pattern, target.provider)
                || glob_match(provider_pattern, target.kind.as_str()))
                && glob_match(model_pattern, target.model)
        }
        None => target.serves_bare_model && glob_match(p, target.model),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn transition_table() {
        use TenantStatus::*;
        for from in TenantStatus::ALL {
            for to in TenantStatus::ALL {
                let legal = matches!(
                    (from, to),
                    (Provisioning, Active)
                        | (Provisioning, Decommissioned)
                        | (Active, Suspended)
                        | (Active, Decommissioned)
                        | (Suspended, Active)
                        | (Suspended, Decommissioned)
                );
                assert_eq!(from.can_transition_to(to), legal, "{from} -> {to}");
                match from.transition_to(to) {
                    Ok(s) => assert_eq!(s, to),
                    Err(e) => {
                        assert!(!legal);
                        assert_eq!(e, IllegalTransition { from, to });
                        assert!(e.to_string().contains(from.as_str()));
                    }
                }
            }
        }
        assert!(Decommissioned.is_terminal());
        assert!(!Active.is_terminal());
        assert!(Active.serves_traffic());
        assert!(!Suspended.serves_traffic() && !Provisioning.serves_traffic());
    }

    #[test]
    fn status_names_round_trip() {
        for s in TenantStatus::ALL {
            assert_eq!(s.as_str().parse::<TenantStatus>(), Ok(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        assert!("Active".parse::<TenantStatus>().is_err());
    }

    #[test]
    fn slugs() {
        assert!(validate_slug("team-a").is_ok());
        assert!(validate_slug("a").is_ok());
        assert!(validate_slug(&"a".repeat(64)).is_ok());
        for bad in ["", "-a", "Team", "a b", "a_b", &"a".repeat(65)] {
            assert!(validate_slug(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn patterns() {
        assert!(glob_match("gpt-*", "gpt-4o"));
        assert!(glob_match("*", ""));
        assert!(glob_match("*mini", "gpt-4o-mini"));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
        assert!(glob_match("GPT-*", "gpt-4o"));
        assert!(!glob_match("gpt-*", "claude-3"));
        let pats = vec![
            "gpt-*".to_owned(),
            "mock/*".to_owned(),
            "anthropic/claude-3-*".to_owned(),
        ];
        let t = |provider, kind, model, serves_bare_model| PlannedTarget {
            provider,
            kind,
            model,
            serves_bare_model,
        };
        use crate::ProviderKind::{Anthropic, Mock, OpenAi};
        assert!(target_allowed(&pats, &t("openai", OpenAi, "gpt-4o", true)));
        // The same name sent to a provider that does not serve it as a bare model.
        assert!(!target_allowed(
            &pats,
            &t("claude", Anthropic, "gpt-4o", false)
        ));
        assert!(target_allowed(&pats, &t("mock", Mock, "anything", false)));
        assert!(!target_allowed(
            &pats,
            &t("claude", Anthropic, "claude-opus-4", true)
        ));
        // By kind: provider `claude` is of kind `anthropic`.
        assert!(target_allowed(
            &pats,
            &t("claude", Anthropic, "claude-3-opus", true)
        ));
        assert!(!target_allowed(&[], &t("openai", OpenAi, "gpt-4o", true)));
        // `/` in a pattern splits provider from model only once.
        let slash = vec!["local/org/*".to_owned()];
        assert!(target_allowed(
            &slash,
            &t("local", OpenAi, "org/llama", false)
        ));
        assert!(validate_pattern("gpt-*").is_ok());
        assert!(validate_pattern("").is_err());
        assert!(validate_pattern("a b").is_err());
    }

    fn status() -> impl Strategy<Value = TenantStatus> {
        prop::sample::select(TenantStatus::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn every_walk_follows_the_table(start in status(), steps in prop::collection::vec(status(), 0..20)) {
            let mut cur = start;
            for to in steps {
                match cur.transition_to(to) {
                    Ok(next) => { prop_assert!(TRANSITIONS.contains(&(cur, to))); cur = next; }
                    Err(_) => prop_assert!(!TRANSITIONS.contains(&(cur, to))),
                }
            }
            // Nothing ever leaves decommissioned.
            for to in TenantStatus::ALL {
                prop_assert!(!TenantStatus::Decommissioned.can_transition_to(to));
            }
        }

        #[test]
        fn star_matches_everything(s in "[a-z0-9/.-]{0,30}") {
            prop_assert!(glob_match("*", &s));
            prop_assert!(glob_match(&s, &s));
            let prefixed = format!("{s}*");
            let with_suffix = format!("{s}-x");
            prop_assert!(glob_match(&prefixed, &with_suffix));
        }

        #[test]
        fn literal_patterns_match_only_themselves(a in "[a-z0-9-]{1,12}", b in "[a-z0-9-]{1,12}") {
            prop_assert_eq!(glob_match(&a, &b), a == b);
        }
    }
}
