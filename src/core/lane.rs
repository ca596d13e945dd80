//! The fast lane: one pipelined plain-TCP connection to a standalone
//! Redis for ordinary commands. fred flushes the socket after every custom
//! command (one `writev` and one TCP segment each); here a whole JS tick's
//! batch is one write, issued straight from the calling thread, and the
//! reader task hands each batch's replies to its callback in one go.
//!
//! Anything the lane cannot carry (blocking commands, connection state,
//! TLS, cluster, sentinel) stays on fred. A dead lane refuses new batches,
//! so callers fall back to fred until it is reopened.

use std::collections::VecDeque;
use std::io::ErrorKind as IoKind;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::Notify;

use crate::core::command::Command;
use crate::core::config::Endpoint;
use crate::core::error::{Error, ErrorKind, Result, Sent};
use crate::core::reply::Reply;
use crate::core::resp;

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
  /// Bytes not yet written, in order; the writer task owns the socket
  /// while `writing` is set, so later batches queue behind them.
  backlog: BytesMut,
  writing: bool,
  dead: bool,
}

pub struct Lane {
  state: Mutex<State>,
  writer: OwnedWriteHalf,
  wake_writer: Notify,
  command_timeout: Duration,
  alive: AtomicBool,
}

/// True for commands that can share the pipelined connection: nothing
/// that blocks it, changes its state or turns it into something else.
pub fn carries(cmd: &Command) -> bool {
  if cmd.is_blocking() {
    return false;
  }
  const STATEFUL: [&str; 19] = [
    "select", "auth", "hello", "quit", "reset", "client", "watch", "unwatch", "multi", "exec", "discard",
    "subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe", "monitor", "sync", "psync",
  ];
  !STATEFUL.iter().any(|s| cmd.name.eq_ignore_ascii_case(s)) && !cmd.name.eq_ignore_ascii_case("shutdown")
}

fn connection_error(message: impl Into<String>, sent: Sent) -> Error {
  Error::new(ErrorKind::Connection, message).with_sent(sent)
}

impl Lane {
  /// Opens and authenticates the connection, then starts its tasks.
  pub async fn open(settings: &LaneSettings) -> Result<Arc<Lane>> {
    let addr = (settings.endpoint.host.as_str(), settings.endpoint.port);
    let mut stream = match tokio::time::timeout(settings.connect_timeout, TcpStream::connect(addr)).await {
      Ok(Ok(s)) => s,
      Ok(Err(e)) => return Err(connection_error(format!("fast lane connect failed: {e}"), Sent::No)),
      Err(_) => return Err(connection_error("fast lane connect timed out", Sent::No)),
    };
    let _ = stream.set_nodelay(true);
    let handshake = handshake_commands(settings);
    if !handshake.is_empty() {
      let mut buf = BytesMut::new();
      for cmd in &handshake {
        resp::encode(&mut buf, cmd);
      }
      let exchange = async {
        stream.write_all(&buf).await.map_err(|e| connection_error(e.to_string(), Sent::Unknown))?;
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
      };
      match tokio::time::timeout(settings.connect_timeout, exchange).await {
        Ok(r) => r?,
        Err(_) => return Err(connection_error("fast lane setup timed out", Sent::Unknown)),
      }
    }
    let (reader, writer) = stream.into_split();
    let lane = Arc::new(Lane {
      state: Mutex::new(State::default()),
      writer,
      wake_writer: Notify::new(),
      command_timeout: settings.command_timeout,
      alive: AtomicBool::new(true),
    });
    tokio::spawn(lane.clone().read_loop(reader));
    tokio::spawn(lane.clone().write_loop());
    tokio::spawn(lane.clone().sweep_loop());
    Ok(lane)
  }

  pub fn is_alive(&self) -> bool {
    self.alive.load(Ordering::Acquire)
  }

