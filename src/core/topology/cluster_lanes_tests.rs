//! The cluster lanes against a real two-master cluster (two redis-server
//! processes, slots split in half): batches split and merged in order,
//! ASK during a migration, MOVED after it, a redirection loop bounded.

use super::*;
use crate::core::config::Endpoint;
use crate::core::test_server::Server;
use fred::prelude::Value;

/// A cluster-enabled redis-server of its own.
fn node() -> Server {
  Server::start_with(
    &["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"],
    true,
  )
}

/// Node a owns slots 0-8191, node b 8192-16383; ready when both say ok.
fn two_masters() -> (Server, Server) {
  let (a, b) = (node(), node());
  a.cli(&["cluster", "addslotsrange", "0", "8191"]);
  b.cli(&["cluster", "addslotsrange", "8192", "16383"]);
  a.cli(&["cluster", "meet", "127.0.0.1", &b.1.to_string()]);
  for _ in 0..500 {
    if [&a, &b].iter().all(|n| n.cli(&["cluster", "info"]).contains("cluster_state:ok")) {
      return (a, b);
    }
    std::thread::sleep(Duration::from_millis(20));
  }
  panic!("the two-node cluster did not become ok");
}

fn router(seed: &Server) -> Arc<ClusterLanes> {
  let base = LaneSettings {
    endpoint: Endpoint { host: "127.0.0.1".into(), port: seed.1 },
    username: None,
    password: None,
    db: 0,
    connection_name: None,
    connect_timeout: Duration::from_secs(2),
    command_timeout: Duration::from_secs(2),
    max_in_flight: 100_000,
    tracking_redirect: None,
    tls: None,
    events: Default::default(),
  };
  Arc::new(ClusterLanes::new(base, vec![seed.addr()], Duration::from_millis(50), 5, tokio::runtime::Handle::current()))
}

fn cmd(name: &str, args: &[&str]) -> Command {
  Command::new(name.to_string(), args.iter().map(|a| Value::from(*a)).collect())
}

async fn run(router: &Arc<ClusterLanes>, cmds: Vec<Command>) -> Vec<Result<Reply>> {
  let (tx, rx) = tokio::sync::oneshot::channel();
  router.send(
    cmds,
    Box::new(move |r| {
      let _ = tx.send(r);
    }),
  );
  tokio::time::timeout(Duration::from_secs(5), rx).await.expect("settles in time").expect("settles")
}

