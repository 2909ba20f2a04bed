//! One participant's session with a LiveKit server: join over the signal WebSocket, the
//! peer connection's offer, answer and trickled candidates, then the life of the session
//! (participants coming and going, attribute updates, data both ways) and, when the
//! server goes away, a full rejoin with backoff.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use livekit_protocol as lk;
use livekit_signaling::{SignalClient, SignalError, SignalEvent, SignalEvents, SignalOptions};
use prost::Message;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::peer::{LocalDescription, PeerEvent, PeerLink};
use super::url::ServerUrl;
use crate::proto::{self, participant_info, DataPacket};
use crate::room::{
    merge_attributes, JoinOptions, ParticipantKind, RemoteParticipant, RemoteRegistry, RoomEvent,
};
use crate::sync::lock;

/// How long joining may take, signal and data channels together, before it fails.
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a broken session keeps trying to rejoin before it gives up.
pub const REJOIN_WINDOW: Duration = Duration::from_secs(60);
/// The signal protocol we speak: 17 is what livekit-server 1.13 speaks; 18 would make a
/// newer server expect pre-negotiated data channels, and ours are announced in band.
const SIGNAL_PROTOCOL: u32 = 17;
/// How long resuming a session whose signal connection broke may take before a full
/// rejoin is tried instead (calls in flight fail then, so this stays short).
const RESUME_BUDGET: Duration = Duration::from_secs(2);
/// How long packets from a sender the server has not described yet are held for its
/// `ParticipantInfo`: livekit-server batches the joins of participants that publish no
/// tracks for up to 3 s, while their data is forwarded at once, and a caller policy must
/// see the caller's kind and attributes, not a stranger.
const HOLD_FOR_UNKNOWN_SENDER: Duration = Duration::from_secs(4);
/// At most this many bytes are held for unknown senders; past it they are delivered as
/// strangers rather than held.
const HOLD_BYTES: usize = 16 * 1024 * 1024;
/// How long a clean leave waits for the server to take the leave before closing.
const LEAVE_GRACE: Duration = Duration::from_millis(250);

/// Why joining failed: what the server or the network said.
#[derive(Debug, Clone)]
pub(crate) struct JoinFailure {
    /// The HTTP status the server refused with, if it answered.
    pub status: Option<u16>,
    pub reason: String,
}

impl JoinFailure {
    fn new(reason: impl Into<String>) -> Self {
        Self {
            status: None,
            reason: reason.into(),
        }
    }
}

fn from_signal_error(error: SignalError) -> JoinFailure {
    match error {
        SignalError::Client(status, body) | SignalError::Server(status, body) => JoinFailure {
            status: Some(status.as_u16()),
            reason: format!("the server answered {status}: {}", body.trim()),
        },
        SignalError::Handshake { status } => JoinFailure {
            status: Some(status.as_u16()),
            reason: format!("the server refused the WebSocket with {status}"),
        },
        other => JoinFailure::new(other.to_string()),
    }
}

/// What the transport asks of the session.
pub(crate) enum SessionCommand {
    /// Merge these into our attributes on the server.
    UpdateAttributes(HashMap<String, String>),
    /// Leave the room and close everything.
    Leave,
}

/// The live peer connection and the numbering of the reliable packets sent on it.
pub(crate) struct Live {
    pub peer: PeerLink,
    /// The server drops reliable packets whose `sequence` does not increase; it counts
    /// per session, so a rejoin starts again at 1.
    pub next_sequence: u32,
}

/// What the transport and the session share.
pub(crate) struct Shared {
    pub live: Mutex<Option<Live>>,
    pub commands: mpsc::UnboundedSender<SessionCommand>,
}

/// A joined session: the signal client, the peer connections, and what the server said.
struct Established {
    signal: SignalClient,
    signal_events: SignalEvents,
    server_ip: IpAddr,
    /// The connection we offer and send on (and, in single-PC mode, receive on).
    peer: PeerLink,
    peer_events: mpsc::UnboundedReceiver<PeerEvent>,
    /// In two-PC mode, the server's connection that we receive on.
    subscriber: Subscriber,
    join: lk::JoinResponse,
    /// Participant updates that arrived while the data channels were opening.
    early_updates: Vec<lk::ParticipantInfo>,
    /// Data packets that arrived while the data channels were opening.
    early_data: Vec<Vec<u8>>,
}

