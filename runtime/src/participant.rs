//! A participant in a room: the dispatcher that routes incoming packets to the RPC engine
//! and the data-stream layer, and the public API (RPC, streams, presence).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch, Notify};

use crate::endpoint::{RawHandler, RpcEndpoint};
use crate::error::{Error, RpcError};
use crate::proto::{self, data_packet, DataPacket};
use crate::room::{
    merge_attributes, BoxFuture, Connection, ConnectionState, JoinOptions, MemoryRoom,
    RemoteParticipant, RemoteRegistry, RoomEvent, TransportError,
};
use crate::rpc::{
    self, CallerPolicy, PerformRpcData, ProgressFn, RpcEngine, RpcInvocationData, TransferProgress,
};
use crate::streaming::{wire as typed_wire, StreamHub};
use crate::streams::incoming::{IncomingStreams, Opened};
use crate::streams::sender::StreamSender;
use crate::streams::{
    ByteStreamReader, ByteStreamWriter, SendBytesOptions, SendFileOptions, SendTextOptions,
    SentStream, StreamError, StreamOptions, TextStreamReader, TextStreamWriter,
};
use crate::sync::lock;

type TextHandler = Arc<dyn Fn(TextStreamReader) + Send + Sync>;
type ByteHandler = Arc<dyn Fn(ByteStreamReader) + Send + Sync>;

/// Counts of live state inside a participant, to check that nothing leaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Diagnostics {
    /// Outgoing calls waiting for an answer.
    pub pending_calls: usize,
    /// Incoming streams still being received.
    pub open_incoming_streams: usize,
    /// Handler invocations running.
    pub running_handlers: usize,
    /// Incoming calls waiting for their caller's next free slot.
    pub queued_calls: usize,
    /// Incoming calls refused because a queue was full (load), since joining.
    pub refused_overloaded: u64,
    /// Streaming calls open here, as caller or as server.
    pub open_call_streams: usize,
    /// Running handlers a caller could cancel (those with an `RpcContext`).
    pub cancellable_handlers: usize,
}

/// Everything a participant is; shared by its handles and its dispatcher.
pub(crate) struct Core {
    identity: String,
    options: JoinOptions,
    remotes: RemoteRegistry,
    presence: Notify,
    /// Counts joins, leaves and attribute updates, so a waiter misses none.
    room_version: watch::Sender<u64>,
    /// Our own attributes, as the room last accepted them.
    attributes: Mutex<HashMap<String, String>>,
    streams: Mutex<IncomingStreams>,
    text_handlers: Mutex<HashMap<String, TextHandler>>,
    byte_handlers: Mutex<HashMap<String, ByteHandler>>,
    sender: Arc<StreamSender>,
    rpc: Arc<RpcEngine>,
    /// Streaming calls and cancellations (the `typed_rpc` wire).
    hub: Arc<StreamHub>,
    /// Whether calls and streams can flow now (false while reconnecting and after leaving).
    connected: Arc<AtomicBool>,
    /// Set once, when we leave for good.
    left: AtomicBool,
    state: watch::Sender<ConnectionState>,
}

impl Core {
    fn is_connected(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }

    fn handle_event(self: &Arc<Self>, event: RoomEvent) {
        match event {
            RoomEvent::Data(packet) => self.handle_packet(*packet),
            RoomEvent::ParticipantJoined(_) | RoomEvent::ParticipantUpdated(_) => {
                self.room_changed()
            }
            RoomEvent::ParticipantLeft(identity) => {
                lock(&self.streams).sender_left(&identity);
                self.rpc.participant_left(&identity);
                self.hub.participant_left(&identity);
                self.room_changed();
            }
            RoomEvent::ConnectionLost(reason) => self.connection_lost(reason),
            RoomEvent::Reconnected => {
                if !self.left.load(Ordering::SeqCst) {
                    self.connected.store(true, Ordering::SeqCst);
                    self.state.send_replace(ConnectionState::Connected);
                    self.room_changed();
                }
            }
        }
    }

    /// The link broke: what was in flight on it fails now, with the reason, and new calls
    /// are refused until the link reports it is back.
    fn connection_lost(&self, reason: String) {
        if self.left.load(Ordering::SeqCst) {
            return;
        }
        self.connected.store(false, Ordering::SeqCst);
        let message = format!("the connection to the LiveKit server was lost ({reason})");
        self.rpc.pending.connection_lost(&reason);
        lock(&self.streams).close_all(&message);
        self.hub.local_link_down(&message, false);
        self.state
            .send_replace(ConnectionState::Reconnecting(reason));
        self.room_changed();
    }

