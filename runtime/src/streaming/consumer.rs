//! The caller side of a streaming method: [`CallStream`], the items of one call in order,
//! with credit sent as they are consumed, an idle timeout, an optional deadline and an
//! explicit end. Dropping it cancels the call.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};

use super::hub::{due_credit, Control, Credit, Event, StreamHub};
use super::wire::{self, ItemBody, RecordHead, StreamParams};
use crate::error::{CallError, RpcError, RpcErrorCode};

/// How a caller wants a stream run: flow-control window, idle timeout and deadline.
///
/// ```
/// use livekit_typed_rpc::streaming::StreamConfig;
/// use std::time::Duration;
/// let config = StreamConfig::default()
///     .idle_timeout(Duration::from_secs(10))
///     .deadline(Duration::from_secs(60))
///     .window(32, 128 * 1024);
/// assert_eq!(config.window_items, 32);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamConfig {
    /// Fail the stream after this long without a record (items or the server's
    /// heartbeats, sent after a third of it). Default 30 s.
    pub idle_timeout: Duration,
    /// End the stream this long after it opened, wherever it is. Default none.
    pub deadline: Option<Duration>,
    /// Items the server may send ahead of what this side has consumed (default 64): the
    /// most items a slow consumer holds.
    pub window_items: u32,
    /// Item bytes the server may send ahead (default 256 KiB); one larger item still goes
    /// when nothing else is in flight.
    pub window_bytes: u64,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(30),
            deadline: None,
            window_items: 64,
            window_bytes: 256 * 1024,
        }
    }
}

impl StreamConfig {
    /// Sets [`StreamConfig::idle_timeout`].
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = idle;
        self
    }

    /// Sets [`StreamConfig::deadline`].
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Sets the flow-control window: items and bytes in flight.
    pub fn window(mut self, items: u32, bytes: u64) -> Self {
        self.window_items = items;
        self.window_bytes = bytes;
        self
    }

    pub(crate) fn params(&self) -> StreamParams {
        StreamParams {
            idle_ms: self.idle_timeout.as_millis().try_into().unwrap_or(u64::MAX),
            deadline_ms: self
                .deadline
                .map(|d| d.as_millis().try_into().unwrap_or(u64::MAX)),
            window_items: self.window_items,
            window_bytes: self.window_bytes,
        }
        .clamped()
    }
}

/// How a stream ended, once it has ([`CallStream::end`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEnd {
    /// The server ended it successfully after this many items, all received.
    Completed {
        /// Items received.
        count: u64,
    },
    /// The server ended it with an error (the last item of the stream was that error).
    Failed,
    /// It was cancelled: by this side (dropped), or the server says so.
    Cancelled,
    /// Records were lost: a gap in the item numbers or a count that does not match.
    DataLoss,
    /// Nothing arrived within the idle timeout, or the deadline passed.
    TimedOut,
    /// The server left, the link broke, or the server broke the protocol.
    Broken,
}

/// The caller's registration of one open streaming call, from the request on.
pub(crate) struct Opening {
    hub: Arc<StreamHub>,
    id: String,
    server: String,
    params: StreamParams,
    events: Option<mpsc::UnboundedReceiver<Event>>,
    pending: Arc<AtomicUsize>,
    /// Whether dropping this still owes the server a cancel.
    armed: bool,
}

impl Opening {
    pub(crate) fn new(hub: Arc<StreamHub>, server: &str, config: &StreamConfig) -> Self {
        let id = uuid::Uuid::new_v4().to_string();
        let params = config.params();
        let expectation = hub.expect(&id, server, params.window_items);
        Self {
            hub,
            id,
            server: server.to_owned(),
            params,
            events: Some(expectation.events),
            pending: expectation.pending,
            armed: true,
        }
    }

    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn params(&self) -> StreamParams {
        self.params
    }

    /// The call was refused: nothing runs at the server.
    pub(crate) fn refused(mut self) {
        self.armed = false;
    }

