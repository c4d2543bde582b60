/* A full or slow disk without a file system to fill: an LD_PRELOAD library for tests/tools/full_disk.sh
 * (where no tmpfs can be mounted) and tests/tools/kill9.sh. Writes to files under $SNNCONV_ENOSPC_PREFIX
 * share a budget of $SNNCONV_ENOSPC_BYTES bytes per process (unset: no budget); the write that crosses it
 * is cut short (as a real file system does) and every later write, and any fsync/fdatasync of such a
 * file, fails with ENOSPC. With $SNNCONV_SLOW_IO_MS every such write and fsync first sleeps that long (a
 * slow disk: kill9.sh's kills then land while the outputs are being written). Other files (stdout,
 * stderr, inputs) are untouched. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static long long g_left = -1; /* bytes left in the budget; -1: not read yet */
static int g_full = 0;

static int watched(int fd) {
  const char* prefix = getenv("SNNCONV_ENOSPC_PREFIX");
  if (prefix == NULL || *prefix == '\0' || fd < 3) return 0;
  char link[64], path[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(link, path, sizeof path - 1);
  if (n <= 0) return 0;
  path[n] = '\0';
  return strncmp(path, prefix, strlen(prefix)) == 0;
}

static void slow_down(void) {
  const char* ms = getenv("SNNCONV_SLOW_IO_MS");
  if (ms == NULL) return;
  const long v = atol(ms);
  struct timespec t = {v / 1000, (v % 1000) * 1000000L};
  nanosleep(&t, NULL);
}

/* How many of `count` bytes may be written now; 0 with errno = ENOSPC when none. */
static size_t allowance(int fd, size_t count) {
  if (!watched(fd)) return count;
  slow_down();
  if (g_left < 0) {
    const char* b = getenv("SNNCONV_ENOSPC_BYTES");
    g_left = b != NULL ? atoll(b) : LLONG_MAX;
  }
  if (g_full || g_left == 0) {
    g_full = 1;
    errno = ENOSPC;
    return 0;
  }
  if ((long long)count > g_left) {
    count = (size_t)g_left;
    g_full = 1;
  }
  g_left -= (long long)count;
  return count;
}

typedef ssize_t (*write_fn)(int, const void*, size_t);
typedef ssize_t (*pwrite_fn)(int, const void*, size_t, off_t);
typedef ssize_t (*writev_fn)(int, const struct iovec*, int);
typedef int (*sync_fn)(int);

static void* next(const char* name) { return dlsym(RTLD_NEXT, name); }

ssize_t write(int fd, const void* buf, size_t count) {
  const write_fn real_write = (write_fn)next("write");
  const size_t ok = count == 0 ? 0 : allowance(fd, count);
  if (count > 0 && ok == 0) return -1;
  return real_write(fd, buf, ok);
}

ssize_t pwrite(int fd, const void* buf, size_t count, off_t offset) {
  const pwrite_fn real_pwrite = (pwrite_fn)next("pwrite");
  const size_t ok = count == 0 ? 0 : allowance(fd, count);
  if (count > 0 && ok == 0) return -1;
  return real_pwrite(fd, buf, ok, offset);
}

ssize_t pwrite64(int fd, const void* buf, size_t count, off_t offset) {
  const pwrite_fn real_pwrite64 = (pwrite_fn)next("pwrite64");
  const size_t ok = count == 0 ? 0 : allowance(fd, count);
  if (count > 0 && ok == 0) return -1;
  return real_pwrite64(fd, buf, ok, offset);
}

ssize_t writev(int fd, const struct iovec* iov, int iovcnt) {
  const writev_fn real_writev = (writev_fn)next("writev");
  size_t total = 0;
  for (int i = 0; i < iovcnt; ++i) total += iov[i].iov_len;
  if (total == 0 || !watched(fd)) return real_writev(fd, iov, iovcnt);
  const size_t ok = allowance(fd, total);
  if (ok == 0) return -1;
  if (ok == total) return real_writev(fd, iov, iovcnt);
  /* Cut short: write what fits of the first buffers. */
  ssize_t done = 0;
  size_t left = ok;
  const write_fn real_write = (write_fn)next("write");
  for (int i = 0; i < iovcnt && left > 0; ++i) {
    const size_t n = iov[i].iov_len < left ? iov[i].iov_len : left;
    const ssize_t w = real_write(fd, iov[i].iov_base, n);
    if (w < 0) return done > 0 ? done : -1;
    done += w;
    left -= (size_t)w;
  }
  return done;
}

int fsync(int fd) {
  const sync_fn real_fsync = (sync_fn)next("fsync");
  if (watched(fd)) slow_down();
  if (g_full && watched(fd)) {
    errno = ENOSPC;
    return -1;
  }
  return real_fsync(fd);
}

int fdatasync(int fd) {
  const sync_fn real_fdatasync = (sync_fn)next("fdatasync");
  if (g_full && watched(fd)) {
    errno = ENOSPC;
    return -1;
  }
  return real_fdatasync(fd);
}