fn signal_options(options: &JoinOptions) -> SignalOptions {
    let mut signal = SignalOptions::default();
    signal.auto_subscribe = false;
    signal.single_peer_connection = true;
    // A self-hosted server has no regions to fail over to; an error is reported as is.
    signal.region_failover = false;
    signal.protocol_version = SIGNAL_PROTOCOL;
    signal.connect_timeout = JOIN_TIMEOUT;
    signal.client_protocol = options.client_protocol;
    signal.client_capabilities = options
        .capabilities()
        .into_iter()
        .filter_map(|c| proto::Capability::try_from(c).ok())
        .collect();
    signal
}

/// Reads a trickled candidate's JSON (`{"candidate": "candidate:…", "sdpMid": …}`).
fn candidate_line(candidate_init: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(candidate_init).ok()?;
    let line = value.get("candidate")?.as_str()?;
    (!line.is_empty()).then(|| line.to_owned())
}

/// Sends our candidate for one connection to the server.
async fn trickle(signal: &SignalClient, local: &LocalDescription, target: lk::SignalTarget) {
    let candidate_init = serde_json::json!({
        "candidate": local.candidate,
        "sdpMid": local.mid,
        "sdpMLineIndex": 0,
    });
    signal
        .send(lk::signal_request::Message::Trickle(lk::TrickleRequest {
            candidate_init: candidate_init.to_string(),
            target: target as i32,
            r#final: false,
        }))
        .await;
}

/// The server's subscriber connection (two-PC mode only) and its events.
type Subscriber = Option<(PeerLink, mpsc::UnboundedReceiver<PeerEvent>)>;

/// The subscriber's next event; never, without one.
async fn subscriber_event(subscriber: &mut Subscriber) -> Option<PeerEvent> {
    match subscriber {
        Some((_, events)) => events.recv().await,
        None => std::future::pending().await,
    }
}

/// Answers an offer from the server: the first creates the subscriber connection (a
/// server without `/rtc/v1` uses two), later ones renegotiate it.
async fn answer_offer(
    signal: &SignalClient,
    server_ip: IpAddr,
    subscriber: &mut Subscriber,
    offer: lk::SessionDescription,
) -> Result<(), String> {
    let sdp = match subscriber {
        Some((link, _)) => link.accept_offer(offer.sdp).await?,
        None => {
            let (link, local, events) = PeerLink::answer(server_ip, &offer.sdp).await?;
            let sdp = local.sdp.clone();
            *subscriber = Some((link, events));
            trickle(signal, &local, lk::SignalTarget::Subscriber).await;
            sdp
        }
    };
    signal
        .send(lk::signal_request::Message::Answer(
            lk::SessionDescription {
                r#type: "answer".into(),
                sdp,
                id: offer.id,
                ..Default::default()
            },
        ))
        .await;
    Ok(())
}

