//! A webhook sink on loopback: stands in for a Slack, Teams or Discord
//! channel (or any JSON webhook) in tests, the demo and `mfa mock serve`.
//!
//! It records every request (and its parsed JSON), checks what real
//! services require (POST, `Content-Type: application/json`, a JSON object
//! of the service's shape) and answers as they do (Slack `200 ok`, Discord
//! `204`, Teams `202`; `400` for a payload they would refuse). It can be
//! switched into any [`Fault`] (500, 404, slow past the client's timeout),
//! [`refusing_url`] gives a URL where nothing listens, and
//! [`WebhookSink::last_text`] / [`WebhookSink::last_code`] "read the
//! channel" for tests and the demo.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;

use serde_json::Value;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::plumbing::{start_server, Fault, Recorded, Shared};

/// The secret part of the sink's URL. Tests assert it never appears in an
/// error, a log line or an audit record.
pub const SECRET_PATH: &str = "/hooks/T0MFA/B0SINK/xoxb-sink-secret-4f9a";

/// Which service's rules the sink applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Service {
    /// Any JSON object.
    #[default]
    Generic,
    /// `{"text": "..."}` required.
    Slack,
    /// `{"content": "..."}` (at most 2000 characters) required.
    Discord,
    /// A `message` with an Adaptive Card attachment required.
    Teams,
}

/// One request the sink received.
#[derive(Debug, Clone)]
pub struct Message {
    pub request: Recorded,
    /// The body parsed as JSON, when it was JSON.
    pub json: Option<Value>,
}

impl Message {
    /// The text a person would read in the channel.
    pub fn text(&self, service: Service) -> Option<String> {
        let j = self.json.as_ref()?;
        let s = match service {
            Service::Slack => j["text"].as_str()?.to_owned(),
            Service::Discord => j["content"].as_str()?.to_owned(),
            Service::Teams => j["attachments"][0]["content"]["body"]
                .as_array()?
                .iter()
                .filter_map(|b| b["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n"),
            Service::Generic => match j["text"].as_str() {
                Some(t) => t.to_owned(),
                None => j.to_string(),
            },
        };
        Some(s)
    }
}

type Listener = Arc<dyn Fn(&Message) + Send + Sync>;

#[derive(Default)]
struct State {
    received: Vec<Message>,
    fault: Option<Fault>,
    listener: Option<Listener>,
}

/// A running sink; stops when dropped.
pub struct WebhookSink {
    server: MockServer,
    service: Service,
    state: Shared<State>,
}

impl std::fmt::Debug for WebhookSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSink")
            .field("uri", &self.server.uri())
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl WebhookSink {
    /// Start on 127.0.0.1.
    pub async fn start(service: Service) -> std::io::Result<Self> {
        Self::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST), service).await
    }

    /// Start on a loopback address (anything else is refused).
    pub async fn start_on(bind: IpAddr, service: Service) -> std::io::Result<Self> {
        let server = start_server(bind).await?;
        let state: Shared<State> = Shared::default();
        let s = state.clone();
        Mock::given(path(SECRET_PATH))
            .respond_with(move |r: &Request| answer(&s, service, r))
            .mount(&server)
            .await;
        Ok(Self {
            server,
            service,
            state,
        })
    }

    /// The webhook URL to configure (`http://127.0.0.1:PORT/hooks/...`).
    pub fn url(&self) -> String {
        format!("{}{SECRET_PATH}", self.server.uri())
    }

    /// The plain-HTTP address, for a TLS front (`testing::duo::TlsFront`)
    /// placed before the sink.
    pub fn addr(&self) -> SocketAddr {
        *self.server.address()
    }

    pub fn service(&self) -> Service {
        self.service
    }

    /// Answer every following request with `fault` (`None`: behave).
    pub fn set_fault(&self, fault: Option<Fault>) {
        self.state.lock().fault = fault;
    }

    /// Call `f` for each message as it arrives (the demo and `mfa mock
    /// serve` print them).
    pub fn on_message(&self, f: impl Fn(&Message) + Send + Sync + 'static) {
        self.state.lock().listener = Some(Arc::new(f));
    }

    /// A handle that reads what the sink received ("reads the channel"),
    /// cheap to clone into a conversation or a closure.
    pub fn channel(&self) -> Channel {
        Channel {
            state: self.state.clone(),
            service: self.service,
        }
    }

    /// Everything received so far, in order.
    pub fn received(&self) -> Vec<Message> {
        self.channel().received()
    }

    pub fn last(&self) -> Option<Message> {
        self.channel().last()
    }

    /// The text of the last message, as the channel shows it.
    pub fn last_text(&self) -> Option<String> {
        self.channel().last_text()
    }

    /// See [`Channel::last_code`].
    pub fn last_code(&self, digits: usize) -> Option<String> {
        self.channel().last_code(digits)
    }
}

