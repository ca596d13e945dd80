//! Tests only: throwaway redis-server processes on free loopback ports.

use std::process::{Child, Command as Process, Stdio};
use std::time::Duration;

/// A redis-server (killed, its directory removed, on drop); `.1` is its port.
pub struct Server(Child, pub u16, Option<std::path::PathBuf>);

impl Server {
  pub fn start() -> Server {
    Server::start_with(&[], false)
  }

  /// `extra` server arguments; `own_dir`: a fresh working directory (a
  /// cluster node writes its nodes.conf there).
  pub fn start_with(extra: &[&str], own_dir: bool) -> Server {
    let port =
      std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port");
    let dir = own_dir.then(|| std::env::temp_dir().join(format!("resilis-test-{}-{port}", std::process::id())));
    let mut cmd = Process::new("redis-server");
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]).args(extra);
    if let Some(dir) = &dir {
      std::fs::create_dir_all(dir).expect("temp dir");
      cmd.arg("--dir").arg(dir);
    }
    let child = cmd.stdout(Stdio::null()).spawn().expect("redis-server is installed (.ci/run installs it)");
    for _ in 0..200 {
      if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
        break;
      }
      std::thread::sleep(Duration::from_millis(10));
    }
    Server(child, port, dir)
  }

  /// `redis-cli` against this server; its trimmed output.
  pub fn cli(&self, args: &[&str]) -> String {
    let out = Process::new("redis-cli").args(["-p", &self.1.to_string()]).args(args).output().expect("redis-cli runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
  }

  pub fn addr(&self) -> String {
    format!("127.0.0.1:{}", self.1)
  }
}

impl Drop for Server {
  fn drop(&mut self) {
    let _ = self.0.kill();
    let _ = self.0.wait();
    if let Some(dir) = &self.2 {
      let _ = std::fs::remove_dir_all(dir);
    }
  }
}
