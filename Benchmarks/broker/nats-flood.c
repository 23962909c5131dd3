// nats-flood: a publisher that never waits. Creates stream F (file storage) on flood.>, then publishes
// COUNT messages of SIZE bytes to it as plain core messages (no reply subject, so no acks to wait for),
// as fast as the client library can write them; then flushes (PING/PONG: returns once the server has read
// everything) and checks that the stream holds every message. Prints one line.
//   nats-flood <url> <size> <count>
#include "bench-common.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: nats-flood <url> <size> <count>\n"); return 2; }
    int size = atoi(argv[2]);
    long count = atol(argv[3]);
    char *payload = malloc(size);
    for (int i = 0; i < size; i++) payload[i] = (char)('a' + (i * 7 + i / 13) % 26);
    natsConnection *nc = NULL;
    jsCtx *js = connect_jetstream(argv[1], 0, &nc);
    jsErrCode jerr = 0;
    add_file_stream(js, "F", "flood.>", 0);

    int64_t t0 = now_ns();
    for (long i = 0; i < count; i++) check(natsConnection_Publish(nc, "flood.x", payload, size), "publish");
    check(natsConnection_FlushTimeout(nc, 600000), "flush");
    double seconds = (now_ns() - t0) / 1e9;
    uint64_t held = 0;
    jsStreamInfo *si = NULL;
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
