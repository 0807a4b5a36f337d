//! Sending a request of the `llm` and `http` agents. Redirects are followed
//! here, not by reqwest, so that a hop that leaves the first URL's origin
//! goes without the agent's own headers (reqwest drops only `Authorization`
//! and cookies); and link-local addresses (169.254.0.0/16, fe80::/10, where
//! cloud metadata services answer) are refused unless the agent says
//! `allow_link_local: true`: in the URL of every hop, and among the
//! addresses a name resolves to (a DNS resolver of our own).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE, LOCATION};
use reqwest::{Method, StatusCode, Url};

/// Most redirects a request follows; one more fails it.
pub const MAX_REDIRECTS: usize = 10;

/// The config key that lets an agent reach link-local addresses.
pub const ALLOW_LINK_LOCAL: &str = "allow_link_local";

/// One request, as an agent asks for it.
pub struct Outgoing {
    pub method: Method,
    /// Its query included.
    pub url: Url,
    /// The agent's headers (`headers:`, `Authorization`): sent only to the
    /// origin (scheme, host, port) of `url`.
    pub headers: HeaderMap,
    /// A JSON body.
    pub json: Option<Vec<u8>>,
    /// Limit on each request of the chain.
    pub timeout: Duration,
    pub allow_link_local: bool,
}

/// Sends the request and follows its redirects; the error is one line
/// without the URL ("cannot connect: …", "more than 10 redirects").
pub async fn send(out: &Outgoing) -> Result<reqwest::Response, String> {
    let (mut method, mut url, mut json) = (out.method.clone(), out.url.clone(), out.json.clone());
    let mut hops = 0;
    loop {
        if !out.allow_link_local {
            refuse_literal(&url)?;
        }
        let client = super::net::client(out.allow_link_local, url.scheme() == "https")
            .map_err(|e| e.message)?;
        let mut request = client.request(method.clone(), url.clone()).timeout(out.timeout);
        if !out.headers.is_empty() && url.origin() == out.url.origin() {
            request = request.headers(out.headers.clone());
        }
        if let Some(body) = &json {
            request = request
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(body.clone());
        }
        let response = request.send().await.map_err(|e| super::net::describe(&e))?;
        let status = response.status();
        let follow = matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308);
        let Some(location) = response.headers().get(LOCATION).filter(|_| follow) else {
            return Ok(response);
        };
        if hops == MAX_REDIRECTS {
            return Err(format!(
                "stopped following redirects: more than {MAX_REDIRECTS}"
            ));
        }
        hops += 1;
        let next = location
            .to_str()
            .ok()
            .and_then(|l| url.join(l).ok())
            .filter(|next| matches!(next.scheme(), "http" | "https"))
            .ok_or_else(|| format!("answered {status} with a Location that is no http(s) URL"))?;
        // As browsers do: a 303, or a 301/302 after a POST, goes on as a GET.
        let to_get = status == StatusCode::SEE_OTHER && method != Method::HEAD
            || matches!(status.as_u16(), 301 | 302) && method == Method::POST;
        if to_get {
            method = Method::GET;
            json = None;
        }
        url = next;
    }
}

/// Whether an address is link-local: 169.254.0.0/16 or fe80::/10 (also as an
/// IPv4-mapped IPv6 address).
pub fn link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.is_link_local(),
            None => v6.segments()[0] & 0xffc0 == 0xfe80,
        },
    }
}

/// Why a link-local address is not reached.
fn refusal(host: &str, ip: IpAddr) -> String {
    let what = if host == ip.to_string() {
        format!("{ip} is")
    } else {
        format!("`{host}` resolves to {ip},")
    };
    format!(
        "refused: {what} a link-local address (169.254.0.0/16, fe80::/10: where cloud \
         metadata services answer); set `{ALLOW_LINK_LOCAL}: true` on the agent to reach it"
    )
}

/// Refuses a URL whose host is a link-local address written out.
fn refuse_literal(url: &Url) -> Result<(), String> {
    let host = url.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let Ok(ip) = host.parse::<IpAddr>() else {
        return Ok(());
    };
    if link_local(ip) {
        return Err(refusal(&ip.to_string(), ip));
    }
    Ok(())
}

/// The resolver of the client that refuses link-local addresses: the
/// system's answer without them, an error when nothing else is left.
pub struct Guarded;

impl reqwest::dns::Resolve for Guarded {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .collect();
            let kept: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| !link_local(a.ip()))
                .collect();
            match found.first() {
                Some(first) if kept.is_empty() => Err(refusal(&host, first.ip()).into()),
                _ => Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_local_addresses() {
        for ip in ["169.254.169.254", "169.254.0.1", "fe80::1", "febf::1", "::ffff:169.254.1.1"] {
            assert!(link_local(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["127.0.0.1", "10.0.0.1", "169.255.0.1", "::1", "fec0::1", "fd00:ec2::254"] {
            assert!(!link_local(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn literal_link_local_urls_are_refused() {
        let refused = |url: &str| refuse_literal(&Url::parse(url).unwrap());
        let error = refused("http://169.254.169.254/latest/meta-data").unwrap_err();
        assert!(error.contains("allow_link_local: true"), "{error}");
        assert!(refused("http://[fe80::1]:8080/").is_err());
        assert!(refused("http://127.0.0.1/").is_ok());
        assert!(refused("http://example.com/").is_ok());
    }
}
