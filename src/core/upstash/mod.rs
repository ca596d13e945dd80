//! The Upstash REST provider: Redis commands over HTTP(S), as Upstash's
//! REST API takes them. A batch is one `POST /pipeline`, a transaction one
//! `POST /multi-exec`, a single command one `POST /`; replies come back
//! base64 (`Upstash-Encoding: base64`) so values stay binary safe. The
//! connections are kept alive in a pool of at most `poolSize` in use.
//!
//! The API is `send(cmds) -> Vec<Result<Reply>>` and `transaction(cmds)`:
//! what the service needs from a transport, nothing about resilience.

pub mod codec;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::core::command::Command;
use crate::core::config::{Config, TlsConfig};
use crate::core::error::{Error, ErrorKind, Result, Sent};
use crate::core::reply::Reply;

type Http = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

pub struct UpstashClient {
  http: Http,
  /// The URL without a trailing slash; paths are appended to it.
  base: String,
  host: String,
  /// `Bearer <token>`, marked sensitive; never formatted into a message.
  auth: HeaderValue,
  /// Requests in flight are bounded by the pool size: at most that many
  /// connections are open (idle ones are kept up to the same number).
  permits: tokio::sync::Semaphore,
  command_timeout: Duration,
  connect_timeout: Duration,
  /// The last request reached the endpoint (any HTTP answer).
  reachable: AtomicBool,
  /// The last failed connect was refused: nothing listens there (as
  /// opposed to a TLS or DNS failure, which is a configuration matter).
  refused: AtomicBool,
}

/// The host (and port, when given) of an http(s) URL; no credentials.
pub fn url_host(url: &str) -> Option<String> {
  let uri: Uri = url.trim().parse().ok()?;
  match uri.scheme_str() {
    Some("http") | Some("https") => {}
    _ => return None,
  }
  let host = uri.host()?;
  Some(match uri.port_u16() {
    Some(p) => format!("{host}:{p}"),
    None => host.to_string(),
  })
}

impl UpstashClient {
  pub fn new(url: &str, token: &str, config: &Config) -> Result<UpstashClient> {
    let host = url_host(url).ok_or_else(|| {
      Error::config("UPSTASH_REDIS_REST_URL / option `upstashUrl` must be an http:// or https:// URL with a host")
    })?;
    let mut auth = HeaderValue::from_str(&format!("Bearer {}", token.trim())).map_err(|_| {
      Error::config(
        "UPSTASH_REDIS_REST_TOKEN / option `upstashToken` holds characters a header cannot carry (value not shown)",
      )
    })?;
    auth.set_sensitive(true);
    let tls = TlsConfig {
      enabled: true,
      reject_unauthorized: config.tls.reject_unauthorized,
      ca: config.tls.ca.clone(),
      ..TlsConfig::default()
    };
    let tls = crate::core::topology::tls::client_config(&tls)?;
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(config.no_delay);
    tcp.set_connect_timeout(Some(config.connect_timeout));
    tcp.set_keepalive(config.keep_alive);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
      .with_tls_config(tls)
      .https_or_http()
      .enable_http1()
      .wrap_connector(tcp);
    let pool = config.pool_size.max(1);
    let http = Client::builder(TokioExecutor::new())
      .pool_timer(TokioTimer::new())
      .pool_idle_timeout(Duration::from_secs(60))
      .pool_max_idle_per_host(pool)
      .build(connector);
    Ok(UpstashClient {
      http,
      base: url.trim().trim_end_matches('/').to_string(),
      host,
      auth,
      permits: tokio::sync::Semaphore::new(pool),
      command_timeout: config.command_timeout,
      connect_timeout: config.connect_timeout,
      reachable: AtomicBool::new(false),
      refused: AtomicBool::new(false),
    })
  }

  /// `host[:port]` of the endpoint, for health and stats (never the token).
  pub fn host(&self) -> &str {
    &self.host
  }

  pub fn is_reachable(&self) -> bool {
    self.reachable.load(Ordering::Acquire)
  }

