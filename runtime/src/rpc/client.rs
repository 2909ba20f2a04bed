//! Caller side: request ids, pending state registered before publishing, the ack timer
//! (started before publishing) and the response timer (started after), transport choice
//! from the destination's advertised protocol, and exactly-once settlement.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::error::{RpcError, RpcErrorCode};
use crate::proto::{self, data_packet, rpc_response, RpcRequest, RpcResponse};
use crate::rpc::diagnosis::{millis, CallDiagnosis, CallTransport};
use crate::rpc::RpcEngine;
use crate::rpc::{
    PerformRpcData, ProgressFn, TransferDirection, TransferProgress, MIN_WIRE_RESPONSE_TIMEOUT,
};
use crate::streams::{ProgressCallback, TextStreamReader};

/// How a pending call ended, as seen by the dispatcher.
enum Settlement {
    Response(Result<String, RpcError>),
    DestinationLeft,
    LocalLeft,
    /// The link to the room broke (the server went away), with why.
    ConnectionLost(String),
}

struct Pending {
    destination: String,
    progress: Option<ProgressFn>,
    ack: Option<oneshot::Sender<()>>,
    settle: oneshot::Sender<Settlement>,
}

/// The caller side's table of calls in flight from one participant.
#[derive(Default)]
pub(crate) struct PendingCalls {
    pending: Mutex<HashMap<String, Pending>>,
}

impl PendingCalls {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        crate::sync::lock(&self.pending)
    }

    pub(crate) fn pending_count(&self) -> usize {
        self.lock().len()
    }

    pub(crate) fn handle_ack(&self, request_id: &str) {
        let mut pending = self.lock();
        match pending.get_mut(request_id).and_then(|p| p.ack.take()) {
            Some(ack) => {
                let _ = ack.send(());
            }
            None => tracing::warn!(request_id, "Ack received for unexpected RPC request"),
        }
    }

    pub(crate) fn handle_response_packet(&self, response: RpcResponse) {
        match response.value {
            Some(rpc_response::Value::Payload(payload)) => {
                if let Some(progress) = self.progress_of(&response.request_id) {
                    let bytes = payload.len() as u64;
                    progress(TransferProgress {
                        direction: TransferDirection::Response,
                        bytes,
                        total: Some(bytes),
                    });
                }
                self.settle(&response.request_id, Settlement::Response(Ok(payload)))
            }
            Some(rpc_response::Value::Error(error)) => self.settle(
                &response.request_id,
                Settlement::Response(Err(RpcError::from_proto(error))),
            ),
            Some(rpc_response::Value::CompressedPayload(_)) | None => tracing::warn!(
                request_id = %response.request_id,
                "RpcResponse without payload or error (compressed_payload is not part of RPC v2) ignored"
            ),
        }
    }

    fn progress_of(&self, request_id: &str) -> Option<ProgressFn> {
        self.lock().get(request_id).and_then(|p| p.progress.clone())
    }

    /// An `lk.rpc_response` stream opened; read it unless it comes from the wrong sender.
    pub(crate) fn handle_response_stream(
        self: &std::sync::Arc<Self>,
        sender: &str,
        reader: TextStreamReader,
    ) {
        let attributes = reader.attributes();
        let Some(request_id) = attributes.get(proto::ATTR_REQUEST_ID).cloned() else {
            tracing::warn!(
                sender,
                "lk.rpc_response stream without lk.rpc_request_id dropped"
            );
            return;
        };
        if let Some(p) = self.lock().get(&request_id) {
            if p.destination != sender {
                tracing::warn!(
                    sender,
                    expected = %p.destination,
                    request_id,
                    "RPC response stream from the wrong participant ignored"
                );
                return;
            }
        }
        let client = self.clone();
        let progress = self.progress_of(&request_id);
        tokio::spawn(async move {
            let result = match progress {
                None => reader.read_all().await,
                Some(progress) => read_reporting(reader, progress).await,
            };
            let result = result.map_err(|e| match e {
                crate::streams::StreamError::PayloadTooLarge { limit } => RpcError::built_in(
                    RpcErrorCode::ResponsePayloadTooLarge,
                    Some(format!(
                        "the response exceeds this participant's limit of {limit} bytes for RPC payloads (JoinOptions::rpc_limits)"
                    )),
                ),
                e => RpcError::built_in(
                    RpcErrorCode::ApplicationError,
                    Some(format!("Error reading RPC response payload: {e}")),
                ),
            });
            client.settle(&request_id, Settlement::Response(result));
        });
    }

    pub(crate) fn participant_left(&self, identity: &str) {
        let mut pending = self.lock();
        let ids: Vec<String> = pending
            .iter()
            .filter(|(_, p)| p.destination == identity)
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            if let Some(p) = pending.remove(&id) {
                let _ = p.settle.send(Settlement::DestinationLeft);
            }
        }
    }

    pub(crate) fn local_left(&self) {
        for (_, p) in self.lock().drain() {
            let _ = p.settle.send(Settlement::LocalLeft);
        }
    }

    /// The link to the room broke: no answer can arrive on it, so every call fails now
    /// rather than at its timeout.
    pub(crate) fn connection_lost(&self, reason: &str) {
        for (_, p) in self.lock().drain() {
            let _ = p.settle.send(Settlement::ConnectionLost(reason.to_owned()));
        }
    }

    fn settle(&self, request_id: &str, settlement: Settlement) {
        match self.lock().remove(request_id) {
            Some(p) => {
                let _ = p.settle.send(settlement);
            }
            None => tracing::warn!(request_id, "Response received for unexpected RPC request"),
        }
    }
}

