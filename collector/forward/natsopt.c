/* NATS connection options shared by the forwarder and sluice-pull
 * (natsopt.h). */
#include "natsopt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

const char *
sl_nats_text(natsStatus s)
{
    natsStatus ls;
    const char *t = nats_GetLastError(&ls);

    if (t == NULL || t[0] == '\0')
        return natsStatus_GetText(s);
    /* The library prefixes its source position, "(conn.c:1905): ". */
    if (t[0] == '(') {
        const char *e = strstr(t, "): ");

        if (e != NULL)
            t = e + 3;
    }
    return t;
}

int
sl_nats_set_servers(natsOptions *o, const char *urls, const char *opt,
                    char *err, size_t cap)
{
    const char *servers[SL_NATS_URLS_MAX];
    char *list = malloc(strlen(urls) + 1), *p;
    int n = 0, rc = 0;
    natsStatus s;

    if (list == NULL) {
        snprintf(err, cap, "%s: out of memory", opt);
        return SL_ENOMEM;
    }
    strcpy(list, urls);
    /* Split by hand: strtok would pass over an empty entry ("a,,b"),
     * which is a typo to report, not to guess around. */
    for (p = list;; p++) {
        char *comma = strchr(p, ',');

        if (comma != NULL)
            *comma = '\0';
        if (*p == '\0') {
            snprintf(err, cap, "%s: '%.200s' has an empty URL (a list is "
                     "URL[,URL...])", opt, urls);
            rc = SL_EINVAL;
            break;
        }
        if (n == SL_NATS_URLS_MAX) {
            snprintf(err, cap, "%s: more than %d URLs", opt,
                     SL_NATS_URLS_MAX);
            rc = SL_EINVAL;
            break;
        }
        servers[n++] = p;
        if (comma == NULL)
            break;
        p = comma;
    }
    if (rc == 0) {
        /* libnats copies the URLs. */
        s = natsOptions_SetServers(o, servers, n);
        if (s != NATS_OK) {
            snprintf(err, cap, "%s: '%.200s': %s", opt, urls,
                     sl_nats_text(s));
            rc = SL_EINVAL;
        }
    }
    free(list);
    return rc;
}

int
sl_nats_set_creds(natsOptions *o, const char *path, const char *opt,
                  char *err, size_t cap)
{
    FILE *fp = fopen(path, "r");
    char line[512], user[512] = "", pass[512] = "", tok[512] = "";
    char nkey[512] = "";
    int jwt = 0, seed = 0;
    natsStatus s = NATS_OK;

    if (fp == NULL) {
        snprintf(err, cap, "%s %s: %s", opt, path, strerror(errno));
        return SL_EINVAL;
    }
    while (fgets(line, sizeof(line), fp) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (strstr(line, "BEGIN NATS USER JWT") != NULL)
            jwt = 1;
        else if (strncmp(line, "user=", 5) == 0)
            snprintf(user, sizeof(user), "%.500s", line + 5);
        else if (strncmp(line, "password=", 9) == 0)
            snprintf(pass, sizeof(pass), "%.500s", line + 9);
        else if (strncmp(line, "token=", 6) == 0)
            snprintf(tok, sizeof(tok), "%.500s", line + 6);
        else if (strncmp(line, "nkey=", 5) == 0)
            snprintf(nkey, sizeof(nkey), "%.500s", line + 5);
        else if (strncmp(line, "SU", 2) == 0)
            seed = 1; /* libnats reads the seed from the file itself */
    }
    fclose(fp);
    memset(line, 0, sizeof(line));
    if (jwt)
        s = natsOptions_SetUserCredentialsFromFiles(o, path, NULL);
    else if (nkey[0] != '\0' && seed)
        s = natsOptions_SetNKeyFromSeed(o, nkey, path);
    else if (tok[0] != '\0')
        s = natsOptions_SetToken(o, tok);
    else if (user[0] != '\0')
        s = natsOptions_SetUserInfo(o, user, pass);
    else {
        snprintf(err, cap, "%s %s: no credentials found (want "
                 "user=/password=, token=, nkey= with its seed, or a .creds "
                 "file)", opt, path);
        return SL_EINVAL;
    }
    memset(pass, 0, sizeof(pass));
    memset(tok, 0, sizeof(tok));
    if (s != NATS_OK) {
        snprintf(err, cap, "%s %s: %s", opt, path, sl_nats_text(s));
        return SL_EINVAL;
    }
    return 0;
}

int
sl_nats_set_tls_ca(natsOptions *o, const char *path, const char *opt,
                   char *err, size_t cap)
{
    natsStatus s = natsOptions_LoadCATrustedCertificates(o, path);

    if (s == NATS_OK)
        s = natsOptions_SetSecure(o, true);
    if (s != NATS_OK) {
        snprintf(err, cap, "%s %s: %s", opt, path, sl_nats_text(s));
        return SL_EINVAL;
    }
    return 0;
}
