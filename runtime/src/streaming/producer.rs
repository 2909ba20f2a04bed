//! The server side of a streaming method: what a handler returns ([`RpcStream`]), what a
//! spawned producer writes to ([`StreamSink`]), and the pump that turns either into the
//! call's item stream under the caller's credit, with heartbeats, a deadline and an end.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};

use super::cancel::{CancelReason, CancelSignal};
use super::hub::{Credit, ProducerSlot};
use super::wire::{
    self, EndRecord, StreamParams, ATTR_ID, ATTR_METHOD, ATTR_VERSION, STREAM_TOPIC, WIRE_VERSION,
};
use crate::error::{RpcError, RpcErrorCode};
use crate::room::BoxFuture;
use crate::streams::StreamOptions;

type BoxStream<T> = Pin<Box<dyn Stream<Item = T> + Send>>;
type Producer<T, E> = Box<dyn FnOnce(StreamSink<T, E>) -> BoxFuture<'static, Result<(), E>> + Send>;

enum Source<T, E> {
    Stream(BoxStream<Result<T, E>>),
    Spawn(Producer<T, E>),
}

/// What a streaming method's handler returns: the items to send, in order, ending with
/// success or with a typed error `E`.
///
/// ```
/// use livekit_typed_rpc::streaming::RpcStream;
/// // Three items, then the end.
/// let counted: RpcStream<u32, String> = RpcStream::from_iter(1..=3);
/// // Items as a task produces them; `send` waits while the caller's window is full.
/// let ticks: RpcStream<u32, String> = RpcStream::spawn(|sink| async move {
///     for n in 0..10 {
///         if sink.send(n).await.is_err() {
///             break; // the caller cancelled or left
///         }
///     }
///     Ok(())
/// });
/// # let _ = (counted, ticks);
/// ```
pub struct RpcStream<T, E> {
    source: Source<T, E>,
}

impl<T, E> std::fmt::Debug for RpcStream<T, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RpcStream")
    }
}

/// A stream of items as a stream of `Ok` items.
struct OkItems<S, E> {
    items: Pin<Box<S>>,
    error: std::marker::PhantomData<fn() -> E>,
}

impl<S: Stream, E> Stream for OkItems<S, E> {
    type Item = Result<S::Item, E>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.items.as_mut().poll_next(cx).map(|o| o.map(Ok))
    }
}

struct IterStream<I>(I);

impl<I: Iterator + Unpin> Stream for IterStream<I> {
    type Item = I::Item;
    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready(self.0.next())
    }
}

impl<T: Send + 'static, E: Send + 'static> RpcStream<T, E> {
    /// Sends every item of `stream`, then ends successfully.
    pub fn from_stream(stream: impl Stream<Item = T> + Send + 'static) -> Self {
        Self::from_try_stream(OkItems {
            items: Box::pin(stream),
            error: std::marker::PhantomData,
        })
    }

    /// Sends the `Ok` items of `stream`; an `Err` ends the stream with that typed error.
    pub fn from_try_stream(stream: impl Stream<Item = Result<T, E>> + Send + 'static) -> Self {
        Self {
            source: Source::Stream(Box::pin(stream)),
        }
    }

    /// Sends the items of `items` (already at hand), then ends successfully.
    #[allow(clippy::should_implement_trait)]
    pub fn from_iter<I>(items: I) -> Self
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + Unpin + 'static,
    {
        Self::from_stream(IterStream(items.into_iter()))
    }

    /// Runs `producer` as a task once the call is accepted; it sends items through its
    /// [`StreamSink`] and its result ends the stream. When the stream ends for another
    /// reason (cancelled, caller left, deadline), [`StreamSink::cancelled`] fires and
    /// `send` fails; a task still running a second later is aborted.
    pub fn spawn<F, Fut>(producer: F) -> Self
    where
        F: FnOnce(StreamSink<T, E>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
    {
        Self {
            source: Source::Spawn(Box::new(move |sink| Box::pin(producer(sink)))),
        }
    }
}

/// Where a spawned producer ([`RpcStream::spawn`]) sends its items.
pub struct StreamSink<T, E> {
    items: mpsc::Sender<Result<T, E>>,
    cancel: CancelSignal,
}

impl<T, E> std::fmt::Debug for StreamSink<T, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamSink")
            .field("cancelled", &self.cancel.reason())
            .finish()
    }
}

/// The stream has ended (cancelled, caller left, deadline): nothing more can be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the stream has ended; the item was not sent")]
pub struct StreamClosed;

impl<T, E> StreamSink<T, E> {
    /// Sends one item, waiting while the caller's credit window is full.
    pub async fn send(&self, item: T) -> Result<(), StreamClosed> {
        if self.cancel.reason().is_some() {
            return Err(StreamClosed);
        }
        self.items.send(Ok(item)).await.map_err(|_| StreamClosed)
    }