/// Reads a response stream whole, reporting each piece.
async fn read_reporting(
    mut reader: TextStreamReader,
    progress: ProgressFn,
) -> Result<String, crate::streams::StreamError> {
    let total = reader.info().total_length;
    let mut text = String::new();
    while let Some(piece) = reader.next_chunk().await {
        text.push_str(&piece?);
        progress(TransferProgress {
            direction: TransferDirection::Response,
            bytes: text.len() as u64,
            total,
        });
    }
    Ok(text)
}

/// Removes the pending entry however the call ends, including when the caller gives up
/// (drops the future): no state outlives a call.
struct PendingGuard<'a> {
    client: &'a PendingCalls,
    request_id: String,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.client.lock().remove(&self.request_id);
    }
}

/// Performs one call from the engine's participant.
pub(crate) async fn perform(engine: &RpcEngine, call: PerformRpcData) -> Result<String, RpcError> {
    perform_with_progress(engine, call, None).await
}

/// [`perform`], telling `progress` how far the request and the response have come.
pub(crate) async fn perform_with_progress(
    engine: &RpcEngine,
    mut call: PerformRpcData,
    progress: Option<ProgressFn>,
) -> Result<String, RpcError> {
    let started = Instant::now();
    let destination = engine.remote(&call.destination_identity);
    let destination_protocol = destination.as_ref().map_or(0, |r| r.client_protocol);
    let use_stream = engine.rpc_over_streams_with(destination_protocol);
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut diagnosis = CallDiagnosis {
        request_id: request_id.clone(),
        destination: call.destination_identity.clone(),
        destination_in_room: destination.is_some(),
        destination_protocol,
        transport: if use_stream {
            CallTransport::V2Stream
        } else {
            CallTransport::V1Packet
        },
        published: false,
        acked_after_ms: None,
        waited_ms: 0,
        hint: String::new(),
    };
    let fail = |mut d: CallDiagnosis, code: RpcErrorCode, hint: String| {
        d.waited_ms = millis(started.elapsed());
        d.hint = hint;
        d.into_error(code)
    };

    if !use_stream && call.payload.len() > proto::MAX_V1_PAYLOAD_BYTES {
        let hint = format!(
            "payload is {} bytes; {} advertises client_protocol {destination_protocol}, which only takes RPC v1 packets of up to {} bytes; nothing was sent",
            call.payload.len(),
            call.destination_identity,
            proto::MAX_V1_PAYLOAD_BYTES
        );
        return Err(fail(diagnosis, RpcErrorCode::RequestPayloadTooLarge, hint));
    }
    if let Some(version) = engine.server_version().filter(|v| older_than(v, (1, 8, 0))) {
        let hint = format!(
            "the LiveKit server is version {version}; RPC needs 1.8.0 or newer; nothing was sent"
        );
        return Err(fail(diagnosis, RpcErrorCode::UnsupportedServer, hint));
    }
    if !engine.is_connected() {
        let hint = "the local participant has left the room; nothing was sent".to_owned();
        return Err(fail(diagnosis, RpcErrorCode::SendFailed, hint));
    }

    // The payload moves into the request; the call keeps only what the timers need.
    let payload = std::mem::take(&mut call.payload);
    let wire_timeout = call.response_timeout.max(MIN_WIRE_RESPONSE_TIMEOUT);
    let wire_timeout_ms = millis(wire_timeout).min(u32::MAX as u64);
    let (ack_tx, ack_rx) = oneshot::channel();
    let (settle_tx, mut settle_rx) = oneshot::channel();
    // The ack timer starts before publishing and pending state exists before the first
    // byte leaves, so an answer that overtakes the publish is never lost.
    let ack_deadline = Instant::now() + call.max_round_trip_latency;
    engine.pending.lock().insert(
        request_id.clone(),
        Pending {
            destination: call.destination_identity.clone(),
            progress: progress.clone(),
            ack: Some(ack_tx),
            settle: settle_tx,
        },
    );
    let _guard = PendingGuard {
        client: &engine.pending,
        request_id: request_id.clone(),
    };
    let mut ack_rx = Some(ack_rx);

    let publish = async {
        if use_stream {
            let attributes = HashMap::from([
                (proto::ATTR_REQUEST_ID.to_owned(), request_id.clone()),
                (proto::ATTR_REQUEST_METHOD.to_owned(), call.method.clone()),
                (
                    proto::ATTR_RESPONSE_TIMEOUT_MS.to_owned(),
                    wire_timeout_ms.to_string(),
                ),
                (
                    proto::ATTR_REQUEST_VERSION.to_owned(),
                    proto::RPC_VERSION_V2.to_string(),
                ),
            ]);
            let on_progress = progress.clone().map(|progress| {
                ProgressCallback::new(move |bytes, total| {
                    progress(TransferProgress {
                        direction: TransferDirection::Request,
                        bytes,
                        total: Some(total),
                    })
                })
            });
            engine
                .send_text_internal(
                    &payload,
                    proto::RPC_REQUEST_TOPIC,
                    attributes,
                    vec![call.destination_identity.clone()],
                    on_progress,
                )
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        } else {
            let bytes = payload.len() as u64;
            let packet = proto::reliable_packet(
                vec![call.destination_identity.clone()],
                data_packet::Value::RpcRequest(RpcRequest {
                    id: request_id.clone(),
                    method: call.method.clone(),
                    payload,
                    response_timeout_ms: wire_timeout_ms as u32,
                    version: proto::RPC_VERSION_V1,
                    ..Default::default()
                }),
            );
            let published = engine.transport().publish(packet).await;
            if let (Ok(()), Some(progress)) = (&published, &progress) {
                progress(TransferProgress {
                    direction: TransferDirection::Request,
                    bytes,
                    total: Some(bytes),
                });
            }
            published.map_err(|e| e.to_string())
        }
    };
    tokio::pin!(publish);
    loop {
        tokio::select! {
            result = &mut publish => {
                if let Err(e) = result {
                    let hint = format!("publishing the request failed: {e}");
                    return Err(fail(diagnosis, RpcErrorCode::SendFailed, hint));
                }
                break;
            }
            acked = async { ack_rx.as_mut().expect("guarded by the branch condition").await }, if ack_rx.is_some() => {
                ack_rx = None;
                if acked.is_ok() {
                    diagnosis.acked_after_ms = Some(millis(started.elapsed()));
                }
            }
            _ = tokio::time::sleep_until(ack_deadline), if ack_rx.is_some() => {
                let hint = format!(
                    "no acknowledgement within {} ms while the request was still being sent; the connection to {} is stalled or too slow for this payload",
                    millis(call.max_round_trip_latency), call.destination_identity
                );
                return Err(fail(diagnosis, RpcErrorCode::ConnectionTimeout, hint));
            }
        }
    }
    diagnosis.published = true;

    // As in the reference, the response timer runs from the end of the publish and uses the
    // caller's own timeout, not the clamped on-wire one.
    let response_deadline = Instant::now() + call.response_timeout;
    loop {
        tokio::select! {
            biased;
            settled = &mut settle_rx => {
                // An ack that arrived just before the settlement still counts.
                if let Some(mut rx) = ack_rx.take() {
                    if rx.try_recv().is_ok() {
                        diagnosis.acked_after_ms = Some(millis(started.elapsed()));
                    }
                }
                return match settled {
                    Ok(Settlement::Response(result)) => result,
                    Ok(Settlement::DestinationLeft) => {
                        let hint = format!("{} left the room before answering", call.destination_identity);
                        Err(fail(diagnosis, RpcErrorCode::RecipientDisconnected, hint))
                    }
                    Ok(Settlement::ConnectionLost(reason)) => {
                        let hint = format!("the connection to the LiveKit server was lost before the response arrived ({reason})");
                        Err(fail(diagnosis, RpcErrorCode::SendFailed, hint))
                    }
                    Ok(Settlement::LocalLeft) | Err(_) => {
                        let hint = "the local participant left the room before the response arrived".to_owned();
                        Err(fail(diagnosis, RpcErrorCode::SendFailed, hint))
                    }
                };
            }
            acked = async { ack_rx.as_mut().expect("guarded by the branch condition").await }, if ack_rx.is_some() => {
                ack_rx = None;
                if acked.is_ok() {
                    diagnosis.acked_after_ms = Some(millis(started.elapsed()));
                }
            }
            _ = tokio::time::sleep_until(ack_deadline), if ack_rx.is_some() => {
                let hint = no_ack_hint(&diagnosis, call.max_round_trip_latency);
                return Err(fail(diagnosis, RpcErrorCode::ConnectionTimeout, hint));
            }
            _ = tokio::time::sleep_until(response_deadline) => {
                let hint = no_response_hint(&diagnosis, call.response_timeout, &call.method);
                return Err(fail(diagnosis, RpcErrorCode::ResponseTimeout, hint));
            }
        }
    }
}

