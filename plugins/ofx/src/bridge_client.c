/*
 * bridge_client.c -- connect to (and if needed start) the GenRefocus bridge, send a render.
 *
 * Every socket operation has a timeout (SO_SNDTIMEO/SO_RCVTIMEO); a bridge that died between
 * frames is restarted once and the request retried; a socket or folder owned by another user
 * is refused without connecting (it could be a planted socket collecting frames).
 */
#define _GNU_SOURCE
#include "bridge_client.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static pthread_mutex_t g_spawn_lock = PTHREAD_MUTEX_INITIALIZER;

static double env_seconds(const char *name, double dflt) {
  const char *v = getenv(name);
  if (!v || !*v) return dflt;
  char *end = NULL;
  double d = strtod(v, &end);
  return (end && *end == 0 && d > 0) ? d : dflt;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void trim(char *s) {
  size_t n = strlen(s);
  while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ')) s[--n] = 0;
}

void bridge_config_load(BridgeConfig *cfg, const char *resources_dir) {
  memset(cfg, 0, sizeof(*cfg));
  snprintf(cfg->python, sizeof(cfg->python), "python3");
  if (resources_dir) {
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/bridge.conf", resources_dir);
    FILE *f = fopen(path, "r");
    if (f) {
      char line[4096];
      while (fgets(line, sizeof(line), f)) {
        trim(line);
        if (!strncmp(line, "python=", 7) && line[7])
          snprintf(cfg->python, sizeof(cfg->python), "%s", line + 7);
        else if (!strncmp(line, "pythonpath=", 11))
          snprintf(cfg->pythonpath, sizeof(cfg->pythonpath), "%s", line + 11);
      }
      fclose(f);
    }
  }
  const char *py = getenv("GENREFOCUS_PYTHON");
  if (py && *py) snprintf(cfg->python, sizeof(cfg->python), "%s", py);
}

int bridge_socket_path(char *out, size_t n) {
  const char *env = getenv("GENREFOCUS_OFX_SOCKET");
  int w;
  if (env && *env) {
    w = snprintf(out, n, "%s", env);
  } else {
    const char *rt = getenv("XDG_RUNTIME_DIR");
    struct stat st;
    if (rt && *rt && stat(rt, &st) == 0 && S_ISDIR(st.st_mode))
      w = snprintf(out, n, "%s/genrefocus/bridge.sock", rt);
    else
      w = snprintf(out, n, "/tmp/genrefocus-%u/bridge.sock", (unsigned)geteuid());
  }
  return (w > 0 && (size_t)w < n && (size_t)w < sizeof(((struct sockaddr_un *)0)->sun_path)) ? 0 : -1;
}

/* Refuse a folder or socket that exists and is not ours. 0 = acceptable (or absent). */
static int check_ownership(const char *sock_path, char *err, size_t errn) {
  char dir[PATH_MAX];
  snprintf(dir, sizeof(dir), "%s", sock_path);
  char *slash = strrchr(dir, '/');
  if (slash && slash != dir) *slash = 0;
  else snprintf(dir, sizeof(dir), "%s", slash ? "/" : ".");
  struct stat st;
  uid_t me = geteuid();
  if (lstat(dir, &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      snprintf(err, errn, "refusing bridge folder %s: not a directory", dir);
      return -1;
    }
    if (st.st_uid != me) {
      snprintf(err, errn, "refusing bridge folder %s owned by uid %u (this user is uid %u)", dir,
               (unsigned)st.st_uid, (unsigned)me);
      return -1;
    }
  }
  if (lstat(sock_path, &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      snprintf(err, errn, "refusing %s: not a socket", sock_path);
      return -1;
    }
    if (st.st_uid != me) {
      snprintf(err, errn, "refusing bridge socket %s owned by uid %u (this user is uid %u)", sock_path,
               (unsigned)st.st_uid, (unsigned)me);
      return -1;
    }
  }
  return 0;
}

static void set_timeouts(int fd, double seconds) {
  struct timeval tv;
  tv.tv_sec = (time_t)seconds;
  tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Connect once; returns fd or -1 with errno set. */
static int connect_once(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  set_timeouts(fd, 5.0);
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
  if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

/* Start `python -m genrefocus_video.cli ofx-serve --daemon`; waits for the launcher to exit. */
static int spawn_bridge(const BridgeConfig *cfg, const char *path, char *err, size_t errn) {
  char idle[32];
  snprintf(idle, sizeof(idle), "%g", env_seconds("GENREFOCUS_OFX_IDLE", 600.0));
  char *argv[] = {(char *)cfg->python, "-m", "genrefocus_video.cli", "ofx-serve", "--socket", (char *)path,
                  "--daemon", "--idle-timeout", idle, NULL};
  /* Environment: ours, with PYTHONPATH prefixed by the bundle's configured path. */
  size_t n = 0;
  while (environ && environ[n]) n++;
  char **envp = calloc(n + 2, sizeof(char *));
  if (!envp) {
    snprintf(err, errn, "out of memory starting the bridge");
    return -1;
  }
  char *pp = NULL;
  size_t k = 0;
  const char *old_pp = getenv("PYTHONPATH");
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], "PYTHONPATH=", 11) != 0) envp[k++] = environ[i];
  if (cfg->pythonpath[0] || (old_pp && *old_pp)) {
    size_t len = strlen(cfg->pythonpath) + (old_pp ? strlen(old_pp) : 0) + 16;
    pp = malloc(len);
    if (pp) {
      snprintf(pp, len, "PYTHONPATH=%s%s%s", cfg->pythonpath, (cfg->pythonpath[0] && old_pp && *old_pp) ? ":" : "",
               old_pp ? old_pp : "");
      envp[k++] = pp;
    }
  }
  envp[k] = NULL;
  pid_t pid;
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  int rc = posix_spawnp(&pid, cfg->python, NULL, &attr, argv, envp);
  posix_spawnattr_destroy(&attr);
  free(pp);
  free(envp);
  if (rc != 0) {
    snprintf(err, errn, "cannot start the bridge with %s: %s (set GENREFOCUS_PYTHON)", cfg->python, strerror(rc));
    return -1;
  }
  double deadline = now_s() + env_seconds("GENREFOCUS_OFX_START_TIMEOUT", 60.0);
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) {
      status = 0; /* reaped elsewhere (host SIGCHLD handler): judge by connecting */
      break;
    }
    if (now_s() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      snprintf(err, errn, "bridge did not start within the start timeout (GENREFOCUS_OFX_START_TIMEOUT)");
      return -1;
    }
    usleep(20000);
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
    snprintf(err, errn, "bridge exited with status %d while starting (its error is on stderr)", WEXITSTATUS(status));
    return -1;
  }
  if (WIFSIGNALED(status)) {
    snprintf(err, errn, "bridge killed by signal %d while starting", WTERMSIG(status));
    return -1;
  }
  return 0;
}

