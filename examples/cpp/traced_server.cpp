// A pretend request handler instrumented with sluice/trace.hpp: every
// function opens a scope, so the capture shows nested slices per request
// (sluice-dump --format perfetto, or --format chrome):
//
//   handle_request
//   ├── parse
//   ├── query            (twice, one with a nested "cache lookup")
//   │   └── cache lookup
//   └── render
//
// Usage: traced_server PIPE [REQUESTS]      (default 100 requests)
// Prints "cpp: id=K requests=N events=E" and exits 0; 1 when the collector
// cannot be reached or goes away, 2 on a usage error.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "sluice/trace.hpp"

namespace {

// Work that the optimiser cannot remove, so each slice has a length.
volatile unsigned sink;
void
spin(unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        sink = sink * 31u + i;
}

void
parse(sluice::producer &p)
{
    SLUICE_TRACE_SCOPE(p, "parse");
    spin(2000);
}

void
query(sluice::producer &p, int table, bool cached)
{
    sluice::scope s(p, "query table " + std::to_string(table), 1);
    if (cached) {
        SLUICE_TRACE_SCOPE(p, "cache lookup");
        spin(500);
        return;
    }
    spin(5000);
}

void
render(sluice::producer &p)
{
    SLUICE_TRACE_SCOPE(p, "render");
    spin(3000);
}

void
handle_request(sluice::producer &p, int n)
{
    SLUICE_TRACE_SCOPE(p, "handle_request");
    parse(p);
    query(p, n % 4, false);
    query(p, 7, true);
    render(p);
}

} // namespace

int
main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        std::fprintf(stderr, "usage: traced_server PIPE [REQUESTS]\n");
        return 2;
    }
    char *end = nullptr;
    long requests = argc == 3 ? std::strtol(argv[2], &end, 10) : 100;
    if (argc == 3 && (*argv[2] == '\0' || *end != '\0' || requests < 0)) {
        std::fprintf(stderr, "traced_server: bad REQUESTS '%s'\n", argv[2]);
        return 2;
    }
    try {
        sluice::producer p(argv[1], "traced_server");
        for (long i = 0; i < requests; i++)
            handle_request(p, static_cast<int>(i));
        std::uint64_t events, bytes;
        p.counts(events, bytes);
        std::uint32_t id = p.id();
        int rc = p.close();
        if (rc != 0) {
            std::fprintf(stderr, "traced_server: %s\n", sluice_strerror(rc));
            return 1;
        }
        std::printf("cpp: id=%u requests=%ld events=%llu\n", id, requests,
                    static_cast<unsigned long long>(events));
    } catch (const sluice::error &e) {
        std::fprintf(stderr, "traced_server: %s\n", e.what());
        return 1;
    }
    return 0;
}