/// Joins: the signal WebSocket, then our offer and candidate (and, from a server that
/// only speaks two peer connections, its subscriber offer answered), until the channels
/// we send and receive on are open.
async fn establish(
    url: &ServerUrl,
    token: &str,
    options: &JoinOptions,
) -> Result<Established, JoinFailure> {
    let server_ip = url.resolve().await.map_err(JoinFailure::new)?;
    let (signal, join, mut signal_events) =
        SignalClient::connect(&url.signal_url, token, signal_options(options), None)
            .await
            .map_err(from_signal_error)?;
    let two_pc = !signal.is_single_pc_mode_active();
    let (peer, local, mut peer_events) =
        PeerLink::offer(server_ip).await.map_err(JoinFailure::new)?;
    signal
        .send(lk::signal_request::Message::Offer(lk::SessionDescription {
            r#type: "offer".into(),
            sdp: local.sdp.clone(),
            id: 1,
            ..Default::default()
        }))
        .await;
    trickle(&signal, &local, lk::SignalTarget::Publisher).await;

    let mut subscriber: Subscriber = None;
    let (mut sending, mut receiving) = (false, !two_pc);
    let mut early_updates = Vec::new();
    let mut early_data = Vec::new();
    while !(sending && receiving) {
        tokio::select! {
            event = signal_events.recv() => match event {
                Some(SignalEvent::Message(message)) => match *message {
                    lk::signal_response::Message::Answer(answer) => {
                        peer.accept_answer(answer.sdp).await.map_err(JoinFailure::new)?;
                    }
                    lk::signal_response::Message::Offer(offer) => {
                        answer_offer(&signal, server_ip, &mut subscriber, offer)
                            .await
                            .map_err(JoinFailure::new)?;
                    }
                    lk::signal_response::Message::Trickle(trickle) => {
                        route_candidate(&peer, &subscriber, &trickle);
                    }
                    lk::signal_response::Message::Update(update) => {
                        early_updates.extend(update.participants);
                    }
                    lk::signal_response::Message::Leave(leave) => {
                        return Err(JoinFailure::new(format!(
                            "the server sent us away while joining (reason {:?})",
                            lk::DisconnectReason::try_from(leave.reason).unwrap_or_default()
                        )));
                    }
                    _ => {}
                },
                Some(SignalEvent::Close(reason)) => {
                    return Err(JoinFailure::new(format!("the signal connection closed while joining: {reason}")));
                }
                None => return Err(JoinFailure::new("the signal connection closed while joining")),
            },
            event = peer_events.recv() => match event {
                Some(PeerEvent::Open) => sending = true,
                // In single-PC mode our own channels carry what we receive too.
                Some(PeerEvent::Data(bytes)) => early_data.push(bytes),
                Some(PeerEvent::Closed(reason)) => {
                    return Err(JoinFailure::new(format!("the data channels failed to open: {reason}")));
                }
                None => return Err(JoinFailure::new("the data channels failed to open")),
            },
            event = subscriber_event(&mut subscriber) => match event {
                Some(PeerEvent::Open) => receiving = true,
                Some(PeerEvent::Data(bytes)) => early_data.push(bytes),
                Some(PeerEvent::Closed(reason)) => {
                    return Err(JoinFailure::new(format!("the server's data channels failed to open: {reason}")));
                }
                None => return Err(JoinFailure::new("the server's data channels failed to open")),
            },
        }
    }
    Ok(Established {
        signal,
        signal_events,
        server_ip,
        peer,
        peer_events,
        subscriber,
        join,
        early_updates,
        early_data,
    })
}

/// Hands a trickled server candidate to the connection it is for.
fn route_candidate(peer: &PeerLink, subscriber: &Subscriber, trickle: &lk::TrickleRequest) {
    let Some(line) = candidate_line(&trickle.candidate_init) else {
        return;
    };
    match subscriber {
        Some((link, _)) if trickle.target == lk::SignalTarget::Subscriber as i32 => {
            link.add_remote_candidate(line)
        }
        _ => peer.add_remote_candidate(line),
    }
}

/// Joins once, with [`JOIN_TIMEOUT`] for all of it.
pub(crate) async fn join_once(
    url: &ServerUrl,
    token: &str,
    options: &JoinOptions,
) -> Result<Session, JoinFailure> {
    let established = tokio::time::timeout(JOIN_TIMEOUT, establish(url, token, options))
        .await
        .map_err(|_| {
            JoinFailure::new(format!(
                "no answer within {} s (is a LiveKit server listening at {}?)",
                JOIN_TIMEOUT.as_secs(),
                url.signal_url
            ))
        })??;
    Ok(Session::new(
        url.clone(),
        token.to_owned(),
        options.clone(),
        established,
    ))
}

/// Everything a session knows; the task in [`Session::run`] owns it.
pub(crate) struct Session {
    url: ServerUrl,
    token: String,
    options: JoinOptions,
    current: Established,
    /// Our own participant, as the server last described it.
    pub me: lk::ParticipantInfo,
    /// Latest `ParticipantInfo.version` per sid, to drop stale updates.
    versions: HashMap<String, u32>,
    /// Highest reliable `sequence` seen per sender sid (the server forwards the sender's
    /// numbering; a repeat is a duplicate).
    last_sequence: HashMap<String, u32>,
    /// Our attributes as we asked for them, republished after a rejoin.
    attributes: HashMap<String, String>,
    /// Packets from senders not yet described, in arrival order per sender.
    held: HashMap<String, HeldPackets>,
    held_bytes: usize,
}