  /// A PING within the connect timeout. On failure, the flag says whether
  /// nothing listens there (connection refused) as opposed to a refusal
  /// (401) or a hang.
  pub async fn connect(&self) -> std::result::Result<(), (Error, bool)> {
    let ping = Command::new("PING", Vec::new());
    let mut body = Vec::new();
    codec::write_json(&ping, &mut body);
    match self.request("", body.into(), self.connect_timeout).await {
      Ok(json) => codec::slot(&json).map(|_| ()).map_err(|e| (e, false)),
      Err(e) => {
        let absent = e.kind == ErrorKind::Connection && self.refused.load(Ordering::Acquire);
        Err((e, absent))
      }
    }
  }

  /// Commands in order, each with its own result: one `POST /` for one,
  /// one `POST /pipeline` for more. A command REST cannot run fails in its
  /// slot with `ERR_RESILIS_UNSUPPORTED` and is not sent; one whose
  /// arguments are not UTF-8 goes alone in the binary-safe form, between
  /// the pipelines before and after it (so the order holds).
  pub async fn send(&self, cmds: Vec<Command>) -> Vec<Result<Reply>> {
    let mut out: Vec<Option<Result<Reply>>> = cmds.iter().map(|c| codec::unsupported(c).map(Err)).collect();
    let mut run: Vec<usize> = Vec::new();
    for i in 0..cmds.len() {
      if out[i].is_some() {
        continue;
      }
      if codec::is_text(&cmds[i]) {
        run.push(i);
        continue;
      }
      self.flush(&cmds, &mut run, &mut out).await;
      out[i] = Some(self.send_binary(&cmds[i]).await);
    }
    self.flush(&cmds, &mut run, &mut out).await;
    out
      .into_iter()
      .map(|r| r.unwrap_or_else(|| Err(Error::new(ErrorKind::Internal, "a command lost its result"))))
      .collect()
  }

  async fn flush(&self, cmds: &[Command], run: &mut Vec<usize>, out: &mut [Option<Result<Reply>>]) {
    match run.len() {
      0 => {}
      1 => {
        let mut body = Vec::new();
        codec::write_json(&cmds[run[0]], &mut body);
        out[run[0]] = Some(self.single("", body.into()).await);
      }
      _ => {
        let batch: Vec<Command> = run.iter().map(|&i| cmds[i].clone()).collect();
        let results = self.slots("/pipeline", codec::batch_body(&batch), batch.len()).await;
        for (&i, r) in run.iter().zip(results) {
          out[i] = Some(r);
        }
      }
    }
    run.clear();
  }

  /// MULTI/EXEC as one `POST /multi-exec`: every command runs, atomically,
  /// or (a top-level error) none does.
  pub async fn transaction(&self, cmds: Vec<Command>) -> Result<Vec<Result<Reply>>> {
    if let Some(e) = cmds.iter().find_map(codec::unsupported) {
      return Err(e);
    }
    if let Some(c) = cmds.iter().find(|c| !codec::is_text(c)) {
      return Err(codec::unsupported_named(
        &c.upper_name(),
        "inside multi(), arguments travel as JSON strings and this one is not UTF-8 (send it outside the transaction)",
      ));
    }
    if cmds.is_empty() {
      return Ok(Vec::new());
    }
    let n = cmds.len();
    let json = self.request("/multi-exec", codec::batch_body(&cmds).into(), self.command_timeout).await?;
    slots_of(json, n)
  }

  async fn single(&self, path: &str, body: Bytes) -> Result<Reply> {
    let json = self.request(path, body, self.command_timeout).await?;
    codec::slot(&json)
  }

  async fn send_binary(&self, cmd: &Command) -> Result<Reply> {
    let (path, body) = codec::binary_request(cmd);
    self.single(&path, body).await
  }

