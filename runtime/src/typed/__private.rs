//! Helpers generated code calls, reached only through `livekit_typed_rpc::__private`. Not
//! a public API: names and signatures may change with the macro that uses them.

use std::fmt::Display;

use serde::de::DeserializeOwned;
use serde::Serialize;

pub use schemars;
pub use serde;
pub use serde_json;

pub use crate::contract::schema::{
    error_contract, method_contract, raw_method_contract, raw_result, stream_contract, type_schema,
};
pub use crate::contract::ServiceContract;
pub use crate::discovery::{servers, wait_for_service};
pub use crate::error::Error;

pub use super::{RpcContext, Service};
pub use crate::endpoint::{RawHandler, RpcEndpoint};
pub use crate::error::{CallError, RpcError, RpcErrorCode};
pub use crate::room::BoxFuture;
pub use crate::rpc::{PerformRpcData, RpcInvocationData};
pub use crate::streaming::{
    open_served, CallRegistration, CallStream, RpcStream, ServedOpening, StreamConfig, StreamHub,
};

use crate::streaming::wire::{self as typed_wire, Envelope, WIRE_VERSION};
use crate::streaming::{CancelSignal, Opening};
use std::sync::Arc;

use super::ErrorCode;
use std::time::Duration;

/// The state behind a generated client.
#[derive(Clone)]
pub struct ClientCore<P> {
    endpoint: P,
    destination: String,
    timeout: Option<Duration>,
    stream: StreamConfig,
    progress: Option<crate::rpc::ProgressFn>,
}

impl<P: std::fmt::Debug> std::fmt::Debug for ClientCore<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCore")
            .field("endpoint", &self.endpoint)
            .field("destination", &self.destination)
            .field("timeout", &self.timeout)
            .field("stream", &self.stream)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl<P: RpcEndpoint> ClientCore<P> {
    pub fn new(endpoint: P, destination: String) -> Self {
        Self {
            endpoint,
            destination,
            timeout: None,
            stream: StreamConfig::default(),
            progress: None,
        }
    }

    pub fn with_progress(
        &self,
        progress: impl Fn(crate::rpc::TransferProgress) + Send + Sync + 'static,
    ) -> Self {
        Self {
            progress: Some(Arc::new(progress)),
            ..self.clone()
        }
    }

    pub fn with_timeout(&self, timeout: Duration) -> Self {
        Self {
            timeout: Some(timeout),
            ..self.clone()
        }
    }

    pub fn with_stream(&self, stream: StreamConfig) -> Self {
        Self {
            stream,
            ..self.clone()
        }
    }

    pub fn stream_config(&self) -> &StreamConfig {
        &self.stream
    }

    pub fn endpoint(&self) -> &P {
        &self.endpoint
    }

    pub fn destination(&self) -> &str {
        &self.destination
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
            .unwrap_or(PerformRpcData::default().response_timeout)
    }

    pub async fn call(
        &self,
        method: &str,
        payload: Result<String, RpcError>,
    ) -> Result<String, RpcError> {
        let mut data = PerformRpcData {
            destination_identity: self.destination.clone(),
            method: method.to_owned(),
            payload: payload?,
            ..Default::default()
        };
        if let Some(t) = self.timeout {
            data.response_timeout = t;
        }
        match &self.progress {
            Some(progress) => {
                self.endpoint
                    .perform_rpc_with_progress(data, progress.clone())
                    .await
            }
            None => self.endpoint.perform_rpc(data).await,
        }
    }

    /// Calls a `#[rpc(cancellable)]` method: the arguments carry a call id, and dropping
    /// the call before its reply, or timing out, tells the server to cancel the handler. Endpoints that
    /// cannot send `typed_rpc` control messages make a plain call.
    pub async fn call_cancellable(
        &self,
        method: &str,
        payload: Result<String, RpcError>,
    ) -> Result<String, RpcError> {
        let Some(hub) = self.endpoint.stream_hub() else {
            return self.call(method, payload).await;
        };
        let id = uuid::Uuid::new_v4().to_string();
        let envelope = Envelope {
            v: WIRE_VERSION,
            id: id.clone(),
            stream: None,
        };
        let payload = typed_wire::with_envelope(&payload?, &envelope)
            .map_err(|why| local_error(format!("the arguments of {method:?}: {why}")))?;
        let mut guard = CancelOnDrop {
            hub,
            server: self.destination.clone(),
            id,
            armed: true,
        };
        let reply = self.call(method, Ok(payload)).await;
        // Timing out gives up on the call as much as dropping it does.
        guard.armed = matches!(&reply, Err(e) if e.code == RpcErrorCode::ResponseTimeout as u32
            || e.code == RpcErrorCode::ConnectionTimeout as u32);
        reply
    }

    /// Opens a call of the streaming method `method`: the items come through the returned
    /// stream; a refused open is the call's error, for the caller to decode.
    pub async fn open_stream<T, E>(
        &self,
        method: &'static str,
        payload: Result<String, RpcError>,
    ) -> Result<CallStream<T, E>, RpcError> {
        let Some(hub) = self.endpoint.stream_hub() else {
            return Err(local_error(format!(
                "{method} streams, and this participant type cannot receive typed_rpc streams"
            )));
        };
        let opening = Opening::new(hub, &self.destination, &self.stream);
        let envelope = Envelope {
            v: WIRE_VERSION,
            id: opening.id().to_owned(),
            stream: Some(opening.params()),
        };
        let payload = typed_wire::with_envelope(&payload?, &envelope)
            .map_err(|why| local_error(format!("the arguments of {method:?}: {why}")))?;
        match self.call(method, Ok(payload)).await {
            Ok(reply) if typed_wire::is_accept_reply(&reply, opening.id()) => {
                Ok(opening.accepted(method))
            }
            Ok(_) => Err(typed_wire::stream_error(
                RpcErrorCode::UnsupportedVersion,
                "not_streaming",
                format!(
                    "{} answered {method} with a plain result, not a stream: it does not serve the streaming version of this method",
                    self.destination
                ),
            )),
            Err(e) => {
                opening.refused();
                Err(e)
            }
        }
    }
}