struct HeldPackets {
    since: Instant,
    packets: Vec<(DataPacket, usize)>,
}

impl Session {
    fn new(url: ServerUrl, token: String, options: JoinOptions, current: Established) -> Self {
        let me = current.join.participant.clone().unwrap_or_default();
        let attributes = me.attributes.clone();
        Self {
            url,
            token,
            options,
            current,
            me,
            versions: HashMap::new(),
            last_sequence: HashMap::new(),
            attributes,
            held: HashMap::new(),
            held_bytes: 0,
        }
    }

    pub(crate) fn server_version(&self) -> Option<String> {
        self.current
            .join
            .server_info
            .as_ref()
            .map(|s| s.version.clone())
            .filter(|v| !v.is_empty())
            .or_else(|| Some(self.current.join.server_version.clone()).filter(|v| !v.is_empty()))
    }

    pub(crate) fn live(&self) -> Live {
        Live {
            peer: self.current.peer.clone(),
            next_sequence: 1,
        }
    }

    /// Applies the join response's participant list (and the updates that came with it)
    /// to `remotes`, sending what changed as events.
    pub(crate) fn adopt_room(&mut self, remotes: &RemoteRegistry, events: &RoomEvents) {
        let mut present: Vec<lk::ParticipantInfo> = self.current.join.other_participants.clone();
        present.extend(std::mem::take(&mut self.current.early_updates));
        // Whoever we knew and the server no longer lists left while we were away.
        let listed: Vec<&str> = present.iter().map(|p| p.identity.as_str()).collect();
        for known in remotes.all() {
            if !listed.contains(&known.identity.as_str()) {
                remotes.remove(&known.identity);
                events.send(RoomEvent::ParticipantLeft(known.identity));
            }
        }
        self.apply_updates(present, remotes, events);
        for bytes in std::mem::take(&mut self.current.early_data) {
            self.handle_data(&bytes, remotes, events);
        }
    }

    fn apply_updates(
        &mut self,
        infos: Vec<lk::ParticipantInfo>,
        remotes: &RemoteRegistry,
        events: &RoomEvents,
    ) {
        for info in infos {
            if info.sid == self.me.sid || info.identity == self.me.identity {
                if info.sid == self.me.sid && info.version >= self.me.version {
                    self.me = info;
                }
                continue;
            }
            let seen = self.versions.get(&info.sid).copied().unwrap_or(0);
            if info.version < seen {
                continue;
            }
            self.versions.insert(info.sid.clone(), info.version);
            if info.state == participant_info::State::Disconnected as i32 {
                // A rejoin under the same identity has a new sid; the old one leaving
                // must not remove the new one.
                if remotes
                    .get(&info.identity)
                    .is_some_and(|known| known.sid == info.sid)
                {
                    remotes.remove(&info.identity);
                    self.versions.remove(&info.sid);
                    events.send(RoomEvent::ParticipantLeft(info.identity));
                }
                continue;
            }
            let remote = RemoteParticipant::from_info(&info);
            match remotes.get(&remote.identity) {
                Some(known) if known == remote => {}
                Some(_) => {
                    remotes.insert(remote.clone());
                    events.send(RoomEvent::ParticipantUpdated(remote));
                }
                None => {
                    let identity = remote.identity.clone();
                    remotes.insert(remote.clone());
                    events.send(RoomEvent::ParticipantJoined(remote));
                    self.release(&identity, events);
                }
            }
        }
    }

    /// Delivers what was held for `identity`.
    fn release(&mut self, identity: &str, events: &RoomEvents) {
        if let Some(held) = self.held.remove(identity) {
            for (packet, size) in held.packets {
                self.held_bytes -= size;
                events.send(RoomEvent::Data(Box::new(packet)));
            }
        }
    }

