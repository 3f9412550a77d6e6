/*
 * peer.c: a tiny "peer node" library with a nim-ffi-style event API, to show
 * how ffi-events receives events from any C-ABI library.
 *
 * Like a nim-ffi library it reports events from its own thread through
 *   void callback(int ret, const char *msg, size_t len, void *user_data)
 * registered per event name with peer_add_event_listener(); `msg` is a CBOR
 * map { "eventType": text, "payload": { ... } }, valid only during the call;
 * ret != 0 reports an error with UTF-8 text in msg.
 *
 *   peer_connected    { "peerId": uint, "address": text }
 *   message_received  { "from": uint, "text": text }
 *   (ret = 1 on message_received listeners: "peer <n>: handshake timed out")
 *
 * And a request, the way nim-ffi functions take them:
 *   int peer_ping(ctx, callback, user_data, const uint8_t *req, size_t len)
 * copies the request (one CBOR item), returns 0 at once (1 when it cannot
 * take it), and the library's request thread later calls
 * callback(0, msg, len, user_data) once with the CBOR reply
 * { "pong": <the request, as sent>, "peers": uint }, msg valid only during
 * the call.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PEER_EXPORT __attribute__((visibility("default")))

typedef void (*FFICallBack)(int ret, const char *msg, size_t len, void *user_data);

struct listener {
  uint64_t id;
  char name[64];
  FFICallBack callback;
  void *user_data;
};

/* A request waiting for the request thread, its bytes copied. */
struct request {
  struct request *next;
  FFICallBack callback;
  void *user_data;
  size_t len;
  uint8_t bytes[];
};

struct peer_ctx {
  pthread_mutex_t lock; /* guards listeners, next_id, peers and the request queue */
  uint64_t next_id;
  size_t count;
  struct listener listeners[8];
  pthread_t thread;
  int running; /* a thread was started and not yet joined */
  uint32_t peers;
  /* The request thread, started by peer_create, joined by peer_destroy. */
  pthread_t requests_thread;
  pthread_cond_t wake;
  struct request *head, *tail;
  int stopping;
};

/* ── CBOR: definite lengths, shortest heads, keys in declaration order ── */

static size_t head(uint8_t *out, uint8_t major, uint64_t v) {
  uint8_t m = (uint8_t)(major << 5);
  if (v < 24) {
    out[0] = m | (uint8_t)v;
    return 1;
  }
  if (v <= 0xff) {
    out[0] = m | 24;
    out[1] = (uint8_t)v;
    return 2;
  }
  if (v <= 0xffff) {
    out[0] = m | 25;
    out[1] = (uint8_t)(v >> 8);
    out[2] = (uint8_t)v;
    return 3;
  }
  out[0] = m | 26;
  for (int k = 0; k < 4; k++) out[1 + k] = (uint8_t)(v >> (24 - 8 * k));
  return 5;
}

static size_t text(uint8_t *out, const char *s) {
  size_t len = strlen(s);
  size_t n = head(out, 3, len);
  memcpy(out + n, s, len);
  return n + len;
}

/* { "eventType": name, "payload": { k1: <uint>, k2: <text> } } */
static size_t envelope(uint8_t *out, const char *name, const char *k1, uint64_t v1, const char *k2, const char *v2) {
  size_t n = head(out, 5, 2);
  n += text(out + n, "eventType");
  n += text(out + n, name);
  n += text(out + n, "payload");
  n += head(out + n, 5, 2);
  n += text(out + n, k1);
  n += head(out + n, 0, v1);
  n += text(out + n, k2);
  n += text(out + n, v2);
  return n;
}

/* ── listeners ─────────────────────────────────────────────────────────── */

/* Calls the listeners of `name`; a snapshot is taken under the lock, the calls run without it. */
static void notify(struct peer_ctx *ctx, const char *name, int ret, const uint8_t *msg, size_t len) {
  struct listener snapshot[8];
  size_t n = 0;
  pthread_mutex_lock(&ctx->lock);
  for (size_t k = 0; k < ctx->count; k++) {
    if (strcmp(ctx->listeners[k].name, name) == 0) snapshot[n++] = ctx->listeners[k];
  }
  pthread_mutex_unlock(&ctx->lock);
  for (size_t k = 0; k < n; k++) snapshot[k].callback(ret, (const char *)msg, len, snapshot[k].user_data);
}

static void *run(void *arg) {
  struct peer_ctx *ctx = arg;
  uint8_t buf[256];
  char s[96];
  for (uint32_t p = 1; p <= ctx->peers; p++) {
    snprintf(s, sizeof s, "10.0.0.%u:60000", p);
    notify(ctx, "peer_connected", 0, buf, envelope(buf, "peer_connected", "peerId", p, "address", s));
    snprintf(s, sizeof s, "hello from peer %u", p);
    notify(ctx, "message_received", 0, buf, envelope(buf, "message_received", "from", p, "text", s));
  }
  int len = snprintf(s, sizeof s, "peer %u: handshake timed out", ctx->peers + 1);
  notify(ctx, "message_received", 1, (const uint8_t *)s, (size_t)len);
  return NULL;
}

/* ── requests ──────────────────────────────────────────────────────────── */

