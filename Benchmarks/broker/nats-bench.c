// nats-bench: a load generator for any NATS server, on the official C client (libnats-dev).
// Independent of the server under test. Prints one result line per run.
//
//   nats-bench <url> pubsub  <size> <count>     1 publisher, 1 subscriber
//   nats-bench <url> fanout  <size> <count>     1 publisher, 8 subscribers
//   nats-bench <url> queue   <size> <count>     1 publisher, a queue group of 4
//   nats-bench <url> reqrep  <size> <count>     sequential request/reply latency
#include "bench-common.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>

static void on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
    natsConnection_Publish(nc, natsMsg_GetReply(msg), natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
    natsConnection_Flush(nc);
    natsMsg_Destroy(msg);
}

static int compare(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: nats-bench <url> pubsub|fanout|queue|reqrep <size> <count>\n"); return 2; }
    const char *url = argv[1], *mode = argv[2];
    int size = atoi(argv[3]);
    long count = atol(argv[4]);
    char *payload = malloc(size > 0 ? size : 1);
    memset(payload, 'x', size);

    if (strcmp(mode, "reqrep") == 0) {
        natsConnection *server = connect_to(url), *client = connect_to(url);
        natsSubscription *sub = NULL;
        natsConnection_Subscribe(&sub, server, "bench.req", on_request, NULL);
        natsConnection_Flush(server);
        int64_t *lat = malloc(sizeof(int64_t) * count);
        int64_t start = now_ns();
        for (long i = 0; i < count; i++) {
            natsMsg *reply = NULL;
            int64_t t0 = now_ns();
            natsStatus s = natsConnection_Request(&reply, client, "bench.req", payload, size, 5000);
            if (s != NATS_OK) { fprintf(stderr, "request: %s\n", natsStatus_GetText(s)); return 1; }
            lat[i] = now_ns() - t0;
            natsMsg_Destroy(reply);
        }
        double seconds = (now_ns() - start) / 1e9;
        qsort(lat, count, sizeof(int64_t), compare);
        printf("reqrep size=%d count=%ld rate=%.0f p50_us=%.1f p99_us=%.1f\n", size, count, count / seconds,
               lat[count / 2] / 1e3, lat[(long)(count * 0.99)] / 1e3);
        return 0;
    }

    int subscribers = strcmp(mode, "fanout") == 0 ? 8 : strcmp(mode, "queue") == 0 ? 4 : 1;
    int queue = strcmp(mode, "queue") == 0;
    bench_expected = queue ? count : count * subscribers;
    natsConnection *subs[8];
    for (int i = 0; i < subscribers; i++) {
        natsSubscription *sub = NULL;
        subs[i] = connect_to(url);
        if (queue) natsConnection_QueueSubscribe(&sub, subs[i], "bench.data", "workers", count_message, NULL);
        else natsConnection_Subscribe(&sub, subs[i], "bench.data", count_message, NULL);
        natsSubscription_SetPendingLimits(sub, -1, -1);
        natsConnection_Flush(subs[i]);
    }
    natsConnection *pub = connect_to(url);
    int64_t start = now_ns();
    for (long i = 0; i < count; i++) {
        natsStatus s = natsConnection_Publish(pub, "bench.data", payload, size);
        if (s != NATS_OK) { fprintf(stderr, "publish: %s\n", natsStatus_GetText(s)); return 1; }
    }
    natsConnection_Flush(pub);
    int64_t published = now_ns();
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 120;
    pthread_mutex_lock(&bench_lock);
    while (bench_received < bench_expected) {
        if (pthread_cond_timedwait(&bench_done, &bench_lock, &deadline) != 0) break;
    }
    long got = bench_received;
    pthread_mutex_unlock(&bench_lock);
    double seconds = (now_ns() - start) / 1e9;
    printf("%s size=%d count=%ld subscribers=%d publish_rate=%.0f delivered=%ld delivery_rate=%.0f lost=%ld\n",
           mode, size, count, subscribers, count / ((published - start) / 1e9), got, got / seconds, bench_expected - got);
    return got == bench_expected ? 0 : 1;
}