fn text(r: &Result<Reply>) -> String {
  match r {
    Ok(Reply::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
    Ok(Reply::Nil) => "nil".into(),
    Ok(Reply::Int(n)) => n.to_string(),
    Ok(other) => format!("{other:?}"),
    Err(e) => format!("error: {}", e.message),
  }
}

/// A key whose slot belongs to node a (slot < 8192) or b.
fn key_on(a_side: bool, label: &str) -> String {
  (0..10_000)
    .map(|i| format!("{label}{i}"))
    .find(|k| (cluster::slot_of(k.as_bytes()) < 8192) == a_side)
    .expect("a key on each side")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_split_per_node_and_merged_in_the_callers_order() {
  let (a, b) = two_masters();
  let r = router(&a);
  r.start().await;
  assert!(r.any_open());
  let keys: Vec<String> = (0..12).map(|i| key_on(i % 2 == 0, &format!("k{i}-"))).collect();
  let sets = keys.iter().map(|k| cmd("SET", &[k, &format!("v:{k}")])).collect();
  assert!(run(&r, sets).await.iter().all(|x| text(x) == "OK"));
  let mut batch: Vec<Command> = keys.iter().map(|k| cmd("GET", &[k])).collect();
  let mut mget: Vec<&str> = keys.iter().map(String::as_str).collect();
  mget.insert(3, "absent-key");
  batch.insert(5, cmd("MGET", &mget));
  batch.push(cmd("INCR", &[&keys[0]]));
  let out = run(&r, batch).await;
  assert_eq!(out.len(), keys.len() + 2);
  for (i, k) in keys.iter().enumerate() {
    let at = if i < 5 { i } else { i + 1 };
    assert_eq!(text(&out[at]), format!("v:{k}"), "GET {k} in its place");
  }
  let Ok(Reply::Array(values)) = &out[5] else { panic!("MGET: {:?}", out[5]) };
  let expected: Vec<String> =
    mget.iter().map(|k| if *k == "absent-key" { "nil".into() } else { format!("v:{k}") }).collect();
  assert_eq!(values.iter().map(|v| text(&Ok(v.clone()))).collect::<Vec<_>>(), expected);
  assert!(text(&out[keys.len() + 1]).starts_with("error: ERR value is not an integer"), "an error stays in its place");
  assert_eq!(b.cli(&["get", &keys[1]]), format!("v:{}", keys[1]), "stored on its slot's master");
  r.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_during_a_migration_then_moved_after_it_and_a_redirect_loop_is_bounded() {
  let (a, b) = two_masters();
  let r = router(&a);
  r.start().await;
  let (a_id, b_id) = (a.cli(&["cluster", "myid"]), b.cli(&["cluster", "myid"]));
  // {b} hashes to slot 3300: node a's.
  let tag = "{b}";
  let slot = cluster::slot_of(tag.as_bytes()).to_string();
  assert!(cluster::slot_of(tag.as_bytes()) < 8192, "{tag} lives on node a");
  let moved_key = format!("{tag}:moved");
  let (fresh, kept) = (format!("{tag}:fresh"), format!("{tag}:kept"));
  assert_eq!(text(&run(&r, vec![cmd("SET", &[&moved_key, "1"]), cmd("SET", &[&kept, "1"])]).await[0]), "OK");

  // Migrating: a key still on a runs there, a moved or new key gets ASK and goes to b.
  b.cli(&["cluster", "setslot", &slot, "importing", &a_id]);
  a.cli(&["cluster", "setslot", &slot, "migrating", &b_id]);
  a.cli(&["migrate", "127.0.0.1", &b.1.to_string(), "", "0", "5000", "keys", &moved_key]);
  let out = run(&r, vec![cmd("INCR", &[&moved_key]), cmd("INCR", &[&kept]), cmd("SET", &[&fresh, "x"])]).await;
  assert_eq!(out.iter().map(text).collect::<Vec<_>>(), vec!["2", "2", "OK"]);

  // Done: b owns the slot; the router's map still says a, which answers MOVED.
  a.cli(&["migrate", "127.0.0.1", &b.1.to_string(), "", "0", "5000", "keys", &kept]);
  b.cli(&["cluster", "setslot", &slot, "node", &b_id]);
  a.cli(&["cluster", "setslot", &slot, "node", &b_id]);
  let out = run(&r, vec![cmd("INCR", &[&kept]), cmd("GET", &[&fresh])]).await;
  assert_eq!(out.iter().map(text).collect::<Vec<_>>(), vec!["3", "x"]);
  assert_eq!(b.cli(&["get", &kept]), "3");
  assert_eq!(b.cli(&["get", &moved_key]), "2", "the INCR that got ASK ran once, on b");
  assert_eq!(b.cli(&["get", &fresh]), "x");

  // MIGRATING on b alone, to a that is not importing: ASK to a, MOVED back to b, forever.
  let loop_key = format!("{tag}:absent");
  b.cli(&["cluster", "setslot", &slot, "migrating", &a_id]);
  let out = run(&r, vec![cmd("GET", &[&loop_key])]).await;
  let e = out[0].as_ref().expect_err("a routing error");
  assert_eq!((e.kind, e.sent), (ErrorKind::Reply, Sent::No));
  assert!(e.message.contains("too many MOVED/ASK redirections"), "{}", e.message);
  b.cli(&["cluster", "setslot", &slot, "stable"]);
  assert_eq!(text(&run(&r, vec![cmd("GET", &[&fresh])]).await[0]), "x");
  r.close();
}