    /// Sends one item if the window has room now; otherwise drops it (for streams where
    /// only the latest value matters) and returns `Ok(false)`.
    pub fn try_send(&self, item: T) -> Result<bool, StreamClosed> {
        match self.items.try_send(Ok(item)) {
            Ok(()) => Ok(true),
            Err(mpsc::error::TrySendError::Full(_)) => Ok(false),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(StreamClosed),
        }
    }

    /// Resolves when the stream is cancelled, with the reason.
    pub async fn cancelled(&self) -> CancelReason {
        self.cancel.cancelled().await
    }

    /// Whether the stream has been cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.reason().is_some()
    }
}

/// What the pump reads items from.
enum Running<T, E> {
    Stream(BoxStream<Result<T, E>>),
    Task {
        items: mpsc::Receiver<Result<T, E>>,
        task: tokio::task::JoinHandle<()>,
    },
}

impl<T, E> Running<T, E> {
    async fn next(&mut self) -> Option<Result<T, E>> {
        match self {
            Running::Stream(s) => std::future::poll_fn(|cx| s.as_mut().poll_next(cx)).await,
            Running::Task { items, .. } => items.recv().await,
        }
    }

    /// The next item if one is ready now.
    fn ready(&mut self) -> Option<Option<Result<T, E>>> {
        match self {
            Running::Stream(s) => {
                let waker = std::task::Waker::noop();
                match s.as_mut().poll_next(&mut Context::from_waker(waker)) {
                    Poll::Ready(item) => Some(item),
                    Poll::Pending => None,
                }
            }
            Running::Task { items, .. } => match items.try_recv() {
                Ok(item) => Some(Some(item)),
                Err(mpsc::error::TryRecvError::Empty) => None,
                Err(mpsc::error::TryRecvError::Disconnected) => Some(None),
            },
        }
    }
}

/// How long a spawned producer has to stop on its own once its stream has ended (its
/// `send` fails at once and `cancelled()` has fired) before it is aborted.
const PRODUCER_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

impl<T, E> Drop for Running<T, E> {
    fn drop(&mut self) {
        if let Running::Task { task, .. } = self {
            if task.is_finished() {
                return;
            }
            let abort = task.abort_handle();
            let finished = std::mem::replace(task, tokio::spawn(async {}));
            tokio::spawn(async move {
                if tokio::time::timeout(PRODUCER_GRACE, finished)
                    .await
                    .is_err()
                {
                    abort.abort();
                }
            });
        }
    }
}

/// Records are written in batches of about this many bytes when items are ready faster
/// than the link takes them: one data-stream chunk each, rather than one per item.
const BATCH_BYTES: usize = 14_000;

/// Everything the pump of one accepted streaming call needs.
pub(crate) struct Pump<T, E> {
    pub slot: ProducerSlot,
    pub caller: String,
    pub id: String,
    pub method: String,
    pub params: StreamParams,
    pub stream: RpcStream<T, E>,
    pub encode_error: fn(&E) -> RpcError,
}

enum Ending {
    Record(EndRecord),
    /// Nobody to tell: the caller left, or we did.
    Silent,
}

