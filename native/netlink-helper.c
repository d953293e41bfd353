/*
 * margay-netlink: a resident helper of the agent for the kernel work of a CNI ADD or DEL that
 * must happen inside a container's network namespace, and for the host-side sysctls, without
 * starting a process per call. Starting a process costs 5-15 ms of CPU on a small VM (nsenter,
 * then ip), which is most of what a CNI ADD costs; a request here costs a few system calls.
 *
 * The agent starts it once, in the host's network namespace (nsenter when the agent programs
 * another namespace). For a container request it enters the container's namespace (setns), opens
 * a route netlink socket there, does the work, and returns to the host namespace.
 *
 * Protocol: one request per line on standard input, fields separated by tabs, the first being an
 * id chosen by the caller; one reply per request on standard error, in order:
 * "<id> ok", "<id> gone" (del: nothing to delete) or "<id> err <message>".
 *
 *   <id> up     <netns path> <ifname> <IPv4 list> <IPv6 list> <IPv4 gateway> <IPv6 gateway>
 *       The container side of a veth: each IPv4 address as /32, each IPv6 address as /128 without
 *       duplicate address detection, the link up, then for IPv4 a link-scope route to the IPv4
 *       gateway (169.254.1.1) and the default route through it, for IPv6 the default route through
 *       the IPv6 gateway (the host side's link-local address). Lists are comma-separated; "," for
 *       none. Idempotent: existing addresses and routes are replaced.
 *   <id> veth   <host ifname> <host MAC> <MTU> <peer ifname> <peer MAC> <netns path>
 *       Creates a veth in the helper's namespace (the host's), both ends down, the peer moved into
 *       the namespace at the path as it is made: what `ip link add … type veth peer … netns …`
 *       does, without a process. "err veth: File exists" when the host name is taken.
 *   <id> hostup <ifname>
 *       Sets an interface of the helper's namespace up.
 *   <id> hostroutes <ifname> <IPv4 list> <IPv6 list> <protocol number> [new]
 *       Routes each address (/32 scope link, /128) through the interface in the helper's namespace,
 *       replacing any route to it, with that routing protocol. With "new", a route to an address
 *       that has one already is not replaced: "err …: File exists" (the CNI's addresses put in
 *       before IPAM's commit must not take over another workload's route).
 *   <id> mark   <group> <netns path> <ifname> <host ifname>
 *       Puts the host end of the container's veth (its peer, which must be named <host ifname>)
 *       into interface group <group> (a number), for a delgroup: "gone" when the namespace or
 *       the interface is, an error when its peer is not that host interface.
 *   <id> delgroup <group>
 *       Deletes every interface of the group in the helper's namespace (and so their peers), in
 *       one unregistration: the kernel waits once for all of them (RCU, references), where one
 *       deletion after another waits each time.
 *   <id> del    <netns path> <ifname>
 *       Deletes the interface (and so its veth peer); "gone" when the namespace or interface is.
 *   <id> hostdel <ifname>
 *       Deletes an interface of the helper's namespace (a workload veth's host end, and so its
 *       peer); "gone" when there is none of that name.
 *   <id> sysctl <path under /proc/sys> <value>
 *       Writes the value when it differs (writing the same value can still take locks).
 *   <id> nft    <hex>
 *       Sends one nftables netlink batch (begin, messages, end; built by the agent, see
 *       src/dataplane/nftables/netlink-batch.ts) in the helper's own namespace and reports the
 *       first error the kernel acknowledges. The kernel applies a batch all or nothing. This is how
 *       the agent changes set and map elements, chains and rules without `nft`, whose cache of
 *       every chain in the namespace costs ~10 ms per transaction on a large ruleset.
 *   <id> nftstream <path>
 *       Sends the batches of the file one after the other as the agent appends them, until an
 *       NLMSG_DONE message; stops at the first the kernel refuses (the earlier ones stay applied):
 *       a cold start's load ahead, which the agent writes while it renders, so that the kernel
 *       loads meanwhile. A message whose length is shorter than its header, or a batch longer than
 *       MAX_BATCH, ends the stream with an error.
 *
 * "gone" means the kernel has no interface of that name (ENODEV); any other failure to look the
 * name up (no descriptor left for the lookup's socket, …) is an error, never "gone".
 * A request with the wrong number of fields is refused. A namespace path must name a network
 * namespace (nsfs): anything else is refused without blocking (O_NONBLOCK), since one stuck
 * request would stall every other. Exits at the end of its input, and with status 1 when it
 * cannot return to the host namespace.
 * Built by scripts/install-deps.sh: gcc -O2 -o dist/cni/margay-netlink native/netlink-helper.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/veth.h>
#include <linux/magic.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/vfs.h>
#include <unistd.h>

static int host_ns = -1;

/* One netlink request: a header, its body (ifinfomsg, ifaddrmsg or rtmsg), then attributes. */
union request {
  struct nlmsghdr n;
  char buf[512];
};

