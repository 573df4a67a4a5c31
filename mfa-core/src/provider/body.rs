//! Provider answers are read with a size cap. A Duo, tru.ID or webhook
//! answer is a few hundred bytes; one that does not end (or claims
//! megabytes) is either broken or hostile, and reading it whole would let
//! it hold memory inside sshd for as long as the deadline allows. Larger
//! than the cap is a malformed answer: the service could not be used.

use super::{transport, Transport};

/// The largest answer body mfa reads from any provider.
pub const MAX_BODY: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// The body is (or says it is) longer than the cap.
    TooLarge,
    /// The connection failed while the body was read.
    Transport(Transport),
}

impl BodyError {
    /// What to report: never the body itself.
    pub fn describe(&self) -> String {
        match self {
            BodyError::TooLarge => format!("answer larger than {} KiB", MAX_BODY / 1024),
            BodyError::Transport(t) => t.detail.clone(),
        }
    }
}

/// Read `resp`'s body, at most `cap` bytes. A `Content-Length` above the
/// cap is refused before reading; a body without one (chunked) is refused
/// as soon as it passes the cap, so no more than `cap` plus one chunk is
/// ever held.
pub async fn read_capped(mut resp: reqwest::Response, cap: usize) -> Result<Vec<u8>, BodyError> {
    let cap64 = u64::try_from(cap).unwrap_or(u64::MAX);
    if resp.content_length().is_some_and(|n| n > cap64) {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| BodyError::Transport(transport(&e)))?
    {
        if body.len().saturating_add(chunk.len()) > cap {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-shot HTTP server that answers every request with `answer`
    /// (status line, headers and body as raw bytes), then closes.
    async fn serve(answer: Vec<u8>) -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(&answer).await;
            let _ = s.shutdown().await;
        });
        format!("http://{addr}/")
    }

    fn with_length(body: &[u8]) -> Vec<u8> {
        let mut a = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        a.extend_from_slice(body);
        a
    }

    /// Chunked, so no Content-Length tells the size in advance.
    fn chunked(body: &[u8], chunk: usize) -> Vec<u8> {
        let mut a =
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n".to_vec();
        for c in body.chunks(chunk) {
            a.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
            a.extend_from_slice(c);
            a.extend_from_slice(b"\r\n");
        }
        a.extend_from_slice(b"0\r\n\r\n");
        a
    }

    async fn get(answer: Vec<u8>) -> Result<Vec<u8>, BodyError> {
        let url = serve(answer).await;
        let resp = reqwest::Client::new().get(url).send().await.unwrap();
        read_capped(resp, MAX_BODY).await
    }

    #[tokio::test]
    async fn a_body_up_to_the_cap_is_read_whole() {
        let body = vec![b'x'; MAX_BODY];
        assert_eq!(get(with_length(&body)).await.unwrap(), body);
        assert_eq!(get(chunked(&body, 4000)).await.unwrap(), body);
    }

    #[tokio::test]
    async fn one_byte_over_the_cap_is_refused_with_or_without_a_length() {
        let body = vec![b'x'; MAX_BODY + 1];
        assert_eq!(get(with_length(&body)).await, Err(BodyError::TooLarge));
        assert_eq!(get(chunked(&body, 4000)).await, Err(BodyError::TooLarge));
    }

    #[tokio::test]
    async fn a_length_that_claims_too_much_is_refused_before_reading() {
        // Says 1 GiB and sends almost nothing: refused on the header alone,
        // without waiting for bytes that never come.
        let answer =
            b"HTTP/1.1 200 OK\r\ncontent-length: 1073741824\r\nconnection: close\r\n\r\n{}"
                .to_vec();
        assert_eq!(get(answer).await, Err(BodyError::TooLarge));
        assert!(BodyError::TooLarge.describe().contains("64 KiB"));
    }
}
