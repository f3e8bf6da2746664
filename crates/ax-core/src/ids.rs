//! Identifier newtypes. Every ID is a UUID v7, so IDs sort by creation time and index
//! well in B-trees.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered ID (UUID v7).
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            /// Wraps an existing UUID.
            pub fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }
            /// The underlying UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_newtype!(
    /// Identifies one log row (`provider_logs.id`).
    LogId
);
id_newtype!(
    /// Identifies a tenant (a team sharing the gateway).
    TenantId
);
id_newtype!(
    /// Identifies a gateway API key.
    KeyId
);

/// The request ID a client sees in `x-ax-request-id`. Generated as a UUID v7 unless the
/// client supplied its own (any printable string up to 128 bytes is accepted).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestId(String);

impl RequestId {
    /// Longest client-supplied request ID we accept.
    pub const MAX_LEN: usize = 128;

    /// A fresh, time-ordered request ID.
    pub fn new() -> Self {
        Self(Uuid::now_v7().to_string())
    }

    /// Accepts a client-supplied ID if it is 1..=128 visible ASCII characters.
    pub fn parse(s: &str) -> Option<Self> {
        let ok =
            !s.is_empty() && s.len() <= Self::MAX_LEN && s.bytes().all(|b| b.is_ascii_graphic());
        ok.then(|| Self(s.to_owned()))
    }

    /// The ID as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// This client-chosen ID in `tenant`'s namespace (`tenant:id`).
    pub fn scoped_to(&self, tenant: &str) -> Self {
        let mut s = String::with_capacity(tenant.len() + 1 + self.0.len());
        s.push_str(tenant);
        s.push(':');
        s.push_str(&self.0);
        Self(s)
    }
}

impl Default for RequestId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_v7_and_ordered() {
        let a = LogId::new();
        let b = LogId::new();
        assert_eq!(a.as_uuid().get_version_num(), 7);
        assert!(a <= b);
        assert_eq!(a.to_string().parse::<LogId>().unwrap(), a);
    }

    #[test]
    fn request_id_validation() {
        assert!(RequestId::parse("abc-123").is_some());
        assert!(RequestId::parse("").is_none());
        assert!(RequestId::parse("has space").is_none());
        assert!(RequestId::parse(&"x".repeat(129)).is_none());
    }
}
