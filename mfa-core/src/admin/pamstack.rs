//! PAM service files: parsed as Linux-PAM reads them, the `auth` stack
//! flattened through its includes, and evaluated the way libpam's
//! dispatcher does, so we can say what a stack does when the password is
//! wrong or the code is wrong — before anyone logs out.

use std::path::{Path, PathBuf};

use super::Root;

/// Directory of the PAM service files (logical path).
pub const PAM_DIR: &str = "/etc/pam.d";

/// One rule line (`TYPE CONTROL MODULE ARGS...`), or an include.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// `auth`, `account`, `password`, `session` (leading `-` stripped).
    pub ty: String,
    pub control: Control,
    /// Module path as written (`pam_unix.so`, `/abs/pam_mfa.so`), or the
    /// included file for `include`/`substack`.
    pub module: String,
    pub args: Vec<String>,
    /// File and 1-based line, for messages.
    pub file: PathBuf,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    Include,
    Substack,
    /// `required`, `requisite`, ... or `[value=action ...]`, as a table.
    Actions(Vec<(String, Action)>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Ignore,
    Bad,
    Die,
    Ok,
    Done,
    Reset,
    Jump(usize),
}

impl Rule {
    /// Whether this rule loads pam_mfa (by bare name or by path).
    pub fn is_mfa(&self) -> bool {
        module_name(&self.module) == "pam_mfa.so"
    }

    /// `file:line`, for messages.
    pub fn at(&self) -> String {
        format!("{}:{}", self.file.display(), self.line)
    }

    /// The action for a module result: its own entry, else `default`.
    fn action(&self, ret: Ret) -> Action {
        let Control::Actions(table) = &self.control else {
            // A substack's result counts like a `required` module's.
            return match ret {
                Ret::Success => Action::Ok,
                Ret::Ignore => Action::Ignore,
                Ret::AuthErr => Action::Bad,
            };
        };
        let find = |k: &str| table.iter().find(|(v, _)| v == k).map(|(_, a)| *a);
        find(ret.name())
            .or_else(|| find("default"))
            .unwrap_or(Action::Bad)
    }
}

/// The file name of a module path (`/lib/.../pam_mfa.so` -> `pam_mfa.so`).
pub fn module_name(module: &str) -> &str {
    module.rsplit('/').next().unwrap_or(module)
}

/// A parsed line of a service file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// Blank, comment, or something we keep verbatim.
    Other,
    /// Debian's `@include FILE` (all four types).
    AtInclude(String),
    Rule(Rule),
}

/// Parse a service file. Linux-PAM drops everything after `#`, joins
/// lines ending in `\`, and splits on blanks except inside `[...]`.
/// Lines it cannot read are kept as `Other` (libpam logs and skips them).
pub fn parse(file: &Path, text: &str) -> Vec<Line> {
    let mut out = Vec::new();
    let mut pending = String::new();
    let mut start = 0;
    for (i, raw) in text.lines().enumerate() {
        if pending.is_empty() {
            start = i + 1;
        }
        let no_comment = raw.split('#').next().unwrap_or("");
        if let Some(cont) = no_comment.strip_suffix('\\') {
            pending.push_str(cont);
            pending.push(' ');
            out.push(Line::Other);
            continue;
        }
        pending.push_str(no_comment);
        let line = std::mem::take(&mut pending);
        out.push(parse_line(file, start, &line));
    }
    out
}

fn parse_line(file: &Path, line: usize, text: &str) -> Line {
    let words = split_words(text);
    let Some(first) = words.first() else {
        return Line::Other;
    };
    if first == "@include" {
        return words
            .get(1)
            .map_or(Line::Other, |f| Line::AtInclude(f.clone()));
    }
    if words.len() < 3 {
        return Line::Other;
    }
    let ty = first.trim_start_matches('-').to_ascii_lowercase();
    let control = match words[1].to_ascii_lowercase().as_str() {
        "include" => Control::Include,
        "substack" => Control::Substack,
        "required" => Control::Actions(table(
            "success=ok new_authtok_reqd=ok ignore=ignore default=bad",
        )),
        "requisite" => Control::Actions(table(
            "success=ok new_authtok_reqd=ok ignore=ignore default=die",
        )),
        "sufficient" => {
            Control::Actions(table("success=done new_authtok_reqd=done default=ignore"))
        }
        "optional" => Control::Actions(table("success=ok new_authtok_reqd=ok default=ignore")),
        w if w.starts_with('[') => Control::Actions(table(w.trim_matches(['[', ']']))),
        _ => return Line::Other,
    };
    Line::Rule(Rule {
        ty,
        control,
        module: words[2].clone(),
        args: words[3..].to_vec(),
        file: file.to_owned(),
        line,
    })
}

