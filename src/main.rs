fn main() {
    println!("retryctl {}", env!("CARGO_PKG_VERSION"));
}
