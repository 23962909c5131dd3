// nats-jsbench: JetStream load for any NATS server, on the official C client (libnats-dev).
// One run: create stream B (file storage) on bench.>, publish N messages of SIZE bytes synchronously
// (one at a time), N asynchronously (window 256), then consume all 2N with a pull consumer (batches of 256,
// explicit acks) and again with a push consumer (auto acks). Prints one line of rates.
//   nats-jsbench <url> <size> <count> [sync_count]   (sync_count defaults to count; a small one lets a
//   profile see the other phases)
// JSBENCH_WORKQUEUE=1: the stream has work-queue retention; after the pull consume (no push) it prints how
// many messages the stream still holds (acked ones must be gone).
#include "bench-common.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done = PTHREAD_COND_INITIALIZER;
static long pushed = 0, expected = 0;

static void on_push(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
    natsMsg_Ack(msg, NULL);
    natsMsg_Destroy(msg);
    pthread_mutex_lock(&lock);
    if (++pushed >= expected) pthread_cond_signal(&done);
    pthread_mutex_unlock(&lock);
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: nats-jsbench <url> <size> <count>\n"); return 2; }
    int size = atoi(argv[2]);
    long count = atol(argv[3]);
    long sync_count = argc > 4 ? atol(argv[4]) : count;
    char *payload = json_payload(size);
    natsConnection *nc = NULL;
    // JSBENCH_WINDOW: async publishes in flight (default 256).
    int window = getenv("JSBENCH_WINDOW") ? atoi(getenv("JSBENCH_WINDOW")) : 256;
    jsCtx *js = connect_jetstream(argv[1], window, &nc);
    jsErrCode jerr = 0;
    int workqueue = getenv("JSBENCH_WORKQUEUE") != NULL;
    add_file_stream(js, "B", "bench.>", workqueue);

    int64_t t0 = now_ns();
    for (long i = 0; i < sync_count; i++) {
        jsPubAck *pa = NULL;
        check(js_Publish(&pa, js, "bench.sync", payload, size, NULL, &jerr), "publish");
        jsPubAck_Destroy(pa);
    }
    double sync_rate = sync_count / ((now_ns() - t0) / 1e9);

    // JSBENCH_SPREAD=N: the async messages go to bench.async.0 … bench.async.<N-1> in turn, and
    // JSBENCH_FILTER=1 makes the pull consumer filter to bench.async.0 (one subject of N).
    long spread = getenv("JSBENCH_SPREAD") ? atol(getenv("JSBENCH_SPREAD")) : 0;
    int filtered = getenv("JSBENCH_FILTER") != NULL && spread > 0;
    char subject[64];
    t0 = now_ns();
    for (long i = 0; i < count; i++) {
        if (spread > 0) snprintf(subject, sizeof subject, "bench.async.%ld", i % spread);
        check(js_PublishAsync(js, spread > 0 ? subject : "bench.async", payload, size, NULL), "publish async");
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 60000;
    check(js_PublishAsyncComplete(js, &po), "publish async complete");
    double async_rate = count / ((now_ns() - t0) / 1e9);

    if (getenv("JSBENCH_PUBLISH_ONLY")) {  // for profiling the publish path alone
        printf("size=%d count=%ld publish_sync=%.0f publish_async=%.0f\n", size, count, sync_rate, async_rate);
        return 0;
    }
    natsSubscription *pull = NULL;
    check(js_PullSubscribe(&pull, js, filtered ? "bench.async.0" : "bench.>", "puller", NULL, NULL, &jerr), "pull subscribe");
    long got = 0;
    long wanted = filtered ? (count + spread - 1) / spread : sync_count + count;
    t0 = now_ns();
    while (!getenv("JSBENCH_SKIP_PULL") && got < wanted) {  // (skipped when profiling push)
        natsMsgList list = {0};
        natsStatus s = natsSubscription_Fetch(&list, pull, 256, 5000, &jerr);
        if (s != NATS_OK) { fprintf(stderr, "fetch: %s after %ld\n", natsStatus_GetText(s), got); break; }
        for (int i = 0; i < list.Count; i++) natsMsg_Ack(list.Msgs[i], NULL);
        got += list.Count;
        natsMsgList_Destroy(&list);
    }
    double pull_rate = got / ((now_ns() - t0) / 1e9);

    if (workqueue) {
        // Acks are applied as they arrive: the stream empties once the last ones are in.
        uint64_t left = 0;
        for (int i = 0; i < 100; i++) {
            jsStreamInfo *info = NULL;
            check(js_GetStreamInfo(&info, js, "B", NULL, &jerr), "stream info");
            left = info->State.Msgs;
            jsStreamInfo_Destroy(info);
            if (left == 0) break;
            nats_Sleep(20);
        }
        printf("size=%d count=%ld publish_sync=%.0f publish_async=%.0f workqueue_consume=%.0f pulled=%ld left=%llu\n",
               size, count, sync_rate, async_rate, pull_rate, got, (unsigned long long)left);
        return 0;
    }
    if (getenv("JSBENCH_SKIP_PUSH")) {  // for profiling pull alone
        printf("size=%d count=%ld publish_sync=%.0f publish_async=%.0f pull_consume=%.0f pulled=%ld\n", size, count, sync_rate, async_rate, pull_rate, got);
        return 0;
    }
    expected = sync_count + count;
    natsSubscription *push = NULL;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Config.DeliverPolicy = js_DeliverAll;
    t0 = now_ns();
    check(js_Subscribe(&push, js, "bench.>", on_push, NULL, NULL, &so, &jerr), "push subscribe");
    natsSubscription_SetPendingLimits(push, -1, -1);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 120;
    pthread_mutex_lock(&lock);
    while (pushed < expected) { if (pthread_cond_timedwait(&done, &lock, &deadline) != 0) break; }
    long pushed_now = pushed;
    pthread_mutex_unlock(&lock);
    double push_rate = pushed_now / ((now_ns() - t0) / 1e9);

    printf("size=%d count=%ld publish_sync=%.0f publish_async=%.0f pull_consume=%.0f pulled=%ld push_consume=%.0f pushed=%ld\n",
           size, count, sync_rate, async_rate, pull_rate, got, push_rate, pushed_now);
    return 0;
}