static void add_attr(union request *r, unsigned short type, const void *data, size_t len) {
  struct rtattr *rta = (struct rtattr *)(r->buf + NLMSG_ALIGN(r->n.nlmsg_len));
  rta->rta_type = type;
  rta->rta_len = RTA_LENGTH(len);
  memcpy(RTA_DATA(rta), data, len);
  r->n.nlmsg_len = NLMSG_ALIGN(r->n.nlmsg_len) + RTA_ALIGN(rta->rta_len);
}

/* Opens a nested attribute; close it with nest_end once its contents are added. */
static struct rtattr *nest(union request *r, unsigned short type) {
  struct rtattr *rta = (struct rtattr *)(r->buf + NLMSG_ALIGN(r->n.nlmsg_len));
  rta->rta_type = type;
  rta->rta_len = RTA_LENGTH(0);
  r->n.nlmsg_len = NLMSG_ALIGN(r->n.nlmsg_len) + RTA_ALIGN(rta->rta_len);
  return rta;
}

static void nest_end(union request *r, struct rtattr *rta) {
  rta->rta_len = (unsigned short)((char *)r + r->n.nlmsg_len - (char *)rta);
}

/* Called with each message the kernel answers a request with, before its acknowledgement. */
typedef void on_answer(struct nlmsghdr *h, void *arg);

/*
 * Sends one request and waits for its acknowledgement, handing any other message answering it
 * to `answer` (when given); returns 0 or -errno.
 */
static int exchange(int fd, struct nlmsghdr *n, on_answer *answer, void *arg) {
  static unsigned seq;
  n->nlmsg_seq = ++seq;
  n->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (sendto(fd, n, n->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) return -errno;
  char buf[16384];
  for (;;) {
    ssize_t len = recv(fd, buf, sizeof buf, 0);
    if (len < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_seq != n->nlmsg_seq) continue;
      if (h->nlmsg_type == NLMSG_ERROR) return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
      if (answer) answer(h, arg);
    }
  }
}

static int talk(int fd, struct nlmsghdr *n) {
  return exchange(fd, n, NULL, NULL);
}

/* Starts a request of `type`; returns its zeroed body. */
static void *start(union request *r, unsigned short type, unsigned short flags, size_t body) {
  memset(r, 0, sizeof *r);
  r->n.nlmsg_len = NLMSG_LENGTH(body);
  r->n.nlmsg_type = type;
  r->n.nlmsg_flags = flags;
  return NLMSG_DATA(&r->n);
}

static int link_up(int fd, int index) {
  union request r;
  struct ifinfomsg *link = start(&r, RTM_NEWLINK, 0, sizeof *link);
  link->ifi_family = AF_UNSPEC;
  link->ifi_index = index;
  link->ifi_flags = IFF_UP;
  link->ifi_change = IFF_UP;
  return talk(fd, &r.n);
}

static int link_del(int fd, int index) {
  union request r;
  struct ifinfomsg *link = start(&r, RTM_DELLINK, 0, sizeof *link);
  link->ifi_family = AF_UNSPEC;
  link->ifi_index = index;
  return talk(fd, &r.n);
}

static int addr_add(int fd, int index, int family, const void *ip) {
  union request r;
  size_t len = family == AF_INET ? 4 : 16;
  struct ifaddrmsg *addr = start(&r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, sizeof *addr);
  addr->ifa_family = family;
  addr->ifa_prefixlen = family == AF_INET ? 32 : 128;
  addr->ifa_flags = family == AF_INET6 ? IFA_F_NODAD : 0;
  addr->ifa_scope = RT_SCOPE_UNIVERSE;
  addr->ifa_index = index;
  add_attr(&r, IFA_LOCAL, ip, len);
  add_attr(&r, IFA_ADDRESS, ip, len);
  return talk(fd, &r.n);
}

