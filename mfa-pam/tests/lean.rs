//! The lean `pam_mfa.so`: no network code inside, TOTP logins without the
//! network object, and a network plan that fails closed when the network
//! object is missing or untrusted.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;

/// Source paths the compiler embeds (panic locations) for a crate's code:
/// they survive stripping, so they show what was linked.
fn crates_linked(object: &Path) -> Vec<&'static str> {
    let bytes = std::fs::read(object).unwrap();
    let has = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    let mut found = Vec::new();
    for krate in [
        "/reqwest-",
        "/hyper-",
        "/rustls-",
        "/ring-",
        "/h2-",
        "/tokio-rustls-",
        // The fleet state backend: never in the lean object, even though
        // a host with database state is decided there (it hands over).
        "/tokio-postgres-",
        "/postgres-protocol-",
        "/chacha20poly1305-",
    ] {
        if has(krate) {
            found.push(krate);
        }
    }
    // tokio's task-local (the audit notes) is plain data; its runtime,
    // timers and I/O are not.
    let tokio = b"/tokio-1.";
    let runtime = bytes.windows(tokio.len()).enumerate().any(|(i, w)| {
        let after = &bytes[i..(i + 48).min(bytes.len())];
        w == tokio
            && ["src/runtime", "src/time", "src/net", "src/io"]
                .iter()
                .any(|m| after.windows(m.len()).any(|x| x == m.as_bytes()))
    });
    if runtime {
        found.push("tokio runtime");
    }
    found
}

#[test]
fn the_lean_module_links_no_network_code() {
    let lean = module();
    let net = release_artefact("libpam_mfa_net.so");
    assert!(
        crates_linked(&net).len() >= 4,
        "the check finds the network crates where they are: {:?}",
        crates_linked(&net)
    );
    assert_eq!(
        crates_linked(&lean),
        Vec::<&str>::new(),
        "{}",
        lean.display()
    );
}

