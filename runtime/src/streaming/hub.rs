//! One participant's share of the `typed_rpc` wire: which streaming calls it waits for
//! (caller side), which streams it produces and which handlers may be cancelled (server
//! side), and the two topics that carry them (`typed_rpc.stream`, `typed_rpc.ctl`).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch};

use super::cancel::{CancelReason, CancelSignal};
use super::wire::{
    StreamParams, ATTR_BYTES, ATTR_ID, ATTR_ITEMS, ATTR_OP, ATTR_VERSION, CONTROL_TOPIC,
    STREAM_TOPIC, WIRE_VERSION,
};
use crate::error::{RpcError, RpcErrorCode};
use crate::streams::sender::StreamSender;
use crate::streams::{SendTextOptions, TextStreamReader};
use crate::sync::lock;

/// What the caller side of one streaming call receives, in order.
#[derive(Debug)]
pub(crate) enum Event {
    /// One NDJSON record, without its newline.
    Line(String),
    /// The item stream ended (its trailer arrived) after the lines before this.
    Closed,
    /// The call cannot go on: the server left, the item stream broke, or the server
    /// broke the protocol.
    Failed(RpcError),
}

/// Items and item bytes the caller has consumed: running totals, so a lost or repeated
/// credit does no harm.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Credit {
    pub items: u64,
    pub bytes: u64,
}

/// A control message from a caller.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Control {
    Cancel,
    Credit(Credit),
}

struct Expected {
    server: String,
    events: mpsc::UnboundedSender<Event>,
    /// Lines delivered and not yet consumed.
    pending: Arc<AtomicUsize>,
    max_pending: usize,
    attached: bool,
}

struct Producer {
    credit: watch::Sender<Credit>,
    cancel: CancelSignal,
}

/// Cancels that arrived before their call was registered (the caller gave up while the
/// request was still on its way); bounded, oldest forgotten first.
const EARLY_CANCELS: usize = 1024;

#[derive(Default)]
struct State {
    expected: HashMap<String, Expected>,
    producers: HashMap<(String, String), Producer>,
    calls: HashMap<(String, String), CancelSignal>,
    early_cancels: VecDeque<(String, String)>,
    early_cancel_set: HashSet<(String, String)>,
    left: bool,
}

impl State {
    fn take_early_cancel(&mut self, key: &(String, String)) -> bool {
        if self.early_cancel_set.remove(key) {
            self.early_cancels.retain(|k| k != key);
            true
        } else {
            false
        }
    }
}

/// The `typed_rpc` state of one participant. Generated code reaches it through
/// `RpcEndpoint::stream_hub`; it is not a public API.
pub struct StreamHub {
    sender: Arc<StreamSender>,
    max_streams_per_caller: usize,
    max_line_bytes: usize,
    state: Mutex<State>,
}

impl std::fmt::Debug for StreamHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = lock(&self.state);
        f.debug_struct("StreamHub")
            .field("expected", &state.expected.len())
            .field("producers", &state.producers.len())
            .field("calls", &state.calls.len())
            .finish()
    }
}

/// The caller side of one streaming call, registered before the request goes out
/// (records may arrive before the reply that accepts the call).
pub(crate) struct Expectation {
    pub events: mpsc::UnboundedReceiver<Event>,
    pub pending: Arc<AtomicUsize>,
}

/// A producer's registration: credit and cancellation come in through it; dropping it
/// unregisters the stream.
pub(crate) struct ProducerSlot {
    hub: Arc<StreamHub>,
    key: (String, String),
    pub credit: watch::Receiver<Credit>,
    pub cancel: CancelSignal,
}

impl ProducerSlot {
    pub(crate) fn sender(&self) -> Arc<StreamSender> {
        self.hub.sender.clone()
    }
}

impl Drop for ProducerSlot {
    fn drop(&mut self) {
        lock(&self.hub.state).producers.remove(&self.key);
    }
}

/// A running handler's registration, so a cancel or its caller leaving reaches it.
pub struct CallRegistration {
    hub: Arc<StreamHub>,
    key: (String, String),
    signal: CancelSignal,
}

impl CallRegistration {
    /// The handler's cancellation.
    pub fn signal(&self) -> &CancelSignal {
        &self.signal
    }
}

