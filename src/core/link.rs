//! Our own connections to Redis (the lanes, the near cache's invalidation
//! connection, cluster probes): plain TCP, or TLS with rustls over it.
//! Connecting and the TLS handshake run on tokio; once set up, a lane takes
//! the socket and the rustls session apart and encrypts and decrypts
//! records itself, on whichever thread writes or reads (lane.rs).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, ClientConnection};
use tokio_rustls::TlsConnector;

use crate::core::config::{Config, Endpoint};
use crate::core::error::{Error, ErrorKind, Result, Sent};
use crate::core::topology::tls;

/// TLS for our connections: the rustls configuration built once per
/// service from its options (CA, client certificate, verification), and
/// the server name to present and verify (`tls.servername`, else each
/// connection's host).
#[derive(Clone)]
pub struct LinkTls {
  pub config: Arc<ClientConfig>,
  pub server_name: Option<String>,
  /// Words a refused handshake (a missing client certificate or a refused one).
  pub has_client_cert: bool,
}

/// Never prints the configuration (it holds the client's private key).
impl std::fmt::Debug for LinkTls {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    f.debug_struct("LinkTls").field("server_name", &self.server_name).finish_non_exhaustive()
  }
}

impl LinkTls {
  /// `None` when TLS is off; a configuration error names the option to fix.
  pub fn from_config(config: &Config) -> Result<Option<LinkTls>> {
    if !config.tls.enabled {
      return Ok(None);
    }
    let client = tls::client_config(&config.tls)?;
    Ok(Some(LinkTls {
      config: Arc::new(client),
      server_name: config.tls.servername.clone(),
      has_client_cert: config.tls.cert.is_some(),
    }))
  }
}

/// A connected stream: plain, or TLS (handshake done).
pub enum Link {
  Plain(TcpStream),
  Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

fn connection_error(message: impl Into<String>) -> Error {
  Error::new(ErrorKind::Connection, message).with_sent(Sent::No)
}

/// Connects to `endpoint` (and shakes hands when `tls` is set), within `timeout`.
pub async fn connect(endpoint: &Endpoint, tls: Option<&LinkTls>, timeout: std::time::Duration) -> Result<Link> {
  let addr = (endpoint.host.as_str(), endpoint.port);
  let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
    Ok(Ok(s)) => s,
    Ok(Err(e)) => return Err(connection_error(format!("connect to {}:{} failed: {e}", endpoint.host, endpoint.port))),
    Err(_) => return Err(connection_error(format!("connect to {}:{} timed out", endpoint.host, endpoint.port))),
  };
  let _ = stream.set_nodelay(true);
  let Some(tls) = tls else { return Ok(Link::Plain(stream)) };
  let name = tls.server_name.as_deref().unwrap_or(endpoint.host.as_str());
  let server_name = ServerName::try_from(name.to_string())
    .map_err(|_| Error::config(format!("TLS server name `{name}` is not a valid DNS name or IP address")))?;
  let connector = TlsConnector::from(tls.config.clone());
  match tokio::time::timeout(timeout, connector.connect(server_name, stream)).await {
    Ok(Ok(s)) => Ok(Link::Tls(Box::new(s))),
    Ok(Err(e)) => {
      let details = format!("{e:?} {e}");
      Err(tls::explain_tls_failure(tls.has_client_cert, &details).unwrap_or_else(|| {
        connection_error(format!("TLS handshake with {}:{} failed: {e}", endpoint.host, endpoint.port))
      }))
    }
    Err(_) => Err(connection_error(format!("TLS handshake with {}:{} timed out", endpoint.host, endpoint.port))),
  }
}

impl Link {
  /// The socket, non-blocking, and the TLS session when there is one.
  pub fn into_parts(self) -> Result<(std::net::TcpStream, Option<ClientConnection>)> {
    let (tcp, session) = match self {
      Link::Plain(tcp) => (tcp, None),
      Link::Tls(tls) => {
        let (tcp, mut session) = tls.into_inner();
        // The lane bounds what it queues (maxInFlight); rustls must not
        // refuse plaintext on top of that.
        session.set_buffer_limit(None);
        (tcp, Some(session))
      }
    };
    let socket = tcp.into_std().map_err(|e| connection_error(e.to_string()))?;
    socket.set_nonblocking(true).map_err(|e| connection_error(e.to_string()))?;
    Ok((socket, session))
  }
}

impl AsyncRead for Link {
  fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
    match self.get_mut() {
      Link::Plain(s) => Pin::new(s).poll_read(cx, buf),
      Link::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
    }
  }
}

impl AsyncWrite for Link {
  fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
    match self.get_mut() {
      Link::Plain(s) => Pin::new(s).poll_write(cx, buf),
      Link::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
    }
  }

  fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
    match self.get_mut() {
      Link::Plain(s) => Pin::new(s).poll_flush(cx),
      Link::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
    }
  }

  fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
    match self.get_mut() {
      Link::Plain(s) => Pin::new(s).poll_shutdown(cx),
      Link::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
    }
  }
}