    /// Delivers what was held longer than [`HOLD_FOR_UNKNOWN_SENDER`].
    fn release_expired(&mut self, events: &RoomEvents) {
        let expired: Vec<String> = self
            .held
            .iter()
            .filter(|(_, h)| h.since.elapsed() >= HOLD_FOR_UNKNOWN_SENDER)
            .map(|(identity, _)| identity.clone())
            .collect();
        for identity in expired {
            tracing::warn!(
                sender = identity,
                "the server never described this sender; its packets are delivered without its kind or attributes"
            );
            self.release(&identity, events);
        }
    }

    fn handle_data(&mut self, bytes: &[u8], remotes: &RemoteRegistry, events: &RoomEvents) {
        let packet = match DataPacket::decode(bytes) {
            Ok(packet) => packet,
            Err(e) => {
                tracing::warn!(error = %e, "undecodable data packet from the server dropped");
                return;
            }
        };
        // `kind` is deprecated in the protocol, but livekit-server still stamps it with
        // the channel the packet came on, and only reliable packets are numbered.
        #[allow(deprecated)]
        let reliable = packet.kind == proto::data_packet::Kind::Reliable as i32;
        if reliable && packet.sequence > 0 {
            let last = self
                .last_sequence
                .entry(packet.participant_sid.clone())
                .or_insert(0);
            if packet.sequence <= *last {
                return;
            }
            *last = packet.sequence;
        }
        let sender = &packet.participant_identity;
        let unknown =
            !sender.is_empty() && *sender != self.me.identity && !remotes.contains(sender);
        if unknown || self.held.contains_key(sender) {
            let size = bytes.len();
            if self.held_bytes + size <= HOLD_BYTES {
                self.held_bytes += size;
                self.held
                    .entry(sender.clone())
                    .or_insert_with(|| HeldPackets {
                        since: Instant::now(),
                        packets: Vec::new(),
                    })
                    .packets
                    .push((packet, size));
                return;
            }
            let sender = sender.clone();
            self.release(&sender, events);
        }
        events.send(RoomEvent::Data(Box::new(packet)));
    }

    async fn update_attributes(&mut self, changes: HashMap<String, String>) {
        self.merge_wanted(changes.clone());
        let request_id = self.current.signal.next_request_id();
        self.current
            .signal
            .send(lk::signal_request::Message::UpdateMetadata(
                lk::UpdateParticipantMetadata {
                    attributes: changes,
                    request_id,
                    ..Default::default()
                },
            ))
            .await;
    }

    /// Serves the session until we leave or the server is gone for good. The registry
    /// and `shared.live` are kept current; `events` feed the participant.
    pub(crate) async fn run(
        mut self,
        shared: Arc<Shared>,
        mut commands: mpsc::UnboundedReceiver<SessionCommand>,
        remotes: RemoteRegistry,
        events: RoomEvents,
    ) {
        loop {
            let lost = self.serve(&mut commands, &remotes, &events).await;
            let Some(reason) = lost else {
                break;
            };
            *lock(&shared.live) = None;
            self.current.signal.close().await;
            tracing::warn!(reason, "connection to the LiveKit server lost; rejoining");
            events.send(RoomEvent::ConnectionLost(reason.clone()));
            if !self.rejoin(&shared, &mut commands, &remotes, &events).await {
                break;
            }
        }
        *lock(&shared.live) = None;
        remotes.clear();
        // Dropping `events` ends the participant's dispatcher: it is out of the room.
    }

