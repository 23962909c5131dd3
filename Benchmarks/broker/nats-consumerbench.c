// nats-consumerbench: how fast one kind of JetStream consumer reads a stored backlog, on any NATS server,
// with the official C client (libnats-dev).
// One run: create stream C (file storage) on bench.>, publish COUNT messages of SIZE bytes asynchronously
// (window 256) to bench.s.<i % A>.<(i / A) % B>, then read the messages the filter selects with one
// durable consumer and print one line: the consume rate and how many were read.
//   nats-consumerbench <url> <size> <count> <pull|push> <explicit|all> <filter-kind>
// filter-kind:  none     A=1,   B=1,   filter bench.>       every message
//               one      A=10,  B=1,   filter bench.s.0.0   1 subject of 10
//               wildcard A=10,  B=10,  filter bench.s.0.*   10 subjects of 100 (a tenth of the messages)
//               sparse   A=100, B=100, filter bench.s.0.0   1 subject of 10,000
// Pull: Fetch of 256; explicit acks every message, all acks the last of each batch.
// Push: manual acks; explicit acks every message, all acks every 100th and the last.
// CONSUMERBENCH_PAUSE=1 waits for a line on stdin between publishing and consuming (to profile the latter).
#include "bench-common.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done = PTHREAD_COND_INITIALIZER;
static long pushed = 0, expected = 0;
static int ack_all = 0;

static void on_push(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
    pthread_mutex_lock(&lock);
    long n = ++pushed;
    pthread_mutex_unlock(&lock);
    if (!ack_all || n % 100 == 0 || n == expected) natsMsg_Ack(msg, NULL);
    natsMsg_Destroy(msg);
    if (n >= expected) {
        pthread_mutex_lock(&lock);
        pthread_cond_signal(&done);
        pthread_mutex_unlock(&lock);
    }
}

int main(int argc, char **argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: nats-consumerbench <url> <size> <count> <pull|push> <explicit|all> <none|one|wildcard|sparse>\n");
        return 2;
    }
    int size = atoi(argv[2]);
    long count = atol(argv[3]);
    int push = strcmp(argv[4], "push") == 0;
    ack_all = strcmp(argv[5], "all") == 0;
    const char *kind = argv[6];
    long a = 1, b = 1;
    const char *filter = "bench.>";
    if (strcmp(kind, "one") == 0) { a = 10; filter = "bench.s.0.0"; }
    else if (strcmp(kind, "wildcard") == 0) { a = 10; b = 10; filter = "bench.s.0.*"; }
    else if (strcmp(kind, "sparse") == 0) { a = 100; b = 100; filter = "bench.s.0.0"; }
    else if (strcmp(kind, "none") != 0) { fprintf(stderr, "unknown filter kind %s\n", kind); return 2; }

    char *payload = json_payload(size);
    natsConnection *nc = NULL;
    jsCtx *js = connect_jetstream(argv[1], 256, &nc);
    jsErrCode jerr = 0;
    add_file_stream(js, "C", "bench.>", 0);

    long wanted = 0;
    char subject[64];
    for (long i = 0; i < count; i++) {
        long x = i % a, y = (i / a) % b;
        snprintf(subject, sizeof subject, "bench.s.%ld.%ld", x, y);
        if (strcmp(kind, "none") == 0 || (x == 0 && (strcmp(kind, "wildcard") == 0 || y == 0))) wanted++;
        check(js_PublishAsync(js, subject, payload, size, NULL), "publish async");
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 120000;
    check(js_PublishAsyncComplete(js, &po), "publish async complete");
    if (getenv("CONSUMERBENCH_PAUSE")) {  // for profiling the consume phase alone: attach, then press enter
        fprintf(stderr, "published; press enter to consume\n");
        getchar();
    }

    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Config.AckPolicy = ack_all ? js_AckAll : js_AckExplicit;
    so.Config.DeliverPolicy = js_DeliverAll;
    so.ManualAck = true;
    long got = 0;
    int64_t t0 = now_ns();
    if (!push) {
        natsSubscription *pull = NULL;
        check(js_PullSubscribe(&pull, js, filter, "puller", NULL, &so, &jerr), "pull subscribe");
        t0 = now_ns();
        while (got < wanted) {
            natsMsgList list = {0};
            natsStatus s = natsSubscription_Fetch(&list, pull, 256, 5000, &jerr);
            if (s != NATS_OK) { fprintf(stderr, "fetch: %s after %ld\n", natsStatus_GetText(s), got); break; }
            for (int i = 0; i < list.Count; i++) {
                if (!ack_all || i == list.Count - 1) natsMsg_Ack(list.Msgs[i], NULL);
            }
            got += list.Count;
            natsMsgList_Destroy(&list);
        }
    } else {
        expected = wanted;
        natsSubscription *sub = NULL;
        so.Config.Durable = "pusher";
        check(js_Subscribe(&sub, js, filter, on_push, NULL, NULL, &so, &jerr), "push subscribe");
        natsSubscription_SetPendingLimits(sub, -1, -1);
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += 120;
        pthread_mutex_lock(&lock);
        while (pushed < expected) { if (pthread_cond_timedwait(&done, &lock, &deadline) != 0) break; }
        got = pushed;
        pthread_mutex_unlock(&lock);
    }
    double rate = got / ((now_ns() - t0) / 1e9);
    natsConnection_FlushTimeout(nc, 5000);
    printf("consumer=%s ack=%s filter=%s count=%ld wanted=%ld got=%ld rate=%.0f\n",
           push ? "push" : "pull", ack_all ? "all" : "explicit", kind, count, wanted, got, rate);
    return got == wanted ? 0 : 1;
}
