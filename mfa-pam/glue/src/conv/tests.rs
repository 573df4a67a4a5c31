// A fake C application: raw pointers are its whole point.
#![allow(clippy::undocumented_unsafe_blocks)]

use std::ffi::{c_void, CStr};

use super::*;

/// What the fake application saw, and how it answers.
#[derive(Default)]
struct App {
    calls: Vec<Vec<(c_int, String)>>,
    answer: &'static str,
    rc: c_int,
    null_responses: bool,
}

unsafe extern "C" fn fake_conv(
    n: c_int,
    msg: *mut *const ffi::PamMessage,
    resp: *mut *mut ffi::PamResponse,
    app: *mut c_void,
) -> c_int {
    let app = unsafe { &mut *app.cast::<App>() };
    let n = n as usize;
    let mut seen = Vec::new();
    for i in 0..n {
        let m = unsafe { &**msg.add(i) };
        let text = unsafe { CStr::from_ptr(m.msg) }
            .to_string_lossy()
            .into_owned();
        seen.push((m.msg_style, text));
    }
    app.calls.push(seen);
    if app.null_responses {
        return app.rc;
    }
    // Allocated like a C application does, for the module to free.
    let arr = unsafe { nix::libc::calloc(n, std::mem::size_of::<ffi::PamResponse>()) }
        .cast::<ffi::PamResponse>();
    for i in 0..n {
        let style = app.calls.last().unwrap()[i].0;
        if style == ffi::PAM_PROMPT_ECHO_OFF || style == ffi::PAM_PROMPT_ECHO_ON {
            let c = CString::new(app.answer).unwrap();
            unsafe { (*arr.add(i)).resp = nix::libc::strdup(c.as_ptr()) };
        }
    }
    unsafe { *resp = arr };
    app.rc
}

fn conversation(app: &mut App) -> (Box<ffi::PamConv>, PamConversation) {
    conversation_with(app, false)
}

fn conversation_with(app: &mut App, silent: bool) -> (Box<ffi::PamConv>, PamConversation) {
    let pc = Box::new(ffi::PamConv {
        conv: Some(fake_conv),
        appdata_ptr: (app as *mut App).cast(),
    });
    let c = unsafe { PamConversation::new(&*pc, silent) };
    (pc, c)
}

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn messages_travel_with_the_next_prompt() {
    let mut app = App {
        answer: "123456",
        ..Default::default()
    };
    let (_pc, mut c) = conversation(&mut app);
    block(async {
        c.info("Scan this code").await.unwrap();
        c.error("Last code was wrong").await.unwrap();
        let a = c.prompt_secret("Verification code: ").await.unwrap();
        assert_eq!(a.as_str(), "123456");
        let v = c.prompt_visible("Press Enter: ").await.unwrap();
        assert_eq!(v, "123456");
        c.info("bye\0!").await.unwrap();
    });
    c.flush();
    c.flush(); // nothing left: no call
    assert_eq!(
        app.calls,
        vec![
            vec![
                (ffi::PAM_TEXT_INFO, "Scan this code".to_owned()),
                (ffi::PAM_ERROR_MSG, "Last code was wrong".to_owned()),
                (ffi::PAM_PROMPT_ECHO_OFF, "Verification code: ".to_owned()),
            ],
            vec![(ffi::PAM_PROMPT_ECHO_ON, "Press Enter: ".to_owned())],
            vec![(ffi::PAM_TEXT_INFO, "bye!".to_owned())],
        ]
    );
}

#[test]
fn conversation_failures_are_errors() {
    let mut app = App {
        answer: "x",
        rc: ffi::PAM_CONV_ERR,
        ..Default::default()
    };
    let (_pc, mut c) = conversation(&mut app);
    assert_eq!(
        block(c.prompt_secret("Code: ")),
        Err(ConversationError::Aborted)
    );

    let mut app = App {
        null_responses: true,
        ..Default::default()
    };
    let (_pc, mut c) = conversation(&mut app);
    assert_eq!(
        block(c.prompt_secret("Code: ")),
        Err(ConversationError::Aborted),
        "success without an answer is a hang-up, not an empty code"
    );

    let mut app = App {
        answer: "x",
        rc: ffi::PAM_BUF_ERR,
        ..Default::default()
    };
    let (_pc, mut c) = conversation(&mut app);
    assert!(matches!(
        block(c.prompt_visible("Code: ")),
        Err(ConversationError::Failed(_))
    ));
}

#[test]
fn pam_silent_drops_texts_but_still_prompts() {
    let mut app = App {
        answer: "123456",
        ..Default::default()
    };
    let (_pc, mut c) = conversation_with(&mut app, true);
    block(async {
        c.info("Scan this code").await.unwrap();
        c.error("Wrong code").await.unwrap();
        assert_eq!(c.prompt_secret("Code: ").await.unwrap().as_str(), "123456");
        c.info("bye").await.unwrap();
    });
    c.flush();
    assert_eq!(
        app.calls,
        vec![vec![(ffi::PAM_PROMPT_ECHO_OFF, "Code: ".to_owned())]]
    );
}