    /// The server accepted the call: its items are this stream.
    pub(crate) fn accepted<T, E>(mut self, method: &'static str) -> CallStream<T, E> {
        let opened = Instant::now();
        let idle = Box::pin(tokio::time::sleep(self.params.idle()));
        let deadline = self
            .params
            .deadline()
            .map(|d| Box::pin(tokio::time::sleep_until(opened + d)));
        let events = self.events.take();
        CallStream {
            events,
            pending: self.pending.clone(),
            idle,
            deadline,
            method,
            next_n: 0,
            consumed: Credit::default(),
            credited: Credit::default(),
            end: None,
            opening: self,
            _types: PhantomData,
        }
    }
}

impl Drop for Opening {
    fn drop(&mut self) {
        self.hub.forget(&self.id);
        if self.armed {
            self.hub
                .spawn_control(&self.server, &self.id, Control::Cancel);
        }
    }
}

/// The items of one streaming call, in order: a [`Stream`] of `Result<T, CallError<E>>`.
/// After the last item it yields `None` for a successful end, or one `Err` first (the
/// typed error, a timeout, lost data, the server leaving); [`CallStream::end`] says which.
/// Dropping it before the end cancels the call at the server.
pub struct CallStream<T, E> {
    opening: Opening,
    events: Option<mpsc::UnboundedReceiver<Event>>,
    pending: Arc<AtomicUsize>,
    idle: Pin<Box<Sleep>>,
    deadline: Option<Pin<Box<Sleep>>>,
    method: &'static str,
    next_n: u64,
    consumed: Credit,
    credited: Credit,
    end: Option<StreamEnd>,
    _types: PhantomData<fn() -> (T, E)>,
}

impl<T, E> std::fmt::Debug for CallStream<T, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallStream")
            .field("method", &self.method)
            .field("server", &self.opening.server)
            .field("received", &self.next_n)
            .field("end", &self.end)
            .finish()
    }
}

impl<T, E> Unpin for CallStream<T, E> {}

impl<T: DeserializeOwned, E: DeserializeOwned> CallStream<T, E> {
    /// The next item; `None` once the stream has ended (see [`CallStream::end`]).
    pub async fn next(&mut self) -> Option<Result<T, CallError<E>>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// Reads the rest of the stream; the first error ends it.
    pub async fn collect_all(mut self) -> Result<Vec<T>, CallError<E>> {
        let mut items = Vec::new();
        while let Some(item) = self.next().await {
            items.push(item?);
        }
        Ok(items)
    }
}

impl<T, E> CallStream<T, E> {
    /// How the stream ended; `None` while it is open.
    pub fn end(&self) -> Option<&StreamEnd> {
        self.end.as_ref()
    }

    /// Items received so far.
    pub fn received(&self) -> u64 {
        self.next_n
    }

    /// The identity producing the stream.
    pub fn server(&self) -> &str {
        &self.opening.server
    }

    /// Ends the stream here and cancels it at the server (as dropping it does).
    pub fn cancel(&mut self) {
        self.finish(StreamEnd::Cancelled, true);
    }

    fn finish(&mut self, end: StreamEnd, cancel_server: bool) {
        if self.end.is_none() {
            self.end = Some(end);
            self.events = None;
            self.opening.armed = false;
            self.opening.hub.forget(&self.opening.id);
            if cancel_server {
                self.opening.hub.spawn_control(
                    &self.opening.server,
                    &self.opening.id,
                    Control::Cancel,
                );
            }
        }
    }

    fn fail<U>(
        &mut self,
        end: StreamEnd,
        cancel_server: bool,
        error: RpcError,
    ) -> Poll<Option<Result<U, CallError<E>>>> {
        self.finish(end, cancel_server);
        Poll::Ready(Some(Err(CallError::Rpc(error))))
    }
}

