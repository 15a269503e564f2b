/*
 * openloop: an open-loop HTTP/1.1 load generator for latency at a fixed request rate.
 *
 * Why not wrk's `delay()`: wrk's timers have millisecond resolution, so every connection whose
 * think time ends within the same millisecond fires at once, and the groups never split again.
 * Measured against a server that timestamps arrivals: at ~6.8k req/s with 18 connections and a
 * 2 ms delay, 88 % of requests arrived in bursts of 10 or more, most often all 18 together
 * (docs/performance.md, "Tail latency"). The p99 of such a run is the time to serve a whole burst, not the latency
 * of a server at half load.
 *
 * Here request start times are drawn up front as a Poisson process (exponential gaps; or evenly
 * spaced with -u) at the given rate and do not depend on responses: a request whose time has
 * come goes out on an idle keep-alive connection, on a new one (up to -c, default 256), or waits
 * for one. Latency is measured from the request's scheduled time, not from when it was written,
 * so time spent waiting for a connection or for this process counts, as in wrk2.
 *
 * Waiting for the next start time: a timerfd with 1 ns timer slack, or with -b a busy poll at
 * SCHED_IDLE priority. On a VM a sleeping vCPU takes tens of microseconds (sometimes
 * milliseconds) to wake, which lands on every request; the busy poll never sleeps, and at idle
 * priority it yields the core at once to anything else there (the bench's upstream shares it).
 *
 * Usage: openloop -p PORT -r RATE [-a IP] [-P PATH] [-d SECONDS] [-w WARMUP_S] [-c MAXCONN]
 *                 [-H 'name: value']... [-u] [-b] [-s SEED] [-o FILE]
 * Prints one line, OPENLOOP {json}, for the requests scheduled in the measured part: requests,
 * errors, non-2xx, achieved rate, connections opened, how many waited for a connection
 * ("queued"), latency percentiles in microseconds, and late_p99: how late this process itself
 * wrote the requests that had a connection free (its own noise). With -o, also writes each
 * measured request as a line "scheduled_ms latency_us" (ms from the measured part's start, in
 * completion order) to FILE: the tail's shape in time, e.g. stalls of the server.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONN 1024
#define BUF 65536

enum { IDLE, BUSY, DEAD };

struct conn {
  int fd;
  int state;
  uint64_t scheduled; /* ns: when the request in flight was due */
  uint64_t sent;      /* ns: when it was written */
  char buf[BUF];
  size_t len;
};

static struct conn conns[MAX_CONN];
static int nconn;
static int idle_stack[MAX_CONN];
static int nidle;
static int max_conn = 256; /* -c */

static struct sockaddr_in addr;
static char request[8192];
static size_t request_len;

/* Requests due but without a connection: their scheduled times, FIFO. */
static uint64_t *waiting;
static size_t wait_head, wait_tail, wait_cap;

static uint32_t *lat_us; /* latencies of measured requests */
static size_t nlat, cap_lat;
static uint32_t *sched_ms10; /* -o: each measured request's scheduled time, in 0.1 ms from the measured part's start */
static size_t nsched, cap_sched;
static const char *trace_path; /* -o FILE: one line per measured request, "scheduled_ms latency_us" */
static uint32_t *late_us; /* how late each measured request was written */
static size_t nlate, cap_late;
static uint64_t errors, non2xx, measured_sent, queued_measured;
static uint64_t measure_from, measure_to; /* ns: requests scheduled in [from, to) are measured */

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static double uniform01(void) { /* xorshift64*, in (0, 1] */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  uint64_t r = rng_state * 2685821657736338717ull;
  return ((double)(r >> 11) + 1.0) / 9007199254740993.0;
}

static void die(const char *what) {
  perror(what);
  exit(2);
}

static void push_u32(uint32_t **a, size_t *n, size_t *cap, uint32_t v) {
  if (*n == *cap) {
    *cap = *cap ? *cap * 2 : 65536;
    *a = realloc(*a, *cap * sizeof(uint32_t));
    if (!*a) die("realloc");
  }
  (*a)[(*n)++] = v;
}