/* Answers each queued request once, in order, until peer_destroy. */
static void *serve_requests(void *arg) {
  struct peer_ctx *ctx = arg;
  pthread_mutex_lock(&ctx->lock);
  for (;;) {
    while (ctx->head == NULL && !ctx->stopping) pthread_cond_wait(&ctx->wake, &ctx->lock);
    if (ctx->stopping) break;
    struct request *req = ctx->head;
    ctx->head = req->next;
    if (ctx->head == NULL) ctx->tail = NULL;
    uint32_t peers = ctx->peers;
    pthread_mutex_unlock(&ctx->lock);
    /* { "pong": <the request's CBOR item>, "peers": n } */
    uint8_t *reply = malloc(req->len + 32);
    if (reply != NULL) {
      size_t n = head(reply, 5, 2);
      n += text(reply + n, "pong");
      memcpy(reply + n, req->bytes, req->len);
      n += req->len;
      n += text(reply + n, "peers");
      n += head(reply + n, 0, peers);
      req->callback(0, (const char *)reply, n, req->user_data);
      free(reply);
    } else {
      static const char oom[] = "peer: out of memory";
      req->callback(1, oom, sizeof oom - 1, req->user_data);
    }
    free(req);
    pthread_mutex_lock(&ctx->lock);
  }
  pthread_mutex_unlock(&ctx->lock);
  return NULL;
}

/* ── API ───────────────────────────────────────────────────────────────── */

/** A new context with its request thread running, or NULL. */
PEER_EXPORT void *peer_create(void) {
  struct peer_ctx *ctx = calloc(1, sizeof *ctx);
  if (ctx == NULL) return NULL;
  pthread_mutex_init(&ctx->lock, NULL);
  pthread_cond_init(&ctx->wake, NULL);
  if (pthread_create(&ctx->requests_thread, NULL, serve_requests, ctx) != 0) {
    pthread_cond_destroy(&ctx->wake);
    pthread_mutex_destroy(&ctx->lock);
    free(ctx);
    return NULL;
  }
  return ctx;
}

/**
 * Pings the library: `req` (one CBOR item, `len` bytes) is copied at once;
 * the request thread later calls callback(0, { "pong": req, "peers": n },
 * len, user_data) once. 0 when accepted, 1 when not (no callback, no bytes,
 * no memory).
 */
PEER_EXPORT int peer_ping(void *vctx, FFICallBack callback, void *user_data, const uint8_t *req, size_t len) {
  struct peer_ctx *ctx = vctx;
  if (ctx == NULL || callback == NULL || req == NULL || len == 0 || len > 4096) return 1;
  struct request *r = malloc(sizeof *r + len);
  if (r == NULL) return 1;
  r->next = NULL;
  r->callback = callback;
  r->user_data = user_data;
  r->len = len;
  memcpy(r->bytes, req, len);
  pthread_mutex_lock(&ctx->lock);
  if (ctx->tail != NULL) ctx->tail->next = r;
  else ctx->head = r;
  ctx->tail = r;
  pthread_cond_signal(&ctx->wake);
  pthread_mutex_unlock(&ctx->lock);
  return 0;
}

/** Listener id (> 0) for events named `event_name`, or 0. */
PEER_EXPORT uint64_t peer_add_event_listener(void *vctx, const char *event_name, FFICallBack callback, void *user_data) {
  struct peer_ctx *ctx = vctx;
  if (ctx == NULL || event_name == NULL || callback == NULL || strlen(event_name) >= sizeof ctx->listeners[0].name) return 0;
  uint64_t id = 0;
  pthread_mutex_lock(&ctx->lock);
  if (ctx->count < sizeof ctx->listeners / sizeof ctx->listeners[0]) {
    struct listener *l = &ctx->listeners[ctx->count++];
    l->id = id = ++ctx->next_id;
    strcpy(l->name, event_name);
    l->callback = callback;
    l->user_data = user_data;
  }
  pthread_mutex_unlock(&ctx->lock);
  return id;
}

/** Starts the library's thread: `peers` peers connect and say hello, then one handshake fails. 0, or -1. */
PEER_EXPORT int peer_start(void *vctx, uint32_t peers) {
  struct peer_ctx *ctx = vctx;
  if (ctx == NULL || ctx->running) return -1;
  pthread_mutex_lock(&ctx->lock);
  ctx->peers = peers;
  pthread_mutex_unlock(&ctx->lock);
  if (pthread_create(&ctx->thread, NULL, run, ctx) != 0) return -1;
  ctx->running = 1;
  return 0;
}

/** Joins the library's threads (requests still queued are never answered) and frees the context. */
PEER_EXPORT void peer_destroy(void *vctx) {
  struct peer_ctx *ctx = vctx;
  if (ctx == NULL) return;
  if (ctx->running) pthread_join(ctx->thread, NULL);
  pthread_mutex_lock(&ctx->lock);
  ctx->stopping = 1;
  pthread_cond_signal(&ctx->wake);
  pthread_mutex_unlock(&ctx->lock);
  pthread_join(ctx->requests_thread, NULL);
  for (struct request *r = ctx->head, *next; r != NULL; r = next) {
    next = r->next;
    free(r);
  }
  pthread_cond_destroy(&ctx->wake);
  pthread_mutex_destroy(&ctx->lock);
  free(ctx);
}
