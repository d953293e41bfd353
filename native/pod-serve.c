/*
 * margay-serve: the workload of the lab's Kubernetes pods. It answers on the TCP and UDP ports it
 * is given, as the lab's own pod server (src/lab/pod-server.ts) does: a TCP connection gets one line
 * (the reply text) and is closed; a UDP datagram gets the same line back. Debian's busybox has no
 * UDP server, and a pod image cannot carry Node, hence this small static program in the lab's
 * busybox image (/bin/serve).
 *
 *   usage: serve REPLY PORT/PROTO[,PORT/PROTO...]        e.g. serve x/a 80/tcp,81/udp
 *
 * Sockets are IPv6 with IPV6_V6ONLY off (IPv4 and IPv6 on one socket), or IPv4 when the pod has no
 * IPv6. Exits 0 on SIGTERM/SIGINT, 2 on bad arguments, 1 when a port cannot be bound.
 * Built statically by scripts/install-deps.sh (gcc -static): dist/images/serve.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_SOCKETS 64

struct listener {
  int fd;
  int tcp;
};

static void quit(int sig) {
  (void)sig;
  _exit(0);
}

/* A socket of `type` bound to the wildcard address on `port`: IPv6 dual-stack, else IPv4. */
static int open_socket(int type, int port) {
  int one = 1, zero = 0;
  int fd = socket(AF_INET6, type, 0);
  if (fd >= 0) {
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = in6addr_any};
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    if (bind(fd, (struct sockaddr *)&a6, sizeof a6) == 0) return fd;
    close(fd);
  }
  fd = socket(AF_INET, type, 0);
  if (fd < 0) return -1;
  struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr = {htonl(INADDR_ANY)}};
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&a4, sizeof a4) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Parses `80/tcp,81/udp` into listeners; returns how many, or -1 on a bad item. */
static int parse_ports(char *list, struct listener *out) {
  int n = 0;
  for (char *item = strtok(list, ","); item; item = strtok(NULL, ",")) {
    char proto[8] = "tcp";
    int port = 0;
    if (sscanf(item, "%d/%7s", &port, proto) < 1 || port < 1 || port > 65535 || n >= MAX_SOCKETS) return -1;
    if (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0) return -1;
    out[n].tcp = strcmp(proto, "tcp") == 0;
    out[n].fd = open_socket(out[n].tcp ? SOCK_STREAM : SOCK_DGRAM, port);
    if (out[n].fd < 0) {
      fprintf(stderr, "serve: cannot bind %d/%s: %s\n", port, proto, strerror(errno));
      exit(1);
    }
    if (out[n].tcp && listen(out[n].fd, 128) != 0) {
      fprintf(stderr, "serve: cannot listen on %d/tcp: %s\n", port, strerror(errno));
      exit(1);
    }
    n++;
  }
  return n;
}

/* Answers whatever is waiting on one socket. */
static void answer(const struct listener *l, const char *reply, size_t len) {
  if (l->tcp) {
    int c = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0) return;
    /* A client that reset the connection must never stop the server: errors are ignored. */
    (void)!write(c, reply, len);
    close(c);
    return;
  }
  char buf[2048];
  struct sockaddr_storage peer;
  socklen_t plen = sizeof peer;
  if (recvfrom(l->fd, buf, sizeof buf, 0, (struct sockaddr *)&peer, &plen) >= 0) {
    sendto(l->fd, reply, len, 0, (struct sockaddr *)&peer, plen);
  }
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: serve REPLY PORT/PROTO[,PORT/PROTO...]\n");
    return 2;
  }
  signal(SIGTERM, quit);
  signal(SIGINT, quit);
  signal(SIGPIPE, SIG_IGN);
  char reply[512];
  int len = snprintf(reply, sizeof reply, "%s\n", argv[1]);
  if (len < 0 || (size_t)len >= sizeof reply) len = (int)sizeof reply - 1;
  struct listener listeners[MAX_SOCKETS];
  int n = parse_ports(argv[2], listeners);
  if (n < 0) {
    fprintf(stderr, "serve: ports must be PORT/PROTO with PORT 1-65535 and PROTO tcp or udp, comma-separated\n");
    return 2;
  }
  struct pollfd fds[MAX_SOCKETS];
  for (int i = 0; i < n; i++) fds[i] = (struct pollfd){.fd = listeners[i].fd, .events = POLLIN};
  printf("serving %s on %d socket(s)\n", argv[1], n);
  fflush(stdout);
  for (;;) {
    if (poll(fds, n, -1) < 0 && errno != EINTR) return 1;
    for (int i = 0; i < n; i++) {
      if (fds[i].revents & POLLIN) answer(&listeners[i], reply, (size_t)len);
    }
  }
}
