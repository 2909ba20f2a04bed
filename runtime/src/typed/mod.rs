//! What `#[livekit_rpc]` builds on: the service a generated server implements and how it is
//! served, the invocation context and typed error codes. Generated code reaches the
//! runtime only through the `__private` facade (its own module).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::contract::ServiceContract;
use crate::discovery::{manifest_change, ServiceManifest, MANIFEST_VERSION};
pub use crate::endpoint::{RawHandler, RpcEndpoint};
use crate::error::{Error, RpcError};
use crate::participant::Participant;
use crate::room::{BoxFuture, ParticipantKind};
use crate::rpc::{CallerPolicy, RpcInvocationData};
use crate::streaming::{CancelReason, CancelSignal, StreamHub};

#[doc(hidden)]
pub mod __private;

/// A set of methods served together; `#[livekit_rpc]` implements it for `<Trait>Server`.
pub trait Service: Send + Sync + 'static {
    /// Wire names of the methods the service serves.
    const METHODS: &'static [&'static str];

    /// The service's name (the trait's): serving publishes a manifest attribute under it
    /// (see [`crate::discovery`]); empty publishes none.
    const NAME: &'static str = "";

    /// The trait's namespace, if any.
    const NAMESPACE: Option<&'static str> = None;

    /// The service's contract, for traits with `#[livekit_rpc(contract)]`: serving then
    /// also answers `<namespace>.__describe` with it.
    fn contract() -> Option<ServiceContract>
    where
        Self: Sized,
    {
        None
    }

    /// Handles one call of `method` (one of [`Service::METHODS`]), looking the method up
    /// by name; serving does not go through here but through [`Service::handlers`].
    fn call(
        &self,
        method: &str,
        data: RpcInvocationData,
    ) -> BoxFuture<'static, Result<String, RpcError>>;

    /// One handler per method, each going straight to that method's decode, call and
    /// encode, so a served call is dispatched once (by the engine's method lookup).
    /// `streams` is the serving participant's `typed_rpc` state, for streaming and
    /// cancellable methods. Generated servers implement it; the default goes through
    /// [`Service::call`].
    fn handlers(self: Arc<Self>, streams: Option<Arc<StreamHub>>) -> Vec<(&'static str, RawHandler)>
    where
        Self: Sized,
    {
        let _ = streams;
        Self::METHODS
            .iter()
            .map(|&method| {
                let service = self.clone();
                let handler: RawHandler = Arc::new(move |data| service.call(method, data));
                (method, handler)
            })
            .collect()
    }
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
    let contract = S::contract();
    let describe = contract.as_ref().map(|c| {
        let method = format!("{}.__describe", S::NAMESPACE.unwrap_or(S::NAME));
        let document = Arc::new(c.to_json().to_string());
        let handler: RawHandler = Arc::new(move |_| {
            let document = document.clone();
            Box::pin(async move { Ok(document.to_string()) })
        });
        (method, handler)
    });
    let handlers = Arc::new(service)
        .handlers(endpoint.stream_hub())
        .into_iter()
        .map(|(method, handler)| (method.to_owned(), handler))
        .chain(describe.clone());
    let mut registered: Vec<String> = Vec::with_capacity(S::METHODS.len() + 1);
    for (method, handler) in handlers {
        let result = match options.policy_for(&method) {
            Some(policy) => endpoint.register_raw_with_policy(&method, policy, handler),
            None => endpoint.register_raw(&method, handler),
        };
        if let Err(e) = result {
            for m in &registered {
                endpoint.unregister_raw(m);
            }
            return Err(e);
        }
        registered.push(method);
    }
    // Published only now that every method answers, so a caller that discovers the
    // service never meets UNSUPPORTED_METHOD.
    let manifest = (!S::NAME.is_empty()).then(|| ServiceManifest {
        v: MANIFEST_VERSION,
        service: S::NAME.to_owned(),
        namespace: S::NAMESPACE.map(str::to_owned),
        methods: S::METHODS.iter().map(|m| (*m).to_owned()).collect(),
        contract: contract.as_ref().map(ServiceContract::hash),
        describe: describe.map(|(method, _)| method),
    });
    if let Some(manifest) = &manifest {
        update_attributes(endpoint, manifest_change(&manifest.service, Some(manifest)));
    }
    Ok(Serving {
        endpoint: endpoint.clone(),
        methods: registered,
        manifest: manifest.map(|m| m.service),
    })
}

