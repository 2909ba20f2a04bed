//! A LiveKit server URL as users write it (`ws://`, `wss://`, `http://`, `https://`),
//! checked before anything goes on the network.

use std::net::IpAddr;

/// A server URL that parsed: where to open the signal WebSocket and which host to reach.
#[derive(Debug, Clone)]
pub(crate) struct ServerUrl {
    /// The URL handed to the signal client (`ws` or `wss`).
    pub signal_url: String,
    host: String,
    port: u16,
}

impl ServerUrl {
    /// Parses `url`; a malformed one is an error that says what is wrong.
    pub(crate) fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            format!("{url:?} is not a URL: expected ws://host:port or wss://host")
        })?;
        let (signal_scheme, default_port) = match scheme.to_ascii_lowercase().as_str() {
            "ws" | "http" => ("ws", 80),
            "wss" | "https" => ("wss", 443),
            other => {
                return Err(format!(
                    "{url:?}: unsupported scheme {other:?}; a LiveKit URL starts with ws://, wss://, http:// or https://"
                ))
            }
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let path = &rest[authority.len()..];
        if authority.is_empty() || authority.contains('@') || authority.contains(' ') {
            return Err(format!("{url:?} has no usable host"));
        }
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| format!("{url:?}: unclosed [ in the host"))?;
            let port = match after.strip_prefix(':') {
                Some(port) => parse_port(url, port)?,
                None if after.is_empty() => default_port,
                None => return Err(format!("{url:?}: unexpected {after:?} after the host")),
            };
            (host.to_owned(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host.to_owned(), parse_port(url, port)?),
                None => (authority.to_owned(), default_port),
            }
        };
        if host.is_empty() {
            return Err(format!("{url:?} has no host"));
        }
        Ok(Self {
            signal_url: format!("{signal_scheme}://{authority}{path}"),
            host,
            port,
        })
    }

    /// The server's address (the first the resolver gives).
    pub(crate) async fn resolve(&self) -> Result<IpAddr, String> {
        let mut addrs = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("cannot resolve {}: {e}", self.host))?;
        addrs
            .next()
            .map(|a| a.ip())
            .ok_or_else(|| format!("{} resolves to no address", self.host))
    }
}

fn parse_port(url: &str, port: &str) -> Result<u16, String> {
    port.parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("{url:?}: {port:?} is not a port"))
}

#[cfg(test)]
mod tests {
    use super::ServerUrl;

    #[test]
    fn reads_the_urls_users_write() {
        let u = ServerUrl::parse("ws://127.0.0.1:7880").unwrap();
        assert_eq!(
            (u.signal_url.as_str(), u.host.as_str(), u.port),
            ("ws://127.0.0.1:7880", "127.0.0.1", 7880)
        );
        let u = ServerUrl::parse("https://project.livekit.cloud").unwrap();
        assert_eq!(
            (u.signal_url.as_str(), u.port),
            ("wss://project.livekit.cloud", 443)
        );
        let u = ServerUrl::parse("ws://[::1]:7880/").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 7880));
    }

    #[test]
    fn refuses_malformed_urls() {
        for bad in [
            "",
            "localhost:7880",
            "ftp://x",
            "ws://",
            "ws://host:0",
            "ws://host:99999",
            "ws://[::1",
        ] {
            assert!(ServerUrl::parse(bad).is_err(), "{bad:?} parsed");
        }
    }
}
