//! The simulated Auth API: authentication of each request, then the
//! endpoint's answer according to the scenario in [`DuoState`].

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use wiremock::{Request, ResponseTemplate};

use mfa_core::push::duo::sign;

use super::verify::{parse_authorization, parse_rfc2822, signature_matches};
use super::{Answer, DuoState, PreauthScenario, Txn, IKEY, SKEY};
use crate::plumbing::{Fault, Recorded, Shared};

pub(super) fn handle(state: &Shared<DuoState>, r: &Request) -> ResponseTemplate {
    let rec = Recorded::from_request(r);
    let mut st = state.lock();
    st.requests.push(rec.clone());
    let path = r.url.path().to_owned();

    // Faults first: they model the network and the service, not Duo's logic.
    let mut delay = None;
    if let Some(i) = st.faults.iter().position(|f| f.endpoint.matches(&path)) {
        let rule = st.faults[i].clone();
        match rule.times {
            Some(n) if n <= 1 => {
                st.faults.remove(i);
            }
            Some(n) => st.faults[i].times = Some(n - 1),
            None => {}
        }
        match &rule.fault {
            Fault::Status(code) => return fail(*code, 0, "simulated failure"),
            Fault::Slow(d) => delay = Some(*d),
            other => {
                if let Some(t) = other.response() {
                    return t;
                }
            }
        }
    }

    let resp = match authenticate(&st, r, &rec, &path) {
        Err(why) => {
            st.rejected.push(why.clone());
            fail(401, 40103, &why)
        }
        Ok(()) => route(&mut st, r.method.as_str(), &path, &params_of(&rec)),
    };
    match delay {
        Some(d) => resp.set_delay(d),
        None => resp,
    }
}

fn ok(response: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"stat": "OK", "response": response}))
}

