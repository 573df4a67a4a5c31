//! Link flags for the PAM modules: pam_mfa.so, pam_mfa_net.so (whose
//! manifest points here too) and the test fixture `examples/panic_module.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    // A PAM module must never be unloaded while anything of it may still
    // run: Rust's thread-local destructors and tokio's leftovers would then
    // jump into unmapped code inside sshd. `-z nodelete` makes dlclose()
    // keep the library mapped. For every target of the package, not only
    // the cdylib, so that the fixture is linked like the module (on the
    // test executables the flag has no effect).
    println!("cargo:rustc-link-arg=-Wl,-z,nodelete");
    static_unwinder();
    // No `rerun-if-changed=build.rs`: mfa-pam-net uses this file as
    // `../build.rs`, where that relative path names a file that does not
    // exist, so cargo rebuilt pam_mfa_net.so on every invocation (minutes
    // of every release build). Cargo rebuilds and reruns a build script
    // whose source changed anyway; its output depends only on the linker.
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
}

/// Links the unwinder into the module instead of loading `libgcc_s.so.1`.
///
/// sshd runs every connection in a new process, and loading libgcc_s there
/// (open, map, relocate) costs ~0.1 ms per login (benches/, docs/pam.md),
/// for code that runs only when something panics. Rust's std asks for the
/// unwinder as `-lgcc_s`; a linker script of that name in OUT_DIR, searched
/// before the system directories, hands the linker GCC's static
/// `libgcc_eh.a` instead. Its symbols stay local to the module (rustc's
/// version script exports only the PAM entry points), and it finds unwind
/// tables through `dl_iterate_phdr` as libgcc_s does, so a panic is still
/// caught by the entry point: `tests/unwind.rs` proves it through libpam.
/// Without a `libgcc_eh.a` the module links libgcc_s as before (slower to
/// load, as correct), and that test fails, so CI notices.
fn static_unwinder() {
    let gnu_linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    if !gnu_linux {
        return;
    }
    let cc = std::env::var("RUSTC_LINKER").unwrap_or_else(|_| "cc".into());
    let eh = Command::new(&cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| PathBuf::from(s.trim()))
        // The driver echoes the bare name back when it has no such file.
        .filter(|p| p.is_absolute() && p.is_file());
    let Some(eh) = eh else {
        println!("cargo:warning=no libgcc_eh.a from `{cc}`: the PAM modules link libgcc_s.so.1");
        return;
    };
    let Some(out) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        return;
    };
    if let Err(e) = write_script(&out, &eh) {
        println!(
            "cargo:warning=cannot write {}: {e}; the PAM modules link libgcc_s.so.1",
            out.display()
        );
        return;
    }
    println!("cargo:rustc-link-search=native={}", out.display());
}

/// `OUT_DIR/libgcc_s.so`: a linker script standing for libgcc_s (GNU ld
/// reads a text file found for `-lNAME` as a script).
fn write_script(out: &Path, eh: &Path) -> std::io::Result<()> {
    std::fs::write(
        out.join("libgcc_s.so"),
        format!("INPUT({})\n", eh.display()),
    )
}
