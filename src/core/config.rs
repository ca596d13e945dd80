//! Configuration: environment variables merged with an options object
//! (options win). Every malformed value is a `Config` error that names the
//! variable or option and never repeats a secret.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value as Json;

use crate::core::error::{Error, Result};
use crate::core::fallback::FallbackWrites;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
  pub host: String,
  pub port: u16,
}

#[derive(Clone, PartialEq, Eq)]
pub enum Provider {
  Local,
  Upstash { url: String, token: String },
}

/// The token is never shown, not even in a debug print of the config.
impl std::fmt::Debug for Provider {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    match self {
      Provider::Local => f.write_str("Local"),
      Provider::Upstash { url, .. } => f.debug_struct("Upstash").field("url", url).field("token", &"<hidden>").finish(),
    }
  }
}

impl Provider {
  pub fn name(&self) -> &'static str {
    match self {
      Provider::Local => "local",
      Provider::Upstash { .. } => "upstash",
    }
  }
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TlsConfig {
  pub enabled: bool,
  pub servername: Option<String>,
  pub reject_unauthorized: bool,
  /// PEM text of the CA bundle, client certificate and key.
  pub ca: Option<String>,
  pub cert: Option<String>,
  pub key: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Topology {
  Standalone,
  Cluster {
    nodes: Vec<Endpoint>,
    scale_reads: bool,
    max_redirections: u32,
    retry_delay_on_failover: Duration,
    /// Wait before retrying a command refused with CLUSTERDOWN.
    retry_delay_on_cluster_down: Duration,
  },
  Sentinel {
    sentinels: Vec<Endpoint>,
    master_name: String,
    password: Option<String>,
  },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
  pub enabled: bool,
  /// Serve from memory after the first connect fails (development:
  /// `enabled` not set explicitly and NODE_ENV is not production).
  pub auto_memory: bool,
  pub provider: Provider,
  pub endpoint: Endpoint,
  pub username: Option<String>,
  pub password: Option<String>,
  pub db: u8,
  pub tls: TlsConfig,
  pub topology: Topology,
  pub read_replicas: Vec<Endpoint>,
  pub pool_size: usize,
  pub connect_timeout: Duration,
  pub command_timeout: Duration,
  pub max_retries: u32,
  pub auto_pipelining: bool,
  pub connection_name: Option<String>,
  pub lazy_connect: bool,
  pub keep_alive: Option<Duration>,
  pub no_delay: bool,
  pub fallback_max_bytes: u64,
  pub fallback_ttl: Option<Duration>,
  pub fallback_writes: FallbackWrites,
  /// Mirror plain values into the fallback store while Redis is healthy.
  pub fallback_mirror: bool,
  /// Come up degraded (serving from the fallback) when Redis is not
  /// there at the first connect (`fallback.enabled`, default true);
  /// false: that connect fails.
  pub fallback_enabled: bool,
  /// The durable outage journal (`fallback.journal`); `None`: in memory.
  pub fallback_journal: Option<crate::core::journal_file::JournalConfig>,
  /// The outage journal's bound in bytes (`fallback.journal.maxBytes`);
  /// `None`: half of `fallback_max_bytes`.
  pub fallback_journal_max_bytes: Option<u64>,
  pub breaker: crate::core::breaker::BreakerConfig,
  /// Commands sent and not yet answered, beyond which calls are refused
  /// with ERR_RESILIS_BACKPRESSURE.
  pub max_in_flight: usize,
  /// Reconnect backoff: exponential from min to max, with jitter.
  pub reconnect_min_delay: Duration,
  pub reconnect_max_delay: Duration,
  /// Tracking-invalidated in-process reads; off by default.
  pub near_cache: Option<crate::core::near_cache::NearCacheConfig>,
  /// A value, or a command's arguments in all, over this many bytes is
  /// refused before any I/O (see limits.rs).
  pub max_value_bytes: u64,
  /// Value compression (src/core/compression); off by default.
  pub compression: Option<crate::core::compression::Compression>,
}

impl Default for Config {
  fn default() -> Self {
    Config {
      enabled: true,
      auto_memory: false,
      provider: Provider::Local,
      endpoint: Endpoint { host: "localhost".into(), port: 6379 },
      username: None,
      password: None,
      db: 0,
      tls: TlsConfig { reject_unauthorized: true, ..TlsConfig::default() },
      topology: Topology::Standalone,
      read_replicas: Vec::new(),
      pool_size: 5,
      connect_timeout: Duration::from_millis(10_000),
      command_timeout: Duration::from_millis(5_000),
      max_retries: 3,
      auto_pipelining: true,
      connection_name: None,
      lazy_connect: true,
      keep_alive: Some(Duration::from_secs(30)),
      no_delay: true,
      fallback_max_bytes: 100 * 1024 * 1024,
      fallback_ttl: None,
      fallback_writes: FallbackWrites::Replay,
      fallback_mirror: true,
      fallback_enabled: true,
      fallback_journal: None,
      fallback_journal_max_bytes: None,
      breaker: crate::core::breaker::BreakerConfig {
        reset_timeout: Duration::from_secs(10),
        ..crate::core::breaker::BreakerConfig::default()
      },
      max_in_flight: 200_000,
      reconnect_min_delay: Duration::from_millis(50),
      reconnect_max_delay: Duration::from_millis(2_000),
      near_cache: None,
      max_value_bytes: crate::core::limits::DEFAULT_MAX_VALUE_BYTES,
      compression: None,
    }
  }
}

/// One raw setting and where it came from, so errors can name it.
enum Raw<'a> {
  Env(&'a str),
  Opt(&'a Json),
}

struct Sources<'a> {
  env: &'a BTreeMap<String, String>,
  opts: &'a Json,
}

impl<'a> Sources<'a> {
  /// The option (camelCase path like "fallback.maxSize") wins over the env var.
  fn get(&self, opt: &'a str, env: &'a str) -> Option<(Raw<'a>, &'a str)> {
    let mut cur = self.opts;
    let mut found = true;
    for part in opt.split('.') {
      match cur.get(part) {
        Some(v) => cur = v,
        None => {
          found = false;
          break;
        }
      }
    }
    if found && !cur.is_null() {
      return Some((Raw::Opt(cur), opt));
    }
    if env.is_empty() {
      return None;
    }
    match self.env.get(env) {
      Some(v) if !v.trim().is_empty() => Some((Raw::Env(v.as_str()), env)),
      _ => None,
    }
  }

  fn string(&self, opt: &'a str, env: &'a str) -> Result<Option<String>> {
    match self.get(opt, env) {
      None => Ok(None),
      Some((Raw::Env(s), _)) => Ok(Some(s.trim().to_string())),
      Some((Raw::Opt(Json::String(s)), _)) => Ok(Some(s.clone())),
      Some((Raw::Opt(Json::Number(n)), _)) => Ok(Some(n.to_string())),
      Some((Raw::Opt(_), name)) => Err(Error::config(format!("option `{name}` must be a string"))),
    }
  }

  /// A secret: the error never shows the value.
  fn secret(&self, opt: &'a str, env: &'a str) -> Result<Option<String>> {
    match self.get(opt, env) {
      None => Ok(None),
      Some((Raw::Env(s), _)) => Ok(Some(s.to_string())),
      Some((Raw::Opt(Json::String(s)), _)) => Ok(Some(s.clone())),
      Some((Raw::Opt(_), name)) => Err(Error::config(format!("option `{name}` must be a string (value not shown)"))),
    }
  }

  fn bool(&self, opt: &'a str, env: &'a str) -> Result<Option<bool>> {
    match self.get(opt, env) {
      None => Ok(None),
      Some((Raw::Opt(Json::Bool(b)), _)) => Ok(Some(*b)),
      Some((Raw::Env(s), name)) => {
        parse_bool(s).map(Some).ok_or_else(|| Error::config(format!("{name} must be true or false (got {:?})", s)))
      }
      Some((Raw::Opt(v), name)) => Err(Error::config(format!("option `{name}` must be a boolean (got {v})"))),
    }
  }

  fn number(&self, opt: &'a str, env: &'a str, min: u64, max: u64) -> Result<Option<u64>> {
    let (value, name, shown) = match self.get(opt, env) {
      None => return Ok(None),
      Some((Raw::Env(s), name)) => (s.trim().parse::<u64>().ok(), name, format!("{s:?}")),
      Some((Raw::Opt(v), name)) => {
        (v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())), name, v.to_string())
      }
    };
    match value {
      Some(n) if n >= min && n <= max => Ok(Some(n)),
      _ => Err(Error::config(format!("{} must be a whole number from {min} to {max} (got {shown})", describe(name)))),
    }
  }

  fn millis(&self, opt: &'a str, env: &'a str) -> Result<Option<Duration>> {
    Ok(self.number(opt, env, 0, 24 * 3600 * 1000)?.map(Duration::from_millis))
  }
}

