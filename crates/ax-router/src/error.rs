//! Configuration errors found when the router is built. Request-path failures are
//! `ax_core::GatewayError`s; this enum is only about references that do not add up.

/// The router configuration is inconsistent. Each variant names what is at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouterError {
    /// Two providers have the same name.
    #[error("provider `{0}` is configured twice")]
    DuplicateProvider(String),
    /// A provider name is empty or contains `/`.
    #[error("provider name `{0}` must be non-empty and contain no `/`")]
    BadProviderName(String),
    /// An enabled provider has settings but no adapter was built for it.
    #[error("provider `{0}` is enabled but no adapter was given for it")]
    MissingAdapter(String),
    /// A route refers to a provider that does not exist.
    #[error("route `{route}`: unknown provider `{provider}` (known: {known})")]
    UnknownRouteProvider {
        /// The route.
        route: String,
        /// The unknown provider.
        provider: String,
        /// The known provider names.
        known: String,
    },
    /// A route has no target.
    #[error("route `{0}` has no target")]
    EmptyRoute(String),
    /// Two routes have the same name, or a route name is empty.
    #[error("route name `{0}` is empty or used twice")]
    BadRouteName(String),
    /// The fallback chain names a provider that does not exist.
    #[error("fallback chain: unknown provider `{provider}` (known: {known})")]
    UnknownFallbackProvider {
        /// The unknown provider.
        provider: String,
        /// The known provider names.
        known: String,
    },
    /// A numeric setting is out of range.
    #[error("{setting}: {reason}")]
    Invalid {
        /// The setting.
        setting: &'static str,
        /// Why.
        reason: String,
    },
}
