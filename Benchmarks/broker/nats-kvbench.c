// nats-kvbench: KV gets of random keys, on any NATS server, on the official C client (libnats-dev).
// Creates bucket B (file storage, history 1), stores KEYS keys of SIZE bytes (async publishes to
// $KV.B.k<i>, then one put each for the last 10% so that some gets land on single-message frames), then
// THREADS threads, each with its own connection, run GETS/THREADS gets of random keys with kvStore_Get
// (one request at a time per thread). Prints one line: keys, gets, threads, rate.
//   nats-kvbench <url> <keys> <gets> <threads> <size>
#include "bench-common.h"
#include <string.h>

static const char *url;
static long keys, gets_per_thread;
static int failures = 0;
static pthread_mutex_t failed_lock = PTHREAD_MUTEX_INITIALIZER;

static void *getter(void *arg) {
    unsigned int seed = (unsigned int)(uintptr_t)arg * 7919u + 1u;
    natsConnection *nc = NULL;
    jsCtx *js = connect_jetstream(url, 0, &nc);
    kvStore *kv = NULL;
    check(js_KeyValue(&kv, js, "B"), "bind bucket");
    char key[32];
    for (long i = 0; i < gets_per_thread; i++) {
        snprintf(key, sizeof key, "k%ld", (long)(rand_r(&seed) % keys));
        kvEntry *entry = NULL;
        natsStatus s = kvStore_Get(&entry, kv, key);
        if (s != NATS_OK || kvEntry_ValueLen(entry) <= 0) {
            pthread_mutex_lock(&failed_lock); failures++; pthread_mutex_unlock(&failed_lock);
        }
        kvEntry_Destroy(entry);
    }
    kvStore_Destroy(kv);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 6) { fprintf(stderr, "usage: nats-kvbench <url> <keys> <gets> <threads> <size>\n"); return 2; }
    url = argv[1];
    keys = atol(argv[2]);
    long gets = atol(argv[3]);
    int threads = atoi(argv[4]);
    int size = atoi(argv[5]);
    gets_per_thread = gets / threads;
    char *payload = json_payload(size);
    natsConnection *nc = NULL;
    jsCtx *js = connect_jetstream(url, 256, &nc);
    kvConfig cfg;
    kvConfig_Init(&cfg);
    cfg.Bucket = "B";
    cfg.History = 1;
    cfg.StorageType = js_FileStorage;
    kvStore *kv = NULL;
    check(js_CreateKeyValue(&kv, js, &cfg), "create bucket");
    char subject[64], key[32];
    long bulk = keys - keys / 10;
    for (long i = 0; i < bulk; i++) {
        snprintf(subject, sizeof subject, "$KV.B.k%ld", i);
        check(js_PublishAsync(js, subject, payload, size, NULL), "publish async");
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 30000;
    check(js_PublishAsyncComplete(js, &po), "publish async complete");
    for (long i = bulk; i < keys; i++) {
        snprintf(key, sizeof key, "k%ld", i);
        uint64_t revision = 0;
        check(kvStore_Put(&revision, kv, key, payload, size), "put");
    }
    pthread_t *ids = calloc(threads, sizeof *ids);
    int64_t t0 = now_ns();
    for (int t = 0; t < threads; t++) pthread_create(&ids[t], NULL, getter, (void *)(uintptr_t)t);
    for (int t = 0; t < threads; t++) pthread_join(ids[t], NULL);
    double rate = gets_per_thread * threads / ((now_ns() - t0) / 1e9);
    printf("keys=%ld gets=%ld threads=%d size=%d failures=%d rate=%.0f\n", keys, gets_per_thread * threads, threads, size, failures, rate);
    kvStore_Destroy(kv);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return failures > 0;
}