/// Sends an attribute update without waiting: [`crate::Participant`] applies it at once,
/// in order; other endpoints finish it on the runtime. A failure is logged, since serving
/// works without a manifest (only discovery does not).
fn update_attributes<P: RpcEndpoint>(endpoint: &P, changes: HashMap<String, String>) {
    let update = endpoint.set_attributes(changes);
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(async move {
                match update.await {
                    // Gone from the room: so are our attributes.
                    Ok(()) | Err(Error::NotConnected) => {}
                    Err(e) => tracing::warn!(error = %e, "service manifest attribute not updated; discovery will not see this change"),
                }
            });
        }
        Err(_) => {
            tracing::warn!("service manifest attribute not updated: no tokio runtime to send it on")
        }
    }
}

/// A served service; dropping it (or [`Serving::stop`]) unregisters its methods.
#[must_use = "dropping the guard stops serving"]
pub struct Serving<P: RpcEndpoint = Participant> {
    endpoint: P,
    methods: Vec<String>,
    /// The service whose manifest attribute we published.
    manifest: Option<String>,
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
        // The manifest goes first: nobody discovers methods about to disappear.
        if let Some(service) = &self.manifest {
            update_attributes(&self.endpoint, manifest_change(service, None));
        }
        for m in &self.methods {
            self.endpoint.unregister_raw(m);
        }
    }
}

/// What a handler may ask about the call it serves: declare a parameter of this type in
/// a `#[livekit_rpc]` method; it is filled in by the server and is not on the wire.
///
/// [`RpcContext::cancelled`] tells the handler when nobody waits for its result any more.
///
/// ```
/// use livekit_typed_rpc::{livekit_rpc, RpcContext};
/// #[livekit_rpc(namespace = "arm")]
/// pub trait Arm {
///     /// Moves home; stops early when the caller gives up.
///     #[rpc(cancellable)]
///     async fn home(&self, ctx: RpcContext) -> Result<(), String>;
/// }
/// struct Impl;
/// impl Arm for Impl {
///     async fn home(&self, ctx: RpcContext) -> Result<(), String> {
///         tokio::select! {
///             reason = ctx.cancelled() => Err(format!("stopped: {reason:?}")),
///             _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => Ok(()),
///         }
///     }
/// }
/// ```
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
    cancel: CancelSignal,
    /// Whether passing [`RpcContext::deadline`] cancels (not for streams, which outlive
    /// their open call).
    deadline_cancels: bool,
}

impl RpcContext {
    pub(crate) fn new(
        data: &RpcInvocationData,
        cancel: CancelSignal,
        deadline_cancels: bool,
    ) -> Self {
        Self {
            request_id: data.request_id.clone(),
            caller_identity: data.caller_identity.clone(),
            response_timeout: data.response_timeout,
            received_at: tokio::time::Instant::now(),
            caller_kind: data.caller_kind,
            caller_attributes: data.caller_attributes.clone(),
            cancel,
            deadline_cancels,
        }
    }

    /// Resolves when nobody waits for this call's result any more, with the reason: the
    /// caller cancelled it (a `#[rpc(cancellable)]` method, or a stream it dropped), the
    /// caller left, or the deadline passed. Use it in `tokio::select!` to stop early.
    pub async fn cancelled(&self) -> CancelReason {
        if !self.deadline_cancels {
            return self.cancel.cancelled().await;
        }
        tokio::select! {
            reason = self.cancel.cancelled() => reason,
            _ = tokio::time::sleep_until(self.deadline()) => CancelReason::DeadlinePassed,
        }
    }

    /// Whether [`RpcContext::cancelled`] has resolved.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.reason().is_some()
            || (self.deadline_cancels && tokio::time::Instant::now() >= self.deadline())
    }

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
    /// Every code [`ErrorCode::error_code`] can return, for the service's contract
    /// (`#[livekit_rpc(contract)]`); empty means "not declared".
    const CODES: &'static [u32] = &[];

    /// The code to send for this error.
    fn error_code(&self) -> u32;
}

impl Participant {
    /// Serves every method of a `#[livekit_rpc]` service (`<Trait>Server::new(impl)`).
    /// Dropping the returned guard, or calling `stop()` on it, unregisters them.
    pub fn serve<S: Service>(&self, service: S) -> Result<Serving, Error> {
        serve(self, service)
    }

    /// [`Participant::serve`] with options: who may call the service or one of its
    /// methods ([`ServeOptions`]).
    pub fn serve_with<S: Service>(
        &self,
        service: S,
        options: ServeOptions,
    ) -> Result<Serving, Error> {
        serve_with(self, service, options)
    }
}
