//! Handler side: the method registry, the v1 packet and v2 stream request paths, the ack,
//! response transport chosen from the caller's advertised protocol, errors always as
//! packets, and panics turned into APPLICATION_ERROR.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::error::{Error, RpcError, RpcErrorCode};
use crate::proto::{self, data_packet, rpc_response, RpcAck, RpcRequest, RpcResponse};
use crate::room::RemoteParticipant;
use crate::rpc::admission::{Admission, Admitted, Refusal};
use crate::rpc::policy::CallerPolicy;
use crate::rpc::RpcEngine;
use crate::rpc::{RawHandler, RpcInvocationData};
use crate::streams::TextStreamReader;

/// A registered method handler.
pub(crate) type Handler = RawHandler;

/// Cloned once per incoming call, so both halves are shared, not copied: a policy's
/// rule tree (identity sets, predicates) is never cloned on the hot path.
#[derive(Clone)]
struct Registration {
    handler: Handler,
    policy: Option<Arc<CallerPolicy>>,
}

/// The handler side's registry: the methods one participant serves, who may call them,
/// and the admission of calls to them.
#[derive(Default)]
pub(crate) struct Handlers {
    handlers: Mutex<HashMap<String, Registration>>,
    running: AtomicUsize,
    admission: Arc<Admission>,
}

struct RunningGuard<'a>(&'a AtomicUsize);

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Handlers {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Registration>> {
        crate::sync::lock(&self.handlers)
    }

    pub(crate) fn register<F, Fut>(
        &self,
        method: &str,
        policy: Option<CallerPolicy>,
        handler: F,
    ) -> Result<(), Error>
    where
        F: Fn(RpcInvocationData) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, RpcError>> + Send + 'static,
    {
        self.register_handler(
            method,
            policy,
            Arc::new(move |data| Box::pin(handler(data))),
        )
    }

    /// Registers a handler that already returns a boxed future (no second box).
    pub(crate) fn register_handler(
        &self,
        method: &str,
        policy: Option<CallerPolicy>,
        handler: Handler,
    ) -> Result<(), Error> {
        let mut handlers = self.lock();
        if handlers.contains_key(method) {
            return Err(Error::MethodAlreadyRegistered(method.to_owned()));
        }
        handlers.insert(
            method.to_owned(),
            Registration {
                handler,
                policy: policy.map(Arc::new),
            },
        );
        Ok(())
    }

    pub(crate) fn unregister(&self, method: &str) -> bool {
        self.lock().remove(method).is_some()
    }

    pub(crate) fn running_count(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    pub(crate) fn queued_count(&self) -> usize {
        self.admission.queued_count()
    }

    pub(crate) fn refused_overloaded_count(&self) -> u64 {
        self.admission.refused_count()
    }

    /// A caller left: its queued calls never run.
    pub(crate) fn caller_left(&self, caller: &str) {
        self.admission.caller_left(caller);
    }

    fn registration(&self, method: &str) -> Option<Registration> {
        self.lock().get(method).cloned()
    }
}

/// Who is calling, as the room describes them.
fn caller_info(engine: &RpcEngine, caller: &str) -> RemoteParticipant {
    engine
        .remote(caller)
        .unwrap_or_else(|| RemoteParticipant::with_identity(caller))
}

/// The handler for `method` if `caller` may call it; UNSUPPORTED_METHOD otherwise, so a
/// refused caller learns nothing it could not learn from an unknown method.
fn authorize(
    engine: &RpcEngine,
    caller: &RemoteParticipant,
    method: &str,
    request_id: &str,
) -> Result<Handler, RpcError> {
    let unsupported = || RpcError::built_in(RpcErrorCode::UnsupportedMethod, None);
    let registration = engine
        .handlers
        .registration(method)
        .ok_or_else(unsupported)?;
    if let Some(policy) = &registration.policy {
        if !policy.allows(caller) {
            tracing::warn!(
                caller = %caller.identity,
                kind = ?caller.kind,
                method,
                request_id,
                ?policy,
                "RPC call refused by the method's caller policy"
            );
            return Err(unsupported());
        }
    }
    Ok(registration.handler)
}

fn invocation(
    caller: RemoteParticipant,
    request_id: String,
    payload: String,
    response_timeout: Duration,
) -> RpcInvocationData {
    RpcInvocationData {
        request_id,
        caller_identity: caller.identity,
        payload,
        response_timeout,
        caller_kind: caller.kind,
        caller_attributes: caller.attributes,
    }
}

/// A v1 `RpcRequest` packet arrived. Method, policy and queue are decided here, before
/// a task is spawned, so a refused request holds no payload while its answer is sent.
pub(crate) fn handle_request_packet(engine: &Arc<RpcEngine>, caller: String, request: RpcRequest) {
    let engine = engine.clone();
    let received_at = Instant::now();
    let RpcRequest {
        id,
        method,
        payload,
        response_timeout_ms,
        version,
        ..
    } = request;
    let admitted = if version != proto::RPC_VERSION_V1 {
        Err(RpcError::built_in(RpcErrorCode::UnsupportedVersion, None))
    } else {
        let info = caller_info(&engine, &caller);
        authorize(&engine, &info, &method, &id).and_then(|handler| {
            let ticket = admit(&engine, &caller, &method, payload.len())?;
            let data = invocation(
                info,
                id.clone(),
                payload,
                Duration::from_millis(response_timeout_ms.into()),
            );
            Ok((handler, data, ticket))
        })
    };
    tokio::spawn(async move {
        send_ack(&engine, &caller, &id).await;
        let (handler, data, ticket) = match admitted {
            Ok(call) => call,
            Err(e) => return send_error(&engine, &caller, &id, e).await,
        };
        if let Some(result) = invoke(&engine, &method, handler, data, ticket, received_at).await {
            respond(&engine, &caller, &id, result).await;
        }
    });
}

/// `parseInt(s, 10)` as JavaScript does it: leading whitespace, a sign, then digits up to
/// the first non-digit; `None` where JavaScript yields NaN. Saturates instead of overflowing.
pub(crate) fn js_parse_int(s: &str) -> Option<i64> {
    let s = s.trim_start();
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let digits: &str = &digits[..digits
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len())];
    if digits.is_empty() {
        return None;
    }
    let magnitude = digits.bytes().fold(0i64, |acc, b| {
        acc.saturating_mul(10).saturating_add(i64::from(b - b'0'))
    });
    Some(if negative { -magnitude } else { magnitude })
}

