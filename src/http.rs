//! The management API's and the pages' HTTP plumbing (full worker): request bodies read within a
//! limit, query parameters, JSON values, and a request's own origin. Shared by the operator's
//! routes (`management`), the key portal and console (`portal`) and leak reports (`scanning`).

use futures_util::StreamExt;
use keygate_core::Error;
use keygate_core::domain::web_url::RequestUrl;
use worker::Request;

/// Read a request body of at most `limit` bytes ([`keygate_core::api::request::MAX_BODY`] for the API's own bodies). A declared length over the limit
/// is refused before reading; a body without one (chunked) is read chunk by chunk and refused
/// as soon as it passes the limit, never buffered whole. Before the refusal, the rest of the
/// body is read and thrown away for a bounded while ([`DRAIN_BYTES`], [`DRAIN_FOR`]), so that a
/// client still sending gets the answer instead of a reset connection; past either bound the
/// answer goes at once.
pub async fn read_body(req: &mut Request, limit: usize) -> Result<Vec<u8>, Error> {
    let too_large = Error::BodyTooLarge { limit };
    let unreadable = || Error::invalid_param("body_invalid", "body", "The request body could not be read.");
    if req.inner().body().is_none() {
        return Ok(Vec::new());
    }
    let declared_too_large = matches!(req.headers().get("content-length"), Ok(Some(len))
        if len.trim().parse::<usize>().map_or(true, |n| n > limit));
    let mut stream = req.stream().map_err(|_| unreadable())?;
    if declared_too_large {
        drain(&mut stream).await;
        return Err(too_large);
    }
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| unreadable())?;
        if body.len() + chunk.len() > limit {
            drain(&mut stream).await;
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The most of a refused body read and thrown away before answering.
const DRAIN_BYTES: usize = 4 * 1024 * 1024;
/// The longest a refused body is read before answering.
const DRAIN_FOR: std::time::Duration = std::time::Duration::from_millis(1500);

/// Read and discard what is left of `stream`, within [`DRAIN_BYTES`] and [`DRAIN_FOR`].
async fn drain(stream: &mut worker::ByteStream) {
    let discard = async {
        let mut seen = 0;
        while let Some(Ok(chunk)) = stream.next().await {
            seen += chunk.len();
            if seen > DRAIN_BYTES {
                break;
            }
        }
    };
    let deadline = worker::Delay::from(DRAIN_FOR);
    futures_util::future::select(std::pin::pin!(discard), deadline).await;
}

/// The first value of query parameter `name`.
pub fn query_param(url: &RequestUrl, name: &str) -> Option<String> {
    query_pairs(url).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// The query's name-value pairs, decoded as a form.
pub fn query_pairs(url: &RequestUrl) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(url.query().unwrap_or("").as_bytes())
}

pub fn value<T: serde::Serialize>(v: &T) -> Result<serde_json::Value, Error> {
    serde_json::to_value(v).map_err(|_| Error::Internal { what: "encoding a response" })
}

/// `scheme://host[:port]` of the request, as a browser writes its `Origin`.
pub fn origin(url: &RequestUrl) -> String {
    let text = url.as_str();
    let after = text.find("://").map_or(0, |i| i + 3);
    let end = text[after..].find(['/', '?', '#']).map_or(text.len(), |i| after + i);
    text[..end].to_owned()
}
