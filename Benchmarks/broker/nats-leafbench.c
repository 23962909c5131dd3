// nats-leafbench: load across a leaf-node link, on the official C client (libnats-dev). The publisher and
// the subscriber (or the stream) are on different servers: the hub and its leaf.
//   nats-leafbench cross <pub-url> <sub-url> <size> <count>   core messages from one server to a subscriber on
//                                                              the other (waits until the interest has crossed)
//   nats-leafbench jspub <pub-url> <stream-url> <size> <count> a file stream made on <stream-url>, fed by
//                                                              asynchronous publishes (window 256) from <pub-url>
// Prints one line: mode, rate (msgs/s, from the first publish to the last message or ack), lost.
#include "bench-common.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

/// Publishes on `probe` from `pub` until `ready` (subscribed on the other server) gets one: the interest
/// has crossed the link.
static void wait_for_interest(natsConnection *pub, natsSubscription *ready, const char *probe) {
    for (int i = 0; i < 1000; i++) {
        natsConnection_PublishString(pub, probe, "probe");
        natsConnection_Flush(pub);
        natsMsg *msg = NULL;
        if (natsSubscription_NextMsg(&msg, ready, 20) == NATS_OK) { natsMsg_Destroy(msg); return; }
    }
    fprintf(stderr, "the interest did not cross the leaf link\n");
    exit(1);
}

int main(int argc, char **argv) {
    if (argc != 6) { fprintf(stderr, "usage: nats-leafbench cross|jspub <pub-url> <sub-url> <size> <count>\n"); return 2; }
    const char *mode = argv[1];
    int size = atoi(argv[4]);
    long count = atol(argv[5]);
    char *payload = json_payload(size);
    if (strcmp(mode, "cross") == 0) {
        natsConnection *sub_nc = connect_to(argv[3]), *pub_nc = connect_to(argv[2]);
        natsSubscription *ready = NULL, *sub = NULL;
        check(natsConnection_SubscribeSync(&ready, sub_nc, "leafbench.ready"), "subscribe");
        bench_expected = count;
        check(natsConnection_Subscribe(&sub, sub_nc, "leafbench.data", count_message, NULL), "subscribe");
        natsSubscription_SetPendingLimits(sub, -1, -1);
        natsConnection_Flush(sub_nc);
        wait_for_interest(pub_nc, ready, "leafbench.ready");
        int64_t start = now_ns();
        for (long i = 0; i < count; i++) check(natsConnection_Publish(pub_nc, "leafbench.data", payload, size), "publish");
        natsConnection_Flush(pub_nc);
        pthread_mutex_lock(&bench_lock);
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += 60;
        while (bench_received < bench_expected) {
            if (pthread_cond_timedwait(&bench_done, &bench_lock, &deadline) != 0) break;
        }
        long got = bench_received;
        pthread_mutex_unlock(&bench_lock);
        double seconds = (now_ns() - start) / 1e9;
        printf("mode=cross size=%d count=%ld delivery_rate=%.0f lost=%ld\n", size, count, got / seconds, count - got);
        natsConnection_Destroy(pub_nc);
        natsConnection_Destroy(sub_nc);
    } else if (strcmp(mode, "jspub") == 0) {
        natsConnection *stream_nc = NULL, *pub_nc = NULL;
        jsCtx *owner = connect_jetstream(argv[3], 0, &stream_nc);
        add_file_stream(owner, "LEAFBENCH", "leafbench.js.>", 0);
        jsCtx *js = connect_jetstream(argv[2], 256, &pub_nc);
        // Until the stream's subjects have crossed, a publish finds no responders.
        jsPubAck *ack = NULL;
        jsErrCode jerr = 0;
        int crossed = 0;
        for (int i = 0; i < 500 && !crossed; i++) {
            if (js_Publish(&ack, js, "leafbench.js.probe", "probe", 5, NULL, &jerr) == NATS_OK) crossed = 1; else usleep(20000);
            jsPubAck_Destroy(ack);
            ack = NULL;
        }
        if (!crossed) { fprintf(stderr, "the stream's subjects did not cross the leaf link\n"); return 1; }
        int64_t start = now_ns();
        for (long i = 0; i < count; i++) check(js_PublishAsync(js, "leafbench.js.data", payload, size, NULL), "publish async");
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MaxWait = 60000;
        check(js_PublishAsyncComplete(js, &po), "publish async complete");
        double seconds = (now_ns() - start) / 1e9;
        jsStreamInfo *si = NULL;
        check(js_GetStreamInfo(&si, owner, "LEAFBENCH", NULL, &jerr), "stream info");
        long stored = (long)si->State.Msgs - 1;
        jsStreamInfo_Destroy(si);
        printf("mode=jspub size=%d count=%ld delivery_rate=%.0f lost=%ld\n", size, count, count / seconds, count - stored);
        jsCtx_Destroy(js);
        jsCtx_Destroy(owner);
        natsConnection_Destroy(pub_nc);
        natsConnection_Destroy(stream_nc);
    } else {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    free(payload);
    return 0;
}