/*
 * A route through the interface: to dst/dst_len (dst NULL: default), via gw when given. `how` is
 * NLM_F_REPLACE (any route to dst is replaced) or NLM_F_EXCL (-EEXIST when there is one).
 */
static int route_add(int fd, int index, int family, const void *dst, int dst_len, const void *gw, unsigned char scope, unsigned char protocol, int how) {
  union request r;
  size_t len = family == AF_INET ? 4 : 16;
  struct rtmsg *route = start(&r, RTM_NEWROUTE, NLM_F_CREATE | how, sizeof *route);
  route->rtm_family = family;
  route->rtm_dst_len = dst_len;
  route->rtm_table = RT_TABLE_MAIN;
  route->rtm_protocol = protocol;
  route->rtm_scope = scope;
  route->rtm_type = RTN_UNICAST;
  if (dst) add_attr(&r, RTA_DST, dst, len);
  if (gw) add_attr(&r, RTA_GATEWAY, gw, len);
  add_attr(&r, RTA_OIF, &index, sizeof index);
  return talk(fd, &r.n);
}

/* Opens the namespace file at `path`: a descriptor, or -errno (-EINVAL when it is not a namespace). */
static int open_ns(const char *path) {
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return -errno;
  struct statfs fs;
  int rc = fstatfs(fd, &fs) < 0 ? -errno : fs.f_type != NSFS_MAGIC ? -EINVAL : 0;
  if (rc) {
    close(fd);
    return rc;
  }
  return fd;
}

/* Enters the network namespace at `path`; returns 0, or -errno (-ENOENT when it does not exist). */
static int enter(const char *path) {
  int fd = open_ns(path);
  if (fd < 0) return fd;
  int rc = setns(fd, CLONE_NEWNET) < 0 ? -errno : 0;
  close(fd);
  return rc;
}

/* The route netlink socket of the helper's own (the host's) namespace, opened on first use. */
static int host_fd = -1;

static int host_socket(void) {
  if (host_fd < 0) host_fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  return host_fd < 0 ? -errno : host_fd;
}

static void leave(void) {
  if (setns(host_ns, CLONE_NEWNET) < 0) {
    perror("margay-netlink: cannot return to the host network namespace");
    exit(1);
  }
}

static void reply(const char *id, const char *what, const char *detail, int err) {
  if (err) fprintf(stderr, "%s err %s: %s\n", id, detail ? detail : "", strerror(-err));
  else fprintf(stderr, "%s %s\n", id, what ? what : "ok");
}

/*
 * The index of an interface of the current namespace, or -errno: -ENODEV when there is none of
 * that name (the kernel's ENODEV, or ENXIO); any other failure of the lookup (if_nametoindex opens
 * a socket: EMFILE, ENOMEM, …) is an error, never "gone". (glibc may leave another errno than the
 * socket's, so the reply says "interface lookup" rather than trust the message alone.)
 */
static int index_of(const char *ifname) {
  unsigned index = if_nametoindex(ifname);
  if (index > 0) return (int)index;
  int err = errno;
  return err == ENODEV || err == ENXIO ? -ENODEV : -(err ? err : EIO);
}

/* What a reply names when index_of failed: the interface when it is missing, else the lookup. */
static const char *lookup_detail(int rc, const char *ifname) {
  return rc == -ENODEV ? ifname : "interface lookup";
}

/* Configures every address of a comma-separated list; returns 0 or -errno, naming the failure in *failed. */
static int each_address(int fd, int index, int family, char *list, const char **failed) {
  for (char *ip = strtok(list, ","); ip; ip = strtok(NULL, ",")) {
    unsigned char bin[16];
    if (inet_pton(family, ip, bin) != 1) {
      *failed = "bad address";
      return -EINVAL;
    }
    int rc = addr_add(fd, index, family, bin);
    if (rc) {
      *failed = "address add";
      return rc;
    }
  }
  return 0;
}

