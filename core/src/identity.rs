//! The node's identity: an ECDSA P-256 key and a self-signed certificate, made once and kept in
//! the config directory; the fingerprint is the SHA-256 of the certificate DER.

use crate::error::{Error, ErrorKind, Result};
use crate::fsutil::ensure_private_dir;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

const CERT_FILE: &str = "cert.pem";
const KEY_FILE: &str = "key.pem";
/// How to go on from an identity that cannot be used.
const RESET_HINT: &str = "; make a new identity with `ferry identity --reset` (devices that trusted this one must trust the new one)";
/// Held (flock) while the identity is read or made, so that processes starting at once agree.
const LOCK_FILE: &str = ".identity.lock";

/// SHA-256 of a certificate's DER, as 64 uppercase hex characters.
pub fn fingerprint_of(cert_der: &[u8]) -> String {
    hex::encode_upper(Sha256::digest(cert_der))
}

/// A fingerprint (or a prefix of one) as typed, in the form Ferry keys them: spaces and colons
/// removed (every way Ferry prints one), uppercased.
pub fn fingerprint_key(input: &str) -> String {
    input.chars().filter(|c| !c.is_whitespace() && *c != ':').collect::<String>().to_ascii_uppercase()
}

/// Normalises a user-typed fingerprint ([`fingerprint_key`]) and checks it is 64 hex characters.
pub fn normalize_fingerprint(input: &str) -> Result<String> {
    let fp = fingerprint_key(input);
    if fp.len() != 64 || !fp.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Error::invalid(format!("not a fingerprint (64 hex characters expected): {input}")));
    }
    Ok(fp)
}

/// Case-insensitive fingerprint comparison.
pub fn same_fingerprint(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// The short fingerprint, the one form shown wherever a person compares devices: the first 16
/// characters, uppercase, grouped for reading aloud: `AB12 CD34 EF56 7890`.
pub fn short_fingerprint(fp: &str) -> String {
    let head: Vec<char> = fp.chars().take(16).map(|c| c.to_ascii_uppercase()).collect();
    head.chunks(4).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join(" ")
}

/// The code two users compare to check that they see each other's real identity: both
/// fingerprints (uppercase) sorted, concatenated, SHA-256. The first 128 bits are what
/// LocalSend shows (as 16 icons); `digits` shows the first 64 of them as four groups of four
/// decimal digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationCode {
    pub bytes: [u8; 16],
    pub digits: String,
}

pub fn verification_code(a: &str, b: &str) -> VerificationCode {
    let mut fps = [a.trim().to_ascii_uppercase(), b.trim().to_ascii_uppercase()];
    fps.sort();
    let digest = Sha256::digest(format!("{}{}", fps[0], fps[1]).as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    let n = u64::from_be_bytes(bytes[..8].try_into().expect("8 bytes")) % 10_000_000_000_000_000;
    let d = format!("{n:016}");
    let digits = [&d[0..4], &d[4..8], &d[8..12], &d[12..16]].join(" ");
    VerificationCode { bytes, digits }
}

pub struct Identity {
    cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
    fingerprint: String,
}

impl Clone for Identity {
    fn clone(&self) -> Self {
        Identity { cert: self.cert.clone(), key: self.key.clone_key(), fingerprint: self.fingerprint.clone() }
    }
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity").field("fingerprint", &self.fingerprint).finish_non_exhaustive()
    }
}

impl Identity {
    /// Makes a fresh identity in memory.
    pub fn generate() -> Result<Identity> {
        Self::generate_with_pem().map(|(id, _, _)| id)
    }

