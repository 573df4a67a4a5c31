//! The config and users files (parse, owner, mode) and mfa-login's setgid
//! bit and group.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::{Finding, Options, Setup};
use crate::config::{Config, UsersDb, DEFAULT_CONFIG};

pub(super) fn config(opts: &Options, out: &mut Vec<Finding>) -> Option<Config> {
    let logical = opts.config.as_deref().unwrap_or(Path::new(DEFAULT_CONFIG));
    let real = opts.root.path(logical);
    if opts.config.is_none() && !real.exists() && real.symlink_metadata().is_err() {
        out.push(Finding::ok(
            "config",
            format!(
                "no {}: the built-in default (TOTP with ~/.google_authenticator)",
                logical.display()
            ),
        ));
        return Some(Config::default());
    }
    match Config::load(&real) {
        Ok(c) => {
            out.push(Finding::ok(
                "config",
                format!("{} parses; owner and mode are safe", logical.display()),
            ));
            Some(c)
        }
        Err(e) => {
            out.push(Finding::fail(
                "config",
                e.to_string(),
                "fix the file (the message names line and key); it must be owned by root, not \
                 writable by others, and not readable by others when it holds provider secrets",
            ));
            None
        }
    }
}

pub(super) fn users_file(
    opts: &Options,
    config: &Config,
    out: &mut Vec<Finding>,
) -> Option<UsersDb> {
    let logical = config.users_file();
    match UsersDb::load(&opts.root.path(&logical), true) {
        Ok(db) => {
            out.push(Finding::ok(
                "users-file",
                format!("{} parses ({} users)", logical.display(), db.users.len()),
            ));
            Some(db)
        }
        Err(e) => {
            out.push(Finding::fail(
                "users-file",
                e.to_string(),
                "fix or recreate it with `mfa user add`; owner root, not writable by others",
            ));
            None
        }
    }
}

/// Name of group `gid` in the root's group file.
fn group_name(setup: &Setup<'_>, gid: u32) -> String {
    let text =
        std::fs::read_to_string(setup.opts.root.path(Path::new("/etc/group"))).unwrap_or_default();
    text.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(gid))
        .map_or_else(|| gid.to_string(), |f| f[0].to_owned())
}

/// mfa-login must be root-owned and setgid to the group that alone can
/// read the config, or it cannot read it (or anyone can).
pub(super) fn mfa_login(setup: &Setup<'_>, login_mode: bool, out: &mut Vec<Finding>) {
    let root = &setup.opts.root;
    let mut programs = setup.login_programs();
    if programs.is_empty() {
        programs = ["/usr/sbin/mfa-login", "/usr/local/sbin/mfa-login"]
            .iter()
            .filter(|p| root.path(Path::new(p)).exists())
            .map(|p| (*p).to_owned())
            .collect();
    }
    let bad = |msg: String, fix: &str| {
        if login_mode {
            Finding::fail("mfa-login", msg, fix)
        } else {
            Finding::warn("mfa-login", msg, fix)
        }
    };
    let config_meta = std::fs::metadata(
        root.path(
            setup
                .opts
                .config
                .as_deref()
                .unwrap_or(Path::new(DEFAULT_CONFIG)),
        ),
    )
    .ok();
    for p in programs {
        let Ok(meta) = std::fs::metadata(root.path(Path::new(&p))) else {
            out.push(bad(
                format!("{p} does not exist: every login through it fails"),
                "install the mfa package or fix the ForceCommand path",
            ));
            continue;
        };
        let group = group_name(setup, meta.gid());
        let fix = "dpkg-statoverride --update --add root mfa 2755 /usr/sbin/mfa-login \
                   (or: chown root:mfa FILE; chmod 2755 FILE), and the config root:mfa 0640";
        if meta.uid() != 0 {
            out.push(bad(format!("{p} is not owned by root"), fix));
        } else if meta.mode() & 0o2000 == 0 {
            out.push(bad(
                format!("{p} is not setgid: it runs as the user and cannot read a config only its group may read"),
                fix,
            ));
        } else if let Some(cm) = config_meta
            .as_ref()
            .filter(|cm| cm.gid() != meta.gid() || cm.mode() & 0o040 == 0)
        {
            out.push(bad(
                format!(
                    "{p} is setgid {group}, but the config is group {} mode {:04o}: mfa-login cannot read it",
                    group_name(setup, cm.gid()),
                    cm.mode() & 0o7777
                ),
                fix,
            ));
        } else {
            out.push(Finding::ok(
                "mfa-login",
                format!("{p}: root-owned, setgid {group}"),
            ));
        }
    }
    if login_mode {
        config_dir(setup, out);
    }
}

fn config_dir(setup: &Setup<'_>, out: &mut Vec<Finding>) {
    let Ok(meta) = std::fs::metadata(setup.opts.root.path(Path::new("/etc/mfa"))) else {
        return;
    };
    if meta.mode() & 0o2000 == 0 {
        out.push(Finding::warn(
            "config-dir",
            "/etc/mfa is not setgid: a users file replaced by `mfa user add` gets group root, \
             and mfa-login can no longer read it",
            "chgrp mfa /etc/mfa; chmod 2750 /etc/mfa",
        ));
    } else if meta.mode() & 0o007 != 0 {
        out.push(Finding::warn(
            "config-dir",
            "/etc/mfa is open to every user",
            "chmod 2750 /etc/mfa",
        ));
    }
}