/// An `lk.rpc_request` stream header arrived.
pub(crate) fn handle_request_stream(
    engine: &Arc<RpcEngine>,
    caller: String,
    reader: TextStreamReader,
) {
    let attributes = reader.attributes();
    let request_id = attributes
        .get(proto::ATTR_REQUEST_ID)
        .cloned()
        .unwrap_or_default();
    let method = attributes
        .get(proto::ATTR_REQUEST_METHOD)
        .cloned()
        .unwrap_or_default();
    let timeout = attributes
        .get(proto::ATTR_RESPONSE_TIMEOUT_MS)
        .and_then(|v| js_parse_int(v));
    let version = attributes
        .get(proto::ATTR_REQUEST_VERSION)
        .and_then(|v| js_parse_int(v));
    let engine = engine.clone();
    let (Some(timeout), Some(version), false, false) =
        (timeout, version, request_id.is_empty(), method.is_empty())
    else {
        tracing::warn!(
            caller,
            request_id,
            "malformed RPC request stream attributes"
        );
        tokio::spawn(async move {
            let e = RpcError::built_in(
                RpcErrorCode::ApplicationError,
                Some("RPC data stream malformed".into()),
            );
            send_error(&engine, &caller, &request_id, e).await;
        });
        return;
    };
    let received_at = Instant::now();
    tokio::spawn(async move {
        send_ack(&engine, &caller, &request_id).await;
        if version != i64::from(proto::RPC_VERSION_V2) {
            let e = RpcError::built_in(RpcErrorCode::UnsupportedVersion, None);
            send_error(&engine, &caller, &request_id, e).await;
            return;
        }
        // Unknown methods and refused callers are answered before the payload is read, so
        // a stranger cannot make us buffer a large request.
        let info = caller_info(&engine, &caller);
        let handler = match authorize(&engine, &info, &method, &request_id) {
            Ok(handler) => handler,
            Err(e) => return send_error(&engine, &caller, &request_id, e).await,
        };
        let payload = match reader.read_all().await {
            Ok(payload) => payload,
            Err(crate::streams::StreamError::PayloadTooLarge { limit }) => {
                let e = RpcError::built_in(
                    RpcErrorCode::RequestPayloadTooLarge,
                    Some(format!(
                        "the request exceeds {}'s limit of {limit} bytes for RPC payloads (JoinOptions::rpc_limits)",
                        engine.identity()
                    )),
                );
                send_error(&engine, &caller, &request_id, e).await;
                return;
            }
            Err(e) => {
                let e = RpcError::built_in(
                    RpcErrorCode::ApplicationError,
                    Some(format!("Error reading RPC request payload: {e}")),
                );
                send_error(&engine, &caller, &request_id, e).await;
                return;
            }
        };
        let ticket = match admit(&engine, &caller, &method, payload.len()) {
            Ok(ticket) => ticket,
            Err(e) => return send_error(&engine, &caller, &request_id, e).await,
        };
        let data = invocation(
            info,
            request_id.clone(),
            payload,
            Duration::from_millis(timeout.clamp(0, u32::MAX.into()) as u64),
        );
        if let Some(result) = invoke(&engine, &method, handler, data, ticket, received_at).await {
            respond(&engine, &caller, &request_id, result).await;
        }
    });
}