    /// Makes a fresh identity, also returning the certificate and key as PEM.
    fn generate_with_pem() -> Result<(Identity, String, String)> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| Error::new(ErrorKind::Internal, format!("key generation failed: {e}")))?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))?;
        params.distinguished_name.push(rcgen::DnType::CommonName, "Ferry User");
        params.distinguished_name.push(rcgen::DnType::OrganizationName, "Ferry");
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(365 * 10);
        let mut serial = [0u8; 16];
        rand::fill(&mut serial[..]);
        serial[0] &= 0x7f;
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
        let cert = params.self_signed(&key).map_err(|e| Error::new(ErrorKind::Internal, format!("certificate generation failed: {e}")))?;
        let cert_der = CertificateDer::from(cert.der().to_vec());
        let key_der = PrivatePkcs8KeyDer::from(key.serialize_der());
        Ok((Identity::from_parts(cert_der, key_der), cert.pem(), key.serialize_pem()))
    }

    fn from_parts(cert: CertificateDer<'static>, key: PrivatePkcs8KeyDer<'static>) -> Identity {
        let fingerprint = fingerprint_of(&cert);
        Identity { cert, key, fingerprint }
    }

    /// Loads the identity from `dir`, making and storing a new one on first use. Several
    /// processes starting at once on a fresh folder make one identity between them: creation
    /// happens under a lock on a file in `dir`, and whoever takes the lock second finds the
    /// first one's identity and uses it. A key and certificate that do not belong together are
    /// an error that says how to go on (nothing is overwritten without being asked).
    pub fn load_or_create(dir: &Path) -> Result<Identity> {
        ensure_private_dir(dir)?;
        let _lock = match DirLock::exclusive(dir) {
            Ok(l) => l,
            // A folder we may not write to (read-only configuration): its identity as it is.
            Err(e) => return Self::load_unlocked(dir)?.ok_or(e),
        };
        match Self::load_unlocked(dir)? {
            Some(id) => Ok(id),
            None => Self::create_unlocked(dir),
        }
    }

    /// Loads the identity stored in `dir`, if there is one (`None` when the key or the
    /// certificate is missing). A key that does not belong to the certificate is an error.
    pub fn load(dir: &Path) -> Result<Option<Identity>> {
        if !dir.is_dir() {
            return Ok(None);
        }
        // A folder we may not write to (read-only configuration) is read without the lock.
        let _lock = DirLock::shared(dir).ok();
        Self::load_unlocked(dir)
    }

    fn load_unlocked(dir: &Path) -> Result<Option<Identity>> {
        let (cert_path, key_path) = paths(dir);
        if !cert_path.exists() || !key_path.exists() {
            return Ok(None);
        }
        let cert = CertificateDer::from_pem_file(&cert_path)
            .map_err(|e| Error::new(ErrorKind::Io, format!("cannot read {}: {e}{RESET_HINT}", cert_path.display())))?;
        let key = match PrivateKeyDer::from_pem_file(&key_path)
            .map_err(|e| Error::new(ErrorKind::Io, format!("cannot read {}: {e}{RESET_HINT}", key_path.display())))?
        {
            PrivateKeyDer::Pkcs8(k) => k,
            _ => return Err(Error::invalid(format!("{}: expected a PKCS#8 private key{RESET_HINT}", key_path.display()))),
        };
        check_pair(&cert, &key)
            .map_err(|why| Error::new(ErrorKind::Io, format!("the identity in {} is broken: {why}{RESET_HINT}", dir.display())))?;
        Ok(Some(Identity::from_parts(cert, key)))
    }

    /// Makes a new identity and stores it in `dir`, replacing any old one.
    pub fn reset(dir: &Path) -> Result<Identity> {
        ensure_private_dir(dir)?;
        let _lock = DirLock::exclusive(dir)?;
        Self::create_unlocked(dir)
    }

    /// Writes a fresh key and certificate. The caller holds the lock: both are written to
    /// temporary files and synced before either is renamed into place, so readers see the
    /// old pair or the new one.
    fn create_unlocked(dir: &Path) -> Result<Identity> {
        let (id, cert_pem, key_pem) = Identity::generate_with_pem()?;
        let (cert_path, key_path) = paths(dir);
        let key_tmp = write_temp(dir, KEY_FILE, key_pem.as_bytes())?;
        let cert_tmp = match write_temp(dir, CERT_FILE, cert_pem.as_bytes()) {
            Ok(t) => t,
            Err(e) => {
                let _ = std::fs::remove_file(&key_tmp);
                return Err(e);
            }
        };
        let renamed = std::fs::rename(&key_tmp, &key_path).and_then(|_| std::fs::rename(&cert_tmp, &cert_path));
        if let Err(e) = renamed {
            let _ = std::fs::remove_file(&key_tmp);
            let _ = std::fs::remove_file(&cert_tmp);
            return Err(Error::io(format!("cannot store the identity in {}", dir.display()), e));
        }
        // The renames themselves survive a crash only once the folder is synced.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(id)
    }

    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert
    }
    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.key.clone_key())
    }
}

