//! [`Pending`]: the answer of a seam method that is usually ready at once (in-memory
//! state) but may need a network round trip (shared state in Redis), without boxing a
//! future for the in-memory case: the request path stays allocation-free.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::future::BoxFuture;

/// A value now, or a future of it. Await it either way.
#[must_use = "a seam's answer does nothing until awaited"]
pub enum Pending<'a, T> {
    /// Known without waiting (in-memory implementations).
    Ready(Option<T>),
    /// Needs I/O (implementations over a shared store).
    Later(BoxFuture<'a, T>),
}

impl<T> Pending<'_, T> {
    /// An answer available now.
    pub fn ready(value: T) -> Self {
        Self::Ready(Some(value))
    }

    /// The answer if it is available without waiting (for callers that cannot await,
    /// such as `Drop`); a pending one is handed back.
    pub fn now_or(self) -> Result<T, Self> {
        match self {
            Self::Ready(Some(v)) => Ok(v),
            other => Err(other),
        }
    }
}

impl<'a, T> Pending<'a, T> {
    /// A future answer.
    pub fn later(fut: impl Future<Output = T> + Send + 'a) -> Self {
        Self::Later(Box::pin(fut))
    }
}

impl<T: Unpin> Future for Pending<'_, T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match self.get_mut() {
            Self::Ready(v) => match v.take() {
                Some(v) => Poll::Ready(v),
                // Polled again after completion: never resolves (as a fused future).
                None => Poll::Pending,
            },
            Self::Later(f) => f.as_mut().poll(cx),
        }
    }
}

/// Runs a `'static` answer to completion without awaiting it here: at once when it is
/// ready, on the runtime otherwise (for settlements made from synchronous code).
pub fn complete_detached(pending: Pending<'static, ()>) {
    if let Err(Pending::Later(fut)) = pending.now_or() {
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(fut);
            }
            Err(_) => tracing::warn!("a settlement was dropped: no runtime to finish it on"),
        }
    }
}
