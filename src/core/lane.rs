//! The fast lane: one pipelined connection (plain TCP or TLS) to a Redis
//! node for ordinary commands. fred flushes the socket after every custom
//! command (one `writev` and one TCP segment each); here a whole JS tick's
//! batch is one write, issued straight from the calling thread, and the
//! driver (Node's event loop, or tokio) hands each batch's replies to its
//! callback in one go.
//!
//! Over TLS the lane holds the rustls session itself: a batch is encrypted
//! into records by the thread that submits it and written in the same
//! call, and replies are decrypted where they are read (no thread hop).
//!
//! Anything the lane cannot carry (blocking commands, connection state,
//! sentinel) stays on fred. A dead lane refuses new batches, so callers
//! fall back to fred until it is reopened.

use std::collections::VecDeque;
use std::io::{ErrorKind as IoKind, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;
use tokio_rustls::rustls::ClientConnection;

use crate::core::command::Command;
use crate::core::commands;
use crate::core::config::Endpoint;
use crate::core::error::{Error, ErrorKind, Result, Sent};
use crate::core::events::{Event, Events};
use crate::core::link::{self, LinkTls};
use crate::core::reply::Reply;
use crate::core::resp;
use crate::core::wire::Wire;

/// Receives a batch's replies, in the batch's order.
pub type Done = Box<dyn FnOnce(Vec<Result<Reply>>) + Send>;

/// What the connection needs before it carries commands.
#[derive(Clone, Debug)]
pub struct LaneSettings {
  pub endpoint: Endpoint,
  pub username: Option<String>,
  pub password: Option<String>,
  pub db: u8,
  pub connection_name: Option<String>,
  pub connect_timeout: Duration,
  pub command_timeout: Duration,
  /// Commands sent and not yet answered beyond which batches are refused
  /// with `Backpressure` (nothing is queued without bound).
  pub max_in_flight: usize,
  /// `CLIENT TRACKING on REDIRECT <id>` for the near cache.
  pub tracking_redirect: Option<i64>,
  /// TLS for this connection (`rediss://`, `tls` options).
  pub tls: Option<LinkTls>,
  /// Told of every connection `Lane::open` makes or fails to make.
  pub events: Events,
}

struct InFlight {
  expected: usize,
  results: Vec<Result<Reply>>,
  /// `None` once the batch timed out: its replies are read and dropped.
  done: Option<Done>,
  deadline: Instant,
}

#[derive(Default)]
struct State {
  in_flight: VecDeque<InFlight>,
  /// Bytes not yet written, in order: later batches queue behind them.
  backlog: Wire,
  dead: bool,
  /// Commands in `in_flight`, answered or not.
  pending: usize,
  /// Batches queue in `backlog` without a write until `uncork`.
  corked: bool,
  /// A TLS lane's session: writers encrypt into it and the reader decrypts
  /// from it, under this lock. Records it holds are written before any
  /// later batch (they are bytes waiting, like `backlog`).
  tls: Option<ClientConnection>,
}

impl State {
  /// Bytes wait for the socket (the driver has been asked to write them).
  fn output_waiting(&self) -> bool {
    !self.backlog.is_empty() || self.tls.as_ref().is_some_and(|t| t.wants_write())
  }
}

/// What the reader owns: the reply bytes not yet parsed, and for TLS the
/// records as read from the socket.
struct Inbox {
  buf: BytesMut,
  raw: Vec<u8>,
}

/// Size of one socket read.
const READ_CHUNK: usize = 64 * 1024;

fn would_block(e: &std::io::Error) -> bool {
  matches!(e.kind(), IoKind::WouldBlock | IoKind::Interrupted)
}

/// Writes the session's pending records; `WouldBlock` while the socket is full.
fn flush_tls(tls: &mut ClientConnection, mut socket: &std::net::TcpStream) -> std::io::Result<()> {
  while tls.wants_write() {
    match tls.write_tls(&mut socket) {
      Ok(0) => return Err(std::io::Error::new(IoKind::WriteZero, "the socket took no bytes")),
      Ok(_) => {}
      Err(e) if e.kind() == IoKind::Interrupted => {}
      Err(e) => return Err(e),
    }
  }
  Ok(())
}

/// True for commands that can share the pipelined connection: nothing
/// that blocks it, changes its state or turns it into something else.
pub fn carries(cmd: &Command) -> bool {
  match cmd.info() {
    None => true,
    Some(c) => !c.has(commands::STATEFUL) && (!c.may_block() || !cmd.is_blocking()),
  }
}

fn connection_error(message: impl Into<String>, sent: Sent) -> Error {
  Error::new(ErrorKind::Connection, message).with_sent(sent)
}

static NEXT_SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Whoever watches the socket: told when bytes are waiting to be written.
/// The binding drives the lane from Node's own event loop (no thread hop
/// for replies); `drive_with_tokio` is the portable driver.
pub trait LaneDriver: Send + Sync {
  /// Called on the thread that submits (the JS thread in the binding).
  fn want_write(&self);
  /// The lane died (any thread); the socket is already shut down.
  fn closed(&self) {}
}

pub struct Lane {
  state: Mutex<State>,
  /// Non-blocking; read and written only through `read_ready`,
  /// `write_ready` and `submit`, whichever thread the driver uses.
  socket: std::net::TcpStream,
  driver: std::sync::OnceLock<Box<dyn LaneDriver>>,
  /// Runs once the lane is dead (the near cache flushes: the server
  /// forgets a closed connection's tracking).
  death_hook: std::sync::OnceLock<Box<dyn Fn() + Send + Sync>>,
  command_timeout: Duration,
  max_in_flight: usize,
  /// Distinguishes lanes over a service's life (the near cache flushes
  /// when the lane its reads came from is replaced).
  serial: u64,
  /// The subscriber this lane's reads are tracked to; 0: not tracked.
  tracking: i64,
  alive: AtomicBool,
  /// Replaced by a newer lane: takes no new batches, closes once drained.
  retiring: AtomicBool,
  /// Only the driver reads.
  inbox: Mutex<Inbox>,
}

impl Lane {
  /// Opens and authenticates the connection. It carries no command until
  /// a driver is attached (`attach`). The attempt is an event (tracing).
  pub async fn open(settings: &LaneSettings) -> Result<Arc<Lane>> {
    let started = Instant::now();
    let opened = Lane::connect(settings).await;
    settings.events.emit(Event::Connection {
      kind: "lane",
      address: settings.endpoint.host.clone(),
      port: settings.endpoint.port,
      duration_ms: Some(started.elapsed().as_secs_f64() * 1e3),
      error: opened.as_ref().err().map(|e| (e.code(), e.message.clone())),
    });
    opened
  }

  async fn connect(settings: &LaneSettings) -> Result<Arc<Lane>> {
    let mut stream = link::connect(&settings.endpoint, settings.tls.as_ref(), settings.connect_timeout).await?;
    let handshake = handshake_commands(settings);
    if !handshake.is_empty() {
      match tokio::time::timeout(settings.connect_timeout, run_handshake(&mut stream, &handshake)).await {
        Ok(r) => r?,
        Err(_) => return Err(connection_error("fast lane setup timed out", Sent::Unknown)),
      }
    }
    let (socket, tls) = stream.into_parts()?;
    let raw = if tls.is_some() { vec![0; READ_CHUNK] } else { Vec::new() };
    let lane = Arc::new(Lane {
      state: Mutex::new(State { tls, ..State::default() }),
      socket,
      driver: std::sync::OnceLock::new(),
      death_hook: std::sync::OnceLock::new(),
      command_timeout: settings.command_timeout,
      max_in_flight: settings.max_in_flight.max(1),
      serial: NEXT_SERIAL.fetch_add(1, Ordering::Relaxed),
      tracking: settings.tracking_redirect.unwrap_or(0),
      alive: AtomicBool::new(true),
      retiring: AtomicBool::new(false),
      inbox: Mutex::new(Inbox { buf: BytesMut::with_capacity(READ_CHUNK), raw }),
    });
    tokio::spawn(lane.clone().sweep_loop());
    Ok(lane)
  }

  /// Hands the lane to its driver; from then on it carries commands.
  pub fn attach(&self, driver: Box<dyn LaneDriver>) {
    let _ = self.driver.set(driver);
  }

  /// `hook` runs when the lane dies (at once if it already has).
  pub fn on_death(&self, hook: Box<dyn Fn() + Send + Sync>) {
    let _ = self.death_hook.set(hook);
    if !self.is_alive() {
      self.run_death_hook();
    }
  }

  fn run_death_hook(&self) {
    if let Some(hook) = self.death_hook.get() {
      hook();
    }
  }

  pub fn is_driven(&self) -> bool {
    self.driver.get().is_some()
  }

  pub fn is_alive(&self) -> bool {
    self.alive.load(Ordering::Acquire)
  }

  /// Usable for new batches.
  pub fn is_open(&self) -> bool {
    self.is_alive() && !self.retiring.load(Ordering::Acquire)
  }

  /// Stops taking batches; the connection closes once the ones in flight
  /// are answered (unlike `close`, nothing in flight fails).
  pub fn retire(&self) {
    self.retiring.store(true, Ordering::Release);
    let idle = self.lock().in_flight.is_empty();
    if idle {
      self.close();
    }
  }

  pub fn serial(&self) -> u64 {
    self.serial
  }

  pub fn tracking(&self) -> i64 {
    self.tracking
  }

  #[cfg(unix)]
  pub fn raw_fd(&self) -> std::os::fd::RawFd {
    use std::os::fd::AsRawFd;
    self.socket.as_raw_fd()
  }

  fn lock(&self) -> MutexGuard<'_, State> {
    match self.state.lock() {
      Ok(g) => g,
      Err(poisoned) => poisoned.into_inner(),
    }
  }

  /// Encodes commands for `send`: off the lock, and while the caller
  /// still borrows them.
  pub fn encode<'a>(cmds: impl IntoIterator<Item = &'a Command>) -> (Wire, usize) {
    let mut wire = Wire::new();
    let mut n = 0;
    for cmd in cmds {
      resp::encode(&mut wire, cmd);
      n += 1;
    }
    (wire, n)
  }

  /// Sends a batch; `done` gets its replies.
  pub fn submit(&self, cmds: &[Command], done: Done) -> std::result::Result<(), Done> {
    let (bytes, n) = Lane::encode(cmds);
    self.send(bytes, n, done)
  }

  /// Sends `n` encoded commands; `done` gets their replies. The bytes go
  /// out with a non-blocking write when the socket takes them, else the
  /// driver is asked to finish the job. A dead or undriven lane hands
  /// `done` back.
  pub fn send(&self, wire: Wire, n: usize, done: Done) -> std::result::Result<(), Done> {
    let Some(driver) = self.driver.get() else { return Err(done) };
    let mut st = self.lock();
    if st.dead || self.retiring.load(Ordering::Acquire) {
      return Err(done);
    }
    if st.pending > 0 && st.pending + n > self.max_in_flight {
      drop(st);
      let e = Error::new(
        ErrorKind::Backpressure,
        format!(
          "{} commands are waiting for Redis (maxInFlight): retry later or raise maxInFlight",
          self.max_in_flight
        ),
      );
      done((0..n).map(|_| Err(e.clone())).collect());
      return Ok(());
    }
    st.pending += n;
    st.in_flight.push_back(InFlight {
      expected: n,
      results: Vec::with_capacity(n),
      done: Some(done),
      deadline: Instant::now() + self.command_timeout,
    });
    if st.corked || st.output_waiting() {
      st.backlog.append(wire);
      return Ok(());
    }
    if let Some(e) = self.write_now(&mut st, wire, driver.as_ref()) {
      drop(st);
      self.write_failed(e);
    }
    Ok(())
  }

  /// Batches sent from now on wait for `uncork` and go out in one write
  /// (several batches of one JS tick: one syscall, each settling apart).
  pub fn cork(&self) {
    self.lock().corked = true;
  }

  /// Writes what `cork` held back.
  pub fn uncork(&self) {
    let Some(driver) = self.driver.get() else { return };
    let mut st = self.lock();
    st.corked = false;
    if st.dead || st.backlog.is_empty() {
      return;
    }
    let wire = std::mem::take(&mut st.backlog);
    if let Some(e) = self.write_now(&mut st, wire, driver.as_ref()) {
      drop(st);
      self.write_failed(e);
    }
  }

  /// Writes `wire` (the backlog is empty or taken); what the socket does
  /// not take becomes the backlog and the driver is asked to finish. A
  /// failed write kills the lane: the caller fails the batches returned,
  /// after releasing the lock.
  #[must_use]
  fn write_now(&self, st: &mut State, mut wire: Wire, driver: &dyn LaneDriver) -> Option<std::io::Error> {
    let written = match st.tls.as_mut() {
      None => wire.write_to(&self.socket).inspect_err(|e| {
        if would_block(e) {
          st.backlog = wire;
        }
      }),
      // Encrypted whole (rustls queues the records), then written.
      Some(tls) => wire.write_all_to(&mut tls.writer()).and_then(|()| flush_tls(tls, &self.socket)),
    };
    match written {
      Ok(()) => None,
      Err(e) if would_block(&e) => {
        driver.want_write();
        None
      }
      Err(e) => Some(e),
    }
  }

  /// A write failed (the lock is released): Redis may have refused the
  /// request (a bulk string over its proto-max-bulk-len) with a protocol
  /// error and closed while we were still writing. What it said is read
  /// first, so the batches behind fail as never run, not as an outage;
  /// otherwise the lane dies with the write's error.
  fn write_failed(&self, e: std::io::Error) {
    if self.read_ready() {
      let mut st = self.lock();
      let failed = self.kill(&mut st);
      drop(st);
      fail_all(failed, connection_error(format!("write to Redis failed: {e}"), Sent::Unknown));
    }
  }

  /// The driver saw the socket writable: writes what is waiting. True
  /// while bytes remain (keep watching for writability).
  pub fn write_ready(&self) -> bool {
    let mut st = self.lock();
    while st.output_waiting() && !st.dead {
      let State { backlog, tls, .. } = &mut *st;
      let written = match tls.as_mut() {
        None => backlog.write_to(&self.socket),
        Some(tls) => {
          std::mem::take(backlog).write_all_to(&mut tls.writer()).and_then(|()| flush_tls(tls, &self.socket))
        }
      };
      match written {
        Ok(()) => {}
        Err(e) if e.kind() == IoKind::WouldBlock => return true,
        Err(e) if e.kind() == IoKind::Interrupted => continue,
        Err(e) => {
          drop(st);
          self.write_failed(e);
          return false;
        }
      }
    }
    false
  }

  /// Reads what the socket has into the inbox (decrypted on a TLS lane).
  /// `Some(short)`: bytes came, `short` when the socket had no more;
  /// `None`: the server closed the connection.
  fn fill(&self, inbox: &mut Inbox) -> std::io::Result<Option<bool>> {
    let Inbox { buf, raw } = inbox;
    if raw.is_empty() {
      if buf.capacity() - buf.len() < 16 * 1024 {
        buf.reserve(READ_CHUNK);
      }
      let spare = buf.spare_capacity_mut();
      // SAFETY: `read` only writes initialised bytes into the slice it
      // is given, and `set_len` covers exactly what it reported.
      let slice = unsafe { std::slice::from_raw_parts_mut(spare.as_mut_ptr().cast::<u8>(), spare.len()) };
      let slice_len = slice.len();
      let n = (&self.socket).read(slice)?;
      if n == 0 {
        return Ok(None);
      }
      let len = buf.len();
      unsafe { buf.set_len(len + n) };
      return Ok(Some(n < slice_len));
    }
    let n = (&self.socket).read(raw)?;
    if n == 0 {
      return Ok(None);
    }
    let mut st = self.lock();
    let Some(tls) = st.tls.as_mut() else { return Err(std::io::Error::other("the TLS session is gone")) };
    let mut records: &[u8] = &raw[..n];
    while !records.is_empty() {
      if tls.read_tls(&mut records)? == 0 {
        return Err(std::io::Error::new(IoKind::InvalidData, "the TLS session took no bytes"));
      }
      let io = tls.process_new_packets().map_err(|e| std::io::Error::new(IoKind::InvalidData, e))?;
      let mut plain = io.plaintext_bytes_to_read();
      buf.reserve(plain);
      while plain > 0 {
        let spare = buf.spare_capacity_mut();
        // SAFETY: as above.
        let slice = unsafe { std::slice::from_raw_parts_mut(spare.as_mut_ptr().cast::<u8>(), spare.len()) };
        let got = tls.reader().read(slice)?;
        if got == 0 {
          break;
        }
        let len = buf.len();
        unsafe { buf.set_len(len + got) };
        plain = plain.saturating_sub(got);
      }
    }
    // The session may owe the server a record (a key update, an alert).
    match flush_tls(tls, &self.socket) {
      Ok(()) => {}
      Err(e) if would_block(&e) => {
        if let Some(driver) = self.driver.get() {
          driver.want_write();
        }
      }
      Err(e) => return Err(e),
    }
    Ok(Some(n < raw.len()))
  }

  /// The driver saw the socket readable: reads everything available and
  /// settles the batches whose replies are complete. False once dead.
  pub fn read_ready(&self) -> bool {
    let mut inbox = match self.inbox.lock() {
      Ok(b) => b,
      Err(poisoned) => poisoned.into_inner(),
    };
    let mut replies = Vec::new();
    let failure = loop {
      match self.fill(&mut inbox) {
        Ok(None) => break Some(connection_error("Redis closed the connection", Sent::Unknown)),
        Ok(Some(short)) => {
          let broken = loop {
            match resp::next_reply(&mut inbox.buf) {
              Ok(Some(r)) => replies.push(r),
              Ok(None) => break None,
              Err(e) => break Some(e.with_sent(Sent::Unknown)),
            }
          };
          if broken.is_some() {
            break broken;
          }
          // A short read took everything the socket had: stop here rather
          // than pay a second syscall for EAGAIN (libuv polls are level-
          // triggered; with tokio, later bytes raise a new edge).
          if short {
            break None;
          }
        }
        Err(e) if e.kind() == IoKind::WouldBlock => break None,
        Err(e) if e.kind() == IoKind::Interrupted => continue,
        Err(e) => break Some(connection_error(format!("connection to Redis failed: {e}"), Sent::Unknown)),
      }
    };
    drop(inbox);
    // Redis answers a malformed or oversized request (a bulk string over
    // its proto-max-bulk-len) with a protocol error, then closes the
    // connection without running what followed it: those commands fail
    // as never run, not as an outage.
    let refused = replies.iter().any(|r| r.as_ref().is_err_and(|e| e.message.starts_with("ERR Protocol error")));
    self.deliver(&mut replies);
    let failure = if refused { Some(Error::unrun_after_protocol_error()) } else { failure };
    match failure {
      Some(e) => {
        self.die(e);
        false
      }
      None => self.is_alive(),
    }
  }

  /// Marks the lane dead and takes every batch still waiting.
  fn kill(&self, st: &mut State) -> Vec<InFlight> {
    st.dead = true;
    st.pending = 0;
    self.alive.store(false, Ordering::Release);
    if let Some(driver) = self.driver.get() {
      driver.closed();
    }
    self.run_death_hook();
    st.in_flight.drain(..).collect()
  }

  /// Fails every waiting batch and refuses new ones.
  pub fn die(&self, error: Error) {
    let failed = {
      let mut st = self.lock();
      if st.dead && st.in_flight.is_empty() {
        return;
      }
      self.kill(&mut st)
    };
    let _ = self.socket.shutdown(std::net::Shutdown::Both);
    fail_all(failed, error);
  }

  /// Stops the lane: waiting batches fail as closed; the driver sees the
  /// socket close and lets go.
  pub fn close(&self) {
    const QUIT: &[u8] = b"*1\r\n$4\r\nQUIT\r\n";
    {
      let mut st = self.lock();
      match st.tls.as_mut() {
        None => {
          let _ = (&self.socket).write(QUIT);
        }
        Some(tls) => {
          let _ = tls.writer().write_all(QUIT);
          tls.send_close_notify();
          let _ = flush_tls(tls, &self.socket);
        }
      }
    }
    self.die(Error::closed().with_sent(Sent::Unknown));
  }

  /// Hands parsed replies to their batches, in order; completed batches'
  /// callbacks run after the lock is released.
  fn deliver(&self, replies: &mut Vec<Result<Reply>>) {
    if replies.is_empty() {
      return;
    }
    let mut finished = Vec::new();
    {
      let mut st = self.lock();
      for reply in replies.drain(..) {
        let Some(front) = st.in_flight.front_mut() else { break };
        front.results.push(if front.done.is_some() { reply } else { Ok(Reply::Nil) });
        if front.results.len() >= front.expected {
          if let Some(batch) = st.in_flight.pop_front() {
            st.pending = st.pending.saturating_sub(batch.expected);
            if let Some(done) = batch.done {
              finished.push((done, batch.results));
            }
          }
        }
      }
    }
    let drained_retiree = self.retiring.load(Ordering::Acquire) && self.lock().in_flight.is_empty();
    for (done, results) in finished {
      done(results);
    }
    if drained_retiree {
      self.close();
    }
  }

  /// Batches past the command timeout settle with a timeout error; their
  /// late replies are still read (to keep the order) and dropped.
  async fn sweep_loop(self: Arc<Self>) {
    let tick = (self.command_timeout / 4).clamp(Duration::from_millis(5), Duration::from_millis(100));
    loop {
      tokio::time::sleep(tick).await;
      let now = Instant::now();
      let mut expired = Vec::new();
      {
        let mut st = self.lock();
        if st.dead {
          return;
        }
        for batch in st.in_flight.iter_mut() {
          if batch.deadline > now {
            break;
          }
          if let Some(done) = batch.done.take() {
            expired.push((done, batch.expected));
          }
        }
      }
      for (done, n) in expired {
        let e = Error::new(
          ErrorKind::Timeout,
          format!("no reply within the command timeout ({} ms)", self.command_timeout.as_millis()),
        );
        done((0..n).map(|_| Err(e.clone())).collect());
      }
    }
  }
}