  fn lock(&self) -> MutexGuard<'_, State> {
    match self.state.lock() {
      Ok(g) => g,
      Err(poisoned) => poisoned.into_inner(),
    }
  }

  /// Sends a batch; `done` gets its replies. Called on the JS thread: the
  /// bytes go out with a non-blocking write when the socket takes them,
  /// else the writer task finishes the job. A dead lane hands `done` back.
  pub fn submit(&self, cmds: &[Command], done: Done) -> std::result::Result<(), Done> {
    let mut bytes = BytesMut::new();
    for cmd in cmds {
      resp::encode(&mut bytes, cmd);
    }
    let mut st = self.lock();
    if st.dead {
      return Err(done);
    }
    st.in_flight.push_back(InFlight {
      expected: cmds.len(),
      results: Vec::with_capacity(cmds.len()),
      done: Some(done),
      deadline: Instant::now() + self.command_timeout,
    });
    if st.writing || !st.backlog.is_empty() {
      st.backlog.unsplit(bytes);
      return Ok(());
    }
    match self.writer.try_write(&bytes) {
      Ok(n) if n == bytes.len() => {},
      Ok(n) => {
        let _ = bytes.split_to(n);
        st.backlog = bytes;
        self.wake_writer.notify_one();
      },
      Err(e) if e.kind() == IoKind::WouldBlock => {
        st.backlog = bytes;
        self.wake_writer.notify_one();
      },
      Err(e) => {
        let failed = self.kill(&mut st);
        drop(st);
        fail_all(failed, connection_error(format!("write to Redis failed: {e}"), Sent::Unknown));
      },
    }
    Ok(())
  }

  /// Marks the lane dead and takes every batch still waiting.
  fn kill(&self, st: &mut State) -> Vec<InFlight> {
    st.dead = true;
    self.alive.store(false, Ordering::Release);
    self.wake_writer.notify_one();
    st.in_flight.drain(..).collect()
  }

  fn die(&self, error: Error) {
    let failed = {
      let mut st = self.lock();
      if st.dead && st.in_flight.is_empty() {
        return;
      }
      self.kill(&mut st)
    };
    fail_all(failed, error);
  }

  /// Stops the lane: waiting batches fail as closed, the tasks end.
  pub fn close(&self) {
    let _ = self.writer.try_write(b"*1\r\n$4\r\nQUIT\r\n");
    self.die(Error::closed().with_sent(Sent::Unknown));
  }

  async fn read_loop(self: Arc<Self>, mut reader: OwnedReadHalf) {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut replies = Vec::new();
    loop {
      if buf.capacity() - buf.len() < 16 * 1024 {
        buf.reserve(64 * 1024);
      }
      let error = match reader.read_buf(&mut buf).await {
        Ok(0) => connection_error("Redis closed the connection", Sent::Unknown),
        Err(e) => connection_error(format!("connection to Redis failed: {e}"), Sent::Unknown),
        Ok(_) => {
          let broken = loop {
            match resp::next_reply(&mut buf) {
              Ok(Some(r)) => replies.push(r),
              Ok(None) => break None,
              Err(e) => break Some(e),
            }
          };
          self.deliver(&mut replies);
          match broken {
            None => continue,
            Some(e) => e.with_sent(Sent::Unknown),
          }
        },
      };
      self.die(error);
      return;
    }
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
        if front.done.is_some() {
          front.results.push(reply);
        } else {
          front.results.push(Ok(Reply::Nil));
        }
        if front.results.len() >= front.expected {
          if let Some(batch) = st.in_flight.pop_front() {
            if let Some(done) = batch.done {
              finished.push((done, batch.results));
            }
          }
        }
      }
    }
    for (done, results) in finished {
      done(results);
    }
  }

  async fn write_loop(self: Arc<Self>) {
    loop {
      self.wake_writer.notified().await;
      loop {
        let chunk = {
          let mut st = self.lock();
          if st.dead {
            return;
          }
          if st.backlog.is_empty() {
            st.writing = false;
            break;
          }
          st.writing = true;
          st.backlog.split()
        };
        if let Err(e) = self.write_all(&chunk).await {
          self.die(connection_error(format!("write to Redis failed: {e}"), Sent::Unknown));
          return;
        }
      }
    }
  }

  async fn write_all(&self, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
      self.writer.writable().await?;
      match self.writer.try_write(data) {
        Ok(n) => data = &data[n..],
        Err(e) if e.kind() == IoKind::WouldBlock => continue,
        Err(e) => return Err(e),
      }
    }
    Ok(())
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

fn fail_all(batches: Vec<InFlight>, error: Error) {
  for batch in batches {
    if let Some(done) = batch.done {
      done((0..batch.expected).map(|_| Err(error.clone())).collect());
    }
  }
}

fn handshake_commands(s: &LaneSettings) -> Vec<Command> {
  use fred::prelude::Value;
  let mut cmds = Vec::new();
  if let Some(password) = &s.password {
    let mut args = Vec::new();
    if let Some(user) = &s.username {
      args.push(Value::from(user.as_str()));
    }
    args.push(Value::from(password.as_str()));
    cmds.push(Command::new("AUTH", args));
  }
  if s.db != 0 {
    cmds.push(Command::new("SELECT", vec![Value::Integer(i64::from(s.db))]));
  }
  if let Some(name) = &s.connection_name {
    cmds.push(Command::new("CLIENT", vec![Value::from("SETNAME"), Value::from(name.as_str())]));
  }
  cmds
}
