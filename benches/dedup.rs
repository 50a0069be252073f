//! Claim + complete throughput of the idempotency stores: the memory store on 1 and 2 threads,
//! and Redis (REDIS_URL, else 127.0.0.1:6379) sequentially and with 32 operations in flight.
//!
//! `cargo bench --bench dedup --all-features -- --measurement-time 3`
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use amps_webhooks::store::{Claim, IdempotencyStore, MemoryStore, RedisStore};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const LEASE: Duration = Duration::from_secs(60);
const RETENTION: Duration = Duration::from_secs(120);

/// Distinct keys per thread; more than the store holds, so a steady state evicts the oldest
/// completion on every new claim, as a long-running receiver does.
const KEYS_PER_THREAD: usize = 1 << 20;
const MEMORY_CAPACITY: usize = 1 << 16;

/// The memory store's futures are ready at once (`StoreFuture::ready`): one poll, no executor.
fn now<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => unreachable!("the memory store never waits"),
    }
}

/// As the `Deduplicator` calls a store: through the trait object, taking a ready answer as it
/// is (`StoreFuture::into_ready`), else awaiting (here: polling once) the future.
fn claim_complete_now(store: &dyn IdempotencyStore, key: &str) {
    let claim = store.claim(key, LEASE).into_ready().unwrap_or_else(now);
    let Ok(Claim::Acquired(token)) = claim else {
        panic!("a fresh key is acquired")
    };
    store
        .complete(key, token, RETENTION)
        .into_ready()
        .unwrap_or_else(now)
        .unwrap();
}

fn keys(thread: usize) -> Vec<String> {
    (0..KEYS_PER_THREAD)
        .map(|i| format!("bench:t{thread}-evt_{i:08}"))
        .collect()
}

/// How long the calling thread has waited, runnable, for a CPU (`/proc/thread-self/schedstat`,
/// second field, in ns; accounted at each switch), to tell the store's cost from the time a
/// loaded machine makes it wait; `None` where the kernel does not say.
fn runqueue_wait() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(Duration::from_nanos(
        stat.split_whitespace().nth(1)?.parse().ok()?,
    ))
}

#[derive(Clone, Copy)]
enum Clock {
    /// Wall-clock time from the start to the last thread's end.
    Wall,
    /// Per thread, its wall time less the time it waited for a CPU (time blocked on a lock
    /// still counts); the longest of the threads. What the run would take on idle cores.
    OnCpu,
}

fn memory(c: &mut Criterion) {
    for clock in [Clock::Wall, Clock::OnCpu] {
        if matches!(clock, Clock::OnCpu) && runqueue_wait().is_none() {
            eprintln!("SKIPPED on-CPU timing: no /proc/thread-self/schedstat");
            continue;
        }
        let mut group = c.benchmark_group(match clock {
            Clock::Wall => "memory claim+complete",
            Clock::OnCpu => "memory claim+complete, on-CPU time",
        });
        group.throughput(Throughput::Elements(1));
        // A store of 65,536 records (over the L2 cache) on 1 and 2 threads, and one of 4,096
        // that stays in cache, to tell the memory stalls from the work.
        for (threads, capacity) in [(1_usize, MEMORY_CAPACITY), (2, MEMORY_CAPACITY), (1, 4_096)] {
            let store: Arc<dyn IdempotencyStore> =
                Arc::new(MemoryStore::builder().capacity(capacity).build());
            let key_sets: Vec<Arc<Vec<String>>> = (0..threads).map(|t| Arc::new(keys(t))).collect();
            let mut cursor = 0_usize;
            group.bench_function(format!("{threads} thread(s), {capacity} records"), |b| {
                b.iter_custom(|iters| {
                    let per_thread = usize::try_from(iters).unwrap().div_ceil(threads);
                    let start = cursor;
                    cursor = (cursor + per_thread) % KEYS_PER_THREAD;
                    let barrier = Arc::new(Barrier::new(threads + 1));
                    let workers: Vec<_> = key_sets
                        .iter()
                        .map(|keys| {
                            let (store, keys, barrier) =
                                (Arc::clone(&store), Arc::clone(keys), Arc::clone(&barrier));
                            std::thread::spawn(move || {
                                barrier.wait();
                                let waited_before = runqueue_wait();
                                let started = Instant::now();
                                for i in 0..per_thread {
                                    claim_complete_now(
                                        &*store,
                                        &keys[(start + i) % KEYS_PER_THREAD],
                                    );
                                }
                                let elapsed = started.elapsed();
                                waited_before
                                    .zip(runqueue_wait())
                                    .map(|(from, to)| elapsed.saturating_sub(to - from))
                            })
                        })
                        .collect();
                    barrier.wait();
                    let started = Instant::now();
                    let cpu_times: Vec<_> = workers
                        .into_iter()
                        .map(|worker| worker.join().unwrap())
                        .collect();
                    let wall = started.elapsed();
                    match clock {
                        Clock::Wall => wall,
                        Clock::OnCpu => cpu_times.into_iter().flatten().max().unwrap_or(wall),
                    }
                });
            });
        }
        group.finish();
    }
}

fn redis(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let store = match runtime.block_on(
        RedisStore::builder(url.as_str())
            .prefix("amps-webhooks-bench")
            .connect(),
    ) {
        Ok(store) => Arc::new(store),
        Err(error) => {
            eprintln!("SKIPPED the Redis benchmarks: no Redis at {url} ({error})");
            return;
        }
    };
    let run = format!(
        "{:x}",
        amps_webhooks::store::ClaimToken::random().as_u128() as u32
    );
    let mut group = c.benchmark_group("redis claim+complete");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    for in_flight in [1_u64, 32] {
        let mut next = 0_u64;
        group.bench_function(format!("{in_flight} in flight"), |b| {
            b.iter_custom(|iters| {
                let per_task = iters.div_ceil(in_flight);
                let first = next;
                next += per_task * in_flight;
                let started = Instant::now();
                runtime.block_on(async {
                    let tasks: Vec<_> = (0..in_flight)
                        .map(|task| {
                            let (store, run) = (Arc::clone(&store), run.clone());
                            tokio::spawn(async move {
                                for i in 0..per_task {
                                    let key = format!(
                                        "{run}:{in_flight}:evt_{}",
                                        first + task * per_task + i
                                    );
                                    let Ok(Claim::Acquired(token)) = store.claim(&key, LEASE).await
                                    else {
                                        panic!("a fresh key is acquired")
                                    };
                                    store.complete(&key, token, RETENTION).await.unwrap();
                                }
                            })
                        })
                        .collect();
                    for task in tasks {
                        task.await.unwrap();
                    }
                });
                started.elapsed()
            });
        });
    }
    group.finish();
}

criterion_group!(
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = memory, redis
);
criterion_main!(benches);