static int epfd;

static void open_conn(int i) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("connect");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
  conns[i].fd = fd;
  conns[i].state = IDLE;
  conns[i].len = 0;
}

static void send_on(int i, uint64_t scheduled, int queued) {
  struct conn *c = &conns[i];
  c->state = BUSY;
  c->scheduled = scheduled;
  c->len = 0;
  c->sent = now_ns();
  /* A request is far smaller than the socket buffer of an idle connection: one write. */
  ssize_t w = write(c->fd, request, request_len);
  if (w != (ssize_t)request_len) {
    fprintf(stderr, "openloop: short write\n");
    exit(2);
  }
  if (scheduled >= measure_from && scheduled < measure_to) {
    measured_sent++;
    /* Lateness of this process only: a request that waited for a connection waited for the server. */
    if (queued) queued_measured++;
    else push_u32(&late_us, &nlate, &cap_late, (uint32_t)((c->sent - scheduled) / 1000));
  }
}

static void dispatch(uint64_t scheduled) {
  if (nidle > 0) return send_on(idle_stack[--nidle], scheduled, 0);
  if (nconn < max_conn) {
    open_conn(nconn);
    return send_on(nconn++, scheduled, 0);
  }
  if (wait_tail - wait_head == wait_cap) {
    size_t n = wait_tail - wait_head;
    uint64_t *nw = malloc((wait_cap ? wait_cap * 2 : 1024) * sizeof(uint64_t));
    if (!nw) die("malloc");
    for (size_t k = 0; k < n; k++) nw[k] = waiting[(wait_head + k) % wait_cap];
    free(waiting);
    waiting = nw;
    wait_cap = wait_cap ? wait_cap * 2 : 1024;
    wait_head = 0;
    wait_tail = n;
  }
  waiting[wait_tail++ % wait_cap] = scheduled;
}

static void release(int i) {
  if (wait_tail > wait_head) return send_on(i, waiting[wait_head++ % wait_cap], 1);
  conns[i].state = IDLE;
  idle_stack[nidle++] = i;
}

static void record(struct conn *c, int status_ok) {
  uint64_t done = now_ns();
  if (c->scheduled >= measure_from && c->scheduled < measure_to) {
    if (!status_ok) non2xx++;
    push_u32(&lat_us, &nlat, &cap_lat, (uint32_t)((done - c->scheduled) / 1000));
    if (trace_path) push_u32(&sched_ms10, &nsched, &cap_sched, (uint32_t)((c->scheduled - measure_from) / 100000));
  }
}

/* A failed connection: its request counts as an error; a fresh connection takes its place. */
static void fail(int i) {
  struct conn *c = &conns[i];
  int was_busy = c->state == BUSY;
  if (was_busy && c->scheduled >= measure_from && c->scheduled < measure_to) errors++;
  epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  open_conn(i);
  /* An idle connection the server closed is still on the idle stack, now with the new socket. */
  if (was_busy) release(i);
}

static size_t line_len(const char *p, const char *end) {
  const char *eol = memchr(p, '\n', (size_t)(end - p));
  return (size_t)((eol ? eol : end) - p);
}

/*
 * Whether buf holds one whole response; sets *ok to 2xx-ness and *close_after when the server
 * said `Connection: close`. -1: malformed or a framing this
 * tool does not read (no Content-Length and not chunked).
 */