/// Circuit breakers and the in-flight bound.
fn resilience_options(src: &Sources<'_>, c: &mut Config) -> Result<()> {
  let b = &mut c.breaker;
  if let Some(on) = src.bool("circuitBreaker.enabled", "REDIS_CIRCUIT_BREAKER_ENABLED")? {
    b.enabled = on;
  }
  if let Some(p) = src.number("circuitBreaker.errorThreshold", "REDIS_CIRCUIT_BREAKER_ERROR_THRESHOLD", 1, 100)? {
    b.error_threshold_percentage = p as f64;
  }
  if let Some(t) = src.millis("circuitBreaker.resetTimeout", "REDIS_CIRCUIT_BREAKER_RESET_TIMEOUT")? {
    b.reset_timeout = t.max(Duration::from_millis(1));
  }
  if let Some(v) =
    src.number("circuitBreaker.volumeThreshold", "REDIS_CIRCUIT_BREAKER_VOLUME_THRESHOLD", 0, 1_000_000)?
  {
    b.volume_threshold = v as u32;
  }
  if let Some(w) = src.millis("circuitBreaker.rollingWindow", "REDIS_CIRCUIT_BREAKER_WINDOW")? {
    b.rolling_window = w.max(Duration::from_millis(10));
  }
  if let Some(n) = src.number("maxInFlight", "REDIS_MAX_IN_FLIGHT", 1, 100_000_000)? {
    c.max_in_flight = n as usize;
  }
  if let Some(n) = src.number("maxValueBytes", "REDIS_MAX_VALUE_BYTES", 1, 1 << 40)? {
    c.max_value_bytes = n;
  }
  if let Some(d) = src.millis("reconnect.minDelay", "REDIS_RECONNECT_MIN_DELAY")? {
    c.reconnect_min_delay = d.max(Duration::from_millis(1));
  }
  if let Some(d) = src.millis("reconnect.maxDelay", "REDIS_RECONNECT_MAX_DELAY")? {
    c.reconnect_max_delay = d;
  }
  near_cache_options(src, c)?;
  if c.reconnect_max_delay < c.reconnect_min_delay {
    return Err(Error::config("reconnect.maxDelay / REDIS_RECONNECT_MAX_DELAY must not be below reconnect.minDelay"));
  }
  Ok(())
}

/// `fallback.journal: { path, fsync, maxBytes }`, or REDIS_FALLBACK_JOURNAL_PATH,
/// REDIS_FALLBACK_JOURNAL_FSYNC (always | everysec, the default) and
/// REDIS_FALLBACK_JOURNAL_MAX_BYTES.
fn journal_options(src: &Sources<'_>, c: &mut Config) -> Result<()> {
  use crate::core::journal_file::{Fsync, JournalConfig};
  if let Some(n) = src.number("fallback.journal.maxBytes", "REDIS_FALLBACK_JOURNAL_MAX_BYTES", 1024, 1 << 40)? {
    c.fallback_journal_max_bytes = Some(n);
  }
  let Some(path) = src.string("fallback.journal.path", "REDIS_FALLBACK_JOURNAL_PATH")? else {
    if src.get("fallback.journal.fsync", "REDIS_FALLBACK_JOURNAL_FSYNC").is_some() {
      return Err(Error::config("fallback.journal.fsync / REDIS_FALLBACK_JOURNAL_FSYNC needs fallback.journal.path / REDIS_FALLBACK_JOURNAL_PATH"));
    }
    return Ok(());
  };
  if path.is_empty() {
    return Err(Error::config("fallback.journal.path / REDIS_FALLBACK_JOURNAL_PATH must name a file"));
  }
  let fsync = match src.string("fallback.journal.fsync", "REDIS_FALLBACK_JOURNAL_FSYNC")?.as_deref() {
    None | Some("everysec") => Fsync::EverySec,
    Some("always") => Fsync::Always,
    Some(other) => {
      return Err(Error::config(format!(
        "REDIS_FALLBACK_JOURNAL_FSYNC / option `fallback.journal.fsync` must be 'always' or 'everysec' (got {other:?})"
      )))
    }
  };
  if c.fallback_writes == FallbackWrites::Local {
    return Err(Error::config(
      "fallback.journal keeps outage writes for replay; it cannot go with fallback.writes 'local' (writes stay in this process)",
    ));
  }
  c.fallback_journal = Some(JournalConfig { path: path.into(), fsync });
  Ok(())
}

