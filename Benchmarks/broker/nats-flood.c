// nats-flood: a publisher that never waits. Creates stream F (file storage) on flood.>, then publishes
// COUNT messages of SIZE bytes to it as plain core messages (no reply subject, so no acks to wait for),
// as fast as the client library can write them; then flushes (PING/PONG: returns once the server has read
// everything) and checks that the stream holds every message. Prints one line.
//   nats-flood <url> <size> <count>
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void check(natsStatus s, const char *what) {
    if (s != NATS_OK) { fprintf(stderr, "%s: %s %s\n", what, natsStatus_GetText(s), nats_GetLastError(NULL)); exit(1); }
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: nats-flood <url> <size> <count>\n"); return 2; }
    int size = atoi(argv[2]);
    long count = atol(argv[3]);
    char *payload = malloc(size);
    for (int i = 0; i < size; i++) payload[i] = (char)('a' + (i * 7 + i / 13) % 26);
    natsConnection *nc = NULL;
    natsOptions *opts = NULL;
    natsOptions_Create(&opts);
    natsOptions_SetURL(opts, argv[1]);
    natsOptions_SetTimeout(opts, 10000);
    check(natsConnection_Connect(&nc, opts), "connect");
    jsCtx *js = NULL;
    check(natsConnection_JetStream(&js, nc, NULL), "jetstream");
    jsErrCode jerr = 0;
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = "F";
    const char *subjects[] = {"flood.>"};
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    jsStreamInfo *si = NULL;
    check(js_AddStream(&si, js, &cfg, NULL, &jerr), "add stream");
    jsStreamInfo_Destroy(si);

    int64_t t0 = now_ns();
    for (long i = 0; i < count; i++) check(natsConnection_Publish(nc, "flood.x", payload, size), "publish");
    check(natsConnection_FlushTimeout(nc, 600000), "flush");
    double seconds = (now_ns() - t0) / 1e9;
    uint64_t held = 0;
    for (int i = 0; i < 500; i++) {  // the last publishes read may still be on their way to the disk
        check(js_GetStreamInfo(&si, js, "F", NULL, &jerr), "stream info");
        held = si->State.Msgs;
        jsStreamInfo_Destroy(si);
        if (held >= (uint64_t)count) break;
        nats_Sleep(20);
    }
    printf("size=%d count=%ld seconds=%.2f rate=%.0f stored=%llu\n", size, count, seconds, count / seconds, (unsigned long long)held);
    return held == (uint64_t)count ? 0 : 1;
}
