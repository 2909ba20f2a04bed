//! One call's cancellation: fired once, with the reason, and awaited by the handler or the
//! producer of a stream.

use std::sync::Arc;

use tokio::sync::watch;

/// Why a call or a stream was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    /// The caller dropped the call or the stream (it sent `cancel`).
    CallerCancelled,
    /// The caller left the room.
    CallerLeft,
    /// The call's deadline passed.
    DeadlinePassed,
    /// The caller stopped granting credit for longer than the stream's idle timeout.
    ConsumerStalled,
    /// This participant left the room or lost its connection.
    LocalLeft,
}

/// A cancellation flag with a reason, shared by whoever may fire it and whoever waits.
#[derive(Clone)]
pub struct CancelSignal {
    state: Arc<watch::Sender<Option<CancelReason>>>,
}

impl std::fmt::Debug for CancelSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CancelSignal").field(&self.reason()).finish()
    }
}

impl PartialEq for CancelSignal {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.state, &other.state)
    }
}

impl Eq for CancelSignal {}

impl Default for CancelSignal {
    fn default() -> Self {
        Self {
            state: Arc::new(watch::Sender::new(None)),
        }
    }
}

impl CancelSignal {
    /// Fires the signal; the first reason stays.
    pub fn cancel(&self, reason: CancelReason) {
        self.state.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(reason);
                true
            } else {
                false
            }
        });
    }

    /// Why it fired, if it has.
    pub fn reason(&self) -> Option<CancelReason> {
        *self.state.borrow()
    }

    /// Resolves when the signal fires.
    pub async fn cancelled(&self) -> CancelReason {
        let mut seen = self.state.subscribe();
        loop {
            if let Some(reason) = *seen.borrow_and_update() {
                return reason;
            }
            // The sender lives in `self`, so `changed` cannot fail while we wait.
            if seen.changed().await.is_err() {
                return CancelReason::LocalLeft;
            }
        }
    }
}
