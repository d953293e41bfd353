/*
 * margay / margay-ipam: the CNI plugin binaries, a thin client of the Margay agent.
 *
 * The container runtime executes this program once per CNI operation. It forwards the request
 * (the network configuration on stdin and the CNI_* environment) to the agent's unix socket as
 * one HTTP/1.1 request and relays the answer: the body goes to stdout, the exit code is 0 for an
 * HTTP 200 and 1 otherwise (the body is then a CNI error object). All the work (addresses, veth,
 * WorkloadEndpoint, policy) happens in the agent; see docs/cni.md.
 *
 * What is decided here, before the agent is asked (so that a request that can never succeed is
 * never answered "try again later", and whatever the input, stdout is one well-formed JSON object):
 *   - CNI_COMMAND missing or unknown: 4 (invalid environment). VERSION is answered locally: it is
 *     static, and runtimes ask it while the agent may be down.
 *   - A CNI_* variable that cannot travel (a control character, longer than MAX_VAR bytes), or
 *     MARGAY_CNI_TIMEOUT not a whole number of seconds from 1 to 3600: 4.
 *   - The configuration: larger than MAX_CONFIG bytes or cniVersion missing: 7 (invalid network
 *     configuration); not a JSON object: 6 (decode failure); cniVersion unsupported: 1.
 *   - The socket: $MARGAY_CNI_SOCKET, else the configuration's "agent_socket", else
 *     /var/run/margay/cni.sock.
 *   - The agent unreachable or silent: 11 "try again later" (50 "not available" for STATUS);
 *     I/O on our side: 5; an answer that is not a CNI error object: 999.
 * Error objects carry the configuration's cniVersion when it is a version (digits.digits.digits),
 * else 1.1.0; every string in them is escaped (control characters, invalid UTF-8).
 *
 * Invoked as "margay-ipam" (argv[0]) it asks for the IPAM service (/v1/ipam) instead of /v1/cni.
 * Built by scripts/install-deps.sh: gcc -O2 -o dist/cni/margay native/cni-client.c
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
#define SPEC_VERSION "1.1.0"
#define SUPPORTED "[\"0.3.1\",\"0.4.0\",\"1.0.0\",\"1.1.0\"]"
static const char *const SUPPORTED_LIST[] = {"0.3.1", "0.4.0", "1.0.0", "1.1.0", NULL};
static const char *const COMMANDS[] = {"ADD", "DEL", "CHECK", "VERSION", "GC", "STATUS", NULL};
static const char *const VARS[] = {"CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH", NULL};

/* The agent takes configurations up to 1 MiB (src/cni/server.ts) and headers up to 64 KiB. */
#define MAX_CONFIG (1024 * 1024)
#define MAX_VAR 8192
#define MAX_ANSWER (16 * 1024 * 1024)
/* Nesting deeper than this is not a network configuration. */
#define MAX_DEPTH 512

/* The version error objects carry: the configuration's, when it looks like one. */
static char version[32] = SPEC_VERSION;

/* Writes s[0..n) as a JSON string: quotes, backslashes and control characters escaped, invalid UTF-8 as U+FFFD. */
static void put_json_string(const char *s, size_t n) {
  putchar('"');
  const unsigned char *p = (const unsigned char *)s, *end = p + n;
  while (p < end) {
    unsigned char c = *p;
    if (c == '"' || c == '\\') {
      putchar('\\');
      putchar(c);
      p++;
    } else if (c < 0x20 || c == 0x7f) {
      printf("\\u%04x", c);
      p++;
    } else if (c < 0x80) {
      putchar(c);
      p++;
    } else {
      /* A complete, minimal UTF-8 sequence is copied; anything else becomes U+FFFD. */
      int len = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c <= 0xdf ? 2 : 0;
      int ok = len > 0 && p + len <= end;
      for (int i = 1; ok && i < len; i++) ok = (p[i] & 0xc0) == 0x80;
      if (ok && len == 3) ok = !(c == 0xe0 && p[1] < 0xa0) && !(c == 0xed && p[1] >= 0xa0);
      if (ok && len == 4) ok = !(c == 0xf0 && p[1] < 0x90) && !(c == 0xf4 && p[1] >= 0x90);
      if (ok) {
        fwrite(p, 1, (size_t)len, stdout);
        p += len;
      } else {
        fputs("\\ufffd", stdout);
        p++;
      }
    }
  }
  putchar('"');
}

