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
    hot_code_first();
    fewer_written_pages();
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
    let cc = linker_driver();
    let Some(eh) = library_file(&cc, "libgcc_eh.a") else {
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

/// Places the functions a cold TOTP login runs at the start of the code,
/// next to each other (`hot-functions.txt`, recorded by
/// `scripts/pam-hot-order`).
///
/// Every first touch of a code page in sshd's fresh per-connection process
/// is a page fault, and the kernel maps at most 64 kB around it. Where the
/// linker puts them by default, the functions of one login are spread over
/// the whole `.text`, so a login faulted in most of it (docs/pam.md, "Hot
/// code first"). rustc emits one `.text.SYMBOL` section per function; a
/// linker script read besides the linker's default layout (`-T` with
/// `INSERT`: rust-lld, rustc's default linker on x86_64 Linux, and GNU ld
/// both take it) puts the listed sections into an output section before
/// `.text`. A listed name
/// the object does not have matches nothing and the link goes on, so a
/// stale list costs speed, never the build. Only for pam_mfa.so (this
/// package): the network object links the same build script.
///
/// `MFA_PAM_HOT_ORDER=off` links without the layout: valgrind, which
/// records the list, names no function outside `.text`.
fn hot_code_first() {
    if std::env::var("CARGO_PKG_NAME").as_deref() != Ok("mfa-pam")
        || std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux")
    {
        return;
    }
    println!("cargo:rerun-if-env-changed=MFA_PAM_HOT_ORDER");
    if std::env::var("MFA_PAM_HOT_ORDER").as_deref() == Ok("off") {
        return;
    }
    let (Some(dir), Some(out)) = (
        std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from),
        std::env::var_os("OUT_DIR").map(PathBuf::from),
    ) else {
        return;
    };
    let list = dir.join("hot-functions.txt");
    println!("cargo:rerun-if-changed={}", list.display());
    let Ok(text) = std::fs::read_to_string(&list) else {
        println!(
            "cargo:warning=no {}: the login's code is not laid out first",
            list.display()
        );
        return;
    };
    let script = out.join("hot-functions.ld");
    if let Err(e) = std::fs::write(&script, hot_script(&text)) {
        println!("cargo:warning=cannot write {}: {e}", script.display());
        return;
    }
    // `-T` with a script that ends in INSERT augments the default script
    // instead of replacing it.
    println!("cargo:rustc-link-arg-cdylib=-Wl,-T,{}", script.display());
}

/// The linker script for a list of symbols, one per line (`#` comments).
/// Only names made of the characters Rust's manglings use are taken, so a
/// damaged list cannot inject linker script syntax. The exact names come
/// first, in the list's order; then the same names with any hash, for the
/// instances a build with other hashes has (ld places each section by the
/// first pattern that matches it).
fn hot_script(list: &str) -> String {
    let names: Vec<&str> = list
        .lines()
        .map(str::trim)
        .filter(|n| {
            !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$' | b'.'))
        })
        .collect();
    // The C runtime's `frame_dummy` runs when the module is loaded, and a
    // login calls libc through the PLT's stubs: where the linker puts them
    // (the start of `.text`, and after it) each cost a fault of its own.
    let mut s = String::from(
        "SECTIONS\n{\n  .text.mfa_login :\n  {\n    *crtbeginS.o(.text)\n    *(.plt)\n",
    );
    let wild = names.iter().filter_map(|n| without_hash(n));
    for name in names.iter().map(|n| n.to_string()).chain(wild) {
        // LLVM names the section of a `#[cold]` function (alloc's grow
        // paths, once_cell's init) `.text.unlikely.SYMBOL`.
        s.push_str(&format!("    *(.text.{name} .text.unlikely.{name})\n"));
    }
    s.push_str("  }\n}\nINSERT BEFORE .text;\n");
    s
}

/// A legacy-mangled name with its hash (`17h` + 16 hex digits + `E`)
/// replaced by a wildcard; `None` for a name without one. The hash covers
/// the crate's metadata, which differs between a build of the workspace
/// and one of mfa-pam alone (cargo unifies features over the packages it
/// builds): the path alone finds the function in both. Instances of one
/// generic function share a path, so all of them move.
fn without_hash(name: &str) -> Option<String> {
    let (path, hash) = name.strip_suffix('E')?.rsplit_once("17h")?;
    (hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| format!("{path}17h*E"))
}

/// Link settings that lower the pages ld.so writes, and so the page faults
/// it takes, each time sshd's fresh per-connection process loads the module
/// (docs/pam.md, "Link settings"):
///
/// - `-z separate-loadable-segments` starts each segment on a page of its
///   own in the file. By default rust-lld lets the writable segments start
///   mid-page, where the data that relocations write (`.data.rel.ro`, the
///   GOT) then straddles one more page than it fills, and `.data` with
///   `.bss` two pages instead of one: ~2 copy-on-write faults per login.
///   GNU ld, which has no such option, ignores it with a warning.
/// - `-z pack-relative-relocs` (RELR): the relative relocations as a 0.5 kB
///   bitmap instead of a 40 kB table, which moved `.rodata` a read fault
///   closer to the headers ld.so reads anyway. The linker then makes the
///   object need glibc's `GLIBC_ABI_DT_RELR` (glibc 2.36), so it is asked
///   for only when the C library being linked against has that version: a
///   module built on an older system stays loadable there.
fn fewer_written_pages() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    println!("cargo:rustc-link-arg-cdylib=-Wl,-z,separate-loadable-segments");
    if libc_has_relr(&linker_driver()) {
        println!("cargo:rustc-link-arg-cdylib=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether the `libc.so.6` the linker driver `cc` links against defines the
/// symbol version `GLIBC_ABI_DT_RELR` (a name in its version table).
fn libc_has_relr(cc: &str) -> bool {
    let needle: &[u8] = b"GLIBC_ABI_DT_RELR\0";
    library_file(cc, "libc.so.6").is_some_and(|libc| {
        std::fs::read(libc).is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
    })
}

/// The C compiler that drives the link (rustc's default is `cc`).
fn linker_driver() -> String {
    std::env::var("RUSTC_LINKER").unwrap_or_else(|_| "cc".into())
}

/// The file the linker driver `cc` would link for library file `name`.
fn library_file(cc: &str, name: &str) -> Option<PathBuf> {
    Command::new(cc)
        .arg(format!("-print-file-name={name}"))
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| PathBuf::from(s.trim()))
        // The driver echoes the bare name back when it has no such file.
        .filter(|p| p.is_absolute() && p.is_file())
}

/// `OUT_DIR/libgcc_s.so`: a linker script standing for libgcc_s (GNU ld
/// reads a text file found for `-lNAME` as a script).
fn write_script(out: &Path, eh: &Path) -> std::io::Result<()> {
    std::fs::write(
        out.join("libgcc_s.so"),
        format!("INPUT({})\n", eh.display()),
    )
}
