//! The TLS stack: rustls with ring, installed as the process's crypto provider before the first
//! HTTP client is built (reqwest is built without a provider of its own).

use std::sync::Once;

pub fn install() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        // Fails only if a provider is already installed, which is then the one in use.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
