//! `ax-load`: the closed-loop load driver of the ax benchmark harness.
//!
//! `run` keeps a fixed number of HTTP/1.1 keep-alive connections (TCP_NODELAY, one
//! request in flight each) busy for a fixed duration, records every request's latency
//! (and, with `--stream`, the time to the first body byte), and — given the gateway's
//! `--pid` — its CPU time (utime + stime of the process tree from `/proc`) and RSS
//! during the measured window. It prints one JSON object.
//!
//! `probe` polls a URL until it answers 200 and prints the time since `--since-ns`
//! (cold start). `rss` prints the resident set of a process tree.

mod procfs;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use clap::{Args, Parser, Subcommand};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;

/// Closed-loop HTTP load driver for the ax benchmark harness.
#[derive(Debug, Parser)]
#[command(name = "ax-load", version)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Drive load at a fixed concurrency and print a JSON summary.
    Run(RunArgs),
    /// Poll until the URL answers 200; print the elapsed time since `--since-ns`.
    Probe(ProbeArgs),
    /// Print the resident set (kB) of a process and its descendants.
    Rss {
        /// Process id.
        #[arg(long)]
        pid: u32,
    },
}

#[derive(Debug, Args, Clone)]
struct Target {
    /// Full URL (http only, loopback).
    #[arg(long)]
    url: String,
    /// Request body (POST); without it and `--body-file`, a GET is sent.
    #[arg(long)]
    body: Option<String>,
    /// File whose contents are the request body.
    #[arg(long)]
    body_file: Option<std::path::PathBuf>,
    /// Extra header `name: value` (repeatable).
    #[arg(short = 'H', long = "header")]
    headers: Vec<String>,
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    target: Target,
    /// Connections, each with one request in flight.
    #[arg(short, long, default_value_t = 16)]
    concurrency: usize,
    /// Measured seconds.
    #[arg(short, long, default_value_t = 5.0)]
    duration: f64,
    /// Unmeasured seconds before the window (same connections).
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Record the time to the first body byte as well (streamed answers).
    #[arg(long)]
    stream: bool,
    /// Gateway process id: sample its CPU time and RSS (descendants included).
    #[arg(long)]
    pid: Option<u32>,
    /// Label copied into the output.
    #[arg(long, default_value = "")]
    label: String,
    /// Driver runtime threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// A substring every checked answer must contain (the first on each connection).
    #[arg(long)]
    expect: Option<String>,
    /// Spread the connections' first requests evenly over this many seconds (thousands
    /// of connects at once overflow the server's accept queue).
    #[arg(long, default_value_t = 0.0)]
    ramp: f64,
    /// A request slower than this many seconds is an error (its connection is dropped).
    #[arg(long, default_value_t = 60.0)]
    timeout: f64,
}

#[derive(Debug, Args)]
struct ProbeArgs {
    #[command(flatten)]
    target: Target,
    /// Unix time in nanoseconds the server was launched at.
    #[arg(long)]
    since_ns: Option<u128>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 60.0)]
    timeout: f64,
    /// Give up as soon as this process (the server being probed) has exited.
    #[arg(long)]
    pid: Option<u32>,
}

/// A parsed target, shared by every connection.
struct Plan {
    addr: String,
    host: String,
    path: String,
    body: Option<Bytes>,
    headers: Vec<(String, String)>,
}

