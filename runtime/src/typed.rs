//! What `#[livekit_rpc]` builds on: the endpoint seam generated code calls through, the
//! service a generated server implements, the invocation context, typed error codes, and
//! the `#[doc(hidden)]` helpers behind the `__private` facade.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, RpcError, RpcErrorCode};
use crate::participant::Participant;
use crate::room::{BoxFuture, ParticipantKind, RemoteParticipant};
use crate::rpc::{CallerPolicy, PerformRpcData, RpcInvocationData};

/// A handler as the engine stores it: one boxed future per call.
pub type RawHandler =
    Arc<dyn Fn(RpcInvocationData) -> BoxFuture<'static, Result<String, RpcError>> + Send + Sync>;

/// The one seam between generated code and a participant: perform a call, register and
/// unregister a method. [`Participant`] implements it; other participant types (the
/// `livekit` crate's `LocalParticipant`, a test double) plug in without touching the macro.
pub trait RpcEndpoint: Clone + Send + Sync + 'static {
    /// Performs one raw call.
    fn perform_rpc(
        &self,
        data: PerformRpcData,
    ) -> impl Future<Output = Result<String, RpcError>> + Send;

    /// Serves `method` with an already boxing handler.
    fn register_raw(&self, method: &str, handler: RawHandler) -> Result<(), Error>;

    /// Serves `method` to the callers `policy` allows; the others get UNSUPPORTED_METHOD.
    /// The default checks the policy inside the handler, against the caller the
    /// invocation describes; [`Participant`] checks it before reading the payload.
    fn register_raw_with_policy(
        &self,
        method: &str,
        policy: CallerPolicy,
        handler: RawHandler,
    ) -> Result<(), Error> {
        let guarded: RawHandler = Arc::new(move |data: RpcInvocationData| {
            let caller = RemoteParticipant {
                kind: data.caller_kind,
                attributes: data.caller_attributes.clone(),
                ..RemoteParticipant::with_identity(data.caller_identity.clone())
            };
            if policy.allows(&caller) {
                handler(data)
            } else {
                tracing::warn!(caller = %caller.identity, ?policy, "RPC call refused by the method's caller policy");
                Box::pin(async { Err(RpcError::built_in(RpcErrorCode::UnsupportedMethod, None)) })
            }
        });
        self.register_raw(method, guarded)
    }

    /// Stops serving `method`.
    fn unregister_raw(&self, method: &str) -> bool;
}

impl RpcEndpoint for Participant {
    fn perform_rpc(
        &self,
        data: PerformRpcData,
    ) -> impl Future<Output = Result<String, RpcError>> + Send {
        Participant::perform_rpc(self, data)
    }

    fn register_raw(&self, method: &str, handler: RawHandler) -> Result<(), Error> {
        self.core()
            .rpc_server
            .register_handler(method, None, handler)
    }

    fn register_raw_with_policy(
        &self,
        method: &str,
        policy: CallerPolicy,
        handler: RawHandler,
    ) -> Result<(), Error> {
        self.core()
            .rpc_server
            .register_handler(method, Some(policy), handler)
    }

    fn unregister_raw(&self, method: &str) -> bool {
        self.unregister_rpc_method(method)
    }
}

/// A set of methods served together; `#[livekit_rpc]` implements it for `<Trait>Server`.
pub trait Service: Send + Sync + 'static {
    /// Wire names of the methods, in the order `call` numbers them.
    const METHODS: &'static [&'static str];

    /// Handles one call of `method` (one of [`Service::METHODS`]).
    fn call(
        &self,
        method: &str,
        data: RpcInvocationData,
    ) -> BoxFuture<'static, Result<String, RpcError>>;
}

/// How a service is served: who may call it, as a whole or per method.
///
/// A method's own policy ([`ServeOptions::allow_method`]) replaces the service-wide one
/// ([`ServeOptions::allow`]) for that method; without either, anyone in the room may call.
///
/// ```
/// use livekit_typed_rpc::{CallerPolicy, ParticipantKind, ServeOptions};
/// let options = ServeOptions::default()
///     .allow(CallerPolicy::kind(ParticipantKind::Agent))
///     .allow_method("robot.stop", CallerPolicy::anyone());
/// # let _ = options;
/// ```
#[derive(Clone, Debug, Default)]
pub struct ServeOptions {
    service: Option<CallerPolicy>,
    methods: HashMap<String, CallerPolicy>,
}

impl ServeOptions {
    /// Only callers `policy` allows may call the service's methods.
    pub fn allow(mut self, policy: CallerPolicy) -> Self {
        self.service = Some(policy);
        self
    }

    /// Only callers `policy` allows may call `method` (its wire name).
    pub fn allow_method(mut self, method: impl Into<String>, policy: CallerPolicy) -> Self {
        self.methods.insert(method.into(), policy);
        self
    }

    fn policy_for(&self, method: &str) -> Option<CallerPolicy> {
        self.methods.get(method).or(self.service.as_ref()).cloned()
    }
}

/// Registers every method of `service` on `endpoint`; all or nothing.
pub fn serve<P: RpcEndpoint, S: Service>(endpoint: &P, service: S) -> Result<Serving<P>, Error> {
    serve_with(endpoint, service, ServeOptions::default())
}