/// Tells the server to cancel a call whose caller gave up (dropped its future).
struct CancelOnDrop {
    hub: Arc<StreamHub>,
    server: String,
    id: String,
    armed: bool,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if self.armed {
            self.hub.spawn_cancel(&self.server, &self.id);
        }
    }
}

/// The state behind a generated fan-out: calls every participant serving the service.
#[derive(Clone, Debug)]
pub struct FanOutCore<P> {
    endpoint: P,
    service: &'static str,
    methods: &'static [&'static str],
    timeout: Option<Duration>,
}

impl<P: RpcEndpoint> FanOutCore<P> {
    pub fn new(endpoint: P, service: &'static str, methods: &'static [&'static str]) -> Self {
        Self {
            endpoint,
            service,
            methods,
            timeout: None,
        }
    }

    pub fn with_timeout(&self, timeout: Duration) -> Self {
        Self {
            timeout: Some(timeout),
            ..self.clone()
        }
    }

    pub fn endpoint(&self) -> &P {
        &self.endpoint
    }

    pub fn servers(&self) -> Vec<String> {
        servers(&self.endpoint, self.service, self.methods)
    }

    /// Calls `method` on every server at once with one encoded payload; each answer is
    /// its server's own, so a slow or failing server costs only its entry.
    pub async fn call_all(
        &self,
        method: &str,
        payload: Result<String, RpcError>,
    ) -> Vec<(String, Result<String, RpcError>)> {
        let servers = self.servers();
        let payload = match payload {
            Ok(payload) => payload,
            Err(e) => return servers.into_iter().map(|s| (s, Err(e.clone()))).collect(),
        };
        let mut calls = tokio::task::JoinSet::new();
        for (index, identity) in servers.iter().enumerate() {
            let endpoint = self.endpoint.clone();
            let mut data = PerformRpcData {
                destination_identity: identity.clone(),
                method: method.to_owned(),
                payload: payload.clone(),
                ..Default::default()
            };
            if let Some(t) = self.timeout {
                data.response_timeout = t;
            }
            calls.spawn(async move { (index, endpoint.perform_rpc(data).await) });
        }
        let mut replies: Vec<Option<Result<String, RpcError>>> = vec![None; servers.len()];
        while let Some(done) = calls.join_next().await {
            match done {
                Ok((index, reply)) => replies[index] = Some(reply),
                Err(e) => tracing::warn!(error = %e, "a fan-out call task failed"),
            }
        }
        servers
            .into_iter()
            .zip(replies)
            .map(|(identity, reply)| {
                let reply = reply.unwrap_or_else(|| {
                    Err(local_error(
                        "the call's task ended without an answer".into(),
                    ))
                });
                (identity, reply)
            })
            .collect()
    }
}

/// One typed result per server, by identity.
pub fn collect_fan_out<T>(
    replies: Vec<(String, Result<String, RpcError>)>,
    mut finish: impl FnMut(Result<String, RpcError>) -> T,
) -> std::collections::BTreeMap<String, T> {
    replies
        .into_iter()
        .map(|(identity, reply)| (identity, finish(reply)))
        .collect()
}

fn local_error(detail: String) -> RpcError {
    RpcError::built_in(RpcErrorCode::ApplicationError, Some(detail))
}

/// Compiles only for types that can cross the wire (checked per parameter).
pub fn assert_wire_type<T: Serialize + DeserializeOwned>() {}

/// A service's contract from its methods' parts.
pub fn service_contract(
    service: &str,
    namespace: Option<&str>,
    docs: &str,
    methods: Vec<crate::contract::MethodContract>,
) -> ServiceContract {
    ServiceContract {
        service: service.to_owned(),
        namespace: namespace.map(str::to_owned),
        docs: docs.to_owned(),
        methods,
    }
}

/// Type-level probe: the codes an error type declares through [`ErrorCode::CODES`].
pub struct CodesProbe<T>(std::marker::PhantomData<T>);

impl<T> CodesProbe<T> {
    pub fn new() -> Self {
        Self(std::marker::PhantomData)
    }
}

impl<T> Default for CodesProbe<T> {
    fn default() -> Self {
        Self::new()
    }
}

pub trait ViaDeclaredCodes {
    fn lk_codes(&self) -> Option<Vec<u32>>;
}
impl<T: ErrorCode> ViaDeclaredCodes for CodesProbe<T> {
    fn lk_codes(&self) -> Option<Vec<u32>> {
        (!T::CODES.is_empty()).then(|| T::CODES.to_vec())
    }
}
pub trait ViaDefaultCodes {
    fn lk_codes(&self) -> Option<Vec<u32>>;
}
impl<T> ViaDefaultCodes for &CodesProbe<T> {
    fn lk_codes(&self) -> Option<Vec<u32>> {
        Some(vec![RpcErrorCode::ApplicationError as u32])
    }
}

/// Encodes the arguments object of a call.
pub fn encode_args<A: Serialize>(method: &str, args: &A) -> Result<String, RpcError> {
    serde_json::to_string(args).map_err(|e| {
        local_error(format!(
            "the arguments of {method:?} could not be encoded as JSON: {e}"
        ))
    })
}

/// Tries one argument on its own.
pub type ArgCheckFn = fn(&serde_json::Value) -> Result<(), String>;

/// Checks one argument of a failed decode, to name the parameter in the error.
pub type ArgCheck = (&'static str, ArgCheckFn);

/// Tries to decode one argument on its own.
pub fn check_arg<T: DeserializeOwned>(value: &serde_json::Value) -> Result<(), String> {
    T::deserialize(value).map(drop).map_err(|e| e.to_string())
}

/// What a payload that is not a JSON object is, for the error message.
fn json_shape(payload: &str) -> &'static str {
    match payload.trim_start().as_bytes().first() {
        Some(b'[') => "a JSON array",
        Some(b'"') => "a JSON string",
        Some(b't' | b'f') => "a JSON boolean",
        Some(b'n') => "JSON null",
        Some(b'-' | b'0'..=b'9') => "a JSON number",
        _ => "not JSON",
    }
}

/// Decodes the arguments object of a call; an empty payload means no arguments.
/// Anything but a JSON object is refused, naming the keys expected: binding an array
/// by position would break callers silently when parameters are reordered.
pub fn decode_args<A: DeserializeOwned>(
    method: &str,
    payload: &str,
    keys: &[&str],
    checks: &[ArgCheck],
) -> Result<A, RpcError> {
    let payload = if payload.trim().is_empty() {
        "{}"
    } else {
        payload
    };
    if !payload.trim_start().starts_with('{') {
        let expected = if keys.is_empty() {
            "an empty payload or {}".to_owned()
        } else {
            let keys: Vec<String> = keys.iter().map(|k| format!("{k:?}")).collect();
            format!("a JSON object with keys {}", keys.join(", "))
        };
        return Err(RpcError::built_in(
            RpcErrorCode::ApplicationError,
            Some(format!(
                "invalid arguments for {method:?}: expected {expected}, got {}",
                json_shape(payload)
            )),
        ));
    }
    serde_json::from_str(payload).map_err(|e| {
        let culprit = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(payload)
            .ok()
            .and_then(|map| {
                checks.iter().find_map(|(name, check)| {
                    let value = map.get(*name)?;
                    check(value)
                        .err()
                        .map(|why| format!("parameter `{name}`: {why}"))
                })
            });
        let why = culprit.unwrap_or_else(|| e.to_string());
        RpcError::built_in(
            RpcErrorCode::ApplicationError,
            Some(format!("invalid arguments for {method:?}: {why}")),
        )
    })
}

/// Encodes a successful result (`()` results use [`encode_unit`]).
pub fn encode_value<T: Serialize>(method: &str, value: &T) -> Result<String, RpcError> {
    serde_json::to_string(value).map_err(|e| {
        local_error(format!(
            "the result of {method:?} could not be encoded as JSON: {e}"
        ))
    })
}

/// `()` travels as the empty payload.
pub fn encode_unit(_: ()) -> Result<String, RpcError> {
    Ok(String::new())
}

/// Decodes a successful reply.
pub fn decode_value<T: DeserializeOwned, E>(method: &str, reply: &str) -> Result<T, CallError<E>> {
    serde_json::from_str(reply).map_err(|e| {
        CallError::Rpc(local_error(format!(
            "the response of {method:?} is not a valid {}: {e}",
            std::any::type_name::<T>()
        )))
    })
}

/// Decodes a `()` reply: empty (or `null`, as some peers send).
pub fn decode_unit<E>(method: &str, reply: &str) -> Result<(), CallError<E>> {
    match reply.trim() {
        "" | "null" => Ok(()),
        other => Err(CallError::Rpc(local_error(format!(
            "the response of {method:?} should be empty, got {} bytes",
            other.len()
        )))),
    }
}

/// A failed call: the handler's typed error when its data decodes as `E` and its code
/// is not one of LiveKit's transport or protocol codes; an RPC error otherwise.
pub fn decode_error<E: DeserializeOwned>(error: RpcError) -> CallError<E> {
    CallError::from_wire(error)
}

/// Turns the reply of a method returning `T` into the client's result.
pub fn finish_infallible<T: DeserializeOwned>(
    method: &str,
    reply: Result<String, RpcError>,
) -> Result<T, CallError<std::convert::Infallible>> {
    decode_value(method, &reply.map_err(CallError::Rpc)?)
}

/// Turns the reply of a method returning `Result<T, E>` into the client's result.
pub fn finish_fallible<T: DeserializeOwned, E: DeserializeOwned>(
    method: &str,
    reply: Result<String, RpcError>,
) -> Result<T, CallError<E>> {
    decode_value(method, &reply.map_err(decode_error)?)
}

/// As [`finish_infallible`] for `()`.
pub fn finish_unit_infallible(
    method: &str,
    reply: Result<String, RpcError>,
) -> Result<(), CallError<std::convert::Infallible>> {
    decode_unit(method, &reply.map_err(CallError::Rpc)?)
}

/// As [`finish_fallible`] for `()`.
pub fn finish_unit_fallible<E: DeserializeOwned>(
    method: &str,
    reply: Result<String, RpcError>,
) -> Result<(), CallError<E>> {
    decode_unit(method, &reply.map_err(decode_error)?)
}

/// Raw (`#[rpc(raw)]`) replies pass through untouched.
pub fn finish_raw_infallible(
    reply: Result<String, RpcError>,
) -> Result<String, CallError<std::convert::Infallible>> {
    reply.map_err(CallError::Rpc)
}

/// Raw replies of a fallible method.
pub fn finish_raw_fallible<E: DeserializeOwned>(
    reply: Result<String, RpcError>,
) -> Result<String, CallError<E>> {
    reply.map_err(decode_error)
}

/// The context of the call being served, cancelled only by its deadline.
pub fn context(data: &RpcInvocationData) -> RpcContext {
    RpcContext::new(data, CancelSignal::default(), true)
}

/// The context of the call being served, registered so that its caller cancelling (with
/// the call id it sent) or leaving fires [`RpcContext::cancelled`]. The registration
/// lasts as long as the handler runs.
pub fn registered_context(
    data: &RpcInvocationData,
    hub: Option<&Arc<StreamHub>>,
) -> (RpcContext, Option<CallRegistration>) {
    let Some(hub) = hub else {
        return (context(data), None);
    };
    let id = typed_wire::read_envelope(&data.payload)
        .ok()
        .flatten()
        .map(|e| e.id)
        .unwrap_or_else(|| data.request_id.clone());
    let registration = hub.register_call(&data.caller_identity, &id);
    let context = RpcContext::new(data, registration.signal().clone(), true);
    (context, Some(registration))
}

/// The context of a streaming call's handler: cancelled with the stream.
pub fn stream_context(data: &RpcInvocationData, opening: &ServedOpening) -> RpcContext {
    RpcContext::new(data, opening.cancel_signal(), false)
}

/// A late result of a handler whose caller cancelled: small, since nobody reads it.
pub fn cancelled_late(method: &str) -> RpcError {
    typed_wire::stream_error(
        RpcErrorCode::ApplicationError,
        "cancelled",
        format!("{method} was cancelled by its caller; its result was discarded"),
    )
}

/// Autoref probe: picks [`ErrorCode`] and `Display` when the error type has them.
pub struct Probe<'a, T>(pub &'a T);