static int configure(int fd, int index, char *v4, char *v6, const char *gw4, const char *gw6, const char **failed) {
  int has4 = v4[strspn(v4, ",")] != 0, has6 = v6[strspn(v6, ",")] != 0;
  int rc = each_address(fd, index, AF_INET, v4, failed);
  if (!rc) rc = each_address(fd, index, AF_INET6, v6, failed);
  if (rc) return rc;
  if ((rc = link_up(fd, index))) {
    *failed = "link up";
    return rc;
  }
  if (has4) {
    unsigned char gw[4];
    if (inet_pton(AF_INET, gw4, gw) != 1) {
      *failed = "bad IPv4 gateway";
      return -EINVAL;
    }
    if ((rc = route_add(fd, index, AF_INET, gw, 32, NULL, RT_SCOPE_LINK, RTPROT_BOOT, NLM_F_REPLACE)) || (rc = route_add(fd, index, AF_INET, NULL, 0, gw, RT_SCOPE_UNIVERSE, RTPROT_BOOT, NLM_F_REPLACE))) {
      *failed = "IPv4 routes";
      return rc;
    }
  }
  if (has6) {
    unsigned char gw[16];
    if (inet_pton(AF_INET6, gw6, gw) != 1) {
      *failed = "bad IPv6 gateway";
      return -EINVAL;
    }
    if ((rc = route_add(fd, index, AF_INET6, NULL, 0, gw, RT_SCOPE_UNIVERSE, RTPROT_BOOT, NLM_F_REPLACE))) {
      *failed = "IPv6 default route";
      return rc;
    }
  }
  return 0;
}

/* up and del: the work inside the container's namespace (v4 .. gw6 only for up). */
static void in_container(const char *id, const char *op, const char *netns, const char *ifname, char *v4, char *v6, const char *gw4, const char *gw6) {
  int rc = enter(netns);
  if (rc == -ENOENT && strcmp(op, "del") == 0) {
    reply(id, "gone", NULL, 0);
    return;
  }
  if (rc) {
    reply(id, NULL, "cannot enter the network namespace", rc);
    return;
  }
  const char *failed = "";
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  int index = fd < 0 ? -errno : index_of(ifname);
  if (fd < 0) {
    rc = index;
    failed = "netlink socket";
  } else if (index < 0) {
    rc = index;
    failed = lookup_detail(rc, ifname);
  } else if (strcmp(op, "del") == 0) {
    rc = link_del(fd, index);
    failed = "link del";
  } else {
    rc = configure(fd, index, v4, v6, gw4, gw6, &failed);
  }
  if (fd >= 0) close(fd);
  leave();
  if (strcmp(op, "del") == 0 && rc == -ENODEV) reply(id, "gone", NULL, 0);
  else reply(id, "ok", failed, rc);
}

static int parse_mac(const char *text, unsigned char mac[6]) {
  char end;
  return sscanf(text, "%2hhx:%2hhx:%2hhx:%2hhx:%2hhx:%2hhx%c", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5], &end) == 6 ? 0 : -EINVAL;
}

/* The attributes of one end of a veth: name, MAC, MTU. */
static void link_attrs(union request *r, const char *name, const unsigned char mac[6], int mtu) {
  add_attr(r, IFLA_IFNAME, name, strlen(name) + 1);
  add_attr(r, IFLA_ADDRESS, mac, 6);
  add_attr(r, IFLA_MTU, &mtu, sizeof mtu);
}

/* veth: both ends made down in one request, the peer straight into the container's namespace. */
static void veth(const char *id, const char *host, const char *host_mac, const char *mtu_text, const char *peer, const char *peer_mac, const char *netns) {
  unsigned char hmac[6], pmac[6];
  char *end;
  long mtu = strtol(mtu_text, &end, 10);
  if (strlen(host) >= IFNAMSIZ || strlen(peer) >= IFNAMSIZ || *end || mtu < 68 || mtu > 65535 || parse_mac(host_mac, hmac) || parse_mac(peer_mac, pmac)) {
    reply(id, NULL, "bad veth request", -EINVAL);
    return;
  }
  int fd = host_socket();
  int ns = fd < 0 ? fd : open_ns(netns);
  if (fd < 0 || ns < 0) {
    reply(id, NULL, fd < 0 ? "netlink socket" : "cannot open the network namespace", fd < 0 ? fd : ns);
    return;
  }
  union request r;
  struct ifinfomsg *link = start(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, sizeof *link);
  link->ifi_family = AF_UNSPEC;
  link_attrs(&r, host, hmac, (int)mtu);
  struct rtattr *info = nest(&r, IFLA_LINKINFO);
  add_attr(&r, IFLA_INFO_KIND, "veth", 4);
  struct rtattr *data = nest(&r, IFLA_INFO_DATA);
  struct rtattr *other = nest(&r, VETH_INFO_PEER);
  r.n.nlmsg_len += NLMSG_ALIGN(sizeof(struct ifinfomsg)); /* the peer's ifinfomsg, zeroed by start() */
  link_attrs(&r, peer, pmac, (int)mtu);
  add_attr(&r, IFLA_NET_NS_FD, &ns, sizeof ns);
  nest_end(&r, other);
  nest_end(&r, data);
  nest_end(&r, info);
  int rc = talk(fd, &r.n);
  close(ns);
  reply(id, "ok", "veth", rc);
}

