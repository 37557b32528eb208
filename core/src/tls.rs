//! TLS configuration. Every device has a self-signed certificate and is known by its fingerprint,
//! so instead of a CA chain we check that a peer certificate is currently valid and correctly
//! self-signed, and (when we know it) that its fingerprint is the one we expect. The handshake
//! signature, checked by rustls, proves the peer holds the certificate's key.

use crate::error::{Error, ErrorKind, Result};
use crate::identity::{fingerprint_of, same_fingerprint, Identity};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use std::sync::Arc;

pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Checks that a certificate parses, is valid at `now` and is signed by its own key.
pub fn check_self_signed(cert: &CertificateDer<'_>, now: UnixTime) -> std::result::Result<(), rustls::Error> {
    use x509_parser::prelude::*;
    let (_, parsed) =
        X509Certificate::from_der(cert.as_ref()).map_err(|_| rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding))?;
    let now_secs = now.as_secs() as i64;
    let validity = parsed.validity();
    if now_secs < validity.not_before.timestamp() {
        return Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidYet));
    }
    if now_secs > validity.not_after.timestamp() {
        return Err(rustls::Error::InvalidCertificate(rustls::CertificateError::Expired));
    }
    parsed.verify_signature(None).map_err(|_| rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature))
}

fn algorithms(provider: &CryptoProvider) -> WebPkiSupportedAlgorithms {
    provider.signature_verification_algorithms
}

/// The handshake-signature methods both verifiers share: rustls checks them with the
/// provider's algorithms against the presented certificate's key.
macro_rules! handshake_signature_checks {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls12_signature(message, cert, dss, &self.algs)
        }
        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls13_signature(message, cert, dss, &self.algs)
        }
        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.algs.supported_schemes()
        }
    };
}

/// Server side: asks every client for a certificate but also serves clients without one.
#[derive(Debug)]
struct OptionalClientAuth {
    algs: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for OptionalClientAuth {
    fn offer_client_auth(&self) -> bool {
        true
    }
    fn client_auth_mandatory(&self) -> bool {
        false
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> std::result::Result<ClientCertVerified, rustls::Error> {
        check_self_signed(end_entity, now)?;
        Ok(ClientCertVerified::assertion())
    }
    handshake_signature_checks!();
}

/// Client side: a self-signed server certificate, pinned to a fingerprint when one is expected.
#[derive(Debug)]
struct PeerCertVerifier {
    algs: WebPkiSupportedAlgorithms,
    expected: Option<String>,
}

impl ServerCertVerifier for PeerCertVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        if let Some(expected) = &self.expected {
            let actual = fingerprint_of(end_entity);
            if !same_fingerprint(expected, &actual) {
                // A typed value inside rustls' error ([`fingerprint_mismatch`] finds it). As
                // `Error::Other` the peer gets the same alert as before (handshake_failure), and
                // its text still carries the tag for callers that have not switched yet.
                let mismatch = FingerprintMismatch { expected: expected.clone(), presented: actual };
                return Err(rustls::Error::Other(rustls::OtherError(Arc::new(mismatch))));
            }
        }
        check_self_signed(end_entity, now)?;
        Ok(ServerCertVerified::assertion())
    }
    handshake_signature_checks!();
}

/// The pinned-certificate check failed: the server presented another certificate than the one
/// expected. Travels inside rustls' error as a typed value ([`fingerprint_mismatch`] finds it),
/// so no decision depends on an error's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FingerprintMismatch {
    /// The fingerprint that was pinned.
    pub expected: String,
    /// The fingerprint of the certificate the server presented.
    pub presented: String,
}

impl std::fmt::Display for FingerprintMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "fingerprint mismatch: expected {}, server presented {}", self.expected, self.presented)
    }
}

impl std::error::Error for FingerprintMismatch {}

/// The fingerprint mismatch behind a failed TLS handshake (an I/O error from tokio-rustls
/// wrapping a rustls error), if that is what made it fail.
pub fn fingerprint_mismatch(err: &std::io::Error) -> Option<&FingerprintMismatch> {
    let inner = err.get_ref()?;
    let other = match inner.downcast_ref::<rustls::Error>()? {
        rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other)) | rustls::Error::Other(other) => other,
        _ => return None,
    };
    let cause: &(dyn std::error::Error + 'static) = &*other.0;
    cause.downcast_ref::<FingerprintMismatch>()
}