/// The portable driver: tokio watches the socket and runs reads and
/// pending writes on its worker threads.
#[cfg(unix)]
pub fn drive_with_tokio(lane: Arc<Lane>) -> Result<()> {
  use tokio::io::unix::AsyncFd;
  use tokio::io::Interest;
  struct NotifyWriter(Arc<Notify>);
  impl LaneDriver for NotifyWriter {
    fn want_write(&self) {
      self.0.notify_one();
    }
    fn closed(&self) {
      self.0.notify_one();
    }
  }
  struct LaneFd(Arc<Lane>);
  impl std::os::fd::AsRawFd for LaneFd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
      self.0.raw_fd()
    }
  }
  // SAFETY: the socket stays open while the registration's `Arc<Lane>` lives.
  let fd = unsafe { AsyncFd::register_with_interest(LaneFd(lane.clone()), Interest::READABLE | Interest::WRITABLE) }
    .map_err(|e| connection_error(e.to_string(), Sent::No))?;
  let fd = Arc::new(fd);
  let writes = Arc::new(Notify::new());
  lane.attach(Box::new(NotifyWriter(writes.clone())));
  let (reader, read_fd) = (lane.clone(), fd.clone());
  tokio::spawn(async move {
    while let Ok(mut ready) = read_fd.readable().await {
      ready.clear_ready();
      if !reader.read_ready() {
        break;
      }
    }
  });
  tokio::spawn(async move {
    while lane.is_alive() {
      writes.notified().await;
      while lane.write_ready() {
        match fd.writable().await {
          Ok(mut ready) => ready.clear_ready(),
          Err(_) => break,
        }
      }
    }
  });
  Ok(())
}

