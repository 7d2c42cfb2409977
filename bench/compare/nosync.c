/*
 * nosync.so: an LD_PRELOAD shim for bench/compare that turns fdatasync()
 * and fsync() into no-ops. sluice-collector always syncs its capture before
 * it exits; with this shim the same binary gives the page-cache figure
 * that the copy limit is measured at, while the unshimmed run is compared
 * with the durable limit. Never for anything but that measurement.
 */
/* Exported in spite of the project's hidden-by-default visibility, or the
 * dynamic loader would not interpose them. */
#define SHIM __attribute__((visibility("default")))

SHIM int fdatasync(int fd);
SHIM int fsync(int fd);

SHIM int
fdatasync(int fd)
{
    (void)fd;
    return 0;
}

SHIM int
fsync(int fd)
{
    (void)fd;
    return 0;
}