static int complete_response(const char *buf, size_t len, int *ok, int *close_after) {
  const char *end = memmem(buf, len, "\r\n\r\n", 4);
  if (!end) return 0;
  size_t head = (size_t)(end - buf) + 4;
  if (len < 12 || memcmp(buf, "HTTP/1.", 7) != 0) return -1;
  *ok = buf[9] == '2';
  long clen = -1;
  int chunked = 0;
  for (const char *p = memchr(buf, '\n', head); p && p < end; p = memchr(p, '\n', (size_t)(end - p))) {
    p++;
    if (strncasecmp(p, "content-length:", 15) == 0) clen = strtol(p + 15, NULL, 10);
    else if (strncasecmp(p, "transfer-encoding:", 18) == 0 && memmem(p, line_len(p, end), "chunked", 7)) chunked = 1;
    else if (strncasecmp(p, "connection:", 11) == 0 && memmem(p, line_len(p, end), "close", 5)) *close_after = 1;
  }
  if (!chunked) {
    if (clen < 0) return -1;
    return len >= head + (size_t)clen;
  }
  size_t pos = head;
  for (;;) {
    const char *eol = memmem(buf + pos, len - pos, "\r\n", 2);
    if (!eol) return 0;
    long size = strtol(buf + pos, NULL, 16);
    pos = (size_t)(eol - buf) + 2;
    if (size == 0) return len >= pos + 2; /* no trailers */
    if (len < pos + (size_t)size + 2) return 0;
    pos += (size_t)size + 2;
  }
}

