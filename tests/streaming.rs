//! Streaming methods and cancellation on a `MemoryRoom`: items in order, typed errors,
//! cancel, idle timeout and heartbeats, deadline, a slow consumer's bounded window, hostile
//! servers (gaps, short counts, silence), callers and servers leaving, and the framing of
//! arbitrary items.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use livekit_typed_rpc::streaming::{
    wire, CallStream, CancelReason, RpcStream, StreamConfig, StreamEnd,
};
use livekit_typed_rpc::{
    livekit_rpc, CallError, Diagnostics, JoinOptions, MemoryRoom, Participant, PerformRpcData,
    RpcContext, RpcError, RpcInvocationData, RpcLimits, TransferDirection, TransferProgress,
};
use serde::{Deserialize, Serialize};
use tokio::time::{sleep, timeout, Instant};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tick {
    pub n: u64,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FeedError {
    TooMany { limit: u64 },
    Broken { after: u64 },
}

impl std::fmt::Display for FeedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

#[livekit_rpc(namespace = "feed")]
pub trait Feed {
    /// `count` ticks as fast as the window allows; refused above 1 000 000.
    async fn ticks(&self, count: u64) -> Result<RpcStream<Tick, FeedError>, FeedError>;
    /// `ok` ticks, then the typed error.
    async fn fails_after(&self, ok: u64) -> Result<RpcStream<Tick, FeedError>, FeedError>;
    /// Ticks forever, every `every_ms`; records why it stopped.
    async fn forever(
        &self,
        every_ms: u64,
        ctx: RpcContext,
    ) -> Result<RpcStream<u64, FeedError>, FeedError>;
    /// Sends the given strings back as items.
    async fn echo(&self, items: Vec<String>) -> Result<RpcStream<String, FeedError>, FeedError>;
    /// Waits up to `ms`; stops early when cancelled.
    #[rpc(cancellable)]
    async fn wait(&self, ms: u64, ctx: RpcContext) -> Result<u64, FeedError>;
    /// Waits up to `ms` without a context: dropped when cancelled.
    #[rpc(cancellable)]
    async fn wait_blind(&self, ms: u64) -> u64;
    /// The text back, for transfer progress.
    async fn echo_text(&self, text: String) -> String;
}

#[derive(Default)]
struct Observed {
    /// Items handed to the sink by `forever`.
    produced: AtomicU64,
    /// Why `forever` (or `wait`) stopped, and when.
    stopped: Mutex<Option<(CancelReason, Instant)>>,
    /// `wait_blind` futures dropped before finishing.
    blind_dropped: AtomicU64,
}

#[derive(Clone, Default)]
struct FeedImpl {
    observed: Arc<Observed>,
}

struct DropFlag(Arc<Observed>, bool);

impl Drop for DropFlag {
    fn drop(&mut self) {
        if !self.1 {
            self.0.blind_dropped.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn tick(n: u64) -> Tick {
    Tick {
        n,
        text: format!("tick {n}"),
    }
}

impl Feed for FeedImpl {
    async fn ticks(&self, count: u64) -> Result<RpcStream<Tick, FeedError>, FeedError> {
        if count > 1_000_000 {
            return Err(FeedError::TooMany { limit: 1_000_000 });
        }
        Ok(RpcStream::from_iter((0..count).map(tick)))
    }

    async fn fails_after(&self, ok: u64) -> Result<RpcStream<Tick, FeedError>, FeedError> {
        Ok(RpcStream::spawn(move |sink| async move {
            for n in 0..ok {
                if sink.send(tick(n)).await.is_err() {
                    return Ok(());
                }
            }
            Err(FeedError::Broken { after: ok })
        }))
    }

    async fn forever(
        &self,
        every_ms: u64,
        ctx: RpcContext,
    ) -> Result<RpcStream<u64, FeedError>, FeedError> {
        let observed = self.observed.clone();
        Ok(RpcStream::spawn(move |sink| async move {
            let mut n = 0;
            loop {
                tokio::select! {
                    reason = sink.cancelled() => {
                        *observed.stopped.lock().unwrap() = Some((reason, Instant::now()));
                        assert!(ctx.is_cancelled(), "the handler's context is the stream's");
                        return Ok(());
                    }
                    sent = sink.send(n) => {
                        if sent.is_err() {
                            // The stream ended: its reason is already set.
                            let reason = sink.cancelled().await;
                            *observed.stopped.lock().unwrap() = Some((reason, Instant::now()));
                            return Ok(());
                        }
                        observed.produced.fetch_add(1, Ordering::SeqCst);
                        n += 1;
                        if every_ms > 0 {
                            sleep(Duration::from_millis(every_ms)).await;
                        }
                    }
                }
            }
        }))
    }

    async fn echo(&self, items: Vec<String>) -> Result<RpcStream<String, FeedError>, FeedError> {
        Ok(RpcStream::from_iter(items))
    }

    async fn wait(&self, ms: u64, ctx: RpcContext) -> Result<u64, FeedError> {
        tokio::select! {
            reason = ctx.cancelled() => {
                *self.observed.stopped.lock().unwrap() = Some((reason, Instant::now()));
                Ok(0)
            }
            _ = sleep(Duration::from_millis(ms)) => Ok(ms),
        }
    }

    async fn echo_text(&self, text: String) -> String {
        text
    }

    async fn wait_blind(&self, ms: u64) -> u64 {
        let mut flag = DropFlag(self.observed.clone(), false);
        sleep(Duration::from_millis(ms)).await;
        flag.1 = true;
        ms
    }
}

struct Setup {
    room: MemoryRoom,
    server: Participant,
    caller: Participant,
    feed: FeedClient,
    observed: Arc<Observed>,
    _serving: livekit_typed_rpc::Serving,
}

async fn setup() -> Setup {
    let room = MemoryRoom::new();
    let server = room.join("server").await.unwrap();
    let caller = room.join("caller").await.unwrap();
    let implementation = FeedImpl::default();
    let observed = implementation.observed.clone();
    let serving = server.serve(FeedServer::new(implementation)).unwrap();
    let feed = FeedClient::new(caller.clone(), "server");
    Setup {
        room,
        server,
        caller,
        feed,
        observed,
        _serving: serving,
    }
}

/// Nothing is left behind: no call, stream, handler or queued call on either side.
async fn settles(participants: &[&Participant]) {
    let deadline = Instant::now() + Duration::from_secs(5);
    for p in participants {
        loop {
            let d = p.diagnostics();
            let idle = Diagnostics {
                refused_overloaded: d.refused_overloaded,
                ..Diagnostics::default()
            };
            if d == idle {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} still holds {d:?}",
                p.identity()
            );
            sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Why and when the producer or handler stopped, once it has (within 2 s).
async fn stopped(observed: &Observed) -> (CancelReason, Instant) {
    timeout(Duration::from_secs(2), async {
        loop {
            if let Some(stopped) = *observed.stopped.lock().unwrap() {
                return stopped;
            }
            sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("the producer or handler saw its cancellation within 2 s")
}

fn kind(error: &RpcError) -> Option<String> {
    wire::protocol_kind(error)
}

#[tokio::test]
async fn a_stream_delivers_every_item_in_order_then_ends() {
    let s = setup().await;
    let mut ticks = s.feed.ticks(10_000).await.unwrap();
    let mut n = 0;
    while let Some(item) = ticks.next().await {
        assert_eq!(item.unwrap(), tick(n));
        n += 1;
    }
    assert_eq!(n, 10_000);
    assert_eq!(ticks.end(), Some(&StreamEnd::Completed { count: 10_000 }));
    assert!(ticks.next().await.is_none(), "an ended stream stays ended");
    drop(ticks);
    let empty = s.feed.ticks(0).await.unwrap().collect_all().await.unwrap();
    assert!(empty.is_empty());
    settles(&[&s.server, &s.caller]).await;
}

#[tokio::test]
async fn typed_errors_refuse_the_open_or_end_the_stream() {
    let s = setup().await;
    match s.feed.ticks(2_000_000).await {
        Err(CallError::Application(FeedError::TooMany { limit })) => assert_eq!(limit, 1_000_000),
        other => panic!("expected the typed open error, got {other:?}"),
    }
    let mut stream = s.feed.fails_after(5).await.unwrap();
    for n in 0..5 {
        assert_eq!(stream.next().await.unwrap().unwrap(), tick(n));
    }
    match stream.next().await {
        Some(Err(CallError::Application(FeedError::Broken { after: 5 }))) => {}
        other => panic!("expected the typed end error, got {other:?}"),
    }
    assert_eq!(stream.end(), Some(&StreamEnd::Failed));
    assert!(stream.next().await.is_none());
    drop(stream);
    settles(&[&s.server, &s.caller]).await;
}

#[tokio::test]
async fn dropping_a_stream_cancels_the_producer_within_100_ms() {
    let s = setup().await;
    let mut forever = s.feed.forever(5).await.unwrap();
    for expected in 0..10 {
        assert_eq!(forever.next().await.unwrap().unwrap(), expected);
    }
    let dropped = Instant::now();
    drop(forever);
    let (reason, at) = stopped(&s.observed).await;
    assert_eq!(reason, CancelReason::CallerCancelled);
    assert!(
        at.duration_since(dropped) < Duration::from_millis(100),
        "cancel observed after {:?}",
        at.duration_since(dropped)
    );
    settles(&[&s.server, &s.caller]).await;
}

#[tokio::test]
async fn a_slow_consumer_bounds_what_the_producer_makes() {
    let s = setup().await;
    let window = 16;
    let feed = s
        .feed
        .with_stream(StreamConfig::default().window(window, 1024 * 1024));
    let mut forever = feed.forever(0).await.unwrap();
    for expected in 0..10u64 {
        assert_eq!(forever.next().await.unwrap().unwrap(), expected);
    }
    // The consumer stops reading; the producer may only fill the window.
    sleep(Duration::from_millis(300)).await;
    let produced = s.observed.produced.load(Ordering::SeqCst);
    // Consumed 10, one window in flight, one item in the sink's slot, one in hand.
    assert!(
        produced <= 10 + u64::from(window) + 2,
        "a consumer that stopped at 10 let the producer make {produced} items"
    );
    // Reading again lets it go on: the honest slow consumer loses nothing.
    for expected in 10..200u64 {
        assert_eq!(forever.next().await.unwrap().unwrap(), expected);
    }
    drop(forever);
    settles(&[&s.server, &s.caller]).await;
}

#[tokio::test]
async fn heartbeats_keep_a_slow_honest_stream_alive() {
    let s = setup().await;
    let feed = s
        .feed
        .with_stream(StreamConfig::default().idle_timeout(Duration::from_millis(150)));
    // One item every 400 ms: longer than the idle timeout, so only heartbeats (every
    // 50 ms) keep the caller from giving up.
    let mut slow = feed.forever(400).await.unwrap();
    for expected in 0..3 {
        assert_eq!(slow.next().await.unwrap().unwrap(), expected);
    }
    drop(slow);
    settles(&[&s.server, &s.caller]).await;
}

/// A server that accepts a streaming call and then does what `then` does with its id.
fn hostile_server<F, Fut>(server: &Participant, method: &str, then: F)
where
    F: Fn(Participant, String, String) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let participant = server.clone();
    let then = Arc::new(then);
    server
        .register_rpc_method(method, move |data: RpcInvocationData| {
            let (participant, then) = (participant.clone(), then.clone());
            async move {
                let envelope = wire::read_envelope(&data.payload).unwrap().unwrap();
                tokio::spawn(then(participant, data.caller_identity, envelope.id.clone()));
                Ok(wire::accept_reply(&envelope.id))
            }
        })
        .unwrap();
}

async fn write_records(server: Participant, caller: String, id: String, body: &'static str) {
    let mut writer = server
        .stream_text(livekit_typed_rpc::streams::StreamOptions {
            topic: wire::STREAM_TOPIC.into(),
            attributes: [
                (wire::ATTR_ID.to_owned(), id),
                (wire::ATTR_VERSION.to_owned(), "1".to_owned()),
            ]
            .into(),
            destination_identities: vec![caller],
            ..Default::default()
        })
        .await
        .unwrap();
    writer.write(body).await.unwrap();
    writer.close().await.unwrap();
}

#[tokio::test]
async fn a_silent_server_times_out_and_lost_records_are_data_loss() {
    let room = MemoryRoom::new();
    let server = room.join("server").await.unwrap();
    let caller = room.join("caller").await.unwrap();
    hostile_server(&server, "feed.ticks", |_, _, _| async {});
    hostile_server(&server, "feed.fails_after", |s, c, id| {
        write_records(
            s,
            c,
            id,
            "{\"n\":0,\"i\":{\"n\":0,\"text\":\"a\"}}\n{\"n\":2,\"i\":{\"n\":2,\"text\":\"c\"}}\n",
        )
    });
    hostile_server(&server, "feed.echo", |s, c, id| {
        write_records(
            s,
            c,
            id,
            "{\"n\":0,\"i\":\"a\"}\n{\"end\":\"ok\",\"count\":2}\n",
        )
    });
    let feed = FeedClient::new(caller.clone(), "server")
        .with_stream(StreamConfig::default().idle_timeout(Duration::from_millis(200)));

    let started = Instant::now();
    let mut silent = feed.ticks(5).await.unwrap();
    match silent.next().await {
        Some(Err(CallError::Rpc(e))) => {
            assert_eq!(e.code, 1502);
            assert_eq!(kind(&e).as_deref(), Some("stream_idle"));
        }
        other => panic!("expected an idle timeout, got {other:?}"),
    }
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(silent.end(), Some(&StreamEnd::TimedOut));

    let mut gap = feed.fails_after(3).await.unwrap();
    assert_eq!(gap.next().await.unwrap().unwrap().text, "a");
    match gap.next().await {
        Some(Err(CallError::Rpc(e))) => assert_eq!(kind(&e).as_deref(), Some("data_loss")),
        other => panic!("expected data loss on a gap, got {other:?}"),
    }
    assert_eq!(gap.end(), Some(&StreamEnd::DataLoss));

    let mut short = feed.echo(vec![]).await.unwrap();
    assert_eq!(short.next().await.unwrap().unwrap(), "a");
    match short.next().await {
        Some(Err(CallError::Rpc(e))) => assert_eq!(kind(&e).as_deref(), Some("data_loss")),
        other => panic!("expected data loss on a short count, got {other:?}"),
    }
    drop((silent, gap, short));
    settles(&[&caller]).await;
}

#[tokio::test]
async fn a_deadline_ends_the_stream_on_both_sides() {
    let s = setup().await;
    let feed = s
        .feed
        .with_stream(StreamConfig::default().deadline(Duration::from_millis(300)));
    let started = Instant::now();
    let mut forever = feed.forever(10).await.unwrap();
    let mut received = 0;
    let error = loop {
        match forever.next().await {
            Some(Ok(_)) => received += 1,
            Some(Err(CallError::Rpc(e))) => break e,
            other => panic!("expected the deadline, got {other:?}"),
        }
    };
    assert!(received > 0);
    assert_eq!(error.code, 1502);
    assert_eq!(kind(&error).as_deref(), Some("deadline"));
    assert!(started.elapsed() >= Duration::from_millis(290));
    assert_eq!(forever.end(), Some(&StreamEnd::TimedOut));
    drop(forever);
    settles(&[&s.server, &s.caller]).await;
    let (reason, _) = stopped(&s.observed).await;
    assert!(
        matches!(
            reason,
            CancelReason::DeadlinePassed | CancelReason::CallerCancelled
        ),
        "{reason:?}"
    );
}

#[tokio::test]
async fn a_caller_leaving_mid_stream_stops_the_producer() {
    let s = setup().await;
    let mut forever = s.feed.forever(5).await.unwrap();
    assert_eq!(forever.next().await.unwrap().unwrap(), 0);
    s.caller.leave().await;
    let (reason, _) = stopped(&s.observed).await;
    assert!(
        matches!(
            reason,
            CancelReason::CallerLeft | CancelReason::CallerCancelled
        ),
        "{reason:?}"
    );
    drop(forever);
    settles(&[&s.server]).await;
}

#[tokio::test]
async fn a_server_leaving_mid_stream_fails_the_caller_with_1503() {
    let s = setup().await;
    let mut forever = s.feed.forever(5).await.unwrap();
    assert_eq!(forever.next().await.unwrap().unwrap(), 0);
    s.server.leave().await;
    let error = loop {
        match timeout(Duration::from_secs(2), forever.next())
            .await
            .unwrap()
        {
            Some(Ok(_)) => continue,
            Some(Err(CallError::Rpc(e))) => break e,
            other => panic!("expected 1503, got {other:?}"),
        }
    };
    assert_eq!(error.code, 1503);
    assert_eq!(forever.end(), Some(&StreamEnd::Broken));
    drop(forever);
    settles(&[&s.caller]).await;
    let _ = s.room;
}

#[tokio::test]
async fn a_plain_caller_of_a_streaming_method_gets_1404_at_once() {
    let s = setup().await;
    let started = Instant::now();
    let error = s
        .caller
        .perform_rpc(PerformRpcData {
            destination_identity: "server".into(),
            method: "feed.ticks".into(),
            payload: r#"{"count":3}"#.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(error.code, 1404);
    let data: serde_json::Value = serde_json::from_str(error.data.as_deref().unwrap()).unwrap();
    assert_eq!(data["typed_rpc"]["kind"], "stream_required");
    assert_eq!(data["typed_rpc"]["method"], "feed.ticks");
    settles(&[&s.server, &s.caller]).await;
}

#[tokio::test]
async fn streams_per_caller_are_limited_and_the_limit_admits_honest_use() {
    let room = MemoryRoom::new();
    let limits = RpcLimits {
        max_streams_per_caller: 4,
        ..Default::default()
    };
    let server = room
        .join_with(
            "server",
            JoinOptions {
                rpc_limits: limits,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let caller = room.join("caller").await.unwrap();
    let _serving = server.serve(FeedServer::new(FeedImpl::default())).unwrap();
    let feed = FeedClient::new(caller.clone(), "server");
    let mut open: Vec<CallStream<u64, FeedError>> = Vec::new();
    for _ in 0..4 {
        open.push(feed.forever(20).await.unwrap());
    }
    for stream in &mut open {
        assert_eq!(stream.next().await.unwrap().unwrap(), 0);
    }
    match feed.forever(20).await {
        Err(CallError::Rpc(e)) => assert!(e.is_overloaded(), "{e}"),
        other => panic!("expected the fifth stream refused, got {other:?}"),
    }
    // Closing one makes room again.
    drop(open.pop());
    sleep(Duration::from_millis(100)).await;
    open.push(feed.forever(20).await.unwrap());
    drop(open);
    settles(&[&server, &caller]).await;
}

#[tokio::test]
async fn a_cancellable_call_dropped_by_its_caller_is_cancelled_at_the_server() {
    let s = setup().await;
    let call = s.feed.wait(10_000);
    assert!(timeout(Duration::from_millis(100), call).await.is_err());
    let dropped = Instant::now();
    let (reason, at) = stopped(&s.observed).await;
    assert_eq!(reason, CancelReason::CallerCancelled);
    assert!(at.duration_since(dropped) < Duration::from_millis(100));

    // Without a context the handler is dropped.
    let call = s.feed.wait_blind(10_000);
    assert!(timeout(Duration::from_millis(100), call).await.is_err());
    settles(&[&s.server, &s.caller]).await;
    assert_eq!(s.observed.blind_dropped.load(Ordering::SeqCst), 1);

    // Calls that are not cancelled answer as usual, typed and plain.
    assert_eq!(s.feed.wait(10).await.unwrap(), 10);
    assert_eq!(s.feed.wait_blind(10).await.unwrap(), 10);
    let plain = s
        .caller
        .perform_rpc(PerformRpcData {
            destination_identity: "server".into(),
            method: "feed.wait".into(),
            payload: r#"{"ms":5}"#.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(plain, "5");
    settles(&[&s.server, &s.caller]).await;
}

#[tokio::test]
async fn a_cancellable_handler_sees_its_caller_leave() {
    let s = setup().await;
    let caller = s.caller.clone();
    let feed = s.feed.clone();
    let call = tokio::spawn(async move { feed.wait(10_000).await });
    sleep(Duration::from_millis(50)).await;
    caller.leave().await;
    let _ = call.await;
    let (reason, _) = stopped(&s.observed).await;
    assert!(
        matches!(
            reason,
            CancelReason::CallerLeft | CancelReason::CallerCancelled
        ),
        "{reason:?}"
    );
    settles(&[&s.server]).await;
}

/// The progress reports of one call, by direction.
fn split(reports: &[TransferProgress]) -> (Vec<TransferProgress>, Vec<TransferProgress>) {
    reports
        .iter()
        .partition(|p| p.direction == TransferDirection::Request)
}

#[tokio::test]
async fn a_large_call_reports_its_progress_both_ways() {
    for compression in [true, false] {
        let room = MemoryRoom::new();
        let options = JoinOptions {
            compression,
            ..Default::default()
        };
        let server = room.join_with("server", options.clone()).await.unwrap();
        let caller = room.join_with("caller", options).await.unwrap();
        let _serving = server.serve(FeedServer::new(FeedImpl::default())).unwrap();
        let reports = Arc::new(Mutex::new(Vec::new()));
        let log = reports.clone();
        let feed = FeedClient::new(caller.clone(), "server")
            .with_progress(move |p| log.lock().unwrap().push(p));

        // 3 MB of random letters (DEFLATE keeps about 60 % of them): a stream of many
        // chunks each way, reported piece by piece.
        let mut state = 0x2545_f491_u64;
        let text: String = (0..3_000_000u32)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (b'a' + (state % 26) as u8) as char
            })
            .collect();
        let back = feed.echo_text(text.clone()).await.unwrap();
        assert_eq!(back.len(), text.len());
        let (request, response) = split(&reports.lock().unwrap());
        let request_total = text.len() as u64 + r#"{"text":""}"#.len() as u64;
        let response_total = text.len() as u64 + 2;
        for (reports, total) in [(&request, request_total), (&response, response_total)] {
            assert!(
                reports.len() > 10,
                "compression {compression}: {} reports: {reports:?}",
                reports.len()
            );
            assert!(
                reports.windows(2).all(|w| w[0].bytes <= w[1].bytes),
                "never goes back"
            );
            assert!(reports
                .iter()
                .all(|p| p.total == Some(total) && p.bytes <= total));
            assert_eq!(reports.last().unwrap().bytes, total, "ends at the total");
        }

        // A small call: one report each way, whole.
        reports.lock().unwrap().clear();
        assert_eq!(feed.echo_text("hi".into()).await.unwrap(), "hi");
        let (request, response) = split(&reports.lock().unwrap());
        assert_eq!(request.len(), 1, "{request:?}");
        assert_eq!(request[0].bytes, request[0].total.unwrap());
        assert_eq!(response.len(), 1, "{response:?}");
        assert_eq!(response[0].bytes, 4);
        settles(&[&server, &caller]).await;
    }
}

mod framing {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// Whatever the items hold (newlines, quotes, braces, any Unicode, long ones
        /// split across chunks), they arrive exactly, in order, and the count matches.
        #[test]
        fn any_items_arrive_exactly(
            items in proptest::collection::vec(
                prop_oneof![
                    ".*",
                    "[\n\r{}\"\\\\]{0,40}",
                    proptest::collection::vec(any::<char>(), 0..64).prop_map(|c| c.into_iter().collect::<String>()),
                    (0usize..40_000).prop_map(|n| "x\ny".repeat(n / 3)),
                ],
                0..40,
            ),
            window in 1u32..8,
        ) {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            runtime.block_on(async {
                let s = setup().await;
                let feed = s.feed.with_stream(StreamConfig::default().window(window, 4096));
                let received = feed.echo(items.clone()).await.unwrap().collect_all().await.unwrap();
                prop_assert_eq!(received, items);
                Ok(())
            })?;
        }
    }
}
