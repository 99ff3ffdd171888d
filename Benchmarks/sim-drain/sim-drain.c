/*
 * sim-drain: a minimal WebSocket reader for measuring how many messages per second a
 * binance-sim process offers. It does the HTTP upgrade, then only walks frame headers
 * (server frames are unmasked) to count messages: no parsing, no copies beyond read(2),
 * so the simulator, not the client, is what gets measured.
 *
 * Usage: sim-drain PORT CONNECTIONS SECONDS PATH
 *   PATH e.g. "/public/stream?streams=btcusdt@bookTicker/btcusdt@depth@100ms"
 * Prints one JSON line: messages, bytes, seconds, messages_per_second, per-connection counts.
 * Loopback only (127.0.0.1); bounded by SECONDS.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNECTIONS 256
#define BUFFER (1 << 20)

struct conn {
    int fd;
    int upgraded;
    uint64_t skip;      /* payload bytes of the current frame still to skip */
    unsigned char head[14];
    int head_len;       /* bytes of a partial header kept from the last read */
    uint64_t messages;
    char http[4096];
    int http_len;
};

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

/* Consumes bytes of frames; counts frames whose FIN bit is set (one message each). */
static void consume(struct conn *c, const unsigned char *p, size_t n) {
    while (n > 0) {
        if (c->skip > 0) {
            size_t take = c->skip < n ? (size_t)c->skip : n;
            c->skip -= take; p += take; n -= take;
            continue;
        }
        while (c->head_len < 2 && n > 0) { c->head[c->head_len++] = *p++; n--; }
        if (c->head_len < 2) return;
        int len7 = c->head[1] & 0x7f;
        int need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0);
        while (c->head_len < need && n > 0) { c->head[c->head_len++] = *p++; n--; }
        if (c->head_len < need) return;
        uint64_t length = len7;
        if (len7 == 126) length = ((uint64_t)c->head[2] << 8) | c->head[3];
        if (len7 == 127) { length = 0; for (int i = 0; i < 8; i++) length = (length << 8) | c->head[2 + i]; }
        int opcode = c->head[0] & 0x0f;
        if ((c->head[0] & 0x80) && (opcode == 1 || opcode == 2 || opcode == 0)) c->messages++;
        c->skip = length;
        c->head_len = 0;
    }
}

int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: sim-drain PORT CONNECTIONS SECONDS PATH\n"); return 2; }
    int port = atoi(argv[1]), count = atoi(argv[2]);
    double seconds = atof(argv[3]);
    const char *path = argv[4];
    if (count < 1 || count > MAX_CONNECTIONS || seconds <= 0 || seconds > 600) { fprintf(stderr, "bad arguments\n"); return 2; }
    static struct conn conns[MAX_CONNECTIONS];
    int ep = epoll_create1(0);
    for (int i = 0; i < count; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port) };
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
        if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) { perror("connect"); return 1; }
        int size = 4 << 20;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
        char request[8192];
        int len = snprintf(request, sizeof request,
            "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", path, port);
        if (write(fd, request, len) != len) { perror("write"); return 1; }
        conns[i].fd = fd;
        struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    static unsigned char buffer[BUFFER];
    uint64_t bytes = 0;
    double start = 0, deadline = now_seconds() + seconds + 10;
    int upgraded = 0;
    while (1) {
        double t = now_seconds();
        if (start > 0 && t - start >= seconds) break;
        if (t > deadline) { fprintf(stderr, "upgrade did not complete\n"); return 1; }
        struct epoll_event events[64];
        int ready = epoll_wait(ep, events, 64, 100);
        for (int e = 0; e < ready; e++) {
            struct conn *c = &conns[events[e].data.u32];
            ssize_t n = read(c->fd, buffer, BUFFER);
            if (n <= 0) { fprintf(stderr, "connection %u closed\n", events[e].data.u32); return 1; }
            const unsigned char *p = buffer;
            size_t left = (size_t)n;
            if (!c->upgraded) {
                /* Collect the HTTP response up to the blank line; frames may follow in the same read. */
                size_t room = sizeof c->http - 1 - c->http_len, take = left < room ? left : room;
                memcpy(c->http + c->http_len, p, take);
                c->http_len += take; c->http[c->http_len] = 0;
                char *end = strstr(c->http, "\r\n\r\n");
                if (!end) continue;
                if (strncmp(c->http, "HTTP/1.1 101", 12) != 0) { fprintf(stderr, "upgrade refused: %.40s\n", c->http); return 1; }
                size_t header = (size_t)(end + 4 - c->http) - (size_t)(c->http_len - take);
                p += header; left -= header;
                c->upgraded = 1;
                if (++upgraded == count) start = now_seconds();
            }
            if (start > 0) bytes += left;
            if (start > 0) consume(c, p, left); else { uint64_t before = c->messages; consume(c, p, left); c->messages = before; }
        }
    }
    double elapsed = now_seconds() - start;
    uint64_t total = 0;
    for (int i = 0; i < count; i++) total += conns[i].messages;
    printf("{\"connections\":%d,\"seconds\":%.3f,\"messages\":%llu,\"bytes\":%llu,\"messages_per_second\":%.0f,\"per_connection\":[",
           count, elapsed, (unsigned long long)total, (unsigned long long)bytes, total / elapsed);
    for (int i = 0; i < count; i++) printf("%s%llu", i ? "," : "", (unsigned long long)conns[i].messages);
    printf("]}\n");
    return 0;
}
