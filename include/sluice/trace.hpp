/*
 * sluice/trace.hpp: C++ conveniences over libsluice-producer (producer.h).
 * Header-only, C++11, optional: nothing in the library depends on it.
 *
 *   sluice::producer prod("demo", "my-service");   // throws sluice::error
 *   void handle(const request &r) {
 *       SLUICE_TRACE_SCOPE(prod, "handle");          // begin now, end at '}'
 *       ...
 *   }
 *
 * - sluice::producer owns a sluice_producer handle (RAII, move-only): the
 *   destructor flushes and closes it. Emitting never throws; it returns
 *   the library's code (0 or a negative SLUICE_E*).
 * - sluice::scope is a scope guard for the slice convention of
 *   docs/protocol.md ("Event type conventions"): its constructor emits a
 *   begin event (type 0xE000 | slice id, payload = the name) and its
 *   destructor the matching end event (type 0xE800 | slice id, no
 *   payload), so `sluice-dump --format perfetto` or `--format chrome`
 *   shows one slice per scope, nested as the scopes are. If the begin
 *   could not be emitted the end is not sent either, so a trace never
 *   holds an end without its begin. A scope never throws.
 *
 * Threads: as producer.h says, many threads may emit on one producer;
 * slices nest per producer, so give each thread whose scopes overlap
 * another thread's its own producer (or tell the kinds apart by slice id).
 */
#ifndef SLUICE_TRACE_HPP
#define SLUICE_TRACE_HPP

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#include "sluice/producer.h"

namespace sluice {

/** Event types of the slice convention (docs/protocol.md). */
const std::uint16_t slice_begin = 0xE000;
const std::uint16_t slice_end = 0xE800;
const std::uint16_t slice_id_max = 0x7FF;

/** A failed open, with the library's code (SLUICE_ENOENT, ...). */
class error : public std::runtime_error {
  public:
    error(const std::string &what, int code)
        : std::runtime_error(what + ": " + sluice_strerror(code)), code_(code)
    {
    }
    int code() const noexcept { return code_; }

  private:
    int code_;
};

/** Owns one producer handle; see producer.h for what each call does. */
class producer {
  public:
    /** No connection (emit returns SLUICE_EINVAL). */
    producer() noexcept : p_(nullptr) {}

    /**
     * Connects to pipe @p pipe and labels the connection @p name (empty:
     * the executable's name). @p opts: more options, or nullptr for the
     * defaults; its name fields are replaced by @p name when that is not
     * empty. Throws sluice::error when the open fails.
     */
    explicit producer(const std::string &pipe, const std::string &name = "",
                      const sluice_producer_opts *opts = nullptr)
        : p_(nullptr)
    {
        int rc = open(pipe, name, opts);
        if (rc != 0)
            throw error("cannot connect to sluice pipe " + pipe, rc);
    }

    /** Adopts an open handle (it will be closed by this object). */
    explicit producer(sluice_producer *adopt) noexcept : p_(adopt) {}

    producer(producer &&o) noexcept : p_(o.p_) { o.p_ = nullptr; }
    producer &operator=(producer &&o) noexcept
    {
        if (this != &o) {
            close();
            p_ = o.p_;
            o.p_ = nullptr;
        }
        return *this;
    }
    producer(const producer &) = delete;
    producer &operator=(const producer &) = delete;
    ~producer() { close(); }

    /** Like the constructor, without exceptions: 0 or a SLUICE_E* code
     *  (the object is left unconnected then). Closes a previous handle. */
    int open(const std::string &pipe, const std::string &name = "",
             const sluice_producer_opts *opts = nullptr) noexcept
    {
        sluice_producer_opts o;
        sluice_producer *np = nullptr;
        int rc;

        close();
        if (opts != nullptr)
            o = *opts;
        else
            sluice_producer_opts_init(&o);
        if (!name.empty()) {
            o.name = name.data();
            o.name_len = name.size();
        }
        rc = sluice_producer_open(pipe.data(), pipe.size(), &o, &np);
        if (rc == 0)
            p_ = np;
        return rc;
    }