    fn room_changed(&self) {
        self.room_version.send_modify(|v| *v += 1);
        self.presence.notify_waiters();
    }

    /// Applies `changes` to our attributes: checked against LiveKit's rules, sent to the
    /// room, and recorded once the room link took them, all before returning.
    fn set_attributes(&self, changes: HashMap<String, String>) -> Result<(), Error> {
        if !self.is_connected() {
            return Err(Error::NotConnected);
        }
        let mut current = lock(&self.attributes);
        let merged = merge_attributes(&current, &changes)?;
        self.sender
            .transport()
            .set_attributes(changes)
            .map_err(|e| match e {
                TransportError::Disconnected => Error::NotConnected,
                other => Error::Room(other.to_string()),
            })?;
        *current = merged;
        Ok(())
    }

    fn handle_packet(self: &Arc<Self>, packet: DataPacket) {
        let sender = packet.participant_identity;
        let Some(value) = packet.value else {
            tracing::warn!(sender, "data packet without a value dropped");
            return;
        };
        match value {
            data_packet::Value::RpcRequest(request) => {
                rpc::server::handle_request_packet(&self.rpc, sender, request)
            }
            data_packet::Value::RpcAck(ack) => self.rpc.pending.handle_ack(&ack.request_id),
            data_packet::Value::RpcResponse(response) => {
                self.rpc.pending.handle_response_packet(response)
            }
            data_packet::Value::StreamHeader(header) => {
                let opened = lock(&self.streams).handle_header(&sender, header);
                if let Some(opened) = opened {
                    self.route_stream(sender, opened);
                }
            }
            data_packet::Value::StreamChunk(chunk) => {
                lock(&self.streams).handle_chunk(&sender, chunk)
            }
            data_packet::Value::StreamTrailer(trailer) => {
                lock(&self.streams).handle_trailer(&sender, trailer)
            }
            data_packet::Value::EncryptedPacket(_) => tracing::warn!(
                sender,
                "encrypted data packet dropped: end-to-end encryption is not supported"
            ),
            _ => tracing::debug!(sender, "data packet of a kind RPC does not use ignored"),
        }
    }

    fn route_stream(self: &Arc<Self>, sender: String, opened: Opened) {
        match opened {
            Opened::Text(reader) => {
                let topic = reader.info().topic.clone();
                if self.rpc.speaks_rpc_v2() && topic == proto::RPC_REQUEST_TOPIC {
                    rpc::server::handle_request_stream(&self.rpc, sender, reader);
                } else if self.rpc.speaks_rpc_v2() && topic == proto::RPC_RESPONSE_TOPIC {
                    self.rpc.pending.handle_response_stream(&sender, reader);
                } else if topic == typed_wire::STREAM_TOPIC || topic == typed_wire::CONTROL_TOPIC {
                    self.hub.route(sender, reader);
                } else if let Some(handler) = lock(&self.text_handlers).get(&topic).cloned() {
                    handler(reader);
                }
            }
            Opened::Bytes(reader) => {
                let topic = reader.info().topic.clone();
                if let Some(handler) = lock(&self.byte_handlers).get(&topic).cloned() {
                    handler(reader);
                }
            }
        }
    }

    fn leave(&self) {
        if !self.left.swap(true, Ordering::SeqCst) {
            self.connected.store(false, Ordering::SeqCst);
            self.state.send_replace(ConnectionState::Disconnected);
            self.sender.transport().leave();
            self.rpc.pending.local_left();
            lock(&self.streams).close_all("the local participant left the room");
            self.hub
                .local_link_down("the local participant left the room", true);
            self.room_changed();
        }
    }
}

/// Leaves the room when the last [`Participant`] handle is dropped.
struct Handle {
    core: Arc<Core>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.core.leave();
    }
}

/// A participant in a room. Cheap to clone; when the last clone is dropped (or on
/// [`Participant::leave`]) it leaves and everyone else sees it go.
#[derive(Clone)]
pub struct Participant {
    handle: Arc<Handle>,
}

impl std::fmt::Debug for Participant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Participant")
            .field("identity", &self.core().identity)
            .field("client_protocol", &self.core().options.client_protocol)
            .finish()
    }
}

async fn dispatch(core: Arc<Core>, mut events: mpsc::UnboundedReceiver<RoomEvent>) {
    while let Some(event) = events.recv().await {
        core.handle_event(event);
    }
    // The room closed our link (left, replaced by a newer join, or the bridge dropped).
    core.leave();
}

