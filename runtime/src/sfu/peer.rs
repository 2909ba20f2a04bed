//! The data channels to a LiveKit server: one peer connection that we offer, carrying
//! `_reliable` (ordered, fully reliable) and `_lossy` (unordered, no retransmits), driven
//! by str0m on one UDP socket in a task of its own.
//!
//! str0m is sans-IO: every change to the `Rtc` is followed by draining its output until it
//! asks for a timeout, and this task is the only one that touches it.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::channel::{ChannelConfig, ChannelId, Reliability};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

/// The label LiveKit routes reliable data packets by.
pub(crate) const RELIABLE_LABEL: &str = "_reliable";
/// The label LiveKit routes lossy data packets by.
pub(crate) const LOSSY_LABEL: &str = "_lossy";

/// Bytes a channel may have queued in SCTP before we stop handing it more; writes wait
/// for it to drain, so a large stream holds a bounded amount of memory here.
const BUFFERED_HIGH: usize = 1024 * 1024;
/// Below this, a channel that was full accepts writes again.
const BUFFERED_LOW: usize = 256 * 1024;
/// How long ICE may stay disconnected before the link is reported lost (the server gives
/// up on us after about 15 s of silence).
const ICE_DISCONNECTED_GRACE: Duration = Duration::from_secs(10);

/// What the peer connection reports to the session.
#[derive(Debug)]
pub(crate) enum PeerEvent {
    /// Both channels are open: data can flow.
    Open,
    /// A message arrived on either channel (a serialised `DataPacket`).
    Data(Vec<u8>),
    /// The peer connection is gone, with why.
    Closed(String),
}

enum Command {
    Answer(String, oneshot::Sender<Result<(), String>>),
    Offer(String, oneshot::Sender<Result<String, String>>),
    RemoteCandidate(String),
    Send {
        lossy: bool,
        bytes: Vec<u8>,
        done: oneshot::Sender<Result<(), String>>,
    },
}

/// Our side of a connection: the SDP (offer or answer) and the one host candidate we
/// trickle after it.
pub(crate) struct LocalDescription {
    pub sdp: String,
    pub candidate: String,
    pub mid: String,
}

/// A handle on the peer connection's task; dropping every handle closes it.
#[derive(Clone)]
pub(crate) struct PeerLink {
    commands: mpsc::UnboundedSender<Command>,
}

impl PeerLink {
    /// The connection we offer (the only one in single-PC mode, the publisher in two-PC
    /// mode): binds a UDP socket on the local address that routes to `server`, builds the
    /// offer with both channels, and starts the task. Nothing is sent until the answer.
    pub(crate) async fn offer(
        server: IpAddr,
    ) -> Result<(Self, LocalDescription, mpsc::UnboundedReceiver<PeerEvent>), String> {
        let (mut rtc, socket) = new_rtc(server)?;
        let mut api = rtc.sdp_api();
        api.add_channel_with_config(ChannelConfig {
            label: RELIABLE_LABEL.into(),
            ordered: true,
            reliability: Reliability::Reliable,
            ..Default::default()
        });
        api.add_channel_with_config(ChannelConfig {
            label: LOSSY_LABEL.into(),
            ordered: false,
            reliability: Reliability::MaxRetransmits { retransmits: 0 },
            ..Default::default()
        });
        let (offer, pending) = api
            .apply()
            .ok_or("str0m produced no offer for the data channels")?;
        launch(rtc, socket, offer.to_sdp_string(), Some(pending))
    }