    /** Flushes, disconnects. @return 0 or the final flush's error. */
    int close() noexcept
    {
        int rc = sluice_producer_close(p_);
        p_ = nullptr;
        return rc;
    }

    int emit(std::uint16_t type, const void *data, std::size_t len) noexcept
    {
        return p_ != nullptr ? sluice_producer_emit(p_, type, data, len)
                             : SLUICE_EINVAL;
    }
    int emit(std::uint16_t type, const std::string &payload) noexcept
    {
        return emit(type, payload.data(), payload.size());
    }
    int emit(std::uint16_t type, const char *payload) noexcept
    {
        return emit(type, payload, payload != nullptr ? std::strlen(payload)
                                                      : 0);
    }
    int emit_ts(std::uint16_t type, std::uint64_t ts_ns, const void *data,
                std::size_t len) noexcept
    {
        return p_ != nullptr
                   ? sluice_producer_emit_ts(p_, type, ts_ns, data, len)
                   : SLUICE_EINVAL;
    }
    int flush() noexcept
    {
        return p_ != nullptr ? sluice_producer_flush(p_) : SLUICE_EINVAL;
    }

    /** The id from the collector's greeting (0 when not connected). */
    std::uint32_t id() const noexcept
    {
        return p_ != nullptr ? sluice_producer_id(p_) : 0;
    }
    /** Events and payload bytes emitted so far. */
    void counts(std::uint64_t &events, std::uint64_t &bytes) const noexcept
    {
        events = bytes = 0;
        if (p_ != nullptr)
            sluice_producer_counts(p_, &events, &bytes);
    }
    sluice_producer *get() const noexcept { return p_; }
    /** Gives the handle up: the caller closes it. */
    sluice_producer *release() noexcept
    {
        sluice_producer *h = p_;
        p_ = nullptr;
        return h;
    }
    explicit operator bool() const noexcept { return p_ != nullptr; }

  private:
    sluice_producer *p_;
};

/** Emits a begin event now and the matching end event when destroyed. */
class scope {
  public:
    /**
     * @param p     The producer to emit on (must outlive the scope).
     * @param name  The slice's name (the begin event's payload).
     * @param id    Slice id 0..2047, stored in the event types.
     */
    scope(producer &p, const char *name, std::uint16_t id = 0) noexcept
        : p_(p), id_(static_cast<std::uint16_t>(id & slice_id_max))
    {
        begun_ = p_.emit(static_cast<std::uint16_t>(slice_begin | id_),
                         name) == 0;
    }
    scope(producer &p, const std::string &name, std::uint16_t id = 0) noexcept
        : p_(p), id_(static_cast<std::uint16_t>(id & slice_id_max))
    {
        begun_ = p_.emit(static_cast<std::uint16_t>(slice_begin | id_),
                         name) == 0;
    }
    ~scope()
    {
        if (begun_)
            p_.emit(static_cast<std::uint16_t>(slice_end | id_), nullptr, 0);
    }
    scope(const scope &) = delete;
    scope &operator=(const scope &) = delete;

    /** Whether the begin event was emitted (and the end will be). */
    bool active() const noexcept { return begun_; }

  private:
    producer &p_;
    std::uint16_t id_;
    bool begun_;
};

} // namespace sluice

#define SLUICE_TRACE_CAT2_(a, b) a##b
#define SLUICE_TRACE_CAT_(a, b) SLUICE_TRACE_CAT2_(a, b)
/** A sluice::scope named NAME for the rest of the enclosing block. */
#define SLUICE_TRACE_SCOPE(prod, name)                                       \
    ::sluice::scope SLUICE_TRACE_CAT_(sluice_trace_scope_, __LINE__)(prod,   \
                                                                     name)

#endif
