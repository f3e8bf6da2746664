//! Raising the open-file soft limit to the hard limit when `ax serve` starts.
//!
//! ax holds two sockets per request in flight (the client's and the upstream's), and
//! the soft limit is often 1,024 (systemd's default for services, most shells) while
//! the hard limit is far higher (524,288 under systemd). Left alone, ax would start
//! refusing connections at ~500 concurrent streams. Raising the soft limit up to the
//! hard one needs no privilege; Go's runtime does the same since Go 1.19.

/// Below this many descriptors, `ax serve` warns that the limit caps concurrency.
const LOW_LIMIT: u64 = 4_096;

/// What happened to the open-file soft limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FdLimit {
    /// The soft limit went from `from` up to the hard limit `to`.
    Raised {
        /// The soft limit before.
        from: u64,
        /// The soft limit now (the hard limit).
        to: u64,
    },
    /// Already at the hard limit (or unlimited).
    Unchanged(Option<u64>),
    /// Raising it failed; the soft limit stays as it was.
    Failed {
        /// The soft limit, unchanged.
        current: u64,
        /// Why `setrlimit` refused.
        reason: String,
    },
}

impl FdLimit {
    /// The soft limit in force afterwards; `None` when unlimited.
    pub fn current(&self) -> Option<u64> {
        match *self {
            FdLimit::Raised { to, .. } => Some(to),
            FdLimit::Unchanged(n) => n,
            FdLimit::Failed { current, .. } => Some(current),
        }
    }
}

/// Raises this process's `RLIMIT_NOFILE` soft limit to its hard limit.
#[cfg(unix)]
pub fn raise_to_hard() -> FdLimit {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    // An unlimited hard limit is not a value the soft one may take for files (the
    // kernel caps it elsewhere), so leave that case alone.
    let (Some(current), Some(maximum)) = (limit.current, limit.maximum) else {
        return FdLimit::Unchanged(limit.current);
    };
    if current >= maximum {
        return FdLimit::Unchanged(Some(current));
    }
    let raised = Rlimit {
        current: Some(maximum),
        maximum: Some(maximum),
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => FdLimit::Raised {
            from: current,
            to: maximum,
        },
        Err(e) => FdLimit::Failed {
            current,
            reason: e.to_string(),
        },
    }
}

/// Non-Unix systems have no such limit to raise.
#[cfg(not(unix))]
pub fn raise_to_hard() -> FdLimit {
    FdLimit::Unchanged(None)
}

/// Logs the outcome: a warning when the limit stays low enough to cap concurrency.
pub fn report(outcome: &FdLimit) {
    match outcome {
        FdLimit::Raised { from, to } => {
            tracing::info!(from, to, "raised the open-file limit to the hard limit");
        }
        FdLimit::Failed { current, reason } => {
            tracing::warn!(current, %reason, "could not raise the open-file limit");
        }
        FdLimit::Unchanged(_) => {}
    }
    if let Some(n) = outcome.current().filter(|n| *n < LOW_LIMIT) {
        tracing::warn!(
            limit = n,
            "the open-file limit is low: ax holds two sockets per request in flight, so \
             about {} concurrent requests fit; raise it with `ulimit -n` or LimitNOFILE=",
            n / 2
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_is_the_limit_in_force_afterwards() {
        assert_eq!(
            FdLimit::Raised {
                from: 1_024,
                to: 524_288
            }
            .current(),
            Some(524_288)
        );
        assert_eq!(FdLimit::Unchanged(None).current(), None);
        let failed = FdLimit::Failed {
            current: 256,
            reason: "denied".into(),
        };
        assert_eq!(failed.current(), Some(256));
    }
}