/* hostup: an interface of the helper's namespace up. */
static void host_up(const char *id, const char *ifname) {
  int fd = host_socket();
  int index = fd < 0 ? fd : index_of(ifname);
  reply(id, "ok", index < 0 ? lookup_detail(index, ifname) : ifname, index < 0 ? index : link_up(fd, index));
}

/* Routes every address of a comma-separated list through `index`; returns 0 or -errno. */
static int each_route(int fd, int index, int family, char *list, unsigned char protocol, int how) {
  for (char *ip = strtok(list, ","); ip; ip = strtok(NULL, ",")) {
    unsigned char bin[16];
    if (inet_pton(family, ip, bin) != 1) return -EINVAL;
    int rc = family == AF_INET ? route_add(fd, index, AF_INET, bin, 32, NULL, RT_SCOPE_LINK, protocol, how) : route_add(fd, index, AF_INET6, bin, 128, NULL, RT_SCOPE_UNIVERSE, protocol, how);
    if (rc) return rc;
  }
  return 0;
}

/* hostroutes: the host's routes to a workload's addresses through its interface (mode NULL or "new"). */
static void host_routes(const char *id, const char *ifname, char *v4, char *v6, const char *protocol_text, const char *mode) {
  char *end;
  long protocol = strtol(protocol_text, &end, 10);
  if (*end || protocol < 0 || protocol > 255) {
    reply(id, NULL, "bad route protocol", -EINVAL);
    return;
  }
  if (mode && strcmp(mode, "new") != 0) {
    reply(id, NULL, "bad hostroutes mode (allowed: new)", -EINVAL);
    return;
  }
  int how = mode ? NLM_F_EXCL : NLM_F_REPLACE;
  int fd = host_socket();
  int index = fd < 0 ? fd : index_of(ifname);
  int rc = index < 0 ? index : each_route(fd, index, AF_INET, v4, (unsigned char)protocol, how);
  if (!rc) rc = each_route(fd, index, AF_INET6, v6, (unsigned char)protocol, how);
  reply(id, "ok", index < 0 && fd >= 0 ? lookup_detail(index, ifname) : "routes", rc);
}

/* hostdel: deletes an interface of the helper's namespace by name. */
static void host_del(const char *id, const char *ifname) {
  int fd = host_socket();
  int index = fd < 0 ? fd : index_of(ifname);
  int rc = index < 0 ? index : link_del(fd, index);
  if (rc == -ENODEV) reply(id, "gone", NULL, 0);
  else reply(id, "ok", index < 0 && fd >= 0 ? lookup_detail(index, ifname) : "link del", rc);
}

/* What get_link reads of a link. */
struct link_info {
  char name[IFNAMSIZ];
  int peer;
};

static void read_link(struct nlmsghdr *h, void *arg) {
  struct link_info *info = arg;
  if (h->nlmsg_type != RTM_NEWLINK) return;
  int rest = (int)IFLA_PAYLOAD(h);
  for (struct rtattr *a = IFLA_RTA((struct ifinfomsg *)NLMSG_DATA(h)); RTA_OK(a, rest); a = RTA_NEXT(a, rest)) {
    if (a->rta_type == IFLA_LINK && RTA_PAYLOAD(a) >= sizeof(int)) memcpy(&info->peer, RTA_DATA(a), sizeof(int));
    if (a->rta_type == IFLA_IFNAME) snprintf(info->name, IFNAMSIZ, "%s", (const char *)RTA_DATA(a));
  }
}

/* Reads a link of the namespace `fd` is in: its name and the index of its peer (IFLA_LINK, 0 if none). */
static int get_link(int fd, int index, struct link_info *info) {
  union request r;
  struct ifinfomsg *link = start(&r, RTM_GETLINK, 0, sizeof *link);
  link->ifi_family = AF_UNSPEC;
  link->ifi_index = index;
  memset(info, 0, sizeof *info);
  return exchange(fd, &r.n, read_link, info);
}

static int parse_group(const char *text, unsigned *group) {
  char *end;
  unsigned long g = strtoul(text, &end, 10);
  if (*end || !*text || g == 0 || g > 0xffffffffUL) return -EINVAL;
  *group = (unsigned)g;
  return 0;
}