impl Participant {
    /// A participant on top of a room connection. Must be called inside a tokio runtime:
    /// it spawns the task that dispatches incoming packets.
    pub fn new(connection: Connection) -> Self {
        let Connection {
            identity,
            options,
            transport,
            events,
            remotes,
            server_version,
        } = connection;
        let mut streams = IncomingStreams::new(
            options.stream_limits.clone(),
            options.client_protocol,
            options.compression_enabled(),
        );
        if options.client_protocol >= proto::CLIENT_PROTOCOL_DATA_STREAM_RPC {
            streams.claim_topic(proto::RPC_REQUEST_TOPIC, true);
            streams.claim_topic(proto::RPC_RESPONSE_TOPIC, true);
            let cap = options.rpc_limits.max_payload_bytes;
            streams.cap_topic(proto::RPC_REQUEST_TOPIC, cap);
            streams.cap_topic(proto::RPC_RESPONSE_TOPIC, cap);
        }
        streams.claim_topic(typed_wire::STREAM_TOPIC, true);
        streams.claim_topic(typed_wire::CONTROL_TOPIC, true);
        // Control messages carry everything in their header; their body is empty.
        streams.cap_topic(typed_wire::CONTROL_TOPIC, 1024);
        let connected = Arc::new(AtomicBool::new(true));
        let sender = Arc::new(StreamSender::new(
            transport,
            remotes.clone(),
            options.clone(),
        ));
        let rpc = Arc::new(RpcEngine::new(
            identity.clone(),
            options.clone(),
            server_version,
            remotes.clone(),
            connected.clone(),
            sender.clone(),
        ));
        let hub = Arc::new(StreamHub::new(
            sender.clone(),
            options.rpc_limits.max_streams_per_caller,
            usize::try_from(options.rpc_limits.max_payload_bytes).unwrap_or(usize::MAX),
        ));
        let own_attributes = options.attributes.clone();
        let core = Arc::new(Core {
            identity,
            options,
            remotes,
            presence: Notify::new(),
            room_version: watch::Sender::new(0),
            attributes: Mutex::new(own_attributes),
            streams: Mutex::new(streams),
            text_handlers: Mutex::default(),
            byte_handlers: Mutex::default(),
            sender,
            rpc,
            hub,
            connected,
            left: AtomicBool::new(false),
            state: watch::Sender::new(ConnectionState::Connected),
        });
        tokio::spawn(dispatch(core.clone(), events));
        Self {
            handle: Arc::new(Handle { core }),
        }
    }

    pub(crate) fn core(&self) -> &Arc<Core> {
        &self.handle.core
    }

    /// Our identity.
    pub fn identity(&self) -> &str {
        &self.core().identity
    }

    /// The client protocol we advertise (and speak).
    pub fn client_protocol(&self) -> i32 {
        self.core().options.client_protocol
    }

    /// What we advertised when joining.
    pub fn join_options(&self) -> &JoinOptions {
        &self.core().options
    }

    /// Whether we are in the room with a working link (false while a link to a LiveKit
    /// server is reconnecting, and after leaving).
    pub fn is_connected(&self) -> bool {
        self.core().is_connected()
    }

    /// Where our link to the room stands.
    pub fn connection_state(&self) -> ConnectionState {
        self.core().state.borrow().clone()
    }

    /// Every change of [`Participant::connection_state`], as a watch the app can await
    /// (`changed().await`), starting from the current state.
    pub fn connection_states(&self) -> watch::Receiver<ConnectionState> {
        self.core().state.subscribe()
    }

    /// The other participants as we know them.
    pub fn remote_participants(&self) -> Vec<RemoteParticipant> {
        self.core().remotes.all()
    }

    /// Another participant, if it is in the room.
    pub fn remote_participant(&self, identity: &str) -> Option<RemoteParticipant> {
        self.core().remotes.get(identity)
    }

    /// Our participant attributes, as the room last accepted them.
    pub fn attributes(&self) -> HashMap<String, String> {
        lock(&self.core().attributes).clone()
    }