/* Prints a CNI error object and exits 1; a long detail is cut, saying how long it was. */
static void fail(int code, const char *msg, const char *detail) {
  printf("{\"cniVersion\":\"%s\",\"code\":%d,\"msg\":", version, code);
  put_json_string(msg, strlen(msg));
  if (detail) {
    size_t n = strlen(detail);
    char cut[320];
    if (n > 256) {
      snprintf(cut, sizeof cut, "%.200s… (%zu bytes)", detail, n);
      detail = cut;
    }
    fputs(",\"details\":", stdout);
    put_json_string(detail, strlen(detail));
  }
  puts("}");
  exit(1);
}

/* ---- A small JSON reader: checks the whole text, keeps two top-level string members. ---- */

struct reader {
  const char *p, *end;
  const char *error; /* the first problem, NULL while the text is valid */
};

/* A decoded string value, truncated to its buffer (long values are not versions or socket paths). */
struct member {
  const char *name;
  char value[256];
  int found, truncated;
};

static void skip_ws(struct reader *r) {
  while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')) r->p++;
}

static int hex4(const char *p, const char *end, unsigned *out) {
  if (end - p < 4) return 0;
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return 0;
    v = v * 16 + (unsigned)d;
  }
  *out = v;
  return 1;
}

/* Appends one code point as UTF-8 to out (within size, NUL-terminated); counts what did not fit. */
static void put_utf8(char *out, size_t size, size_t *n, int *truncated, unsigned cp) {
  char b[4];
  size_t len = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  if (len == 1) b[0] = (char)cp;
  else if (len == 2) b[0] = (char)(0xc0 | cp >> 6), b[1] = (char)(0x80 | (cp & 0x3f));
  else if (len == 3) b[0] = (char)(0xe0 | cp >> 12), b[1] = (char)(0x80 | ((cp >> 6) & 0x3f)), b[2] = (char)(0x80 | (cp & 0x3f));
  else b[0] = (char)(0xf0 | cp >> 18), b[1] = (char)(0x80 | ((cp >> 12) & 0x3f)), b[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), b[3] = (char)(0x80 | (cp & 0x3f));
  if (!out) return;
  if (*n + len + 1 > size) {
    *truncated = 1;
    return;
  }
  memcpy(out + *n, b, len);
  *n += len;
  out[*n] = 0;
}

/* Reads a string at r->p (which is at '"'), decoding it into out when out is not NULL. */
static void read_string(struct reader *r, char *out, size_t size, int *truncated) {
  size_t n = 0;
  if (out) out[0] = 0;
  r->p++;
  while (!r->error) {
    if (r->p >= r->end) {
      r->error = "a string is not closed";
      return;
    }
    unsigned char c = (unsigned char)*r->p++;
    if (c == '"') return;
    if (c < 0x20) {
      r->error = "a control character inside a string";
      return;
    }
    if (c != '\\') {
      if (out && n + 2 <= size) out[n++] = (char)c, out[n] = 0;
      else if (out) *truncated = 1;
      continue;
    }
    if (r->p >= r->end) {
      r->error = "a string is not closed";
      return;
    }
    char e = *r->p++;
    const char *simple = strchr("\"\\/bfnrt", e);
    if (e && simple) {
      static const char decoded[] = "\"\\/\b\f\n\r\t";
      put_utf8(out, size, &n, truncated, (unsigned char)decoded[simple - "\"\\/bfnrt"]);
    } else if (e == 'u') {
      unsigned cp, lo;
      if (!hex4(r->p, r->end, &cp)) {
        r->error = "a \\u escape without four hex digits";
        return;
      }
      r->p += 4;
      if (cp >= 0xd800 && cp <= 0xdbff && r->end - r->p >= 6 && r->p[0] == '\\' && r->p[1] == 'u' && hex4(r->p + 2, r->end, &lo) && lo >= 0xdc00 && lo <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        r->p += 6;
      } else if (cp >= 0xd800 && cp <= 0xdfff) {
        cp = 0xfffd; /* a lone surrogate has no UTF-8 form */
      }
      put_utf8(out, size, &n, truncated, cp);
    } else {
      r->error = "an invalid escape in a string";
      return;
    }
  }
}