/* mark: the host end of a container's veth into a group, for delgroup. */
static void mark(const char *id, const char *group_text, const char *netns, const char *ifname, const char *host) {
  unsigned group;
  if (parse_group(group_text, &group)) {
    reply(id, NULL, "bad group", -EINVAL);
    return;
  }
  int rc = enter(netns);
  if (rc == -ENOENT) {
    reply(id, "gone", NULL, 0);
    return;
  }
  if (rc) {
    reply(id, NULL, "cannot enter the network namespace", rc);
    return;
  }
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  int index = fd < 0 ? -errno : index_of(ifname);
  struct link_info mine, peer;
  rc = index < 0 ? index : get_link(fd, index, &mine);
  if (fd >= 0) close(fd);
  leave();
  if (rc == -ENODEV) {
    reply(id, "gone", NULL, 0);
    return;
  }
  /* The peer's index is one of the host's: it must name the host end this container was given. */
  int hfd = rc ? rc : host_socket();
  if (!rc && hfd < 0) rc = hfd;
  if (!rc && mine.peer == 0) rc = -ENOENT;
  if (!rc) rc = get_link(hfd, mine.peer, &peer);
  if (!rc && strcmp(peer.name, host) != 0) rc = -ESRCH;
  if (!rc) {
    union request r;
    struct ifinfomsg *link = start(&r, RTM_NEWLINK, 0, sizeof *link);
    link->ifi_family = AF_UNSPEC;
    link->ifi_index = mine.peer;
    add_attr(&r, IFLA_GROUP, &group, sizeof group);
    rc = talk(hfd, &r.n);
  }
  reply(id, "ok", "mark", rc);
}

/* delgroup: every interface of a group deleted at once. */
static void delete_group(const char *id, const char *group_text) {
  unsigned group;
  if (parse_group(group_text, &group)) {
    reply(id, NULL, "bad group", -EINVAL);
    return;
  }
  int fd = host_socket();
  int rc = fd;
  if (fd >= 0) {
    union request r;
    struct ifinfomsg *link = start(&r, RTM_DELLINK, 0, sizeof *link);
    link->ifi_family = AF_UNSPEC;
    add_attr(&r, IFLA_GROUP, &group, sizeof group);
    rc = talk(fd, &r.n);
  }
  reply(id, "ok", "delgroup", rc == -ENODEV ? 0 : rc);
}