/// `nearCache: true | { maxSize, ttl }`, or REDIS_NEAR_CACHE=true with
/// REDIS_NEAR_CACHE_MAX_SIZE (bytes) and REDIS_NEAR_CACHE_TTL (ms).
fn near_cache_options(src: &Sources<'_>, c: &mut Config) -> Result<()> {
  let on = match src.get("nearCache", "REDIS_NEAR_CACHE") {
    None => false,
    Some((Raw::Opt(Json::Bool(b)), _)) => *b,
    Some((Raw::Opt(Json::Object(_)), _)) => true,
    Some((Raw::Env(s), name)) => {
      parse_bool(s).ok_or_else(|| Error::config(format!("{name} must be true or false (got {s:?})")))?
    }
    Some((Raw::Opt(v), _)) => {
      return Err(Error::config(format!("option `nearCache` must be true, false or {{ maxSize, ttl }} (got {v})")))
    }
  };
  if on {
    let max_bytes = src.number("nearCache.maxSize", "REDIS_NEAR_CACHE_MAX_SIZE", 1024, 1 << 40)?.unwrap_or(64 << 20);
    let ttl = src.number("nearCache.ttl", "REDIS_NEAR_CACHE_TTL", 1, 24 * 3600 * 1000)?.unwrap_or(60_000);
    c.near_cache = Some(crate::core::near_cache::NearCacheConfig { max_bytes, ttl: Duration::from_millis(ttl) });
  }
  Ok(())
}

/// `compression: { algorithm: 'lz4' | 'zstd', minBytes }` (or just the
/// algorithm's name; false: off), or REDIS_COMPRESSION=lz4|zstd|off with
/// REDIS_COMPRESSION_MIN_BYTES.
fn compression_options(src: &Sources<'_>, c: &mut Config) -> Result<()> {
  use crate::core::compression::{Algorithm, Compression, DEFAULT_MIN_BYTES};
  const SHAPE: &str = "{ algorithm: 'lz4' | 'zstd', minBytes }";
  let (name, shown) = match src.get("compression", "REDIS_COMPRESSION") {
    None | Some((Raw::Opt(Json::Bool(false)), _)) => return Ok(()),
    Some((Raw::Env(s), _)) if parse_bool(s) == Some(false) || s.trim().eq_ignore_ascii_case("none") => return Ok(()),
    Some((Raw::Env(s), name)) => (s.trim().to_string(), name.to_string()),
    Some((Raw::Opt(Json::String(s)), _)) => (s.clone(), "option `compression`".to_string()),
    Some((Raw::Opt(Json::Object(o)), _)) => {
      if let Some(k) = o.keys().find(|k| !["algorithm", "minBytes"].contains(&k.as_str())) {
        return Err(Error::config(format!("option `compression` has no `{k}`: it is {SHAPE}")));
      }
      match o.get("algorithm") {
        Some(Json::String(s)) => (s.clone(), "option `compression.algorithm`".to_string()),
        None | Some(Json::Null) => {
          return Err(Error::config(format!("option `compression.algorithm` is required: 'lz4' or 'zstd' ({SHAPE})")))
        }
        Some(v) => {
          return Err(Error::config(format!("option `compression.algorithm` must be 'lz4' or 'zstd' (got {v})")))
        }
      }
    }
    Some((Raw::Opt(v), _)) => {
      return Err(Error::config(format!("option `compression` must be {SHAPE} or false (got {v})")))
    }
  };
  let algorithm =
    Algorithm::parse(&name).ok_or_else(|| Error::config(format!("{shown} must be 'lz4' or 'zstd' (got {name:?})")))?;
  let min_bytes =
    src.number("compression.minBytes", "REDIS_COMPRESSION_MIN_BYTES", 0, u32::MAX as u64)?.unwrap_or(DEFAULT_MIN_BYTES);
  c.compression = Some(Compression { algorithm, min_bytes: min_bytes as usize });
  Ok(())
}

fn describe(name: &str) -> String {
  if name.starts_with("REDIS_") || name.starts_with("UPSTASH_") {
    name.to_string()
  } else {
    format!("option `{name}`")
  }
}

fn parse_bool(s: &str) -> Option<bool> {
  match s.trim().to_ascii_lowercase().as_str() {
    "1" | "true" | "yes" | "on" => Some(true),
    "0" | "false" | "no" | "off" => Some(false),
    _ => None,
  }
}

/// The parts of a `redis://` or `rediss://` URL.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ParsedUrl {
  pub tls: bool,
  pub username: Option<String>,
  pub password: Option<String>,
  pub endpoint: Option<Endpoint>,
  pub db: Option<u8>,
}

/// The URL with any password replaced, safe to show in an error.
pub fn redact_url(url: &str) -> String {
  match (url.find("://"), url.rfind('@')) {
    (Some(scheme_end), Some(at)) if at > scheme_end => {
      let userinfo = &url[scheme_end + 3..at];
      let user = userinfo.split(':').next().unwrap_or("");
      format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..])
    }
    _ => url.to_string(),
  }
}

fn percent_decode(s: &str) -> String {
  fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
  }
  let bytes = s.as_bytes();
  let mut out = Vec::with_capacity(bytes.len());
  let mut i = 0;
  while i < bytes.len() {
    if bytes[i] == b'%' {
      if let (Some(h), Some(l)) = (bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
        out.push(h * 16 + l);
        i += 3;
        continue;
      }
    }
    out.push(bytes[i]);
    i += 1;
  }
  String::from_utf8_lossy(&out).into_owned()
}

