//! Admission of incoming calls: each caller runs up to `max_concurrent_calls_per_caller`
//! handlers at once; further calls wait in that caller's FIFO queue, bounded by count and
//! payload bytes per caller and across all callers. Only a call that finds its queue full
//! is refused, and the refusal says it is load.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::room::RpcLimits;

/// Which queue bound refused a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// The bound's name in [`RpcLimits`], for the error message.
    pub(crate) limit: &'static str,
    /// Its value.
    pub(crate) value: usize,
    /// Calls this caller had waiting.
    pub(crate) caller_queued: usize,
}

struct Waiter {
    id: u64,
    bytes: usize,
    wake: oneshot::Sender<Slot>,
}

#[derive(Default)]
struct CallerQueue {
    running: usize,
    queued_bytes: usize,
    waiting: VecDeque<Waiter>,
}

#[derive(Default)]
struct State {
    callers: HashMap<String, CallerQueue>,
    queued_calls: usize,
    queued_bytes: usize,
    next_id: u64,
}

impl State {
    fn unqueue(&mut self, caller: &str, waiter: &Waiter) {
        self.queued_calls -= 1;
        self.queued_bytes -= waiter.bytes;
        if let Some(queue) = self.callers.get_mut(caller) {
            queue.queued_bytes -= waiter.bytes;
        }
    }

    fn forget_if_idle(&mut self, caller: &str) {
        if self
            .callers
            .get(caller)
            .is_some_and(|q| q.running == 0 && q.waiting.is_empty())
        {
            self.callers.remove(caller);
        }
    }
}

/// The admission state of one participant's handler side.
#[derive(Default)]
pub(crate) struct Admission {
    state: Mutex<State>,
    refused: AtomicU64,
}

/// A running call's claim on one of its caller's slots; dropping it hands the slot to the
/// caller's oldest waiting call.
pub(crate) struct Slot {
    admission: Arc<Admission>,
    caller: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.admission.release(&self.caller);
    }
}

/// A queued call's place in line; dropping it (the caller gave up) leaves the line.
pub(crate) struct Ticket {
    admission: Arc<Admission>,
    caller: String,
    id: u64,
    slot: oneshot::Receiver<Slot>,
}

impl Ticket {
    /// Waits for a slot; `None` when the call was dropped from the queue (its caller left).
    pub(crate) async fn wait(&mut self) -> Option<Slot> {
        (&mut self.slot).await.ok()
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.slot.close();
        // A slot handed over but never taken is dropped here, which releases it.
        if let Ok(slot) = self.slot.try_recv() {
            drop(slot);
            return;
        }
        let mut state = self.admission.lock();
        if let Some(queue) = state.callers.get_mut(&self.caller) {
            if let Ok(at) = queue.waiting.binary_search_by_key(&self.id, |w| w.id) {
                if let Some(waiter) = queue.waiting.remove(at) {
                    state.unqueue(&self.caller, &waiter);
                }
            }
        }
        state.forget_if_idle(&self.caller);
    }
}

/// The outcome of asking to run a call.
pub(crate) enum Admitted {
    /// A slot was free.
    Now(Slot),
    /// The call waits in line.
    Queued(Ticket),
}

impl Admission {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        crate::sync::lock(&self.state)
    }

    /// Runs now, queues, or refuses a call of `bytes` payload from `caller`.
    pub(crate) fn admit(
        self: &Arc<Self>,
        caller: &str,
        bytes: usize,
        limits: &RpcLimits,
    ) -> Result<Admitted, Refusal> {
        let mut state = self.lock();
        let (queued_calls, queued_bytes) = (state.queued_calls, state.queued_bytes);
        let queue = state.callers.entry(caller.to_owned()).or_default();
        if queue.running < limits.max_concurrent_calls_per_caller && queue.waiting.is_empty() {
            queue.running += 1;
            return Ok(Admitted::Now(Slot {
                admission: self.clone(),
                caller: caller.to_owned(),
            }));
        }
        let caller_queued = queue.waiting.len();
        let full = if caller_queued >= limits.max_queued_calls_per_caller {
            Some((
                "max_queued_calls_per_caller",
                limits.max_queued_calls_per_caller,
            ))
        } else if queue.queued_bytes.saturating_add(bytes) > limits.max_queued_bytes_per_caller {
            Some((
                "max_queued_bytes_per_caller",
                limits.max_queued_bytes_per_caller,
            ))
        } else if queued_calls >= limits.max_queued_calls {
            Some(("max_queued_calls", limits.max_queued_calls))
        } else if queued_bytes.saturating_add(bytes) > limits.max_queued_bytes {
            Some(("max_queued_bytes", limits.max_queued_bytes))
        } else {
            None
        };
        if let Some((limit, value)) = full {
            state.forget_if_idle(caller);
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(Refusal {
                limit,
                value,
                caller_queued,
            });
        }
        let (wake, slot) = oneshot::channel();
        state.next_id += 1;
        let id = state.next_id;
        state.queued_calls += 1;
        state.queued_bytes += bytes;
        let queue = state.callers.entry(caller.to_owned()).or_default();
        queue.queued_bytes += bytes;
        queue.waiting.push_back(Waiter { id, bytes, wake });
        Ok(Admitted::Queued(Ticket {
            admission: self.clone(),
            caller: caller.to_owned(),
            id,
            slot,
        }))
    }

    fn release(self: &Arc<Self>, caller: &str) {
        let mut guard = self.lock();
        let state = &mut *guard;
        let mut next = None;
        if let Some(queue) = state.callers.get_mut(caller) {
            queue.running = queue.running.saturating_sub(1);
            while let Some(waiter) = queue.waiting.pop_front() {
                queue.queued_bytes -= waiter.bytes;
                state.queued_calls -= 1;
                state.queued_bytes -= waiter.bytes;
                if !waiter.wake.is_closed() {
                    queue.running += 1;
                    next = Some(waiter.wake);
                    break;
                }
            }
        }
        state.forget_if_idle(caller);
        drop(guard);
        if let Some(wake) = next {
            // If the waiter went away meanwhile, the slot comes back and is released again.
            let _ = wake.send(Slot {
                admission: self.clone(),
                caller: caller.to_owned(),
            });
        }
    }

    /// Drops every queued call of a caller that left; their handlers never run.
    pub(crate) fn caller_left(&self, caller: &str) {
        let mut state = self.lock();
        let Some(queue) = state.callers.get_mut(caller) else {
            return;
        };
        let dropped: Vec<Waiter> = queue.waiting.drain(..).collect();
        for waiter in &dropped {
            state.unqueue(caller, waiter);
        }
        state.forget_if_idle(caller);
        drop(state);
        if !dropped.is_empty() {
            tracing::info!(
                caller,
                calls = dropped.len(),
                "caller left; its queued calls are dropped without running"
            );
        }
    }

    /// Calls waiting for a slot, across all callers.
    pub(crate) fn queued_count(&self) -> usize {
        self.lock().queued_calls
    }

    /// Calls refused because a queue was full, since the participant joined.
    pub(crate) fn refused_count(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}