static int safe_path(const char *p) {
  if (!*p || strstr(p, "..")) return 0;
  for (; *p; p++)
    if (!(*p == '/' || *p == '.' || *p == '_' || *p == '-' || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) return 0;
  return 1;
}

/* Reads a sysctl file's value (first line); returns 0 or -errno. */
static int read_value(const char *file, char *out, size_t size) {
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  ssize_t n = read(fd, out, size - 1);
  int rc = n < 0 ? -errno : 0;
  close(fd);
  out[n > 0 ? n : 0] = 0;
  out[strcspn(out, "\n")] = 0;
  return rc;
}

static int write_value(const char *file, const char *value) {
  int fd = open(file, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  size_t len = strlen(value);
  ssize_t n = write(fd, value, len);
  int rc = n < 0 ? -errno : n != (ssize_t)len ? -EIO : 0;
  close(fd);
  return rc;
}

static void sysctl(const char *id, const char *path, const char *value) {
  char file[512], current[256];
  if (!safe_path(path) || snprintf(file, sizeof file, "/proc/sys/%s", path) >= (int)sizeof file) {
    reply(id, NULL, "bad sysctl path", -EINVAL);
    return;
  }
  /* Written only when it differs: a read-only /proc/sys with the right value is fine. */
  int rc = read_value(file, current, sizeof current);
  if (!rc && strcmp(current, value) != 0) rc = write_value(file, value);
  reply(id, "ok", file, rc);
}

/*
 * The longest batch the helper takes (bytes): far beyond what one sendto may carry (the socket's
 * send buffer, ~208 KiB by default; the agent's batches are at most 192 KiB), so only a length
 * that cannot be meets it.
 */
#define MAX_BATCH (16u << 20)

/* The NETLINK_NETFILTER socket of `nft` requests, opened on first use. */
static int nf_fd = -1;

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* Reads every queued answer; returns the first error (-errno) or 0. */
static int drain_answers(void) {
  int rc = 0;
  char buf[16384];
  for (;;) {
    ssize_t len = recv(nf_fd, buf, sizeof buf, MSG_DONTWAIT);
    if (len < 0) {
      if (errno == EINTR) continue;
      return (errno == EAGAIN || errno == EWOULDBLOCK) ? rc : -errno;
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type != NLMSG_ERROR) continue;
      int err = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
      if (err && !rc) rc = err;
    }
  }
}

/*
 * The number of messages in a batch, or -EINVAL when their lengths do not tile it: the kernel
 * drops such a batch without a word (no acknowledgement), and a length near 2^32 would wrap
 * NLMSG_ALIGN to 0 and never move on.
 */
static long count_messages(const unsigned char *batch, size_t len) {
  long messages = 0;
  for (size_t at = 0; at < len; messages++) {
    const struct nlmsghdr *h = (const struct nlmsghdr *)(batch + at);
    if (len - at < NLMSG_HDRLEN || h->nlmsg_len < NLMSG_HDRLEN || h->nlmsg_len > len - at) return -EINVAL;
    at += NLMSG_ALIGN(h->nlmsg_len);
  }
  return messages;
}

/*
 * Makes room on the socket for one acknowledgement per message of a batch (each takes up to ~1 KiB
 * of the receive buffer; the default ~208 KiB would overflow past ~200 messages, and the kernel
 * then drops answers and reports ENOBUFS although it applied the batch). nft does the same.
 */
static void make_room_for_answers(long messages) {
  int want = messages > (1 << 20) ? INT_MAX : (int)(messages * 1024), have = 0;
  socklen_t size = sizeof have;
  if (getsockopt(nf_fd, SOL_SOCKET, SO_RCVBUF, &have, &size) == 0 && have >= want) return;
  if (setsockopt(nf_fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want) < 0) setsockopt(nf_fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof want);
}

/*
 * Sends one prebuilt batch; returns 0 or the first error (-errno). nfnetlink processes a batch
 * synchronously inside sendto, so every acknowledgement is queued on the socket when sendto
 * returns: draining it without waiting sees them all (make_room_for_answers).
 */
static int send_batch(const unsigned char *batch, size_t len) {
  long messages = count_messages(batch, len);
  if (messages < 0) return (int)messages;
  if (nf_fd < 0 && (nf_fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER)) < 0) return -errno;
  drain_answers(); /* answers left by an earlier batch are not this one's */
  make_room_for_answers(messages);
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  return sendto(nf_fd, batch, len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0 ? -errno : drain_answers();
}

/* nft: sends a prebuilt batch given in hex. */
static void nft_batch(const char *id, const char *hex) {
  size_t n = strlen(hex);
  if (n < 2 * NLMSG_HDRLEN || n % 2 || n / 2 > MAX_BATCH) {
    reply(id, NULL, "bad batch", -EINVAL);
    return;
  }
  unsigned char *batch = malloc(n / 2);
  if (!batch) {
    reply(id, NULL, "batch", -ENOMEM);
    return;
  }
  for (size_t i = 0; i < n / 2; i++) {
    int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      free(batch);
      reply(id, NULL, "bad batch", -EINVAL);
      return;
    }
    batch[i] = (unsigned char)(hi << 4 | lo);
  }
  int rc = send_batch(batch, n / 2);
  free(batch);
  reply(id, "ok", "nftables batch", rc);
}

/*
 * nftstream: sends the batches of a file one after the other as the agent appends them (each from
 * its begin to its end message), until an NLMSG_DONE message ends the stream: a cold start's load
 * ahead, which the agent writes while it renders (a file written synchronously needs no event
 * loop), so that the kernel loads on this process's core meanwhile. Stops at the first batch the
 * kernel refuses, and at a message length that cannot be (shorter than a header, or a batch
 * beyond MAX_BATCH: such a length would otherwise wrap NLMSG_ALIGN or wait for gigabytes). Gives
 * up when the file stops growing for 30 s, and at once when the agent is gone (its end of the
 * helper's stdin closed).
 */