impl Plan {
    fn new(t: &Target) -> Result<Self, String> {
        let uri: Uri = t.url.parse().map_err(|e| format!("bad --url: {e}"))?;
        if uri.scheme_str() != Some("http") {
            return Err("only http:// URLs are supported".into());
        }
        let host = uri.host().ok_or("--url has no host")?.to_string();
        let port = uri.port_u16().unwrap_or(80);
        let body = match (&t.body, &t.body_file) {
            (Some(b), _) => Some(Bytes::from(b.clone())),
            (None, Some(f)) => Some(Bytes::from(
                std::fs::read(f).map_err(|e| format!("{}: {e}", f.display()))?,
            )),
            (None, None) => None,
        };
        let mut headers = Vec::new();
        for h in &t.headers {
            let (k, v) = h
                .split_once(':')
                .ok_or_else(|| format!("bad header {h:?}"))?;
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        Ok(Self {
            addr: format!("{host}:{port}"),
            host: format!("{host}:{port}"),
            path: uri
                .path_and_query()
                .map_or("/".to_string(), |p| p.as_str().to_string()),
            body,
            headers,
        })
    }

    fn request(&self) -> Result<Request<Full<Bytes>>, String> {
        let mut b = Request::builder()
            .method(if self.body.is_some() { "POST" } else { "GET" })
            .uri(&self.path)
            .header("host", &self.host);
        if self.body.is_some() {
            b = b.header("content-type", "application/json");
        }
        for (k, v) in &self.headers {
            b = b.header(k, v);
        }
        b.body(Full::new(self.body.clone().unwrap_or_default()))
            .map_err(|e| e.to_string())
    }
}

/// One keep-alive HTTP/1.1 connection.
type Sender = http1::SendRequest<Full<Bytes>>;

async fn connect(addr: &str) -> Result<Sender, String> {
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, conn) = http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// The outcome of one request.
struct Sample {
    /// Whole request, microseconds.
    total_us: u32,
    /// First body byte, microseconds.
    ttfb_us: u32,
    bytes: usize,
}

async fn one(sender: &mut Sender, plan: &Plan, expect: Option<&str>) -> Result<Sample, String> {
    let req = plan.request()?;
    let start = Instant::now();
    sender.ready().await.map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let mut body = resp.into_body();
    let mut ttfb = None;
    let mut bytes = 0usize;
    let mut kept = expect.map(|_| Vec::new());
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| e.to_string())?;
        if let Some(data) = frame.data_ref() {
            if !data.is_empty() && ttfb.is_none() {
                ttfb = Some(start.elapsed());
            }
            bytes += data.len();
            if let Some(k) = kept.as_mut() {
                k.extend_from_slice(data);
            }
        }
    }
    let total = start.elapsed();
    if status != 200 {
        let text = kept.map(|k| String::from_utf8_lossy(&k).into_owned());
        return Err(format!("status {status} {}", text.unwrap_or_default()));
    }
    if let (Some(want), Some(k)) = (expect, kept)
        && !String::from_utf8_lossy(&k).contains(want)
    {
        return Err(format!(
            "answer lacks {want:?}: {}",
            String::from_utf8_lossy(&k)
        ));
    }
    let us = |d: Duration| u32::try_from(d.as_micros()).unwrap_or(u32::MAX);
    Ok(Sample {
        total_us: us(total),
        ttfb_us: us(ttfb.unwrap_or(total)),
        bytes,
    })
}

/// What one connection measured.
#[derive(Default)]
struct Tally {
    total: Vec<u32>,
    ttfb: Vec<u32>,
    errors: u64,
    bytes: usize,
    first_error: Option<String>,
}

/// When one connection runs and what counts as failure.
#[derive(Clone, Copy)]
struct Schedule {
    start: Instant,
    measure_from: Instant,
    end: Instant,
    timeout: Duration,
}

async fn worker(plan: Arc<Plan>, expect: Option<String>, sch: Schedule) -> Tally {
    let Schedule {
        start,
        measure_from,
        end,
        timeout,
    } = sch;
    tokio::time::sleep_until(start.into()).await;
    let mut t = Tally::default();
    let mut sender: Option<Sender> = None;
    let mut checked = false;
    while Instant::now() < end {
        let s = match sender.as_mut() {
            Some(s) => s,
            None => match connect(&plan.addr).await {
                Ok(s) => sender.insert(s),
                Err(e) => {
                    t.errors += 1;
                    t.first_error.get_or_insert(format!("connect: {e}"));
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
            },
        };
        let started = Instant::now();
        let want = if checked { None } else { expect.as_deref() };
        let outcome = match tokio::time::timeout(timeout, one(s, &plan, want)).await {
            Ok(r) => r,
            Err(_) => Err(format!("no complete answer within {timeout:?}")),
        };
        match outcome {
            Ok(sample) => {
                checked = true;
                if started >= measure_from && started < end {
                    t.total.push(sample.total_us);
                    t.ttfb.push(sample.ttfb_us);
                    t.bytes += sample.bytes;
                }
            }
            Err(e) => {
                if started >= measure_from {
                    t.errors += 1;
                    t.first_error.get_or_insert(e);
                }
                sender = None;
            }
        }
    }
    t
}

fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let idx = rank.clamp(1, sorted.len()) - 1;
    f64::from(sorted[idx]) / 1000.0
}

fn summary(sorted: &[u32]) -> Value {
    let mean = if sorted.is_empty() {
        0.0
    } else {
        sorted.iter().map(|&v| f64::from(v)).sum::<f64>() / sorted.len() as f64 / 1000.0
    };
    json!({
        "p50": pct(sorted, 50.0),
        "p90": pct(sorted, 90.0),
        "p99": pct(sorted, 99.0),
        "max": pct(sorted, 100.0),
        "mean": mean,
    })
}