fn paths(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join(CERT_FILE), dir.join(KEY_FILE))
}

/// Checks that `key` is the private key of `cert` (the check a TLS server makes at start);
/// the error says what is wrong.
fn check_pair(cert: &CertificateDer<'static>, key: &PrivatePkcs8KeyDer<'static>) -> std::result::Result<(), String> {
    let provider = crate::tls::provider();
    let signing = provider
        .key_provider
        .load_private_key(PrivateKeyDer::Pkcs8(key.clone_key()))
        .map_err(|e| format!("{KEY_FILE} cannot be used ({e})"))?;
    match rustls::sign::CertifiedKey::new(vec![cert.clone()], signing).keys_match() {
        Ok(()) => Ok(()),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(format!("{KEY_FILE} and {CERT_FILE} do not belong together (the key is not the certificate's)"))
        }
        Err(e) => Err(format!("{CERT_FILE} cannot be checked against {KEY_FILE} ({e})")),
    }
}

/// Writes `data` to a new temporary file in `dir` (mode 0600, synced) and returns its path.
fn write_temp(dir: &Path, name: &str, data: &[u8]) -> Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut suffix = [0u8; 8];
    rand::fill(&mut suffix[..]);
    let tmp = dir.join(format!(".{name}.{}.{}.tmp", std::process::id(), hex::encode(suffix)));
    let res = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()
    })();
    match res {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(Error::io(format!("cannot write {}", dir.join(name).display()), e))
        }
    }
}

/// An advisory lock (flock) on the identity's lock file, released when dropped (or when the
/// process dies, so a crash never leaves it held).
struct DirLock {
    _file: std::fs::File,
}

impl DirLock {
    fn exclusive(dir: &Path) -> Result<DirLock> {
        Self::take(dir, rustix::fs::FlockOperation::LockExclusive)
    }

    fn shared(dir: &Path) -> Result<DirLock> {
        Self::take(dir, rustix::fs::FlockOperation::LockShared)
    }

