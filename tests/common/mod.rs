//! Test harness: the real scim2-server (from the project's venv), a small recording upstream
//! for asserting the exact bytes a target received, and the scimgate binary itself, all on
//! loopback with free ports. Every process is killed when its handle drops.
// Tests may panic; src/ may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::string_slice)]
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const SCIM_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const SCIM_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// Does process `pid` hold a listening TCP socket on `port` (Linux: `/proc/net/tcp*` and the
/// process's descriptors)?
pub fn listens(pid: u32, port: u16) -> bool {
    let hex = format!(":{port:04X}");
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // local_address, …, st (0A: LISTEN), …, inode
            if f.len() > 9 && f[1].ends_with(&hex) && f[3] == "0A" {
                inodes.push(format!("socket:[{}]", f[9]));
            }
        }
    }
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.filter_map(Result::ok).any(|fd| {
        std::fs::read_link(fd.path())
            .is_ok_and(|l| inodes.iter().any(|i| l.to_string_lossy() == i.as_str()))
    })
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(
            Instant::now() < deadline,
            "{what} did not become ready within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A command-line tool the project's setup installs (`$env` overrides its name), or a clear
/// failure saying how to get it.
pub fn tool(env: &str, name: &str) -> String {
    let bin = std::env::var(env).unwrap_or_else(|_| name.into());
    let found = Command::new(&bin)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found,
        "{bin} not found: run ./scripts/setup.sh (it installs Debian's {name})"
    );
    bin
}

fn venv() -> PathBuf {
    std::env::var_os("SCIMGATE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv"))
}

/// The real scim2-server, in memory, on a free port.
pub struct ScimServer {
    child: Child,
    pub port: u16,
}