static int literal(struct reader *r, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0) return 0;
  r->p += n;
  return 1;
}

static int digits(struct reader *r) {
  const char *start = r->p;
  while (r->p < r->end && *r->p >= '0' && *r->p <= '9') r->p++;
  return r->p > start;
}

static void read_number(struct reader *r) {
  if (r->p < r->end && *r->p == '-') r->p++;
  if (r->p < r->end && *r->p == '0') r->p++;
  else if (!digits(r)) goto bad;
  if (r->p < r->end && *r->p == '.') {
    r->p++;
    if (!digits(r)) goto bad;
  }
  if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
    r->p++;
    if (r->p < r->end && (*r->p == '+' || *r->p == '-')) r->p++;
    if (!digits(r)) goto bad;
  }
  return;
bad:
  r->error = "an invalid number";
}

/* Reads any value; at depth 0 (an object) the members named in `keep` are decoded. */
static void read_value(struct reader *r, int depth, struct member *keep) {
  skip_ws(r);
  if (r->p >= r->end) {
    r->error = "the text ends where a value should be";
    return;
  }
  char c = *r->p;
  if ((c == '{' || c == '[') && depth >= MAX_DEPTH) {
    r->error = "nested more than 512 levels deep";
    return;
  }
  if (c == '{' || c == '[') {
    char close = c == '{' ? '}' : ']';
    r->p++;
    skip_ws(r);
    if (r->p < r->end && *r->p == close) {
      r->p++;
      return;
    }
    for (;;) {
      struct member *target = NULL;
      if (c == '{') {
        skip_ws(r);
        if (r->p >= r->end || *r->p != '"') {
          r->error = "an object key is not a string";
          return;
        }
        char key[32];
        int long_key = 0;
        read_string(r, key, sizeof key, &long_key);
        if (r->error) return;
        for (struct member *m = keep; depth == 0 && m && m->name; m++) {
          if (!long_key && strcmp(key, m->name) == 0) target = m;
        }
        skip_ws(r);
        if (r->p >= r->end || *r->p != ':') {
          r->error = "a ':' is missing after an object key";
          return;
        }
        r->p++;
        skip_ws(r);
      }
      if (target) {
        /* The last occurrence wins, as in the agent's JSON.parse. */
        target->found = 0;
        if (r->p < r->end && *r->p == '"') {
          target->truncated = 0;
          read_string(r, target->value, sizeof target->value, &target->truncated);
          target->found = 1;
        } else {
          read_value(r, depth + 1, NULL);
          target->found = -1; /* present, not a string */
        }
      } else {
        read_value(r, depth + 1, NULL);
      }
      if (r->error) return;
      skip_ws(r);
      if (r->p < r->end && *r->p == ',') {
        r->p++;
        continue;
      }
      if (r->p < r->end && *r->p == close) {
        r->p++;
        return;
      }
      r->error = c == '{' ? "a ',' or '}' is missing in an object" : "a ',' or ']' is missing in an array";
      return;
    }
  }
  if (c == '"') {
    int ignored;
    read_string(r, NULL, 0, &ignored);
  } else if (c == '-' || (c >= '0' && c <= '9')) {
    read_number(r);
  } else if (!literal(r, "true") && !literal(r, "false") && !literal(r, "null")) {
    r->error = "an unexpected character";
  }
}

static int listed(const char *s, const char *const *list) {
  for (int i = 0; list[i]; i++)
    if (strcmp(s, list[i]) == 0) return 1;
  return 0;
}