    fn take(dir: &Path, how: rustix::fs::FlockOperation) -> Result<DirLock> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = dir.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
        loop {
            match rustix::fs::flock(&file, how) {
                Ok(()) => return Ok(DirLock { _file: file }),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(Error::io(format!("cannot lock {}", path.display()), e.into())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = Identity::load_or_create(dir.path()).unwrap();
        let b = Identity::load_or_create(dir.path()).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint().len(), 64);
        assert!(a.fingerprint().chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(KEY_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "private key must be readable by the owner only");
        let c = Identity::reset(dir.path()).unwrap();
        assert_ne!(a.fingerprint(), c.fingerprint());
        assert_eq!(Identity::load(dir.path()).unwrap().unwrap().fingerprint(), c.fingerprint());
    }

    #[test]
    fn identities_made_at_once_are_one_identity() {
        for _ in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("fresh");
            let fps: Vec<String> = std::thread::scope(|s| {
                let handles: Vec<_> =
                    (0..12).map(|_| s.spawn(|| Identity::load_or_create(&path).unwrap().fingerprint().to_string())).collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            assert!(fps.iter().all(|f| f == &fps[0]), "{fps:?}");
            let loaded = Identity::load(&path).unwrap().unwrap();
            assert_eq!(loaded.fingerprint(), fps[0]);
            crate::tls::server_config(&loaded).expect("the stored key belongs to the stored certificate");
            let left: Vec<_> = std::fs::read_dir(&path)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .filter(|n| n.to_string_lossy().ends_with(".tmp"))
                .collect();
            assert!(left.is_empty(), "temporary files left: {left:?}");
        }
    }

    #[test]
    fn a_key_of_another_certificate_is_reported_with_the_way_out() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let first = Identity::load_or_create(a.path()).unwrap();
        Identity::load_or_create(b.path()).unwrap();
        std::fs::copy(b.path().join(KEY_FILE), a.path().join(KEY_FILE)).unwrap();
        for e in [Identity::load(a.path()).unwrap_err(), Identity::load_or_create(a.path()).unwrap_err()] {
            assert!(e.message.contains("do not belong together") && e.message.contains("ferry identity --reset"), "{e}");
        }
        // Nothing was overwritten: the certificate is still the first one, until a reset.
        let cert = CertificateDer::from_pem_file(a.path().join(CERT_FILE)).unwrap();
        assert_eq!(fingerprint_of(&cert), first.fingerprint());
        let fresh = Identity::reset(a.path()).unwrap();
        assert_eq!(Identity::load_or_create(a.path()).unwrap().fingerprint(), fresh.fingerprint());
    }

    #[test]
    fn an_identity_that_cannot_be_locked_is_still_loaded() {
        // A lock file that cannot be opened stands for a folder we may not write to.
        let dir = tempfile::tempdir().unwrap();
        let id = Identity::load_or_create(dir.path()).unwrap();
        std::fs::remove_file(dir.path().join(LOCK_FILE)).unwrap();
        std::fs::create_dir(dir.path().join(LOCK_FILE)).unwrap();
        assert_eq!(Identity::load_or_create(dir.path()).unwrap().fingerprint(), id.fingerprint());
        assert_eq!(Identity::load(dir.path()).unwrap().unwrap().fingerprint(), id.fingerprint());
        // Nothing to load and no lock: an error, and no identity made without the lock.
        let fresh = tempfile::tempdir().unwrap();
        std::fs::create_dir(fresh.path().join(LOCK_FILE)).unwrap();
        assert!(Identity::load_or_create(fresh.path()).is_err());
        assert!(!fresh.path().join(KEY_FILE).exists());
    }

    #[test]
    fn fingerprint_normalisation() {
        let fp = "ab".repeat(32);
        assert_eq!(normalize_fingerprint(&fp).unwrap(), fp.to_uppercase());
        assert!(normalize_fingerprint("xyz").is_err());
        assert!(same_fingerprint(&fp, &fp.to_uppercase()));
        assert_eq!(short_fingerprint(&fp.to_uppercase()), "ABAB ABAB ABAB ABAB");
        assert_eq!(short_fingerprint(&fp), "ABAB ABAB ABAB ABAB", "one format whatever the case");
        // Every form Ferry prints is accepted back: grouped, with colons, any case.
        let grouped = fp.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join(" ");
        let colons = fp.as_bytes().chunks(2).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join(":");
        assert_eq!(normalize_fingerprint(&grouped).unwrap(), fp.to_uppercase());
        assert_eq!(normalize_fingerprint(&colons.to_uppercase()).unwrap(), fp.to_uppercase());
        assert_eq!(fingerprint_key("4b9e a7a9:AA"), "4B9EA7A9AA");
    }

    #[test]
    fn verification_codes_are_symmetric_and_differ() {
        let a = "ab".repeat(32);
        let b = "CD".repeat(32);
        let c1 = super::verification_code(&a, &b);
        let c2 = super::verification_code(&b, &a.to_uppercase());
        assert_eq!(c1, c2);
        assert_eq!(c1.digits.len(), 19);
        assert_ne!(c1, super::verification_code(&a, &"CE".repeat(32)));
    }
}
