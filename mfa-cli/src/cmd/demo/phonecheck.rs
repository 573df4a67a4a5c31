//! The PhoneCheck leg: the real engine creates a check at the built-in
//! tru.ID simulator and shows its QR code; the demo then plays the phone
//! (opens the link, follows the operator's redirect to the callback that
//! `mfa serve` runs, here in-process on loopback), and the login goes
//! through. Then a phone with another SIM tries, and is refused.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mfa_core::config::{UserEntry, UsersDb};
use mfa_core::conversation::SecretAnswer;
use mfa_core::phonecheck::callback::{CallbackService, ProxyTrust, CALLBACK_PATH};
use mfa_core::phonecheck::truid::{Credentials, TruIdClient};
use mfa_core::phonecheck::PhoneNumber;
use mfa_core::{AuthContext, Config, Conversation, ConversationError, Engine};
use mfa_sim::truid::{Scenario, TruIdSim, SIM_CLIENT_ID, SIM_CLIENT_SECRET};
use tokio::net::TcpListener;

use super::{conversation, describe, Leg};
use crate::cmd::qr_out::QrFormat;
use crate::cmd::{runtime, serve, CliError};

const DEMO_USER: &str = "demo";
const DEMO_PHONE: &str = "+447700900000";

fn failed(what: &str) -> impl Fn(String) -> CliError + '_ {
    move |e| CliError::Failed(format!("{what}: {e}"))
}

/// The person at the terminal plus the phone in their hand: when the
/// "press Enter" prompt comes, the phone acts first.
struct PersonWithPhone<'a> {
    inner: Box<dyn Conversation>,
    sim: &'a TruIdSim,
    show_qr: bool,
}

#[async_trait]
impl Conversation for PersonWithPhone<'_> {
    async fn prompt_secret(&mut self, prompt: &str) -> Result<SecretAnswer, ConversationError> {
        self.inner.prompt_secret(prompt).await
    }

    async fn prompt_visible(&mut self, prompt: &str) -> Result<String, ConversationError> {
        if let Some((_, url)) = self.sim.last_check() {
            println!("   [phone]    opens the link over mobile data: {url}");
            match self.sim.operator_redirect(&url).await {
                Ok(target) => {
                    println!(
                        "   [operator] redirects the phone to {}{}?check_id=...&code=...",
                        target.origin().ascii_serialization(),
                        target.path()
                    );
                    match self.sim.phone_follows(&target).await {
                        Ok((status, page)) => println!(
                            "   [callback] mfa serve completes the check and answers HTTP {status}: {}",
                            page_text(&page)
                        ),
                        Err(e) => println!("   [phone]    the callback failed: {e}"),
                    }
                }
                Err(e) => println!("   [operator] {e}"),
            }
        }
        self.inner.prompt_visible(prompt).await
    }

    async fn info(&mut self, text: &str) -> Result<(), ConversationError> {
        if self.show_qr {
            return self.inner.info(text).await;
        }
        // --qr none: the text around the QR code only.
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| !l.contains(['█', '▀', '▄']) && !l.trim().is_empty())
            .collect();
        self.inner.info(&lines.join("\n")).await
    }

    async fn error(&mut self, text: &str) -> Result<(), ConversationError> {
        self.inner.error(text).await
    }
}

/// The sentence inside the page's `<p>`.
fn page_text(html: &str) -> &str {
    html.split_once("<p>")
        .and_then(|(_, rest)| rest.split_once("</p>"))
        .map_or(html, |(p, _)| p)
}

pub fn leg(auto: bool, qr: &QrFormat) -> Result<Leg, CliError> {
    println!("\n== PhoneCheck (tru.ID, SIM-based, simulated) ==");
    let rt = runtime()?;
    rt.block_on(async {
        let sim = TruIdSim::start()
            .await
            .map_err(|e| failed("cannot start the tru.ID simulator")(e.to_string()))?;
        // The callback endpoint exactly as `mfa serve` runs it.
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| failed("cannot listen")(e.to_string()))?;
        let cb_addr = listener
            .local_addr()
            .map_err(|e| failed("cannot listen")(e.to_string()))?;
        let client = TruIdClient::new(
            &sim.uri(),
            Credentials::new(SIM_CLIENT_ID, SIM_CLIENT_SECRET),
            Duration::from_secs(5),
            None,
        )
        .map_err(|e| failed("tru.ID client")(e.to_string()))?;
        let server = tokio::spawn(serve::serve(
            listener,
            Arc::new(CallbackService::new(Arc::new(client))),
            ProxyTrust::None,
        ));

        let src = format!(
            "[general]\nrequest_timeout_secs = 5\nlogin_timeout_secs = 30\n\
             [policy]\nfactors = [\"phonecheck\"]\n\
             [phonecheck]\napi_base_url = \"{}\"\nclient_id = \"{SIM_CLIENT_ID}\"\n\
             client_secret = \"{SIM_CLIENT_SECRET}\"\nredirect_url = \"http://{cb_addr}{CALLBACK_PATH}\"\n",
            sim.uri()
        );
        let config = Config::parse(std::path::Path::new("(demo config)"), &src)?;
        let mut users = UsersDb::default();
        users.users.insert(
            DEMO_USER.into(),
            UserEntry {
                phone: Some(
                    PhoneNumber::parse(DEMO_PHONE).map_err(|e| CliError::Failed(e.to_string()))?,
                ),
                ..UserEntry::default()
            },
        );
        let engine = Engine::with_users(config, users)?;
        println!("1. Enrolled user '{DEMO_USER}' with phone {DEMO_PHONE} (mfa user add {DEMO_USER} --phone {DEMO_PHONE}).");
        println!("   tru.ID simulator: {}   callback (mfa serve): http://{cb_addr}{CALLBACK_PATH}", sim.uri());
        let mut ctx = AuthContext::new(DEMO_USER, "mfa-demo");
        // The demo's user does not exist on this machine.
        ctx.accounts = Arc::new(mfa_core::accounts::StaticAccounts::named(&[DEMO_USER]));
        ctx.rhost = Some("203.0.113.7".into());

        println!("\n2. Log in: the server creates a PhoneCheck and shows its link as a QR code:");
        if !auto {
            println!("   (the demo plays the phone; press Enter when asked)");
        }
        let mut conv = PersonWithPhone {
            inner: conversation(auto, String::new),
            sim: &sim,
            show_qr: *qr != QrFormat::None,
        };
        let first = engine.authenticate(&ctx, &mut conv).await;
        println!("   engine says: {}", describe(&first));

        println!("\n3. A phone with another SIM opens the link (the check must not match):");
        sim.set_scenario(Scenario::NoMatch);
        let mut conv = PersonWithPhone {
            inner: conversation(auto, String::new),
            sim: &sim,
            show_qr: false,
        };
        let second = engine.authenticate(&ctx, &mut conv).await;
        println!("   engine says: {}", describe(&second));
        server.abort();

        let passed = first.is_allow()
            && matches!(&second, mfa_core::Decision::Deny { reason } if reason.contains("no match"));
        Ok(Leg {
            name: "phonecheck",
            passed,
            detail: format!(
                "login: {}; other SIM: {}",
                describe(&first),
                describe(&second)
            ),
        })
    })
}
