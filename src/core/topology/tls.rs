//! TLS for fred: a rustls `ClientConfig` built from the configuration (CA,
//! client certificate and key as PEM text or a file path, server name,
//! verification switch), and the wording of handshake failures.

use std::sync::Arc;

use fred::rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use fred::rustls::crypto::{ring, CryptoProvider};
use fred::rustls::pki_types::pem::PemObject;
use fred::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use fred::rustls::{self, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::core::config::TlsConfig;
use crate::core::error::{Error, Result};

/// PEM text as given, or the contents of the file it names.
fn pem_text(value: &str, what: &str) -> Result<Vec<u8>> {
  if value.contains("-----BEGIN") {
    return Ok(value.as_bytes().to_vec());
  }
  std::fs::read(value.trim())
    .map_err(|e| Error::config(format!("{what} is neither PEM text nor a readable file ({}: {e})", value.trim())))
}

fn certificates(value: &str, what: &str) -> Result<Vec<CertificateDer<'static>>> {
  let pem = pem_text(value, what)?;
  let certs: std::result::Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&pem).collect();
  let certs = certs.map_err(|e| Error::config(format!("{what} is not valid PEM: {e:?}")))?;
  if certs.is_empty() {
    return Err(Error::config(format!("{what} holds no CERTIFICATE block")));
  }
  Ok(certs)
}

/// The key's text is never shown, even in part.
fn private_key(value: &str) -> Result<PrivateKeyDer<'static>> {
  let pem = pem_text(value, "REDIS_TLS_KEY / option `tls.key`")?;
  PrivateKeyDer::from_pem_slice(&pem).map_err(|_| {
    Error::config(
      "REDIS_TLS_KEY / option `tls.key` holds no usable private key (PKCS#8, PKCS#1 or SEC1 PEM; value not shown)",
    )
  })
}

fn provider() -> Arc<CryptoProvider> {
  Arc::new(ring::default_provider())
}

