fn main() {
    eprintln!("mfa-login: not built yet (see issue #7)");
    std::process::exit(1)
}