    /// The connection the server offers in two-PC mode (the subscriber), on which it
    /// creates the channels it sends our data on.
    pub(crate) async fn answer(
        server: IpAddr,
        offer: &str,
    ) -> Result<(Self, LocalDescription, mpsc::UnboundedReceiver<PeerEvent>), String> {
        let (mut rtc, socket) = new_rtc(server)?;
        let offer = SdpOffer::from_sdp_string(offer).map_err(|e| format!("bad SDP offer: {e}"))?;
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| format!("the server's SDP offer was refused: {e}"))?;
        launch(rtc, socket, answer.to_sdp_string(), None)
    }

    /// Answers a renegotiating offer from the server on this (subscriber) connection.
    pub(crate) async fn accept_offer(&self, sdp: String) -> Result<String, String> {
        let (done, rx) = oneshot::channel();
        self.commands
            .send(Command::Offer(sdp, done))
            .map_err(|_| "the peer connection is closed".to_owned())?;
        rx.await
            .unwrap_or_else(|_| Err("the peer connection is closed".into()))
    }

    /// Applies the server's answer.
    pub(crate) async fn accept_answer(&self, sdp: String) -> Result<(), String> {
        let (done, rx) = oneshot::channel();
        self.commands
            .send(Command::Answer(sdp, done))
            .map_err(|_| "the peer connection is closed".to_owned())?;
        rx.await
            .unwrap_or_else(|_| Err("the peer connection is closed".into()))
    }

    /// Adds one of the server's ICE candidates (an SDP `candidate:` line).
    pub(crate) fn add_remote_candidate(&self, candidate: String) {
        let _ = self.commands.send(Command::RemoteCandidate(candidate));
    }

    /// Queues one message now (messages go out in the order of these calls); the future
    /// resolves once the channel took it (it waits while the channel has
    /// [`BUFFERED_HIGH`] bytes queued, or is not open yet).
    pub(crate) fn send(
        &self,
        lossy: bool,
        bytes: Vec<u8>,
    ) -> impl std::future::Future<Output = Result<(), String>> + Send + 'static {
        let (done, rx) = oneshot::channel();
        let queued = self
            .commands
            .send(Command::Send { lossy, bytes, done })
            .is_ok();
        async move {
            if !queued {
                return Err("the peer connection is closed".to_owned());
            }
            rx.await
                .unwrap_or_else(|_| Err("the peer connection is closed".into()))
        }
    }
}

/// Bytes of UDP buffer asked of the OS each way. At the default (about 200 KiB) a burst
/// of data-channel traffic overflows the receive buffer (the kernel counts
/// `RcvbufErrors`) and SCTP stalls on retransmission timers; the OS caps what it grants
/// at `net.core.rmem_max` / `wmem_max`.
const UDP_BUFFER_BYTES: usize = 4 * 1024 * 1024;

fn bind_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    // Best effort: a smaller buffer still works, only slower under bursts.
    let _ = socket.set_recv_buffer_size(UDP_BUFFER_BYTES);
    let _ = socket.set_send_buffer_size(UDP_BUFFER_BYTES);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// A str0m instance and the UDP socket it will run on.
fn new_rtc(server: IpAddr) -> Result<(Rtc, UdpSocket), String> {
    let local_ip = local_ip_towards(server)?;
    let socket = bind_udp(SocketAddr::new(local_ip, 0))
        .map_err(|e| format!("cannot bind a UDP socket on {local_ip}: {e}"))?;
    // SCTP's send buffer must hold what a channel may queue, or writes are refused
    // before the channel ever reports its buffer drained.
    let rtc = Rtc::builder()
        .set_sctp_max_buffered_amount(2 * BUFFERED_HIGH)
        .build(Instant::now());
    Ok((rtc, socket))
}

/// Adds our host candidate (after the SDP, so it goes to the server by trickle, as SDKs
/// do) and starts the task that drives the connection.
fn launch(
    mut rtc: Rtc,
    socket: UdpSocket,
    sdp: String,
    pending: Option<SdpPendingOffer>,
) -> Result<
    (
        PeerLink,
        LocalDescription,
        mpsc::UnboundedReceiver<PeerEvent>,
    ),
    String,
