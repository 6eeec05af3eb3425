/* framebuf.c -- see framebuf.h. */
#define _GNU_SOURCE
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "framebuf.h"

#define POOL_MAX 32
static FrameBuf g_pool[POOL_MAX];
static pthread_mutex_t g_pool_lock = PTHREAD_MUTEX_INITIALIZER;

static void buf_drop(FrameBuf *b) {
  if (b->ptr) munmap(b->ptr, b->size);
  if (b->fd > 0) close(b->fd);
  memset(b, 0, sizeof(*b));
}

/* Every field of a pool entry is read and written under g_pool_lock, except by the thread that
 * holds it (in_use = 1), and only that thread replaces its mapping. (The first version reset a
 * picked entry with buf_drop outside the lock, which cleared in_use for a moment: another render
 * thread could pick the same buffer and two frames shared one mapping; found by ThreadSanitizer,
 * tests/test_ofx_host.py with GENREFOCUS_OFX_SANITIZE=thread.) */
FrameBuf *framebuf_acquire(size_t total) {
  pthread_mutex_lock(&g_pool_lock);
  FrameBuf *pick = NULL;
  for (int i = 0; i < POOL_MAX && !pick; i++) /* a free buffer that fits without being wasteful */
    if (!g_pool[i].in_use && g_pool[i].fd > 0 && g_pool[i].size >= total && g_pool[i].size <= 2 * total)
      pick = &g_pool[i];
  for (int i = 0; i < POOL_MAX && !pick; i++)
    if (!g_pool[i].in_use) pick = &g_pool[i];
  FrameBuf old = {0};
  int fits = 0;
  if (pick) {
    pick->in_use = 1;
    fits = pick->fd > 0 && pick->size >= total && pick->size <= 2 * total;
    if (!fits) { /* take its old mapping out: it is replaced below, outside the lock */
      old = *pick;
      pick->fd = 0, pick->ptr = NULL, pick->size = 0;
    }
  }
  pthread_mutex_unlock(&g_pool_lock);
  if (!pick) return NULL;
  if (fits) return pick;
  buf_drop(&old);
  int fd = memfd_create("genrefocus-frame", MFD_CLOEXEC);
  void *p = MAP_FAILED;
  if (fd >= 0 && ftruncate(fd, (off_t)total) == 0)
    p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  pthread_mutex_lock(&g_pool_lock);
  if (p == MAP_FAILED) {
    if (fd >= 0) close(fd);
    pick->in_use = 0;
    pick = NULL;
  } else {
    pick->fd = fd, pick->ptr = p, pick->size = total;
  }
  pthread_mutex_unlock(&g_pool_lock);
  return pick;
}

void framebuf_release(FrameBuf *b) {
  pthread_mutex_lock(&g_pool_lock);
  b->in_use = 0;
  pthread_mutex_unlock(&g_pool_lock);
}

void framebuf_trim(void) {
  pthread_mutex_lock(&g_pool_lock);
  for (int i = 0; i < POOL_MAX; i++)
    if (!g_pool[i].in_use) buf_drop(&g_pool[i]);
  pthread_mutex_unlock(&g_pool_lock);
}
