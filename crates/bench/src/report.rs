//! The markdown report: measurements side by side, the targets with pass/fail, and where the
//! time of one request goes.

use crate::cpu;
use crate::load::Outcome;
use std::fmt::Write;
use std::time::Duration;

pub struct Row {
    pub scenario: String,
    pub instances: String,
    pub out: Outcome,
    /// The number measured earlier on this machine class, if there is one.
    pub reference: String,
}

pub struct Check {
    pub target: String,
    pub measured: String,
    /// None: not measured in this run (a part was skipped or failed).
    pub pass: Option<bool>,
}

pub struct Hop {
    pub what: String,
    pub p50: Option<Duration>,
    pub p99: Option<Duration>,
    /// CPU of the calling side per call, where the bench is the caller.
    pub client_cpu: Option<Duration>,
    pub samples: usize,
}

#[derive(Default)]
pub struct Report {
    pub header: Vec<String>,
    pub rows: Vec<Row>,
    /// Queues and the click pipeline: fixed amounts of work, and the deep queue's slices.
    pub flows: Vec<crate::flow::Flow>,
    pub slices: Vec<crate::flow::Slice>,
    pub startup: Vec<(String, String)>,
    pub checks: Vec<Check>,
    pub hops: Vec<Hop>,
    pub notes: Vec<String>,
    pub errors: Vec<String>,
}

pub fn lat(d: Option<Duration>) -> String {
    match d {
        None => "-".into(),
        Some(d) if d < Duration::from_millis(1) => format!("{} µs", d.as_micros()),
        Some(d) if d < Duration::from_secs(1) => format!("{:.2} ms", d.as_secs_f64() * 1e3),
        Some(d) => format!("{:.2} s", d.as_secs_f64()),
    }
}

pub fn rate(r: f64) -> String {
    if r >= 10_000.0 {
        format!("{:.0}k", r / 1e3)
    } else {
        format!("{r:.0}")
    }
}

fn statuses(o: &Outcome) -> String {
    let mut parts: Vec<String> = o.statuses.iter().map(|(s, n)| format!("{s}×{n}")).collect();
    if o.errors > 0 {
        parts.push(format!("**errors×{}**", o.errors));
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(" ")
    }
}

/// CPU per request, in µs.
fn per_req(o: &Outcome, cpu: Duration) -> String {
    o.per_request(cpu)
        .map(|d| format!("{:.0} µs", d.as_nanos() as f64 / 1e3))
        .unwrap_or_else(|| "-".into())
}

/// Share of the machine's CPU time over the window.
fn share(o: &Outcome, cpu: Duration) -> f64 {
    100.0 * cpu.as_secs_f64() / (o.window.as_secs_f64() * cpu::cpus() as f64)
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# devstack benchmark\n");
        for h in &self.header {
            let _ = writeln!(s, "{h}  ");
        }
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "## Requests\n\nKeep-alive HTTP/1.1, each connection a closed loop of GETs; p50/p99 over \
             every request of the window. CPU per request: *server* is the serving process tree \
             (for devstack: the bench process, which runs it through the library, without the \
             generator's threads, plus the function processes; *fn*: the function processes \
             alone), *gen.* the load generator's \
             threads. *busy* is the machine's CPU use during the window, and *other* the part \
             of it that neither used (another build, say: it skews that row); *steal*, when \
             shown, is CPU time the hypervisor gave to other guests. The one-connection rows \
             of devstack and cargo lambda alternate in short rounds, so that both meet the \
             same machine.\n"
        );
        let _ = writeln!(
            s,
            "| scenario | instances | conns | p50 | p99 | req/s | responses | server CPU/req | gen. CPU/req | busy (other) | reference |"
        );
        let _ = writeln!(s, "|---|---|--:|--:|--:|--:|---|--:|--:|--:|---|");
        for r in &self.rows {
            let o = &r.out;
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0}% ({:.0}%{}) | {} |",
                r.scenario,
                r.instances,
                o.connections,
                lat(o.p50()),
                lat(o.p99()),
                rate(o.rps()),
                statuses(o),
                if o.functions_cpu.is_zero() {
                    per_req(o, o.server_cpu)
                } else {
                    format!(
                        "{} (fn {})",
                        per_req(o, o.server_cpu),
                        per_req(o, o.functions_cpu)
                    )
                },
                per_req(o, o.generator_cpu),
                o.machine_busy * 100.0,
                share(o, o.other_cpu()),
                if o.steal >= 0.005 {
                    format!(", steal {:.0}%", o.steal * 100.0)
                } else {
                    String::new()
                },
                r.reference
            );
        }
        crate::flow::markdown(&mut s, &self.flows, &self.slices);
        if !self.startup.is_empty() {
            let _ = writeln!(s, "\n## devstack up\n\n| measure | value |\n|---|---|");
            for (k, v) in &self.startup {
                let _ = writeln!(s, "| {k} | {v} |");
            }
        }
        let _ = writeln!(
            s,
            "\n## Targets\n\n| target | measured | result |\n|---|---|---|"
        );
        for c in &self.checks {
            let result = match c.pass {
                Some(true) => "pass",
                Some(false) => "**FAIL**",
                None => "not measured",
            };
            let _ = writeln!(s, "| {} | {} | {result} |", c.target, c.measured);
        }
        if !self.hops.is_empty() {
            let _ = writeln!(
                s,
                "\n## Where one request's time goes (1 connection)\n\n| hop | p50 | p99 | caller CPU/call | samples |\n|---|--:|--:|--:|--:|"
            );
            for h in &self.hops {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} |",
                    h.what,
                    lat(h.p50),
                    lat(h.p99),
                    h.client_cpu
                        .map(|d| format!("{:.0} µs", d.as_nanos() as f64 / 1e3))
                        .unwrap_or_else(|| "-".into()),
                    h.samples
                );
            }
        }
        if !self.notes.is_empty() {
            let _ = writeln!(s, "\n## Notes\n");
            for n in &self.notes {
                let _ = writeln!(s, "- {n}");
            }
        }
        if !self.errors.is_empty() {
            let _ = writeln!(s, "\n## Errors\n");
            for e in &self.errors {
                let _ = writeln!(s, "- {e}");
            }
        }
        s
    }
}

/// Nearest-rank percentile of sorted durations.
pub fn percentile(sorted: &[Duration], q: f64) -> Option<Duration> {
    let n = sorted.len();
    (n > 0).then(|| sorted[((q * n as f64).ceil() as usize).clamp(1, n) - 1])
}
