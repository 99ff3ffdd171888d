// The end-to-end benchmark's reader: XREAD BLOCK on every stream key from the start, stamping
// each reply's arrival (CLOCK_REALTIME, µs), until the deadline has passed and nothing new has
// come for --idle ms. Latency of an entry = arrival − event_time_ms × 1000: the simulator
// stamps each event with its tick's *scheduled* time (open loop), so this is scheduled send →
// consumer read, late sends included. Prints one JSON object.
//
//   consumer HOST PORT DB SECONDS IDLE_MS FROM_MS KEY...
//   (FROM_MS: entries whose event time is earlier count, but are left out of the latencies)
// The entry's time fields, by environment (defaults: binance-bridge's contract):
//   CONSUMER_EVENT_FIELD=event_time_ms CONSUMER_EVENT_UNIT=ms (ms | us | s: a decimal of seconds)
//   CONSUMER_RECV_FIELD=recv_time_us   CONSUMER_RECV_UNIT=us  (when the publisher read the frame)
//   CONSUMER_MAX_DRAIN_S=60: stop this long after the deadline even if entries still come (a
//   publisher far behind); what it has not written by then counts as not delivered.
//   CONSUMER_NOT_DATA_FIELD=NAME: entries with this field count as markers (cryptofeed: `book`,
//   its order-book snapshots), besides binance-bridge's `type` gap and status markers.
// cryptofeed's Redis Streams: timestamp / receipt_timestamp, both in s.
#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/// Microseconds per unit named by environment variable `name` (default `fallback`).
static double unit_scale(const char *name, const char *fallback) {
    const char *unit = getenv(name);
    if (!unit) unit = fallback;
    if (!strcmp(unit, "s")) return 1e6;
    if (!strcmp(unit, "ms")) return 1e3;
    if (!strcmp(unit, "us")) return 1;
    fprintf(stderr, "consumer: %s must be s, ms or us, got %s\n", name, unit);
    exit(64);
}

static const char *env_or(const char *name, const char *fallback) {
    const char *value = getenv(name);
    return value ? value : fallback;
}

typedef struct { int64_t *v; size_t n, cap; } series;

static void push(series *s, int64_t x) {
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1 << 16;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (!s->v) { fprintf(stderr, "consumer: out of memory\n"); exit(1); }
    }
    s->v[s->n++] = x;
}

