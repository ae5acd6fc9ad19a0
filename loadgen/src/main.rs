//! `micelio-loadgen`: drives any Micelio node over the wire protocol (handshakes, idle
//! connections, signed chat traffic) and reports rates, latency and the node's memory.

mod ceiling;
mod cli;
mod clock;
mod connection;
mod latency;
mod messages;
mod monitor;
mod pacing;
mod pool;
mod report;
mod traffic;

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use micelio_core::node::NodeConfig;

use crate::ceiling::Ceiling;
use crate::cli::{Args, Plan};
use crate::clock::Clock;
use crate::messages::Messages;
use crate::monitor::Monitor;
use crate::pool::Pool;
use crate::report::{IdleReport, RssReport, Settings, Summary};
use crate::traffic::TrafficSpec;

/// Pause after closing connections before the "after" RSS sample, so the node has freed them.
const AFTER_PAUSE: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(error) = args.plan(None) {
        eprintln!("micelio-loadgen: {error}");
        return ExitCode::from(2);
    }
    match run(&args) {
        Ok(summary) => {
            print!("{}", summary.table());
            if let Some(path) = &args.json {
                if let Err(e) = summary.write_json(path) {
                    eprintln!("micelio-loadgen: writing {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("micelio-loadgen: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<Summary, String> {
    let clock = Clock::start();
    let first_ceiling = measure_ceiling(args, "at start");
    let plan = &args.plan(first_ceiling.map(|c| c.raw_verify_per_sec))?;
    warn_limits(plan, args);
    let mut monitor = Monitor::new(args.target_pid);
    let mut rss = RssReport {
        before_kib: monitor.sample(),
        ..RssReport::default()
    };
    let mut pool = Pool::new(clock).map_err(|e| e.to_string())?;
    let handshakes = (args.connections > 0).then(|| {
        pool.open(
            &plan.targets,
            args.connections,
            args.concurrency,
            false,
            &mut monitor,
        )
    });
    let idle = (args.idle_connections > 0).then(|| idle_phase(args, plan, &mut pool, &mut monitor));
    pool.close_all();

    let mut messages_prepared = 0;
    let traffic = if args.duration > 0.0 {
        eprintln!(
            "preparing {} messages from {} senders ({}presigned)...",
            plan.messages,
            plan.senders,
            if args.presign { "" } else { "not " }
        );
        let started = Instant::now();
        let messages = Messages::prepare(
            plan.messages,
            plan.senders,
            args.payload_bytes,
            args.presign,
        );
        messages_prepared = messages.len();
        eprintln!("prepared in {:.2} s", started.elapsed().as_secs_f64());
        let spec = TrafficSpec {
            send_to: plan.send_to,
            receive_from: plan.receive_from,
            rate: plan.paced_rate,
            duration: Duration::from_secs_f64(args.duration),
            drain: Duration::from_secs_f64(args.drain),
            max_in_flight: args.max_in_flight,
            target_pid: args.target_pid,
        };
        Some(traffic::run(&spec, messages, clock, &mut monitor)?)
    } else {
        None
    };

    // A second measurement after the load: on a shared machine the first may have run while
    // something else was busy. The faster of the two is the ceiling (the stricter ratio).
    let last_ceiling = traffic
        .as_ref()
        .and_then(|_| measure_ceiling(args, "after the traffic"));
    let ceiling_samples: Vec<Ceiling> = first_ceiling.into_iter().chain(last_ceiling).collect();
    let ceiling = ceiling_samples.iter().copied().reduce(Ceiling::max);
    std::thread::sleep(AFTER_PAUSE);
    rss.after_kib = monitor.sample();
    rss.peak_kib = monitor.peak_kib;
    let delivered = traffic.as_ref().map(|t| t.delivered_per_sec);
    let ratio = |per_sec: f64| delivered.filter(|_| per_sec > 0.0).map(|d| d / per_sec);
    let cpu = traffic.as_ref().and_then(|t| t.target_cpu);
    let ratio_cpu_bound = ceiling
        .zip(cpu)
        .filter(|(c, cpu)| cpu.us_per_message > 0.0 && c.verify_per_cpu_sec > 0.0)
        .map(|(c, cpu)| 1e6 / cpu.us_per_message / c.verify_per_cpu_sec);
    Ok(Summary {
        label: args.label.clone(),
        unix_time: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        settings: Settings {
            targets: plan.targets.iter().map(ToString::to_string).collect(),
            send_to: plan.send_to.to_string(),
            receive_from: plan.receive_from.to_string(),
            connections: args.connections,
            concurrency: args.concurrency,
            idle_connections: args.idle_connections,
            senders: plan.senders,
            rate: args.rate,
            paced_rate: plan.paced_rate,
            duration_s: args.duration,
            payload_bytes: args.payload_bytes,
            presign: args.presign,
            messages: messages_prepared,
        },
        ratio_to_ceiling: ceiling.and_then(|c| ratio(c.verify_per_sec)),
        ratio_to_raw_verify: ceiling.and_then(|c| ratio(c.raw_verify_per_sec)),
        ratio_cpu_bound,
        ceiling,
        ceiling_samples,
        handshakes,
        idle,
        traffic,
        rss,
    })
}

/// Measures the verify ceiling for `--ceiling-secs` per rate (nothing when 0).
fn measure_ceiling(args: &Args, when: &str) -> Option<Ceiling> {
    (args.ceiling_secs > 0.0).then(|| {
        eprintln!(
            "measuring the ED25519 verify ceiling {when} ({} s per rate)...",
            args.ceiling_secs
        );
        ceiling::measure(
            args.payload_bytes,
            Duration::from_secs_f64(args.ceiling_secs),
        )
    })
}

/// Warns when senders would exceed the node's per-sender rate limit, and when the run would
/// send more distinct messages within the seen cache's minimum age than our node's seen cache
/// holds (`NodeConfig::default()`): a full cache refuses new ids
/// until its oldest are that old, which caps sustained traffic at `max_seen / seen_min_age`.
fn warn_limits(plan: &Plan, args: &Args) {
    if plan.over_sender_limit() {
        eprintln!(
            "warning: {} msgs/s from {} senders exceeds the node's 10 msgs/s per sender; \
             use --senders {} or more",
            plan.paced_rate,
            plan.senders,
            cli::auto_senders(plan.paced_rate)
        );
    }
    let node = NodeConfig::default();
    let window = node.seen_min_age.as_secs_f64();
    let in_window = plan.messages.min((plan.paced_rate * window) as usize);
    if args.duration > 0.0 && in_window > node.max_seen {
        eprintln!(
            "warning: up to {in_window} messages within {window} s; a micelio node's seen cache \
             holds {} ids and refuses new ones while all are younger than {window} s \
             (sustained cap {:.0} msgs/s)",
            node.max_seen,
            node.max_seen as f64 / window
        );
    }
}

/// Opens `--idle-connections`, holds them `--idle-hold` seconds, and samples the target's RSS
/// before and while they are held. The caller closes them.
fn idle_phase(args: &Args, plan: &Plan, pool: &mut Pool, monitor: &mut Monitor) -> IdleReport {
    let rss_before_kib = monitor.sample();
    let open = pool.open(
        &plan.targets,
        args.idle_connections,
        args.concurrency,
        true,
        monitor,
    );
    pool.hold(Duration::from_secs_f64(args.idle_hold), monitor);
    let rss_held_kib = monitor.sample();
    let held = pool.held();
    let rss_per_connection_bytes = match (rss_before_kib, rss_held_kib) {
        (Some(before), Some(after)) if held > 0 => {
            Some((after as f64 - before as f64) * 1024.0 / held as f64)
        }
        _ => None,
    };
    IdleReport {
        open,
        held,
        lost: pool.lost.clone(),
        rss_before_kib,
        rss_held_kib,
        rss_per_connection_bytes,
    }
}
