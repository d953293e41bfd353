/*
 * margay-pause: the lab's pod sandbox process (the "pause" container of every Kubernetes pod the
 * lab's kubelets start). It holds the pod's namespaces open and does nothing else: it sleeps in
 * pause(2) until SIGTERM or SIGINT, and reaps any orphan reparented to it (it is PID 1 of the pod).
 *
 * Built statically by scripts/install-deps.sh (gcc -static), because the image holds this one
 * file and no C library: dist/images/pause.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void quit(int sig) {
  (void)sig;
  _exit(0);
}

static void reap(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(void) {
  signal(SIGTERM, quit);
  signal(SIGINT, quit);
  signal(SIGCHLD, reap);
  for (;;) pause();
}
