/*
 * margay-netns-forward: a TCP forwarder from one network namespace into another, in one process.
 *
 * The lab's Kubernetes API server listens inside a lab namespace (on the lab's fabric); the
 * operator's kubectl runs in the machine's own namespace, which must get no lab address or route.
 * This program listens on LISTEN_HOST:LISTEN_PORT in the namespace it was started in, then enters
 * NETNS (setns) for everything else: each accepted connection is served by a child process that
 * connects to TARGET_HOST:TARGET_PORT from inside NETNS and relays bytes both ways. A socket keeps
 * the namespace it was created in, so the listener stays where it was opened.
 *
 *   usage: margay-netns-forward LISTEN_HOST LISTEN_PORT NETNS_PATH TARGET_HOST TARGET_PORT [PORT_FILE]
 *
 * LISTEN_PORT 0 picks a free port; the port is written to PORT_FILE (atomically) once listening.
 * Children end with their connection or when the parent dies (PR_SET_PDEATHSIG).
 * Built by scripts/install-deps.sh: dist/lab/margay-netns-forward.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

static void die(const char *what) {
  fprintf(stderr, "netns-forward: %s: %s\n", what, strerror(errno));
  exit(1);
}

/* A connected or listening TCP socket for host:port (numeric addresses only). */
static int tcp_socket(const char *host, const char *port, int listening) {
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | (listening ? AI_PASSIVE : 0)};
  struct addrinfo *res;
  int rc = getaddrinfo(host, port, &hints, &res);
  if (rc != 0) {
    fprintf(stderr, "netns-forward: %s:%s: %s\n", host, port, gai_strerror(rc));
    exit(2);
  }
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  int one = 1;
  if (listening) {
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 64) != 0) die("listen");
  } else if (connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
    die("connect");
  }
  freeaddrinfo(res);
  return fd;
}

/* Writes the listening port to `file` through a temporary file and a rename. */
static void write_port(int fd, const char *file) {
  struct sockaddr_storage addr;
  socklen_t len = sizeof addr;
  if (getsockname(fd, (struct sockaddr *)&addr, &len) != 0) die("getsockname");
  int port = ntohs(addr.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&addr)->sin6_port : ((struct sockaddr_in *)&addr)->sin_port);
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", file);
  FILE *f = fopen(tmp, "w");
  if (!f || fprintf(f, "%d\n", port) < 0 || fclose(f) != 0 || rename(tmp, file) != 0) die(file);
}

/* Copies what is readable on `from` to `to`; returns 0 at end of stream. */
static int pump(int from, int to) {
  char buf[65536];
  ssize_t n = read(from, buf, sizeof buf);
  if (n <= 0) return 0;
  for (ssize_t off = 0; off < n;) {
    ssize_t w = write(to, buf + off, (size_t)(n - off));
    if (w <= 0) return 0;
    off += w;
  }
  return 1;
}

/* Serves one client: connect inside the target namespace, relay until both sides are done. */
static void relay(int client, const char *host, const char *port) {
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  int server = tcp_socket(host, port, 0);
  struct pollfd fds[2] = {{.fd = client, .events = POLLIN}, {.fd = server, .events = POLLIN}};
  int open_ends = 2;
  while (open_ends > 0) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; i++) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      int other = i == 0 ? server : client;
      if (!pump(fds[i].fd, other)) {
        /* Half-close: the other side sees end of stream, the reverse direction keeps flowing. */
        shutdown(other, SHUT_WR);
        fds[i].fd = -1;
        open_ends--;
      }
    }
  }
  exit(0);
}

int main(int argc, char **argv) {
  if (argc != 6 && argc != 7) {
    fprintf(stderr, "usage: margay-netns-forward LISTEN_HOST LISTEN_PORT NETNS_PATH TARGET_HOST TARGET_PORT [PORT_FILE]\n");
    return 2;
  }
  signal(SIGCHLD, SIG_IGN); /* children are reaped by the kernel */
  signal(SIGPIPE, SIG_IGN);
  int listener = tcp_socket(argv[1], argv[2], 1);
  int ns = open(argv[3], O_RDONLY | O_CLOEXEC);
  if (ns < 0) die(argv[3]);
  if (setns(ns, CLONE_NEWNET) != 0) die("setns");
  close(ns);
  if (argc == 7) write_port(listener, argv[6]);
  for (;;) {
    int client = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
    if (client < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      die("accept");
    }
    pid_t pid = fork();
    if (pid == 0) {
      close(listener);
      relay(client, argv[4], argv[5]);
    }
    close(client);
  }
}