pub trait ViaErrorCode {
    fn lk_code(&self) -> u32;
}
impl<T: ErrorCode> ViaErrorCode for Probe<'_, T> {
    fn lk_code(&self) -> u32 {
        self.0.error_code()
    }
}
pub trait ViaDefaultCode {
    fn lk_code(&self) -> u32;
}
impl<T> ViaDefaultCode for &Probe<'_, T> {
    fn lk_code(&self) -> u32 {
        RpcErrorCode::ApplicationError as u32
    }
}
pub trait ViaDisplay {
    fn lk_message(&self) -> String;
}
impl<T: Display> ViaDisplay for Probe<'_, T> {
    fn lk_message(&self) -> String {
        self.0.to_string()
    }
}
pub trait ViaDefaultMessage {
    fn lk_message(&self) -> String;
}
impl<T> ViaDefaultMessage for &Probe<'_, T> {
    fn lk_message(&self) -> String {
        RpcErrorCode::ApplicationError.message().to_owned()
    }
}

/// The wire form of a handler's typed error: its code, its `Display` as the message
/// (cut to 256 bytes) and its JSON as the data.
pub fn application_error<E: Serialize>(code: u32, message: String, error: &E) -> RpcError {
    match serde_json::to_string(error) {
        Ok(data) => {
            if data.len() > RpcError::MAX_DATA_BYTES {
                tracing::warn!(
                    bytes = data.len(),
                    "typed error JSON exceeds 15 360 bytes; the caller cannot decode it"
                );
            }
            RpcError::new(code, message, Some(data))
        }
        Err(e) => RpcError::new(
            code,
            message,
            Some(format!("error could not be encoded: {e}")),
        ),
    }
}

