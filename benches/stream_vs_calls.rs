//! A stream of items against the same items as separate calls, on whatever room two
//! participants share: items per second and the latency of one item from the moment the
//! server has it to the moment the caller does. Included by `benches/streaming.rs`
//! (in-process) and `sfu-tests/benches/real_server.rs` (through livekit-server).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use livekit_typed_rpc::streaming::RpcStream;
use livekit_typed_rpc::{livekit_rpc, Participant, Serving};
use serde::{Deserialize, Serialize};

/// Items in the throughput rows.
pub const ITEMS: u64 = 10_000;
/// Items in the latency rows, one every `PACE`.
pub const PACED_ITEMS: u64 = 300;
pub const PACE: Duration = Duration::from_millis(2);
/// Calls in flight at once in the concurrent-calls row.
pub const IN_FLIGHT: u64 = 64;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Item {
    pub n: u64,
    /// When the server had the item, in ns since this process's epoch (both participants
    /// live in the bench process).
    pub at_ns: u64,
    pub joints: [f32; 6],
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ns() -> u64 {
    epoch().elapsed().as_nanos() as u64
}

fn item(n: u64) -> Item {
    Item {
        n,
        at_ns: now_ns(),
        joints: [n as f32, 0.5, 1.5, 2.5, 3.5, 4.5],
    }
}

#[livekit_rpc(namespace = "bench_feed")]
pub trait BenchFeed {
    /// `count` items, one every `every_us` (0: as fast as the window allows).
    async fn items(&self, count: u64, every_us: u64) -> Result<RpcStream<Item, String>, String>;
    /// Item `n`, as a plain call.
    async fn item(&self, n: u64) -> Item;
}

struct Feed;

impl BenchFeed for Feed {
    async fn items(&self, count: u64, every_us: u64) -> Result<RpcStream<Item, String>, String> {
        if every_us == 0 {
            // Stamped as the pump takes each one.
            return Ok(RpcStream::from_iter((0..count).map(item)));
        }
        Ok(RpcStream::spawn(move |sink| async move {
            let mut tick = tokio::time::interval(Duration::from_micros(every_us));
            for n in 0..count {
                tick.tick().await;
                if sink.send(item(n)).await.is_err() {
                    break;
                }
            }
            Ok(())
        }))
    }

    async fn item(&self, n: u64) -> Item {
        item(n)
    }
}

pub fn serve(server: &Participant) -> Serving {
    server
        .serve(BenchFeedServer::new(Feed))
        .expect("serve the bench feed")
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The rows of the comparison, as markdown table rows (`| measurement | stream | calls |
/// stream / calls |`), measured by `caller` against the feed `server` serves.
pub async fn measure(caller: &Participant, server: &str, where_: &str) -> Vec<String> {
    let feed = BenchFeedClient::new(caller.clone(), server);
    // Warm both paths.
    feed.items(200, 0)
        .await
        .unwrap()
        .collect_all()
        .await
        .unwrap();
    for n in 0..50 {
        feed.item(n).await.unwrap();
    }

    let started = Instant::now();
    let got = feed
        .items(ITEMS, 0)
        .await
        .unwrap()
        .collect_all()
        .await
        .unwrap();
    assert_eq!(got.len() as u64, ITEMS);
    let stream_rate = ITEMS as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    for n in 0..ITEMS {
        feed.item(n).await.unwrap();
    }
    let sequential_rate = ITEMS as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..IN_FLIGHT {
        let feed = feed.clone();
        workers.spawn(async move {
            for n in (w..ITEMS).step_by(IN_FLIGHT as usize) {
                feed.item(n).await.unwrap();
            }
        });
    }
    while workers.join_next().await.is_some() {}
    let concurrent_rate = ITEMS as f64 / started.elapsed().as_secs_f64();

    // Latency: from the server having an item to the caller having it.
    let mut stream_latency = Vec::new();
    let mut paced = feed
        .items(PACED_ITEMS, PACE.as_micros() as u64)
        .await
        .unwrap();
    while let Some(item) = paced.next().await {
        let item = item.unwrap();
        stream_latency.push(Duration::from_nanos(now_ns().saturating_sub(item.at_ns)));
    }
    let (mut call_latency, mut round_trip) = (Vec::new(), Vec::new());
    for n in 0..PACED_ITEMS {
        let asked = Instant::now();
        let item = feed.item(n).await.unwrap();
        round_trip.push(asked.elapsed());
        call_latency.push(Duration::from_nanos(now_ns().saturating_sub(item.at_ns)));
        tokio::time::sleep(PACE).await;
    }
    let (s50, s99) = (
        percentile(&mut stream_latency, 0.5),
        percentile(&mut stream_latency, 0.99),
    );
    let (c50, c99) = (
        percentile(&mut call_latency, 0.5),
        percentile(&mut call_latency, 0.99),
    );
    let (r50, r99) = (
        percentile(&mut round_trip, 0.5),
        percentile(&mut round_trip, 0.99),
    );
    vec![
        format!(
            "| {ITEMS} items {where_}, items/s | {stream_rate:.0} | {sequential_rate:.0} (one call at a time) | {:.1}x |",
            stream_rate / sequential_rate
        ),
        format!(
            "| {ITEMS} items {where_}, items/s | {stream_rate:.0} | {concurrent_rate:.0} ({IN_FLIGHT} calls in flight) | {:.1}x |",
            stream_rate / concurrent_rate
        ),
        format!(
            "| one item {where_}, server has it → caller has it, p50 / p99 ({PACED_ITEMS} items, one every {} ms) | {:.3} / {:.3} ms | {:.3} / {:.3} ms (the response leg of a call) | {:.2}x / {:.2}x |",
            PACE.as_millis(),
            ms(s50), ms(s99), ms(c50), ms(c99), ms(s50) / ms(c50), ms(s99) / ms(c99)
        ),
        format!(
            "| one item {where_}, asked → received, p50 / p99 | {:.3} / {:.3} ms (pushed: no asking) | {:.3} / {:.3} ms (a call's round trip) | {:.2}x / {:.2}x |",
            ms(s50), ms(s99), ms(r50), ms(r99), ms(s50) / ms(r50), ms(s99) / ms(r99)
        ),
    ]
}