/// Parses `host:port`, `[::1]:port` or `host` (default port).
pub fn parse_host_port(s: &str, default_port: u16) -> Option<Endpoint> {
  let s = s.trim();
  if s.is_empty() {
    return None;
  }
  let (host, port) = if let Some(rest) = s.strip_prefix('[') {
    let end = rest.find(']')?;
    let host = &rest[..end];
    let after = &rest[end + 1..];
    let port = match after.strip_prefix(':') {
      Some(p) => p.parse().ok()?,
      None if after.is_empty() => default_port,
      None => return None,
    };
    (host.to_string(), port)
  } else {
    match s.rsplit_once(':') {
      Some((h, p)) => (h.to_string(), p.parse().ok()?),
      None => (s.to_string(), default_port),
    }
  };
  if host.is_empty() || port == 0 || host.contains('/') || host.contains(' ') {
    return None;
  }
  Some(Endpoint { host, port })
}

pub fn parse_url(url: &str, name: &str) -> Result<ParsedUrl> {
  let bad = || {
    Error::config(format!(
      "{} is not a valid Redis URL; expected redis://[user:password@]host[:port][/db] or rediss://... (got {})",
      describe(name),
      redact_url(url)
    ))
  };
  let url = url.trim();
  let (tls, rest) = if let Some(r) = url.strip_prefix("redis://") {
    (false, r)
  } else if let Some(r) = url.strip_prefix("rediss://") {
    (true, r)
  } else {
    return Err(bad());
  };
  let rest = rest.split(['?', '#']).next().unwrap_or("");
  let (authority, path) = match rest.find('/') {
    Some(i) => (&rest[..i], &rest[i + 1..]),
    None => (rest, ""),
  };
  let (userinfo, hostport) = match authority.rfind('@') {
    Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
    None => (None, authority),
  };
  let mut parsed = ParsedUrl { tls, ..ParsedUrl::default() };
  if let Some(info) = userinfo {
    let (user, pass) = match info.find(':') {
      Some(i) => (&info[..i], Some(&info[i + 1..])),
      None => (info, None),
    };
    if !user.is_empty() {
      parsed.username = Some(percent_decode(user));
    }
    if let Some(p) = pass {
      if !p.is_empty() {
        parsed.password = Some(percent_decode(p));
      }
    }
  }
  if !hostport.is_empty() {
    parsed.endpoint = Some(parse_host_port(hostport, 6379).ok_or_else(bad)?);
  }
  if !path.is_empty() {
    parsed.db = Some(path.parse::<u8>().ok().filter(|d| *d < 16).ok_or_else(bad)?);
  }
  Ok(parsed)
}

fn endpoint_list(raw: &str, name: &str) -> Result<Vec<Endpoint>> {
  raw
    .split(',')
    .filter(|s| !s.trim().is_empty())
    .map(|item| {
      let item = item.trim();
      if item.contains("://") {
        parse_url(item, name)?
          .endpoint
          .ok_or_else(|| Error::config(format!("{} has an entry without a host: {}", describe(name), redact_url(item))))
      } else {
        parse_host_port(item, 6379)
          .ok_or_else(|| Error::config(format!("{} has an entry that is not host:port: {item:?}", describe(name))))
      }
    })
    .collect()
}

/// `REDIS_NODE1_HOST`/`REDIS_NODE1_PORT`, ... (1-based, stops at the first gap).
fn numbered_endpoints(env: &BTreeMap<String, String>, prefix: &str) -> Result<Vec<Endpoint>> {
  let mut out = Vec::new();
  for n in 1..=64 {
    let host_var = format!("{prefix}{n}_HOST");
    let port_var = format!("{prefix}{n}_PORT");
    let Some(host) = env.get(&host_var).filter(|h| !h.trim().is_empty()) else { break };
    let port = match env.get(&port_var) {
      None => 6379,
      Some(p) => p
        .trim()
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| Error::config(format!("{port_var} must be a port number from 1 to 65535 (got {p:?})")))?,
    };
    out.push(Endpoint { host: host.trim().to_string(), port });
  }
  Ok(out)
}

fn endpoints_option(value: &Json, name: &str) -> Result<Vec<Endpoint>> {
  match value {
    Json::String(s) => endpoint_list(s, name),
    Json::Array(items) => items
      .iter()
      .map(|item| match item {
        Json::String(s) => endpoint_list(s, name)?
          .into_iter()
          .next()
          .ok_or_else(|| Error::config(format!("option `{name}` has an empty entry"))),
        Json::Object(_) => {
          let host = item.get("host").and_then(Json::as_str).unwrap_or("localhost").to_string();
          let port = item.get("port").map_or(Some(6379), |p| p.as_u64().filter(|p| *p > 0 && *p < 65536));
          let port = port.ok_or_else(|| Error::config(format!("option `{name}` has an entry with a bad port")))?;
          Ok(Endpoint { host, port: port as u16 })
        }
        _ => Err(Error::config(format!("option `{name}` entries must be \"host:port\" strings or {{ host, port }}"))),
      })
      .collect(),
    _ => Err(Error::config(format!("option `{name}` must be a list of endpoints"))),
  }
}