fn copy(from: &Path, to: &Path, mode: u32) {
    std::fs::copy(from, to).unwrap();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn totp_needs_no_network_object_and_a_network_plan_fails_closed_without_one() {
    let Some((user, svc)) = setup("mfalean") else {
        return;
    };
    // pam_mfa.so alone in a directory of its own.
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let lean = dir.path().join("pam_mfa.so");
    copy(&module(), &lean, 0o644);
    let line = |args: &str| format!("required {} {args}", lean.display());

    svc.add("totp", &[line("")]);
    let r = svc.pamtester("totp", &user.name, &["authenticate"], &code(SECRET));
    assert!(r.ok, "TOTP without pam_mfa_net.so: {}", r.out);

    // A config that gives this user the webhook factor: the lean object
    // hands the login over, finds no network object, and fails closed
    // without asking anything.
    let cfg = dir.path().join("mfa.toml");
    std::fs::write(
        &cfg,
        "[policy]\nfactors = [\"webhook\"]\n[webhook]\nurl = \"http://127.0.0.1:9/hook\"\npreset = \"generic\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).unwrap();
    let webhook = line(&format!("config={}", cfg.display()));
    svc.add("webhook", &[webhook]);
    let r = svc.pamtester("webhook", &user.name, &["authenticate"], "123456\n");
    assert!(!r.ok, "{}", r.out);
    assert_eq!(r.prompts("code"), 0, "nothing asked: {}", r.out);

    // A network object anyone may write is refused the same way.
    let net = dir.path().join("pam_mfa_net.so");
    copy(&release_artefact("libpam_mfa_net.so"), &net, 0o666);
    let r = svc.pamtester("webhook", &user.name, &["authenticate"], "123456\n");
    assert!(!r.ok, "{}", r.out);
    assert_eq!(r.prompts("code"), 0, "nothing asked: {}", r.out);

    // A trusted one runs the login (the webhook is unreachable here, so
    // the person is told and denied, after being handed over).
    std::fs::set_permissions(&net, std::fs::Permissions::from_mode(0o644)).unwrap();
    let r = svc.pamtester("webhook", &user.name, &["authenticate"], "123456\n");
    assert!(!r.ok, "{}", r.out);
    assert!(
        r.out.contains("could not") || r.out.contains("unavailable") || r.out.contains("reach"),
        "the network object ran and reported the dead webhook: {}",
        r.out
    );
}

/// What `readelf FLAG SO` prints.
fn readelf(flag: &str, so: &Path) -> String {
    let o = std::process::Command::new("readelf")
        .arg(flag)
        .arg(so)
        .output()
        .unwrap();
    assert!(o.status.success(), "readelf {flag} {}", so.display());
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `readelf -SW`: (address, size) of section `name`.
fn section(so: &Path, name: &str) -> Option<(u64, u64)> {
    readelf("-SW", so).lines().find_map(|l| {
        // "  [15] .text.mfa_login PROGBITS 0000000000068350 067350 05a453 ..."
        let f: Vec<&str> = l.split_whitespace().collect();
        let at = f.iter().position(|w| *w == name)?;
        let hex = |i: usize| u64::from_str_radix(f.get(i)?, 16).ok();
        Some((hex(at + 2)?, hex(at + 4)?))
    })
}

/// A legacy-mangled symbol without its hash (`17h` + 16 hex digits + `E`),
/// as build.rs matches the list: the hash differs between builds of the
/// workspace and of mfa-pam alone.
fn path_of(symbol: &str) -> &str {
    symbol
        .strip_suffix('E')
        .and_then(|n| n.rsplit_once("17h"))
        .filter(|(_, h)| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .map_or(symbol, |(path, _)| path)
}

#[test]
fn the_code_a_login_runs_is_laid_out_together() {
    if !require(which("readelf") && which("nm"), "readelf, nm (binutils)") {
        return;
    }
    let so = module();
    let (start, size) = section(&so, ".text.mfa_login")
        .expect("build.rs links the functions of hot-functions.txt into .text.mfa_login");
    let o = std::process::Command::new("nm").arg(&so).output().unwrap();
    let nm = String::from_utf8_lossy(&o.stdout);
    // Every code symbol: (name, address).
    let symbols: Vec<(&str, u64)> = nm
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let addr = u64::from_str_radix(f.next()?, 16).ok()?;
            matches!(f.next()?, "t" | "T").then_some(())?;
            Some((f.next()?, addr))
        })
        .collect();
    let list =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("hot-functions.txt"))
            .unwrap();
    let listed: std::collections::HashSet<&str> = list
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(path_of)
        .collect();
    // Every instance of a listed function is moved (a section name the
    // script misses, such as `.text.unlikely.` for #[cold] functions,
    // shows here), and the entry points are among them.
    let moved: Vec<(&str, u64)> = symbols
        .iter()
        .copied()
        .filter(|(name, _)| listed.contains(path_of(name)))
        .collect();
    let outside: Vec<&str> = moved
        .iter()
        .filter(|(_, addr)| !(start..start + size).contains(addr))
        .map(|(name, _)| *name)
        .collect();
    assert!(outside.is_empty(), "listed but not moved: {outside:?}");
    // The C runtime's load-time code and the PLT come first too.
    let frame_dummy = symbols.iter().find(|(n, _)| *n == "frame_dummy");
    assert!(
        frame_dummy.is_some_and(|(_, a)| (start..start + size).contains(a)),
        "frame_dummy {frame_dummy:?} is outside .text.mfa_login"
    );
    assert_eq!(
        section(&so, ".plt"),
        None,
        "the PLT has a section of its own"
    );
    for entry in ["pam_sm_authenticate", "pam_sm_setcred"] {
        assert!(listed.contains(entry), "{entry} is not listed");
        assert!(moved.iter().any(|(n, _)| *n == entry), "{entry} not moved");
    }
    // Names change with the code (a function renamed, inlined, or its
    // crate's mangling): a list that has gone this stale no longer lays
    // out a login, and `scripts/pam-hot-order` must record it again.
    let found: std::collections::HashSet<&str> = moved.iter().map(|(n, _)| path_of(n)).collect();
    assert!(
        found.len() * 4 >= listed.len() * 3,
        "only {} of {} listed functions exist: run scripts/pam-hot-order",
        found.len(),
        listed.len()
    );
}

/// `readelf -lW`: (file offset, type) of every program header.
fn segments(so: &Path) -> Vec<(String, u64)> {
    readelf("-lW", so)
        .lines()
        .filter_map(|l| {
            // "  LOAD  0x1a3000 0x00000000001a3000 ..."
            let mut f = l.split_whitespace();
            let kind = f.next()?.to_owned();
            let offset = u64::from_str_radix(f.next()?.strip_prefix("0x")?, 16).ok()?;
            Some((kind, offset))
        })
        .collect()
}

#[test]
fn the_loader_writes_as_few_pages_of_the_module_as_the_link_allows() {
    if !require(which("readelf") && which("cc"), "readelf (binutils), cc") {
        return;
    }
    let so = module();
    // `-z separate-loadable-segments`: each segment from a page boundary,
    // so the data relocations write fills no page more than it needs.
    let loads: Vec<u64> = segments(&so)
        .into_iter()
        .filter(|(kind, _)| kind == "LOAD")
        .map(|(_, offset)| offset)
        .collect();
    assert!(loads.len() >= 3, "LOAD segments: {loads:x?}");
    assert!(
        loads.iter().all(|o| o % 4096 == 0),
        "a LOAD segment starts mid-page: {loads:x?}"
    );
    // RELR where the C library it was linked against loads it (glibc
    // 2.36+ defines GLIBC_ABI_DT_RELR), the full table elsewhere.
    let libc = std::process::Command::new("cc")
        .arg("-print-file-name=libc.so.6")
        .output()
        .unwrap();
    let libc = String::from_utf8_lossy(&libc.stdout).trim().to_owned();
    let needle = b"GLIBC_ABI_DT_RELR\0";
    let relr_libc =
        std::fs::read(&libc).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle));
    assert_eq!(
        section(&so, ".relr.dyn").is_some(),
        relr_libc,
        "packed relative relocations exactly when {libc} supports them"
    );
}
