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
    let (_, parsed) = X509Certificate::from_der(cert.as_ref())
        .map_err(|_| rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding))?;
    let now_secs = now.as_secs() as i64;
    let validity = parsed.validity();
    if now_secs < validity.not_before.timestamp() {
        return Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidYet));
    }
    if now_secs > validity.not_after.timestamp() {
        return Err(rustls::Error::InvalidCertificate(rustls::CertificateError::Expired));
    }
    parsed
        .verify_signature(None)
        .map_err(|_| rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature))
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
                return Err(rustls::Error::General(format!(
                    "{FINGERPRINT_MISMATCH_TAG}: expected {expected}, server presented {actual}"
                )));
            }
        }
        check_self_signed(end_entity, now)?;
        Ok(ServerCertVerified::assertion())
    }
    handshake_signature_checks!();
}

pub(crate) const FINGERPRINT_MISMATCH_TAG: &str = "fingerprint mismatch";

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
    let verifier =
        Arc::new(PeerCertVerifier { algs: algorithms(&provider), expected: expected.map(|s| s.to_ascii_uppercase()) });
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .dangerous()
        .with_custom_certificate_verifier(verifier))
}

/// The client configuration: always presents our certificate; pins `expected` when given.
pub fn client_config(identity: &Identity, expected: Option<&str>) -> Result<Arc<rustls::ClientConfig>> {
    let mut config = client_builder(expected)?
        .with_client_auth_cert(vec![identity.cert_der().clone()], identity.key_der())
        .map_err(tls_err)?;
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