fn fail(status: u16, code: u32, message: &str) -> ResponseTemplate {
    let code = if code == 0 {
        u32::from(status) * 100
    } else {
        code
    };
    ResponseTemplate::new(status)
        .set_body_json(json!({"stat": "FAIL", "code": code, "message": message}))
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Decoded parameters: the query for GET, the form body otherwise.
pub(super) fn params_of(r: &Recorded) -> Vec<(String, String)> {
    let raw = if r.method == "GET" {
        r.path_and_query
            .split_once('?')
            .map(|(_, q)| q.as_bytes().to_vec())
            .unwrap_or_default()
    } else {
        r.body.clone()
    };
    url::form_urlencoded::parse(&raw).into_owned().collect()
}

/// Check the signature and the date the way the real service does.
fn authenticate(st: &DuoState, r: &Request, rec: &Recorded, path: &str) -> Result<(), String> {
    if path == "/auth/v2/ping" {
        return Ok(()); // the one unsigned call
    }
    let auth = rec
        .header("authorization")
        .ok_or("Missing request credentials")?;
    let (ikey, sig) = parse_authorization(auth).ok_or("Malformed Authorization header")?;
    if ikey != IKEY {
        return Err("Invalid integration key in request credentials".into());
    }
    let date_hdr = rec
        .header("x-duo-date")
        .or_else(|| rec.header("date"))
        .ok_or("Missing date header")?;
    if let (Some(a), Some(b)) = (rec.header("x-duo-date"), rec.header("date")) {
        if a != b {
            return Err("Date and X-Duo-Date differ".into());
        }
    }
    let when = parse_rfc2822(date_hdr).ok_or("Malformed date header")?;
    if now_unix().abs_diff(when) > st.max_skew.as_secs() {
        return Err(format!(
            "Request date {date_hdr:?} is too far from server time"
        ));
    }
    if r.method.as_str() == "POST"
        && rec.header("content-type") != Some("application/x-www-form-urlencoded")
    {
        return Err("POST parameters must be form-encoded".into());
    }
    let host = rec.header("host").ok_or("Missing Host header")?;
    let params = sign::canon_params(&params_of(rec));
    let canon = sign::canonical(date_hdr, r.method.as_str(), host, path, &params);
    let expected = sign::signature(SKEY.as_bytes(), &canon);
    if !signature_matches(&expected, &sig) {
        return Err("Invalid signature in request credentials".into());
    }
    Ok(())
}

fn get<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn route(
    st: &mut DuoState,
    method: &str,
    path: &str,
    params: &[(String, String)],
) -> ResponseTemplate {
    match (method, path) {
        ("GET", "/auth/v2/ping") | ("GET", "/auth/v2/check") => ok(json!({"time": now_unix()})),
        ("POST", "/auth/v2/preauth") => preauth(st, params),
        ("POST", "/auth/v2/auth") => auth(st, params),
        ("GET", "/auth/v2/auth_status") => auth_status(st, params),
        _ => fail(404, 40401, "Resource not found"),
    }
}

fn preauth(st: &DuoState, params: &[(String, String)]) -> ResponseTemplate {
    if get(params, "username").is_none_or(str::is_empty) {
        return fail(400, 40001, "Missing required request parameters");
    }
    let msg = |default: &str| st.preauth_msg.clone().unwrap_or_else(|| default.to_owned());
    match st.preauth {
        PreauthScenario::Auth => ok(json!({
            "result": "auth", "status_msg": msg("Account is active"), "devices": st.devices,
        })),
        PreauthScenario::Allow => {
            ok(json!({"result": "allow", "status_msg": msg("Allowing unknown user")}))
        }
        PreauthScenario::Deny => {
            ok(json!({"result": "deny", "status_msg": msg("Login denied by policy")}))
        }
        PreauthScenario::Enroll => ok(json!({
            "result": "enroll",
            "status_msg": msg("Enroll an authentication device to proceed"),
            "enroll_portal_url": "https://127.0.0.1/portal?code=48bac5d9393fb2c2&akey=DAKSIM",
        })),
        PreauthScenario::BadStat => ResponseTemplate::new(200)
            .set_body_json(json!({"stat": "WHATEVER", "response": {"result": "auth"}})),
        PreauthScenario::MissingResponse => {
            ResponseTemplate::new(200).set_body_json(json!({"stat": "OK"}))
        }
        PreauthScenario::UnknownResult => ok(json!({"result": "sure", "status_msg": msg("?")})),
        PreauthScenario::AllowWithoutStatusMsg => ok(json!({"result": "allow"})),
        PreauthScenario::AuthWithoutDevices => {
            ok(json!({"result": "auth", "status_msg": msg("Account is active")}))
        }
    }
}

fn device_known(st: &DuoState, id: &str) -> bool {
    id == "auto" || st.devices.iter().any(|d| d["device"] == id)
}

fn auth(st: &mut DuoState, params: &[(String, String)]) -> ResponseTemplate {
    let (Some(_user), Some(factor)) = (get(params, "username"), get(params, "factor")) else {
        return fail(400, 40001, "Missing required request parameters");
    };
    let asynchronous = get(params, "async") == Some("1");
    match factor {
        "auto" | "push" | "phone" => {
            if !get(params, "device").is_some_and(|d| device_known(st, d)) {
                return fail(400, 40002, "Invalid request parameters (device)");
            }
            if !asynchronous {
                return fail(
                    400,
                    40002,
                    "the simulator only runs push/phone with async=1",
                );
            }
            let txid = format!("sim-txn-{}", st.txns.len() + 1);
            st.txns.push((
                txid.clone(),
                Txn {
                    factor: factor.to_owned(),
                    started: Instant::now(),
                    polls: 0,
                },
            ));
            ok(json!({"txid": txid}))
        }
        "sms" => {
            if !get(params, "device").is_some_and(|d| device_known(st, d)) {
                return fail(400, 40002, "Invalid request parameters (device)");
            }
            st.sms_batches += 1;
            let b = st.sms_batches;
            // A fresh batch replaces the old one, as Duo's does.
            st.sms_codes = (0..10)
                .map(|i| format!("{b}{i:05}{}", (b + i) % 10))
                .collect();
            ok(json!({"result": "deny", "status": "sent", "status_msg": "New SMS passcodes sent."}))
        }
        "passcode" => {
            let code = get(params, "passcode").unwrap_or_default();
            let found = [&mut st.passcodes, &mut st.sms_codes]
                .into_iter()
                .find_map(|list| list.iter().position(|c| c == code).map(|i| list.remove(i)));
            if found.is_some() && !code.is_empty() {
                ok(
                    json!({"result": "allow", "status": "allow", "status_msg": "Success. Logging you in..."}),
                )
            } else {
                ok(
                    json!({"result": "deny", "status": "deny", "status_msg": "Incorrect passcode. Please try again."}),
                )
            }
        }
        _ => fail(400, 40002, "Invalid request parameters (factor)"),
    }
}

fn auth_status(st: &mut DuoState, params: &[(String, String)]) -> ResponseTemplate {
    let Some(txid) = get(params, "txid") else {
        return fail(400, 40001, "Missing required request parameters");
    };
    let (waiting_polls, answer_after, long_poll) =
        (st.waiting_polls, st.answer_after, st.long_poll);
    let Some((_, txn)) = st.txns.iter_mut().find(|(id, _)| id == txid) else {
        return fail(400, 40002, "Invalid request parameters (txid)");
    };
    txn.polls += 1;
    let phone = txn.factor == "phone";
    let waiting = match answer_after {
        Some(after) => txn.started.elapsed() < after,
        None => txn.polls <= waiting_polls,
    };
    // Long poll: answer with the outcome, held back until the phone answers.
    let hold = match (long_poll, answer_after) {
        (true, Some(after)) if waiting => Some(after.saturating_sub(txn.started.elapsed())),
        _ => None,
    };
    if waiting && hold.is_none() {
        let (status, msg) = match (phone, txn.polls) {
            (true, 1) => ("calling", "Dialing XXX-XXX-0100..."),
            (true, _) => (
                "answered",
                "Answered. Press any key on your phone to log in.",
            ),
            (false, _) => ("pushed", "Pushed a login request to your device..."),
        };
        return ok(json!({"result": "waiting", "status": status, "status_msg": msg}));
    }
    let answered = answer_after.map_or_else(Instant::now, |a| txn.started + a);
    st.answered_at.get_or_insert(answered);
    let answer = if phone { st.phone } else { st.push };
    let (result, status, msg) = match answer {
        Answer::Approve => ("allow", "allow", "Success. Logging you in..."),
        Answer::Deny => ("deny", "deny", "Login request denied."),
        Answer::Timeout => ("deny", "timeout", "Login timed out."),
        Answer::Fraud => ("deny", "fraud", "Login request reported as fraudulent."),
    };
    let resp = ok(json!({"result": result, "status": status, "status_msg": msg}));
    match hold {
        Some(d) => resp.set_delay(d),
        None => resp,
    }
}