/// [`serve`] with caller policies; a policy for a method the service does not have is an
/// error ([`Error::UnknownMethod`]), so a typo cannot leave a method open.
pub fn serve_with<P: RpcEndpoint, S: Service>(
    endpoint: &P,
    service: S,
    options: ServeOptions,
) -> Result<Serving<P>, Error> {
    if let Some(unknown) = options
        .methods
        .keys()
        .find(|m| !S::METHODS.contains(&m.as_str()))
    {
        return Err(Error::UnknownMethod {
            method: unknown.clone(),
            served: S::METHODS.iter().map(|m| (*m).to_owned()).collect(),
        });
    }
    let service = Arc::new(service);
    let mut registered: Vec<String> = Vec::with_capacity(S::METHODS.len());
    for method in S::METHODS.iter().copied() {
        let s = service.clone();
        let handler: RawHandler = Arc::new(move |data| s.call(method, data));
        let result = match options.policy_for(method) {
            Some(policy) => endpoint.register_raw_with_policy(method, policy, handler),
            None => endpoint.register_raw(method, handler),
        };
        if let Err(e) = result {
            for m in &registered {
                endpoint.unregister_raw(m);
            }
            return Err(e);
        }
        registered.push((*method).to_owned());
    }
    Ok(Serving {
        endpoint: endpoint.clone(),
        methods: registered,
    })
}

/// A served service; dropping it (or [`Serving::stop`]) unregisters its methods.
#[must_use = "dropping the guard stops serving"]
pub struct Serving<P: RpcEndpoint = Participant> {
    endpoint: P,
    methods: Vec<String>,
}

impl<P: RpcEndpoint> Serving<P> {
    /// Wire names being served.
    pub fn methods(&self) -> &[String] {
        &self.methods
    }

    /// Stops serving now.
    pub fn stop(self) {}
}

impl<P: RpcEndpoint> Drop for Serving<P> {
    fn drop(&mut self) {
        for m in &self.methods {
            self.endpoint.unregister_raw(m);
        }
    }
}

/// What a handler may ask about the call it serves: declare a parameter of this type in
/// a `#[livekit_rpc]` method; it is filled in by the server and is not on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcContext {
    /// The caller's request id.
    pub request_id: String,
    /// Identity of the caller.
    pub caller_identity: String,
    /// How long the caller waits (as sent on the wire, at least 8 s).
    pub response_timeout: Duration,
    /// When the request arrived here.
    pub received_at: tokio::time::Instant,
    /// What kind of participant the caller is, as the room says.
    pub caller_kind: ParticipantKind,
    /// The caller's participant attributes when the call arrived, as the room says.
    pub caller_attributes: HashMap<String, String>,
}

impl RpcContext {
    /// The instant after which the caller will have given up.
    pub fn deadline(&self) -> tokio::time::Instant {
        self.received_at + self.response_timeout
    }
}

/// Lets an application error type choose its RPC error code (the default is
/// APPLICATION_ERROR, 1500). Codes 1001–1999 are reserved for LiveKit's built-ins.
///
/// ```
/// use livekit_typed_rpc::ErrorCode;
/// #[derive(Debug)]
/// enum ArmError { OutOfReach }
/// impl ErrorCode for ArmError {
///     fn error_code(&self) -> u32 { 4001 }
/// }
/// assert_eq!(ArmError::OutOfReach.error_code(), 4001);
/// ```
pub trait ErrorCode {
    /// The code to send for this error.
    fn error_code(&self) -> u32;
}

#[doc(hidden)]
pub mod __private {
    //! Helpers generated code calls. Not a public API: names and signatures may change.

    use std::fmt::Display;

    use serde::de::DeserializeOwned;
    use serde::Serialize;

    pub use serde;
    pub use serde_json;

    pub use super::{RawHandler, RpcContext, RpcEndpoint, Service};
    pub use crate::error::{CallError, RpcError, RpcErrorCode};
    pub use crate::room::BoxFuture;
    pub use crate::rpc::{PerformRpcData, RpcInvocationData};

    use super::ErrorCode;
    use std::time::Duration;

    /// The state behind a generated client.
    #[derive(Clone, Debug)]
    pub struct ClientCore<P> {
        endpoint: P,
        destination: String,
        timeout: Option<Duration>,
    }

    impl<P: RpcEndpoint> ClientCore<P> {
        pub fn new(endpoint: P, destination: String) -> Self {
            Self {
                endpoint,
                destination,
                timeout: None,
            }
        }

        pub fn with_timeout(&self, timeout: Duration) -> Self {
            Self {
                endpoint: self.endpoint.clone(),
                destination: self.destination.clone(),
                timeout: Some(timeout),
            }
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
            self.endpoint.perform_rpc(data).await
        }
    }

    fn local_error(detail: String) -> RpcError {
        RpcError::built_in(RpcErrorCode::ApplicationError, Some(detail))
    }

    /// Compiles only for types that can cross the wire (checked per parameter).
    pub fn assert_wire_type<T: Serialize + DeserializeOwned>() {}

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
            let culprit =
                serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(payload)
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
    pub fn decode_value<T: DeserializeOwned, E>(
        method: &str,
        reply: &str,
    ) -> Result<T, CallError<E>> {
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
        let reserved = (1001..=1999).contains(&error.code)
            && error.code != RpcErrorCode::ApplicationError as u32;
        if !reserved && !error.is_overloaded() {
            if let Some(e) = error
                .data
                .as_deref()
                .and_then(|d| serde_json::from_str(d).ok())
            {
                return CallError::Application(e);
            }
        }
        CallError::Rpc(error)
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

    /// The context of the call being served.
    pub fn context(data: &RpcInvocationData) -> RpcContext {
        RpcContext {
            request_id: data.request_id.clone(),
            caller_identity: data.caller_identity.clone(),
            response_timeout: data.response_timeout,
            received_at: tokio::time::Instant::now(),
            caller_kind: data.caller_kind,
            caller_attributes: data.caller_attributes.clone(),
        }
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