static void on_readable(int i) {
  struct conn *c = &conns[i];
  int eof = 0;
  for (;;) {
    ssize_t r = read(c->fd, c->buf + c->len, BUF - c->len);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (r <= 0) { eof = 1; break; } /* closed (or reset): after a whole response that is fine */
    if (c->state != BUSY || c->len + (size_t)r == BUF) return fail(i);
    c->len += (size_t)r;
  }
  if (c->state != BUSY) return fail(i); /* an idle connection the server closed */
  int ok = 0, close_after = 0;
  int done = complete_response(c->buf, c->len, &ok, &close_after);
  if (done < 0 || (!done && eof)) return fail(i);
  if (!done) return;
  record(c, ok);
  if (close_after || eof) { /* the server will not take another request on it */
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    open_conn(i);
  }
  release(i);
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static uint32_t pct(uint32_t *a, size_t n, double p) {
  if (n == 0) return 0;
  size_t k = (size_t)ceil(p / 100.0 * (double)n);
  return a[k == 0 ? 0 : k - 1];
}

int main(int argc, char **argv) {
  const char *ip = "127.0.0.1", *path = "/";
  int port = 0, uniform = 0, spin = 0;
  double rate = 0, duration = 10, warmup = 2;
  char headers[4096] = "";
  int opt;
  while ((opt = getopt(argc, argv, "a:p:P:r:d:w:c:H:ubs:o:")) != -1) {
    switch (opt) {
      case 'a': ip = optarg; break;
      case 'p': port = atoi(optarg); break;
      case 'P': path = optarg; break;
      case 'r': rate = atof(optarg); break;
      case 'd': duration = atof(optarg); break;
      case 'w': warmup = atof(optarg); break;
      case 'c': max_conn = atoi(optarg); break;
      case 'H':
        if (strlen(headers) + strlen(optarg) + 3 >= sizeof headers) { fprintf(stderr, "openloop: headers too long\n"); return 2; }
        strcat(headers, optarg);
        strcat(headers, "\r\n");
        break;
      case 'u': uniform = 1; break;
      case 'b': spin = 1; break;
      case 's': rng_state = strtoull(optarg, NULL, 10) | 1; break;
      case 'o': trace_path = optarg; break;
      default: fprintf(stderr, "usage: openloop -p PORT -r RATE [-a IP] [-P PATH] [-d S] [-w S] [-c N] [-H h]... [-u] [-s SEED] [-o FILE]\n"); return 2;
    }
  }
  if (max_conn < 4 || max_conn > MAX_CONN) { fprintf(stderr, "openloop: -c must be 4..%d\n", MAX_CONN); return 2; }
  if (port <= 0 || rate <= 0 || duration <= 0) { fprintf(stderr, "openloop: -p PORT and -r RATE are required\n"); return 2; }
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, ip, &addr.sin_addr) != 1) { fprintf(stderr, "openloop: bad address %s\n", ip); return 2; }
  request_len = (size_t)snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: %s:%d\r\n%s\r\n", path, ip, port, headers);
  if (request_len >= sizeof request) { fprintf(stderr, "openloop: request too long\n"); return 2; }

  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  if (spin) {
    struct sched_param sp = { .sched_priority = 0 };
    if (sched_setscheduler(0, SCHED_IDLE, &sp) < 0) die("sched_setscheduler");
  }
  epfd = epoll_create1(0);
  if (epfd < 0) die("epoll_create1");
  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
  if (tfd < 0) die("timerfd_create");
  struct epoll_event tev = { .events = EPOLLIN, .data.u32 = UINT32_MAX };
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &tev) < 0) die("epoll_ctl timer");

  /* A few warm connections up front; more are opened while none is idle. */
  for (; nconn < 4; nconn++) {
    open_conn(nconn);
    idle_stack[nidle++] = nconn;
  }

  const double gap_ns = 1e9 / rate;
  uint64_t start = now_ns();
  measure_from = start + (uint64_t)(warmup * 1e9);
  measure_to = measure_from + (uint64_t)(duration * 1e9);
  double next = (double)start;
  struct epoll_event evs[256];
  for (;;) {
    uint64_t t = now_ns();
    while ((uint64_t)next <= t && (uint64_t)next < measure_to) {
      dispatch((uint64_t)next);
      next += uniform ? gap_ns : -log(uniform01()) * gap_ns;
    }
    /* every connection is either on the idle stack or busy */
    if ((uint64_t)next >= measure_to && nidle == nconn && wait_tail == wait_head) break;
    if (t > measure_to + 5000000000ull) break; /* answers still missing 5 s after the end */
    if (!spin && (uint64_t)next < measure_to) {
      struct itimerspec its = { 0 };
      its.it_value.tv_sec = (time_t)((uint64_t)next / 1000000000ull);
      its.it_value.tv_nsec = (long)((uint64_t)next % 1000000000ull);
      if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) its.it_value.tv_nsec = 1;
      timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
    }
    int n = epoll_wait(epfd, evs, 256, spin ? 0 : (uint64_t)next < measure_to ? -1 : 100);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    for (int k = 0; k < n; k++) {
      if (evs[k].data.u32 == UINT32_MAX) {
        uint64_t expirations;
        if (read(tfd, &expirations, sizeof expirations) < 0 && errno != EAGAIN) die("timerfd read");
        continue;
      }
      on_readable((int)evs[k].data.u32);
    }
  }
  /* Requests never answered count as errors. */
  for (int i = 0; i < nconn; i++)
    if (conns[i].state == BUSY && conns[i].scheduled >= measure_from && conns[i].scheduled < measure_to) errors++;
  errors += wait_tail - wait_head;

  if (trace_path) {
    FILE *f = fopen(trace_path, "w");
    if (!f) die("trace file");
    fprintf(f, "# measured part starts at CLOCK_MONOTONIC %.3f ms\n", measure_from / 1e6);
    for (size_t i = 0; i < nlat; i++) fprintf(f, "%.1f %u\n", sched_ms10[i] / 10.0, lat_us[i]);
    fclose(f);
  }
  qsort(lat_us, nlat, sizeof(uint32_t), cmp_u32);
  qsort(late_us, nlate, sizeof(uint32_t), cmp_u32);
  printf("OPENLOOP {\"requests\":%zu,\"sent\":%llu,\"errors\":%llu,\"non2xx\":%llu,\"duration_us\":%llu,\"rate\":%.1f,"
         "\"connections\":%d,\"queued\":%llu,\"p50\":%u,\"p90\":%u,\"p99\":%u,\"p999\":%u,\"max\":%u,\"late_p99\":%u,\"arrivals\":\"%s\"}\n",
         nlat, (unsigned long long)measured_sent, (unsigned long long)errors, (unsigned long long)non2xx,
         (unsigned long long)((measure_to - measure_from) / 1000), (double)nlat / duration, nconn, (unsigned long long)queued_measured,
         pct(lat_us, nlat, 50), pct(lat_us, nlat, 90), pct(lat_us, nlat, 99), pct(lat_us, nlat, 99.9),
         nlat ? lat_us[nlat - 1] : 0, pct(late_us, nlate, 99), uniform ? "uniform" : "poisson");
  return 0;
}
