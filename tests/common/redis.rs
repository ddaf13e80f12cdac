//! A real `redis-server` on a free loopback port, in a temporary directory, with the settings
//! that make an acknowledgement durable; killed when dropped. Tests that need it fail (never
//! skip) when it is not installed.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const REDIS_INSTALL: &str = "redis-server is missing: apt-get install -y redis-server";

/// A running `redis-server`.
pub struct RedisServer {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts one with `appendonly yes`, `appendfsync always`, `noeviction`.
    pub fn start() -> Self {
        Self::start_with(&[
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--maxmemory-policy",
            "noeviction",
        ])
    }

    /// Starts one with these extra arguments (after port, bind, dir and no RDB saves).
    pub fn start_with(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        for _ in 0..5 {
            let port = free_port();
            let mut child = spawn(dir.path(), port, extra);
            if wait_ready(&mut child, port) {
                return Self {
                    child,
                    port,
                    _dir: dir,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("redis-server did not start on a free port (5 tries)");
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the process (SIGSTOP): connections stay open, nothing answers.
    pub fn freeze(&self) {
        signal(self.pid(), "-STOP");
    }

    /// Resumes a frozen process (SIGCONT).
    pub fn thaw(&self) {
        signal(self.pid(), "-CONT");
    }

    /// The position of the last attempt appended to the log of the state under `prefix`
    /// (0 before the first).
    pub async fn log_head(&self, prefix: &str) -> u64 {
        let client = redis::Client::open(self.url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let head: Option<u64> = redis::cmd("GET")
            .arg(format!("{{{prefix}}}:attempt_seq"))
            .query_async(&mut conn)
            .await
            .unwrap();
        head.unwrap_or(0)
    }

    /// Turns the attempts stored under `prefix` into the layout builds before 81662f3 wrote:
    /// every attempt also in one sorted set by time (`attempts_by_time`), and the (job type,
    /// error class) sets not named in `aggregates`.
    pub async fn make_layout_old(&self, prefix: &str) {
        let client = redis::Client::open(self.url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let key = |name: &str| format!("{{{prefix}}}:{name}");
        let sets: Vec<String> = redis::cmd("SMEMBERS")
            .arg(key("aggregates"))
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(!sets.is_empty(), "no attempts under {prefix}");
        for set in sets {
            let scored: Vec<(String, f64)> = redis::cmd("ZRANGE")
                .arg(&set)
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES")
                .query_async(&mut conn)
                .await
                .unwrap();
            for (seq, score) in scored {
                let () = redis::cmd("ZADD")
                    .arg(key("attempts_by_time"))
                    .arg(score)
                    .arg(seq)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
            }
        }
        let () = redis::cmd("DEL")
            .arg(key("aggregates"))
            .query_async(&mut conn)
            .await
            .unwrap();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        signal(self.pid(), "-CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal(pid: u32, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {sig} {pid} failed");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(dir: &Path, port: u16, extra: &[&str]) -> Child {
    let port_text = port.to_string();
    let mut args = vec![
        "--port",
        &port_text,
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--dir",
        dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    match Command::new("redis-server")
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!("{REDIS_INSTALL}"),
        Err(e) => panic!("cannot run redis-server: {e}"),
    }
}

/// Waits until the server answers PING (false if it exited, e.g. the port was taken).
fn wait_ready(child: &mut Child, port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if ping(port) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut reply = [0u8; 16];
    stream.write_all(b"PING\r\n").is_ok()
        && stream
            .read(&mut reply)
            .is_ok_and(|n| reply[..n].starts_with(b"+PONG"))
}
