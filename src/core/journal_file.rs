//! The durable outage journal's file (`fallback.journal.path`): an
//! append-only log of framed records, a lock so one process owns it, and
//! what a previous process left, read back at start.
//!
//! Layout: a header (magic, the journal's id, the first sequence number,
//! a CRC-32), then records, each `[len: u32 LE][crc32(payload): u32 LE]
//! [payload]`. A payload is a write (`1`, its sequence number, its expiry
//! as Unix milliseconds or 0, the encoded command) or a confirmation (`2`,
//! a sequence number: every write up to it reached Redis). A torn or
//! corrupt tail (a crash mid-append, a bad sector) is cut at the last good
//! record and counted, never a crash. Once every write is confirmed the
//! file is rewritten to its header alone (`reset`): it shrinks to 28 bytes.
//!
//! The lock is `flock` on `<path>.lock` (the kernel drops it when the
//! process dies, even by SIGKILL: no stale lock). Files are created 0600:
//! journalled values may be secrets.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const MAGIC: &[u8; 8] = b"RSLSJNL1";
const HEADER_LEN: usize = 28;
const FRAME_LEN: usize = 8;
const WRITE: u8 = 1;
const CONFIRM: u8 = 2;
/// A record longer than this is taken for garbage (a torn length).
const MAX_RECORD: usize = 1 << 31;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fsync {
  /// Every write is on disk before it resolves (one fsync per batch).
  Always,
  /// Written to the OS before it resolves (a killed process loses
  /// nothing), flushed to disk once a second (a power loss may lose the
  /// last second), as Redis' `appendfsync everysec`.
  EverySec,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalConfig {
  pub path: PathBuf,
  pub fsync: Fsync,
}

/// Why the file could not be opened.
#[derive(Debug)]
pub enum OpenError {
  /// Another process (or service) holds `<path>.lock`.
  Locked(PathBuf),
  Io(PathBuf, io::Error),
}

/// A write read back from the file.
#[derive(Debug, PartialEq, Eq)]
pub struct StoredWrite {
  pub seq: u64,
  pub expires_unix_ms: Option<u64>,
  pub data: Vec<u8>,
}

/// What a previous process left: its writes not confirmed, in order.
#[derive(Debug, Default)]
pub struct Loaded {
  pub writes: Vec<StoredWrite>,
  /// Bytes cut from a torn or corrupt tail (0: the file was whole).
  pub cut_bytes: u64,
  /// The next sequence number to give.
  pub next_seq: u64,
}

pub struct JournalFile {
  path: PathBuf,
  file: File,
  /// Held for the file's lifetime: the flock.
  _lock: File,
  id: u64,
  /// Appended since the last sync.
  dirty: bool,
}

pub fn now_unix_ms() -> u64 {
  SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// A journal id no other file is likely to have (marker keys are named after it).
fn new_id() -> u64 {
  use std::hash::{BuildHasher, Hasher};
  let mut h = std::collections::hash_map::RandomState::new().build_hasher();
  h.write_u128(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
  h.write_u32(std::process::id());
  h.finish()
}

fn header(id: u64, base_seq: u64) -> [u8; HEADER_LEN] {
  let mut h = [0u8; HEADER_LEN];
  h[..8].copy_from_slice(MAGIC);
  h[8..16].copy_from_slice(&id.to_le_bytes());
  h[16..24].copy_from_slice(&base_seq.to_le_bytes());
  let crc = crc32fast::hash(&h[..24]);
  h[24..].copy_from_slice(&crc.to_le_bytes());
  h
}

/// `(id, base_seq)` of a whole, valid header.
fn read_header(bytes: &[u8]) -> Option<(u64, u64)> {
  let h = bytes.get(..HEADER_LEN)?;
  if &h[..8] != MAGIC || crc32fast::hash(&h[..24]).to_le_bytes() != h[24..] {
    return None;
  }
  Some((u64::from_le_bytes(h[8..16].try_into().ok()?), u64::from_le_bytes(h[16..24].try_into().ok()?)))
}

fn frame(payload: &[u8]) -> Vec<u8> {
  let mut out = Vec::with_capacity(FRAME_LEN + payload.len());
  out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
  out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
  out.extend_from_slice(payload);
  out
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
  Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn open_private(path: &Path, append: bool) -> io::Result<File> {
  let mut o = OpenOptions::new();
  o.read(true).create(true);
  if append {
    o.append(true);
  } else {
    o.write(true).truncate(true);
  }
  #[cfg(unix)]
  std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
  let f = o.open(path)?;
  #[cfg(unix)]
  {
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
  }
  Ok(f)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
  let mut s = path.as_os_str().to_owned();
  s.push(suffix);
  PathBuf::from(s)
}

/// Parses records after the header: the writes not confirmed, where the
/// good part ends, and the next sequence number.
fn parse(bytes: &[u8], base_seq: u64) -> (Vec<StoredWrite>, usize, u64) {
  let mut writes: Vec<StoredWrite> = Vec::new();
  let (mut at, mut confirmed, mut next) = (HEADER_LEN, 0u64, base_seq.max(1));
  loop {
    let rest = &bytes[at..];
    if rest.len() < FRAME_LEN {
      break;
    }
    let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
    let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
    if len > MAX_RECORD || rest.len() - FRAME_LEN < len {
      break;
    }
    let payload = &rest[FRAME_LEN..FRAME_LEN + len];
    if crc32fast::hash(payload) != crc {
      break;
    }
    match (payload.first(), u64_at(payload, 1)) {
      (Some(&WRITE), Some(seq)) if seq >= next && payload.len() >= 17 => {
        let expires = u64_at(payload, 9).filter(|&ms| ms != 0);
        writes.push(StoredWrite { seq, expires_unix_ms: expires, data: payload[17..].to_vec() });
        next = seq + 1;
      }
      (Some(&CONFIRM), Some(seq)) if payload.len() == 9 => confirmed = confirmed.max(seq),
      _ => break,
    }
    at += FRAME_LEN + len;
  }
  writes.retain(|w| w.seq > confirmed);
  (writes, at, next.max(confirmed + 1))
}

impl JournalFile {
  /// Opens (or creates) the journal at `path`, locked for this process,
  /// and reads back what a previous process left (a bad tail is cut).
  pub fn open(config: &JournalConfig) -> Result<(JournalFile, Loaded), OpenError> {
    let path = config.path.clone();
    let io_err = |e| OpenError::Io(path.clone(), e);
    let lock = open_private(&with_suffix(&path, ".lock"), true).map_err(io_err)?;
    match lock.try_lock() {
      Ok(()) => {}
      Err(std::fs::TryLockError::WouldBlock) => return Err(OpenError::Locked(path)),
      Err(std::fs::TryLockError::Error(e)) => return Err(io_err(e)),
    }
    let mut file = open_private(&path, true).map_err(io_err)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(io_err)?;
    let mut loaded = Loaded::default();
    let id = match read_header(&bytes) {
      Some((id, base_seq)) => {
        let (writes, good, next) = parse(&bytes, base_seq);
        if good < bytes.len() {
          loaded.cut_bytes = (bytes.len() - good) as u64;
          file.set_len(good as u64).map_err(io_err)?;
          file.sync_data().map_err(io_err)?;
        }
        loaded.writes = writes;
        loaded.next_seq = next;
        id
      }
      None => {
        // Empty, or not a journal's header: started afresh (a non-empty
        // file counts as cut).
        loaded.cut_bytes = bytes.len() as u64;
        loaded.next_seq = 1;
        let id = new_id();
        file.set_len(0).map_err(io_err)?;
        file.write_all(&header(id, 1)).map_err(io_err)?;
        file.sync_data().map_err(io_err)?;
        id
      }
    };
    Ok((JournalFile { path, file, _lock: lock, id, dirty: false }, loaded))
  }

  /// Names this journal's replay markers in Redis.
  pub fn id(&self) -> u64 {
    self.id
  }

  pub fn path(&self) -> &Path {
    &self.path
  }

  /// Appends a write (one `write(2)`; in the OS before this returns).
  pub fn append_write(&mut self, seq: u64, expires_unix_ms: Option<u64>, data: &[u8]) -> io::Result<()> {
    let mut payload = Vec::with_capacity(17 + data.len());
    payload.push(WRITE);
    payload.extend_from_slice(&seq.to_le_bytes());
    payload.extend_from_slice(&expires_unix_ms.unwrap_or(0).to_le_bytes());
    payload.extend_from_slice(data);
    self.file.write_all(&frame(&payload))?;
    self.dirty = true;
    Ok(())
  }

  /// Records that every write up to `seq` reached Redis. Not synced: a
  /// confirmation lost to a crash only means a replay Redis skips (the
  /// markers) or repeats after they expired.
  pub fn append_confirm(&mut self, seq: u64) -> io::Result<()> {
    let mut payload = [0u8; 9];
    payload[0] = CONFIRM;
    payload[1..].copy_from_slice(&seq.to_le_bytes());
    self.file.write_all(&frame(&payload))?;
    self.dirty = true;
    Ok(())
  }

  /// A second handle on the file, for `fsync` outside the journal's lock.
  pub fn sync_handle(&self) -> io::Result<File> {
    self.file.try_clone()
  }

  pub fn take_dirty(&mut self) -> bool {
    std::mem::replace(&mut self.dirty, false)
  }

  /// Every write is confirmed: the file becomes its header alone (written
  /// beside it, synced, renamed over it), sequence numbers going on from
  /// `next_seq`.
  pub fn reset(&mut self, next_seq: u64) -> io::Result<()> {
    let tmp = with_suffix(&self.path, ".tmp");
    let mut f = open_private(&tmp, false)?;
    f.write_all(&header(self.id, next_seq))?;
    f.sync_data()?;
    drop(f);
    std::fs::rename(&tmp, &self.path)?;
    if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
      // The rename itself on disk; best effort where a directory cannot be opened.
      let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    self.file = open_private(&self.path, true)?;
    self.dirty = false;
    Ok(())
  }

  /// The file's size on disk, in bytes.
  pub fn size_bytes(&self) -> u64 {
    self.file.metadata().map_or(0, |m| m.len())
  }
}

/// `SystemTime` milliseconds <-> the `Instant` of a journal entry.
pub fn instant_from_unix_ms(ms: u64) -> std::time::Instant {
  let now = std::time::Instant::now();
  let left = ms.saturating_sub(now_unix_ms());
  now.checked_add(Duration::from_millis(left)).unwrap_or(now)
}

pub fn unix_ms_from_instant(at: std::time::Instant) -> u64 {
  let left = at.saturating_duration_since(std::time::Instant::now());
  now_unix_ms().saturating_add(left.as_millis() as u64).max(1)
}

#[cfg(test)]
mod tests {
  use super::*;

  fn temp(name: &str) -> JournalConfig {
    let dir = std::env::temp_dir().join(format!("resilis-jf-{}-{name}-{}", std::process::id(), new_id()));
    std::fs::create_dir_all(&dir).ok();
    JournalConfig { path: dir.join("journal"), fsync: Fsync::EverySec }
  }

  fn opened(c: &JournalConfig) -> (JournalFile, Loaded) {
    match JournalFile::open(c) {
      Ok(v) => v,
      Err(e) => panic!("open: {e:?}"),
    }
  }

  #[test]
  fn writes_survive_a_reopen_and_confirmed_ones_do_not_come_back() {
    let c = temp("reopen");
    {
      let (mut f, l) = opened(&c);
      assert!(l.writes.is_empty() && l.cut_bytes == 0 && l.next_seq == 1);
      for seq in 1..=5 {
        f.append_write(seq, if seq == 2 { Some(1234) } else { None }, format!("w{seq}").as_bytes()).ok();
      }
      f.append_confirm(3).ok();
    }
    let (mut f, l) = opened(&c);
    let seqs: Vec<u64> = l.writes.iter().map(|w| w.seq).collect();
    assert_eq!((seqs, l.next_seq, l.cut_bytes), (vec![4, 5], 6, 0));
    assert_eq!(l.writes[0].data, b"w4");
    // All confirmed: the file shrinks to its header, and numbering goes on.
    f.append_confirm(5).ok();
    f.reset(6).ok();
    assert_eq!(f.size_bytes(), HEADER_LEN as u64);
    let id = f.id();
    drop(f);
    let (f, l) = opened(&c);
    assert_eq!((l.writes.len(), l.next_seq, f.id()), (0, 6, id));
    #[cfg(unix)]
    {
      use std::os::unix::fs::PermissionsExt;
      let mode = std::fs::metadata(&c.path).map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
      assert_eq!(mode, 0o600);
    }
  }

  #[test]
  fn a_torn_or_corrupt_tail_is_cut_at_the_last_good_record_and_counted() {
    let c = temp("torn");
    let full_len = {
      let (mut f, _) = opened(&c);
      for seq in 1..=3 {
        f.append_write(seq, None, &[b'x'; 100]).ok();
      }
      f.size_bytes()
    };
    // Torn: the last record loses its last 10 bytes.
    std::fs::OpenOptions::new().write(true).open(&c.path).and_then(|f| f.set_len(full_len - 10)).ok();
    let (f, l) = opened(&c);
    assert_eq!(l.writes.iter().map(|w| w.seq).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(l.cut_bytes, 108 + 17 - 10);
    assert_eq!(f.size_bytes(), full_len - (108 + 17));
    drop(f);
    // Corrupt: a flipped byte in the second record's payload cuts it and what follows.
    let mut bytes = std::fs::read(&c.path).unwrap_or_default();
    let second = HEADER_LEN + FRAME_LEN + 117 + FRAME_LEN + 20;
    bytes[second] ^= 0xff;
    std::fs::write(&c.path, &bytes).ok();
    let (_f, l) = opened(&c);
    assert_eq!(l.writes.iter().map(|w| w.seq).collect::<Vec<_>>(), vec![1]);
    assert_eq!(l.cut_bytes, 125);
  }

  #[test]
  fn a_second_opener_is_refused_while_the_first_holds_the_lock() {
    let c = temp("lock");
    let (first, _) = opened(&c);
    assert!(matches!(JournalFile::open(&c), Err(OpenError::Locked(_))));
    drop(first);
    assert!(JournalFile::open(&c).is_ok());
  }

  #[test]
  fn garbage_instead_of_a_header_starts_afresh_and_counts_the_cut() {
    let c = temp("garbage");
    std::fs::write(&c.path, b"not a journal at all").ok();
    let (_f, l) = opened(&c);
    assert_eq!((l.writes.len(), l.cut_bytes, l.next_seq), (0, 20, 1));
  }
}
