//! Who may call a method: a [`CallerPolicy`] over the caller as the room describes it
//! (identity, kind, attributes), checked before the request payload is read or decoded.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use crate::room::{ParticipantKind, RemoteParticipant};

type Predicate = Arc<dyn Fn(&RemoteParticipant) -> bool + Send + Sync>;

#[derive(Clone)]
enum Rule {
    Anyone,
    Identities(HashSet<String>),
    Kinds(Vec<ParticipantKind>),
    Attribute { key: String, value: String },
    Predicate(Predicate),
    And(Box<Rule>, Box<Rule>),
    Or(Box<Rule>, Box<Rule>),
}

impl Rule {
    fn allows(&self, caller: &RemoteParticipant) -> bool {
        match self {
            Rule::Anyone => true,
            Rule::Identities(ids) => ids.contains(&caller.identity),
            Rule::Kinds(kinds) => kinds.contains(&caller.kind),
            Rule::Attribute { key, value } => caller.attributes.get(key) == Some(value),
            Rule::Predicate(f) => f(caller),
            Rule::And(a, b) => a.allows(caller) && b.allows(caller),
            Rule::Or(a, b) => a.allows(caller) || b.allows(caller),
        }
    }
}

impl fmt::Debug for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Anyone => f.write_str("anyone"),
            Rule::Identities(ids) => {
                let mut ids: Vec<_> = ids.iter().collect();
                ids.sort();
                write!(f, "identity in {ids:?}")
            }
            Rule::Kinds(kinds) => write!(f, "kind in {kinds:?}"),
            Rule::Attribute { key, value } => write!(f, "attribute {key:?} = {value:?}"),
            Rule::Predicate(_) => f.write_str("predicate"),
            Rule::And(a, b) => write!(f, "({a:?} and {b:?})"),
            Rule::Or(a, b) => write!(f, "({a:?} or {b:?})"),
        }
    }
}

/// Which callers may call a method. The room, not the caller, says who a caller is: the
/// identity, kind and attributes come from its `ParticipantInfo` (on a bridge that
/// requires tokens, from its verified access token). A refused caller gets
/// UNSUPPORTED_METHOD (1400), as `useRpc`'s identity filter answers, and the refusal is
/// traced at `warn`.
///
/// ```
/// use livekit_typed_rpc::{CallerPolicy, ParticipantKind, RemoteParticipant};
/// let policy = CallerPolicy::kind(ParticipantKind::Agent)
///     .or(CallerPolicy::identities(["operator"]))
///     .and(CallerPolicy::predicate(|caller| !caller.identity.starts_with("guest-")));
/// let mut agent = RemoteParticipant::with_identity("agent-1");
/// agent.kind = ParticipantKind::Agent;
/// assert!(policy.allows(&agent));
/// assert!(policy.allows(&RemoteParticipant::with_identity("operator")));
/// assert!(!policy.allows(&RemoteParticipant::with_identity("bob")));
/// ```
#[derive(Clone, Debug)]
pub struct CallerPolicy(Rule);

impl CallerPolicy {
    /// Every participant in the room (what serving without a policy means).
    pub fn anyone() -> Self {
        Self(Rule::Anyone)
    }

    /// Callers with one of these identities.
    pub fn identities<I, S>(identities: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self(Rule::Identities(
            identities.into_iter().map(Into::into).collect(),
        ))
    }

    /// Callers of this kind (`ParticipantInfo.kind`).
    pub fn kind(kind: ParticipantKind) -> Self {
        Self::kinds([kind])
    }

    /// Callers of one of these kinds.
    pub fn kinds(kinds: impl IntoIterator<Item = ParticipantKind>) -> Self {
        Self(Rule::Kinds(kinds.into_iter().collect()))
    }

    /// Callers whose participant attribute `key` is exactly `value`.
    pub fn attribute(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self(Rule::Attribute {
            key: key.into(),
            value: value.into(),
        })
    }

    /// Callers for which `allow` returns true.
    pub fn predicate(allow: impl Fn(&RemoteParticipant) -> bool + Send + Sync + 'static) -> Self {
        Self(Rule::Predicate(Arc::new(allow)))
    }

    /// Callers this policy and `other` both allow.
    pub fn and(self, other: CallerPolicy) -> Self {
        Self(Rule::And(Box::new(self.0), Box::new(other.0)))
    }

    /// Callers this policy or `other` allows.
    pub fn or(self, other: CallerPolicy) -> Self {
        Self(Rule::Or(Box::new(self.0), Box::new(other.0)))
    }

    /// Whether `caller` may call.
    pub fn allows(&self, caller: &RemoteParticipant) -> bool {
        self.0.allows(caller)
    }
}