/* A connected socket to a running bridge, starting one if needed. */
static int get_connection(const BridgeConfig *cfg, const char *path, int force_spawn, char *err, size_t errn) {
  if (check_ownership(path, err, errn) != 0) return -1;
  int fd = force_spawn ? -1 : connect_once(path);
  if (fd >= 0) return fd;
  pthread_mutex_lock(&g_spawn_lock);
  fd = connect_once(path); /* another thread may have started it meanwhile */
  if (fd < 0) {
    if (check_ownership(path, err, errn) != 0 || spawn_bridge(cfg, path, err, errn) != 0) {
      pthread_mutex_unlock(&g_spawn_lock);
      return -1;
    }
    double deadline = now_s() + env_seconds("GENREFOCUS_OFX_START_TIMEOUT", 60.0);
    while ((fd = connect_once(path)) < 0 && now_s() < deadline) usleep(20000);
    if (fd < 0) snprintf(err, errn, "bridge started but %s does not accept connections: %s", path, strerror(errno));
    else if (check_ownership(path, err, errn) != 0) {
      close(fd);
      fd = -1;
    }
  }
  pthread_mutex_unlock(&g_spawn_lock);
  return fd;
}

static void put_u16(unsigned char *p, unsigned v) { p[0] = v & 0xff; p[1] = (v >> 8) & 0xff; }
static void put_u32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (v >> (8 * i)) & 0xff;
}

/* 1 = transport failure that a restarted bridge may fix; 2 = timeout; -1 = other. */
enum { IO_OK = 0, IO_DEAD = 1, IO_TIMEOUT = 2 };

static int send_request(int fd, const char *json, int pixfd) {
  size_t len = strlen(json);
  unsigned char hdr[12];
  memcpy(hdr, "GRFX", 4);
  put_u16(hdr + 4, GRFX_VERSION);
  put_u16(hdr + 6, GRFX_MSG_RENDER);
  put_u32(hdr + 8, (uint32_t)len);
  struct iovec iov[2] = {{hdr, sizeof(hdr)}, {(void *)json, len}};
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int))];
  } ctrl;
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  memset(&ctrl, 0, sizeof(ctrl));
  msg.msg_iov = iov;
  msg.msg_iovlen = 2;
  msg.msg_control = ctrl.buf;
  msg.msg_controllen = sizeof(ctrl.buf);
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &pixfd, sizeof(int));
  size_t total = sizeof(hdr) + len, sent = 0;
  ssize_t r = sendmsg(fd, &msg, MSG_NOSIGNAL);
  if (r < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? IO_TIMEOUT : IO_DEAD;
  sent = (size_t)r;
  while (sent < total) { /* rest of the stream without ancillary data */
    const char *p = sent < sizeof(hdr) ? (const char *)hdr + sent : json + (sent - sizeof(hdr));
    size_t chunk = sent < sizeof(hdr) ? sizeof(hdr) - sent : total - sent;
    r = send(fd, p, chunk, MSG_NOSIGNAL);
    if (r < 0) {
      if (errno == EINTR) continue;
      return (errno == EAGAIN || errno == EWOULDBLOCK) ? IO_TIMEOUT : IO_DEAD;
    }
    sent += (size_t)r;
  }
  return IO_OK;
}