/* True for digits.digits.digits, each part 1 to 9 digits (what the agent also echoes). */
static int looks_like_version(const char *s) {
  for (int part = 0; part < 3; part++) {
    int n = 0;
    while (*s >= '0' && *s <= '9') s++, n++;
    if (n < 1 || n > 9) return 0;
    if (part < 2 && *s++ != '.') return 0;
  }
  return *s == 0;
}

/* ---- Buffers and the request ---- */

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

/* Reads stdin whole, refusing more than MAX_CONFIG bytes. */
static char *read_config(size_t *len_out) {
  char *in = NULL;
  size_t len = 0, cap = 0;
  char chunk[65536];
  for (;;) {
    ssize_t n = read(0, chunk, sizeof chunk);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(5, "cannot read the network configuration from stdin", strerror(errno));
    }
    if (len + (size_t)n > MAX_CONFIG) fail(7, "the network configuration is larger than 1048576 bytes", NULL);
    append(&in, &len, &cap, chunk, (size_t)n);
  }
  if (!in) append(&in, &len, &cap, "", 0);
  *len_out = len;
  return in;
}

/* The answer timeout: MARGAY_CNI_TIMEOUT whole seconds (1 to 3600), 300 when unset. */
static long answer_timeout_ms(void) {
  const char *t = getenv("MARGAY_CNI_TIMEOUT");
  if (!t) return 300 * 1000L;
  long v = 0;
  const char *p = t;
  while (*p >= '0' && *p <= '9' && v <= 3600) v = v * 10 + (*p++ - '0');
  if (p == t || *p || v < 1 || v > 3600) fail(4, "MARGAY_CNI_TIMEOUT must be a whole number of seconds from 1 to 3600", t);
  return v * 1000L;
}

/* Checks the CNI_* variables that will travel as headers. */
static void check_vars(void) {
  for (int i = 0; VARS[i]; i++) {
    const char *v = getenv(VARS[i]);
    if (!v) continue;
    if (strlen(v) > MAX_VAR) fail(4, "a CNI environment variable is longer than 8192 bytes", VARS[i]);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
      if ((*p < 0x20 && *p != '\t') || *p == 0x7f) fail(4, "a CNI environment variable contains a control character", VARS[i]);
    }
  }
}

/* Checks the configuration as far as the agent would refuse it whatever happens; returns its agent_socket member. */
static void check_config(const char *in, size_t len, struct member *socket_member) {
  struct member keep[] = {{.name = "cniVersion"}, {.name = "agent_socket"}, {.name = NULL}};
  struct reader r = {.p = in, .end = in + len, .error = NULL};
  skip_ws(&r);
  int object = r.p < r.end && *r.p == '{';
  read_value(&r, 0, keep);
  skip_ws(&r);
  if (!r.error && r.p != r.end) r.error = "text after the value";
  if (!r.error && keep[0].found == 1 && !keep[0].truncated && looks_like_version(keep[0].value)) {
    snprintf(version, sizeof version, "%.31s", keep[0].value);
  }
  if (r.error) fail(6, "the network configuration is not valid JSON", r.error);
  if (!object) fail(6, "the network configuration must be a JSON object", NULL);
  if (keep[0].found == 0 || (keep[0].found == 1 && keep[0].value[0] == 0)) fail(7, "invalid network configuration: cniVersion: is required", NULL);
  if (keep[0].found != 1 || keep[0].truncated || !listed(keep[0].value, SUPPORTED_LIST)) {
    fail(1, "incompatible CNI version: Margay supports 0.3.1, 0.4.0, 1.0.0, 1.1.0", keep[0].found == 1 && !keep[0].truncated ? keep[0].value : NULL);
  }
  *socket_member = keep[1];
}