> {
    let local_addr = socket
        .local_addr()
        .map_err(|e| format!("UDP socket has no local address: {e}"))?;
    let mid = sdp
        .lines()
        .find_map(|l| l.strip_prefix("a=mid:"))
        .unwrap_or("0")
        .trim()
        .to_owned();
    let candidate = Candidate::host(local_addr, "udp")
        .map_err(|e| format!("bad local candidate {local_addr}: {e}"))?;
    let candidate = rtc
        .add_local_candidate(candidate)
        .map(Candidate::to_sdp_string)
        .ok_or("str0m refused our host candidate")?;
    let (commands, command_rx) = mpsc::unbounded_channel();
    let (events, event_rx) = mpsc::unbounded_channel();
    let driver = Driver {
        rtc,
        socket,
        local_addr,
        pending,
        channels: Channels {
            reliable: ChannelQueue::new(),
            lossy: ChannelQueue::new(),
        },
        events,
        disconnected_since: None,
        open_reported: false,
    };
    tokio::spawn(driver.run(command_rx));
    Ok((
        PeerLink { commands },
        LocalDescription {
            sdp,
            candidate,
            mid,
        },
        event_rx,
    ))
}

/// The local address the OS would send from to reach `server`. Connecting a UDP socket
/// sends nothing; it only picks the route.
fn local_ip_towards(server: IpAddr) -> Result<IpAddr, String> {
    let unspecified: IpAddr = if server.is_ipv4() {
        std::net::Ipv4Addr::UNSPECIFIED.into()
    } else {
        std::net::Ipv6Addr::UNSPECIFIED.into()
    };
    let probe = std::net::UdpSocket::bind(SocketAddr::new(unspecified, 0))
        .map_err(|e| format!("cannot open a UDP socket: {e}"))?;
    probe
        .connect(SocketAddr::new(server, 9))
        .map_err(|e| format!("no route to the LiveKit server at {server}: {e}"))?;
    probe
        .local_addr()
        .map(|a| a.ip())
        .map_err(|e| format!("no local address towards {server}: {e}"))
}

/// A message waiting for room in a channel, and who to tell when it went.
type Waiting = (Vec<u8>, oneshot::Sender<Result<(), String>>);

/// One channel and the messages waiting for room in it.
struct ChannelQueue {
    /// Known once the channel opened (whoever created it, it is found by its label).
    id: Option<ChannelId>,
    open: bool,
    waiting: VecDeque<Waiting>,
}

impl ChannelQueue {
    fn new() -> Self {
        Self {
            id: None,
            open: false,
            waiting: VecDeque::new(),
        }
    }

    fn fail_all(&mut self, reason: &str) {
        for (_, done) in self.waiting.drain(..) {
            let _ = done.send(Err(reason.to_owned()));
        }
    }
}

struct Channels {
    reliable: ChannelQueue,
    lossy: ChannelQueue,
}

impl Channels {
    /// The queue of the lossy or the reliable channel.
    fn queue_mut(&mut self, lossy: bool) -> &mut ChannelQueue {
        if lossy {
            &mut self.lossy
        } else {
            &mut self.reliable
        }
    }

    /// Whether `id` is one of the two channels LiveKit's data packets use (a server's
    /// subscriber connection also carries `_data_track`, which is not ours to read).
    fn carries_packets(&self, id: ChannelId) -> bool {
        self.reliable.id == Some(id) || self.lossy.id == Some(id)
    }
}

struct Driver {
    rtc: Rtc,
    socket: UdpSocket,
    local_addr: SocketAddr,
    pending: Option<SdpPendingOffer>,
    channels: Channels,
    events: mpsc::UnboundedSender<PeerEvent>,
    disconnected_since: Option<Instant>,
    open_reported: bool,
}

