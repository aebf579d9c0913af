//! The EDHOC responder configurations, one per authentication mode and cipher suite: the
//! cloud authenticates with a different key depending on the method (static DH or signature,
//! [`Method::responder`]) and the suite's curve, so the server peeks at message_1
//! ([`Message1::parse`]) to pick the configuration before running the responder.

use ferrule_proto::edhoc::{
    AuthMode, CipherSuite, Credential, Message1, Method, ResponderConfig, SuiteList,
};

use crate::identity::CloudIdentity;

/// What the server accepts: methods per responder mode, and suites in order of preference.
#[derive(Debug)]
pub(crate) struct Policy {
    static_dh: Vec<Method>,
    signature: Vec<Method>,
    suites: SuiteList,
}

impl Policy {
    /// The policy for these methods and suites (unimplemented suites and duplicates dropped).
    ///
    /// # Errors
    /// A message if no method or no implemented suite remains.
    pub(crate) fn new(methods: &[Method], suites: &[CipherSuite]) -> Result<Self, String> {
        let mut list = SuiteList::new();
        for &suite in suites {
            if suite.is_implemented() && !list.contains(suite) {
                list.push(suite)
                    .ok_or_else(|| "too many cipher suites configured".to_owned())?;
            }
        }
        if list.is_empty() {
            return Err("no supported EDHOC cipher suite configured (use 0, 1, 2 or 3)".to_owned());
        }
        if methods.is_empty() {
            return Err("no EDHOC method configured (use 0, 1, 2 or 3)".to_owned());
        }
        let of_mode = |mode| {
            let mut v: Vec<Method> = methods
                .iter()
                .copied()
                .filter(|m| m.responder() == mode)
                .collect();
            v.dedup();
            v
        };
        Ok(Self {
            static_dh: of_mode(AuthMode::StaticDh),
            signature: of_mode(AuthMode::Signature),
            suites: list,
        })
    }
}

/// One [`ResponderConfig`] per (mode, suite) the policy accepts.
pub(crate) struct Responders<'a> {
    configs: Vec<(AuthMode, CipherSuite, ResponderConfig<'a>)>,
    suites: SuiteList,
}

impl<'a> Responders<'a> {
    /// Builds the configurations from the identity's keys.
    ///
    /// # Errors
    /// A message if the identity lacks a key or its credential cannot be used.
    pub(crate) fn new(identity: &'a CloudIdentity, policy: &'a Policy) -> Result<Self, String> {
        let mut configs = Vec::new();
        for (mode, methods) in [
            (AuthMode::StaticDh, &policy.static_dh),
            (AuthMode::Signature, &policy.signature),
        ] {
            for suite in policy.suites.iter() {
                let (key, ccs) = identity.credential_for(mode, suite).ok_or_else(|| {
                    format!("the cloud identity has no key for suite {}", suite.id())
                })?;
                let credential = Credential::ccs(ccs)
                    .map_err(|e| format!("the cloud credential does not parse: {e}"))?;
                let id_cred = credential
                    .id_by_kid()
                    .ok_or_else(|| "the cloud credential has no kid".to_owned())?;
                configs.push((
                    mode,
                    suite,
                    ResponderConfig {
                        methods,
                        suites: policy.suites,
                        key,
                        credential,
                        id_cred,
                        known_ead: &[],
                    },
                ));
            }
        }
        Ok(Self {
            configs,
            suites: policy.suites,
        })
    }

    /// The suites the server supports, in order of preference.
    pub(crate) fn suites(&self) -> &SuiteList {
        &self.suites
    }

    /// The configuration for a message_1: by its method's responder mode and its selected
    /// suite. A message_1 that does not parse, or names a method or suite the server does not
    /// accept, gets a configuration that will refuse it with the right error (malformed,
    /// method not allowed, ERR_CODE 2 with SUITES_R).
    pub(crate) fn for_message_1(&self, message_1: &[u8]) -> Option<&ResponderConfig<'a>> {
        let (mode, suite) = match Message1::parse(message_1) {
            Ok(m1) => (
                Method::from_id(m1.method).map_or(AuthMode::StaticDh, Method::responder),
                m1.suites.last(),
            ),
            Err(_) => (AuthMode::StaticDh, None),
        };
        let exact = self
            .configs
            .iter()
            .find(|(m, s, _)| *m == mode && Some(*s) == suite);
        exact
            .or_else(|| self.configs.iter().find(|(m, _, _)| *m == mode))
            .or_else(|| self.configs.first())
            .map(|(_, _, config)| config)
    }
}