impl ScimServer {
    pub fn start() -> Self {
        let bin = venv().join("bin/scim2-server");
        assert!(
            bin.exists(),
            "{} is missing: run ./scripts/setup.sh first",
            bin.display()
        );
        let port = free_port();
        let child = Command::new(&bin)
            .args(["--hostname", "127.0.0.1", "--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start scim2-server");
        let url = format!("http://127.0.0.1:{port}/v2/ServiceProviderConfig");
        wait_until("scim2-server", Duration::from_secs(30), || {
            ureq::get(&url).call().is_ok()
        });
        ScimServer { child, port }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v2", self.port)
    }
}

impl Drop for ScimServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request as the recording upstream received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub target: String,
    /// Lowercased names; values as sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How the recording upstream answers.
#[derive(Clone)]
pub enum Answer {
    /// Status, extra headers and a JSON body.
    Json(u16, Vec<(String, String)>, String),
    /// Wait, then answer 200 `{}` (for timeouts).
    Delay(Duration),
    /// Close the connection without a byte.
    Hangup,
    /// Send bytes that are not HTTP.
    Garbage,
}

/// A tiny HTTP/1.1 upstream that records every request and answers as told.
pub struct Recorder {
    pub port: u16,
    pub seen: Arc<Mutex<Vec<Recorded>>>,
    pub answer: Arc<Mutex<Answer>>,
}

impl Recorder {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let answer = Arc::new(Mutex::new(Answer::Json(
            200,
            vec![],
            r#"{"ok":true}"#.into(),
        )));
        let (s, a) = (seen.clone(), answer.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (s, a) = (s.clone(), a.clone());
                std::thread::spawn(move || serve_conn(stream, s, a));
            }
        });
        Recorder { port, seen, answer }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/base/v2", self.port)
    }

    pub fn set(&self, a: Answer) {
        *self.answer.lock().unwrap() = a;
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve_conn(stream: TcpStream, seen: Arc<Mutex<Vec<Recorded>>>, answer: Arc<Mutex<Answer>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("").to_string();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        seen.lock().unwrap().push(Recorded {
            method,
            target,
            headers,
            body,
        });
        let a = answer.lock().unwrap().clone();
        let (status, extra, json) = match a {
            Answer::Json(s, h, b) => (s, h, b),
            Answer::Delay(d) => {
                std::thread::sleep(d);
                (200, vec![], "{}".to_string())
            }
            Answer::Hangup => return,
            Answer::Garbage => {
                let _ = out.write_all(b"this is not HTTP at all\r\n\r\n");
                return;
            }
        };
        let resp = scim_answer(
            status,
            extra.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            &json,
        );
        if out.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

/// A policy file for one tenant; `extra` is appended under `[upstream]` then free TOML.
pub fn policy(
    tenant: &str,
    route: &str,
    token: &str,
    upstream: &str,
    extra_upstream: &str,
    rest: &str,
) -> String {
    format!(
        "tenant = \"{tenant}\"\nroute = \"{route}\"\n[auth]\nbearer_sha256 = [\"{}\"]\n[upstream]\nurl = \"{upstream}\"\n{extra_upstream}\n{rest}\n",
        sha256_hex(token)
    )
}

pub fn sha256_hex(s: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_scimgate"))
        .arg("hash-token")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(s.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The scimgate binary serving a policies directory of its own.
pub struct Gateway {
    child: Child,
    pub port: u16,
    pub admin: u16,
    pub dir: tempfile::TempDir,
    pub log: PathBuf,
}

impl Gateway {
    pub fn start(files: &[(&str, String)], env: &[(&str, &str)]) -> Self {
        Self::try_start(files, env)
            .unwrap_or_else(|(code, err)| panic!("gateway exited ({code:?}):\n{err}"))
    }

    /// Start and wait for /readyz, or return the exit code and stderr if it stops.
    pub fn try_start(
        files: &[(&str, String)],
        env: &[(&str, &str)],
    ) -> Result<Self, (Option<i32>, String)> {
        Self::try_start_with(files, env, &[])
    }

    /// As [`Gateway::start`], with extra command-line arguments for `serve`.
    pub fn start_with(files: &[(&str, String)], env: &[(&str, &str)], args: &[&str]) -> Self {
        Self::try_start_with(files, env, args)
            .unwrap_or_else(|(code, err)| panic!("gateway exited ({code:?}):\n{err}"))
    }

    /// Tests run side by side: a port `free_port` gave can be taken by another test's process
    /// before this gateway binds it. The gateway then stops ("cannot listen on", or Pingora's
    /// "failed to build listeners"), and it starts again on other ports, at most three times.
    pub fn try_start_with(
        files: &[(&str, String)],
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Result<Self, (Option<i32>, String)> {
        let mut tries = 0;
        loop {
            match Self::try_start_once(files, env, args) {
                Err((_, log))
                    if tries < 3
                        && (log.contains("cannot listen on")
                            || log.contains("failed to build listeners")) =>
                {
                    tries += 1;
                }
                done => return done,
            }
        }
    }

    fn try_start_once(
        files: &[(&str, String)],
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Result<Self, (Option<i32>, String)> {
        let dir = tempfile::tempdir().unwrap();
        let pol = dir.path().join("policies");
        std::fs::create_dir(&pol).unwrap();
        for (name, text) in files {
            std::fs::write(pol.join(name), text).unwrap();
        }
        // Two calls can give the same port; the gateway refuses that, so draw again.
        let port = free_port();
        let admin = std::iter::repeat_with(free_port)
            .find(|&a| a != port)
            .unwrap_or(port);
        let log = dir.path().join("gateway.log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_scimgate"));
        cmd.args(["serve", "--policies"])
            .arg(&pol)
            .args([
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--admin",
                &format!("127.0.0.1:{admin}"),
            ])
            // Two worker threads unless the test asks for its own number.
            .args(if args.contains(&"--threads") {
                &[][..]
            } else {
                &["--threads", "2"][..]
            })
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start scimgate");
        let ready = format!("http://127.0.0.1:{admin}/readyz");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err((
                    status.code(),
                    std::fs::read_to_string(&log).unwrap_or_default(),
                ));
            }
            // Pingora starts its services side by side: the admin listener can be up before
            // the IdP listener, so wait for both, and for the IdP port to be this gateway's
            // (another test's process may have taken it between `free_port` and the bind).
            if ureq::get(&ready).call().is_ok() && listens(child.id(), port) {
                break;
            }
            assert!(Instant::now() < deadline, "scimgate not ready");
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Gateway {
            child,
            port,
            admin,
            dir,
            log,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The gateway's policies directory.
    pub fn policies(&self) -> PathBuf {
        self.dir.path().join("policies")
    }

    pub fn metrics(&self) -> String {
        ureq::get(&format!("http://127.0.0.1:{}/metrics", self.admin))
            .call()
            .unwrap()
            .into_string()
            .unwrap()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer, whatever its status.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
    /// Assert a SCIM error body made by the gateway.
    pub fn assert_scim_error(&self, status: u16, scim_type: Option<&str>) {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.header("content-type"), Some("application/scim+json"));
        let v = self.json();
        assert_eq!(v["schemas"][0], ERROR_SCHEMA, "{v}");
        assert_eq!(v["status"], status.to_string(), "{v}");
        assert!(v["detail"].as_str().is_some_and(|d| !d.is_empty()), "{v}");
        match scim_type {
            Some(t) => assert_eq!(v["scimType"], t, "{v}"),
            None => assert!(v.get("scimType").is_none(), "{v}"),
        }
    }
}

/// Send one request; `token` becomes `Authorization: Bearer`.
pub fn call(
    method: &str,
    url: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Resp {
    let agent = ureq::AgentBuilder::new()
        .redirects(0)
        .timeout(Duration::from_secs(30))
        .build();
    let mut req = agent.request(method, url);
    if let Some(t) = token {
        req = req.set("Authorization", &format!("Bearer {t}"));
    }
    let has_ct = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let result = match body {
        Some(b) => {
            if !has_ct {
                req = req.set("Content-Type", "application/scim+json");
            }
            req.send_string(b)
        }
        None => req.call(),
    };
    let resp = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let status = resp.status();
    let headers = resp
        .headers_names()
        .into_iter()
        .map(|n| {
            let v = resp.header(&n).unwrap_or("").to_string();
            (n.to_ascii_lowercase(), v)
        })
        .collect();
    let mut body = String::new();
    let _ = resp.into_reader().take(64 << 20).read_to_string(&mut body);
    Resp {
        status,
        headers,
        body,
    }
}

/// Raw bytes over a socket, for requests an HTTP client will not send (chunked bodies, odd paths).
pub fn raw(port: u16, request: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if let Some(head_end) = find(&out, b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&out[..head_end]).to_ascii_lowercase();
                    let len = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if out.len() >= head_end + 4 + len {
                        break;
                    }
                }
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `scimgate translate --policy POLICY --method M --path P` with `body` on stdin: whether it
/// exited successfully, and what it printed, as JSON.
pub fn translate_cli(
    policy: &Path,
    method: &str,
    path: &str,
    body: &str,
) -> (bool, serde_json::Value) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scimgate"))
        .args(["translate", "--policy"])
        .arg(policy)
        .args(["--method", method, "--path", path])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        serde_json::from_slice(&out.stdout).unwrap(),
    )
}

/// A private CA (`ca.pem`) and a server certificate for 127.0.0.1 (`server.pem`, `server.key`),
/// made with the openssl CLI in `dir`.
pub fn make_pki(dir: &Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=scimgate test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ]);
    run(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
}

/// A target's HTTP/1.1 answer: `status`, a SCIM JSON body with its length, and `headers`.
pub fn scim_answer<'a>(
    status: u16,
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    json: &str,
) -> String {
    let mut resp = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\n",
        json.len()
    );
    for (k, v) in headers {
        resp.push_str(&format!("{k}: {v}\r\n"));
    }
    resp.push_str("\r\n");
    resp.push_str(json);
    resp
}
