/*
 * margay / margay-ipam: the CNI plugin binaries, a thin client of the Margay agent.
 *
 * The container runtime executes this program once per CNI operation. It forwards the request
 * (the network configuration on stdin and the CNI_* environment) to the agent's unix socket as
 * one HTTP/1.1 request and relays the answer: the body goes to stdout, the exit code is 0 for an
 * HTTP 200 and 1 otherwise (the body is then a CNI error object). All the work (addresses, veth,
 * WorkloadEndpoint, policy) happens in the agent; see docs/cni.md.
 *
 * The only things decided here:
 *   - VERSION is answered locally: it is static, and runtimes ask it while the agent may be down.
 *   - The socket: $MARGAY_CNI_SOCKET, else the configuration's "agent_socket", else
 *     /var/run/margay/cni.sock.
 *   - Errors the agent cannot report: unreachable or no answer (code 11 "try again later", or 50
 *     "not available" for STATUS), a variable that cannot travel in a header (4), I/O (5).
 *
 * Invoked as "margay-ipam" (argv[0]) it asks for the IPAM service (/v1/ipam) instead of /v1/cni.
 * Built by scripts/install-deps.sh: gcc -O2 -o build/cni/margay native/cni-client.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_SOCKET "/var/run/margay/cni.sock"
#define SUPPORTED "[\"0.3.1\",\"0.4.0\",\"1.0.0\",\"1.1.0\"]"

static char version[32] = "1.1.0";

/* Prints a CNI error object (the message must not need JSON escaping) and exits 1. */
static void fail(int code, const char *msg, const char *detail) {
  printf("{\"cniVersion\":\"%s\",\"code\":%d,\"msg\":\"%s\"", version, code, msg);
  if (detail) {
    fputs(",\"details\":\"", stdout);
    for (const char *p = detail; *p; p++) {
      if (*p == '"' || *p == '\\') putchar('\\');
      if ((unsigned char)*p >= 0x20) putchar(*p);
    }
    putchar('"');
  }
  puts("}");
  exit(1);
}

/* The string value of the first "key": "value" in the JSON text, without escapes; or NULL. */
static char *json_string(const char *json, const char *key, char *out, size_t size) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\"", key);
  const char *p = strstr(json, pat);
  if (!p) return NULL;
  p += strlen(pat);
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
  if (*p++ != ':') return NULL;
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
  if (*p++ != '"') return NULL;
  size_t n = 0;
  while (*p && *p != '"' && *p != '\\' && n + 1 < size) out[n++] = *p++;
  if (*p != '"') return NULL;
  out[n] = 0;
  return out;
}

/* Appends to a growing buffer. */
static void append(char **buf, size_t *len, size_t *cap, const char *data, size_t n) {
  if (*len + n + 1 > *cap) {
    while (*len + n + 1 > *cap) *cap = *cap ? *cap * 2 : 4096;
    *buf = realloc(*buf, *cap);
    if (!*buf) fail(5, "out of memory", NULL);
  }
  memcpy(*buf + *len, data, n);
  *len += n;
  (*buf)[*len] = 0;
}

static const char *const VARS[] = {"CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH", NULL};

int main(int argc, char **argv) {
  (void)argc;
  const char *cmd = getenv("CNI_COMMAND");
  const char *base = strrchr(argv[0], '/');
  base = base ? base + 1 : argv[0];
  const char *service = strcmp(base, "margay-ipam") == 0 ? "/v1/ipam" : "/v1/cni";

  char *in = NULL;
  size_t in_len = 0, in_cap = 0;
  char chunk[65536];
  for (;;) {
    ssize_t n = read(0, chunk, sizeof chunk);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(5, "cannot read the network configuration from stdin", strerror(errno));
    }
    append(&in, &in_len, &in_cap, chunk, (size_t)n);
  }
  if (!in) append(&in, &in_len, &in_cap, "", 0);
  json_string(in, "cniVersion", version, sizeof version);

  if (cmd && strcmp(cmd, "VERSION") == 0) {
    printf("{\"cniVersion\":\"1.1.0\",\"supportedVersions\":" SUPPORTED "}\n");
    return 0;
  }

  char path_buf[256];
  const char *path = getenv("MARGAY_CNI_SOCKET");
  if (!path || !*path) path = json_string(in, "agent_socket", path_buf, sizeof path_buf);
  if (!path || !*path) path = DEFAULT_SOCKET;
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof addr.sun_path) fail(7, "the agent socket path is too long", path);
  strcpy(addr.sun_path, path);

  char *req = NULL;
  size_t req_len = 0, req_cap = 0;
  char line[8192];
  snprintf(line, sizeof line, "POST %s HTTP/1.1\r\nHost: margay\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n", service, in_len);
  append(&req, &req_len, &req_cap, line, strlen(line));
  for (int i = 0; VARS[i]; i++) {
    const char *v = getenv(VARS[i]);
    if (!v) continue;
    if (strpbrk(v, "\r\n")) fail(4, "a CNI environment variable contains a line break", VARS[i]);
    append(&req, &req_len, &req_cap, "X-", 2);
    append(&req, &req_len, &req_cap, VARS[i], strlen(VARS[i]));
    append(&req, &req_len, &req_cap, ": ", 2);
    append(&req, &req_len, &req_cap, v, strlen(v));
    append(&req, &req_len, &req_cap, "\r\n", 2);
  }
  append(&req, &req_len, &req_cap, "\r\n", 2);
  append(&req, &req_len, &req_cap, in, in_len);

  int unavailable = cmd && strcmp(cmd, "STATUS") == 0 ? 50 : 11;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail(5, "cannot create a unix socket", strerror(errno));
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    snprintf(line, sizeof line, "%s: %s", path, strerror(errno));
    fail(unavailable, "the margay agent is not reachable; try again later", line);
  }
  for (size_t off = 0; off < req_len;) {
    ssize_t n = send(fd, req + off, req_len - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(unavailable, "the margay agent closed the connection; try again later", strerror(errno));
    }
    off += (size_t)n;
  }

  const char *t = getenv("MARGAY_CNI_TIMEOUT");
  long timeout_ms = (t && atol(t) > 0 ? atol(t) : 300) * 1000L;
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  char *resp = NULL;
  size_t resp_len = 0, resp_cap = 0;
  for (;;) {
    clock_gettime(CLOCK_MONOTONIC, &now);
    long left = timeout_ms - ((now.tv_sec - start.tv_sec) * 1000L + (now.tv_nsec - start.tv_nsec) / 1000000L);
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int r = left > 0 ? poll(&pfd, 1, (int)left) : 0;
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) fail(unavailable, "the margay agent did not answer in time; try again later", path);
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(unavailable, "lost the connection to the margay agent; try again later", strerror(errno));
    if (n == 0) break;
    append(&resp, &resp_len, &resp_cap, chunk, (size_t)n);
  }
  close(fd);

  int status = 0;
  char *body = resp ? strstr(resp, "\r\n\r\n") : NULL;
  if (!body || sscanf(resp, "HTTP/1.%*d %d", &status) != 1) {
    fail(unavailable, "the margay agent closed the connection without an answer; try again later", path);
  }
  body += 4;
  fwrite(body, 1, resp_len - (size_t)(body - resp), stdout);
  return status == 200 ? 0 : 1;
}
