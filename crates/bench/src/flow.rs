//! Fixed amounts of work timed from start to end (messages through a queue, clicks through the
//! product's pipeline), for the `sqs` and `pipeline` parts: their rate, the CPU each item cost
//! the serving side and the client, and how busy the machine was meanwhile; rendered as a
//! table of their own in the report.

use crate::cpu;
use crate::report::{lat, rate};
use std::fmt::Write;
use std::time::{Duration, Instant};

/// CPU and wall time over one measured stretch.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    pub elapsed: Duration,
    /// The serving process trees (for devstack: this process without the client's threads,
    /// plus the function processes).
    pub server: Duration,
    /// The function processes alone.
    pub functions: Duration,
    /// The client's threads (the generator runtime, where every SDK call runs).
    pub client: Duration,
    /// Share of the machine busy, and stolen by the hypervisor (0..=1).
    pub busy: f64,
    pub steal: f64,
}

impl Usage {
    /// CPU time used by neither side (another build, say).
    pub fn other(&self) -> Duration {
        self.elapsed
            .mul_f64(self.busy * cpu::cpus() as f64)
            .saturating_sub(self.server)
            .saturating_sub(self.client)
    }
}

/// Started before a stretch of work, stopped after it.
pub struct Meter {
    servers: Vec<u32>,
    before: cpu::Snapshot,
    start: Instant,
}

impl Meter {
    pub fn start(servers: &[u32]) -> Self {
        Self {
            servers: servers.to_vec(),
            before: cpu::Snapshot::take(servers),
            start: Instant::now(),
        }
    }

    pub fn stop(&self) -> Usage {
        let elapsed = self.start.elapsed();
        let after = cpu::Snapshot::take(&self.servers);
        let b = &self.before;
        Usage {
            elapsed,
            server: after.server.saturating_sub(b.server),
            functions: after.functions.saturating_sub(b.functions),
            client: after.generator.saturating_sub(b.generator),
            busy: cpu::busy_share(b, &after),
            steal: cpu::steal_share(b, &after),
        }
    }
}

/// One row: `items` of work done in `usage.elapsed`.
pub struct Flow {
    pub scenario: String,
    pub backend: String,
    /// Concurrent client tasks (or what drives the work).
    pub clients: String,
    pub items: usize,
    /// What an item is, plural: "msg", "clicks".
    pub unit: &'static str,
    pub usage: Usage,
    /// Per-item latencies, where the row measures them (sorted).
    pub latencies: Vec<Duration>,
    /// Anything wrong with the answers (failed entries, duplicates), empty if none.
    pub problems: String,
    pub reference: String,
}

impl Flow {
    pub fn rate(&self) -> f64 {
        let s = self.usage.elapsed.as_secs_f64();
        if s == 0.0 { 0.0 } else { self.items as f64 / s }
    }

    fn per_item(&self, d: Duration) -> String {
        if self.items == 0 {
            return "-".into();
        }
        format!("{:.0} µs", d.as_nanos() as f64 / 1e3 / self.items as f64)
    }
}

/// Throughput of one 10k slice of the deep-queue run, both ways.
pub struct Slice {
    /// Queue depth (visible messages) before and after the send slice.
    pub send_depth: (usize, usize),
    pub send: Option<Flow>,
    /// Depth before and after the receive+delete slice.
    pub drain_depth: (usize, usize),
    pub drain: Option<Flow>,
}

fn busy(u: &Usage) -> String {
    let other = 100.0 * u.other().as_secs_f64()
        / (u.elapsed.as_secs_f64() * cpu::cpus() as f64).max(f64::MIN_POSITIVE);
    format!(
        "{:.0}% ({:.0}%{})",
        u.busy * 100.0,
        other,
        if u.steal >= 0.005 {
            format!(", steal {:.0}%", u.steal * 100.0)
        } else {
            String::new()
        }
    )
}

/// The section of the report for [`Flow`]s and the deep-queue [`Slice`]s.
pub fn markdown(s: &mut String, flows: &[Flow], slices: &[Slice]) {
    if flows.is_empty() && slices.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\n## Queues and the click pipeline\n\nA fixed amount of work, timed from the first call \
         to the last answer (for the pipeline: to the GetItem that shows the last click \
         counted). *clients*: concurrent client tasks, all on the load generator's runtime \
         through the AWS SDK. *p50/p99*: per call for SQS (a SendMessageBatch; a \
         ReceiveMessage with its DeleteMessageBatch), per click for the pipeline's latency \
         row. CPU per item: *server* is the serving side (devstack: the bench \
         process without the client's threads, plus the function processes, *fn*; moto: its \
         process), *client* the SDK's threads; *busy (other)* as in the requests table.\n"
    );
    let _ = writeln!(
        s,
        "| scenario | backend | clients | items | time | rate | p50 | p99 | server CPU/item | client CPU/item | busy (other) | reference |"
    );
    let _ = writeln!(s, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|");
    for f in flows {
        let u = &f.usage;
        let q = |p: f64| crate::report::percentile(&f.latencies, p);
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} {}/s{} | {} | {} | {} | {} | {} | {} |",
            f.scenario,
            f.backend,
            f.clients,
            f.items,
            lat(Some(u.elapsed)),
            rate(f.rate()),
            f.unit,
            if f.problems.is_empty() {
                String::new()
            } else {
                format!(" (**{}**)", f.problems)
            },
            lat(q(0.5)),
            lat(q(0.99)),
            if u.functions.is_zero() {
                f.per_item(u.server)
            } else {
                format!("{} (fn {})", f.per_item(u.server), f.per_item(u.functions))
            },
            f.per_item(u.client),
            busy(u),
            f.reference
        );
    }
    if slices.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\n### devstack SQS as the queue grows and shrinks\n\nOne queue filled to its full \
         depth in slices (batched send), then emptied in slices (batched receive+delete), each \
         slice timed alone; *depth* is the queue's number of messages before → after it.\n"
    );
    let _ = writeln!(
        s,
        "| slice | depth (send) | send | server CPU/msg | busy (other) | depth (receive+delete) | receive+delete | server CPU/msg | busy (other) |"
    );
    let _ = writeln!(s, "|--:|---|--:|--:|--:|---|--:|--:|--:|");
    let cell = |f: &Option<Flow>| match f {
        Some(f) => format!(
            "{} msg/s{} | {} | {}",
            rate(f.rate()),
            if f.problems.is_empty() {
                String::new()
            } else {
                format!(" (**{}**)", f.problems)
            },
            f.per_item(f.usage.server),
            busy(&f.usage)
        ),
        None => "- | - | -".into(),
    };
    for (i, sl) in slices.iter().enumerate() {
        let _ = writeln!(
            s,
            "| {} | {} → {} | {} | {} → {} | {} |",
            i + 1,
            sl.send_depth.0,
            sl.send_depth.1,
            cell(&sl.send),
            sl.drain_depth.0,
            sl.drain_depth.1,
            cell(&sl.drain),
        );
    }
}