fn table(spec: &str) -> Vec<(String, Action)> {
    spec.split_whitespace()
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            let action = match v {
                "ignore" => Action::Ignore,
                "bad" => Action::Bad,
                "die" => Action::Die,
                "ok" => Action::Ok,
                "done" => Action::Done,
                "reset" => Action::Reset,
                // pam-auth-update's placeholder, resolved when it writes
                // common-*; unresolved it is an error to libpam.
                n => Action::Jump(n.parse().ok()?),
            };
            Some((k.to_ascii_lowercase(), action))
        })
        .collect()
}

/// Split on blanks, keeping `[...]` (control or argument) as one word.
fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '[' => {
                depth += 1;
                cur.push(c);
            }
            ']' if depth > 0 => {
                depth -= 1;
                cur.push(c);
            }
            c if c.is_whitespace() && depth == 0 => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// One step of a flattened `auth` stack.
#[derive(Debug, Clone)]
pub enum Step {
    Module(Rule),
    /// A substack: evaluated on its own, its result judged by `rule`.
    Substack(Rule, Vec<Step>),
}

/// The `auth` stack of `service` with includes expanded (files read under
/// `root`). A missing included file is an error: libpam fails the stack.
pub fn auth_stack(root: &Root, service: &str) -> Result<Vec<Step>, String> {
    auth_stack_with(root, service, &[])
}

/// The same, with some files' content replaced (logical path, text): the
/// stack as it would be after a change.
pub fn auth_stack_with(
    root: &Root,
    service: &str,
    overlay: &[(PathBuf, String)],
) -> Result<Vec<Step>, String> {
    flatten(&Files { root, overlay }, service, 0)
}

struct Files<'a> {
    root: &'a Root,
    overlay: &'a [(PathBuf, String)],
}

impl Files<'_> {
    fn read(&self, logical: &Path) -> Result<String, String> {
        if let Some((_, text)) = self.overlay.iter().find(|(p, _)| p == logical) {
            return Ok(text.clone());
        }
        std::fs::read_to_string(self.root.path(logical))
            .map_err(|e| format!("{}: cannot read: {e}", logical.display()))
    }
}

fn flatten(root: &Files<'_>, name: &str, depth: usize) -> Result<Vec<Step>, String> {
    if depth > 8 {
        return Err(format!("{PAM_DIR}/{name}: includes nested too deeply"));
    }
    let logical = service_path(name);
    let text = root.read(&logical)?;
    let mut steps = Vec::new();
    for line in parse(&logical, &text) {
        match line {
            Line::AtInclude(f) => steps.extend(flatten(root, &f, depth + 1)?),
            Line::Rule(r) if r.ty == "auth" => match r.control {
                Control::Include => steps.extend(flatten(root, &r.module, depth + 1)?),
                Control::Substack => {
                    let sub = flatten(root, &r.module, depth + 1)?;
                    steps.push(Step::Substack(r, sub));
                }
                Control::Actions(_) => steps.push(Step::Module(r)),
            },
            _ => {}
        }
    }
    Ok(steps)
}

/// Where PAM looks for a module named without a path, most specific first.
pub fn module_dirs() -> Vec<String> {
    let multiarch = format!("{}-linux-gnu", std::env::consts::ARCH);
    vec![
        format!("/usr/lib/{multiarch}/security"),
        format!("/lib/{multiarch}/security"),
        "/usr/lib64/security".into(),
        "/lib64/security".into(),
        "/usr/lib/security".into(),
        "/lib/security".into(),
    ]
}

/// The file a module line loads, under the root, if it exists.
pub fn find_module(root: &Root, module: &str) -> Option<PathBuf> {
    if module.starts_with('/') {
        let p = root.path(Path::new(module));
        return p.is_file().then_some(p);
    }
    module_dirs()
        .iter()
        .map(|d| root.path(&Path::new(d).join(module)))
        .find(|p| p.is_file())
}

/// `/etc/pam.d/NAME`, or NAME itself when absolute.
pub fn service_path(name: &str) -> PathBuf {
    if name.starts_with('/') {
        PathBuf::from(name)
    } else {
        Path::new(PAM_DIR).join(name)
    }
}

/// A module's result in a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    Success,
    AuthErr,
    Ignore,
}

impl Ret {
    fn name(self) -> &'static str {
        match self {
            Ret::Success => "success",
            Ret::AuthErr => "auth_err",
            Ret::Ignore => "ignore",
        }
    }
}

/// What kind of module a rule loads, for the scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Mfa,
    /// pam_permit: always succeeds.
    Permit,
    /// pam_deny: always fails.
    Deny,
    /// Modules that take no part in the decision (environment, delays).
    Neutral,
    /// Anything else: a first factor (password, directory) or a condition.
    FirstFactor,
}

pub fn role(rule: &Rule) -> Role {
    match module_name(&rule.module) {
        "pam_mfa.so" => Role::Mfa,
        "pam_permit.so" => Role::Permit,
        "pam_deny.so" => Role::Deny,
        "pam_env.so" | "pam_faildelay.so" | "pam_cap.so" | "pam_group.so" | "pam_echo.so"
        | "pam_warn.so" | "pam_keyinit.so" | "pam_loginuid.so" | "pam_systemd.so"
        | "pam_mail.so" | "pam_motd.so" | "pam_limits.so" | "pam_umask.so" => Role::Neutral,
        _ => Role::FirstFactor,
    }
}