int main(int argc, char **argv) {
  (void)argc;
  const char *base = strrchr(argv[0], '/');
  base = base ? base + 1 : argv[0];
  const char *service = strcmp(base, "margay-ipam") == 0 ? "/v1/ipam" : "/v1/cni";

  size_t in_len;
  char *in = read_config(&in_len);
  const char *cmd = getenv("CNI_COMMAND");
  if (!cmd || !*cmd) fail(4, "CNI_COMMAND is not set", NULL);
  if (!listed(cmd, COMMANDS)) fail(4, "CNI_COMMAND is not one of ADD, DEL, CHECK, VERSION, GC, STATUS", cmd);
  if (strcmp(cmd, "VERSION") == 0) {
    printf("{\"cniVersion\":\"" SPEC_VERSION "\",\"supportedVersions\":" SUPPORTED "}\n");
    return 0;
  }
  check_vars();
  long timeout_ms = answer_timeout_ms();
  struct member socket_member = {0};
  check_config(in, in_len, &socket_member);

  const char *path = getenv("MARGAY_CNI_SOCKET");
  if ((!path || !*path) && socket_member.found == 1) {
    if (socket_member.truncated) fail(7, "invalid network configuration: agent_socket: the path is too long", NULL);
    path = socket_member.value;
  }
  if (!path || !*path) path = DEFAULT_SOCKET;
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof addr.sun_path) fail(7, "the agent socket path is too long", path);
  strcpy(addr.sun_path, path);

  char *req = NULL;
  size_t req_len = 0, req_cap = 0;
  char line[512];
  snprintf(line, sizeof line, "POST %s HTTP/1.1\r\nHost: margay\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n", service, in_len);
  append(&req, &req_len, &req_cap, line, strlen(line));
  for (int i = 0; VARS[i]; i++) {
    const char *v = getenv(VARS[i]);
    if (!v) continue;
    append(&req, &req_len, &req_cap, "X-", 2);
    append(&req, &req_len, &req_cap, VARS[i], strlen(VARS[i]));
    append(&req, &req_len, &req_cap, ": ", 2);
    append(&req, &req_len, &req_cap, v, strlen(v));
    append(&req, &req_len, &req_cap, "\r\n", 2);
  }
  append(&req, &req_len, &req_cap, "\r\n", 2);
  append(&req, &req_len, &req_cap, in, in_len);

  int unavailable = strcmp(cmd, "STATUS") == 0 ? 50 : 11;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail(5, "cannot create a unix socket", strerror(errno));
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    char detail[sizeof addr.sun_path + 128];
    snprintf(detail, sizeof detail, "%s: %s", path, strerror(errno));
    fail(unavailable, "the margay agent is not reachable; try again later", detail);
  }
  for (size_t off = 0; off < req_len;) {
    ssize_t n = send(fd, req + off, req_len - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(unavailable, "the margay agent closed the connection; try again later", strerror(errno));
    }
    off += (size_t)n;
  }

  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  char *resp = NULL;
  size_t resp_len = 0, resp_cap = 0;
  char chunk[65536];
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
    if (resp_len + (size_t)n > MAX_ANSWER) fail(5, "the margay agent's answer is larger than 16 MiB", NULL);
    append(&resp, &resp_len, &resp_cap, chunk, (size_t)n);
  }
  close(fd);

  int status = 0;
  char *body = resp ? strstr(resp, "\r\n\r\n") : NULL;
  if (!body || sscanf(resp, "HTTP/1.%*d %d", &status) != 1) {
    fail(unavailable, "the margay agent closed the connection without an answer; try again later", path);
  }
  body += 4;
  size_t body_len = resp_len - (size_t)(body - resp);
  if (status != 200) {
    /* Relay the agent's error object; anything else (an HTTP error of its server) becomes one. */
    struct reader r = {.p = body, .end = body + body_len, .error = NULL};
    skip_ws(&r);
    int object = r.p < r.end && *r.p == '{';
    read_value(&r, 0, NULL);
    skip_ws(&r);
    if (!object || r.error || r.p != r.end) {
      snprintf(line, sizeof line, "HTTP %d", status);
      fail(999, "the margay agent refused the request without a CNI error object", line);
    }
  }
  fwrite(body, 1, body_len, stdout);
  return status == 200 ? 0 : 1;
}