static int recv_all(int fd, void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = recv(fd, (char *)buf + got, n - got, 0);
    if (r == 0) return IO_DEAD;
    if (r < 0) {
      if (errno == EINTR) continue;
      return (errno == EAGAIN || errno == EWOULDBLOCK) ? IO_TIMEOUT : IO_DEAD;
    }
    got += (size_t)r;
  }
  return IO_OK;
}

static void json_message(const char *json, char *out, size_t n) {
  const char *p = strstr(json, "\"message\":\"");
  if (!p) {
    snprintf(out, n, "bridge error: %.200s", json);
    return;
  }
  p += 11;
  size_t k = 0;
  while (*p && *p != '"' && k + 1 < n) {
    if (*p == '\\' && p[1]) p++;
    out[k++] = *p++;
  }
  out[k] = 0;
}

int bridge_ping(const BridgeConfig *cfg, char *err, size_t errn) {
  char path[PATH_MAX];
  if (bridge_socket_path(path, sizeof(path)) != 0) {
    snprintf(err, errn, "bridge socket path too long (GENREFOCUS_OFX_SOCKET)");
    return -1;
  }
  int fd = get_connection(cfg, path, 0, err, errn);
  if (fd < 0) return -1;
  double t = env_seconds("GENREFOCUS_OFX_TIMEOUT", 600.0);
  set_timeouts(fd, t < 5.0 ? t : 5.0);
  unsigned char msg[14];
  memcpy(msg, "GRFX", 4);
  put_u16(msg + 4, GRFX_VERSION);
  put_u16(msg + 6, GRFX_MSG_PING);
  put_u32(msg + 8, 2);
  memcpy(msg + 12, "{}", 2);
  unsigned char hdr[12];
  int io = send(fd, msg, sizeof(msg), MSG_NOSIGNAL) == (ssize_t)sizeof(msg) ? recv_all(fd, hdr, sizeof(hdr)) : IO_DEAD;
  close(fd);
  if (io != IO_OK || memcmp(hdr, "GRFX", 4) != 0 || (hdr[6] | (hdr[7] << 8)) != GRFX_MSG_PONG) {
    snprintf(err, errn, "bridge did not answer PING");
    return -1;
  }
  return 0;
}

int bridge_render(const BridgeConfig *cfg, const char *json, int pixfd, char *err, size_t errn) {
  char path[PATH_MAX];
  if (bridge_socket_path(path, sizeof(path)) != 0) {
    snprintf(err, errn, "bridge socket path too long (GENREFOCUS_OFX_SOCKET)");
    return -1;
  }
  if (strlen(json) > GRFX_MAX_PAYLOAD) {
    snprintf(err, errn, "render request too large");
    return -1;
  }
  double timeout = env_seconds("GENREFOCUS_OFX_TIMEOUT", 600.0);
  for (int attempt = 0; attempt < 2; attempt++) {
    int fd = get_connection(cfg, path, 0, err, errn);
    if (fd < 0) return -1;
    set_timeouts(fd, timeout);
    int io = send_request(fd, json, pixfd);
    unsigned char hdr[12];
    if (io == IO_OK) io = recv_all(fd, hdr, sizeof(hdr));
    if (io == IO_DEAD) {
      close(fd);
      snprintf(err, errn, "bridge connection lost (bridge died?)");
      continue; /* restart the bridge and retry once */
    }
    if (io == IO_TIMEOUT) {
      close(fd);
      snprintf(err, errn, "bridge did not answer within %g s (GENREFOCUS_OFX_TIMEOUT)", timeout);
      return -1;
    }
    uint32_t len = (uint32_t)hdr[8] | ((uint32_t)hdr[9] << 8) | ((uint32_t)hdr[10] << 16) | ((uint32_t)hdr[11] << 24);
    unsigned version = hdr[4] | (hdr[5] << 8), type = hdr[6] | (hdr[7] << 8);
    if (memcmp(hdr, "GRFX", 4) == 0 && version != GRFX_VERSION) {
      close(fd);
      snprintf(err, errn, "the running bridge speaks protocol version %u, this plugin %d: stop that bridge "
               "(its pid is in bridge.pid beside the socket) or let it exit when idle", version, GRFX_VERSION);
      return -1;
    }
    if (memcmp(hdr, "GRFX", 4) != 0 || len > GRFX_MAX_PAYLOAD) {
      close(fd);
      snprintf(err, errn, "malformed reply from the bridge (magic/length)");
      return -1;
    }
    char *body = calloc(1, (size_t)len + 1);
    if (!body) {
      close(fd);
      snprintf(err, errn, "out of memory");
      return -1;
    }
    io = len ? recv_all(fd, body, len) : IO_OK;
    close(fd);
    if (io != IO_OK) {
      free(body);
      snprintf(err, errn, "bridge reply truncated");
      return -1;
    }
    int rc = 0;
    if (type == GRFX_MSG_RENDER_OK) {
      rc = 0;
    } else if (type == GRFX_MSG_ERROR) {
      json_message(body, err, errn);
      rc = -1;
    } else {
      snprintf(err, errn, "unexpected reply type %u from the bridge", type);
      rc = -1;
    }
    free(body);
    return rc;
  }
  return -1;
}