  async fn slots(&self, path: &str, body: Vec<u8>, n: usize) -> Vec<Result<Reply>> {
    let all = |e: Error| (0..n).map(|_| Err(e.clone())).collect();
    match self.request(path, body.into(), self.command_timeout).await {
      Ok(json) => slots_of(json, n).unwrap_or_else(all),
      Err(e) => all(e),
    }
  }

  /// One POST; the JSON body of any answer but 401, 5xx and garbage.
  async fn request(&self, path: &str, body: Bytes, limit: Duration) -> Result<serde_json::Value> {
    let started = Instant::now();
    let permit = match tokio::time::timeout(limit, self.permits.acquire()).await {
      Ok(Ok(p)) => p,
      Ok(Err(_)) => return Err(Error::closed()),
      Err(_) => {
        return Err(
          Error::new(ErrorKind::Timeout, "no free connection to the Upstash REST endpoint within the command timeout")
            .with_sent(Sent::No),
        )
      }
    };
    let uri = format!("{}{}", self.base, path);
    let req = Request::builder()
      .method(Method::POST)
      .uri(uri)
      .header(AUTHORIZATION, self.auth.clone())
      .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
      .header("Upstash-Encoding", HeaderValue::from_static("base64"))
      .body(Full::new(body))
      .map_err(|e| Error::argument(format!("cannot build the request to the Upstash REST endpoint: {e}")))?;
    let left = limit.saturating_sub(started.elapsed());
    let exchange = async {
      let res = self.http.request(req).await.map_err(|e| self.transport_error(&e))?;
      let status = res.status();
      let bytes = res
        .into_body()
        .collect()
        .await
        .map_err(|e| {
          Error::new(ErrorKind::Connection, format!("the Upstash REST endpoint cut its answer short: {e}"))
            .with_sent(Sent::Unknown)
        })?
        .to_bytes();
      Ok::<_, Error>((status, bytes))
    };
    let (status, bytes) = match tokio::time::timeout(left, exchange).await {
      Ok(r) => r?,
      Err(_) => {
        return Err(Error::new(
          ErrorKind::Timeout,
          format!("no answer from the Upstash REST endpoint {} within {} ms", self.host, limit.as_millis()),
        ))
      }
    };
    drop(permit);
    self.reachable.store(true, Ordering::Release);
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
      // The token is never repeated, not even in part.
      return Err(Error::new(
        ErrorKind::Config,
        format!(
          "authentication failed: the Upstash REST endpoint {} refused the token (HTTP {}); check UPSTASH_REDIS_REST_TOKEN",
          self.host,
          status.as_u16()
        ),
      ));
    }
    if status.is_server_error() {
      return Err(
        Error::new(
          ErrorKind::Connection,
          format!("the Upstash REST endpoint {} answered HTTP {}", self.host, status.as_u16()),
        )
        .with_sent(Sent::Unknown),
      );
    }
    serde_json::from_slice(&bytes)
      .map_err(|_| codec::malformed(&format!("a body that is not JSON (HTTP {})", status.as_u16())))
  }

  /// A request that got no HTTP answer. A failed connect never sent it.
  fn transport_error(&self, e: &hyper_util::client::legacy::Error) -> Error {
    self.reachable.store(false, Ordering::Release);
    let mut cause = String::new();
    let mut refused = false;
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
      cause = s.to_string();
      refused |=
        s.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused);
      source = s.source();
    }
    self.refused.store(e.is_connect() && refused, Ordering::Release);
    if e.is_connect() {
      Error::new(
        ErrorKind::Connection,
        format!(
          "cannot reach the Upstash REST endpoint {}: {}",
          self.host,
          if cause.is_empty() { e.to_string() } else { cause }
        ),
      )
      .with_sent(Sent::No)
    } else {
      Error::new(
        ErrorKind::Connection,
        format!("the connection to the Upstash REST endpoint {} was lost: {e}", self.host),
      )
      .with_sent(Sent::Unknown)
    }
  }
}

