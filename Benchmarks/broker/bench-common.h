// Shared by the C load generators (nats-bench, nats-jsbench, nats-consumerbench, nats-flood): a monotonic
// clock, a fail-fast status check, the JSON-like payload, and a JetStream connection with one file stream.
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <pthread.h>

static inline int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/// Exits with the client's error text unless `s` is NATS_OK.
static inline void check(natsStatus s, const char *what) {
    if (s != NATS_OK) { fprintf(stderr, "%s: %s %s\n", what, natsStatus_GetText(s), nats_GetLastError(NULL)); exit(1); }
}

/// SIZE bytes of a repeated small JSON order (compressible as real messages are).
static inline char *json_payload(int size) {
    char *payload = malloc(size > 0 ? size : 1);
    for (int i = 0; i < size; i++) payload[i] = "{\"order\":12345,\"item\":\"widget\",\"qty\":3}"[i % 38];
    return payload;
}

/// Connects to `url` (unbounded pending messages) and opens JetStream with an async-publish window of
/// `window` (0: the client's default).
static inline jsCtx *connect_jetstream(const char *url, int window, natsConnection **nc) {
    natsOptions *opts = NULL;
    natsOptions_Create(&opts);
    natsOptions_SetURL(opts, url);
    natsOptions_SetTimeout(opts, 10000);
    natsOptions_SetMaxPendingMsgs(opts, 10000000);
    check(natsConnection_Connect(nc, opts), "connect");
    jsOptions jo;
    jsOptions_Init(&jo);
    if (window > 0) jo.PublishAsync.MaxPending = window;
    jsCtx *js = NULL;
    check(natsConnection_JetStream(&js, *nc, &jo), "jetstream");
    return js;
}

/// Creates file stream `name` on `subject`, with work-queue retention when `workqueue`.
static inline void add_file_stream(jsCtx *js, const char *name, const char *subject, int workqueue) {
    jsErrCode jerr = 0;
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = name;
    const char *subjects[] = {subject};
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    if (workqueue) cfg.Retention = js_WorkQueuePolicy;
    jsStreamInfo *si = NULL;
    check(js_AddStream(&si, js, &cfg, NULL, &jerr), "add stream");
    jsStreamInfo_Destroy(si);
}

/// Connects to `url` with room for a fast publisher: unbounded pending messages, a 1 MiB I/O buffer.
static inline natsConnection *connect_to(const char *url) {
    natsConnection *nc = NULL;
    natsOptions *opts = NULL;
    natsOptions_Create(&opts);
    natsOptions_SetURL(opts, url);
    natsOptions_SetMaxPendingMsgs(opts, 10000000);
    natsOptions_SetIOBufSize(opts, 1 << 20);
    natsStatus s = natsConnection_Connect(&nc, opts);
    natsOptions_Destroy(opts);
    if (s != NATS_OK) { fprintf(stderr, "connect %s: %s\n", url, natsStatus_GetText(s)); exit(1); }
    return nc;
}

/// Counts deliveries and wakes the waiting thread at `bench_expected` (shared by the core load generators).
static pthread_mutex_t bench_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t bench_done = PTHREAD_COND_INITIALIZER;
static long bench_received = 0, bench_expected = 0;

static inline void count_message(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
    natsMsg_Destroy(msg);
    pthread_mutex_lock(&bench_lock);
    if (++bench_received >= bench_expected) pthread_cond_signal(&bench_done);
    pthread_mutex_unlock(&bench_lock);
}
#endif