fn no_ack_hint(d: &CallDiagnosis, limit: Duration) -> String {
    if !d.destination_in_room {
        format!(
            "{} was not in the room when the call was made, so nobody received it; no acknowledgement within {} ms",
            d.destination,
            millis(limit)
        )
    } else {
        format!(
            "the request was sent but {} did not acknowledge it within {} ms: its SDK is not processing data packets (not fully connected, or head-of-line blocked), or the network is stalled",
            d.destination,
            millis(limit)
        )
    }
}

fn no_response_hint(d: &CallDiagnosis, limit: Duration, method: &str) -> String {
    match d.acked_after_ms {
        Some(ack) => format!(
            "{} acknowledged after {ack} ms but its handler for {method:?} did not answer within {} ms: the handler is slow or stuck",
            d.destination,
            millis(limit)
        ),
        None if !d.destination_in_room => format!(
            "{} was not in the room when the call was made; nothing answered within {} ms",
            d.destination,
            millis(limit)
        ),
        None => format!(
            "no acknowledgement and no response from {} within {} ms: the peer is not processing data packets or the network is stalled",
            d.destination,
            millis(limit)
        ),
    }
}

/// Whether a `major.minor.patch` version (pre-release suffix ignored) is older than `min`.
/// A version that does not parse is not evidence of an old server, as in livekit-rpc.
fn older_than(version: &str, min: (u64, u64, u64)) -> bool {
    let core = version.trim().trim_start_matches('v');
    let core = core.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<Option<u64>> = core.split('.').map(|p| p.parse().ok()).collect();
    match parts.as_slice() {
        [Some(a), Some(b), Some(c)] => (*a, *b, *c) < min,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::older_than;

    #[test]
    fn server_versions_compare_numerically() {
        assert!(older_than("1.7.2", (1, 8, 0)));
        assert!(older_than("v0.15.0", (1, 8, 0)));
        assert!(!older_than("1.8.0", (1, 8, 0)));
        assert!(!older_than("1.10.0", (1, 8, 0)));
        assert!(!older_than("1.9.12-rc1", (1, 8, 0)));
        assert!(!older_than("dev", (1, 8, 0)));
    }
}