/// The codes of an error type for its contract (used by generated code).
#[doc(hidden)]
#[macro_export]
macro_rules! __lk_error_codes {
    ($error:ty) => {{
        #[allow(unused_imports)]
        use $crate::__private::{ViaDeclaredCodes as _, ViaDefaultCodes as _};
        (&$crate::__private::CodesProbe::<$error>::new()).lk_codes()
    }};
}

/// Builds the wire error for a handler's typed error value (used by generated code).
#[doc(hidden)]
#[macro_export]
macro_rules! __lk_application_error {
    ($error:expr) => {{
        #[allow(unused_imports)]
        use $crate::__private::{
            ViaDefaultCode as _, ViaDefaultMessage as _, ViaDisplay as _, ViaErrorCode as _,
        };
        let error = &$error;
        $crate::__private::application_error(
            (&$crate::__private::Probe(error)).lk_code(),
            (&$crate::__private::Probe(error)).lk_message(),
            error,
        )
    }};
}

/// Runs a cancellable handler that cannot see its context: `None` once it is cancelled
/// (the handler future is dropped then).
pub async fn unless_cancelled<F: std::future::Future>(
    context: &RpcContext,
    handler: F,
) -> Option<F::Output> {
    tokio::select! {
        out = handler => Some(out),
        _ = context.cancelled() => None,
    }
}
