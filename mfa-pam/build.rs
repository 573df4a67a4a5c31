//! Link flags for the PAM module.

fn main() {
    // A PAM module must never be unloaded while anything of it may still
    // run: Rust's thread-local destructors and tokio's leftovers would then
    // jump into unmapped code inside sshd. `-z nodelete` makes dlclose()
    // keep the library mapped.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    println!("cargo:rerun-if-changed=build.rs");
}