    /// One session's life; `Some(reason)` when the link broke, `None` when it ended.
    async fn serve(
        &mut self,
        commands: &mut mpsc::UnboundedReceiver<SessionCommand>,
        remotes: &RemoteRegistry,
        events: &RoomEvents,
    ) -> Option<String> {
        loop {
            tokio::select! {
                event = self.current.signal_events.recv() => match event {
                    Some(SignalEvent::Message(message)) => {
                        if let Some(end) = self.handle_signal(*message, remotes, events).await {
                            return end;
                        }
                    }
                    Some(SignalEvent::Close(reason)) => {
                        if self.resume(&reason).await {
                            continue;
                        }
                        return Some(format!("signal connection closed: {reason}"));
                    }
                    None => return Some("signal connection closed".into()),
                },
                event = self.current.peer_events.recv() => match event {
                    Some(PeerEvent::Data(bytes)) => self.handle_data(&bytes, remotes, events),
                    Some(PeerEvent::Open) => {}
                    Some(PeerEvent::Closed(reason)) => {
                        return Some(format!("data channels closed: {reason}"));
                    }
                    None => return Some("data channels closed".into()),
                },
                event = subscriber_event(&mut self.current.subscriber) => match event {
                    Some(PeerEvent::Data(bytes)) => self.handle_data(&bytes, remotes, events),
                    Some(PeerEvent::Open) => {}
                    Some(PeerEvent::Closed(reason)) => {
                        return Some(format!("the server's data channels closed: {reason}"));
                    }
                    None => return Some("the server's data channels closed".into()),
                },
                command = commands.recv() => match command {
                    Some(SessionCommand::UpdateAttributes(changes)) => {
                        self.update_attributes(changes).await;
                    }
                    Some(SessionCommand::Leave) | None => {
                        self.leave().await;
                        return None;
                    }
                },
                _ = events.closed() => {
                    self.leave().await;
                    return None;
                }
                _ = tokio::time::sleep(Duration::from_millis(250)), if !self.held.is_empty() => {
                    self.release_expired(events);
                }
            }
        }
    }

    /// Handles one signal message; `Some(end)` when it ends the session (`Some(None)`:
    /// for good; `Some(Some(reason))`: rejoin).
    async fn handle_signal(
        &mut self,
        message: lk::signal_response::Message,
        remotes: &RemoteRegistry,
        events: &RoomEvents,
    ) -> Option<Option<String>> {
        use lk::signal_response::Message as M;
        match message {
            M::Update(update) => self.apply_updates(update.participants, remotes, events),
            M::Trickle(trickle) => {
                route_candidate(&self.current.peer, &self.current.subscriber, &trickle)
            }
            M::Offer(offer) => {
                let current = &mut self.current;
                let answered = answer_offer(
                    &current.signal,
                    current.server_ip,
                    &mut current.subscriber,
                    offer,
                )
                .await;
                if let Err(reason) = answered {
                    return Some(Some(reason));
                }
            }
            M::RefreshToken(token) => self.token = token,
            M::RequestResponse(response)
                if response.reason != lk::request_response::Reason::Ok as i32 =>
            {
                let reason = lk::request_response::Reason::try_from(response.reason)
                    .map(|r| r.as_str_name())
                    .unwrap_or("UNKNOWN");
                tracing::error!(
                    reason,
                    message = response.message,
                    "the LiveKit server refused a request (attribute update)"
                );
            }
            M::Leave(leave) => {
                let reason = lk::DisconnectReason::try_from(leave.reason).unwrap_or_default();
                let action = lk::leave_request::Action::try_from(leave.action).unwrap_or_default();
                return match action {
                    lk::leave_request::Action::Disconnect => {
                        tracing::warn!(?reason, "the LiveKit server removed this participant");
                        Some(None)
                    }
                    _ => Some(Some(format!(
                        "the server asked us to reconnect ({reason:?})"
                    ))),
                };
            }
            _ => {}
        }
        None
    }

