/*
 * NATS connection options, shared by the forwarder (forward.c) and
 * sluice-pull (pull_main.c) so both read a URL list and a credentials file
 * the same way and show libnats errors the same way. Each function fills
 * err with a one-line reason naming the option (opt, e.g. "--forward" or
 * "--creds") and never prints.
 */
#ifndef SL_NATSOPT_H
#define SL_NATSOPT_H

#include <stddef.h>

#include <nats/nats.h>

/* URLs one list may hold (--forward, sluice-pull's URL). */
#define SL_NATS_URLS_MAX 16

/** libnats' last error text for status s, without the source position it
 * prefixes ("(conn.c:1905): "), or the status' own text. */
const char *sl_nats_text(natsStatus s);

/**
 * Sets the servers of o from urls, a comma-separated list of 1..16 URLs
 * with no empty entry ("nats://a:4222,nats://b:4222").
 * @return 0; SL_EINVAL (err says why); SL_ENOMEM.
 */
int sl_nats_set_servers(natsOptions *o, const char *urls, const char *opt,
                        char *err, size_t cap);

/**
 * Applies a credentials file: a .creds file (user JWT and NKey seed), or
 * lines "user=" and "password=", "token=", or "nkey=" (the public key;
 * the seed is then the file's SU... line, which libnats reads itself).
 * Secrets read are wiped from the stack afterwards.
 * @return 0; SL_EINVAL (unreadable, no credentials found, refused by
 *         libnats: err says why).
 */
int sl_nats_set_creds(natsOptions *o, const char *path, const char *opt,
                      char *err, size_t cap);

/**
 * TLS required, trusting the CA certificates in the PEM file path.
 * @return 0; SL_EINVAL (err says why).
 */
int sl_nats_set_tls_ca(natsOptions *o, const char *path, const char *opt,
                       char *err, size_t cap);

#endif
