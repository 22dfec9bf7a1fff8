/* nm_config: the native host's settings, read from a small JSON file
 * (~/.config/snipwise/nm.json, or the path in $SNIPWISE_NM_CONFIG):
 * {"addr": "host:port", "key": "API key", "tls_ca": "/path/ca.pem",
 *  "rep_email": "me@example.com", "timeout_ms": 10000}. */
#ifndef NM_CONFIG_H
#define NM_CONFIG_H

#include <stdint.h>

#include "base/sw_buf.h"
#include "base/sw_err.h"

/* Default per-call deadline: short, because a rep is waiting on the panel. */
#define NM_CONFIG_TIMEOUT_MS 10000

struct nm_config {
    char *path;         /* the file it was read from */
    char *addr;         /* required */
    char *key;          /* required: the rep's team API key */
    char *tls_ca;       /* optional CA file; NULL means plaintext */
    char *rep_email;    /* optional default for requests that omit it */
    int64_t timeout_ms; /* 1..600000; NM_CONFIG_TIMEOUT_MS if absent */
};

/* nm_config_path returns the config file to read: $SNIPWISE_NM_CONFIG if
 * set and non-empty, else $HOME/.config/snipwise/nm.json. The result is
 * allocated (caller frees with sw_free). SW_ESTATE when neither variable
 * is set; SW_ENOMEM. */
SW_MUST_CHECK sw_err nm_config_path(char **out);

/* nm_config_load reads and validates the file at path into *out (caller
 * frees with nm_config_free). On failure *out is untouched and a sentence
 * saying what is wrong (which file, which field) is appended to why:
 * SW_EIO (unreadable), SW_EPARSE (not JSON), SW_EINVAL (a missing or
 * mistyped field), SW_ENOMEM. Not thread-safe only in that it reads the
 * environment; otherwise no shared state. */
SW_MUST_CHECK sw_err nm_config_load(const char *path, struct nm_config **out,
                                    struct sw_buf *why);

/* nm_config_free releases a config and clears *c; NULL is accepted. */
void nm_config_free(struct nm_config **c);

#endif
