//! The load generator: keep-alive HTTP/1.1 connections, each a closed loop (send one request,
//! read the whole response, send the next) for a warm-up and then a measured window. Every
//! latency of the window is kept, so percentiles are exact rather than bucketed.
//!
//! The client is a few dozen lines over a `TcpStream` instead of hyper's: one task per
//! connection, one write and (usually) one read per request, no per-request allocation. That
//! keeps its own cost per request to a few microseconds, which the report shows (the CPU time
//! of the generator's threads) so that a reader can check it is never the bottleneck.

use crate::cpu;
use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A request, serialised once and sent as is by every connection.
#[derive(Clone)]
pub struct Request {
    pub addr: SocketAddr,
    bytes: Arc<[u8]>,
}

impl Request {
    pub fn get(addr: SocketAddr, path: &str) -> Self {
        Self::new(addr, "GET", path, &[], b"")
    }

    pub fn post(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Self {
        Self::new(addr, "POST", path, headers, body)
    }

    fn new(
        addr: SocketAddr,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Self {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nuser-agent: devstack-bench\r\naccept: */*\r\n"
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if method != "GET" || !body.is_empty() {
            head.push_str(&format!("content-length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        Self {
            addr,
            bytes: bytes.into(),
        }
    }
}

/// A response as the generator sees it: the status, and the body for the one-off checks.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

enum Framing {
    Length(usize),
    Chunked,
    /// No `Content-Length` and not chunked: the body runs to the end of the connection.
    UntilClose,
}

struct Head {
    status: u16,
    framing: Framing,
    keep_alive: bool,
    headers: Vec<(String, String)>,
}

/// One keep-alive HTTP/1.1 connection. `buf[pos..len]` holds bytes read and not yet parsed.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    /// The server asked to close (or framed a body by closing): reconnect before the next.
    pub closed: bool,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        // Requests are one small write each; Nagle would hold them back behind delayed ACKs.
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: vec![0; 16 * 1024],
            pos: 0,
            len: 0,
            closed: false,
        })
    }

    /// Sends `req` and reads its response; the body is kept only if `keep_body`.
    pub async fn exchange(&mut self, req: &Request, keep_body: bool) -> io::Result<Response> {
        self.stream.write_all(&req.bytes).await?;
        let head_end = loop {
            if let Some(i) = find(&self.buf[self.pos..self.len], b"\r\n\r\n") {
                break self.pos + i + 4;
            }
            self.fill().await?;
        };
        let head = parse_head(&self.buf[self.pos..head_end])?;
        self.pos = head_end;
        let mut body = Vec::new();
        let sink = keep_body.then_some(&mut body);
        match head.framing {
            Framing::Length(n) => self.take(n, sink).await?,
            Framing::Chunked => self.take_chunked(sink).await?,
            Framing::UntilClose => {
                self.take_to_eof(sink).await?;
                self.closed = true;
            }
        }
        if !head.keep_alive {
            self.closed = true;
        }
        Ok(Response {
            status: head.status,
            headers: if keep_body { head.headers } else { Vec::new() },
            body,
        })
    }

    /// Reads more bytes after `len`, moving unparsed bytes to the front first.
    async fn fill(&mut self) -> io::Result<()> {
        if self.pos == self.len {
            self.pos = 0;
            self.len = 0;
        } else if self.len == self.buf.len() {
            self.buf.copy_within(self.pos..self.len, 0);
            self.len -= self.pos;
            self.pos = 0;
            if self.len == self.buf.len() {
                self.buf.resize(self.buf.len() * 2, 0);
            }
        }
        let n = self.stream.read(&mut self.buf[self.len..]).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.len += n;
        Ok(())
    }

    async fn take(&mut self, mut n: usize, mut sink: Option<&mut Vec<u8>>) -> io::Result<()> {
        while n > 0 {
            if self.pos == self.len {
                self.fill().await?;
            }
            let k = n.min(self.len - self.pos);
            if let Some(s) = sink.as_deref_mut() {
                s.extend_from_slice(&self.buf[self.pos..self.pos + k]);
            }
            self.pos += k;
            n -= k;
        }
        Ok(())
    }

    async fn line(&mut self) -> io::Result<String> {
        loop {
            if let Some(i) = find(&self.buf[self.pos..self.len], b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[self.pos..self.pos + i]).into_owned();
                self.pos += i + 2;
                return Ok(line);
            }
            self.fill().await?;
        }
    }

    async fn take_chunked(&mut self, mut sink: Option<&mut Vec<u8>>) -> io::Result<()> {
        loop {
            let line = self.line().await?;
            let size = line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size, 16).map_err(|_| bad("chunk size"))?;
            if size == 0 {
                // Trailers, up to the empty line.
                while !self.line().await?.is_empty() {}
                return Ok(());
            }
            self.take(size, sink.as_deref_mut()).await?;
            self.line().await?;
        }
    }

    async fn take_to_eof(&mut self, mut sink: Option<&mut Vec<u8>>) -> io::Result<()> {
        loop {
            if let Some(s) = sink.as_deref_mut() {
                s.extend_from_slice(&self.buf[self.pos..self.len]);
            }
            self.pos = self.len;
            match self.fill().await {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("malformed HTTP: {what}"),
    )
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_head(raw: &[u8]) -> io::Result<Head> {
    let text = std::str::from_utf8(raw).map_err(|_| bad("head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().ok_or_else(|| bad("no status line"))?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("status"))?;
    let mut keep_alive = version == "HTTP/1.1";
    let mut length = None;
    let mut chunked = false;
    let mut headers = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Err(bad("header line"));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse().map_err(|_| bad("content-length"))?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            let v = value.to_ascii_lowercase();
            if v.contains("close") {
                keep_alive = false;
            } else if v.contains("keep-alive") {
                keep_alive = true;
            }
        }
        headers.push((name.to_owned(), value.to_owned()));
    }
    // 1xx, 204 and 304 never carry a body, whatever the headers say.
    let framing = if status < 200 || status == 204 || status == 304 {
        Framing::Length(0)
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        Framing::UntilClose
    };
    Ok(Head {
        status,
        framing,
        keep_alive,
        headers,
    })
}

/// One request on a fresh connection, bounded by `timeout`: readiness polls and checks.
pub async fn once(req: &Request, timeout: Duration) -> io::Result<Response> {
    tokio::time::timeout(timeout, async {
        let mut c = Conn::open(req.addr).await?;
        c.exchange(req, true).await
    })
    .await
    .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?
}

#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub connections: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

/// What one measured window produced.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub connections: usize,
    pub window: Duration,
    /// Every latency of the window, sorted, in nanoseconds.
    pub latencies_ns: Vec<u64>,
    pub statuses: BTreeMap<u16, u64>,
    /// Requests that failed at the transport (refused, reset, timed out, malformed).
    pub errors: u64,
    /// CPU time of the generator's own threads during the window.
    pub generator_cpu: Duration,
    /// CPU time of the server's processes during the window (0 if none were named).
    pub server_cpu: Duration,
    /// The part of `server_cpu` spent in function processes.
    pub functions_cpu: Duration,
    /// Share of the machine's CPU time that was busy during the window (all processes).
    pub machine_busy: f64,
    /// Share of the machine's CPU time stolen by the hypervisor during the window.
    pub steal: f64,
}

impl Outcome {
    /// Adds another window of the same load (alternating rounds).
    pub fn merge(&mut self, o: Outcome) {
        let (a, b) = (self.window.as_secs_f64(), o.window.as_secs_f64());
        if a + b > 0.0 {
            self.machine_busy = (self.machine_busy * a + o.machine_busy * b) / (a + b);
            self.steal = (self.steal * a + o.steal * b) / (a + b);
        }
        self.connections = self.connections.max(o.connections);
        self.window += o.window;
        self.latencies_ns.extend(o.latencies_ns);
        self.latencies_ns.sort_unstable();
        for (k, v) in o.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        self.errors += o.errors;
        self.generator_cpu += o.generator_cpu;
        self.server_cpu += o.server_cpu;
        self.functions_cpu += o.functions_cpu;
    }

    pub fn count(&self) -> u64 {
        self.latencies_ns.len() as u64
    }

    pub fn rps(&self) -> f64 {
        self.count() as f64 / self.window.as_secs_f64()
    }

    /// Responses per second with a status in `range` (e.g. redirects only).
    pub fn rps_of(&self, range: std::ops::RangeInclusive<u16>) -> f64 {
        let n: u64 = self
            .statuses
            .iter()
            .filter(|(s, _)| range.contains(s))
            .map(|(_, n)| n)
            .sum();
        n as f64 / self.window.as_secs_f64()
    }

    /// Nearest-rank percentile, `q` in 0..=1.
    pub fn percentile(&self, q: f64) -> Option<Duration> {
        let n = self.latencies_ns.len();
        if n == 0 {
            return None;
        }
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        Some(Duration::from_nanos(self.latencies_ns[rank - 1]))
    }

    pub fn p50(&self) -> Option<Duration> {
        self.percentile(0.50)
    }

    pub fn p99(&self) -> Option<Duration> {
        self.percentile(0.99)
    }

    /// Generator CPU per request: what a request costs the client side.
    pub fn generator_cpu_per_request(&self) -> Option<Duration> {
        self.per_request(self.generator_cpu)
    }

    /// `cpu` per request of the window.
    pub fn per_request(&self, cpu: Duration) -> Option<Duration> {
        (self.count() > 0)
            .then(|| Duration::from_nanos((cpu.as_nanos() / self.count() as u128) as u64))
    }

    /// CPU time of the whole machine that was busy during the window.
    pub fn machine_cpu(&self) -> Duration {
        self.window
            .mul_f64(self.machine_busy * crate::cpu::cpus() as f64)
    }

    /// Busy CPU that neither the generator nor the server used: other processes on the
    /// machine (a build, say), which make the numbers of this window less trustworthy.
    pub fn other_cpu(&self) -> Duration {
        self.machine_cpu()
            .saturating_sub(self.generator_cpu)
            .saturating_sub(self.server_cpu)
    }
}

#[derive(Default)]
struct ConnStats {
    latencies_ns: Vec<u64>,
    statuses: BTreeMap<u16, u64>,
    errors: u64,
}

/// Runs `plan` against `req`. Requests that start during the warm-up are not counted; requests
/// that start in the window are, and throughput is those over the window's length (each
/// connection stops starting requests at the window's end, so at most one request per
/// connection ends after it).
///
/// `servers` are the roots of the process trees serving `req`, whose CPU time is measured.
pub async fn run(req: &Request, plan: Plan, servers: &[u32]) -> Outcome {
    let start = Instant::now();
    let measure_from = start + plan.warmup;
    let end = measure_from + plan.duration;
    let tasks: Vec<_> = (0..plan.connections.max(1))
        .map(|_| {
            let req = req.clone();
            tokio::spawn(connection(req, measure_from, end))
        })
        .collect();
    tokio::time::sleep_until(measure_from.into()).await;
    let cpu_before = cpu::Snapshot::take(servers);
    tokio::time::sleep_until(end.into()).await;
    let cpu_after = cpu::Snapshot::take(servers);
    let mut out = Outcome {
        connections: plan.connections,
        window: plan.duration,
        generator_cpu: cpu_after.generator.saturating_sub(cpu_before.generator),
        server_cpu: cpu_after.server.saturating_sub(cpu_before.server),
        functions_cpu: cpu_after.functions.saturating_sub(cpu_before.functions),
        machine_busy: cpu::busy_share(&cpu_before, &cpu_after),
        steal: cpu::steal_share(&cpu_before, &cpu_after),
        ..Outcome::default()
    };
    for t in tasks {
        let Ok(s) = t.await else {
            out.errors += 1;
            continue;
        };
        out.latencies_ns.extend(s.latencies_ns);
        for (k, v) in s.statuses {
            *out.statuses.entry(k).or_default() += v;
        }
        out.errors += s.errors;
    }
    out.latencies_ns.sort_unstable();
    out
}

/// A closed loop of `call` (one caller) for `plan`, measured as [`run`] measures requests:
/// for a client other than the generator's own (the AWS SDK), whose cost per call then shows
/// as the generator's CPU. `call` answers a status, or None for a failure.
pub async fn run_calls<F, Fut>(plan: Plan, call: F) -> Outcome
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<u16>>,
{
    let start = Instant::now();
    let measure_from = start + plan.warmup;
    let end = measure_from + plan.duration;
    let mut stats = ConnStats::default();
    let mut before = None;
    loop {
        let t0 = Instant::now();
        if t0 >= end {
            break;
        }
        if t0 >= measure_from && before.is_none() {
            before = Some(cpu::Snapshot::take(&[]));
        }
        let status = tokio::time::timeout(Duration::from_secs(5), call()).await;
        if t0 < measure_from {
            continue;
        }
        match status {
            Ok(Some(s)) => {
                stats.latencies_ns.push(t0.elapsed().as_nanos() as u64);
                *stats.statuses.entry(s).or_default() += 1;
            }
            _ => stats.errors += 1,
        }
    }
    let before = before.unwrap_or_else(|| cpu::Snapshot::take(&[]));
    let after = cpu::Snapshot::take(&[]);
    stats.latencies_ns.sort_unstable();
    Outcome {
        connections: 1,
        window: plan.duration,
        latencies_ns: stats.latencies_ns,
        statuses: stats.statuses,
        errors: stats.errors,
        generator_cpu: after.generator.saturating_sub(before.generator),
        machine_busy: cpu::busy_share(&before, &after),
        steal: cpu::steal_share(&before, &after),
        ..Outcome::default()
    }
}

async fn connection(req: Request, measure_from: Instant, end: Instant) -> ConnStats {
    let mut stats = ConnStats {
        latencies_ns: Vec::with_capacity(64 * 1024),
        ..ConnStats::default()
    };
    let mut conn: Option<Conn> = None;
    // A server that stops answering must not hold the harness: each request gets until the
    // window's end plus this grace.
    let grace = Duration::from_secs(5);
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match tokio::time::timeout(grace, Conn::open(req.addr)).await {
                Ok(Ok(c)) => conn.insert(c),
                _ => {
                    if now >= measure_from {
                        stats.errors += 1;
                    }
                    // Refused: do not spin on a server that is not there.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let t0 = Instant::now();
        let limit = end.saturating_duration_since(t0) + grace;
        let result = tokio::time::timeout(limit, c.exchange(&req, false)).await;
        let elapsed = t0.elapsed();
        let counted = t0 >= measure_from;
        match result {
            Ok(Ok(resp)) => {
                if counted {
                    stats.latencies_ns.push(elapsed.as_nanos() as u64);
                    *stats.statuses.entry(resp.status).or_default() += 1;
                }
                if c.closed {
                    conn = None;
                }
            }
            _ => {
                if counted {
                    stats.errors += 1;
                }
                conn = None;
            }
        }
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_frame_their_bodies() {
        let h = parse_head(
            b"HTTP/1.1 301 Moved Permanently\r\nLocation: x\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(h.status, 301);
        assert!(h.keep_alive);
        assert!(matches!(h.framing, Framing::Length(0)));
        let h = parse_head(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n").unwrap();
        assert!(matches!(h.framing, Framing::Chunked));
        let h = parse_head(b"HTTP/1.0 200 OK\r\n\r\n").unwrap();
        assert!(!h.keep_alive);
        assert!(matches!(h.framing, Framing::UntilClose));
        let h = parse_head(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n").unwrap();
        assert!(!h.keep_alive);
        assert!(matches!(h.framing, Framing::Length(0)));
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let o = Outcome {
            latencies_ns: (1..=100).collect(),
            window: Duration::from_secs(1),
            ..Outcome::default()
        };
        assert_eq!(o.p50(), Some(Duration::from_nanos(50)));
        assert_eq!(o.p99(), Some(Duration::from_nanos(99)));
        assert_eq!(o.percentile(1.0), Some(Duration::from_nanos(100)));
        assert_eq!(o.rps(), 100.0);
    }

    #[tokio::test]
    async fn reads_length_and_chunked_bodies_on_one_connection() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let answers: [&[u8]; 2] = [
                b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
            ];
            for a in answers {
                let _ = s.read(&mut buf).await.unwrap();
                s.write_all(a).await.unwrap();
            }
        });
        let req = Request::get(addr, "/");
        let mut c = Conn::open(addr).await.unwrap();
        assert_eq!(c.exchange(&req, true).await.unwrap().body, b"hello");
        assert_eq!(c.exchange(&req, true).await.unwrap().body, b"abcde");
        assert!(!c.closed);
    }
}