async fn run_handshake<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, handshake: &[Command]) -> Result<()> {
  let mut buf = BytesMut::new();
  for cmd in handshake {
    resp::encode(&mut buf, cmd);
  }
  stream.write_all(&buf).await.map_err(|e| connection_error(e.to_string(), Sent::Unknown))?;
  stream.flush().await.map_err(|e| connection_error(e.to_string(), Sent::Unknown))?;
  let mut read = BytesMut::with_capacity(256);
  let mut seen = 0;
  while seen < handshake.len() {
    while let Some(reply) = resp::next_reply(&mut read)? {
      seen += 1;
      if let Err(e) = reply {
        // The reply names the failure (WRONGPASS, NOAUTH, invalid DB); never the secret.
        return Err(Error::config(format!("Redis refused the connection setup: {}", e.message)));
      }
    }
    if seen < handshake.len()
      && stream.read_buf(&mut read).await.map_err(|e| connection_error(e.to_string(), Sent::Unknown))? == 0
    {
      return Err(connection_error("Redis closed the connection during setup", Sent::Unknown));
    }
  }
  Ok(())
}

fn fail_all(batches: Vec<InFlight>, error: Error) {
  for batch in batches {
    if let Some(done) = batch.done {
      // Replies already read stand: those commands were answered.
      let mut results = batch.results;
      let answered = results.len().min(batch.expected);
      results.truncate(answered);
      results.extend((answered..batch.expected).map(|_| Err(error.clone())));
      done(results);
    }
  }
}