impl Driver {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut buf = vec![0u8; 65_536];
        let reason = loop {
            let deadline = match self.drain() {
                Ok(deadline) => deadline,
                Err(reason) => break reason,
            };
            if let Some(since) = self.disconnected_since {
                if since.elapsed() >= ICE_DISCONNECTED_GRACE {
                    break format!(
                        "ICE lost the server for {} s",
                        ICE_DISCONNECTED_GRACE.as_secs()
                    );
                }
            }
            // Sleep at most a second, so the ICE grace above is checked even when str0m
            // has nothing scheduled sooner.
            let wake = deadline.min(Instant::now() + Duration::from_secs(1));
            let result = tokio::select! {
                received = self.socket.recv_from(&mut buf) => match received {
                    Ok((n, source)) => self.receive(&buf[..n], source),
                    Err(e) => Err(format!("UDP socket failed: {e}")),
                },
                command = commands.recv() => match command {
                    Some(command) => self.command(command),
                    None => break "closed by the participant".to_owned(),
                },
                _ = tokio::time::sleep_until(wake.into()) => {
                    self.rtc.handle_input(Input::Timeout(Instant::now())).map_err(|e| e.to_string())
                }
            };
            if let Err(reason) = result {
                break reason;
            }
        };
        self.rtc.disconnect();
        let _ = self.drain();
        self.channels.reliable.fail_all(&reason);
        self.channels.lossy.fail_all(&reason);
        let _ = self.events.send(PeerEvent::Closed(reason));
    }

    fn receive(&mut self, datagram: &[u8], source: SocketAddr) -> Result<(), String> {
        // Stray datagrams (not STUN, DTLS or SRTP) are not ours to fail on.
        let Ok(receive) = Receive::new(Protocol::Udp, source, self.local_addr, datagram) else {
            return Ok(());
        };
        self.rtc
            .handle_input(Input::Receive(Instant::now(), receive))
            .map_err(|e| format!("peer connection failed on input: {e}"))
    }

    fn command(&mut self, command: Command) -> Result<(), String> {
        match command {
            Command::Answer(sdp, done) => {
                let result = self.accept_answer(&sdp);
                let failed = result.clone().err();
                let _ = done.send(result);
                if let Some(reason) = failed {
                    return Err(reason);
                }
            }
            Command::Offer(sdp, done) => {
                let answer = SdpOffer::from_sdp_string(&sdp)
                    .map_err(|e| format!("bad SDP offer: {e}"))
                    .and_then(|offer| {
                        self.rtc
                            .sdp_api()
                            .accept_offer(offer)
                            .map(|answer| answer.to_sdp_string())
                            .map_err(|e| format!("the server's SDP offer was refused: {e}"))
                    });
                let _ = done.send(answer);
            }
            Command::RemoteCandidate(line) => match Candidate::from_sdp_string(&line) {
                // ICE over TCP is not something this participant does.
                Ok(c) if c.proto() == Protocol::Udp => self.rtc.add_remote_candidate(c),
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(candidate = line, error = %e, "server ICE candidate ignored")
                }
            },
            Command::Send { lossy, bytes, done } => {
                self.channels
                    .queue_mut(lossy)
                    .waiting
                    .push_back((bytes, done));
                self.flush(lossy)?;
            }
        }
        Ok(())
    }

    fn accept_answer(&mut self, sdp: &str) -> Result<(), String> {
        let answer = SdpAnswer::from_sdp_string(sdp).map_err(|e| format!("bad SDP answer: {e}"))?;
        let pending = self
            .pending
            .take()
            .ok_or("an answer arrived for an offer already answered")?;
        self.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| format!("the server's SDP answer was refused: {e}"))
    }

    /// Hands waiting messages to a channel while it has room; whether it handed any.
    fn flush(&mut self, lossy: bool) -> Result<bool, String> {
        let mut wrote = false;
        loop {
            let queue = self.channels.queue_mut(lossy);
            let (true, Some(id), false) = (queue.open, queue.id, queue.waiting.is_empty()) else {
                return Ok(wrote);
            };
            let Some(mut channel) = self.rtc.channel(id) else {
                return Err("a data channel vanished".into());
            };
            if channel.buffered_amount() >= BUFFERED_HIGH {
                return Ok(wrote);
            }
            let Some((bytes, done)) = self.channels.queue_mut(lossy).waiting.pop_front() else {
                return Ok(wrote);
            };
            match channel.write(true, &bytes) {
                Ok(true) => {
                    wrote = true;
                    let _ = done.send(Ok(()));
                }
                Ok(false) => {
                    // SCTP's own buffer is full; retry when it drains.
                    self.channels
                        .queue_mut(lossy)
                        .waiting
                        .push_front((bytes, done));
                    return Ok(wrote);
                }
                Err(e) => {
                    let _ = done.send(Err(e.to_string()));
                }
            }
            // Every write is a change: str0m's output is drained before the next one.
            self.poll()?;
        }
    }

    /// Drains str0m and then feeds the channels that have room, until nothing is left to
    /// do; returns when to wake str0m next.
    fn drain(&mut self) -> Result<Instant, String> {
        loop {
            let (deadline, writable) = self.poll()?;
            // Acknowledgements that came in may have made room without crossing the
            // low-water mark, so waiting messages are retried after every input too.
            let waiting = !self.channels.reliable.waiting.is_empty()
                || !self.channels.lossy.waiting.is_empty();
            if !(writable || waiting && self.has_room()) {
                return Ok(deadline);
            }
            let wrote = self.flush(false)? | self.flush(true)?;
            if !wrote {
                return Ok(deadline);
            }
        }
    }

    /// Whether a channel with waiting messages could take the first of them now.
    fn has_room(&mut self) -> bool {
        let mut room = false;
        for lossy in [false, true] {
            let queue = if lossy {
                &self.channels.lossy
            } else {
                &self.channels.reliable
            };
            let (id, open, next) = (
                queue.id,
                queue.open,
                queue.waiting.front().map(|m| m.0.len()),
            );
            if let (true, Some(id), Some(len)) = (open, id, next) {
                if let Some(mut channel) = self.rtc.channel(id) {
                    room |= channel.buffered_amount() + len <= BUFFERED_HIGH;
                }
            }
        }
        room
    }

    /// Polls str0m until it asks for a timeout: sends what it transmits, handles its
    /// events; returns when to wake it next and whether a channel may take writes again.
    fn poll(&mut self) -> Result<(Instant, bool), String> {
        let mut writable = false;
        let deadline = loop {
            let output = self
                .rtc
                .poll_output()
                .map_err(|e| format!("peer connection failed: {e}"))?;
            match output {
                Output::Timeout(at) => break at,
                Output::Transmit(t) => {
                    // A full socket buffer drops the datagram, as UDP does; SCTP resends.
                    let _ = self.socket.try_send_to(&t.contents, t.destination);
                }
                Output::Event(event) => match event {
                    Event::ChannelOpen(id, label) => {
                        let queue = match label.as_str() {
                            RELIABLE_LABEL => &mut self.channels.reliable,
                            LOSSY_LABEL => &mut self.channels.lossy,
                            _ => continue,
                        };
                        queue.id = Some(id);
                        queue.open = true;
                        if let Some(mut channel) = self.rtc.channel(id) {
                            channel.set_buffered_amount_low_threshold(BUFFERED_LOW);
                        }
                        writable = true;
                        if self.channels.reliable.open
                            && self.channels.lossy.open
                            && !self.open_reported
                        {
                            self.open_reported = true;
                            let _ = self.events.send(PeerEvent::Open);
                        }
                    }
                    Event::ChannelData(data) if self.channels.carries_packets(data.id) => {
                        let _ = self.events.send(PeerEvent::Data(data.data));
                    }
                    Event::ChannelBufferedAmountLow(_) => writable = true,
                    Event::ChannelClose(id) if self.channels.carries_packets(id) => {
                        return Err("the server closed a data channel".into());
                    }
                    Event::IceConnectionStateChange(state) => match state {
                        IceConnectionState::Disconnected => {
                            self.disconnected_since.get_or_insert_with(Instant::now);
                        }
                        _ => self.disconnected_since = None,
                    },
                    _ => {}
                },
            }
        };
        Ok((deadline, writable))
    }
}