/// The outcome of one evaluation.
#[derive(Debug, Clone, Default)]
pub struct Eval {
    pub success: bool,
    pub reached_mfa: bool,
    /// The rule that ended the stack or jumped over pam_mfa, if any.
    pub cut_by: Option<Rule>,
}

/// Evaluate `steps` as libpam's dispatcher does, with each module's result
/// given by `outcome`.
pub fn evaluate(steps: &[Step], outcome: &dyn Fn(&Rule) -> Ret) -> Eval {
    let mut eval = Eval::default();
    let (impression, status) = run(steps, outcome, &mut eval);
    eval.success = impression == Some(true) && status == Ret::Success;
    eval
}

/// Returns (impression: None = undecided, Some(true) positive, Some(false)
/// negative; status).
fn run(steps: &[Step], outcome: &dyn Fn(&Rule) -> Ret, eval: &mut Eval) -> (Option<bool>, Ret) {
    let mut impression: Option<bool> = None;
    let mut status = Ret::AuthErr;
    let mut i = 0;
    while i < steps.len() {
        let (rule, ret) = match &steps[i] {
            Step::Module(r) => {
                if r.is_mfa() {
                    eval.reached_mfa = true;
                }
                (r, outcome(r))
            }
            Step::Substack(r, sub) => {
                let (imp, st) = run(sub, outcome, eval);
                let ret = match imp {
                    None => Ret::Ignore,
                    Some(_) => st,
                };
                (r, ret)
            }
        };
        match rule.action(ret) {
            Action::Ignore => {}
            Action::Reset => {
                impression = None;
                status = Ret::AuthErr;
            }
            Action::Ok | Action::Done => {
                let positive_ok =
                    impression.is_none() || (impression == Some(true) && status == Ret::Success);
                if positive_ok && ret != Ret::Ignore {
                    impression = Some(true);
                    status = ret;
                }
                if impression != Some(false) && rule.action(ret) == Action::Done {
                    eval.cut_by.get_or_insert_with(|| rule.clone());
                    return (impression, status);
                }
            }
            Action::Bad | Action::Die => {
                if impression != Some(false) {
                    impression = Some(false);
                    status = ret;
                }
                if rule.action(ret) == Action::Die {
                    eval.cut_by.get_or_insert_with(|| rule.clone());
                    return (impression, status);
                }
            }
            Action::Jump(n) => {
                let skipped = &steps[(i + 1).min(steps.len())..(i + 1 + n).min(steps.len())];
                if skipped.iter().any(contains_mfa) {
                    eval.cut_by.get_or_insert_with(|| rule.clone());
                }
                i += n;
            }
        }
        i += 1;
    }
    (impression, status)
}

fn contains_mfa(step: &Step) -> bool {
    match step {
        Step::Module(r) => r.is_mfa(),
        Step::Substack(_, sub) => sub.iter().any(contains_mfa),
    }
}

/// Every pam_mfa rule in the flattened stack.
pub fn mfa_rules(steps: &[Step]) -> Vec<Rule> {
    let mut out = Vec::new();
    for s in steps {
        match s {
            Step::Module(r) if r.is_mfa() => out.push(r.clone()),
            Step::Substack(_, sub) => out.extend(mfa_rules(sub)),
            _ => {}
        }
    }
    out
}

/// Whether a first-factor module runs before the first pam_mfa rule (else
/// the first factor is outside PAM: publickey).
pub fn first_factor_before_mfa(steps: &[Step]) -> bool {
    fn walk(steps: &[Step], seen_first: &mut bool) -> Option<bool> {
        for s in steps {
            match s {
                Step::Module(r) if r.is_mfa() => return Some(*seen_first),
                Step::Module(r) => {
                    if role(r) == Role::FirstFactor {
                        *seen_first = true;
                    }
                }
                Step::Substack(_, sub) => {
                    if let Some(v) = walk(sub, seen_first) {
                        return Some(v);
                    }
                }
            }
        }
        None
    }
    walk(steps, &mut false).unwrap_or(false)
}

/// The module results of a scenario: first factors give `first`, pam_mfa
/// gives `mfa`, pam_permit/pam_deny/neutral modules what they always do.
pub fn scenario(first: Ret, mfa: Ret) -> impl Fn(&Rule) -> Ret {
    move |r: &Rule| match role(r) {
        Role::Mfa => mfa,
        Role::Permit => Ret::Success,
        Role::Deny => Ret::AuthErr,
        Role::Neutral => Ret::Ignore,
        Role::FirstFactor => first,
    }
}

#[cfg(test)]
#[path = "pamstack_tests.rs"]
mod tests;