impl Config {
  /// Builds the configuration from `env` (the process environment) and
  /// `opts` (the JS options object as JSON). Options win.
  pub fn resolve(env: &BTreeMap<String, String>, opts: &Json) -> Result<Config> {
    if !(opts.is_object() || opts.is_null()) {
      return Err(Error::config("options must be an object"));
    }
    let src = Sources { env, opts };
    let mut c = Config::default();

    match src.bool("enabled", "REDIS_ENABLED")? {
      Some(b) => c.enabled = b,
      None => c.auto_memory = env.get("NODE_ENV").is_none_or(|v| v != "production"),
    }

    // URL first, then the discrete settings override its parts.
    if let Some((raw, name)) = src.get("url", "REDIS_URL") {
      let url = match raw {
        Raw::Env(s) => s.to_string(),
        Raw::Opt(Json::String(s)) => s.clone(),
        Raw::Opt(_) => return Err(Error::config("option `url` must be a string")),
      };
      let parsed = parse_url(&url, name)?;
      c.tls.enabled = parsed.tls;
      c.username = parsed.username;
      c.password = parsed.password;
      if let Some(e) = parsed.endpoint {
        c.endpoint = e;
      }
      if let Some(db) = parsed.db {
        c.db = db;
      }
    }
    if let Some(h) = src.string("host", "REDIS_HOST")? {
      if h.is_empty() || h.contains(' ') || h.contains('/') {
        return Err(Error::config(format!("REDIS_HOST / option `host` is not a host name: {h:?}")));
      }
      c.endpoint.host = h;
    }
    if let Some(p) = src.number("port", "REDIS_PORT", 1, 65535)? {
      c.endpoint.port = p as u16;
    }
    if let Some(u) = src.string("username", "REDIS_USERNAME")? {
      c.username = Some(u);
    }
    if let Some(p) = src.secret("password", "REDIS_PASSWORD")? {
      c.password = Some(p);
    }
    if let Some(db) = src.number("db", "REDIS_DB", 0, 15)? {
      c.db = db as u8;
    }

    // TLS
    if let Some(t) = src.get("tls", "REDIS_TLS") {
      match t {
        (Raw::Opt(Json::Object(_)), _) => {
          c.tls.enabled = true;
        }
        _ => {
          if let Some(b) = src.bool("tls", "REDIS_TLS")? {
            c.tls.enabled = c.tls.enabled || b;
          }
        }
      }
    }
    if let Some(s) = src.string("tls.servername", "REDIS_TLS_SERVERNAME")? {
      c.tls.servername = Some(s);
    }
    if let Some(b) = src.bool("tls.rejectUnauthorized", "REDIS_TLS_REJECT_UNAUTHORIZED")? {
      c.tls.reject_unauthorized = b;
    }
    c.tls.ca = src.string("tls.ca", "REDIS_TLS_CA")?;
    c.tls.cert = src.string("tls.cert", "REDIS_TLS_CERT")?;
    c.tls.key = src.secret("tls.key", "REDIS_TLS_KEY")?;

    if let Some(n) = src.number("poolSize", "REDIS_POOL_SIZE", 1, 256)? {
      c.pool_size = n as usize;
    }
    if let Some(d) = src.millis("connectTimeout", "REDIS_CONNECT_TIMEOUT")? {
      c.connect_timeout = d;
    }
    if let Some(d) = src.millis("commandTimeout", "REDIS_COMMAND_TIMEOUT")? {
      c.command_timeout = d;
    }
    if let Some(n) = src.number("maxRetries", "REDIS_MAX_RETRIES", 0, 1000)? {
      c.max_retries = n as u32;
    }
    if let Some(n) = src.number("maxRetriesPerRequest", "REDIS_MAX_RETRIES_PER_REQUEST", 0, 1000)? {
      c.max_retries = n as u32;
    }
    if let Some(b) = src.bool("enableAutoPipelining", "REDIS_ENABLE_AUTO_PIPELINING")? {
      c.auto_pipelining = b;
    }
    c.connection_name = src.string("connectionName", "REDIS_CONNECTION_NAME")?;
    if let Some(name) = &c.connection_name {
      if name.is_empty() || name.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
        return Err(Error::config(format!(
          "REDIS_CONNECTION_NAME / option `connectionName` may not contain spaces (got {name:?})"
        )));
      }
    }
    if let Some(b) = src.bool("lazyConnect", "REDIS_LAZY_CONNECT")? {
      c.lazy_connect = b;
    }
    match src.get("keepAlive", "REDIS_KEEP_ALIVE") {
      Some((Raw::Opt(Json::Bool(false)), _)) => c.keep_alive = None,
      Some((Raw::Opt(Json::Bool(true)), _)) => {}
      Some((Raw::Env(s), _)) if parse_bool(s) == Some(false) => c.keep_alive = None,
      Some((Raw::Env(s), _)) if parse_bool(s) == Some(true) => {}
      Some(_) => {
        let ms = src.millis("keepAlive", "REDIS_KEEP_ALIVE")?.unwrap_or_default();
        c.keep_alive = if ms.is_zero() { None } else { Some(ms) };
      }
      None => {}
    }
    if let Some(b) = src.bool("noDelay", "REDIS_NO_DELAY")? {
      c.no_delay = b;
    }

    // Provider
    let provider = src.string("provider", "REDIS_PROVIDER")?.unwrap_or_else(|| "local".into());
    c.provider = match provider.to_ascii_lowercase().as_str() {
      "local" | "redis" => Provider::Local,
      "upstash" => {
        let url = src
          .string("upstashUrl", "UPSTASH_REDIS_REST_URL")?
          .ok_or_else(|| Error::config("REDIS_PROVIDER=upstash needs UPSTASH_REDIS_REST_URL"))?;
        let token = src
          .secret("upstashToken", "UPSTASH_REDIS_REST_TOKEN")?
          .ok_or_else(|| Error::config("REDIS_PROVIDER=upstash needs UPSTASH_REDIS_REST_TOKEN"))?;
        // The endpoint shown by describe()/healthCheck() is the URL's host.
        let host = crate::core::upstash::url_host(&url).ok_or_else(|| {
          Error::config("UPSTASH_REDIS_REST_URL / option `upstashUrl` must be an http:// or https:// URL with a host")
        })?;
        let uri: hyper::Uri = url.trim().parse().map_err(|_| Error::config("UPSTASH_REDIS_REST_URL is not a URL"))?;
        let port = uri.port_u16().unwrap_or(if uri.scheme_str() == Some("https") { 443 } else { 80 });
        c.endpoint = Endpoint { host: uri.host().unwrap_or(&host).to_string(), port };
        Provider::Upstash { url, token }
      }
      other => {
        return Err(Error::config(format!(
          "REDIS_PROVIDER / option `provider` must be local or upstash (got {other:?})"
        )))
      }
    };