    /// Updates our participant attributes with LiveKit's merge rule: a non-empty value
    /// sets its key, an empty value deletes it, other keys stay. The result may take at
    /// most 64 KiB (keys plus values); over that nothing changes and the error says so.
    /// Everyone else sees the new attributes on their [`RemoteParticipant`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use std::collections::HashMap;
    /// use std::time::Duration;
    /// use livekit_typed_rpc::MemoryRoom;
    /// let room = MemoryRoom::new();
    /// let alice = room.join("alice").await.unwrap();
    /// let bob = room.join("bob").await.unwrap();
    /// alice.set_attributes(HashMap::from([("mood".into(), "calm".into())])).await.unwrap();
    /// let seen = bob
    ///     .wait_for_remotes(Duration::from_secs(1), |remotes| {
    ///         remotes.iter().find_map(|r| r.attributes.get("mood").cloned())
    ///     })
    ///     .await;
    /// assert_eq!(seen.as_deref(), Some("calm"));
    /// # }
    /// ```
    pub async fn set_attributes(&self, changes: HashMap<String, String>) -> Result<(), Error> {
        self.core().set_attributes(changes)
    }

    /// Waits until `check` finds what it looks for among the other participants (their
    /// identities, kinds and attributes), looking again after every join, leave and
    /// attribute update; `None` after `timeout`.
    pub async fn wait_for_remotes<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&[RemoteParticipant]) -> Option<T>,
    ) -> Option<T> {
        let mut version = self.core().room_version.subscribe();
        let wait = async {
            loop {
                version.borrow_and_update();
                if let Some(found) = check(&self.core().remotes.all()) {
                    return Some(found);
                }
                if version.changed().await.is_err() {
                    return None;
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.ok().flatten()
    }

    /// Waits until exactly one other participant serves the `#[livekit_rpc]` service
    /// `service` (the trait name), as its manifest attribute says, and returns its
    /// identity. Several servers and none within `timeout` are distinct errors
    /// ([`Error::ServiceAmbiguous`] lists them). Typed clients have
    /// `<Trait>Client::discover`.
    pub async fn wait_for_service(
        &self,
        service: &str,
        timeout: Duration,
    ) -> Result<String, Error> {
        crate::discovery::wait_for_service(self, service, &[], timeout).await
    }

    /// The identities serving `service` now, sorted.
    pub fn servers(&self, service: &str) -> Vec<String> {
        crate::discovery::servers(self, service, &[])
    }

    /// Waits until `identity` is in the room (calling a peer before it arrives is the most
    /// common cause of `CONNECTION_TIMEOUT`). Returns `None` after `timeout`.
    pub async fn wait_for_participant(
        &self,
        identity: &str,
        timeout: Duration,
    ) -> Option<RemoteParticipant> {
        let core = self.core();
        let wait = async {
            loop {
                let notified = core.presence.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if let Some(remote) = core.remotes.get(identity) {
                    return remote;
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.ok()
    }

    /// Calls `method` on another participant and waits for its answer.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use livekit_typed_rpc::{MemoryRoom, PerformRpcData, RpcInvocationData};
    /// let room = MemoryRoom::new();
    /// let alice = room.join("alice").await.unwrap();
    /// let bob = room.join("bob").await.unwrap();
    /// alice.register_rpc_method("echo", |data: RpcInvocationData| async move { Ok(data.payload) }).unwrap();
    /// let reply = bob.perform_rpc(PerformRpcData {
    ///     destination_identity: "alice".into(), method: "echo".into(), payload: "hi".into(),
    ///     ..Default::default() }).await;
    /// assert_eq!(reply.unwrap(), "hi");
    /// # }
    /// ```
    pub async fn perform_rpc(&self, data: PerformRpcData) -> Result<String, RpcError> {
        rpc::client::perform(&self.core().rpc, data).await
    }

    /// [`Participant::perform_rpc`], telling `progress` how far the request goes out and
    /// the response comes in ([`TransferProgress`]): after each published or received
    /// piece of an RPC v2 stream, once for a payload in one packet.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use livekit_typed_rpc::{MemoryRoom, PerformRpcData, RpcInvocationData, TransferDirection};
    /// use std::sync::{Arc, Mutex};
    /// let room = MemoryRoom::new();
    /// let alice = room.join("alice").await.unwrap();
    /// let bob = room.join("bob").await.unwrap();
    /// alice.register_rpc_method("echo", |d: RpcInvocationData| async move { Ok(d.payload) }).unwrap();
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// let call = PerformRpcData { destination_identity: "alice".into(), method: "echo".into(),
    ///     payload: "x".repeat(100_000), ..Default::default() };
    /// bob.perform_rpc_with_progress(call, move |p| log.lock().unwrap().push(p)).await.unwrap();
    /// let last = *seen.lock().unwrap().last().unwrap();
    /// assert_eq!((last.direction, last.bytes, last.total), (TransferDirection::Response, 100_000, Some(100_000)));
    /// # }
    /// ```
    pub async fn perform_rpc_with_progress(
        &self,
        data: PerformRpcData,
        progress: impl Fn(TransferProgress) + Send + Sync + 'static,
    ) -> Result<String, RpcError> {
        rpc::client::perform_with_progress(&self.core().rpc, data, Some(Arc::new(progress))).await
    }

    /// Serves `method`; fails if it already has a handler.
    pub fn register_rpc_method<F, Fut>(&self, method: &str, handler: F) -> Result<(), Error>
    where
        F: Fn(RpcInvocationData) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, RpcError>> + Send + 'static,
    {
        self.core().rpc.handlers.register(method, None, handler)
    }

    /// Serves `method` to the callers `policy` allows; others get UNSUPPORTED_METHOD
    /// (1400) before their payload is read.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use livekit_typed_rpc::{CallerPolicy, MemoryRoom, PerformRpcData, RpcInvocationData};
    /// let room = MemoryRoom::new();
    /// let robot = room.join("robot").await.unwrap();
    /// let operator = room.join("operator").await.unwrap();
    /// let guest = room.join("guest").await.unwrap();
    /// robot.register_rpc_method_with_policy("stop", CallerPolicy::identities(["operator"]),
    ///     |_: RpcInvocationData| async { Ok("stopped".to_string()) }).unwrap();
    /// let call = |method: &str| PerformRpcData {
    ///     destination_identity: "robot".into(), method: method.into(), ..Default::default() };
    /// assert_eq!(operator.perform_rpc(call("stop")).await.unwrap(), "stopped");
    /// assert_eq!(guest.perform_rpc(call("stop")).await.unwrap_err().code, 1400);
    /// # }
    /// ```
    pub fn register_rpc_method_with_policy<F, Fut>(
        &self,
        method: &str,
        policy: CallerPolicy,
        handler: F,
    ) -> Result<(), Error>
    where
        F: Fn(RpcInvocationData) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, RpcError>> + Send + 'static,
    {
        self.core()
            .rpc
            .handlers
            .register(method, Some(policy), handler)
    }

    /// Stops serving `method`; returns whether it was registered.
    pub fn unregister_rpc_method(&self, method: &str) -> bool {
        self.core().rpc.handlers.unregister(method)
    }

    /// Sends a complete text stream: one inline packet, a compressed stream or a chunked
    /// stream, whichever the recipients support, as the reference SDK decides.
    pub async fn send_text(
        &self,
        text: &str,
        options: SendTextOptions,
    ) -> Result<SentStream, StreamError> {
        self.core().sender.send_text(text, options).await
    }

    /// Sends a complete byte stream, chosen like [`Participant::send_text`].
    pub async fn send_bytes(
        &self,
        data: &[u8],
        options: SendBytesOptions,
    ) -> Result<SentStream, StreamError> {
        self.core().sender.send_bytes(data, options).await
    }

    /// Streams a file from disk as a byte stream: chunked (never inline) and compressed
    /// where every recipient supports it, without reading it whole into memory.
    pub async fn send_file(
        &self,
        path: impl AsRef<std::path::Path>,
        options: SendFileOptions,
    ) -> Result<SentStream, StreamError> {
        self.core().sender.send_file(path.as_ref(), options).await
    }

    /// Opens an incremental text stream (never inline, never compressed).
    pub async fn stream_text(
        &self,
        options: StreamOptions,
    ) -> Result<TextStreamWriter, StreamError> {
        self.core().sender.stream_text(options).await
    }

    /// Opens an incremental byte stream (never inline, never compressed).
    pub async fn stream_bytes(
        &self,
        options: StreamOptions,
    ) -> Result<ByteStreamWriter, StreamError> {
        self.core().sender.stream_bytes(options).await
    }

    /// Receives text streams on `topic`: `handler` gets each stream's reader as its header
    /// arrives (spawn a task to read it). The RPC topics are taken.
    pub fn register_text_stream_handler<F>(&self, topic: &str, handler: F) -> Result<(), Error>
    where
        F: Fn(TextStreamReader) + Send + Sync + 'static,
    {
        if !lock(&self.core().streams).claim_topic(topic, true) {
            return Err(Error::HandlerAlreadyRegistered(topic.to_owned()));
        }
        lock(&self.core().text_handlers).insert(topic.to_owned(), Arc::new(handler));
        Ok(())
    }

    /// Receives byte streams on `topic`, like [`Participant::register_text_stream_handler`].
    pub fn register_byte_stream_handler<F>(&self, topic: &str, handler: F) -> Result<(), Error>
    where
        F: Fn(ByteStreamReader) + Send + Sync + 'static,
    {
        if !lock(&self.core().streams).claim_topic(topic, false) {
            return Err(Error::HandlerAlreadyRegistered(topic.to_owned()));
        }
        lock(&self.core().byte_handlers).insert(topic.to_owned(), Arc::new(handler));
        Ok(())
    }

    /// Stops receiving text streams on `topic`.
    pub fn unregister_text_stream_handler(&self, topic: &str) {
        if lock(&self.core().text_handlers).remove(topic).is_some() {
            lock(&self.core().streams).release_topic(topic, true);
        }
    }

    /// Stops receiving byte streams on `topic`.
    pub fn unregister_byte_stream_handler(&self, topic: &str) {
        if lock(&self.core().byte_handlers).remove(topic).is_some() {
            lock(&self.core().streams).release_topic(topic, false);
        }
    }

    /// Counts of live internal state (pending calls, open streams, running handlers).
    pub fn diagnostics(&self) -> Diagnostics {
        let core = self.core();
        Diagnostics {
            pending_calls: core.rpc.pending.pending_count(),
            open_incoming_streams: lock(&core.streams).open_count(),
            running_handlers: core.rpc.handlers.running_count(),
            queued_calls: core.rpc.handlers.queued_count(),
            refused_overloaded: core.rpc.handlers.refused_overloaded_count(),
            open_call_streams: core.hub.open_streams(),
            cancellable_handlers: core.hub.cancellable_calls(),
        }
    }

    /// Leaves the room. Pending calls fail, open incoming streams end abnormally, and
    /// everyone else sees us leave.
    pub async fn leave(&self) {
        self.core().leave();
        tokio::task::yield_now().await;
    }
}

impl RpcEndpoint for Participant {
    fn perform_rpc(
        &self,
        data: PerformRpcData,
    ) -> impl Future<Output = Result<String, RpcError>> + Send {
        Participant::perform_rpc(self, data)
    }

    fn perform_rpc_with_progress(
        &self,
        data: PerformRpcData,
        progress: ProgressFn,
    ) -> BoxFuture<'static, Result<String, RpcError>> {
        let engine = self.core().rpc.clone();
        Box::pin(
            async move { rpc::client::perform_with_progress(&engine, data, Some(progress)).await },
        )
    }

    fn register_raw(&self, method: &str, handler: RawHandler) -> Result<(), Error> {
        self.core()
            .rpc
            .handlers
            .register_handler(method, None, handler)
    }

    fn register_raw_with_policy(
        &self,
        method: &str,
        policy: CallerPolicy,
        handler: RawHandler,
    ) -> Result<(), Error> {
        self.core()
            .rpc
            .handlers
            .register_handler(method, Some(policy), handler)
    }

    fn unregister_raw(&self, method: &str) -> bool {
        self.unregister_rpc_method(method)
    }

    fn set_attributes(
        &self,
        changes: HashMap<String, String>,
    ) -> BoxFuture<'static, Result<(), Error>> {
        let result = self.core().set_attributes(changes);
        Box::pin(async move { result })
    }

    fn remote_participants(&self) -> Vec<RemoteParticipant> {
        self.core().remotes.all()
    }

    fn stream_hub(&self) -> Option<Arc<StreamHub>> {
        Some(self.core().hub.clone())
    }

    fn room_version(&self) -> u64 {
        *self.core().room_version.borrow()
    }

    fn room_changed(&self, seen: u64) -> BoxFuture<'static, ()> {
        let mut version = self.core().room_version.subscribe();
        Box::pin(async move {
            let _ = version.wait_for(|v| *v != seen).await;
        })
    }
}

/// Joining puts a [`Participant`] on top of the room's raw link
/// ([`MemoryRoom::connect`]); it lives here, above the room.
impl MemoryRoom {
    /// Joins as `identity` with protocol 2 and compression.
    pub async fn join(&self, identity: &str) -> Result<Participant, Error> {
        self.join_with(identity, JoinOptions::default()).await
    }

    /// Joins as `identity` advertising `options`.
    pub async fn join_with(
        &self,
        identity: &str,
        options: JoinOptions,
    ) -> Result<Participant, Error> {
        Ok(Participant::new(self.connect(identity, options)?))
    }
}
