//! A request's lifecycle context plus the hook that turns it into a log record.
//!
//! Invariant: every request reaches its finish hook exactly once. [`Tracked::finish`]
//! runs it; if the value is dropped first (the server's future was dropped because the
//! client went away, or a stream was abandoned) `Drop` applies `Cancelled` to a
//! context that is not terminal yet and runs the hook then.

use std::fmt;

use ax_core::lifecycle::{Context, Event};
use time::OffsetDateTime;

/// What runs with the final context (queues the log record, records metrics).
pub type FinishHook = Box<dyn FnOnce(Context) + Send>;

/// A request being driven through the lifecycle state machine.
pub struct Tracked {
    ctx: Context,
    hook: Option<FinishHook>,
}

impl fmt::Debug for Tracked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracked")
            .field("ctx", &self.ctx)
            .field("finished", &self.hook.is_none())
            .finish()
    }
}

impl Tracked {
    /// Tracks `ctx`; `hook` runs once with the final context.
    pub fn new(ctx: Context, hook: FinishHook) -> Self {
        Self {
            ctx,
            hook: Some(hook),
        }
    }

    /// Tracks `ctx` with nothing to run at the end.
    pub fn without_hook(ctx: Context) -> Self {
        Self { ctx, hook: None }
    }

    /// The context so far.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// The context, for fields the state machine does not own (IDs, tags).
    pub fn context_mut(&mut self) -> &mut Context {
        &mut self.ctx
    }

    /// Applies `event` now. Returns whether it was legal. An illegal transition is a
    /// bug in the caller: it is logged (and asserted in debug builds), and the context
    /// is left unchanged; release builds never panic on it.
    pub fn apply(&mut self, event: Event) -> bool {
        let kind = event.kind();
        match self.ctx.apply(event, OffsetDateTime::now_utc()) {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(
                    request_id = %self.ctx.request_id,
                    from = %e.from,
                    event = ?kind,
                    "illegal lifecycle transition"
                );
                debug_assert!(std::thread::panicking(), "{e}");
                false
            }
        }
    }

    /// Whether the hook already ran.
    pub fn is_finished(&self) -> bool {
        self.hook.is_none()
    }

    /// Runs the hook with the context as it is (normally terminal).
    pub fn finish(mut self) {
        self.run_hook();
    }

    /// Runs the hook now but keeps the context readable (for a stream that ended while
    /// its owner still holds it).
    pub(crate) fn finish_in_place(&mut self) {
        self.run_hook();
    }

    fn run_hook(&mut self) {
        if let Some(hook) = self.hook.take() {
            hook(self.ctx.clone());
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if self.hook.is_none() {
            return;
        }
        if !self.ctx.state.is_terminal() {
            // Every live state accepts `Cancelled`; this cannot be refused.
            let _ = self.ctx.apply(Event::Cancelled, OffsetDateTime::now_utc());
        }
        self.run_hook();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ax_core::RequestId;
    use ax_core::lifecycle::State;
    use std::sync::{Arc, Mutex};

    fn recorder() -> (Arc<Mutex<Vec<Context>>>, FinishHook) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&seen);
        (seen, Box::new(move |c| s.lock().unwrap().push(c)))
    }

    #[test]
    fn finish_runs_the_hook_once() {
        let (seen, hook) = recorder();
        let mut t = Tracked::new(Context::new(RequestId::new()), hook);
        assert!(t.apply(Event::InitiateRequest));
        assert!(t.apply(Event::ValidationFailed {
            code: ax_core::ErrorCode::InvalidRequest,
            message: "bad".into()
        }));
        t.finish();
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].state, State::Failed);
    }

    #[test]
    fn drop_cancels_a_live_request_and_runs_the_hook() {
        let (seen, hook) = recorder();
        let mut t = Tracked::new(Context::new(RequestId::new()), hook);
        t.apply(Event::InitiateRequest);
        t.apply(Event::ValidationPassed);
        drop(t);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].state, State::Failed);
        assert_eq!(
            seen[0].error.as_ref().unwrap().0,
            ax_core::ErrorCode::Cancelled
        );
    }

    #[test]
    fn finish_in_place_then_drop_runs_once() {
        let (seen, hook) = recorder();
        let mut t = Tracked::new(Context::new(RequestId::new()), hook);
        t.apply(Event::InitiateRequest);
        t.finish_in_place();
        assert!(t.is_finished());
        drop(t);
        assert_eq!(seen.lock().unwrap().len(), 1);
        assert_eq!(seen.lock().unwrap()[0].state, State::Validating);
    }

    #[test]
    #[cfg_attr(
        debug_assertions,
        should_panic(expected = "illegal lifecycle transition")
    )]
    fn illegal_transition_is_a_bug() {
        let mut t = Tracked::without_hook(Context::new(RequestId::new()));
        assert!(!t.apply(Event::ChunkReceived));
    }
}