impl Drop for CallRegistration {
    fn drop(&mut self) {
        let mut state = lock(&self.hub.state);
        if state
            .calls
            .get(&self.key)
            .is_some_and(|s| *s == self.signal)
        {
            state.calls.remove(&self.key);
        }
    }
}

impl StreamHub {
    pub(crate) fn new(
        sender: Arc<StreamSender>,
        max_streams_per_caller: usize,
        max_line_bytes: usize,
    ) -> Self {
        Self {
            sender,
            max_streams_per_caller,
            max_line_bytes,
            state: Mutex::default(),
        }
    }

    /// Streams this participant is producing or consuming now.
    pub fn open_streams(&self) -> usize {
        let state = lock(&self.state);
        state.expected.len() + state.producers.len()
    }

    /// Handlers registered for cancellation now.
    pub fn cancellable_calls(&self) -> usize {
        lock(&self.state).calls.len()
    }

    /// Caller side: waits for the records of call `id` from `server`.
    pub(crate) fn expect(&self, id: &str, server: &str, window_items: u32) -> Expectation {
        let (events, rx) = mpsc::unbounded_channel();
        let pending = Arc::new(AtomicUsize::new(0));
        let mut state = lock(&self.state);
        if state.left {
            let _ = events.send(Event::Failed(RpcError::built_in(
                RpcErrorCode::SendFailed,
                Some("the local participant left the room".into()),
            )));
        }
        state.expected.insert(
            id.to_owned(),
            Expected {
                server: server.to_owned(),
                events,
                pending: pending.clone(),
                // Heartbeats and the end record come on top of a full window.
                max_pending: window_items as usize + 64,
                attached: false,
            },
        );
        Expectation {
            events: rx,
            pending,
        }
    }

    /// Caller side: no longer waits for call `id`.
    pub(crate) fn forget(&self, id: &str) {
        lock(&self.state).expected.remove(id);
    }