fn overloaded(engine: &RpcEngine, caller: &str, method: &str, refusal: Refusal) -> RpcError {
    tracing::warn!(
        caller,
        method,
        limit = refusal.limit,
        value = refusal.value,
        "RPC call refused: the queue is full"
    );
    RpcError::overloaded(format!(
        "{} refused this call because it is under load, not because of a bug: {caller} has {} calls waiting there and RpcLimits::{} ({}) is reached; retry after a short backoff",
        engine.identity(),
        refusal.caller_queued,
        refusal.limit,
        refusal.value
    ))
}

/// A slot now, a place in the caller's queue, or a refusal that says it is load.
fn admit(
    engine: &RpcEngine,
    caller: &str,
    method: &str,
    bytes: usize,
) -> Result<Admitted, RpcError> {
    engine
        .handlers
        .admission
        .admit(caller, bytes, &engine.options().rpc_limits)
        .map_err(|refusal| overloaded(engine, caller, method, refusal))
}

/// Runs an admitted call as soon as its caller has a free slot, in arrival order. `None`
/// when the call was dropped unrun because its caller left (nobody to answer).
async fn invoke(
    engine: &RpcEngine,
    method: &str,
    handler: Handler,
    data: RpcInvocationData,
    admitted: Admitted,
    received_at: Instant,
) -> Option<Result<String, RpcError>> {
    let _slot = match admitted {
        Admitted::Now(slot) => slot,
        Admitted::Queued(mut ticket) => {
            let deadline = received_at + data.response_timeout;
            tokio::select! {
                slot = ticket.wait() => slot?,
                _ = tokio::time::sleep_until(deadline) => {
                    let caller = &data.caller_identity;
                    tracing::warn!(caller, method, "queued call dropped unrun: its caller's deadline passed");
                    return Some(Err(RpcError::built_in(
                        RpcErrorCode::ResponseTimeout,
                        Some(format!(
                            "the call waited {} ms in {}'s queue behind {caller}'s earlier calls (RpcLimits::max_concurrent_calls_per_caller = {}) and its deadline passed before it could run",
                            data.response_timeout.as_millis(),
                            engine.identity(),
                            engine.options().rpc_limits.max_concurrent_calls_per_caller
                        )),
                    )));
                }
            }
        }
    };
    Some(run(engine, method, handler, data, received_at).await)
}

/// Runs the handler on its own task so a panic becomes an error response and the
/// participant keeps serving.
async fn run(
    engine: &RpcEngine,
    method: &str,
    handler: Handler,
    data: RpcInvocationData,
    received_at: Instant,
) -> Result<String, RpcError> {
    engine.handlers.running.fetch_add(1, Ordering::SeqCst);
    let _running = RunningGuard(&engine.handlers.running);
    let cancel_after = engine
        .options()
        .rpc_limits
        .cancel_handlers_after_deadline
        .map(|grace| data.response_timeout.max(super::MIN_WIRE_RESPONSE_TIMEOUT) + grace);
    // Counted from the request's arrival, so time spent queued counts too.
    let caller = data.caller_identity.clone();
    let mut task = tokio::spawn(handler(data));
    let joined = match cancel_after {
        Some(limit) => match tokio::time::timeout_at(received_at + limit, &mut task).await {
            Ok(joined) => joined,
            Err(_) => {
                task.abort();
                tracing::warn!(
                    method,
                    caller,
                    "handler cancelled: its caller's deadline passed long ago"
                );
                return Err(RpcError::built_in(
                    RpcErrorCode::ResponseTimeout,
                    Some(format!(
                        "the handler for {method:?} was still running {} ms after the request arrived, past the caller's deadline; it was cancelled",
                        limit.as_millis()
                    )),
                ));
            }
        },
        None => task.await,
    };
    match joined {
        Ok(result) => result,
        Err(join) => {
            let detail = if join.is_panic() {
                let panic = join.into_panic();
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-string panic payload".into());
                format!("Uncaught error: handler for {method:?} panicked: {message}")
            } else {
                format!("Uncaught error: handler for {method:?} was cancelled")
            };
            tracing::error!(method, "{detail}");
            Err(RpcError::built_in(
                RpcErrorCode::ApplicationError,
                Some(detail),
            ))
        }
    }
}