static void nft_stream(const char *id, const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    reply(id, NULL, "batch stream", -errno);
    return;
  }
  size_t cap = 1 << 20, len = 0, start = 0, at = 0;
  unsigned char *buf = malloc(cap);
  int rc = buf ? 0 : -ENOMEM, sent = 0, done = 0, idle = 0;
  char detail[64] = "nftables batch stream";
  while (!rc && !done) {
    if (len == cap) {
      unsigned char *bigger = realloc(buf, cap * 2);
      if (!bigger) {
        rc = -ENOMEM;
        break;
      }
      buf = bigger;
      cap *= 2;
    }
    ssize_t got = read(fd, buf + len, cap - len);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      rc = -errno;
      break;
    }
    if (got == 0) {
      /* The agent appends more: wait 1 ms, unless it is gone (its end of our stdin closed). */
      struct pollfd in = {.fd = 0, .events = 0};
      if (++idle > 30000) rc = -ETIMEDOUT;
      else if (poll(&in, 1, 1) > 0 && (in.revents & (POLLHUP | POLLERR))) rc = -EPIPE;
      continue;
    }
    idle = 0;
    len += (size_t)got;
    while (!rc && at + NLMSG_HDRLEN <= len) {
      const struct nlmsghdr *h = (const struct nlmsghdr *)(buf + at);
      if (h->nlmsg_len < NLMSG_HDRLEN || (size_t)h->nlmsg_len + (at - start) > MAX_BATCH) {
        rc = h->nlmsg_len < NLMSG_HDRLEN ? -EINVAL : -EMSGSIZE;
        snprintf(detail, sizeof detail, "nftables batch stream: bad message length %u", (unsigned)h->nlmsg_len);
      } else if (at + NLMSG_ALIGN(h->nlmsg_len) > len) break; /* the rest of it is not written yet */
      else if (h->nlmsg_type == NLMSG_DONE) {
        done = start == at;
        if (!done) rc = -EINVAL; /* a batch without its end */
        break;
      } else {
        at += NLMSG_ALIGN(h->nlmsg_len);
        if (h->nlmsg_type == NFNL_MSG_BATCH_END) {
          rc = send_batch(buf + start, at - start);
          if (rc) snprintf(detail, sizeof detail, "nftables batch %d of the stream", sent + 1);
          sent++;
          start = at;
        }
      }
    }
    /* Sent batches are not needed any more: keep only the one being read. */
    if (start > 0) {
      memmove(buf, buf + start, len - start);
      len -= start;
      at -= start;
      start = 0;
    }
  }
  close(fd);
  free(buf);
  /* The agent that would remove its file is gone (or stopped writing it): remove it here. */
  if (rc == -EPIPE || rc == -ETIMEDOUT) unlink(path);
  reply(id, "ok", detail, rc);
}

int main(void) {
  host_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (host_ns < 0) {
    perror("margay-netlink: /proc/self/ns/net");
    return 1;
  }
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, stdin) > 0) {
    line[strcspn(line, "\n")] = 0;
    char *rest = line, *f[9] = {0};
    int n = 0;
    while (n < 9 && rest) f[n++] = strsep(&rest, "\t");
    const char *id = f[0] ? f[0] : "?";
    const char *op = n > 1 ? f[1] : "";
    if (rest) reply(id, NULL, "too many fields", -EINVAL);
    else if (n == 8 && strcmp(op, "up") == 0) in_container(id, op, f[2], f[3], f[4], f[5], f[6], f[7]);
    else if (n == 8 && strcmp(op, "veth") == 0) veth(id, f[2], f[3], f[4], f[5], f[6], f[7]);
    else if (n == 3 && strcmp(op, "hostup") == 0) host_up(id, f[2]);
    else if ((n == 6 || n == 7) && strcmp(op, "hostroutes") == 0) host_routes(id, f[2], f[3], f[4], f[5], n == 7 ? f[6] : NULL);
    else if (n == 6 && strcmp(op, "mark") == 0) mark(id, f[2], f[3], f[4], f[5]);
    else if (n == 3 && strcmp(op, "delgroup") == 0) delete_group(id, f[2]);
    else if (n == 4 && strcmp(op, "del") == 0) in_container(id, op, f[2], f[3], NULL, NULL, NULL, NULL);
    else if (n == 3 && strcmp(op, "hostdel") == 0) host_del(id, f[2]);
    else if (n == 4 && strcmp(op, "sysctl") == 0) sysctl(id, f[2], f[3]);
    else if (n == 3 && strcmp(op, "nft") == 0) nft_batch(id, f[2]);
    else if (n == 3 && strcmp(op, "nftstream") == 0) nft_stream(id, f[2]);
    else reply(id, NULL, "unknown request or wrong number of fields", -EINVAL);
  }
  free(line);
  return 0;
}