impl<T: DeserializeOwned, E: DeserializeOwned> Stream for CallStream<T, E> {
    type Item = Result<T, CallError<E>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.end.is_some() {
                return Poll::Ready(None);
            }
            if let Some(deadline) = &mut this.deadline {
                if deadline.as_mut().poll(cx).is_ready() {
                    let error = wire::stream_error(
                        RpcErrorCode::ResponseTimeout,
                        "deadline",
                        format!("the deadline of {} passed", this.method),
                    );
                    return this.fail(StreamEnd::TimedOut, true, error);
                }
            }
            let Some(events) = &mut this.events else {
                return Poll::Ready(None);
            };
            let event = match events.poll_recv(cx) {
                Poll::Ready(event) => event,
                Poll::Pending => {
                    if this.idle.as_mut().poll(cx).is_ready() {
                        let error = wire::stream_error(
                            RpcErrorCode::ResponseTimeout,
                            "stream_idle",
                            format!(
                                "no record of {} from {} within the idle timeout ({} ms)",
                                this.method, this.opening.server, this.opening.params.idle_ms
                            ),
                        );
                        return this.fail(StreamEnd::TimedOut, true, error);
                    }
                    return Poll::Pending;
                }
            };
            let line = match event {
                Some(Event::Line(line)) => line,
                Some(Event::Failed(error)) => return this.fail(StreamEnd::Broken, true, error),
                Some(Event::Closed) | None => {
                    let error = data_loss(format!(
                        "the stream of {} ended without its end record after {} items",
                        this.method, this.next_n
                    ));
                    return this.fail(StreamEnd::DataLoss, false, error);
                }
            };
            this.pending.fetch_sub(1, Ordering::SeqCst);
            this.idle
                .as_mut()
                .reset(Instant::now() + this.opening.params.idle());
            let head: RecordHead = match serde_json::from_str(&line) {
                Ok(head) => head,
                Err(e) => {
                    let error =
                        protocol_error(format!("a record of {} is not valid: {e}", this.method));
                    return this.fail(StreamEnd::Broken, true, error);
                }
            };
            if let Some(n) = head.n {
                if n != this.next_n {
                    let error = data_loss(format!(
                        "item {n} of {} arrived where item {} was due",
                        this.method, this.next_n
                    ));
                    return this.fail(StreamEnd::DataLoss, true, error);
                }
                this.next_n += 1;
                this.consumed.items += 1;
                this.consumed.bytes += line.len() as u64 + 1;
                if let Some(credit) = due_credit(this.consumed, this.credited, &this.opening.params)
                {
                    this.credited = credit;
                    this.opening.hub.spawn_control(
                        &this.opening.server,
                        &this.opening.id,
                        Control::Credit(credit),
                    );
                }
                return match serde_json::from_str::<ItemBody<T>>(&line) {
                    Ok(body) => Poll::Ready(Some(Ok(body.i))),
                    Err(e) => {
                        let error = RpcError::built_in(
                            RpcErrorCode::ApplicationError,
                            Some(format!(
                                "item {n} of {} is not a valid {}: {e}",
                                this.method,
                                std::any::type_name::<T>()
                            )),
                        );
                        this.fail(StreamEnd::Broken, true, error)
                    }
                };
            }
            if head.hb.is_some() {
                continue;
            }
            let count = head.count.unwrap_or(u64::MAX);
            match head.end.as_deref() {
                Some(_) if count != this.next_n => {
                    let error = data_loss(format!(
                        "the server sent {count} items of {} and {} arrived",
                        this.method, this.next_n
                    ));
                    return this.fail(StreamEnd::DataLoss, false, error);
                }
                Some("ok") => {
                    this.finish(StreamEnd::Completed { count }, false);
                    return Poll::Ready(None);
                }
                Some("error") => {
                    let error = head.error.map(RpcError::from).unwrap_or_else(|| {
                        protocol_error("the stream ended with an error it did not describe".into())
                    });
                    this.finish(StreamEnd::Failed, false);
                    return Poll::Ready(Some(Err(CallError::from_wire(error))));
                }
                Some("cancelled") => {
                    let error = wire::stream_error(
                        RpcErrorCode::ApplicationError,
                        "cancelled",
                        format!("the server cancelled the stream of {}", this.method),
                    );
                    return this.fail(StreamEnd::Cancelled, false, error);
                }
                _ => {
                    let error =
                        protocol_error(format!("a record of {} is of no known kind", this.method));
                    return this.fail(StreamEnd::Broken, true, error);
                }
            }
        }
    }
}

fn data_loss(message: String) -> RpcError {
    wire::stream_error(RpcErrorCode::ApplicationError, "data_loss", message)
}

fn protocol_error(message: String) -> RpcError {
    wire::stream_error(RpcErrorCode::ApplicationError, "protocol", message)
}