async fn run(args: RunArgs) -> Result<Value, String> {
    let plan = Arc::new(Plan::new(&args.target)?);
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(args.warmup.max(0.0));
    let end = measure_from + Duration::from_secs_f64(args.duration.max(0.1));
    let mut handles = Vec::new();
    let n = args.concurrency.max(1);
    let ramp = Duration::from_secs_f64(args.ramp.max(0.0));
    for i in 0..n {
        let sch = Schedule {
            start: start + ramp.mul_f64(i as f64 / n as f64),
            measure_from,
            end,
            timeout: Duration::from_secs_f64(args.timeout.max(0.001)),
        };
        handles.push(tokio::spawn(worker(plan.clone(), args.expect.clone(), sch)));
    }
    // Gateway sampling: CPU at the window's edges, RSS every 20 ms inside it.
    let mut cpu_before = None;
    let mut cpu_after = None;
    let mut rss_peak = 0u64;
    if let Some(pid) = args.pid {
        tokio::time::sleep_until(measure_from.into()).await;
        cpu_before = procfs::cpu_ticks(pid);
        let pids = procfs::tree(pid);
        while Instant::now() < end {
            let rss = pids.iter().filter_map(|&p| procfs::vm_rss_kb(p)).sum();
            rss_peak = rss_peak.max(rss);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let mut tally = Tally::default();
    for h in handles {
        let t = h.await.map_err(|e| e.to_string())?;
        tally.total.extend(t.total);
        tally.ttfb.extend(t.ttfb);
        tally.errors += t.errors;
        tally.bytes += t.bytes;
        if tally.first_error.is_none() {
            tally.first_error = t.first_error;
        }
    }
    if let Some(pid) = args.pid {
        cpu_after = procfs::cpu_ticks(pid);
    }
    let window = end.duration_since(measure_from).as_secs_f64();
    let n = tally.total.len();
    tally.total.sort_unstable();
    tally.ttfb.sort_unstable();
    let mut out = json!({
        "label": args.label,
        "concurrency": args.concurrency,
        "duration_s": window,
        "requests": n,
        "errors": tally.errors,
        "rps": n as f64 / window,
        "bytes_per_req": tally.bytes.checked_div(n).unwrap_or(0),
        "latency_ms": summary(&tally.total),
        "first_error": tally.first_error,
    });
    if args.stream {
        out["ttfb_ms"] = summary(&tally.ttfb);
    }
    if let (Some(a), Some(b)) = (cpu_before, cpu_after) {
        let ms = (b.saturating_sub(a)) as f64 * 1000.0 / procfs::ticks_per_second() as f64;
        out["cpu_ms"] = json!(ms);
        out["cpu_us_per_req"] = json!(if n == 0 { 0.0 } else { ms * 1000.0 / n as f64 });
        out["rss_peak_kb"] = json!(rss_peak);
    }
    Ok(out)
}

async fn probe(args: ProbeArgs) -> Result<Value, String> {
    let plan = Plan::new(&args.target)?;
    let deadline = Instant::now() + Duration::from_secs_f64(args.timeout);
    let mut attempts = 0u64;
    loop {
        attempts += 1;
        if let Ok(mut s) = connect(&plan.addr).await
            && one(&mut s, &plan, None).await.is_ok()
        {
            break;
        }
        if let Some(pid) = args.pid
            && procfs::vm_rss_kb(pid).is_none()
        {
            return Err(format!("process {pid} exited before answering 200"));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "no 200 from {} after {attempts} tries",
                args.target.url
            ));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_nanos();
    let mut out = json!({ "ready_ns": now.to_string(), "attempts": attempts });
    if let Some(t0) = args.since_ns {
        out["cold_start_ms"] = json!(now.saturating_sub(t0) as f64 / 1e6);
    }
    Ok(out)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let threads = match &cli.cmd {
        Cmd::Run(a) => a.threads.max(1),
        _ => 1,
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ax-load: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        match cli.cmd {
            Cmd::Run(a) => run(a).await,
            Cmd::Probe(a) => probe(a).await,
            Cmd::Rss { pid } => procfs::rss_kb(pid)
                .map(|kb| json!({ "rss_kb": kb }))
                .ok_or_else(|| format!("no process {pid}")),
        }
    });
    match result {
        Ok(v) => {
            println!("{v}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ax-load: {e}");
            ExitCode::FAILURE
        }
    }
}