    /// Sends a control message for call `id` to `server`, without waiting for it.
    pub(crate) fn spawn_control(self: &Arc<Self>, server: &str, id: &str, control: Control) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::debug!(id, "typed_rpc control message not sent: no tokio runtime");
            return;
        };
        let (hub, server, id) = (self.clone(), server.to_owned(), id.to_owned());
        runtime.spawn(async move {
            let mut attributes = HashMap::from([
                (ATTR_VERSION.to_owned(), WIRE_VERSION.to_string()),
                (ATTR_ID.to_owned(), id.clone()),
            ]);
            match control {
                Control::Cancel => {
                    attributes.insert(ATTR_OP.to_owned(), "cancel".to_owned());
                }
                Control::Credit(credit) => {
                    attributes.insert(ATTR_OP.to_owned(), "credit".to_owned());
                    attributes.insert(ATTR_ITEMS.to_owned(), credit.items.to_string());
                    attributes.insert(ATTR_BYTES.to_owned(), credit.bytes.to_string());
                }
            }
            let options = SendTextOptions {
                topic: CONTROL_TOPIC.to_owned(),
                attributes,
                destination_identities: vec![server],
                ..Default::default()
            };
            if let Err(e) = hub.sender.send_text("", options).await {
                tracing::debug!(id, error = %e, "typed_rpc control message not sent");
            }
        });
    }

    /// Tells `server` to cancel call `id`, without waiting.
    pub(crate) fn spawn_cancel(self: &Arc<Self>, server: &str, id: &str) {
        self.spawn_control(server, id, Control::Cancel);
    }

    /// Server side: registers the stream `id` of `caller`, within the caller's limit.
    pub(crate) fn open_producer(
        self: &Arc<Self>,
        caller: &str,
        id: &str,
    ) -> Result<ProducerSlot, RpcError> {
        let key = (caller.to_owned(), id.to_owned());
        let mut state = lock(&self.state);
        if state.producers.contains_key(&key) {
            return Err(RpcError::built_in(
                RpcErrorCode::ApplicationError,
                Some(format!("a typed_rpc stream with id {id:?} is already open")),
            ));
        }
        let open = state.producers.keys().filter(|(c, _)| c == caller).count();
        if open >= self.max_streams_per_caller {
            return Err(RpcError::overloaded(format!(
                "{open} typed_rpc streams are open for this caller (RpcLimits::max_streams_per_caller)"
            )));
        }
        let (credit_tx, credit) = watch::channel(Credit::default());
        let cancel = CancelSignal::default();
        if state.take_early_cancel(&key) {
            cancel.cancel(CancelReason::CallerCancelled);
        }
        if state.left {
            cancel.cancel(CancelReason::LocalLeft);
        }
        state.producers.insert(
            key.clone(),
            Producer {
                credit: credit_tx,
                cancel: cancel.clone(),
            },
        );
        Ok(ProducerSlot {
            hub: self.clone(),
            key,
            credit,
            cancel,
        })
    }

    /// Server side: registers a running handler under `id` so that a cancel for it, or
    /// its caller leaving, fires its signal.
    pub fn register_call(self: &Arc<Self>, caller: &str, id: &str) -> CallRegistration {
        let key = (caller.to_owned(), id.to_owned());
        let signal = CancelSignal::default();
        let mut state = lock(&self.state);
        if state.take_early_cancel(&key) {
            signal.cancel(CancelReason::CallerCancelled);
        }
        if state.left {
            signal.cancel(CancelReason::LocalLeft);
        }
        state.calls.insert(key.clone(), signal.clone());
        CallRegistration {
            hub: self.clone(),
            key,
            signal,
        }
    }

    /// Routes an incoming stream on one of the `typed_rpc` topics.
    pub(crate) fn route(self: &Arc<Self>, sender: String, reader: TextStreamReader) {
        if reader.info().topic == CONTROL_TOPIC {
            self.control(sender, reader);
        } else if reader.info().topic == STREAM_TOPIC {
            self.attach(sender, reader);
        }
    }

    fn control(&self, sender: String, reader: TextStreamReader) {
        let attributes = reader.attributes();
        // Everything is in the header; reading the (empty) body lets the stream close.
        tokio::spawn(async move {
            let _ = reader.read_all().await;
        });
        let Some(id) = attributes.get(ATTR_ID) else {
            tracing::debug!(sender, "typed_rpc control message without an id dropped");
            return;
        };
        let control = match attributes.get(ATTR_OP).map(String::as_str) {
            Some("cancel") => Control::Cancel,
            Some("credit") => {
                let total = |key: &str| attributes.get(key).and_then(|v| v.parse::<u64>().ok());
                match (total(ATTR_ITEMS), total(ATTR_BYTES)) {
                    (Some(items), Some(bytes)) => Control::Credit(Credit { items, bytes }),
                    _ => {
                        tracing::debug!(sender, id, "typed_rpc credit without its totals dropped");
                        return;
                    }
                }
            }
            other => {
                tracing::debug!(sender, id, op = ?other, "typed_rpc control message of an unknown kind dropped");
                return;
            }
        };
        self.apply(&sender, id, control);
    }

    fn apply(&self, caller: &str, id: &str, control: Control) {
        let key = (caller.to_owned(), id.to_owned());
        let mut state = lock(&self.state);
        match control {
            Control::Cancel => {
                let mut found = false;
                if let Some(p) = state.producers.get(&key) {
                    p.cancel.cancel(CancelReason::CallerCancelled);
                    found = true;
                }
                if let Some(signal) = state.calls.get(&key) {
                    signal.cancel(CancelReason::CallerCancelled);
                    found = true;
                }
                if !found && state.early_cancel_set.insert(key.clone()) {
                    state.early_cancels.push_back(key);
                    if state.early_cancels.len() > EARLY_CANCELS {
                        if let Some(old) = state.early_cancels.pop_front() {
                            state.early_cancel_set.remove(&old);
                        }
                    }
                }
            }
            Control::Credit(credit) => {
                if let Some(p) = state.producers.get(&key) {
                    p.credit.send_if_modified(|current| {
                        let next = Credit {
                            items: current.items.max(credit.items),
                            bytes: current.bytes.max(credit.bytes),
                        };
                        let changed = next != *current;
                        *current = next;
                        changed
                    });
                }
            }
        }
    }

    fn attach(&self, sender: String, mut reader: TextStreamReader) {
        let id = reader
            .attributes()
            .get(ATTR_ID)
            .cloned()
            .unwrap_or_default();
        let found = {
            let mut state = lock(&self.state);
            match state.expected.get_mut(&id) {
                Some(e) if e.server == sender && !e.attached => {
                    e.attached = true;
                    Some((e.events.clone(), e.pending.clone(), e.max_pending))
                }
                _ => None,
            }
        };
        let max_line = self.max_line_bytes;
        tokio::spawn(async move {
            let Some((events, pending, max_pending)) = found else {
                tracing::debug!(sender, id, "typed_rpc item stream nobody waits for dropped");
                let _ = reader.read_all().await;
                return;
            };
            let mut partial = String::new();
            while let Some(chunk) = reader.next_chunk().await {
                let text = match chunk {
                    Ok(text) => text,
                    Err(e) => {
                        let _ = events.send(Event::Failed(RpcError::built_in(
                            RpcErrorCode::ApplicationError,
                            Some(format!("the stream's records could not be received: {e}")),
                        )));
                        return;
                    }
                };
                partial.push_str(&text);
                let mut start = 0;
                while let Some(at) = partial[start..].find('\n') {
                    let line = &partial[start..start + at];
                    start += at + 1;
                    if line.is_empty() {
                        continue;
                    }
                    if pending.fetch_add(1, Ordering::SeqCst) >= max_pending {
                        let _ = events.send(Event::Failed(super::wire::stream_error(
                            RpcErrorCode::ApplicationError,
                            "credit_exceeded",
                            "the server sent more records than the stream's credit window allows",
                        )));
                        return;
                    }
                    if events.send(Event::Line(line.to_owned())).is_err() {
                        // The caller went away; read on so the stream closes.
                        let _ = reader.read_all().await;
                        return;
                    }
                }
                partial.drain(..start);
                if partial.len() > max_line {
                    let _ = events.send(Event::Failed(super::wire::stream_error(
                        RpcErrorCode::ApplicationError,
                        "record_too_large",
                        format!("a stream record exceeds {max_line} bytes"),
                    )));
                    return;
                }
            }
            if !partial.trim().is_empty() {
                let _ = events.send(Event::Line(partial));
            }
            let _ = events.send(Event::Closed);
        });
    }

    /// `identity` left: its streams and handlers here are cancelled, and the calls it
    /// was serving to us fail.
    pub(crate) fn participant_left(&self, identity: &str) {
        let mut state = lock(&self.state);
        for ((caller, _), p) in &state.producers {
            if caller == identity {
                p.cancel.cancel(CancelReason::CallerLeft);
            }
        }
        for ((caller, _), signal) in &state.calls {
            if caller == identity {
                signal.cancel(CancelReason::CallerLeft);
            }
        }
        for e in state.expected.values() {
            if e.server == identity {
                let _ = e.events.send(Event::Failed(RpcError::built_in(
                    RpcErrorCode::RecipientDisconnected,
                    Some(format!("{identity} left the room before the stream ended")),
                )));
            }
        }
        state.early_cancels.retain(|(caller, _)| caller != identity);
        state
            .early_cancel_set
            .retain(|(caller, _)| caller != identity);
    }

    /// This participant lost its link or left: nothing in flight can go on.
    pub(crate) fn local_link_down(&self, reason: &str, for_good: bool) {
        let mut state = lock(&self.state);
        state.left |= for_good;
        for p in state.producers.values() {
            p.cancel.cancel(CancelReason::LocalLeft);
        }
        for signal in state.calls.values() {
            signal.cancel(CancelReason::LocalLeft);
        }
        for e in state.expected.values() {
            let _ = e.events.send(Event::Failed(RpcError::built_in(
                RpcErrorCode::SendFailed,
                Some(reason.to_owned()),
            )));
        }
    }
}

/// Credit a consumer owes its server after consuming, sent each half window.
pub(crate) fn due_credit(
    consumed: Credit,
    last_sent: Credit,
    params: &StreamParams,
) -> Option<Credit> {
    let half_items = (u64::from(params.window_items) / 2).max(1);
    let half_bytes = (params.window_bytes / 2).max(1);
    (consumed.items >= last_sent.items + half_items
        || consumed.bytes >= last_sent.bytes + half_bytes)
        .then_some(consumed)
}