static int cmp(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t pct(const series *s, double p) {
    if (!s->n) return -1;
    size_t i = (size_t)(p * (double)(s->n - 1) + 0.5);
    return s->v[i];
}

static void print_series(const char *name, series *s, int last) {
    qsort(s->v, s->n, sizeof *s->v, cmp);
    printf("\"%s\":{\"n\":%zu,\"p50\":%lld,\"p90\":%lld,\"p99\":%lld,\"p999\":%lld,\"max\":%lld}%s", name, s->n,
           (long long)pct(s, 0.5), (long long)pct(s, 0.9), (long long)pct(s, 0.99), (long long)pct(s, 0.999),
           (long long)(s->n ? s->v[s->n - 1] : -1), last ? "" : ",");
}

int main(int argc, char **argv) {
    if (argc < 8) {
        fprintf(stderr, "usage: consumer HOST PORT DB SECONDS IDLE_MS FROM_MS KEY...\n");
        return 64;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]), db = atoi(argv[3]);
    int64_t deadline = now_us() + (int64_t)(atof(argv[4]) * 1e6);
    int64_t idle_us = atoll(argv[5]) * 1000, from_ms = atoll(argv[6]);
    int nkeys = argc - 7;
    char **keys = argv + 7;
    const char *event_field = env_or("CONSUMER_EVENT_FIELD", "event_time_ms");
    const char *recv_field = env_or("CONSUMER_RECV_FIELD", "recv_time_us");
    int64_t hard_stop = deadline + (int64_t)(atof(env_or("CONSUMER_MAX_DRAIN_S", "60")) * 1e6);
    int drained = 1;
    const char *not_data_field = env_or("CONSUMER_NOT_DATA_FIELD", "");
    double event_scale = unit_scale("CONSUMER_EVENT_UNIT", "ms"), recv_scale = unit_scale("CONSUMER_RECV_UNIT", "us");
    redisContext *c = redisConnect(host, port);
    if (!c || c->err) { fprintf(stderr, "consumer: cannot connect: %s\n", c ? c->errstr : "?"); return 1; }
    redisReply *r = redisCommand(c, "SELECT %d", db);
    if (!r || r->type == REDIS_REPLY_ERROR) { fprintf(stderr, "consumer: SELECT failed\n"); return 1; }
    freeReplyObject(r);

    // argv of XREAD COUNT 10000 BLOCK 100 STREAMS k... id...; the ids are rewritten as we go.
    int argn = 6 + 2 * nkeys;
    const char **av = calloc(argn, sizeof *av);
    size_t *al = calloc(argn, sizeof *al);
    char (*ids)[48] = calloc(nkeys, sizeof *ids);
    const char *head[] = {"XREAD", "COUNT", "10000", "BLOCK", "100", "STREAMS"};
    for (int i = 0; i < 6; i++) av[i] = head[i];
    for (int i = 0; i < nkeys; i++) {
        av[6 + i] = keys[i];
        strcpy(ids[i], "0");
        av[6 + nkeys + i] = ids[i];
    }
    series total = {0}, bridge = {0};
    long long data = 0, markers = 0, malformed = 0, replies = 0;
    int64_t last_new = now_us(), first_arrival = 0, last_arrival = 0;
    for (;;) {
        for (int i = 0; i < argn; i++) al[i] = strlen(av[i]);
        r = redisCommandArgv(c, argn, av, al);
        int64_t arrival = now_us();
        if (!r) { fprintf(stderr, "consumer: %s\n", c->errstr); return 1; }
        if (r->type == REDIS_REPLY_ERROR) { fprintf(stderr, "consumer: %s\n", r->str); return 1; }
        long long got = 0;
        if (r->type == REDIS_REPLY_ARRAY) {
            replies++;
            for (size_t k = 0; k < r->elements; k++) {
                redisReply *stream = r->element[k];
                const char *key = stream->element[0]->str;
                redisReply *entries = stream->element[1];
                int ki = 0;
                while (ki < nkeys && strcmp(keys[ki], key) != 0) ki++;
                for (size_t e = 0; e < entries->elements; e++) {
                    redisReply *entry = entries->element[e];
                    redisReply *fields = entry->element[1];
                    const char *type = NULL;
                    int not_data = 0;
                    int64_t event_us = -1, recv_us = -1;
                    for (size_t f = 0; f + 1 < fields->elements; f += 2) {
                        const char *name = fields->element[f]->str;
                        const char *value = fields->element[f + 1]->str;
                        if (!strcmp(name, "type")) type = value;
                        else if (*not_data_field && !strcmp(name, not_data_field)) not_data = 1;
                        else if (!strcmp(name, event_field)) event_us = (int64_t)(strtod(value, NULL) * event_scale + 0.5);
                        else if (!strcmp(name, recv_field)) recv_us = (int64_t)(strtod(value, NULL) * recv_scale + 0.5);
                    }
                    got++;
                    if (not_data || (type && (!strcmp(type, "gap") || !strcmp(type, "status")))) { markers++; continue; }
                    if (event_us <= 0 || recv_us <= 0) { malformed++; continue; }
                    data++;
                    if (event_us >= from_ms * 1000) {
                        push(&total, arrival - event_us);
                        push(&bridge, recv_us - event_us);
                    }
                }
                if (ki < nkeys && entries->elements) {
                    redisReply *lastEntry = entries->element[entries->elements - 1];
                    snprintf(ids[ki], sizeof ids[ki], "%s", lastEntry->element[0]->str);
                }
            }
        }
        freeReplyObject(r);
        if (got) {
            last_new = arrival;
            if (!first_arrival) first_arrival = arrival;
            last_arrival = arrival;
        }
        if (arrival >= deadline && arrival - last_new >= idle_us) break;
        if (arrival >= hard_stop) { drained = 0; break; }
    }
    printf("{\"drained\":%s,\"data_entries\":%lld,\"marker_entries\":%lld,\"entries_without_times\":%lld,\"xread_replies\":%lld,"
           "\"first_arrival_us\":%lld,\"last_arrival_us\":%lld,",
           drained ? "true" : "false", data, markers, malformed, replies, (long long)first_arrival, (long long)last_arrival);
    printf("\"latency_us\":{");
    print_series("scheduled_to_consumer", &total, 0);
    print_series("scheduled_to_publisher_read", &bridge, 1);
    printf("}}\n");
    redisFree(c);
    return 0;
}
