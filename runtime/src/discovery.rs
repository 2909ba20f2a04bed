//! Who serves what: the manifest attribute a served `#[livekit_rpc]` service publishes,
//! and finding the participants that serve a service by reading it.
//!
//! The key scheme, for other SDKs: a participant serving the trait `Geo` has the attribute
//! `typed-rpc.service.Geo` (outside LiveKit's reserved `lk.` prefix) whose value is JSON:
//!
//! ```text
//! {"v":1,"service":"Geo","namespace":"geo","methods":["geo.locate","geo.reset"],
//!  "contract":"sha256:...","describe":"geo.__describe"}
//! ```
//!
//! `v` is the format version (readers skip versions they do not know), `methods` the wire
//! names it serves, `contract` the contract hash and `describe` the method answering with
//! the full contract JSON — both only for traits with `#[livekit_rpc(contract)]`. The
//! methods are registered before the attribute is set and the attribute is deleted before
//! they are unregistered, so a caller that found the service never sees
//! UNSUPPORTED_METHOD while it is served.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::endpoint::RpcEndpoint;
use crate::error::Error;
use crate::room::RemoteParticipant;

/// The attribute key of a service's manifest is this followed by the service name.
pub const MANIFEST_KEY_PREFIX: &str = "typed-rpc.service.";

/// The manifest format this crate writes and reads.
pub const MANIFEST_VERSION: u32 = 1;

/// What one participant says it serves, in its manifest attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceManifest {
    /// Format version ([`MANIFEST_VERSION`]).
    pub v: u32,
    /// The service (trait) name.
    pub service: String,
    /// The trait's namespace, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The wire names served.
    pub methods: Vec<String>,
    /// The contract hash, for traits with `contract`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract: Option<String>,
    /// The method answering with the contract JSON, for traits with `contract`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub describe: Option<String>,
}

impl ServiceManifest {
    /// The attribute key of `service`'s manifest.
    pub fn key_for(service: &str) -> String {
        format!("{MANIFEST_KEY_PREFIX}{service}")
    }

    /// This manifest's attribute key.
    pub fn key(&self) -> String {
        Self::key_for(&self.service)
    }

    /// The attribute value (compact JSON).
    pub fn value(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// `remote`'s manifest of `service`, if it publishes one this crate can read.
    pub fn of(remote: &RemoteParticipant, service: &str) -> Option<Self> {
        let value = remote.attributes.get(&Self::key_for(service))?;
        let manifest: Self = serde_json::from_str(value).ok()?;
        (manifest.v == MANIFEST_VERSION && manifest.service == service).then_some(manifest)
    }
}

/// The identities serving `service` now (sorted) that serve at least `methods`.
pub fn servers<P: RpcEndpoint>(endpoint: &P, service: &str, methods: &[&str]) -> Vec<String> {
    serving(&endpoint.remote_participants(), service, methods)
}

fn serving(remotes: &[RemoteParticipant], service: &str, methods: &[&str]) -> Vec<String> {
    let mut found: Vec<String> = remotes
        .iter()
        .filter(|r| {
            ServiceManifest::of(r, service)
                .is_some_and(|m| methods.iter().all(|w| m.methods.iter().any(|s| s == w)))
        })
        .map(|r| r.identity.clone())
        .collect();
    found.sort();
    found
}

/// Waits until exactly one participant serves `service` (with at least `methods`) and
/// returns its identity. Several servers, or none within `timeout`, are errors that say
/// who is there.
pub async fn wait_for_service<P: RpcEndpoint>(
    endpoint: &P,
    service: &str,
    methods: &[&str],
    timeout: Duration,
) -> Result<String, Error> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let seen = endpoint.room_version();
        let remotes = endpoint.remote_participants();
        let mut found = serving(&remotes, service, methods);
        match found.len() {
            1 => return Ok(found.remove(0)),
            0 => {}
            _ => {
                return Err(Error::ServiceAmbiguous {
                    service: service.to_owned(),
                    identities: found,
                })
            }
        }
        if tokio::time::timeout_at(deadline, endpoint.room_changed(seen))
            .await
            .is_err()
        {
            return Err(Error::ServiceNotFound {
                service: service.to_owned(),
                waited: timeout,
                present: remotes.into_iter().map(|r| r.identity).collect(),
            });
        }
    }
}

/// The attribute change publishing `manifest`, or (with `None`) deleting `service`'s.
pub(crate) fn manifest_change(
    service: &str,
    manifest: Option<&ServiceManifest>,
) -> HashMap<String, String> {
    HashMap::from([(
        ServiceManifest::key_for(service),
        manifest.map(ServiceManifest::value).unwrap_or_default(),
    )])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(identity: &str, attributes: &[(&str, &str)]) -> RemoteParticipant {
        RemoteParticipant {
            attributes: attributes
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..RemoteParticipant::with_identity(identity)
        }
    }

    #[test]
    fn servers_are_read_from_manifests_that_list_the_methods() {
        let manifest = ServiceManifest {
            v: 1,
            service: "Geo".into(),
            namespace: Some("geo".into()),
            methods: vec!["geo.locate".into(), "geo.reset".into()],
            contract: None,
            describe: None,
        };
        let value = manifest.value();
        let old = r#"{"v":1,"service":"Geo","methods":["geo.locate"]}"#;
        let future = r#"{"v":2,"service":"Geo","methods":["geo.locate","geo.reset"]}"#;
        let remotes = [
            remote("b", &[("typed-rpc.service.Geo", &value)]),
            remote("a", &[("typed-rpc.service.Geo", &value)]),
            remote("old", &[("typed-rpc.service.Geo", old)]),
            remote("v2", &[("typed-rpc.service.Geo", future)]),
            remote("junk", &[("typed-rpc.service.Geo", "{not json")]),
            remote("other", &[("typed-rpc.service.Map", &value)]),
        ];
        assert_eq!(
            serving(&remotes, "Geo", &["geo.locate", "geo.reset"]),
            ["a", "b"]
        );
        assert_eq!(serving(&remotes, "Geo", &["geo.locate"]), ["a", "b", "old"]);
        assert!(serving(&remotes, "Map", &[]).is_empty());
    }
}