/// Read access to what a [`WebhookSink`] received.
#[derive(Clone)]
pub struct Channel {
    state: Shared<State>,
    service: Service,
}

impl Channel {
    pub fn received(&self) -> Vec<Message> {
        self.state.lock().received.clone()
    }

    pub fn last(&self) -> Option<Message> {
        self.state.lock().received.last().cloned()
    }

    pub fn last_text(&self) -> Option<String> {
        self.last().and_then(|m| m.text(self.service))
    }

    /// The code in the last message: the generic payload's `code` field,
    /// else the first run of exactly `digits` digits in its text.
    pub fn last_code(&self, digits: usize) -> Option<String> {
        let m = self.last()?;
        if let Some(c) = m.json.as_ref().and_then(|j| j["code"].as_str()) {
            return Some(c.to_owned());
        }
        find_code(&m.text(self.service)?, digits)
    }
}

/// The first run of exactly `digits` ASCII digits in `text`.
pub fn find_code(text: &str, digits: usize) -> Option<String> {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() == digits)
        .map(str::to_owned)
}

/// A URL on 127.0.0.1 where nothing listens: connections are refused. (The
/// port was free a moment ago; another process could take it, which a test
/// would notice as a non-refusal.)
pub fn refusing_url() -> std::io::Result<String> {
    let l = TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))?;
    let port = l.local_addr()?.port();
    drop(l);
    Ok(format!("http://127.0.0.1:{port}{SECRET_PATH}"))
}

fn answer(state: &Shared<State>, service: Service, r: &Request) -> ResponseTemplate {
    let message = Message {
        request: Recorded::from_request(r),
        json: serde_json::from_slice(&r.body).ok(),
    };
    let (fault, listener) = {
        let mut st = state.lock();
        st.received.push(message.clone());
        (st.fault.clone(), st.listener.clone())
    };
    if let Some(f) = &fault {
        if let Some(resp) = f.response() {
            return resp;
        }
    }
    let resp = match check(service, &message) {
        Err(why) => ResponseTemplate::new(400).set_body_string(why),
        Ok(()) => {
            if let Some(l) = listener {
                l(&message);
            }
            match service {
                Service::Slack | Service::Generic => {
                    ResponseTemplate::new(200).set_body_string("ok")
                }
                Service::Discord => ResponseTemplate::new(204),
                Service::Teams => ResponseTemplate::new(202),
            }
        }
    };
    match fault.and_then(|f| f.delay()) {
        Some(d) => resp.set_delay(d),
        None => resp,
    }
}