    // Topology
    // Cluster nodes alone (REDIS_URL + REDIS_CLUSTER_NODES) select
    // cluster mode too, unless the flag says false.
    let cluster_nodes_given = src.get("clusterNodes", "REDIS_CLUSTER_NODES").is_some();
    let cluster = src
      .bool("cluster", "REDIS_CLUSTER_MODE")?
      .or(src.bool("cluster", "REDIS_CLUSTER")?)
      .unwrap_or(cluster_nodes_given);
    let sentinel = src.bool("sentinel", "REDIS_SENTINEL")?.unwrap_or(false);
    if cluster && sentinel {
      return Err(Error::config("choose one of cluster mode (REDIS_CLUSTER) and sentinel (REDIS_SENTINEL), not both"));
    }
    if cluster {
      let mut nodes = match src.get("clusterNodes", "REDIS_CLUSTER_NODES") {
        Some((Raw::Env(s), name)) => {
          // `rediss://` seeds mean TLS, as a `rediss://` REDIS_URL does.
          c.tls.enabled |= s.contains("rediss://");
          endpoint_list(s, name)?
        }
        Some((Raw::Opt(v), name)) => {
          c.tls.enabled |= v.to_string().contains("rediss://");
          endpoints_option(v, name)?
        }
        None => Vec::new(),
      };
      if nodes.is_empty() {
        nodes = numbered_endpoints(env, "REDIS_NODE")?;
      }
      if nodes.is_empty() {
        nodes.push(c.endpoint.clone());
      }
      let scale_reads = match src.string("scaleReads", "REDIS_CLUSTER_SCALE_READS")? {
        None => false,
        Some(s) => match s.to_ascii_lowercase().as_str() {
          "master" | "false" => false,
          "slave" | "replica" | "all" | "true" => true,
          other => {
            return Err(Error::config(format!(
              "REDIS_CLUSTER_SCALE_READS must be master, slave or all (got {other:?})"
            )))
          }
        },
      };
      let max_redirections =
        src.number("maxRedirections", "REDIS_CLUSTER_MAX_REDIRECTIONS", 1, 1000)?.unwrap_or(16) as u32;
      let retry_delay_on_failover = src
        .millis("retryDelayOnFailover", "REDIS_CLUSTER_RETRY_DELAY_ON_FAILOVER")?
        .unwrap_or(Duration::from_millis(100));
      let retry_delay_on_cluster_down = src
        .millis("retryDelayOnClusterDown", "REDIS_CLUSTER_RETRY_DELAY_ON_CLUSTER_DOWN")?
        .unwrap_or(Duration::from_millis(100));
      c.topology = Topology::Cluster {
        nodes,
        scale_reads,
        max_redirections,
        retry_delay_on_failover,
        retry_delay_on_cluster_down,
      };
    } else if sentinel {
      let sentinels = match src.get("sentinels", "") {
        Some((Raw::Opt(v), name)) => endpoints_option(v, name)?,
        _ => numbered_endpoints(env, "REDIS_SENTINEL")?,
      };
      if sentinels.is_empty() {
        return Err(Error::config(
          "sentinel mode needs at least one sentinel: set REDIS_SENTINEL1_HOST/REDIS_SENTINEL1_PORT or option `sentinels`",
        ));
      }
      let master_name = src.string("masterName", "REDIS_MASTER_NAME")?.unwrap_or_else(|| "mymaster".into());
      let password = src.secret("sentinelPassword", "REDIS_SENTINEL_PASSWORD")?;
      c.topology = Topology::Sentinel { sentinels, master_name, password };
    }

    if src.bool("readReplicas", "REDIS_READ_REPLICAS")?.unwrap_or(false) {
      c.read_replicas = match src.get("readReplicaUrls", "REDIS_READ_REPLICA_URLS") {
        Some((Raw::Env(s), name)) => endpoint_list(s, name)?,
        Some((Raw::Opt(v), name)) => endpoints_option(v, name)?,
        None => Vec::new(),
      };
      if c.read_replicas.is_empty() {
        return Err(Error::config("REDIS_READ_REPLICAS=true needs REDIS_READ_REPLICA_URLS (comma-separated)"));
      }
    }