/// Accepts any server certificate (`rejectUnauthorized: false`); the
/// handshake signatures are still checked.
#[derive(Debug)]
struct AcceptAnyServer(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServer {
  fn verify_server_cert(
    &self,
    _end_entity: &CertificateDer<'_>,
    _intermediates: &[CertificateDer<'_>],
    _server_name: &ServerName<'_>,
    _ocsp_response: &[u8],
    _now: UnixTime,
  ) -> std::result::Result<ServerCertVerified, rustls::Error> {
    Ok(ServerCertVerified::assertion())
  }

  fn verify_tls12_signature(
    &self,
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
  ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
    rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
  }

  fn verify_tls13_signature(
    &self,
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
  ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
    rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
  }

  fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
    self.0.signature_verification_algorithms.supported_schemes()
  }
}

fn roots(tls: &TlsConfig) -> Result<RootCertStore> {
  let mut store = RootCertStore::empty();
  match &tls.ca {
    Some(ca) => {
      for cert in certificates(ca, "REDIS_TLS_CA / option `tls.ca`")? {
        store.add(cert).map_err(|e| {
          Error::config(format!("REDIS_TLS_CA / option `tls.ca` holds a certificate rustls refuses: {e}"))
        })?;
      }
    }
    None => {
      // The system's CAs, as Node does without `ca`.
      let native = fred::rustls_native_certs::load_native_certs();
      for cert in native.certs {
        let _ = store.add(cert);
      }
    }
  }
  Ok(store)
}

/// The rustls client configuration for `tls`.
pub fn client_config(tls: &TlsConfig) -> Result<ClientConfig> {
  let provider = provider();
  let builder = ClientConfig::builder_with_provider(provider.clone())
    .with_safe_default_protocol_versions()
    .map_err(|e| Error::config(format!("TLS setup failed: {e}")))?;
  let builder = if tls.reject_unauthorized {
    builder.with_root_certificates(roots(tls)?)
  } else {
    builder.dangerous().with_custom_certificate_verifier(Arc::new(AcceptAnyServer(provider)))
  };
  match (&tls.cert, &tls.key) {
    (Some(cert), Some(key)) => {
      let chain = certificates(cert, "REDIS_TLS_CERT / option `tls.cert`")?;
      builder.with_client_auth_cert(chain, private_key(key)?).map_err(|e| {
        Error::config(format!(
          "the client certificate (REDIS_TLS_CERT) and key (REDIS_TLS_KEY) do not go together: {}",
          scrub(&e.to_string())
        ))
      })
    }
    (None, None) => Ok(builder.with_no_client_auth()),
    (Some(_), None) => {
      Err(Error::config("REDIS_TLS_CERT / option `tls.cert` is set without REDIS_TLS_KEY / `tls.key`"))
    }
    (None, Some(_)) => {
      Err(Error::config("REDIS_TLS_KEY / option `tls.key` is set without REDIS_TLS_CERT / `tls.cert`"))
    }
  }
}

/// The connector fred takes.
pub fn fred_tls(tls: &TlsConfig) -> Result<fred::types::config::TlsConfig> {
  let connector: fred::types::config::TlsConnector = client_config(tls)?.into();
  Ok(connector.into())
}

/// Rustls error texts carry no key material; drop anything PEM-like anyway.
fn scrub(s: &str) -> String {
  if s.contains("-----BEGIN") {
    "(details withheld)".to_string()
  } else {
    s.to_string()
  }
}

/// A failed first connect, reworded when it is a TLS problem: `Some` with a
/// configuration error naming the cause, `None` when it is not about TLS.
pub fn explain_handshake_failure(tls: &TlsConfig, details: &str) -> Option<Error> {
  if !tls.enabled {
    return None;
  }
  explain_tls_failure(tls.cert.is_some(), details)
}

/// A failed TLS handshake's cause, worded (`None`: not about TLS).
pub fn explain_tls_failure(has_client_cert: bool, details: &str) -> Option<Error> {
  let d = details;
  let has = |s: &str| d.contains(s);
  let cause = if has("UnknownIssuer") || has("UnknownCA") || has("BadSignature") {
    "the server's certificate is not signed by a trusted CA (check REDIS_TLS_CA)".to_string()
  } else if has("NotValidForName") {
    "the server's certificate does not carry the expected server name (check REDIS_TLS_SERVERNAME or the host)"
      .to_string()
  } else if has("Expired") || has("NotValidYet") {
    "the server's certificate is expired or not yet valid".to_string()
  } else if has("CertificateRequired") || has("certificate required") || has("HandshakeFailure") && !has_client_cert {
    "the server requires a client certificate (set REDIS_TLS_CERT and REDIS_TLS_KEY)".to_string()
  } else if has("BadCertificate") || has("UnsupportedCertificate") || has("CertificateUnknown") || has("DecryptError") {
    "the server refused our client certificate (check REDIS_TLS_CERT / REDIS_TLS_KEY against the server's CA)"
      .to_string()
  } else if has("InvalidCertificate") || has("certificate") || has("Certificate") {
    format!("the certificate check failed ({})", scrub(d))
  } else if has("CorruptMessage") || has("InvalidContentType") || has("InvalidMessage") {
    "the server did not answer the TLS handshake: is this a plaintext port? use redis:// (or REDIS_TLS=false)"
      .to_string()
  } else {
    return None;
  };
  Some(Error::config(format!("TLS handshake failed: {cause}")))
}

#[cfg(test)]
mod tests {
  use super::*;

  const BAD: &str = "-----BEGIN CERTIFICATE-----\nnot base64 !!\n-----END CERTIFICATE-----\n";

  fn tls() -> TlsConfig {
    TlsConfig { enabled: true, reject_unauthorized: true, ..TlsConfig::default() }
  }

  #[test]
  fn no_ca_uses_system_roots_and_builds() {
    assert!(client_config(&tls()).is_ok());
  }

  #[test]
  fn permissive_verifier_builds_without_ca() {
    let t = TlsConfig { reject_unauthorized: false, ..tls() };
    assert!(client_config(&t).is_ok());
  }

  #[test]
  fn bad_ca_pem_names_the_variable() {
    let t = TlsConfig { ca: Some(BAD.into()), ..tls() };
    let e = client_config(&t).expect_err("bad ca");
    assert_eq!(e.code(), "ERR_RESILIS_CONFIG");
    assert!(e.message.contains("REDIS_TLS_CA"), "{}", e.message);
  }

  #[test]
  fn missing_file_names_the_variable() {
    let t = TlsConfig { ca: Some("/nonexistent/ca.pem".into()), ..tls() };
    let e = client_config(&t).expect_err("no file");
    assert!(e.message.contains("REDIS_TLS_CA"), "{}", e.message);
  }

  #[test]
  fn key_is_never_shown() {
    let key = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n";
    let t = TlsConfig { ca: None, cert: Some(BAD.into()), key: Some(key.into()), ..tls() };
    let e = client_config(&t).expect_err("bad pair");
    assert!(!e.message.contains("c2VjcmV0"), "{}", e.message);
    let t = TlsConfig { cert: None, key: Some(key.into()), ..tls() };
    let e = client_config(&t).expect_err("key alone");
    assert!(!e.message.contains("c2VjcmV0"), "{}", e.message);
  }

  #[test]
  fn handshake_failures_are_worded() {
    let e = explain_handshake_failure(&tls(), "Custom { kind: InvalidData, error: InvalidCertificate(UnknownIssuer) }")
      .expect("tls cause");
    assert_eq!(e.code(), "ERR_RESILIS_CONFIG");
    assert!(e.message.contains("CA"));
    let e = explain_handshake_failure(&tls(), "InvalidCertificate(NotValidForName)").expect("name");
    assert!(e.message.contains("server name"));
    let e = explain_handshake_failure(&tls(), "received fatal alert: CertificateRequired").expect("client cert");
    assert!(e.message.contains("client certificate"));
    assert!(explain_handshake_failure(&tls(), "Connection refused").is_none());
  }
}