/// What the real service would refuse, with its kind of error text.
fn check(service: Service, m: &Message) -> Result<(), &'static str> {
    if m.request.method != "POST" {
        return Err("method_not_allowed");
    }
    let json_type = m
        .request
        .header("content-type")
        .is_some_and(|t| t.starts_with("application/json"));
    if !json_type {
        return Err("invalid_content_type");
    }
    let Some(j) = m.json.as_ref().filter(|j| j.is_object()) else {
        return Err("invalid_payload");
    };
    let non_empty = |v: &Value| v.as_str().is_some_and(|s| !s.is_empty());
    match service {
        Service::Generic => Ok(()),
        Service::Slack if non_empty(&j["text"]) => Ok(()),
        Service::Slack => Err("no_text"),
        Service::Discord
            if non_empty(&j["content"])
                && j["content"]
                    .as_str()
                    .is_some_and(|s| s.chars().count() <= 2000) =>
        {
            Ok(())
        }
        Service::Discord => Err("content: must be 1-2000 characters"),
        Service::Teams => {
            let att = &j["attachments"][0];
            let ok = j["type"] == "message"
                && att["contentType"] == "application/vnd.microsoft.card.adaptive"
                && att["content"]["type"] == "AdaptiveCard"
                && att["content"]["body"].is_array();
            if ok {
                Ok(())
            } else {
                Err("Bad payload: expected a message with an Adaptive Card attachment")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn post(url: &str, ctype: &str, body: &str) -> u16 {
        reqwest::Client::new()
            .post(url)
            .header("content-type", ctype)
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    #[tokio::test]
    async fn answers_like_each_service_and_records_everything() {
        let slack = WebhookSink::start(Service::Slack).await.unwrap();
        assert_eq!(
            post(
                &slack.url(),
                "application/json",
                r#"{"text":"hi 12345678"}"#
            )
            .await,
            200
        );
        assert_eq!(
            post(&slack.url(), "application/json", r#"{"blocks":[]}"#).await,
            400
        );
        assert_eq!(
            post(&slack.url(), "text/plain", r#"{"text":"x"}"#).await,
            400
        );
        assert_eq!(
            post(&slack.url(), "application/json", "not json").await,
            400
        );
        let wrong_path = slack.url().replace("secret", "guess");
        assert_eq!(
            post(&wrong_path, "application/json", r#"{"text":"x"}"#).await,
            404
        );
        let got = slack.received();
        assert_eq!(got.len(), 4, "the wrong path is not the webhook");
        assert_eq!(got[0].text(Service::Slack).as_deref(), Some("hi 12345678"));
        assert!(got[3].json.is_none());
        assert_eq!(slack.last_text(), None);

        let discord = WebhookSink::start(Service::Discord).await.unwrap();
        let long = format!(r#"{{"content":"{}"}}"#, "x".repeat(2001));
        assert_eq!(post(&discord.url(), "application/json", &long).await, 400);
        assert_eq!(
            post(
                &discord.url(),
                "application/json",
                r#"{"content":"c 987654"}"#
            )
            .await,
            204
        );
        assert_eq!(discord.last_code(6).as_deref(), Some("987654"));

        let teams = WebhookSink::start(Service::Teams).await.unwrap();
        assert_eq!(
            post(&teams.url(), "application/json", r#"{"text":"x"}"#).await,
            400
        );
    }

    #[tokio::test]
    async fn faults_and_refused_connections() {
        let sink = WebhookSink::start(Service::Generic).await.unwrap();
        sink.set_fault(Some(Fault::Status(500)));
        assert_eq!(post(&sink.url(), "application/json", "{}").await, 500);
        sink.set_fault(None);
        assert_eq!(post(&sink.url(), "application/json", "{}").await, 200);
        let refused = reqwest::Client::new()
            .post(refusing_url().unwrap())
            .send()
            .await
            .unwrap_err();
        assert!(refused.is_connect(), "{refused}");
    }

    #[test]
    fn finds_codes_of_the_right_length_only() {
        assert_eq!(
            find_code("at 2026-11-24 code 01234567 x", 8).as_deref(),
            Some("01234567")
        );
        assert_eq!(find_code("123456789", 8), None);
        assert_eq!(find_code("", 6), None);
    }
}
