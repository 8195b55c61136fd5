//! The TLS listener's certificate: loaded from PEM files, handed to every handshake through a
//! resolver, and swapped whole when the files change or on SIGHUP, so connections in flight keep
//! the certificate they started with and new ones get the new one. A certificate that does not
//! load at a reload keeps the previous one serving.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use pingora::tls::sign::CertifiedKey;
use pingora::tls::{ClientHello, CryptoProvider, ResolvesServerCert};

/// The certificate and key the TLS listeners present.
pub struct CertStore {
    cert: PathBuf,
    key: PathBuf,
    current: ArcSwap<CertifiedKey>,
    /// The files' modification times when last loaded, to notice a change.
    loaded: Mutex<Option<(std::time::SystemTime, std::time::SystemTime)>>,
}

impl std::fmt::Debug for CertStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertStore")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish()
    }
}

fn mtime(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Reads a certificate chain and its private key; the error names the file and what is wrong.
fn load(cert: &Path, key: &Path) -> Result<CertifiedKey, String> {
    for path in [cert, key] {
        std::fs::metadata(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    }
    let (certs, private_key) =
        pingora::tls::load_certs_and_key_files(&cert.to_string_lossy(), &key.to_string_lossy())
            .map_err(|e| format!("{} / {}: {e}", cert.display(), key.display()))?
            .ok_or_else(|| {
                format!(
                    "{} holds no PEM certificate, or {} no PEM private key",
                    cert.display(),
                    key.display()
                )
            })?;
    pingora::tls::install_default_crypto_provider();
    let provider = CryptoProvider::get_default().ok_or("no TLS crypto provider is installed")?;
    let signing_key = provider
        .key_provider
        .load_private_key(private_key)
        .map_err(|e| format!("{}: not a usable private key: {e}", key.display()))?;
    let certified = CertifiedKey::new(certs, signing_key);
    certified
        .keys_match()
        .map_err(|e| format!("{} does not match {}: {e}", key.display(), cert.display()))?;
    Ok(certified)
}

impl CertStore {
    /// Loads the files now: a failure is a startup error naming the file.
    pub fn open(cert: &Path, key: &Path) -> Result<Arc<CertStore>, String> {
        let certified = load(cert, key)?;
        Ok(Arc::new(CertStore {
            cert: cert.to_owned(),
            key: key.to_owned(),
            current: ArcSwap::from_pointee(certified),
            loaded: Mutex::new(mtime(cert).zip(mtime(key))),
        }))
    }

    /// Loads the files again when `force` or when they changed since the last load. `Ok(true)`:
    /// new connections get the new certificate; `Err`: the previous one keeps serving.
    pub fn reload(&self, force: bool) -> Result<bool, String> {
        let stamp = mtime(&self.cert).zip(mtime(&self.key));
        let mut loaded = self.loaded.lock().unwrap();
        if !force && stamp == *loaded {
            return Ok(false);
        }
        // Remember the attempt either way, so a broken pair is reported once, not every tick.
        *loaded = stamp;
        let certified = load(&self.cert, &self.key)?;
        self.current.store(Arc::new(certified));
        Ok(true)
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}