/// `AUTH [user] password` when a password is configured.
pub fn auth_command(s: &LaneSettings) -> Option<Command> {
  use fred::prelude::Value;
  let password = s.password.as_ref()?;
  let mut args = Vec::new();
  if let Some(user) = &s.username {
    args.push(Value::from(user.as_str()));
  }
  args.push(Value::from(password.as_str()));
  Some(Command::new("AUTH", args))
}

fn handshake_commands(s: &LaneSettings) -> Vec<Command> {
  use fred::prelude::Value;
  let mut cmds: Vec<Command> = auth_command(s).into_iter().collect();
  if s.db != 0 {
    cmds.push(Command::new("SELECT", vec![Value::Integer(i64::from(s.db))]));
  }
  if let Some(name) = &s.connection_name {
    cmds.push(Command::new("CLIENT", vec![Value::from("SETNAME"), Value::from(name.as_str())]));
  }
  if let Some(id) = s.tracking_redirect {
    let args = ["TRACKING", "on", "REDIRECT"].iter().map(|a| Value::from(*a)).chain([Value::Integer(id)]).collect();
    cmds.push(Command::new("CLIENT", args));
  }
  cmds
}

#[cfg(all(test, unix))]
mod tests {
  use super::*;
  use fred::prelude::Value;

  use crate::core::test_server::Server;