async fn send_ack(engine: &RpcEngine, caller: &str, request_id: &str) {
    let packet = proto::reliable_packet(
        vec![caller.to_owned()],
        data_packet::Value::RpcAck(RpcAck {
            request_id: request_id.to_owned(),
        }),
    );
    if let Err(e) = engine.transport().publish(packet).await {
        tracing::warn!(caller, request_id, error = %e, "failed to send RPC ack");
    }
}

async fn send_error(engine: &RpcEngine, caller: &str, request_id: &str, error: RpcError) {
    send_response_packet(
        engine,
        caller,
        request_id,
        rpc_response::Value::Error(error.to_proto()),
    )
    .await;
}

async fn send_response_packet(
    engine: &RpcEngine,
    caller: &str,
    request_id: &str,
    value: rpc_response::Value,
) {
    let packet = proto::reliable_packet(
        vec![caller.to_owned()],
        data_packet::Value::RpcResponse(RpcResponse {
            request_id: request_id.to_owned(),
            value: Some(value),
        }),
    );
    if let Err(e) = engine.transport().publish(packet).await {
        tracing::warn!(caller, request_id, error = %e, "failed to send RPC response");
    }
}

/// Success goes as a stream to callers advertising RPC v2 and as a packet otherwise;
/// errors always go as packets.
async fn respond(
    engine: &RpcEngine,
    caller: &str,
    request_id: &str,
    result: Result<String, RpcError>,
) {
    let payload = match result {
        Ok(payload) => payload,
        Err(e) => return send_error(engine, caller, request_id, e).await,
    };
    let caller_protocol = engine.remote(caller).map_or(0, |r| r.client_protocol);
    if engine.rpc_over_streams_with(caller_protocol) {
        let attributes =
            HashMap::from([(proto::ATTR_REQUEST_ID.to_owned(), request_id.to_owned())]);
        let sent = engine
            .send_text_internal(
                &payload,
                proto::RPC_RESPONSE_TOPIC,
                attributes,
                vec![caller.to_owned()],
                None,
            )
            .await;
        if let Err(e) = sent {
            tracing::warn!(caller, request_id, error = %e, "failed to send RPC response stream");
            let e = RpcError::built_in(
                RpcErrorCode::SendFailed,
                Some(format!(
                    "the handler succeeded but its response could not be sent: {e}"
                )),
            );
            send_error(engine, caller, request_id, e).await;
        }
        return;
    }
    if payload.len() > proto::MAX_V1_PAYLOAD_BYTES {
        tracing::warn!(
            caller,
            request_id,
            bytes = payload.len(),
            "response too large for an RPC v1 caller"
        );
        let e = RpcError::built_in(
            RpcErrorCode::ResponsePayloadTooLarge,
            Some(format!(
                "the response is {} bytes; {caller} advertises client_protocol {caller_protocol}, which only takes RPC v1 responses of up to {} bytes",
                payload.len(),
                proto::MAX_V1_PAYLOAD_BYTES
            )),
        );
        return send_error(engine, caller, request_id, e).await;
    }
    send_response_packet(
        engine,
        caller,
        request_id,
        rpc_response::Value::Payload(payload),
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::js_parse_int;

    #[test]
    fn parse_int_matches_javascript() {
        assert_eq!(js_parse_int("15000"), Some(15000));
        assert_eq!(js_parse_int("  2abc"), Some(2));
        assert_eq!(js_parse_int("-5"), Some(-5));
        assert_eq!(js_parse_int("abc"), None);
        assert_eq!(js_parse_int(""), None);
        assert_eq!(js_parse_int("99999999999999999999999"), Some(i64::MAX));
    }
}