/// The error of a failed client TLS handshake with `peer`: [`ErrorKind::FingerprintMismatch`]
/// when the pinned certificate check failed (found by type), [`ErrorKind::Tls`] otherwise.
pub fn handshake_error(peer: &impl std::fmt::Display, err: std::io::Error) -> Error {
    match fingerprint_mismatch(&err) {
        Some(m) => Error::new(
            ErrorKind::FingerprintMismatch,
            format!(
                "{peer}: refusing to send: not the expected device (certificate fingerprint mismatch: expected {}, server presented {})",
                m.expected, m.presented
            ),
        ),
        None => Error::new(ErrorKind::Tls, format!("{peer}: TLS handshake failed: {err}")),
    }
}

/// The server configuration: our certificate, client certificates optional.
pub fn server_config(identity: &Identity) -> Result<Arc<rustls::ServerConfig>> {
    let provider = provider();
    let verifier = Arc::new(OptionalClientAuth { algs: algorithms(&provider) });
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![identity.cert_der().clone()], identity.key_der())
        .map_err(tls_err)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn client_builder(expected: Option<&str>) -> Result<rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert>> {
    let provider = provider();
    let verifier = Arc::new(PeerCertVerifier { algs: algorithms(&provider), expected: expected.map(|s| s.to_ascii_uppercase()) });
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .dangerous()
        .with_custom_certificate_verifier(verifier))
}

/// The client configuration: always presents our certificate; pins `expected` when given.
pub fn client_config(identity: &Identity, expected: Option<&str>) -> Result<Arc<rustls::ClientConfig>> {
    let mut config =
        client_builder(expected)?.with_client_auth_cert(vec![identity.cert_der().clone()], identity.key_der()).map_err(tls_err)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn tls_err(e: rustls::Error) -> Error {
    Error::new(ErrorKind::Tls, format!("TLS setup failed: {e}"))
}

/// The fingerprint of the first certificate a TLS peer presented, if any.
pub fn peer_fingerprint(certs: Option<&[CertificateDer<'_>]>) -> Option<String> {
    certs.and_then(|c| c.first()).map(|c| fingerprint_of(c))
}

/// A client configuration that presents no certificate (as older and third-party senders do).
/// Ferry itself always presents one; this exists for probing and for tests.
pub fn client_config_without_cert(expected: Option<&str>) -> Result<Arc<rustls::ClientConfig>> {
    Ok(Arc::new(client_builder(expected)?.with_no_client_auth()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A handshake against a pinned fingerprint that is not the server's fails with the typed
    /// mismatch (found without reading any text), and an unrelated TLS failure does not.
    #[tokio::test]
    async fn a_pinned_mismatch_is_typed_through_the_handshake() {
        let server_id = Identity::generate().unwrap();
        let client_id = Identity::generate().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(server_config(&server_id).unwrap());
        let serve = tokio::spawn(async move {
            for _ in 0..2 {
                let (tcp, _) = listener.accept().await.unwrap();
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    let _ = tls.write_all(b"x").await;
                    let _ = tls.read_u8().await;
                }
            }
        });
        let name = rustls::pki_types::ServerName::try_from("ferry.local").unwrap();
        let wrong = client_id.fingerprint().to_string();
        let connector = tokio_rustls::TlsConnector::from(client_config(&client_id, Some(&wrong)).unwrap());
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let Err(err) = connector.connect(name.clone(), tcp).await else { panic!("the pinned handshake fails") };
        let m = fingerprint_mismatch(&err).expect("a typed mismatch");
        assert!(crate::tls::fingerprint_mismatch(&err).is_some(), "{err}");
        assert_eq!((m.expected.as_str(), m.presented.as_str()), (wrong.as_str(), server_id.fingerprint()));
        let e = handshake_error(&addr, err);
        assert_eq!(e.kind, ErrorKind::FingerprintMismatch, "{e}");

        // Pinned to the server's own fingerprint: the handshake succeeds.
        let connector = tokio_rustls::TlsConnector::from(client_config(&client_id, Some(server_id.fingerprint())).unwrap());
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut tls = connector.connect(name, tcp).await.unwrap();
        assert_eq!(tls.read_u8().await.unwrap(), b'x');
        drop(tls);
        tokio::time::timeout(std::time::Duration::from_secs(10), serve).await.unwrap().unwrap();

        let other =
            std::io::Error::new(std::io::ErrorKind::InvalidData, rustls::Error::InvalidCertificate(rustls::CertificateError::Expired));
        assert!(fingerprint_mismatch(&other).is_none());
        assert_eq!(handshake_error(&addr, other).kind, ErrorKind::Tls);
    }
}