/// An array of `n` slots (`/pipeline`, `/multi-exec`), or a top-level
/// `{ error }` (the whole batch refused).
fn slots_of(json: serde_json::Value, n: usize) -> Result<Vec<Result<Reply>>> {
  match json {
    serde_json::Value::Array(items) if items.len() == n => Ok(items.iter().map(codec::slot).collect()),
    serde_json::Value::Array(items) => Err(codec::malformed(&format!("{} replies for a batch of {n}", items.len()))),
    other => match codec::slot(&other) {
      Err(e) => Err(e),
      Ok(_) => Err(codec::malformed("one reply for a batch")),
    },
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use fred::prelude::Value;
  use tokio::io::{AsyncReadExt, AsyncWriteExt};

  /// One HTTP exchange on a local socket: the raw request back, `answer` out.
  async fn one_exchange(answer: &'static str) -> (String, tokio::task::JoinHandle<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
      let (mut sock, _) = listener.accept().await.unwrap();
      let mut buf = vec![0u8; 8192];
      let mut got = Vec::new();
      loop {
        let n = sock.read(&mut buf).await.unwrap();
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some(head_end) = text.find("\r\n\r\n") {
          let len: usize = text
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
            .unwrap_or(0);
          if got.len() >= head_end + 4 + len {
            break;
          }
        }
      }
      sock.write_all(answer.as_bytes()).await.unwrap();
      String::from_utf8_lossy(&got).to_string()
    });
    (url, task)
  }

  #[tokio::test]
  async fn a_pipeline_is_one_post_with_bearer_and_base64() {
    let body = r#"[{"result":"OK"},{"error":"WRONGTYPE Operation against a key holding the wrong kind of value"}]"#;
    let answer: &'static str =
      Box::leak(format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len()).into_boxed_str());
    let (url, server) = one_exchange(answer).await;
    let client = UpstashClient::new(&url, "s3cret-token", &Config::default()).unwrap();
    let out = client
      .send(vec![
        Command::new("set", vec![Value::from("k"), Value::from("v")]),
        Command::new("lpush", vec![Value::from("k"), Value::from("x")]),
      ])
      .await;
    let request = server.await.unwrap();
    assert!(request.starts_with("POST /pipeline HTTP/1.1\r\n"), "{request}");
    let lower = request.to_ascii_lowercase();
    assert!(lower.contains("authorization: bearer s3cret-token\r\n"));
    assert!(lower.contains("upstash-encoding: base64\r\n"));
    assert!(request.ends_with(r#"[["set","k","v"],["lpush","k","x"]]"#));
    assert_eq!(out[0].as_ref().unwrap(), &Reply::ok());
    assert_eq!(out[1].as_ref().unwrap_err().kind, ErrorKind::Reply);
  }

  #[tokio::test]
  async fn a_401_is_an_auth_error_without_the_token() {
    let (url, server) =
      one_exchange("HTTP/1.1 401 Unauthorized\r\ncontent-length: 24\r\n\r\n{\"error\":\"Unauthorized\"}").await;
    let client = UpstashClient::new(&url, "s3cret-token", &Config::default()).unwrap();
    let (e, absent) = client.connect().await.unwrap_err();
    server.await.unwrap();
    assert!(!absent);
    assert_eq!(e.kind, ErrorKind::Config);
    assert!(e.message.contains("authentication failed") && e.message.contains("401"), "{}", e.message);
    assert!(!e.message.contains("s3cret"));
  }

  #[tokio::test]
  async fn nothing_listening_is_absent_and_unsent() {
    let port = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let client = UpstashClient::new(&format!("http://127.0.0.1:{port}"), "t", &Config::default()).unwrap();
    let (e, absent) = client.connect().await.unwrap_err();
    assert!(absent, "{}", e.message);
    assert_eq!((e.kind, e.sent), (ErrorKind::Connection, Sent::No));
    let blpop = client.send(vec![Command::new("blpop", vec![Value::from("q"), Value::from("1")])]).await;
    assert_eq!(blpop[0].as_ref().unwrap_err().kind, ErrorKind::Unsupported);
  }
}