    /// The signal connection broke while the data channels may still be up: asks the
    /// server to resume the session (same sid, nobody sees us leave, calls in flight go
    /// on), as LiveKit's SDKs do first. False when the server does not take it within
    /// [`RESUME_BUDGET`] (it was restarted, or is gone), and a full rejoin follows.
    async fn resume(&mut self, reason: &str) -> bool {
        tracing::info!(reason, "signal connection lost; resuming the session");
        let give_up = Instant::now() + RESUME_BUDGET;
        let mut backoff = Duration::from_millis(100);
        loop {
            let remaining = give_up.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return false;
            }
            let restart = self
                .current
                .signal
                .restart(lk::ReconnectReason::RrSignalDisconnected);
            match tokio::time::timeout(remaining, restart).await {
                Ok(Ok(_)) => {
                    self.current.signal.set_reconnected().await;
                    tracing::info!("session resumed");
                    return true;
                }
                // The server no longer knows the session: only a rejoin helps.
                Ok(Err(SignalError::LeaveRequest { .. })) | Err(_) => return false,
                Ok(Err(e)) => tracing::debug!(error = %e, "resume attempt failed"),
            }
            tokio::time::sleep(backoff.min(remaining)).await;
            backoff *= 2;
        }
    }

    async fn leave(&mut self) {
        self.current
            .signal
            .send(lk::signal_request::Message::Leave(lk::LeaveRequest {
                reason: lk::DisconnectReason::ClientInitiated as i32,
                action: lk::leave_request::Action::Disconnect as i32,
                ..Default::default()
            }))
            .await;
        // As the JS SDK does: give the server a moment to take the leave, then close.
        let _ = tokio::time::timeout(LEAVE_GRACE, async {
            while let Some(event) = self.current.signal_events.recv().await {
                if matches!(event, SignalEvent::Close(_)) {
                    break;
                }
            }
        })
        .await;
        self.current.signal.close().await;
    }

    /// Rejoins with backoff until it works (true) or the window closes or we leave (false).
    async fn rejoin(
        &mut self,
        shared: &Shared,
        commands: &mut mpsc::UnboundedReceiver<SessionCommand>,
        remotes: &RemoteRegistry,
        events: &RoomEvents,
    ) -> bool {
        let give_up = Instant::now() + REJOIN_WINDOW;
        let mut backoff = Duration::from_millis(250);
        loop {
            let attempt = tokio::time::timeout(
                JOIN_TIMEOUT,
                establish(&self.url, &self.token, &self.options),
            );
            let result = tokio::select! {
                result = attempt => result.unwrap_or_else(|_| Err(JoinFailure::new("timed out"))),
                command = commands.recv() => match command {
                    Some(SessionCommand::UpdateAttributes(changes)) => {
                        self.merge_wanted(changes);
                        continue;
                    }
                    Some(SessionCommand::Leave) | None => return false,
                },
                _ = events.closed() => return false,
            };
            match result {
                Ok(established) => {
                    self.current = established;
                    if let Some(me) = self.current.join.participant.clone() {
                        self.me = me;
                    }
                    self.versions.clear();
                    *lock(&shared.live) = Some(self.live());
                    self.adopt_room(remotes, events);
                    // Attributes (the manifests of served services among them) belong to
                    // the session the server lost; publish them again.
                    let wanted: HashMap<String, String> = self
                        .attributes
                        .iter()
                        .filter(|(k, v)| self.me.attributes.get(*k) != Some(v))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    if !wanted.is_empty() {
                        self.update_attributes(wanted).await;
                    }
                    tracing::info!("rejoined the LiveKit server");
                    events.send(RoomEvent::Reconnected);
                    return true;
                }
                Err(failure) => {
                    if Instant::now() + backoff > give_up {
                        tracing::error!(
                            reason = failure.reason,
                            "giving up rejoining the LiveKit server"
                        );
                        return false;
                    }
                    tracing::debug!(reason = failure.reason, "rejoin attempt failed");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = events.closed() => return false,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Records what our attributes should be, for a rejoin to publish again.
    fn merge_wanted(&mut self, changes: HashMap<String, String>) {
        // The participant checked the size before the change reached us.
        if let Ok(merged) = merge_attributes(&self.attributes, &changes) {
            self.attributes = merged;
        }
    }

    /// Sends our initial attributes, as `JoinOptions::attributes` asked.
    pub(crate) async fn publish_initial_attributes(&mut self, attributes: HashMap<String, String>) {
        if !attributes.is_empty() {
            self.update_attributes(attributes).await;
        }
    }

    /// Our kind, as the server stamped it from the token.
    pub(crate) fn kind(&self) -> ParticipantKind {
        ParticipantKind::try_from(self.me.kind).unwrap_or(ParticipantKind::Standard)
    }
}

/// The participant's event channel.
pub(crate) struct RoomEvents(pub mpsc::UnboundedSender<RoomEvent>);

impl RoomEvents {
    fn send(&self, event: RoomEvent) {
        let _ = self.0.send(event);
    }

    async fn closed(&self) {
        self.0.closed().await
    }
}
