//! Users who can log in but are enrolled in nothing their plan asks for.

use super::{EnrolmentStatus, Finding, Setup};
use crate::config::Unenrolled;

/// Names listed in one message, at most.
const SHOWN: usize = 10;

pub(super) fn check(setup: &Setup<'_>, out: &mut Vec<Finding>) {
    let (Some(config), Some(users)) = (&setup.config, &setup.users) else {
        return;
    };
    let mut missing = Vec::new();
    for account in setup.accounts.login_users() {
        if let EnrolmentStatus::NotEnrolled(_) = crate::admin::enrolment::status(
            &setup.opts.root,
            config,
            users,
            &setup.accounts,
            account,
        ) {
            missing.push(account.name.clone());
        }
    }
    if missing.is_empty() {
        out.push(Finding::ok(
            "users.enrolled",
            "every account that can log in is enrolled",
        ));
        return;
    }
    let mut list = missing
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if missing.len() > SHOWN {
        list.push_str(&format!(" and {} more", missing.len() - SHOWN));
    }
    out.push(match config.general.unenrolled {
        Unenrolled::Deny => Finding::warn(
            "users.enrolled",
            format!("{} account(s) would be denied, not being enrolled: {list}", missing.len()),
            "enrol them (`mfa totp enroll`, `mfa user add`), or roll out with unenrolled = \"allow\"",
        ),
        Unenrolled::Enroll => Finding::warn(
            "users.enrolled",
            format!("{} account(s) will be asked to enrol at their next login (unenrolled = \"enroll\"): {list}", missing.len()),
            "once they are all enrolled, set unenrolled = \"deny\"; a login with a password as \
             first factor cannot enrol and is refused",
        ),
        Unenrolled::Allow => Finding::warn(
            "users.enrolled",
            format!("{} account(s) log in on the first factor alone (unenrolled = \"allow\"): {list}", missing.len()),
            "enrol them, then set unenrolled = \"deny\"",
        ),
    });
}