impl<T: Serialize + Send + 'static, E: Send + 'static> Pump<T, E> {
    /// Sends the call's records until it ends; the slot unregisters the stream after.
    pub(crate) async fn run(self) {
        let Pump {
            mut slot,
            caller,
            id,
            method,
            params,
            stream,
            encode_error,
        } = self;
        let cancel = slot.cancel.clone();
        let mut running = match stream.source {
            Source::Stream(s) => Running::Stream(s),
            Source::Spawn(producer) => {
                let (tx, items) = mpsc::channel(1);
                let sink = StreamSink {
                    items: tx.clone(),
                    cancel: cancel.clone(),
                };
                let task = tokio::spawn(async move {
                    if let Err(e) = producer(sink).await {
                        let _ = tx.send(Err(e)).await;
                    }
                });
                Running::Task { items, task }
            }
        };
        let options = StreamOptions {
            topic: STREAM_TOPIC.to_owned(),
            attributes: HashMap::from([
                (ATTR_VERSION.to_owned(), WIRE_VERSION.to_string()),
                (ATTR_ID.to_owned(), id.clone()),
                (ATTR_METHOD.to_owned(), method.clone()),
            ]),
            destination_identities: vec![caller.clone()],
            ..Default::default()
        };
        let mut writer = match slot.sender().stream_text(options).await {
            Ok(writer) => writer,
            Err(e) => {
                tracing::warn!(caller, id, method, error = %e, "typed_rpc item stream could not be opened");
                cancel.cancel(CancelReason::LocalLeft);
                return;
            }
        };
        let started = Instant::now();
        let idle = params.idle();
        let deadline = params.deadline().map(|d| started + d);
        let heartbeat_every = idle / 3;
        let mut credit = Credit::default();
        let mut blocked_since: Option<Instant> = None;
        let mut last_write = started;
        let (mut sent, mut sent_bytes) = (0u64, 0u64);
        let window_items = u64::from(params.window_items);
        let window_open = |sent: u64, sent_bytes: u64, credit: &Credit| {
            sent < credit.items + window_items
                && (sent_bytes < credit.bytes + params.window_bytes || sent == credit.items)
        };
        let mut batch = String::new();
        let ending = loop {
            let open = window_open(sent, sent_bytes, &credit);
            blocked_since = if open {
                None
            } else {
                blocked_since.or(Some(Instant::now()))
            };
            tokio::select! {
                biased;
                reason = cancel.cancelled() => {
                    break match reason {
                        CancelReason::CallerLeft | CancelReason::LocalLeft => Ending::Silent,
                        CancelReason::DeadlinePassed => Ending::Record(EndRecord::Error(deadline_error())),
                        CancelReason::ConsumerStalled => Ending::Record(EndRecord::Error(stalled_error())),
                        CancelReason::CallerCancelled => Ending::Record(EndRecord::Cancelled),
                    };
                }
                _ = sleep_until(deadline.unwrap_or(started)), if deadline.is_some() => {
                    cancel.cancel(CancelReason::DeadlinePassed);
                    break Ending::Record(EndRecord::Error(deadline_error()));
                }
                changed = slot.credit.changed() => {
                    if changed.is_err() {
                        break Ending::Silent;
                    }
                    credit = *slot.credit.borrow_and_update();
                }
                item = running.next(), if open => {
                    let mut item = item;
                    let mut end = None;
                    loop {
                        match item {
                            None => { end = Some(EndRecord::Ok); break; }
                            Some(Err(e)) => { end = Some(EndRecord::Error(encode_error(&e))); break; }
                            Some(Ok(value)) => match serde_json::to_string(&value) {
                                Ok(json) => {
                                    let before = batch.len();
                                    wire::push_item(&mut batch, sent, &json);
                                    sent += 1;
                                    sent_bytes += (batch.len() - before) as u64;
                                }
                                Err(e) => {
                                    end = Some(EndRecord::Error(RpcError::built_in(
                                        RpcErrorCode::ApplicationError,
                                        Some(format!("item {sent} of {method:?} could not be encoded as JSON: {e}")),
                                    )));
                                    break;
                                }
                            },
                        }
                        if batch.len() >= BATCH_BYTES || !window_open(sent, sent_bytes, &credit) {
                            break;
                        }
                        match running.ready() {
                            Some(next) => item = next,
                            None => break,
                        }
                    }
                    if let Some(end) = end {
                        break Ending::Record(end);
                    }
                    if let Err(e) = writer.write(&batch).await {
                        tracing::debug!(caller, id, error = %e, "typed_rpc item stream broke");
                        break Ending::Silent;
                    }
                    batch.clear();
                    last_write = Instant::now();
                }
                _ = sleep_until(last_write + heartbeat_every) => {
                    if blocked_since.is_some_and(|since| since.elapsed() >= idle) {
                        cancel.cancel(CancelReason::ConsumerStalled);
                        break Ending::Record(EndRecord::Error(stalled_error()));
                    }
                    if let Err(e) = writer.write(&wire::heartbeat(sent)).await {
                        tracing::debug!(caller, id, error = %e, "typed_rpc item stream broke");
                        break Ending::Silent;
                    }
                    last_write = Instant::now();
                }
            }
        };
        // The producer stops before the end is written: a spawned task is dropped (its
        // `cancelled()` has fired unless it ended the stream itself).
        drop(running);
        match ending {
            Ending::Record(end) => {
                batch.push_str(&wire::end_record(&end, sent));
                let written = writer.write(&batch).await;
                if let Err(e) = written.and(writer.close().await) {
                    tracing::debug!(caller, id, error = %e, "typed_rpc stream end not delivered");
                }
            }
            Ending::Silent => {
                let _ = writer.close_with_reason("the stream was cancelled").await;
            }
        }
        drop(slot);
    }
}

fn deadline_error() -> RpcError {
    wire::stream_error(
        RpcErrorCode::ResponseTimeout,
        "deadline",
        "the stream's deadline passed",
    )
}

fn stalled_error() -> RpcError {
    wire::stream_error(
        RpcErrorCode::ApplicationError,
        "consumer_stalled",
        "the caller granted no credit for longer than the stream's idle timeout",
    )
}