  fn settings(port: u16) -> LaneSettings {
    LaneSettings {
      endpoint: Endpoint { host: "127.0.0.1".into(), port },
      username: None,
      password: None,
      db: 2,
      connection_name: Some("lane-test".into()),
      connect_timeout: Duration::from_secs(2),
      command_timeout: Duration::from_secs(2),
      max_in_flight: 1_000_000,
      tracking_redirect: None,
      tls: None,
      events: Events::default(),
    }
  }

  async fn run(lane: &Lane, cmds: Vec<Command>) -> Vec<Result<Reply>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let done: Done = Box::new(move |r| {
      let _ = tx.send(r);
    });
    assert!(lane.submit(&cmds, done).is_ok(), "a live, driven lane takes the batch");
    rx.await.expect("the batch settles")
  }

  fn cmd(name: &str, args: &[&str]) -> Command {
    Command::new(name.to_string(), args.iter().map(|a| Value::from(*a)).collect())
  }

  #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
  async fn batches_keep_order_errors_stay_in_place_and_a_dead_lane_refuses_work() {
    let server = Server::start();
    let lane = Lane::open(&settings(server.1)).await.expect("lane opens");
    let undriven: Done = Box::new(|_| {});
    assert!(lane.submit(&[cmd("PING", &[])], undriven).is_err(), "no driver yet: handed back");
    drive_with_tokio(lane.clone()).expect("driver");

    let big = "v".repeat(3 * 1024 * 1024);
    let mut batch =
      vec![cmd("SET", &["k", "1"]), cmd("INCR", &["k"]), cmd("HSET", &["k", "f", "v"]), cmd("GET", &["k"])];
    batch.push(Command::new("SET", vec![Value::from("big"), Value::from(big.as_str())]));
    batch.push(cmd("STRLEN", &["big"]));
    let out = run(&lane, batch).await;
    assert_eq!(out.len(), 6);
    assert_eq!(out[1].as_ref().ok(), Some(&Reply::Int(2)));
    assert!(out[2].as_ref().is_err_and(|e| e.kind == ErrorKind::Reply && e.message.starts_with("WRONGTYPE")));
    assert_eq!(out[3].as_ref().ok(), Some(&Reply::Bytes(bytes::Bytes::from_static(b"2"))));
    assert_eq!(out[5].as_ref().ok(), Some(&Reply::Int(big.len() as i64)));
    // The handshake selected db 2 and named the connection.
    let info = run(&lane, vec![cmd("CLIENT", &["INFO"])]).await;
    let text = match &info[0] {
      Ok(Reply::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
      other => panic!("CLIENT INFO: {other:?}"),
    };
    assert!(text.contains("db=2") && text.contains("name=lane-test"), "{text}");

    // The server goes away: the driver sees the close and the lane dies.
    drop(server);
    for _ in 0..200 {
      if !lane.is_alive() {
        break;
      }
      tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!lane.is_alive());
    let refused: Done = Box::new(|_| {});
    assert!(lane.submit(&[cmd("PING", &[])], refused).is_err());
  }

  #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
  async fn a_wrong_password_is_a_config_error_without_the_secret() {
    let server = Server::start();
    let mut s = settings(server.1);
    s.password = Some("Very-Secret-1".into());
    let err = Lane::open(&s).await.err().expect("refused");
    assert_eq!(err.kind, ErrorKind::Config);
    assert!(!err.message.contains("Very-Secret-1"), "{}", err.message);
  }

  #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
  async fn every_open_is_an_event_with_its_address_and_outcome() {
    let server = Server::start();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut s = settings(server.1);
    let sink = seen.clone();
    s.events.set(Box::new(move |e| sink.lock().unwrap_or_else(|p| p.into_inner()).push(e)));
    let _lane = Lane::open(&s).await.expect("lane opens");
    s.password = Some("Very-Secret-2".into());
    assert!(Lane::open(&s).await.is_err());
    let seen = std::mem::take(&mut *seen.lock().unwrap_or_else(|p| p.into_inner()));
    assert_eq!(seen.len(), 2);
    for (event, failed) in seen.iter().zip([false, true]) {
      let Event::Connection { kind, address, port, duration_ms, error } = event else { panic!("{event:?}") };
      assert_eq!((*kind, address.as_str(), *port), ("lane", "127.0.0.1", server.1));
      assert!(duration_ms.is_some_and(|ms| ms >= 0.0));
      assert_eq!(error.is_some(), failed, "{error:?}");
    }
    assert!(!format!("{seen:?}").contains("Very-Secret-2"));
  }

  #[test]
  fn connection_state_commands_stay_off_the_lane() {
    assert!(carries(&cmd("get", &["k"])));
    assert!(!carries(&cmd("select", &["1"])));
    assert!(!carries(&cmd("BLPOP", &["q", "0"])));
    assert!(!carries(&cmd("Subscribe", &["c"])));
  }
}