    // Fallback store
    if let Some(n) = src.number("fallback.maxSize", "REDIS_FALLBACK_MAX_SIZE", 0, 1 << 40)? {
      c.fallback_max_bytes = n;
    }
    if let Some(n) = src.number("fallback.ttl", "REDIS_FALLBACK_TTL", 0, 365 * 24 * 3600 * 1000)? {
      c.fallback_ttl = if n == 0 { None } else { Some(Duration::from_millis(n)) };
    }
    if let Some(w) = src.string("fallback.writes", "REDIS_FALLBACK_WRITES")? {
      c.fallback_writes = match w.as_str() {
        "replay" => FallbackWrites::Replay,
        "local" => FallbackWrites::Local,
        other => {
          return Err(Error::config(format!(
            "REDIS_FALLBACK_WRITES / option `fallback.writes` must be 'replay' or 'local' (got {other:?})"
          )))
        }
      };
    }
    if let Some(b) = src.bool("fallback.mirror", "REDIS_FALLBACK_MIRROR")? {
      c.fallback_mirror = b;
    }
    if let Some(b) = src.bool("fallback.enabled", "REDIS_FALLBACK_ENABLED")? {
      c.fallback_enabled = b;
    }
    journal_options(&src, &mut c)?;
    resilience_options(&src, &mut c)?;
    compression_options(&src, &mut c)?;
    if matches!(c.provider, Provider::Upstash { .. })
      && (!matches!(c.topology, Topology::Standalone) || !c.read_replicas.is_empty())
    {
      return Err(Error::config(
        "REDIS_PROVIDER=upstash is one REST endpoint: cluster, sentinel and read replicas are for the local provider",
      ));
    }
    Ok(c)
  }

  /// Where the service sends commands, for messages (never a secret).
  pub fn target(&self) -> String {
    match &self.provider {
      Provider::Upstash { .. } => format!("the Upstash REST endpoint {}:{}", self.endpoint.host, self.endpoint.port),
      Provider::Local => format!("{}:{}", self.endpoint.host, self.endpoint.port),
    }
  }

  pub fn mode(&self) -> &'static str {
    if !self.enabled {
      return "memory";
    }
    if let Provider::Upstash { .. } = self.provider {
      return "upstash";
    }
    match self.topology {
      Topology::Standalone if self.read_replicas.is_empty() => "standalone",
      Topology::Standalone => "replicas",
      Topology::Cluster { .. } => "cluster",
      Topology::Sentinel { .. } => "sentinel",
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use serde_json::json;

  fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
  }

  #[test]
  fn defaults() {
    let c = Config::resolve(&env(&[]), &Json::Null).expect("defaults resolve");
    assert_eq!(c.endpoint, Endpoint { host: "localhost".into(), port: 6379 });
    assert_eq!(c.pool_size, 5);
    assert_eq!(c.mode(), "standalone");
  }

  #[test]
  fn url_parts() {
    let c = Config::resolve(&env(&[("REDIS_URL", "rediss://bob:s%40cret@cache.local:6390/3")]), &Json::Null)
      .expect("url resolves");
    assert!(c.tls.enabled);
    assert_eq!(c.username.as_deref(), Some("bob"));
    assert_eq!(c.password.as_deref(), Some("s@cret"));
    assert_eq!(c.endpoint.port, 6390);
    assert_eq!(c.db, 3);
  }

  #[test]
  fn options_override_env() {
    let c = Config::resolve(&env(&[("REDIS_PORT", "7000"), ("REDIS_POOL_SIZE", "2")]), &json!({ "port": 7001 }))
      .expect("resolves");
    assert_eq!(c.endpoint.port, 7001);
    assert_eq!(c.pool_size, 2);
  }

  #[test]
  fn bad_values_name_the_variable() {
    let e = Config::resolve(&env(&[("REDIS_PORT", "abc")]), &Json::Null).expect_err("bad port");
    assert!(e.message.contains("REDIS_PORT"), "{}", e.message);
    let e = Config::resolve(&env(&[("REDIS_POOL_SIZE", "-1")]), &Json::Null).expect_err("bad pool");
    assert!(e.message.contains("REDIS_POOL_SIZE"), "{}", e.message);
    let e = Config::resolve(&env(&[]), &json!({ "poolSize": "many" })).expect_err("bad option");
    assert!(e.message.contains("poolSize"), "{}", e.message);
  }

  #[test]
  fn malformed_url_hides_password() {
    let e =
      Config::resolve(&env(&[("REDIS_URL", "redis://u:hunter2@host:notaport")]), &Json::Null).expect_err("bad url");
    assert!(e.message.contains("REDIS_URL"));
    assert!(!e.message.contains("hunter2"), "{}", e.message);
    let e = Config::resolve(&env(&[("REDIS_URL", "http://x")]), &Json::Null).expect_err("bad scheme");
    assert_eq!(e.code(), "ERR_RESILIS_CONFIG");
  }

  #[test]
  fn cluster_nodes_from_numbered_vars() {
    let c = Config::resolve(
      &env(&[
        ("REDIS_CLUSTER", "true"),
        ("REDIS_NODE1_HOST", "127.0.0.1"),
        ("REDIS_NODE1_PORT", "7001"),
        ("REDIS_NODE2_HOST", "127.0.0.1"),
        ("REDIS_NODE2_PORT", "7002"),
      ]),
      &Json::Null,
    )
    .expect("cluster resolves");
    match c.topology {
      Topology::Cluster { nodes, .. } => assert_eq!(nodes.len(), 2),
      other => panic!("expected cluster, got {other:?}"),
    }
  }

  #[test]
  fn rediss_cluster_seeds_turn_tls_on() {
    let c = Config::resolve(
      &env(&[
        ("REDIS_CLUSTER_MODE", "true"),
        ("REDIS_CLUSTER_NODES", "rediss://127.0.0.1:7000,rediss://127.0.0.1:7001"),
      ]),
      &Json::Null,
    )
    .expect("cluster resolves");
    assert!(c.tls.enabled);
    let c = Config::resolve(&env(&[("REDIS_CLUSTER_NODES", "redis://127.0.0.1:7000")]), &Json::Null).expect("plain");
    assert!(!c.tls.enabled);
  }

  #[test]
  fn cluster_nodes_alone_select_cluster_mode() {
    let c = Config::resolve(
      &env(&[
        ("REDIS_URL", "redis://127.0.0.1:7000"),
        ("REDIS_CLUSTER_NODES", "127.0.0.1:7000,127.0.0.1:7001"),
        ("REDIS_CLUSTER_RETRY_DELAY_ON_CLUSTER_DOWN", "250"),
      ]),
      &Json::Null,
    )
    .expect("cluster resolves");
    match c.topology {
      Topology::Cluster { nodes, retry_delay_on_cluster_down, .. } => {
        assert_eq!(nodes.len(), 2);
        assert_eq!(retry_delay_on_cluster_down, Duration::from_millis(250));
      }
      other => panic!("expected cluster, got {other:?}"),
    }
    let c =
      Config::resolve(&env(&[("REDIS_CLUSTER", "false"), ("REDIS_CLUSTER_NODES", "127.0.0.1:7000")]), &Json::Null)
        .expect("resolves");
    assert_eq!(c.mode(), "standalone");
    let e = Config::resolve(
      &env(&[("REDIS_CLUSTER", "true"), ("REDIS_CLUSTER_RETRY_DELAY_ON_CLUSTER_DOWN", "soon")]),
      &Json::Null,
    )
    .expect_err("bad delay");
    assert!(e.message.contains("REDIS_CLUSTER_RETRY_DELAY_ON_CLUSTER_DOWN"), "{}", e.message);
  }

  #[test]
  fn sentinel_needs_sentinels() {
    let e = Config::resolve(&env(&[("REDIS_SENTINEL", "true")]), &Json::Null).expect_err("no sentinels");
    assert!(e.message.contains("REDIS_SENTINEL1_HOST"));
  }

  #[test]
  fn ipv6_and_lists() {
    assert_eq!(parse_host_port("[::1]:7000", 6379), Some(Endpoint { host: "::1".into(), port: 7000 }));
    let c = Config::resolve(
      &env(&[("REDIS_READ_REPLICAS", "true"), ("REDIS_READ_REPLICA_URLS", "redis://r1:6380,redis://r2:6381")]),
      &Json::Null,
    )
    .expect("replicas resolve");
    assert_eq!(c.read_replicas.len(), 2);
    assert_eq!(c.mode(), "replicas");
  }

  #[test]
  fn auto_memory_only_in_development() {
    let c = Config::resolve(&env(&[]), &Json::Null).expect("resolves");
    assert!(c.auto_memory);
    let c = Config::resolve(&env(&[("NODE_ENV", "production")]), &Json::Null).expect("resolves");
    assert!(!c.auto_memory);
    let c = Config::resolve(&env(&[]), &json!({ "enabled": true })).expect("resolves");
    assert!(!c.auto_memory);
  }

  #[test]
  fn disabled_is_memory_mode() {
    let c = Config::resolve(&env(&[("REDIS_ENABLED", "false")]), &Json::Null).expect("resolves");
    assert_eq!(c.mode(), "memory");
    let e = Config::resolve(&env(&[("REDIS_ENABLED", "maybe")]), &Json::Null).expect_err("bad bool");
    assert!(e.message.contains("REDIS_ENABLED"));
  }

  #[test]
  fn resilience_options_from_env_and_options() {
    let c = Config::resolve(
      &env(&[("REDIS_CIRCUIT_BREAKER_RESET_TIMEOUT", "1500"), ("REDIS_RECONNECT_MAX_DELAY", "5000")]),
      &json!({ "circuitBreaker": { "errorThreshold": 25, "volumeThreshold": 3 }, "maxInFlight": 1000, "fallback": { "mirror": false } }),
    )
    .expect("valid");
    assert_eq!(c.breaker.reset_timeout, Duration::from_millis(1500));
    assert_eq!(c.breaker.error_threshold_percentage, 25.0);
    assert_eq!(c.breaker.volume_threshold, 3);
    assert_eq!(c.max_in_flight, 1000);
    assert_eq!(c.reconnect_max_delay, Duration::from_secs(5));
    assert!(!c.fallback_mirror);
    assert_eq!(c.max_value_bytes, crate::core::limits::DEFAULT_MAX_VALUE_BYTES);
    assert_eq!(c.fallback_journal, None);
    assert!(c.fallback_enabled);
    let c = Config::resolve(&env(&[("REDIS_FALLBACK_ENABLED", "false")]), &json!({})).expect("valid");
    assert!(!c.fallback_enabled);
    use crate::core::journal_file::Fsync;
    let c = Config::resolve(
      &env(&[("REDIS_FALLBACK_JOURNAL_PATH", "/tmp/j"), ("REDIS_FALLBACK_JOURNAL_FSYNC", "always")]),
      &json!({}),
    )
    .expect("valid");
    assert_eq!(c.fallback_journal.map(|j| (j.path, j.fsync)), Some(("/tmp/j".into(), Fsync::Always)));
    let c = Config::resolve(&env(&[]), &json!({ "fallback": { "journal": { "path": "/tmp/k", "maxBytes": 4096 } } }))
      .expect("valid");
    assert_eq!(
      (c.fallback_journal.map(|j| j.fsync), c.fallback_journal_max_bytes),
      (Some(Fsync::EverySec), Some(4096))
    );
    let e = Config::resolve(
      &env(&[("REDIS_FALLBACK_JOURNAL_FSYNC", "no")]),
      &json!({ "fallback": { "journal": { "path": "/tmp/k" } } }),
    )
    .err()
    .map(|e| e.message);
    assert!(e.is_some_and(|m| m.contains("REDIS_FALLBACK_JOURNAL_FSYNC")));
    let e = Config::resolve(&env(&[]), &json!({ "fallback": { "writes": "local", "journal": { "path": "/tmp/k" } } }))
      .err()
      .map(|e| e.message);
    assert!(e.is_some_and(|m| m.contains("'local'")));
    let c = Config::resolve(&env(&[("REDIS_MAX_VALUE_BYTES", "2048")]), &json!({})).expect("valid");
    assert_eq!(c.max_value_bytes, 2048);
    let e = Config::resolve(&env(&[]), &json!({ "maxValueBytes": 0 })).err().map(|e| e.message);
    assert!(e.is_some_and(|m| m.contains("maxValueBytes")));
    let e =
      Config::resolve(&env(&[("REDIS_CIRCUIT_BREAKER_ERROR_THRESHOLD", "150")]), &json!({})).err().map(|e| e.message);
    assert!(e.is_some_and(|m| m.contains("REDIS_CIRCUIT_BREAKER_ERROR_THRESHOLD")));
    let e = Config::resolve(&env(&[]), &json!({ "reconnect": { "minDelay": 500, "maxDelay": 100 } }))
      .err()
      .map(|e| e.message);
    assert!(e.is_some_and(|m| m.contains("reconnect.maxDelay")));
  }

  #[test]
  fn compression() {
    use crate::core::compression::{Algorithm, Compression};
    let resolve = |vars: &[(&str, &str)], opts: Json| Config::resolve(&env(vars), &opts).map(|c| c.compression);
    assert_eq!(resolve(&[], json!({})).unwrap(), None, "off by default");
    assert_eq!(resolve(&[], json!({ "compression": false })).unwrap(), None);
    assert_eq!(
      resolve(&[], json!({ "compression": { "algorithm": "zstd", "minBytes": 64 } })).unwrap(),
      Some(Compression { algorithm: Algorithm::Zstd, min_bytes: 64 })
    );
    assert_eq!(
      resolve(&[], json!({ "compression": "lz4" })).unwrap(),
      Some(Compression { algorithm: Algorithm::Lz4, min_bytes: 1024 })
    );
    assert_eq!(
      resolve(&[("REDIS_COMPRESSION", "LZ4"), ("REDIS_COMPRESSION_MIN_BYTES", "10")], json!({})).unwrap(),
      Some(Compression { algorithm: Algorithm::Lz4, min_bytes: 10 })
    );
    assert_eq!(resolve(&[("REDIS_COMPRESSION", "off")], json!({})).unwrap(), None);
    let err = |vars: &[(&str, &str)], opts: Json| {
      let e = resolve(vars, opts).expect_err("refused");
      assert_eq!(e.kind, crate::core::error::ErrorKind::Config);
      e.message
    };
    assert!(err(&[], json!({ "compression": { "algorithm": "gzip" } })).contains("compression.algorithm"));
    assert!(err(&[], json!({ "compression": {} })).contains("compression.algorithm"));
    assert!(err(&[], json!({ "compression": { "algorithm": "lz4", "minBytes": -1 } })).contains("compression.minBytes"));
    assert!(
      err(&[], json!({ "compression": { "algorithm": "lz4", "minBytes": "many" } })).contains("compression.minBytes")
    );
    assert!(err(&[], json!({ "compression": { "algorithm": "lz4", "level": 3 } })).contains("`level`"));
    assert!(err(&[], json!({ "compression": 5 })).contains("option `compression`"));
    assert!(err(&[("REDIS_COMPRESSION", "brotli")], json!({})).contains("REDIS_COMPRESSION"));
    assert!(err(&[("REDIS_COMPRESSION", "zstd"), ("REDIS_COMPRESSION_MIN_BYTES", "x")], json!({}))
      .contains("REDIS_COMPRESSION_MIN_BYTES"));
  }
}
